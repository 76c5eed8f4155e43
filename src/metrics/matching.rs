//! Measures that match columns one to one or each to its best partner (README, Measures:
//! `hard_corr_match`, `soft_corr_match`, `permutation_procrustes`).

use ndarray::{Array2, ArrayView1, Axis};

use super::assignment::max_weight_matching;

/// C_ab = Pearson correlation of column a of X and column b of Y, from M = P(X)ᵀP(Y) and the
/// diagonals of S = P(X)ᵀP(X), T = P(Y)ᵀP(Y): the common scale of P cancels. A constant column
/// centres to exact zeros (see `Prepared::new`), so its diagonal entry is exactly 0 and its
/// correlations are 0, as the definition asks.
pub(super) fn correlations(
    cross: &Array2<f64>,
    x_gram: &Array2<f64>,
    y_gram: &Array2<f64>,
) -> Array2<f64> {
    let inverse_norm = |gram: &Array2<f64>| -> Vec<f64> {
        gram.diag()
            .iter()
            .map(|&value| {
                if value > 0.0 {
                    value.sqrt().recip()
                } else {
                    0.0
                }
            })
            .collect()
    };
    let (x_scale, y_scale) = (inverse_norm(x_gram), inverse_norm(y_gram));
    let mut correlations = cross.clone();
    for (mut row, x) in correlations.axis_iter_mut(Axis(0)).zip(&x_scale) {
        for (value, y) in row.iter_mut().zip(&y_scale) {
            *value = (*value * x * y).clamp(-1.0, 1.0);
        }
    }
    correlations
}

/// `hard_corr_match`: 1 - (1/m) max_π Σ C_{a,π(a)}, m = min(d1, d2).
pub(super) fn hard_corr_match(correlations: &Array2<f64>) -> f64 {
    let matched = correlations.nrows().min(correlations.ncols());
    1.0 - max_weight_matching(correlations.view()) / matched as f64
}

/// `soft_corr_match`: 1 - ½[(1/d1) Σ_a max_b C_ab + (1/d2) Σ_b max_a C_ab].
pub(super) fn soft_corr_match(correlations: &Array2<f64>) -> f64 {
    let mean_of_maxima = |axis: Axis| {
        let maxima: Vec<f64> = correlations
            .axis_iter(axis)
            .map(|line: ArrayView1<f64>| line.iter().copied().fold(f64::NEG_INFINITY, f64::max))
            .collect();
        maxima.iter().sum::<f64>() / maxima.len() as f64
    };
    1.0 - 0.5 * (mean_of_maxima(Axis(0)) + mean_of_maxima(Axis(1)))
}

/// `permutation_procrustes`: sqrt(max(0, ‖X‖²_F + ‖Y‖²_F - 2 max_π Σ_a ⟨x_a, y_π(a)⟩)) on raw
/// columns. `raw_cross` is XᵀY / (c_x c_y), `scale` = c_x c_y.
pub(super) fn permutation_procrustes(
    raw_cross: &Array2<f64>,
    scale: f64,
    x_sq_norm: f64,
    y_sq_norm: f64,
) -> f64 {
    let matched = scale * max_weight_matching(raw_cross.view());
    (x_sq_norm + y_sq_norm - 2.0 * matched).max(0.0).sqrt()
}
