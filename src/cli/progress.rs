//! A one-line progress bar, `[#####.....] 12/40 distances`, redrawn in place on a terminal.
//! Elsewhere (a pipe, a log file, a test) only the final state is printed, so captured output
//! holds no carriage returns.

use std::io::{IsTerminal, Write};

const WIDTH: usize = 30;

pub struct ProgressBar {
    label: &'static str,
    total: u64,
    done: u64,
    /// What was last drawn, to redraw only on change.
    drawn: Option<(u64, u64)>,
    live: bool,
}

impl ProgressBar {
    /// A bar at 0 of `total`; with a total not known yet (0), nothing is drawn before `set`.
    pub fn new(label: &'static str, total: u64) -> ProgressBar {
        let mut bar = ProgressBar {
            label,
            total,
            done: 0,
            drawn: None,
            live: std::io::stdout().is_terminal(),
        };
        if total > 0 {
            bar.draw();
        }
        bar
    }

    pub fn set(&mut self, done: u64, total: u64) {
        self.done = done;
        self.total = total;
        self.draw();
    }

    pub fn advance(&mut self, by: u64) {
        self.set(self.done + by, self.total);
    }

    /// Leaves the final state on its own line.
    pub fn finish(self) {
        if self.live {
            println!();
        } else {
            println!("{}", render(self.done, self.total, self.label));
        }
    }

    fn draw(&mut self) {
        if !self.live || self.drawn == Some((self.done, self.total)) {
            return;
        }
        self.drawn = Some((self.done, self.total));
        print!("\r{}", render(self.done, self.total, self.label));
        // A failed flush only delays the bar; the work it follows is unaffected.
        let _ = std::io::stdout().flush();
    }
}

fn render(done: u64, total: u64, label: &str) -> String {
    let filled = if total == 0 {
        WIDTH
    } else {
        // u128: done * WIDTH cannot overflow whatever the service reports.
        (u128::from(done.min(total)) * WIDTH as u128 / u128::from(total)) as usize
    };
    format!(
        "[{}{}] {done}/{total} {label}",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled)
    )
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn the_bar_fills_in_proportion() {
        assert_eq!(
            render(12, 40, "distances"),
            "[#########.....................] 12/40 distances"
        );
        assert_eq!(
            render(0, 5, "uploads"),
            format!("[{}] 0/5 uploads", ".".repeat(30))
        );
        assert_eq!(
            render(5, 5, "uploads"),
            format!("[{}] 5/5 uploads", "#".repeat(30))
        );
        assert_eq!(
            render(0, 0, "copies"),
            format!("[{}] 0/0 copies", "#".repeat(30))
        );
        assert_eq!(render(9, 5, "x"), format!("[{}] 9/5 x", "#".repeat(30)));
    }
}
