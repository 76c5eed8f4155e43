//! A scatter plot of a benchmark group's pairs: x = distance, y = |Δf|, with axes, ticks and
//! labels.

use maud::{Markup, html};

use super::full_precision;
use super::scale::{Linear, Margins, extent, nice_ticks, tick_label};

/// One pair: its distance `x`, its functional difference `y`, and the two representations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub first: i64,
    pub second: i64,
}

#[derive(Clone, Debug)]
pub struct Scatter {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub points: Vec<Point>,
}

const WIDTH: f64 = 300.0;
const HEIGHT: f64 = 250.0;
const MARGINS: Margins = Margins::clockwise(30.0, 14.0, 46.0, 56.0);

impl Scatter {
    pub fn render(&self) -> Markup {
        // Distances of one group often sit far from zero; differences in function start at it.
        let x_ticks = axis_ticks(self.points.iter().map(|point| point.x), false);
        let y_ticks = axis_ticks(self.points.iter().map(|point| point.y), true);
        let x = Linear::new(
            (x_ticks[0], x_ticks[x_ticks.len() - 1]),
            (MARGINS.left, WIDTH - MARGINS.right),
        );
        let y = Linear::new(
            (y_ticks[0], y_ticks[y_ticks.len() - 1]),
            (HEIGHT - MARGINS.bottom, MARGINS.top),
        );
        html! {
            svg.scatter xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) }
                width=(WIDTH) height=(HEIGHT) role="img" aria-label=(self.title) {
                text.chart-title x=(WIDTH / 2.0) y="18" text-anchor="middle" { (self.title) }
                rect.plot-area x=(MARGINS.left) y=(MARGINS.top) width=(WIDTH - MARGINS.left - MARGINS.right) height=(HEIGHT - MARGINS.top - MARGINS.bottom) {}
                @for tick in &x_ticks {
                    line.grid x1=(x.map(*tick)) x2=(x.map(*tick)) y1=(MARGINS.top) y2=(HEIGHT - MARGINS.bottom) {}
                    text.tick x=(x.map(*tick)) y=(HEIGHT - MARGINS.bottom + 14.0) text-anchor="middle" data-value=(full_precision(*tick)) {
                        (tick_label(*tick, &x_ticks))
                    }
                }
                @for tick in &y_ticks {
                    line.grid x1=(MARGINS.left) x2=(WIDTH - MARGINS.right) y1=(y.map(*tick)) y2=(y.map(*tick)) {}
                    text.tick x=(MARGINS.left - 5.0) y=(y.map(*tick) + 4.0) text-anchor="end" data-value=(full_precision(*tick)) {
                        (tick_label(*tick, &y_ticks))
                    }
                }
                text.axis-title x=((MARGINS.left + WIDTH - MARGINS.right) / 2.0) y=(HEIGHT - 8.0) text-anchor="middle" { (self.x_label) }
                text.axis-title x="14" y=((MARGINS.top + HEIGHT - MARGINS.bottom) / 2.0) text-anchor="middle"
                    transform={ "rotate(-90 14 " ((MARGINS.top + HEIGHT - MARGINS.bottom) / 2.0) ")" } { (self.y_label) }
                @for point in &self.points {
                    circle.point cx=(x.map(point.x)) cy=(y.map(point.y)) r="3.5"
                        data-x=(full_precision(point.x)) data-y=(full_precision(point.y))
                        data-first=(point.first) data-second=(point.second) {
                        title { "#" (point.first) " vs #" (point.second) ": d = " (full_precision(point.x)) ", |Δf| = " (full_precision(point.y)) }
                    }
                }
            }
        }
    }
}

/// Ticks for an axis over `values`, down to zero when `from_zero`; [0, 1] when there is no value.
fn axis_ticks(values: impl Iterator<Item = f64>, from_zero: bool) -> Vec<f64> {
    match extent(values) {
        Some((min, max)) => nice_ticks(if from_zero { min.min(0.0) } else { min }, max, 4),
        None => nice_ticks(0.0, 1.0, 4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_point_is_drawn_inside_the_plot_with_its_values() {
        let scatter = Scatter {
            title: "cka".into(),
            x_label: "distance".into(),
            y_label: "|Δf|".into(),
            points: vec![
                Point {
                    x: 0.0,
                    y: 0.0,
                    first: 1,
                    second: 1,
                },
                Point {
                    x: 0.37,
                    y: 0.12,
                    first: 1,
                    second: 2,
                },
                Point {
                    x: 0.81,
                    y: 0.05,
                    first: 1,
                    second: 3,
                },
            ],
        };
        let svg = scatter.render().into_string();
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("data-x=\"0.37\" data-y=\"0.12\""));
        let ticks = axis_ticks(scatter.points.iter().map(|point| point.y), true);
        assert!(ticks[0] <= 0.0 && *ticks.last().unwrap() >= 0.12);
        let ticks = axis_ticks([0.4, 0.45].into_iter(), false);
        assert!(ticks[0] > 0.0 && ticks[0] <= 0.4 && *ticks.last().unwrap() >= 0.45);
    }

    #[test]
    fn an_empty_plot_still_has_axes() {
        let svg = Scatter {
            title: "none".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            points: Vec::new(),
        }
        .render()
        .into_string();
        assert!(svg.contains("class=\"tick\""));
        assert_eq!(svg.matches("<circle").count(), 0);
    }
}
