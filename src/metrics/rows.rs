//! Measures from one pass over the rows (README, Measures: `magnitude_diff`,
//! `concentricity_diff`).

use ndarray::{ArrayView1, ArrayView2};

use super::MetricError;

/// c(X) = (1/n) Σᵢ cos(xᵢ, x̄), a zero row counting 0, on the raw rows; refused when
/// ‖x̄‖ <= n·ε·maxᵢ‖xᵢ‖, where x̄ is indistinguishable from rounding noise (README, Measures:
/// `concentricity_diff`).
pub(super) fn concentricity(
    raw: ArrayView2<f64>,
    mean: ArrayView1<f64>,
    row_norms: ArrayView1<f64>,
) -> Result<f64, MetricError> {
    let n = raw.nrows();
    let mean_norm = mean.dot(&mean).sqrt();
    let largest_row = row_norms.iter().copied().fold(0.0f64, f64::max);
    let threshold = n as f64 * f64::EPSILON * largest_row;
    if mean_norm <= threshold {
        return Err(MetricError::ConcentricityUndefined {
            mean_norm,
            threshold,
        });
    }
    let projections = raw.dot(&mean);
    let total: f64 = projections
        .iter()
        .zip(row_norms)
        .filter(|(_, norm)| **norm > 0.0)
        .map(|(projection, norm)| projection / (norm * mean_norm))
        .sum();
    Ok(total / n as f64)
}

/// `magnitude_diff`: |‖x̄‖ - ‖ȳ‖|.
pub(super) fn magnitude_diff(x_mean: ArrayView1<f64>, y_mean: ArrayView1<f64>) -> f64 {
    (x_mean.dot(&x_mean).sqrt() - y_mean.dot(&y_mean).sqrt()).abs()
}
