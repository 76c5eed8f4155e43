//! Charts drawn by the server as SVG: pure functions from numbers to markup, no I/O. Every mark
//! carries its full-precision value in `data-*` attributes so that a page can be checked
//! against the API.

mod colour;
mod heatmap;
mod scale;
mod scatter;

pub use colour::{Rgb, diverging, sequential};
pub use heatmap::{HeatCell, Heatmap};
pub use scale::{Linear, nice_ticks, tick_label};
pub use scatter::{Point, Scatter};

/// A number as `data-value` attributes carry it: the shortest text that reads back as the same
/// f64.
pub fn full_precision(value: f64) -> String {
    value.to_string()
}
