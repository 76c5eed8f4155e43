//! `aligned_cosine` (README, Measures): the mean cosine of matching rows once X is rotated onto Y.

use ndarray::{Array2, s};
use ndarray_linalg::{JobSvd, SVDDC};

use super::MetricError;

/// s = (1/count) Σᵢ xᵢ U_r V_rᵀ yᵢᵀ / (‖xᵢ‖‖yᵢ‖) over the `count` rows non-zero on both sides,
/// XᵀY = U S Vᵀ on its numerical rank r. The sum is ⟨U_r V_rᵀ, X̂ᵀŶ⟩_F with X̂, Ŷ the rows scaled
/// to unit norm (zero rows left zero), so a pair costs one product of the unit rows, not n
/// rotations. `raw_cross` is XᵀY up to a positive factor, which changes neither U nor V.
pub(super) fn aligned_cosine(
    raw_cross: &Array2<f64>,
    x_unit_rows: &Array2<f64>,
    y_unit_rows: &Array2<f64>,
    count: usize,
) -> Result<f64, MetricError> {
    if count == 0 {
        return Err(MetricError::AlignedCosineNoRows);
    }
    let (u, values, vt) =
        raw_cross
            .svddc(JobSvd::Some)
            .map_err(|_| MetricError::LinearAlgebra {
                routine: "dgesdd",
                info: -1,
            })?;
    let (Some(u), Some(vt)) = (u, vt) else {
        return Err(MetricError::LinearAlgebra {
            routine: "dgesdd",
            info: -1,
        });
    };
    let (d1, d2) = raw_cross.dim();
    let largest = values.first().copied().unwrap_or(0.0);
    let threshold = largest * d1.max(d2) as f64 * f64::EPSILON;
    let rank = values
        .iter()
        .take_while(|value| **value > threshold)
        .count();
    let rotation = u.slice(s![.., ..rank]).dot(&vt.slice(s![..rank, ..]));
    let weighted = x_unit_rows.t().dot(y_unit_rows);
    let total: f64 = rotation
        .iter()
        .zip(weighted.iter())
        .map(|(q, k)| q * k)
        .sum();
    Ok(1.0 - total / count as f64)
}
