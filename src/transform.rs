//! Derived representations (DESIGN, Words: derived representation; fixtures README, benchmark/):
//! copies of a representation reduced to its top-k principal components.

use ndarray::{Array2, Axis, s};
use ndarray_linalg::SVD;
use serde::{Deserialize, Serialize};

use crate::matrix::CanonicalMatrix;

/// The `transform` of a derived representation: its source's top `pca_keep` principal components.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcaKeep {
    pub pca_keep: usize,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TransformError {
    #[error(
        "cannot keep k = {k} principal components of a representation with d = {d} columns; k must be between 1 and {d}"
    )]
    KOutOfRange { k: usize, d: usize },

    #[error(
        "the representation holds a non-finite value (NaN or infinity) at row {row}, column {column}"
    )]
    NonFinite { row: usize, column: usize },

    #[error("singular value decomposition failed: {0}")]
    Decomposition(String),
}

/// For each k in `ks`, the n x k coordinates of `x` on its top-k principal components, as the
/// fixtures README defines them: centre the columns, take the top-k right singular vectors v
/// (d x k), sign each so that its largest-magnitude entry is positive, return Xc·v. One SVD
/// serves every k.
pub fn pca_keep(x: &Array2<f64>, ks: &[usize]) -> Result<Vec<Array2<f64>>, TransformError> {
    let d = x.ncols();
    if let Some(&k) = ks.iter().find(|&&k| k == 0 || k > d) {
        return Err(TransformError::KOutOfRange { k, d });
    }
    let Some(&largest_k) = ks.iter().max() else {
        return Ok(Vec::new());
    };
    if let Some(position) = x.iter().position(|value| !value.is_finite()) {
        return Err(TransformError::NonFinite {
            row: position / d,
            column: position % d,
        });
    }
    let centred = x - &x
        .mean_axis(Axis(0))
        .unwrap_or_else(|| ndarray::Array1::zeros(d));
    // Only the right singular vectors are needed; all d of them, since k may exceed n when n < d
    // (beyond the rank the coordinates are zero whatever the basis).
    let (_, _, right_transposed) = centred
        .svd(false, true)
        .map_err(|error| TransformError::Decomposition(error.to_string()))?;
    let right_transposed = right_transposed
        .ok_or_else(|| TransformError::Decomposition("no right singular vectors".to_owned()))?;
    let mut components = right_transposed.slice(s![..largest_k, ..]).t().to_owned();
    for mut component in components.axis_iter_mut(Axis(1)) {
        let largest = component.iter().copied().fold(0.0f64, |kept, value| {
            if value.abs() > kept.abs() {
                value
            } else {
                kept
            }
        });
        if largest < 0.0 {
            component *= -1.0;
        }
    }
    let coordinates = centred.dot(&components);
    Ok(ks
        .iter()
        .map(|&k| coordinates.slice(s![.., ..k]).to_owned())
        .collect())
}

/// [`pca_keep`] of a stored matrix, each copy in its canonical float64 form with its content
/// address: all the computing a derivation needs before storing, for one blocking thread.
pub fn pca_keep_addressed(
    parent: &CanonicalMatrix,
    ks: &[usize],
) -> Result<Vec<(CanonicalMatrix, [u8; 32])>, TransformError> {
    Ok(pca_keep(&parent.to_f64(), ks)?
        .iter()
        .map(|copy| {
            let canonical = CanonicalMatrix::from_f64(copy);
            let sha256 = canonical.sha256();
            (canonical, sha256)
        })
        .collect())
}
