//! Measures on the singular subspaces of the two representations (README, Measures:
//! `eigenspace_overlap`, `gulp`, `linear_regression`).
//!
//! The thin SVD Z = U Σ Vᵀ of an n x d matrix comes from the eigendecomposition ZᵀZ = V Σ² Vᵀ,
//! prepared once per representation: U = Z V Σ⁻¹, so for a pair Uₓᵀ U_y = Σₓ⁻¹ Vₓᵀ (ZₓᵀZ_y) V_y Σ_y⁻¹
//! needs only the pair's cross product and d x d products, no second n-sized one.

use ndarray::{Array2, Axis, s};

use super::MetricError;
use super::linalg::{symmetric_eigen, zero_rounding_noise};

/// The eigendecomposition of a Gram matrix ZᵀZ on its numerical rank.
pub(super) struct Eigenbasis {
    /// The nonzero eigenvalues σᵢ², largest first.
    values: Vec<f64>,
    /// Their unit eigenvectors as columns, d x rank.
    vectors: Array2<f64>,
}

impl Eigenbasis {
    /// The rank is that of the Gram matrix: eigenvalues <= d·ε·λ_max are rounding noise of the
    /// product (the n·ε·σ₁ rule of README, Measures: "Conventions", applied to Σ², cannot tell
    /// them from signal, since forming ZᵀZ already costs ε·σ₁² of absolute accuracy).
    pub(super) fn of_gram(gram: Array2<f64>) -> Result<Eigenbasis, MetricError> {
        let dim = gram.nrows();
        let eigen = symmetric_eigen(gram)?;
        let mut values = eigen.values;
        zero_rounding_noise(&mut values, dim);
        let rank = values.iter().take_while(|value| **value > 0.0).count();
        values.truncate(rank);
        Ok(Eigenbasis {
            values,
            vectors: eigen.vectors.slice(s![.., ..rank]).to_owned(),
        })
    }

    pub(super) fn rank(&self) -> usize {
        self.values.len()
    }

    pub(super) fn memory_bytes(&self) -> usize {
        8 * (self.values.len() + self.vectors.len())
    }
}

/// Vₓᵀ C V_y for the pair's cross product C = ZₓᵀZ_y, rank x rank.
pub(super) fn rotated(x: &Eigenbasis, cross: &Array2<f64>, y: &Eigenbasis) -> Array2<f64> {
    x.vectors.t().dot(&cross.dot(&y.vectors))
}

/// Σᵢⱼ wᵢ vⱼ (uᵢᵀuⱼ')² with (uᵢᵀuⱼ')² = R²ᵢⱼ / (σᵢ² σⱼ'²), R the rotated cross product.
fn weighted_overlap(
    rotated: &Array2<f64>,
    x: &Eigenbasis,
    y: &Eigenbasis,
    x_weight: impl Fn(f64) -> f64,
    y_weight: impl Fn(f64) -> f64,
) -> f64 {
    let y_factors: Vec<f64> = y.values.iter().map(|&e| y_weight(e) / e).collect();
    rotated
        .axis_iter(Axis(0))
        .zip(&x.values)
        .map(|(row, &e)| {
            let row_sum: f64 = row
                .iter()
                .zip(&y_factors)
                .map(|(value, factor)| value * value * factor)
                .sum();
            x_weight(e) / e * row_sum
        })
        .sum()
}

/// `eigenspace_overlap`: 1 - ‖U_Xᵀ U_Y‖²_F / max(r_X, r_Y) on the raw matrices.
pub(super) fn eigenspace_overlap(rotated: &Array2<f64>, x: &Eigenbasis, y: &Eigenbasis) -> f64 {
    let overlap = weighted_overlap(rotated, x, y, |_| 1.0, |_| 1.0);
    1.0 - overlap / x.rank().max(y.rank()) as f64
}

/// `gulp(lambda)`: Σaᵢ² + Σbⱼ² - 2Σᵢⱼ aᵢbⱼ(uᵢᵀvⱼ)², aᵢ = eᵢ/(eᵢ + λ). The bases are those of
/// P(X) = X̃/‖X̃‖_F, whose eigenvalues are eᵢ = sᵢ²/n of X̃ scaled to ‖X̃‖²_F = n.
pub(super) fn gulp(rotated: &Array2<f64>, x: &Eigenbasis, y: &Eigenbasis, lambda: f64) -> f64 {
    let weight = |e: f64| e / (e + lambda);
    let sum_sq = |basis: &Eigenbasis| basis.values.iter().map(|&e| weight(e).powi(2)).sum::<f64>();
    sum_sq(x) + sum_sq(y) - 2.0 * weighted_overlap(rotated, x, y, weight, weight)
}

/// `linear_regression` (X predicted from Y): 1 - ‖P_Ỹ X̃‖²_F / ‖X̃‖²_F. With P(X) of unit norm,
/// R² = Σⱼ ‖M vⱼ‖² / eⱼ over Y's basis, M = P(X)ᵀP(Y).
pub(super) fn linear_regression(cross: &Array2<f64>, y: &Eigenbasis) -> f64 {
    let projected = cross.dot(&y.vectors);
    let explained: f64 = projected
        .axis_iter(Axis(1))
        .zip(&y.values)
        .map(|(column, e)| column.dot(&column) / e)
        .sum();
    1.0 - explained.min(1.0)
}
