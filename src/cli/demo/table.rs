//! The leaderboard as an aligned text table.

use crate::benchmark::leaderboard::Statistic;
use crate::cli::client::Leaderboard;

const MISSING: &str = "—";

/// One line per metric, best first as the service sorts them: each published benchmark's value
/// (ρ, or the statistic the column's header names), mean ρ and mean rank. Benchmarks named
/// `{run_id}-...` are headed by the rest of their name, others (earlier runs, the team's own) by
/// `#id`, so that the table stays narrow as they accumulate.
pub fn render(leaderboard: &Leaderboard, run_id: &str) -> String {
    let prefix = format!("{run_id}-");
    let mut header = vec!["metric".to_owned()];
    header.extend(leaderboard.benchmarks.iter().map(|column| {
        let name = column
            .name
            .strip_prefix(&prefix)
            .map_or_else(|| format!("#{}", column.id), str::to_owned);
        match column.statistic {
            Statistic::Spearman => name,
            other => format!("{name} ({})", other.name()),
        }
    }));
    header.extend(["mean ρ".to_owned(), "mean rank".to_owned()]);
    let mut lines = vec![header];
    for row in &leaderboard.rows {
        let mut line = vec![row.metric.name()];
        line.extend(leaderboard.benchmarks.iter().map(|column| {
            let value = row
                .cells
                .iter()
                .find(|cell| cell.benchmark == column.id)
                .and_then(|cell| cell.value);
            number(value, 3)
        }));
        line.push(number(row.mean_spearman, 3));
        line.push(number(row.mean_rank, 2));
        lines.push(line);
    }
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|column| {
            lines
                .iter()
                .map(|line| line[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut table = String::new();
    for line in &lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(column, (cell, &width))| {
                let padding = " ".repeat(width - cell.chars().count());
                if column == 0 {
                    format!("{cell}{padding}")
                } else {
                    format!("{padding}{cell}")
                }
            })
            .collect();
        table.push_str(cells.join("  ").trim_end());
        table.push('\n');
    }
    table
}

fn number(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(value) if value.is_finite() => format!("{value:.decimals$}"),
        _ => MISSING.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::client::{Cell, Column, Row};
    use crate::store::status::BenchmarkStatus;

    fn row(metric: &str, cells: &[(i64, Option<f64>, bool)], mean: Option<f64>, rank: f64) -> Row {
        Row {
            metric: metric.parse().unwrap(),
            cells: cells
                .iter()
                .map(|&(benchmark, value, is_spearman)| Cell {
                    benchmark,
                    value,
                    spearman: value.filter(|_| is_spearman),
                    rank: None,
                    tied_with_leader: false,
                })
                .collect(),
            mean_spearman: mean,
            mean_rank: Some(rank),
            n_benchmarks: cells.len(),
        }
    }

    fn column(id: i64, name: &str, statistic: Statistic) -> Column {
        Column {
            id,
            name: name.to_owned(),
            status: BenchmarkStatus::Done,
            partial: false,
            statistic,
            leader: None,
        }
    }

    #[test]
    fn aligned_best_first_with_missing_cells_and_each_column_in_its_statistic() {
        let leaderboard = Leaderboard {
            benchmarks: vec![
                column(7, "demo-0000abcd-layer-depth", Statistic::Spearman),
                column(9, "bert-hans", Statistic::Spearman),
                column(11, "demo-0000abcd-classes", Statistic::Auprc),
            ],
            rows: vec![
                row(
                    "procrustes",
                    &[
                        (7, Some(0.9431), true),
                        (9, Some(0.5), true),
                        (11, Some(0.25), false),
                    ],
                    Some(0.72155),
                    1.0,
                ),
                row(
                    "cka",
                    &[(7, Some(-0.12), true), (9, None, true), (11, None, false)],
                    Some(-0.12),
                    2.5,
                ),
            ],
        };
        let expected = "\
metric      layer-depth     #9  classes (auprc)  mean ρ  mean rank
procrustes        0.943  0.500            0.250   0.722       1.00
cka              -0.120      —                —  -0.120       2.50
";
        assert_eq!(render(&leaderboard, "demo-0000abcd"), expected);
    }
}
