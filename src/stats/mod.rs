//! Pure statistics for the benchmark protocols of DESIGN "Benchmark protocols": average ranks,
//! Spearman ρ, Kendall τ-b, their one-sided p-values, bad_frac and a seeded bootstrap; and for the
//! grounding tests of README "Grounding tests": Pearson r, permutation p-values, functional
//! differences from model outputs, separation, layer monotonicity and metric-against-metric
//! comparisons on shared bootstrap resamples.
//!
//! No I/O, no async. Samples are slices of `(x, y)` pairs — in a benchmark x is a metric's
//! distance and y the functional difference — so x and y cannot differ in length. A statistic that
//! is undefined for its input returns [`Undefined`] with the reason instead of NaN.

mod bad_frac;
mod bootstrap;
pub mod distributions;
pub mod functional;
mod kendall;
mod monotonicity;
mod pearson;
mod permutation;
mod ranks;
mod separation;
mod spearman;
#[cfg(test)]
mod test_support;

use serde::{Serialize, Serializer};

pub use bad_frac::bad_frac;
pub use bootstrap::{
    BootstrapDraws, BootstrapError, BootstrapOptions, ConfidenceInterval, MetricComparison,
    ResampleError, SharedResamples, compare_metrics, mean_spearman, mean_spearman_interval,
};
pub use kendall::kendall_tau_b;
pub use monotonicity::{ModelMonotonicity, monotonicity};
pub use pearson::pearson;
pub use permutation::{
    PermutationOptions, PermutationPValues, permutation_p_values, permutation_p_values_by_group,
};
pub use ranks::average_ranks;
pub use separation::{
    ClassSeparation, GroupSeparation, SeparationFigures, class_figures, separation,
};
pub use spearman::spearman;

pub(crate) use ranks::compare_values;

/// Why a statistic has no value. Serialises as its message, so an output field can be `null`
/// with this string next to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Undefined {
    #[error("a value is NaN or infinite")]
    NonFinite,
    #[error(
        "only {pairs} pairs; a correlation needs at least 3 (its p-value has m - 2 degrees \
         of freedom)"
    )]
    TooFewPairs { pairs: usize },
    #[error("all distances are equal, so they have no order to correlate")]
    ConstantX,
    #[error("all functional differences are equal, so they have no order to correlate")]
    ConstantY,
    #[error("no pairs")]
    NoPairs,
    #[error("no group has a defined value")]
    NoDefinedGroup,
    #[error("no bootstrap resample has a defined value")]
    NoDefinedResample,
    #[error("the class has fewer than 2 members, so no in-class pair")]
    NoInClassPair,
    #[error("no other class is present, so no cross pair")]
    NoCrossPair,
    #[error("a distance it needs is missing")]
    MissingDistance,
    #[error("no class has a defined value")]
    NoDefinedClass,
    #[error("no layer list has a defined Spearman correlation")]
    NoDefinedCorrelation,
    #[error("only {layers} layers; a violation needs a triple of layers")]
    NoTriple { layers: usize },
}

/// Every statistic of every protocol works on x and y rounded to this many decimals, so that
/// values equal up to rounding noise tie (README "Grounding tests").
pub const ROUNDING_DECIMALS: i32 = 10;

