//! Orthogonal Procrustes distance and the angular shape metric (DESIGN, Metric definitions:
//! `procrustes`, `procrustes_angular`).

use ndarray::Array2;

use super::MetricError;
use super::linalg::singular_values;

/// ‖M‖_*, the sum of the singular values of M = XᵀY (DESIGN, Cost model: values-only SVD).
/// M is not whitened: beside the signal it has hundreds of singular values near 1e-6·σ_max, which
/// the faster route through eigvalsh(MᵀM) gets wrong by ~1e-9 each, 1e-7 in the sum on a
/// 4000 x 768 pair; the SVD matches the reference's `np.linalg.norm(·, "nuc")` to ~1e-15.
pub(super) fn nuclear_norm(cross: &Array2<f64>) -> Result<f64, MetricError> {
    Ok(singular_values(cross)?.iter().sum())
}

/// `procrustes` (DESIGN, Metric definitions): max(0, 2 - 2‖XᵀY‖_*), in [0, 2].
pub(super) fn procrustes(nuclear_norm: f64) -> f64 {
    (2.0 - 2.0 * nuclear_norm).max(0.0)
}

/// `procrustes_angular` (DESIGN, Metric definitions): arccos(clip(‖XᵀY‖_*, -1, 1)).
pub(super) fn procrustes_angular(nuclear_norm: f64) -> f64 {
    nuclear_norm.clamp(-1.0, 1.0).acos()
}

/// `procrustes_size_shape` (README, Measures): sqrt(max(0, ‖X̃‖²_F + ‖Ỹ‖²_F - 2‖X̃ᵀỸ‖_*)), from
/// the nuclear norm of M = P(X)ᵀP(Y) and the centred norms c_x = ‖X̃‖_F, c_y = ‖Ỹ‖_F.
pub(super) fn procrustes_size_shape(nuclear_norm: f64, x_norm: f64, y_norm: f64) -> f64 {
    (x_norm * x_norm + y_norm * y_norm - 2.0 * x_norm * y_norm * nuclear_norm)
        .max(0.0)
        .sqrt()
}
