//! Kendall's τ-b and its asymptotic p-value (DESIGN "Benchmark protocols", the Kendall item),
//! in O(m log m): discordant pairs are the inversions of y once the pairs are sorted by (x, y).

use std::cmp::Ordering;

use super::distributions::normal_sf;
use super::{Correlation, Undefined, check_correlation_input, compare_values};

/// Kendall's τ-b of the `(x, y)` pairs and its two-sided p-value from the normal approximation
/// with the tie-corrected variance, as `scipy.stats.kendalltau(method="asymptotic")` computes it.
///
/// With tot = m(m−1)/2, tie groups of sizes t per variable giving xtie = Σ t(t−1)/2,
/// x0 = Σ t(t−1)(t−2), x1 = Σ t(t−1)(2t+5) (likewise for y), ntie the pairs tied in both and D
/// the discordant pairs: C − D = tot − xtie − ytie + ntie − 2D,
/// τ = (C − D)/√((tot − xtie)(tot − ytie)); with M = m(m−1),
/// var = (M(2m+5) − x1 − y1)/18 + 2·xtie·ytie/M + x0·y0/(9M(m−2)), z = (C − D)/√var and
/// p = 2·(1 − Φ(|z|)). Undefined for fewer than 3 pairs, a constant x or y, or non-finite values.
pub fn kendall_tau_b(pairs: &[(f64, f64)]) -> Result<Correlation, Undefined> {
    check_correlation_input(pairs)?;
    let mut sorted = pairs.to_vec();
    sorted.sort_by(|a, b| compare_values(a.0, b.0).then(compare_values(a.1, b.1)));
    let x_ties = TieTerms::of_runs(&sorted, |a, b| compare_values(a.0, b.0).is_eq());
    let both_tied = TieTerms::of_runs(&sorted, |a, b| {
        compare_values(a.0, b.0).is_eq() && compare_values(a.1, b.1).is_eq()
    })
    .pairs;

    // Sorted by x then y, a pair of positions i < j is discordant exactly when y_i > y_j: pairs
    // tied in x are in y order, so they never count. Counting leaves y sorted, ready for its ties.
    let mut y: Vec<f64> = sorted.iter().map(|pair| pair.1).collect();
    let mut scratch = Vec::with_capacity(y.len());
    let discordant = count_inversions(&mut y, &mut scratch);
    let y_ties = TieTerms::of_runs(&y, |a, b| compare_values(*a, *b).is_eq());

    let m = pairs.len() as u64;
    let total = m * (m - 1) / 2;
    // Signed: discordant pairs can outnumber concordant ones.
    let concordant_minus_discordant = total as i128 - x_ties.pairs as i128 - y_ties.pairs as i128
        + both_tied as i128
        - 2 * discordant as i128;
    let s = concordant_minus_discordant as f64;
    // One square root of the product, as DESIGN writes it: a perfect ranking then gives exactly ±1.
    let untied_x = (total - x_ties.pairs) as f64;
    let untied_y = (total - y_ties.pairs) as f64;
    let tau = (s / (untied_x * untied_y).sqrt()).clamp(-1.0, 1.0);

    let m = m as f64;
    let big_m = m * (m - 1.0);
    let variance = (big_m * (2.0 * m + 5.0) - x_ties.cubic_5 - y_ties.cubic_5) / 18.0
        + 2.0 * x_ties.pairs as f64 * y_ties.pairs as f64 / big_m
        + x_ties.cubic_2 * y_ties.cubic_2 / (9.0 * big_m * (m - 2.0));
    let z = s / variance.sqrt();
    let two_sided_p = (2.0 * normal_sf(z.abs())).min(1.0);
    Ok(Correlation {
        coefficient: tau,
        two_sided_p,
    })
}

/// Sums over the tie groups of one variable (DESIGN's xtie, x0, x1).
#[derive(Debug, Default)]
struct TieTerms {
    /// Σ t(t−1)/2: the pairs tied in this variable.
    pairs: u64,
    /// Σ t(t−1)(t−2) (DESIGN's x0).
    cubic_2: f64,
    /// Σ t(t−1)(2t+5) (DESIGN's x1).
    cubic_5: f64,
}

