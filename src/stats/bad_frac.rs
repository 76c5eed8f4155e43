//! bad_frac (DESIGN "Benchmark protocols"): how often a metric calls two representations close
//! while their functions are far apart.

use super::{Undefined, check_finite, compare_values};

/// Below this quantile a distance counts as small.
const SMALL_DISTANCE_QUANTILE: f64 = 0.2;
/// Above this quantile a functional difference counts as large.
const LARGE_DIFFERENCE_QUANTILE: f64 = 0.8;

/// Fraction of the `(x, y)` pairs whose x quantile is < 0.2 while their y quantile is > 0.8,
/// where the quantile of a value v among the m values of its variable is
/// (L + R + [R > L]) / (2m), L = #values < v, R = #values ≤ v.
///
/// Undefined without pairs or with non-finite values. Unlike the correlations it is defined for
/// constant input (no pair is bad then).
pub fn bad_frac(pairs: &[(f64, f64)]) -> Result<f64, Undefined> {
    check_finite(pairs)?;
    if pairs.is_empty() {
        return Err(Undefined::NoPairs);
    }
    let x = Quantiles::new(pairs.iter().map(|pair| pair.0).collect());
    let y = Quantiles::new(pairs.iter().map(|pair| pair.1).collect());
    let bad = pairs
        .iter()
        .filter(|(a, b)| {
            x.quantile(*a) < SMALL_DISTANCE_QUANTILE && y.quantile(*b) > LARGE_DIFFERENCE_QUANTILE
        })
        .count();
    Ok(bad as f64 / pairs.len() as f64)
}

/// The values of one variable, sorted so that each quantile costs two binary searches.
struct Quantiles {
    sorted: Vec<f64>,
}

impl Quantiles {
    fn new(mut values: Vec<f64>) -> Quantiles {
        values.sort_by(|a, b| compare_values(*a, *b));
        Quantiles { sorted: values }
    }

    fn quantile(&self, value: f64) -> f64 {
        let below = self
            .sorted
            .partition_point(|&v| compare_values(v, value).is_lt());
        let at_or_below = self
            .sorted
            .partition_point(|&v| compare_values(v, value).is_le());
        let present = usize::from(at_or_below > below);
        (below + at_or_below + present) as f64 / (2 * self.sorted.len()) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_follow_the_design_formula() {
        let quantiles = Quantiles::new(vec![1., 2., 2., 3.]);
        assert_eq!(quantiles.quantile(1.0), 0.25); // (0 + 1 + 1) / 8
        assert_eq!(quantiles.quantile(2.0), 0.625); // (1 + 3 + 1) / 8
        assert_eq!(quantiles.quantile(3.0), 1.0); // (3 + 4 + 1) / 8
        assert_eq!(quantiles.quantile(2.5), 0.75); // (3 + 3 + 0) / 8
    }

    #[test]
    fn counts_small_distance_with_large_functional_difference() {
        // Ten pairs, distinct values: quantiles are 0.1, 0.2, …, 1.0. Only the pair with the
        // smallest distance (quantile 0.1 < 0.2) and the largest difference (1.0 > 0.8) is bad;
        // the second-smallest distance sits at 0.2, which is not below 0.2.
        let mut pairs: Vec<(f64, f64)> = (1..=10).map(|i| (f64::from(i), f64::from(i))).collect();
        pairs[0].1 = 100.0;
        pairs[1].1 = 99.0;
        assert_eq!(bad_frac(&pairs), Ok(0.1));
    }

    #[test]
    fn constant_input_has_no_bad_pairs_and_empty_input_is_undefined() {
        assert_eq!(bad_frac(&[(1.0, 5.0), (1.0, 5.0), (1.0, 5.0)]), Ok(0.0));
        assert_eq!(bad_frac(&[]), Err(Undefined::NoPairs));
        assert_eq!(bad_frac(&[(f64::INFINITY, 1.0)]), Err(Undefined::NonFinite));
    }
}
