//! A linear ridge probe: the functionality score of a representation in the paper's layer-depth
//! and principal-component-deletion subtasks (how linearly decodable the label is).

use ndarray::{Array1, ArrayView2, Axis, s};
use ndarray_linalg::SolveC;

/// Ridge penalty relative to the mean feature variance of the training half: enough to keep the
/// normal equations well conditioned when d approaches n/2, too little to matter otherwise.
const RIDGE: f64 = 1e-2;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ProbeError {
    #[error("the representation has {rows} rows but there are {labels} labels")]
    LabelCount { rows: usize, labels: usize },

    #[error("a probe needs at least 4 rows (2 to fit, 2 to score); the representation has {rows}")]
    TooFewRows { rows: usize },

    #[error(
        "the representation holds a non-finite value (NaN or infinity) at row {row}, column {column}"
    )]
    NonFinite { row: usize, column: usize },

    #[error("the ridge system could not be solved: {0}")]
    Solve(String),
}

/// Accuracy of a ridge classifier on `x` (rows = examples): fit on the first half of the rows
/// (targets ±1, intercept by centring), scored on the second half. Rows must be in random order
/// with respect to the labels, as the synthetic datasets are, for the halves to be fair samples.
pub fn ridge_probe_accuracy(x: ArrayView2<f64>, labels: &[bool]) -> Result<f64, ProbeError> {
    let (rows, d) = x.dim();
    if rows != labels.len() {
        return Err(ProbeError::LabelCount {
            rows,
            labels: labels.len(),
        });
    }
    if rows < 4 {
        return Err(ProbeError::TooFewRows { rows });
    }
    if let Some(position) = x.iter().position(|value| !value.is_finite()) {
        return Err(ProbeError::NonFinite {
            row: position / d.max(1),
            column: position % d.max(1),
        });
    }
    let half = rows / 2;
    let train = x.slice(s![..half, ..]);
    let targets = Array1::from_iter(labels[..half].iter().map(|&label| sign(label)));
    let target_mean = targets.mean().unwrap_or(0.0);
    let means = train.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(d));
    let centred = &train - &means;
    let mut gram = centred.t().dot(&centred);
    let mean_variance = gram.diag().sum() / d.max(1) as f64;
    // Constant features carry nothing: the probe then predicts the majority class.
    let weights = if mean_variance > 0.0 {
        gram.diag_mut()
            .mapv_inplace(|value| value + RIDGE * mean_variance);
        gram.solvec(&centred.t().dot(&(&targets - target_mean)))
            .map_err(|error| ProbeError::Solve(error.to_string()))?
    } else {
        Array1::zeros(d)
    };
    let test = x.slice(s![half.., ..]);
    let decisions = (&test - &means).dot(&weights) + target_mean;
    let correct = decisions
        .iter()
        .zip(&labels[half..])
        .filter(|&(&decision, &label)| (decision > 0.0) == label)
        .count();
    Ok(correct as f64 / (rows - half) as f64)
}

fn sign(label: bool) -> f64 {
    if label { 1.0 } else { -1.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::gaussian;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random_labels(n: usize, rng: &mut impl Rng) -> Vec<bool> {
        (0..n).map(|_| rng.random_bool(0.5)).collect()
    }

    #[test]
    fn separable_data_is_probed_almost_perfectly() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let labels = random_labels(400, &mut rng);
        let mut x = gaussian(400, 20, &mut rng);
        for (mut row, &label) in x.axis_iter_mut(Axis(0)).zip(&labels) {
            row[3] += 6.0 * sign(label);
        }
        let accuracy = ridge_probe_accuracy(x.view(), &labels).expect("a probe");
        assert!(accuracy > 0.99, "accuracy {accuracy}");
    }

    #[test]
    fn random_data_is_probed_at_chance() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let labels = random_labels(2000, &mut rng);
        let x = gaussian(2000, 20, &mut rng);
        let accuracy = ridge_probe_accuracy(x.view(), &labels).expect("a probe");
        assert!((0.45..0.55).contains(&accuracy), "accuracy {accuracy}");
    }

    #[test]
    fn constant_features_predict_the_majority_class() {
        let labels = [true, true, true, false, true, true];
        let x = Array2::from_elem((6, 3), 2.5);
        let accuracy = ridge_probe_accuracy(x.view(), &labels).expect("a probe");
        assert_eq!(accuracy, 2.0 / 3.0);
    }

    #[test]
    fn refuses_mismatched_labels_and_non_finite_values() {
        let x = Array2::zeros((6, 2));
        assert_eq!(
            ridge_probe_accuracy(x.view(), &[true; 5]),
            Err(ProbeError::LabelCount { rows: 6, labels: 5 })
        );
        let mut x = Array2::zeros((6, 2));
        x[[4, 1]] = f64::NAN;
        assert_eq!(
            ridge_probe_accuracy(x.view(), &[true; 6]),
            Err(ProbeError::NonFinite { row: 4, column: 1 })
        );
        assert_eq!(
            ridge_probe_accuracy(Array2::zeros((3, 2)).view(), &[true; 3]),
            Err(ProbeError::TooFewRows { rows: 3 })
        );
    }
}