impl TieTerms {
    /// Tie terms of the runs of consecutive equal items of a sorted slice.
    fn of_runs<T>(sorted: &[T], equal: impl Fn(&T, &T) -> bool) -> TieTerms {
        sorted
            .chunk_by(equal)
            .map(|run| run.len())
            .filter(|&t| t > 1)
            .fold(TieTerms::default(), |sums, t| {
                let (t_int, t) = (t as u64, t as f64);
                TieTerms {
                    pairs: sums.pairs + t_int * (t_int - 1) / 2,
                    cubic_2: sums.cubic_2 + t * (t - 1.0) * (t - 2.0),
                    cubic_5: sums.cubic_5 + t * (t - 1.0) * (2.0 * t + 5.0),
                }
            })
    }
}

/// Number of positions i < j with values[i] > values[j] (strictly), by merge sort; sorts
/// `values` ascending. `buffer` is scratch space.
fn count_inversions(values: &mut [f64], buffer: &mut Vec<f64>) -> u64 {
    let len = values.len();
    if len < 2 {
        return 0;
    }
    let mid = len / 2;
    let mut inversions =
        count_inversions(&mut values[..mid], buffer) + count_inversions(&mut values[mid..], buffer);
    buffer.clear();
    let (mut left, mut right) = (0, mid);
    while left < mid && right < len {
        if compare_values(values[right], values[left]) == Ordering::Less {
            // values[right] is smaller than every value left in the first half.
            inversions += (mid - left) as u64;
            buffer.push(values[right]);
            right += 1;
        } else {
            buffer.push(values[left]);
            left += 1;
        }
    }
    buffer.extend_from_slice(&values[left..mid]);
    buffer.extend_from_slice(&values[right..]);
    values.copy_from_slice(buffer);
    inversions
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::stats::distributions::normal_sf;
    use crate::stats::test_support::{assert_within, pairs};

    // Expected values: scipy.stats.kendalltau(x, y, method="asymptotic") (scipy 1.17.1).
    #[test]
    fn matches_scipy_without_ties() {
        let got = kendall_tau_b(&pairs(&[1., 2., 3., 4., 5.], &[2., 1., 4., 3., 5.])).unwrap();
        assert_within(got.coefficient, 0.6, 1e-14);
        assert_within(got.two_sided_p, 0.1416446902951368, 1e-12);
    }

    #[test]
    fn matches_scipy_with_ties() {
        let x = [0.1, 0.2, 0.2, 0.3, 0.5, 0.5, 0.5, 0.9];
        let y = [1., 3., 2., 2., 5., 4., 4., 6.];
        let got = kendall_tau_b(&pairs(&x, &y)).unwrap();
        assert_within(got.coefficient, 0.8406728074767076, 1e-14);
        assert_within(got.two_sided_p, 0.006236680427408707, 1e-12);
    }

    #[test]
    fn matches_scipy_negative_and_smallest_sample() {
        let x = [1., 2., 3., 4., 5., 6.];
        let got = kendall_tau_b(&pairs(&x, &[6., 5., 3., 4., 2., 1.])).unwrap();
        assert_within(got.coefficient, -0.8666666666666666, 1e-14);
        assert_within(got.two_sided_p, 0.014595034919316668, 1e-12);
        assert_within(got.one_sided_p(), 1.0 - 0.014595034919316668 / 2.0, 1e-12);
        let three = kendall_tau_b(&pairs(&[1., 2., 3.], &[1., 3., 2.])).unwrap();
        assert_within(three.coefficient, 0.33333333333333337, 1e-14);
        assert_within(three.two_sided_p, 0.6015081344405899, 1e-12);
    }

    #[test]
    fn perfect_correlation() {
        let up = kendall_tau_b(&pairs(&[1., 2., 3., 4.], &[1., 2., 3., 4.])).unwrap();
        assert_eq!(up.coefficient, 1.0);
        let down = kendall_tau_b(&pairs(&[1., 2., 3., 4.], &[4., 3., 2., 1.])).unwrap();
        assert_eq!(down.coefficient, -1.0);
        assert!(up.one_sided_p() < 0.05 && down.one_sided_p() > 0.95);
    }

    #[test]
    fn undefined_inputs_say_why() {
        let constant = [2., 2., 2., 2.];
        let varying = [1., 2., 3., 4.];
        assert_eq!(
            kendall_tau_b(&pairs(&constant, &varying)),
            Err(Undefined::ConstantX)
        );
        assert_eq!(
            kendall_tau_b(&pairs(&varying, &constant)),
            Err(Undefined::ConstantY)
        );
        assert_eq!(
            kendall_tau_b(&pairs(&[1., 2.], &[2., 1.])),
            Err(Undefined::TooFewPairs { pairs: 2 })
        );
    }

    #[test]
    fn inversions_are_strict() {
        let mut values = vec![3.0, 1.0, 2.0, 2.0, 0.0];
        // (3,1) (3,2) (3,2) (3,0) (1,0) (2,0) (2,0); the equal 2s are no inversion.
        assert_eq!(count_inversions(&mut values, &mut Vec::new()), 7);
        assert_eq!(values, vec![0.0, 1.0, 2.0, 2.0, 3.0]);
    }

    /// τ-b and p straight from the definitions, looking at all m(m−1)/2 pairs of pairs.
    fn quadratic_reference(pairs: &[(f64, f64)]) -> (f64, f64) {
        let m = pairs.len();
        let (mut s, mut x_tied, mut y_tied) = (0i64, 0u64, 0u64);
        for i in 0..m {
            for j in i + 1..m {
                let dx = pairs[i].0 - pairs[j].0;
                let dy = pairs[i].1 - pairs[j].1;
                s += (dx.signum() * dy.signum()) as i64 * i64::from(dx != 0.0 && dy != 0.0);
                x_tied += u64::from(dx == 0.0);
                y_tied += u64::from(dy == 0.0);
            }
        }
        let total = (m * (m - 1) / 2) as f64;
        let tau = s as f64 / ((total - x_tied as f64) * (total - y_tied as f64)).sqrt();
        let group_sizes = |value: fn(&(f64, f64)) -> f64| {
            let mut counts = std::collections::BTreeMap::<u64, f64>::new();
            for pair in pairs {
                *counts.entry(value(pair).to_bits()).or_default() += 1.0;
            }
            counts.into_values().collect::<Vec<f64>>()
        };
        let sum = |sizes: &[f64], term: fn(f64) -> f64| sizes.iter().map(|&t| term(t)).sum::<f64>();
        let (xs, ys) = (group_sizes(|p| p.0), group_sizes(|p| p.1));
        let mf = m as f64;
        let big_m = mf * (mf - 1.0);
        let cubic_5 = |t: f64| t * (t - 1.0) * (2.0 * t + 5.0);
        let cubic_2 = |t: f64| t * (t - 1.0) * (t - 2.0);
        let variance = (big_m * (2.0 * mf + 5.0) - sum(&xs, cubic_5) - sum(&ys, cubic_5)) / 18.0
            + 2.0 * x_tied as f64 * y_tied as f64 / big_m
            + sum(&xs, cubic_2) * sum(&ys, cubic_2) / (9.0 * big_m * (mf - 2.0));
        let p = 2.0 * normal_sf((s as f64 / variance.sqrt()).abs());
        (tau, p.min(1.0))
    }

    #[test]
    fn fast_count_equals_quadratic_reference_on_random_ties() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for (m, levels) in [(10, 2), (31, 3), (257, 5), (1500, 40), (2000, 2000)] {
            let sample: Vec<(f64, f64)> = (0..m)
                .map(|_| {
                    let x = f64::from(rng.random_range(0..levels));
                    let y = 0.5 * x + f64::from(rng.random_range(0..levels));
                    (x, y)
                })
                .collect();
            let fast = kendall_tau_b(&sample).expect("the seeded sample varies in x and y");
            let (tau, p) = quadratic_reference(&sample);
            assert_within(fast.coefficient, tau, 1e-12);
            assert_within(fast.two_sided_p, p, 1e-12);
        }
    }
}
