//! Linear CKA and its debiased form (DESIGN, Metric definitions: `cka`, `cka_debiased`).

use ndarray::Array1;

use super::MetricError;

/// `cka` (DESIGN, Metric definitions; Cost model: from ‖M‖²_F, M = XᵀY, and the per-representation
/// ‖XᵀX‖_F): 1 - ‖XᵀY‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F).
pub(super) fn cka(cross_sq_norm: f64, x_gram_norm: f64, y_gram_norm: f64) -> f64 {
    1.0 - cross_sq_norm / (x_gram_norm * y_gram_norm)
}

/// What the debiased estimator needs from one representation besides ‖XᵀX‖_F.
pub(super) struct DebiasedParts<'a> {
    pub gram_norm: f64,
    /// rₓ: squared norm of each row of P(X).
    pub row_sq_norms: &'a Array1<f64>,
}

/// `cka_debiased` (DESIGN, Metric definitions): 1 - h(X,Y)/sqrt(h(X,X) h(Y,Y)) with Song et al.'s
/// unbiased HSIC in feature space, h(X,Y) = ‖XᵀY‖²_F - n/(n-2)·rₓ·r_y + SₓS_y/((n-1)(n-2)).
pub(super) fn cka_debiased(
    cross_sq_norm: f64,
    x: &DebiasedParts,
    y: &DebiasedParts,
) -> Result<f64, MetricError> {
    let n = x.row_sq_norms.len();
    // The estimator's normalisation 1/(n(n-3)) cancels in the ratio, but it only exists for n >= 4.
    if n < 4 {
        return Err(MetricError::DebiasedTooFewExamples { n });
    }
    let hsic = |sq_norm: f64, rx: &Array1<f64>, ry: &Array1<f64>| {
        let n = n as f64;
        sq_norm - n / (n - 2.0) * rx.dot(ry) + rx.sum() * ry.sum() / ((n - 1.0) * (n - 2.0))
    };
    let xy = hsic(cross_sq_norm, x.row_sq_norms, y.row_sq_norms);
    let xx = hsic(x.gram_norm.powi(2), x.row_sq_norms, x.row_sq_norms);
    let yy = hsic(y.gram_norm.powi(2), y.row_sq_norms, y.row_sq_norms);
    if xx <= 0.0 || yy <= 0.0 {
        return Err(MetricError::DebiasedNotPositive { n });
    }
    Ok(1.0 - xy / (xx * yy).sqrt())
}
