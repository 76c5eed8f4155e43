//! A heatmap of distances between the layers of two models: one cell per pair, coloured on the
//! sequential scale (lower, more similar, darker), missing cells hatched, with a colour bar.

use maud::{Markup, html};

use super::colour::sequential;
use super::full_precision;
use super::scale::{Linear, Margins, extent, nice_ticks, tick_label};

/// One cell: the distance between representation `a` (row) and `b` (column), if known.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeatCell {
    pub a: i64,
    pub b: i64,
    pub value: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct Heatmap {
    /// Unique on the page: names the hatch pattern and the gradient.
    pub id: String,
    pub title: String,
    pub row_title: String,
    pub column_title: String,
    pub row_labels: Vec<String>,
    pub column_labels: Vec<String>,
    /// `cells[row][column]`.
    pub cells: Vec<Vec<HeatCell>>,
}

const CELL: f64 = 34.0;
/// Row labels on the left, column labels below, the colour bar's ticks on the right.
const MARGINS: Margins = Margins::clockwise(34.0, 58.0, 80.0, 118.0);
const BAR_GAP: f64 = 18.0;
const BAR_WIDTH: f64 = 14.0;
/// Values are printed in the cells up to this many columns; beyond, they would not fit.
const MAX_PRINTED_COLUMNS: usize = 16;

impl Heatmap {
    /// The range of the known values; (0, 1) when none is known.
    pub fn domain(&self) -> (f64, f64) {
        extent(self.cells.iter().flatten().filter_map(|cell| cell.value)).unwrap_or((0.0, 1.0))
    }

    /// Cells not computed yet (or refused).
    pub fn n_missing(&self) -> usize {
        self.cells
            .iter()
            .flatten()
            .filter(|cell| cell.value.is_none())
            .count()
    }

