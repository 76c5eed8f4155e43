//! Functional differences between two models from their outputs (README "Grounding
//! tests"): disagreement and Jensen–Shannon divergence of two
//! n x C matrices of logits on the same inputs.

use ndarray::{ArrayView1, ArrayView2, Axis};

/// Why two output matrices cannot be compared.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OutputsError {
    #[error("the outputs differ in shape: {first:?} against {second:?}")]
    ShapeMismatch {
        first: (usize, usize),
        second: (usize, usize),
    },
    #[error("outputs need at least one input and two classes, got {n} x {classes}")]
    TooSmall { n: usize, classes: usize },
    #[error("output row {row}, class {class} is NaN or infinite")]
    NonFinite { row: usize, class: usize },
}

/// Fraction of inputs whose predicted class (the argmax of the logits; a tie goes to the lowest
/// class) differs between the two models.
pub fn disagreement(first: ArrayView2<f64>, second: ArrayView2<f64>) -> Result<f64, OutputsError> {
    check_outputs(first, second)?;
    let differing = first
        .axis_iter(Axis(0))
        .zip(second.axis_iter(Axis(0)))
        .filter(|(a, b)| predicted_class(*a) != predicted_class(*b))
        .count();
    Ok(differing as f64 / first.nrows() as f64)
}

/// Mean over inputs of the base-2 Jensen–Shannon divergence (not its square root) between the
/// softmax distributions of the two models' logits, each input's divergence clipped to [0, 1].
///
/// softmax(z) = exp(z − max z)/Σ; JS(p, q) = ½ KL(p‖m) + ½ KL(q‖m) with m = (p + q)/2, in bits,
/// where a class of probability 0 contributes 0 (0·log 0 = 0), as scipy's `rel_entr` has it.
pub fn jensen_shannon(
    first: ArrayView2<f64>,
    second: ArrayView2<f64>,
) -> Result<f64, OutputsError> {
    check_outputs(first, second)?;
    let total: f64 = first
        .axis_iter(Axis(0))
        .zip(second.axis_iter(Axis(0)))
        .map(|(a, b)| {
            let (p, q) = (softmax(a), softmax(b));
            let divergence: f64 = p
                .iter()
                .zip(&q)
                .map(|(&p, &q)| {
                    let mixture = (p + q) / 2.0;
                    relative_entropy(p, mixture) + relative_entropy(q, mixture)
                })
                .sum();
            (divergence / 2.0 / std::f64::consts::LN_2).clamp(0.0, 1.0)
        })
        .sum();
    Ok(total / first.nrows() as f64)
}

fn check_outputs(first: ArrayView2<f64>, second: ArrayView2<f64>) -> Result<(), OutputsError> {
    if first.dim() != second.dim() {
        return Err(OutputsError::ShapeMismatch {
            first: first.dim(),
            second: second.dim(),
        });
    }
    let (n, classes) = first.dim();
    if n == 0 || classes < 2 {
        return Err(OutputsError::TooSmall { n, classes });
    }
    for outputs in [first, second] {
        if let Some(((row, class), _)) = outputs.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(OutputsError::NonFinite { row, class });
        }
    }
    Ok(())
}

/// The first class with the largest logit.
fn predicted_class(logits: ArrayView1<f64>) -> usize {
    let mut best = 0;
    for (class, &logit) in logits.iter().enumerate() {
        if logit > logits[best] {
            best = class;
        }
    }
    best
}

fn softmax(logits: ArrayView1<f64>) -> Vec<f64> {
    let largest = logits.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let exponentials: Vec<f64> = logits.iter().map(|&z| (z - largest).exp()).collect();
    let sum: f64 = exponentials.iter().sum();
    exponentials.iter().map(|e| e / sum).collect()
}

/// p·ln(p/m), 0 when p = 0 (m ≥ p/2 > 0 otherwise).
fn relative_entropy(p: f64, mixture: f64) -> f64 {
    if p > 0.0 { p * (p / mixture).ln() } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    #[test]
    fn disagreement_counts_differing_argmax_with_ties_to_the_lowest_class() {
        let first = array![
            [1.0, 2.0, 0.0],
            [3.0, 3.0, 1.0],
            [0.0, 0.0, 0.0],
            [5.0, 1.0, 1.0]
        ];
        let second = array![
            [0.0, 2.0, 1.0],
            [1.0, 3.0, 1.0],
            [0.0, -1.0, -1.0],
            [1.0, 5.0, 1.0]
        ];
        // Rows: class 1 vs 1; 0 (tie) vs 1; 0 (tie) vs 0; 0 vs 1.
        assert_eq!(disagreement(first.view(), second.view()), Ok(0.5));
        assert_eq!(disagreement(first.view(), first.view()), Ok(0.0));
    }

    #[test]
    fn jensen_shannon_of_known_distributions() {
        // Logits ln(p): softmax gives p back. p = (1, 0), q = (0, 1) up to the tiny remainder
        // that exp(−800) = 0 leaves: disjoint supports, 1 bit.
        let first = array![[0.0, -800.0]];
        let second = array![[-800.0, 0.0]];
        assert_eq!(jensen_shannon(first.view(), second.view()), Ok(1.0));
        // p = (½, ½), q = (1, 0): m = (¾, ¼), JS = ½[½ log2(2/3) + ½ log2 2] + ½ log2(4/3).
        let half = array![[0.0, 0.0]];
        let one = array![[0.0, -800.0]];
        let want = 0.5 * (0.5 * (2.0f64 / 3.0).log2() + 0.5) + 0.5 * (4.0f64 / 3.0).log2();
        let got = jensen_shannon(half.view(), one.view()).unwrap();
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
        assert_eq!(jensen_shannon(half.view(), half.view()), Ok(0.0));
    }

    #[test]
    fn jensen_shannon_is_symmetric_and_ignores_a_logit_shift() {
        let first = array![[0.3, -1.2, 2.0], [1.0, 1.0, -4.0]];
        let second = array![[1.5, 0.2, -0.7], [0.0, 2.5, 1.0]];
        let shifted = &second + 10.0;
        let forward = jensen_shannon(first.view(), second.view()).unwrap();
        let backward = jensen_shannon(second.view(), first.view()).unwrap();
        assert!((forward - backward).abs() < 1e-15);
        let moved = jensen_shannon(first.view(), shifted.view()).unwrap();
        assert!((forward - moved).abs() < 1e-14);
        assert!(forward > 0.0 && forward < 1.0);
    }

    #[test]
    fn bad_outputs_are_refused() {
        let two = array![[0.0, 1.0], [1.0, 0.0]];
        let three = array![[0.0, 1.0, 2.0], [1.0, 0.0, 2.0]];
        assert!(matches!(
            disagreement(two.view(), three.view()),
            Err(OutputsError::ShapeMismatch { .. })
        ));
        let single_class = array![[1.0], [2.0]];
        assert_eq!(
            jensen_shannon(single_class.view(), single_class.view()),
            Err(OutputsError::TooSmall { n: 2, classes: 1 })
        );
        let infinite = array![[0.0, 1.0], [f64::INFINITY, 0.0]];
        assert_eq!(
            disagreement(two.view(), infinite.view()),
            Err(OutputsError::NonFinite { row: 1, class: 0 })
        );
    }
}
