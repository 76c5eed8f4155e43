//! The CCA family (DESIGN, Metric definitions: `cca_mean`, `cca_mean_sq`, `pwcca`, `svcca`).
//!
//! Per representation, one eigendecomposition of S = XᵀX gives the whitening W = S^(-1/2), S^(1/2)
//! and the svcca reduction; per pair, the canonical correlations are the singular values of
//! T = Wₓ M W_y, M = XᵀY the pair's one n-sized product (DESIGN, Cost model).

use ndarray::{Array2, ArrayView1, Axis, s};

use super::MetricError;
use super::linalg::{
    gram_of_columns, gram_of_rows, singular_values_from_gram, symmetric_eigen, zero_rounding_noise,
};

/// Share of the total variance the svcca reduction keeps (DESIGN, Metric definitions: `svcca`).
const SVCCA_KEPT_VARIANCE: f64 = 0.99;

/// Neighbouring canonical correlations closer than this belong to one block whose basis PWCCA
/// fixes (DESIGN, Metric definitions: `pwcca`).
const PWCCA_TIE: f64 = 1e-6;

/// The per-representation part of the CCA family, from one eigendecomposition of S = XᵀX.
pub(super) struct Spectrum {
    /// W = S^(-1/2) (inverse 0 on rounding-noise eigenvalues).
    inverse_root: Array2<f64>,
    /// S^(1/2) over the same eigenvalues as W, so that W·S = S^(1/2) holds for the thresholded
    /// spectrum too (PWCCA's weights rely on it).
    root: Array2<f64>,
    /// V_r Λ_r^(-1/2): maps P(X)'s feature space to the whitened svcca reduction of X.
    svcca_basis: Array2<f64>,
}

impl Spectrum {
    /// DESIGN, Metric definitions (`cca_mean`: W by eigendecomposition, eigenvalues <= d·ε·λ_max
    /// treated as 0; `svcca`: reduction to the top r components holding 99% of the variance) and
    /// Cost model (per representation: eigh(S) → W and S^(1/2)).
    pub(super) fn from_gram(gram: &Array2<f64>) -> Result<Spectrum, MetricError> {
        let dim = gram.nrows();
        let eigen = symmetric_eigen(gram.clone())?;
        let mut eigenvalues = eigen.values;
        zero_rounding_noise(&mut eigenvalues, dim);

        // W = V Λ^(-1/2) Vᵀ = (V Λ^(-1/4)) (V Λ^(-1/4))ᵀ: one symmetric rank-k product, half a GEMM.
        let inverse_root = scaled_outer(&eigen.vectors, &eigenvalues, |value| value.powf(-0.25))?;
        let root = scaled_outer(&eigen.vectors, &eigenvalues, |value| value.powf(0.25))?;

        // The thin SVD of P(X) is U Σ Vᵀ with Σ² = Λ, so the reduction U_r Σ_r is P(X) V_r and its
        // Gram matrix is Λ_r: diagonal, whitened by Λ_r^(-1/2).
        let total: f64 = eigenvalues.iter().sum();
        let mut kept = 0.0;
        let rank = eigenvalues
            .iter()
            .position(|value| {
                kept += value;
                kept >= SVCCA_KEPT_VARIANCE * total
            })
            .map_or(dim, |index| index + 1);
        let mut reduced = eigenvalues[..rank].to_vec();
        zero_rounding_noise(&mut reduced, rank);
        let mut svcca_basis = eigen.vectors.slice(s![.., ..rank]).to_owned();
        for (mut column, value) in svcca_basis.axis_iter_mut(Axis(1)).zip(&reduced) {
            column *= inverse_sqrt_or_zero(*value);
        }
        Ok(Spectrum {
            inverse_root,
            root,
            svcca_basis,
        })
    }

    pub(super) fn memory_bytes(&self) -> usize {
        8 * (self.inverse_root.len() + self.root.len() + self.svcca_basis.len())
    }
}

fn inverse_sqrt_or_zero(value: f64) -> f64 {
    if value > 0.0 {
        value.sqrt().recip()
    } else {
        0.0
    }
}

/// V f(Λ)² Vᵀ as (V f(Λ))(V f(Λ))ᵀ, with f(0) = 0.
fn scaled_outer(
    vectors: &Array2<f64>,
    eigenvalues: &[f64],
    factor: impl Fn(f64) -> f64,
) -> Result<Array2<f64>, MetricError> {
    let mut scaled = vectors.clone();
    for (mut column, value) in scaled.axis_iter_mut(Axis(1)).zip(eigenvalues) {
        column *= if *value > 0.0 { factor(*value) } else { 0.0 };
    }
    gram_of_rows(scaled.view())
}

/// Canonical correlations of one pair, and PWCCA when asked for.
pub(super) struct Canonical {
    /// The min(d1, d2) canonical correlations, largest first, clipped to [0, 1].
    pub correlations: Vec<f64>,
    pub pwcca: Option<f64>,
}