impl Serialize for Undefined {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A resampling procedure asked for a number of resamples outside `1..=max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{procedure} resamples must be between 1 and {max}, got {got}")]
pub struct ResamplesOutOfRange {
    pub procedure: &'static str,
    pub max: usize,
    pub got: usize,
}

impl ResamplesOutOfRange {
    /// `resamples` if it lies in `1..=max`; each procedure's cap keeps its cost bounded.
    fn check(procedure: &'static str, resamples: usize, max: usize) -> Result<usize, Self> {
        if (1..=max).contains(&resamples) {
            Ok(resamples)
        } else {
            Err(ResamplesOutOfRange {
                procedure,
                max,
                got: resamples,
            })
        }
    }
}

/// A rank correlation coefficient with its two-sided p-value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Correlation {
    pub coefficient: f64,
    pub two_sided_p: f64,
}

impl Correlation {
    /// p-value of the one-sided test against "no positive association" (DESIGN: the two-sided p
    /// halved when the coefficient is positive, 1 − p/2 otherwise). A good metric's distance
    /// grows with the functional difference, so only a positive correlation is evidence for it.
    pub fn one_sided_p(&self) -> f64 {
        if self.coefficient > 0.0 {
            self.two_sided_p / 2.0
        } else {
            1.0 - self.two_sided_p / 2.0
        }
    }
}

/// Rounds to `decimals` decimal places the way `numpy.round` does: scale by 10^decimals, round
/// half to even, scale back. The benchmark rounds x and y to 10 decimals before ranking (DESIGN
/// "Benchmark protocols") so that values equal up to rounding noise tie; matching numpy matters
/// at exactly those boundaries.
pub fn round_to_decimals(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round_ties_even() / scale
}

/// Mean of the defined values (DESIGN "Benchmark protocols": the benchmark value is the mean over
/// groups); groups where the statistic is undefined are left out of it.
pub fn mean_over_groups(
    values: impl IntoIterator<Item = Result<f64, Undefined>>,
) -> Result<f64, Undefined> {
    let (sum, count) = values
        .into_iter()
        .flatten()
        .fold((0.0, 0usize), |(sum, count), value| {
            (sum + value, count + 1)
        });
    if count == 0 {
        Err(Undefined::NoDefinedGroup)
    } else {
        Ok(sum / count as f64)
    }
}

/// Checks what both rank correlations need (DESIGN "Benchmark protocols": undefined when either
/// variable is constant; with m < 3 the p-values have no degrees of freedom).
fn check_correlation_input(pairs: &[(f64, f64)]) -> Result<(), Undefined> {
    check_finite(pairs)?;
    if pairs.len() < 3 {
        return Err(Undefined::TooFewPairs { pairs: pairs.len() });
    }
    let all_equal = |value: fn(&(f64, f64)) -> f64| {
        let first = value(&pairs[0]);
        pairs
            .iter()
            .all(|pair| compare_values(value(pair), first).is_eq())
    };
    if all_equal(|pair| pair.0) {
        return Err(Undefined::ConstantX);
    }
    if all_equal(|pair| pair.1) {
        return Err(Undefined::ConstantY);
    }
    Ok(())
}

fn check_finite(pairs: &[(f64, f64)]) -> Result<(), Undefined> {
    if pairs.iter().all(|(x, y)| x.is_finite() && y.is_finite()) {
        Ok(())
    } else {
        Err(Undefined::NonFinite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sided_p_halves_for_positive_coefficients_only() {
        let positive = Correlation {
            coefficient: 0.4,
            two_sided_p: 0.2,
        };
        let negative = Correlation {
            coefficient: -0.4,
            two_sided_p: 0.2,
        };
        let zero = Correlation {
            coefficient: 0.0,
            two_sided_p: 1.0,
        };
        assert_eq!(positive.one_sided_p(), 0.1);
        assert_eq!(negative.one_sided_p(), 0.9);
        assert_eq!(zero.one_sided_p(), 0.5);
    }

    #[test]
    fn rounding_matches_numpy() {
        // numpy.round(v, 10) for the values below (numpy 2.4.6).
        assert_eq!(round_to_decimals((0.6f64 - 0.5875).abs(), 10), 0.0125);
        assert_eq!(round_to_decimals((0.6125f64 - 0.6).abs(), 10), 0.0125);
        assert_eq!(round_to_decimals(0.123_456_789_012_345, 10), 0.1234567890);
        assert_eq!(round_to_decimals(-1e-17, 10), 0.0);
        // numpy rounds halves to even: 2.5e-10 → 2e-10, 3.5e-10 → 4e-10; -1e-17 → -0.0.
        assert_eq!(round_to_decimals(2.5e-10, 10), 2e-10);
        assert_eq!(round_to_decimals(3.5e-10, 10), 4e-10);
    }

    #[test]
    fn mean_leaves_undefined_groups_out() {
        let values = [Ok(0.5), Err(Undefined::ConstantX), Ok(0.25)];
        assert_eq!(mean_over_groups(values), Ok(0.375));
        assert_eq!(
            mean_over_groups([Err(Undefined::NoPairs)]),
            Err(Undefined::NoDefinedGroup)
        );
        assert_eq!(mean_over_groups([]), Err(Undefined::NoDefinedGroup));
    }

    #[test]
    fn undefined_serialises_as_its_message() {
        let json = serde_json::to_string(&Undefined::TooFewPairs { pairs: 2 }).unwrap();
        assert!(json.starts_with("\"only 2 pairs"), "{json}");
    }
}
