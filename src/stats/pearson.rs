//! Pearson's r and its p-value (README "Grounding tests": next to Spearman and Kendall τ-b,
//! with scipy's `pearsonr` semantics).

use super::distributions::regularized_incomplete_beta_with_complement;
use super::{Correlation, Undefined, check_correlation_input};

/// Pearson's correlation r of the `(x, y)` pairs and its two-sided p-value, as
/// `scipy.stats.pearsonr` computes them.
///
/// r = ⟨(x − x̄)/‖x − x̄‖, (y − ȳ)/‖y − ȳ‖⟩, clipped to [−1, 1]. Under the null, r follows the
/// Beta(m/2 − 1, m/2 − 1) distribution on [−1, 1], so p = 2·I_{(1−|r|)/2}(m/2 − 1, m/2 − 1)
/// (0 when |r| = 1). Undefined for fewer than 3 pairs, a constant x or y, or non-finite values.
pub fn pearson(pairs: &[(f64, f64)]) -> Result<Correlation, Undefined> {
    check_correlation_input(pairs)?;
    let x: Vec<f64> = pairs.iter().map(|pair| pair.0).collect();
    let y: Vec<f64> = pairs.iter().map(|pair| pair.1).collect();
    let coefficient = dot(&standardised(&x), &standardised(&y)).clamp(-1.0, 1.0);
    Ok(Correlation {
        coefficient,
        two_sided_p: pearson_two_sided_p(coefficient, pairs.len()),
    })
}

/// The values centred and divided by their Euclidean norm, so that the Pearson correlation of two
/// samples is the dot product of their standardised vectors. The input must vary.
pub(super) fn standardised(values: &[f64]) -> Vec<f64> {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let centred: Vec<f64> = values.iter().map(|value| value - mean).collect();
    let norm = dot(&centred, &centred).sqrt();
    centred.iter().map(|value| value / norm).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

fn pearson_two_sided_p(r: f64, pairs: usize) -> f64 {
    let shape = pairs as f64 / 2.0 - 1.0;
    let tail = regularized_incomplete_beta_with_complement(
        (1.0 - r.abs()) / 2.0,
        (1.0 + r.abs()) / 2.0,
        shape,
        shape,
    );
    (2.0 * tail).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::test_support::{assert_close, pairs};

    // Expected values: scipy.stats.pearsonr(x, y) (scipy 1.17.1), statistic and pvalue.
    #[test]
    fn matches_scipy() {
        let got = pearson(&pairs(&[1., 2., 3., 4., 5.], &[2., 1., 4., 3., 5.])).unwrap();
        assert_close(got.coefficient, 0.8);
        assert_close(got.two_sided_p, 0.10408803866182782);
        let x = [0.1, 0.2, 0.2, 0.3, 0.5, 0.5, 0.5, 0.9];
        let y = [1., 3., 2., 2., 5., 4., 4., 6.];
        let got = pearson(&pairs(&x, &y)).unwrap();
        assert_close(got.coefficient, 0.9260310455930957);
        assert_close(got.two_sided_p, 0.0009564853395421399);
        let x = [1., 2., 3., 4., 5., 6.];
        let got = pearson(&pairs(&x, &[6., 5., 3., 4., 2., 1.5])).unwrap();
        assert_close(got.coefficient, -0.9347812829569984);
        assert_close(got.two_sided_p, 0.006241518290489619);
    }

    #[test]
    fn perfect_correlation_has_p_zero() {
        let up = pearson(&pairs(&[1., 2., 3., 4.], &[3., 5., 7., 9.])).unwrap();
        assert_eq!(up.coefficient, 1.0);
        assert_eq!(up.two_sided_p, 0.0);
        let down = pearson(&pairs(&[1., 2., 3., 4.], &[4., 3., 2., 1.])).unwrap();
        assert_eq!(down.coefficient, -1.0);
    }

    #[test]
    fn three_pairs_follow_the_arcsine_law() {
        // With m = 3 the null is Beta(½, ½) on [−1, 1]: P(|r| ≥ t) = 1 − (2/π)·asin(t).
        let got = pearson(&pairs(&[1., 2., 3.], &[1., 3., 2.])).unwrap();
        assert_close(got.coefficient, 0.5);
        assert_close(
            got.two_sided_p,
            1.0 - 2.0 / std::f64::consts::PI * 0.5f64.asin(),
        );
    }

    #[test]
    fn four_pairs_follow_the_uniform_law() {
        // With m = 4 the null is Beta(1, 1), uniform on [−1, 1]: P(|r| ≥ t) = 1 − t.
        let got = pearson(&pairs(&[1., 2., 3., 4.], &[1., 3., 2., 5.])).unwrap();
        assert_close(got.two_sided_p, 1.0 - got.coefficient.abs());
    }

    #[test]
    fn undefined_inputs_say_why() {
        assert_eq!(
            pearson(&pairs(&[1., 1., 1.], &[1., 2., 3.])),
            Err(Undefined::ConstantX)
        );
        assert_eq!(
            pearson(&pairs(&[1., 2., 3.], &[2., 2., 2.])),
            Err(Undefined::ConstantY)
        );
        assert_eq!(
            pearson(&pairs(&[1., 2.], &[1., 2.])),
            Err(Undefined::TooFewPairs { pairs: 2 })
        );
    }
}