    pub fn render(&self) -> Markup {
        let rows = self.row_labels.len();
        let columns = self.column_labels.len();
        let grid_width = columns as f64 * CELL;
        let grid_height = rows as f64 * CELL;
        let width = MARGINS.left + grid_width + BAR_GAP + BAR_WIDTH + MARGINS.right;
        let height = MARGINS.top + grid_height + MARGINS.bottom;
        let (min, max) = self.domain();
        let fraction = Linear::new((min, max), (0.0, 1.0));
        let hatch = format!("{}-hatch", self.id);
        let gradient = format!("{}-gradient", self.id);
        let bar_x = MARGINS.left + grid_width + BAR_GAP;
        let bar = Linear::new((min, max), (MARGINS.top + grid_height, MARGINS.top));
        let ticks: Vec<f64> = nice_ticks(min, max, 4)
            .into_iter()
            .filter(|tick| *tick >= min - 1e-12 && *tick <= max + 1e-12)
            .collect();
        let printed = columns <= MAX_PRINTED_COLUMNS;
        html! {
            svg.heatmap xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (width) " " (height) }
                width=(width) height=(height) role="img" aria-label=(self.title) data-metric=(self.id) {
                defs {
                    pattern id=(hatch) width="6" height="6" patternUnits="userSpaceOnUse"
                        patternTransform="rotate(45)" {
                        rect width="6" height="6" fill="#f3f4f6" {}
                        line x1="0" y1="0" x2="0" y2="6" stroke="#9ca3af" stroke-width="2" {}
                    }
                    linearGradient id=(gradient) x1="0" y1="1" x2="0" y2="0" {
                        @for step in 0..=10 {
                            stop offset={ (step * 10) "%" } stop-color=(sequential(f64::from(step) / 10.0)) {}
                        }
                    }
                }
                text.chart-title x=(MARGINS.left + grid_width / 2.0) y="20" text-anchor="middle" { (self.title) }
                @for (row, label) in self.row_labels.iter().enumerate() {
                    text.tick x=(MARGINS.left - 6.0) y=(MARGINS.top + (row as f64 + 0.5) * CELL + 4.0) text-anchor="end" { (label) }
                }
                @for (column, label) in self.column_labels.iter().enumerate() {
                    @let x = MARGINS.left + (column as f64 + 0.5) * CELL;
                    @let y = MARGINS.top + grid_height + 8.0;
                    text.tick x=(x) y=(y) text-anchor="end"
                        transform={ "rotate(-45 " (x) " " (y) ")" } { (label) }
                }
                @for (row, cells) in self.cells.iter().enumerate() {
                    @for (column, cell) in cells.iter().enumerate() {
                        @let x = MARGINS.left + column as f64 * CELL;
                        @let y = MARGINS.top + row as f64 * CELL;
                        @match cell.value {
                            Some(value) => {
                                @let colour = sequential(fraction.map(value));
                                g.cell data-a=(cell.a) data-b=(cell.b) data-value=(full_precision(value)) {
                                    rect x=(x) y=(y) width=(CELL) height=(CELL) fill=(colour) stroke="#ffffff" stroke-width="1" {
                                        title { (self.row_labels[row]) " × " (self.column_labels[column]) ": " (full_precision(value)) }
                                    }
                                    @if printed {
                                        text.cell-value x=(x + CELL / 2.0) y=(y + CELL / 2.0 + 3.5) text-anchor="middle" fill=(colour.ink()) {
                                            (format!("{value:.2}"))
                                        }
                                    }
                                }
                            }
                            None => {
                                g.cell.missing data-a=(cell.a) data-b=(cell.b) {
                                    rect x=(x) y=(y) width=(CELL) height=(CELL) fill={ "url(#" (hatch) ")" } stroke="#ffffff" stroke-width="1" {
                                        title { (self.row_labels[row]) " × " (self.column_labels[column]) ": not computed yet" }
                                    }
                                }
                            }
                        }
                    }
                }
                text.axis-title x=(MARGINS.left + grid_width / 2.0) y=(height - 8.0) text-anchor="middle" { (self.column_title) }
                text.axis-title x="14" y=(MARGINS.top + grid_height / 2.0) text-anchor="middle"
                    transform={ "rotate(-90 14 " (MARGINS.top + grid_height / 2.0) ")" } { (self.row_title) }
                g.colour-bar {
                    rect x=(bar_x) y=(MARGINS.top) width=(BAR_WIDTH) height=(grid_height) fill={ "url(#" (gradient) ")" } {}
                    @for tick in &ticks {
                        line x1=(bar_x + BAR_WIDTH) x2=(bar_x + BAR_WIDTH + 4.0) y1=(bar.map(*tick)) y2=(bar.map(*tick)) stroke="#374151" {}
                        text.tick x=(bar_x + BAR_WIDTH + 6.0) y=(bar.map(*tick) + 4.0) data-value=(full_precision(*tick)) { (tick_label(*tick, &ticks)) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_by_three() -> Heatmap {
        let cell = |a, b, value| HeatCell { a, b, value };
        Heatmap {
            id: "cka".into(),
            title: "CKA".into(),
            row_title: "model a".into(),
            column_title: "model b".into(),
            row_labels: vec!["layer 0".into(), "layer 1".into()],
            column_labels: vec!["0".into(), "1".into(), "2".into()],
            cells: vec![
                vec![
                    cell(1, 3, Some(0.1)),
                    cell(1, 4, Some(0.4)),
                    cell(1, 5, None),
                ],
                vec![
                    cell(2, 3, Some(0.25)),
                    cell(2, 4, None),
                    cell(2, 5, Some(0.9)),
                ],
            ],
        }
    }

    #[test]
    fn every_cell_is_drawn_once_and_missing_ones_are_hatched() {
        let svg = two_by_three().render().into_string();
        assert_eq!(svg.matches("<g class=\"cell\"").count(), 4);
        assert_eq!(svg.matches("<g class=\"cell missing\"").count(), 2);
        assert_eq!(svg.matches("url(#cka-hatch)").count(), 2);
        assert!(svg.contains("data-a=\"2\" data-b=\"5\" data-value=\"0.9\""));
        assert_eq!(two_by_three().n_missing(), 2);
    }

    #[test]
    fn the_domain_spans_the_known_values() {
        assert_eq!(two_by_three().domain(), (0.1, 0.9));
        let mut empty = two_by_three();
        for cell in empty.cells.iter_mut().flatten() {
            cell.value = None;
        }
        assert_eq!(empty.domain(), (0.0, 1.0));
    }

    #[test]
    fn the_lowest_distance_gets_the_darkest_colour() {
        let svg = two_by_three().render().into_string();
        assert!(svg.contains(&format!("fill=\"{}\"", sequential(0.0))));
        assert!(svg.contains(&format!("fill=\"{}\"", sequential(1.0))));
    }
}
