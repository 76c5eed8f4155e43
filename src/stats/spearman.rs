//! Spearman's ρ and its p-value (DESIGN "Benchmark protocols": Pearson correlation of average
//! ranks; two-sided p from the t approximation with m − 2 degrees of freedom, as scipy computes).

use super::distributions::student_t_sf;
use super::{Correlation, Undefined, average_ranks, check_correlation_input};

/// Spearman's rank correlation ρ of the `(x, y)` pairs and its two-sided p-value.
///
/// ρ is the Pearson correlation of the average ranks (ties share their mean rank). With
/// dof = m − 2, t = ρ·√(dof / ((ρ + 1)(1 − ρ))) and p = 2·(1 − T_dof(|t|)); p = 0 when |ρ| = 1.
/// Undefined for fewer than 3 pairs, a constant x or y, or non-finite values.
pub fn spearman(pairs: &[(f64, f64)]) -> Result<Correlation, Undefined> {
    check_correlation_input(pairs)?;
    let x_ranks = average_ranks(&pairs.iter().map(|pair| pair.0).collect::<Vec<_>>());
    let y_ranks = average_ranks(&pairs.iter().map(|pair| pair.1).collect::<Vec<_>>());
    let coefficient = pearson_of_values(&x_ranks, &y_ranks);
    Ok(Correlation {
        coefficient,
        two_sided_p: spearman_two_sided_p(coefficient, pairs.len()),
    })
}

/// Pearson correlation, clipped to [−1, 1] against rounding; both inputs vary (checked before).
pub(super) fn pearson_of_values(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let x_mean = x.iter().sum::<f64>() / n;
    let y_mean = y.iter().sum::<f64>() / n;
    let (mut xy, mut xx, mut yy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - x_mean, b - y_mean);
        xy += dx * dy;
        xx += dx * dx;
        yy += dy * dy;
    }
    (xy / (xx * yy).sqrt()).clamp(-1.0, 1.0)
}

fn spearman_two_sided_p(rho: f64, pairs: usize) -> f64 {
    if rho.abs() == 1.0 {
        return 0.0;
    }
    let dof = (pairs - 2) as f64;
    let t = rho * (dof / ((rho + 1.0) * (1.0 - rho))).sqrt();
    2.0 * student_t_sf(t.abs(), dof)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::test_support::{assert_close, pairs};

    // Expected values: scipy.stats.spearmanr(x, y) (scipy 1.17.1), statistic and pvalue.
    #[test]
    fn matches_scipy_without_ties() {
        let got = spearman(&pairs(&[1., 2., 3., 4., 5.], &[2., 1., 4., 3., 5.])).unwrap();
        assert_close(got.coefficient, 0.7999999999999999);
        assert_close(got.two_sided_p, 0.10408803866182788);
    }

    #[test]
    fn matches_scipy_with_ties() {
        let x = [0.1, 0.2, 0.2, 0.3, 0.5, 0.5, 0.5, 0.9];
        let y = [1., 3., 2., 2., 5., 4., 4., 6.];
        let got = spearman(&pairs(&x, &y)).unwrap();
        assert_close(got.coefficient, 0.9256265453136692);
        assert_close(got.two_sided_p, 0.0009719602101529905);
        assert_close(got.one_sided_p(), 0.0009719602101529905 / 2.0);
    }

    #[test]
    fn matches_scipy_negative_and_smallest_sample() {
        let got = spearman(&pairs(&[1., 2., 3., 4., 5., 6.], &[6., 5., 3., 4., 2., 1.])).unwrap();
        assert_close(got.coefficient, -0.942857142857143);
        assert_close(got.two_sided_p, 0.004804664723032055);
        assert_close(got.one_sided_p(), 1.0 - 0.004804664723032055 / 2.0);
        let three = spearman(&pairs(&[1., 2., 3.], &[1., 3., 2.])).unwrap();
        assert_close(three.coefficient, 0.5);
        assert_close(three.two_sided_p, 0.6666666666666666);
    }

    #[test]
    fn perfect_correlation_has_p_zero() {
        let increasing = spearman(&pairs(&[1., 2., 3., 4.], &[10., 20., 30., 40.])).unwrap();
        assert_eq!(increasing.coefficient, 1.0);
        assert_eq!(increasing.two_sided_p, 0.0);
        assert_eq!(increasing.one_sided_p(), 0.0);
        let decreasing = spearman(&pairs(&[1., 2., 3., 4.], &[4., 3., 2., 1.])).unwrap();
        assert_eq!(decreasing.coefficient, -1.0);
        assert_eq!(decreasing.one_sided_p(), 1.0);
    }

    #[test]
    fn undefined_inputs_say_why() {
        assert_eq!(
            spearman(&pairs(&[1., 2.], &[1., 2.])),
            Err(Undefined::TooFewPairs { pairs: 2 })
        );
        assert_eq!(spearman(&[]), Err(Undefined::TooFewPairs { pairs: 0 }));
        assert_eq!(
            spearman(&pairs(&[1., 1., 1.], &[1., 2., 3.])),
            Err(Undefined::ConstantX)
        );
        assert_eq!(
            spearman(&pairs(&[1., 2., 3.], &[5., 5., 5.])),
            Err(Undefined::ConstantY)
        );
        assert_eq!(
            spearman(&pairs(&[1., f64::NAN, 3.], &[1., 2., 3.])),
            Err(Undefined::NonFinite)
        );
    }
}