/// DESIGN, Metric definitions (`cca_mean`, `cca_mean_sq`, `pwcca`) and Cost model (T = Wₓ M W_y;
/// eigh(T Tᵀ) gives U and ρ² at once). The caller checks n > d1 and n > d2.
pub(super) fn canonical(
    x: &Spectrum,
    y: &Spectrum,
    cross: &Array2<f64>,
    with_pwcca: bool,
) -> Result<Canonical, MetricError> {
    let whitened = x.inverse_root.dot(cross).dot(&y.inverse_root);
    let count = whitened.nrows().min(whitened.ncols());
    if !with_pwcca {
        let correlations = clip_unit(singular_values_from_gram(&whitened)?, count);
        return Ok(Canonical {
            correlations,
            pwcca: None,
        });
    }
    let dim = whitened.nrows();
    let eigen = symmetric_eigen(gram_of_rows(whitened.view())?)?;
    let mut squared = eigen.values;
    zero_rounding_noise(&mut squared, dim);
    let correlations = clip_unit(squared.into_iter().map(f64::sqrt).collect(), count);
    let pwcca = projection_weighted(&correlations, &eigen.vectors, &x.root)?;
    Ok(Canonical {
        correlations,
        pwcca: Some(pwcca),
    })
}

fn clip_unit(mut values: Vec<f64>, count: usize) -> Vec<f64> {
    values.truncate(count);
    for value in &mut values {
        *value = value.clamp(0.0, 1.0);
    }
    values
}

/// `pwcca` (DESIGN, Metric definitions; Cost model: the weights are the column L1 norms of
/// Sₓ^(1/2) U, since hᵢᵀX = uᵢᵀ Wₓ Sₓ = uᵢᵀ Sₓ^(1/2)).
///
/// `u` holds all d1 left singular vectors of T (largest ρ first), `correlations` the first k.
/// Inside each block of tied correlations, and in the d1 - k directions no column of Y matches,
/// the solver's basis is arbitrary; rotating it onto the eigenvectors of U_Bᵀ Sₓ U_B = G_Bᵀ G_B
/// (G = Sₓ^(1/2) U) makes the weights a function of the data alone.
fn projection_weighted(
    correlations: &[f64],
    u: &Array2<f64>,
    root: &Array2<f64>,
) -> Result<f64, MetricError> {
    let mut projections = root.dot(u);
    for block in tie_blocks(correlations, u.ncols()) {
        if block.len() < 2 {
            continue;
        }
        let columns = projections.slice(s![.., block.clone()]);
        let rotation = symmetric_eigen(gram_of_columns(columns)?)?.vectors;
        let rotated = columns.dot(&rotation);
        projections.slice_mut(s![.., block]).assign(&rotated);
    }
    let weights: Vec<f64> = projections
        .axis_iter(Axis(1))
        .map(|column: ArrayView1<f64>| column.iter().map(|value| value.abs()).sum())
        .collect();
    let total: f64 = weights.iter().sum();
    let matched: f64 = weights
        .iter()
        .zip(correlations)
        .map(|(w, rho)| w * rho)
        .sum();
    Ok(1.0 - matched / total)
}

/// Runs of consecutive correlations whose neighbours differ by at most [`PWCCA_TIE`], over all d1
/// directions of X, the unmatched directions k..d1 counting as correlation 0. So the unmatched
/// directions form one block, joined by any trailing correlations within the tie of 0: those span
/// the same null space of T Tᵀ, where the solver's split between them is arbitrary too.
fn tie_blocks(correlations: &[f64], dim: usize) -> Vec<std::ops::Range<usize>> {
    let correlation = |index: usize| correlations.get(index).copied().unwrap_or(0.0);
    let mut blocks = Vec::new();
    let mut start = 0;
    for index in 1..dim {
        if (correlation(index - 1) - correlation(index)).abs() > PWCCA_TIE {
            blocks.push(start..index);
            start = index;
        }
    }
    if dim > 0 {
        blocks.push(start..dim);
    }
    blocks
}

/// `svcca` (DESIGN, Metric definitions): `cca_mean` of the two reductions. Their cross product is
/// V_rᵀ M V_r', so no further n-sized product is needed. A centred n-row matrix has rank at most
/// n - 1, so the reductions always have fewer columns than rows and the n > d condition holds.
pub(super) fn svcca(x: &Spectrum, y: &Spectrum, cross: &Array2<f64>) -> Result<f64, MetricError> {
    let whitened = x.svcca_basis.t().dot(cross).dot(&y.svcca_basis);
    let count = whitened.nrows().min(whitened.ncols());
    let correlations = clip_unit(singular_values_from_gram(&whitened)?, count);
    Ok(1.0 - mean(&correlations))
}

pub(super) fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_chain_into_blocks_and_unmatched_directions_join_the_trailing_zero_run() {
        let correlations = [1.0, 1.0 - 5e-7, 1.0 - 9e-7, 0.8, 0.5, 0.5];
        assert_eq!(tie_blocks(&correlations, 8), [0..3, 3..4, 4..6, 6..8]);
        assert_eq!(tie_blocks(&[0.9, 0.2], 2), [0..1, 1..2]);
        assert_eq!(tie_blocks(&[0.9, 1e-7, 0.0], 5), [0..1, 1..5]);
    }
}
