//! Distances + functional differences → the correlation table of a benchmark (DESIGN "Benchmark
//! protocols"; PROTOCOLS "Correlation" adds Pearson r and the mirrored pairs of `ordered`,
//! "Permutation p-values" the permutation p-values of each group).

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::protocol::{Group, GroupKey, Pair};
use crate::metrics::{Metric, MetricId};
use crate::stats::{
    BootstrapDraws, BootstrapOptions, ConfidenceInterval, PermutationOptions, PermutationPValues,
    SharedResamples, Undefined, bad_frac, compare_metrics, kendall_tau_b, mean_over_groups,
    pearson, permutation_p_values_by_group, round_to_decimals, spearman,
};

/// x and y are rounded to this many decimals before ranking, so that values equal up to rounding
/// noise tie (DESIGN "Benchmark protocols").
pub const ROUNDING_DECIMALS: i32 = 10;

/// What the distance store knows about one (metric, first, second).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DistanceOutcome {
    Value(f64),
    /// The metric refuses this pair (e.g. `rsa` on a 1-column copy); it is left out and counted.
    Refused,
}

/// One point of a metric's scatter plot in one group: x = d(first, second) and
/// y = |f(first) − f(second)|, both rounded as the statistics see them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScatterRow {
    pub x: f64,
    pub y: f64,
    pub first: i64,
    pub second: i64,
}

/// What results are computed for: a metric, which says whether it takes mirrored pairs.
pub trait ResultKey: Ord + Clone {
    /// d(a, b) = d(b, a), so the mirror of a pair repeats its x.
    fn is_symmetric(&self) -> bool;
}

impl ResultKey for Metric {
    fn is_symmetric(&self) -> bool {
        Metric::is_symmetric(*self)
    }
}

/// A client's metric counts as symmetric: mirrored pairs matter only to `ordered` benchmarks,
/// which refuse client metrics.
impl ResultKey for MetricId {
    fn is_symmetric(&self) -> bool {
        self.built_in().is_none_or(Metric::is_symmetric)
    }
}

/// Spearman ρ, Kendall τ-b and Pearson r with their one-sided p-values. They need the same input
/// (3+ pairs, neither variable constant), so they are defined together or not at all.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
pub struct Correlations {
    pub spearman: f64,
    pub spearman_p: f64,
    pub kendall: f64,
    pub kendall_p: f64,
    pub pearson: f64,
    pub pearson_p: f64,
}

/// The statistics of one group, or their means over groups; an undefined one carries the reason
/// why, as the client reads it.
///
/// Serialises as `spearman`, `spearman_p`, `kendall`, `kendall_p`, `pearson`, `pearson_p`,
/// `bad_frac` (each `null` when
/// undefined), followed by `correlation_reason` and `bad_frac_reason` only when those are `null`;
/// stored results read back from that form.
#[derive(Clone, Debug, PartialEq)]
pub struct Statistics {
    pub correlations: Result<Correlations, String>,
    pub bad_frac: Result<f64, String>,
}

impl Statistics {
    fn of(pairs: &[(f64, f64)]) -> Statistics {
        let correlations = spearman(pairs).and_then(|rho| {
            let tau = kendall_tau_b(pairs)?;
            let r = pearson(pairs)?;
            Ok(Correlations {
                spearman: rho.coefficient,
                spearman_p: rho.one_sided_p(),
                kendall: tau.coefficient,
                kendall_p: tau.one_sided_p(),
                pearson: r.coefficient,
                pearson_p: r.one_sided_p(),
            })
        });
        Statistics {
            correlations: correlations.map_err(|reason| reason.to_string()),
            bad_frac: bad_frac(pairs).map_err(|reason| reason.to_string()),
        }
    }

    /// Each statistic's mean over the groups where it is defined.
    fn mean(groups: &[GroupResult]) -> Statistics {
        // Undefined groups are left out of a mean; only "no group at all" is its own reason.
        let defined =
            |value: &Result<f64, String>| value.clone().map_err(|_| Undefined::NoDefinedGroup);
        let mean_of = |field: fn(&Correlations) -> f64| {
            mean_over_groups(groups.iter().map(|group| {
                defined(
                    &group
                        .statistics
                        .correlations
                        .as_ref()
                        .map(field)
                        .map_err(Clone::clone),
                )
            }))
        };
        let correlations = mean_of(|c| c.spearman).and_then(|spearman| {
            Ok(Correlations {
                spearman,
                spearman_p: mean_of(|c| c.spearman_p)?,
                kendall: mean_of(|c| c.kendall)?,
                kendall_p: mean_of(|c| c.kendall_p)?,
                pearson: mean_of(|c| c.pearson)?,
                pearson_p: mean_of(|c| c.pearson_p)?,
            })
        });
        let bad_frac = mean_over_groups(
            groups
                .iter()
                .map(|group| defined(&group.statistics.bad_frac)),
        );
        Statistics {
            correlations: correlations.map_err(|reason| reason.to_string()),
            bad_frac: bad_frac.map_err(|reason| reason.to_string()),
        }
    }
}

impl Serialize for Statistics {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let correlations = self.correlations.as_ref().ok();
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("spearman", &correlations.map(|c| c.spearman))?;
        map.serialize_entry("spearman_p", &correlations.map(|c| c.spearman_p))?;
        map.serialize_entry("kendall", &correlations.map(|c| c.kendall))?;
        map.serialize_entry("kendall_p", &correlations.map(|c| c.kendall_p))?;
        map.serialize_entry("pearson", &correlations.map(|c| c.pearson))?;
        map.serialize_entry("pearson_p", &correlations.map(|c| c.pearson_p))?;
        map.serialize_entry("bad_frac", &self.bad_frac.as_ref().ok())?;
        if let Err(reason) = &self.correlations {
            map.serialize_entry("correlation_reason", reason)?;
        }
        if let Err(reason) = &self.bad_frac {
            map.serialize_entry("bad_frac_reason", reason)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Statistics {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Statistics, D::Error> {
        /// The serialised form; other members of the surrounding object are ignored.
        #[derive(Deserialize)]
        struct Stored {
            spearman: Option<f64>,
            spearman_p: Option<f64>,
            kendall: Option<f64>,
            kendall_p: Option<f64>,
            pearson: Option<f64>,
            pearson_p: Option<f64>,
            bad_frac: Option<f64>,
            correlation_reason: Option<String>,
            bad_frac_reason: Option<String>,
        }
        let stored = Stored::deserialize(deserializer)?;
        let unexplained = || "undefined".to_owned();
        let defined = || {
            Some(Correlations {
                spearman: stored.spearman?,
                spearman_p: stored.spearman_p?,
                kendall: stored.kendall?,
                kendall_p: stored.kendall_p?,
                pearson: stored.pearson?,
                pearson_p: stored.pearson_p?,
            })
        };
        let correlations =
            defined().ok_or_else(|| stored.correlation_reason.unwrap_or_else(unexplained));
        let bad_frac = stored
            .bad_frac
            .ok_or_else(|| stored.bad_frac_reason.unwrap_or_else(unexplained));
        Ok(Statistics {
            correlations,
            bad_frac,
        })
    }
}

/// The bootstrap confidence interval of the benchmark value, if one was asked for.
///
/// Serialises as `ci`: `[lo, hi]` or `null`, plus `ci_reason` when asked for but undefined.
#[derive(Clone, Debug, PartialEq)]
pub enum Interval {
    NotRequested,
    Estimated(ConfidenceInterval),
    Undefined(String),
}

impl Serialize for Interval {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match self {
            Interval::NotRequested => map.serialize_entry("ci", &None::<ConfidenceInterval>)?,
            Interval::Estimated(interval) => map.serialize_entry("ci", interval)?,
            Interval::Undefined(reason) => {
                map.serialize_entry("ci", &None::<ConfidenceInterval>)?;
                map.serialize_entry("ci_reason", reason)?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Interval, D::Error> {
        #[derive(Deserialize)]
        struct Stored {
            ci: Option<[f64; 2]>,
            ci_reason: Option<String>,
        }
        let stored = Stored::deserialize(deserializer)?;
        Ok(match (stored.ci, stored.ci_reason) {
            (Some([lower, upper]), _) => Interval::Estimated(ConfidenceInterval { lower, upper }),
            (None, Some(reason)) => Interval::Undefined(reason),
            (None, None) => Interval::NotRequested,
        })
    }
}

/// A group's two-sided permutation p-values (PROTOCOLS "Permutation p-values"): `null` with
/// `permutation_reason` where the statistics are undefined (all three need the same input).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PermutationResult {
    pub spearman_permutation_p: Option<f64>,
    pub kendall_permutation_p: Option<f64>,
    pub pearson_permutation_p: Option<f64>,
    /// Every permutation was visited once (m! ≤ R) rather than R drawn at random.
    pub permutation_exact: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permutation_reason: Option<String>,
}

impl From<PermutationPValues> for PermutationResult {
    fn from(p_values: PermutationPValues) -> PermutationResult {
        let reason = [p_values.spearman, p_values.kendall, p_values.pearson]
            .into_iter()
            .find_map(Result::err)
            .map(|reason| reason.to_string());
        PermutationResult {
            spearman_permutation_p: p_values.spearman.ok(),
            kendall_permutation_p: p_values.kendall.ok(),
            pearson_permutation_p: p_values.pearson.ok(),
            permutation_exact: p_values.exact,
            permutation_reason: reason,
        }
    }
}

/// One group's result for one metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupResult {
    pub group: GroupKey,
    pub reference: Option<i64>,
    #[serde(flatten)]
    pub statistics: Statistics,
    /// With `permutation`, the permutation p-values; absent without.
    #[serde(flatten)]
    pub permutation: Option<PermutationResult>,
    /// Pairs with a distance: the m the statistics are computed on.
    pub n_pairs: usize,
    /// Pairs the metric refuses, left out.
    pub n_refused: usize,
    /// Pairs whose distance is not computed yet, left out.
    pub n_missing: usize,
}

/// One metric's result: the means over groups (the benchmark value is the mean Spearman ρ),
/// the optional bootstrap interval, totals and the per-group results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricResult {
    #[serde(flatten)]
    pub statistics: Statistics,
    #[serde(flatten)]
    pub ci: Interval,
    pub n_groups: usize,
    pub n_pairs: usize,
    pub n_refused: usize,
    pub n_missing: usize,
    /// Some distances are not computed yet, so the figures may still move.
    pub partial: bool,
    pub groups: Vec<GroupResult>,
}

/// One metric against another on the benchmark's shared bootstrap resamples (PROTOCOLS "Metric
/// against metric"): Δ = value(a) − value(b), its percentile interval at the bootstrap's level
/// and P(Δ* ≤ 0), or `null`s with the reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison<K> {
    pub a: K,
    pub b: K,
    pub delta: Option<f64>,
    /// `[lower, upper]`.
    pub ci: Option<[f64; 2]>,
    pub probability_not_better: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl<K: PartialEq> Comparison<K> {
    /// Whether the data cannot tell `a` from `b`: Δ's interval contains 0.
    pub fn is_tie(&self) -> bool {
        self.ci
            .is_some_and(|[lower, upper]| lower <= 0.0 && 0.0 <= upper)
    }
}

/// Why two metrics have no comparison although both were bootstrapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the two metrics do not have distances for the same pairs (some refused or not computed \
     yet), so their resamples differ"
)]
struct DifferentPairs;

/// A benchmark's correlation table: each metric's result and, with a bootstrap, every ordered
/// pair of distinct metrics compared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Table<K: Ord> {
    pub metrics: BTreeMap<K, MetricResult>,
    pub comparisons: Vec<Comparison<K>>,
}

/// The results of a benchmark for each metric, from its groups (see
/// [`pairs_needed`](super::pairs_needed)) and a distance lookup
/// `(metric, first, second) -> Option<DistanceOutcome>` (`None`: not computed yet).
///
/// Per group, x = d(first, second) and y = |f(first) − f(second)| are rounded to
/// [`ROUNDING_DECIMALS`] decimals, then Spearman, Kendall (one-sided p-values) and bad_frac are
/// computed on the pairs that have a distance. Self pairs have x = 0 without a lookup: a metric
/// is 0 for identical representations. `bootstrap` adds a confidence interval for the mean ρ and
/// the comparisons of metrics: the resampled indices depend only on the seed and the group
/// sizes, so metrics with distances for the same pairs see the same resampled pairs.
/// `permutation` adds each group's permutation p-values.
pub fn results<K, F>(
    groups: &[Group],
    metrics: &[K],
    distance: F,
    bootstrap: Option<&BootstrapOptions>,
    permutation: Option<&PermutationOptions>,
) -> Table<K>
where
    K: ResultKey,
    F: Fn(&K, i64, i64) -> Option<DistanceOutcome>,
{
    let computed: Vec<(K, MetricResult, Option<Resampled>)> = metrics
        .iter()
        .map(|metric| {
            let (result, resampled) =
                metric_result(groups, metric, &distance, bootstrap, permutation);
            (metric.clone(), result, resampled)
        })
        .collect();
    let mut comparisons = Vec::new();
    for (a, _, first) in &computed {
        for (b, _, second) in &computed {
            if let (false, Some(first), Some(second)) = (a == b, first, second) {
                comparisons.push(compare(a, b, first, second));
            }
        }
    }
    Table {
        metrics: computed
            .into_iter()
            .map(|(metric, result, _)| (metric, result))
            .collect(),
        comparisons,
    }
}

/// A metric's bootstrap draws and the pairs (first, second) of each group they resampled.
struct Resampled {
    draws: BootstrapDraws,
    pairs: Vec<Vec<(i64, i64)>>,
}

fn compare<K: Clone>(a: &K, b: &K, first: &Resampled, second: &Resampled) -> Comparison<K> {
    let outcome = if first.pairs == second.pairs {
        compare_metrics(&first.draws, &second.draws)
            .map_err(|error| error.to_string())
            .and_then(|outcome| outcome.map_err(|reason| reason.to_string()))
    } else {
        Err(DifferentPairs.to_string())
    };
    match outcome {
        Ok(comparison) => Comparison {
            a: a.clone(),
            b: b.clone(),
            delta: Some(comparison.difference),
            ci: Some([comparison.interval.lower, comparison.interval.upper]),
            probability_not_better: Some(comparison.probability_not_better),
            reason: None,
        },
        Err(reason) => Comparison {
            a: a.clone(),
            b: b.clone(),
            delta: None,
            ci: None,
            probability_not_better: None,
            reason: Some(reason),
        },
    }
}

/// The rows behind one metric's statistics in one group, in the group's pair order.
pub fn scatter_rows<K, F>(group: &Group, metric: &K, distance: F) -> Vec<ScatterRow>
where
    K: ResultKey,
    F: Fn(&K, i64, i64) -> Option<DistanceOutcome>,
{
    observe(group, metric, &distance).rows
}

fn metric_result<K, F>(
    groups: &[Group],
    metric: &K,
    distance: &F,
    bootstrap: Option<&BootstrapOptions>,
    permutation: Option<&PermutationOptions>,
) -> (MetricResult, Option<Resampled>)
where
    K: ResultKey,
    F: Fn(&K, i64, i64) -> Option<DistanceOutcome>,
{
    let observed: Vec<Observed> = groups
        .iter()
        .map(|group| observe(group, metric, distance))
        .collect();
    let samples: Vec<Vec<(f64, f64)>> = observed.iter().map(Observed::sample).collect();
    let mut permutations: Vec<Option<PermutationResult>> = match permutation {
        Some(options) => permutation_p_values_by_group(&samples, options)
            .into_iter()
            .map(|p_values| Some(p_values.into()))
            .collect(),
        None => vec![None; samples.len()],
    };
    let group_results: Vec<GroupResult> = groups
        .iter()
        .zip(&observed)
        .zip(&samples)
        .zip(permutations.drain(..))
        .map(|(((group, observed), sample), permutation)| GroupResult {
            group: group.key.clone(),
            reference: group.reference,
            statistics: Statistics::of(sample),
            permutation,
            n_pairs: sample.len(),
            n_refused: observed.n_refused,
            n_missing: observed.n_missing,
        })
        .collect();
    let resampled = bootstrap.map(|options| {
        let shared = SharedResamples::new(samples.iter().map(Vec::len).collect(), *options);
        Resampled {
            draws: shared
                .mean_spearman_draws(&samples)
                .expect("the resamples were drawn for these groups"),
            pairs: observed
                .iter()
                .map(|observed| {
                    let rows = observed.rows.iter();
                    rows.map(|row| (row.first, row.second)).collect()
                })
                .collect(),
        }
    });
    let ci = match &resampled {
        None => Interval::NotRequested,
        Some(resampled) => match resampled.draws.interval() {
            Ok(interval) => Interval::Estimated(interval),
            Err(reason) => Interval::Undefined(reason.to_string()),
        },
    };
    let total = |count: fn(&GroupResult) -> usize| group_results.iter().map(count).sum::<usize>();
    let n_missing = total(|group| group.n_missing);
    let result = MetricResult {
        statistics: Statistics::mean(&group_results),
        ci,
        n_groups: group_results.len(),
        n_pairs: total(|group| group.n_pairs),
        n_refused: total(|group| group.n_refused),
        n_missing,
        partial: n_missing > 0,
        groups: group_results,
    };
    (result, resampled)
}

/// A group's pairs under one metric: the rows with a distance, and what was left out.
struct Observed {
    rows: Vec<ScatterRow>,
    n_refused: usize,
    n_missing: usize,
}

impl Observed {
    fn sample(&self) -> Vec<(f64, f64)> {
        self.rows.iter().map(|row| (row.x, row.y)).collect()
    }
}

fn observe<K, F>(group: &Group, metric: &K, distance: &F) -> Observed
where
    K: ResultKey,
    F: Fn(&K, i64, i64) -> Option<DistanceOutcome>,
{
    let mut observed = Observed {
        rows: Vec::with_capacity(group.pairs.len()),
        n_refused: 0,
        n_missing: 0,
    };
    let symmetric = metric.is_symmetric();
    for pair in group.pairs.iter().filter(|pair| pair.taken_by(symmetric)) {
        match pair_distance(pair, metric, distance) {
            Some(DistanceOutcome::Value(x)) => observed.rows.push(ScatterRow {
                x: round_to_decimals(x, ROUNDING_DECIMALS),
                y: round_to_decimals(pair.functional_difference, ROUNDING_DECIMALS),
                first: pair.first,
                second: pair.second,
            }),
            Some(DistanceOutcome::Refused) => observed.n_refused += 1,
            None => observed.n_missing += 1,
        }
    }
    observed
}

fn pair_distance<K, F>(pair: &Pair, metric: &K, distance: &F) -> Option<DistanceOutcome>
where
    F: Fn(&K, i64, i64) -> Option<DistanceOutcome>,
{
    if pair.is_self_pair() {
        Some(DistanceOutcome::Value(0.0))
    } else {
        distance(metric, pair.first, pair.second)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::*;
    use crate::benchmark::{
        CompareTo, FunctionalSource, GroupBy, Protocol, Representation, pairs_needed,
    };
    use crate::stats::{mean_spearman, mean_spearman_interval};

    /// Test metrics named by text; "asym" stands for one that is not symmetric.
    impl ResultKey for &str {
        fn is_symmetric(&self) -> bool {
            *self != "asym"
        }
    }

    fn representation(id: i64, layer: i64, score: f64) -> Representation {
        Representation {
            id,
            group: GroupKey::Layer(layer),
            derived: false,
            score: Some(score),
            model: id,
        }
    }

    /// Layer 0: ids 1..=5, layer 1: ids 6..=7 (too small for a correlation).
    fn reference_groups() -> Vec<Group> {
        let selection = [
            representation(1, 0, 0.9),
            representation(2, 0, 0.8),
            representation(3, 0, 0.6),
            representation(4, 0, 0.5),
            representation(5, 0, 0.3),
            representation(6, 1, 0.7),
            representation(7, 1, 0.2),
        ];
        let protocol = Protocol::Reference {
            group_by: GroupBy::Layer,
            compare_to: CompareTo::SameGroup,
        };
        pairs_needed(&selection, &protocol, FunctionalSource::Scores).unwrap()
    }

    /// A distance that grows with the id gap, never asked about self pairs.
    fn distance(metric: &&str, first: i64, second: i64) -> Option<DistanceOutcome> {
        assert_ne!(first, second, "self pairs are never looked up");
        assert_eq!(*metric, "cka");
        Some(DistanceOutcome::Value((second - first) as f64 / 10.0))
    }

    #[test]
    fn statistics_per_group_and_means_over_defined_groups() {
        let got = results(&reference_groups(), &["cka"], distance, None, None).metrics;
        let cka = &got["cka"];
        assert_eq!(cka.n_groups, 2);
        assert_eq!(
            (cka.n_pairs, cka.n_refused, cka.n_missing, cka.partial),
            (7, 0, 0, false)
        );
        let layer_0 = &cka.groups[0];
        assert_eq!((layer_0.reference, layer_0.n_pairs), (Some(1), 5));
        // x and y both increase with the other's id: perfect rank agreement.
        let correlations = layer_0.statistics.correlations.clone().unwrap();
        assert_eq!((correlations.spearman, correlations.kendall), (1.0, 1.0));
        assert_eq!(correlations.spearman_p, 0.0);
        let layer_1 = &cka.groups[1];
        assert_eq!(
            layer_1.statistics.correlations,
            Err(Undefined::TooFewPairs { pairs: 2 }.to_string())
        );
        assert_eq!(layer_1.statistics.bad_frac, Ok(0.0));
        // The means use only the groups where each statistic is defined.
        assert_eq!(cka.statistics.correlations.clone().unwrap(), correlations);
        assert_eq!(cka.statistics.bad_frac, Ok(0.0));
        assert_eq!(cka.ci, Interval::NotRequested);
    }

    #[test]
    fn refused_and_missing_pairs_are_left_out_and_counted() {
        let lookup = |metric: &&str, first: i64, second: i64| match second {
            2 => Some(DistanceOutcome::Refused),
            3 => None,
            _ => distance(metric, first, second),
        };
        let cka = &results(&reference_groups(), &["cka"], lookup, None, None).metrics["cka"];
        let layer_0 = &cka.groups[0];
        assert_eq!(
            (layer_0.n_pairs, layer_0.n_refused, layer_0.n_missing),
            (3, 1, 1)
        );
        assert_eq!(
            (cka.n_pairs, cka.n_refused, cka.n_missing, cka.partial),
            (5, 1, 1, true)
        );
    }

    #[test]
    fn values_equal_up_to_rounding_noise_tie() {
        // |0.5875 − 0.6| and |0.6 − 0.6125| differ by 1e-16 before rounding (DESIGN's example).
        let selection = [
            representation(1, 0, 0.5875),
            representation(2, 0, 0.6),
            representation(3, 0, 0.6125),
        ];
        let groups = pairs_needed(
            &selection,
            &Protocol::AllPairs {
                group_by: GroupBy::None,
                ordered: false,
            },
            FunctionalSource::Scores,
        )
        .unwrap();
        let rows = scatter_rows(&groups[0], &"cka", |_: &&str, _, _| {
            Some(DistanceOutcome::Value(0.3))
        });
        assert_eq!(
            rows,
            vec![
                ScatterRow {
                    x: 0.3,
                    y: 0.0125,
                    first: 1,
                    second: 2
                },
                ScatterRow {
                    x: 0.3,
                    y: 0.025,
                    first: 1,
                    second: 3
                },
                ScatterRow {
                    x: 0.3,
                    y: 0.0125,
                    first: 2,
                    second: 3
                },
            ]
        );
    }

    #[test]
    fn bootstrap_interval_is_reported_and_reproducible() {
        let groups = reference_groups();
        let options = BootstrapOptions::new(200, 0.9, 11).unwrap();
        let first = results(&groups, &["cka"], distance, Some(&options), None);
        let again = results(&groups, &["cka"], distance, Some(&options), None);
        assert_eq!(first, again);
        assert!(first.comparisons.is_empty(), "one metric has no other");
        let Interval::Estimated(interval) = first.metrics["cka"].ci else {
            panic!("an interval: {:?}", first.metrics["cka"].ci);
        };
        let samples: Vec<Vec<(f64, f64)>> = groups
            .iter()
            .map(|group| {
                scatter_rows(group, &"cka", distance)
                    .iter()
                    .map(|row| (row.x, row.y))
                    .collect()
            })
            .collect();
        assert_eq!(mean_spearman(&samples), Ok(1.0));
        assert_eq!(mean_spearman_interval(&samples, &options), Ok(interval));
    }

    #[test]
    fn serialises_to_the_documented_json_shape() {
        let options = BootstrapOptions::default();
        let got = results(
            &reference_groups(),
            &["cka"],
            distance,
            Some(&options),
            None,
        )
        .metrics;
        let json = serde_json::to_value(&got).unwrap();
        let cka = &json["cka"];
        let keys: BTreeSet<&str> = cka
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let expected_keys = [
            "spearman",
            "spearman_p",
            "kendall",
            "kendall_p",
            "pearson",
            "pearson_p",
            "bad_frac",
            "ci",
            "n_groups",
            "n_pairs",
            "n_refused",
            "n_missing",
            "partial",
            "groups",
        ];
        assert_eq!(keys, BTreeSet::from(expected_keys));
        assert!(cka["ci"].as_array().is_some_and(|bounds| bounds.len() == 2));
        assert_eq!(
            cka["groups"][1],
            json!({
                "group": 1, "reference": 6,
                "spearman": null, "spearman_p": null, "kendall": null, "kendall_p": null,
                "pearson": null, "pearson_p": null, "bad_frac": 0.0,
                "correlation_reason": Undefined::TooFewPairs { pairs: 2 }.to_string(),
                "n_pairs": 2, "n_refused": 0, "n_missing": 0
            })
        );
        assert_eq!(cka["groups"][0]["spearman"], json!(1.0));
    }

    #[test]
    fn pearson_sits_beside_spearman_and_kendall_and_stored_results_read_back() {
        let got = results(&reference_groups(), &["cka"], distance, None, None);
        let layer_0 = got.metrics["cka"].groups[0]
            .statistics
            .correlations
            .clone()
            .unwrap();
        // x and y grow together, linearly in x but not in y: ranks agree fully, values less.
        assert_eq!(
            layer_0.pearson_p,
            pearson(&observe(&reference_groups()[0], &"cka", &distance).sample())
                .unwrap()
                .one_sided_p()
        );
        assert!(layer_0.pearson > 0.9 && layer_0.pearson < 1.0);
        let json = serde_json::to_value(&got.metrics).unwrap();
        let back: BTreeMap<String, MetricResult> = serde_json::from_value(json).unwrap();
        assert_eq!(back["cka"], got.metrics["cka"]);
    }

    #[test]
    fn permutation_p_values_sit_in_each_group_and_read_back() {
        let options = PermutationOptions::default();
        let got = results(
            &reference_groups(),
            &["cka"],
            distance,
            None,
            Some(&options),
        );
        let cka = &got.metrics["cka"];
        // Layer 0 has 5 pairs: 5! = 120 ≤ 9 999 permutations, so exact; x and y in the same
        // order, which 1 permutation in 120 gives for every statistic: p = 2/120.
        let layer_0 = cka.groups[0].permutation.clone().unwrap();
        assert!(layer_0.permutation_exact);
        assert_eq!(layer_0.spearman_permutation_p, Some(2.0 / 120.0));
        assert_eq!(layer_0.kendall_permutation_p, Some(2.0 / 120.0));
        assert_eq!(layer_0.permutation_reason, None);
        let layer_1 = cka.groups[1].permutation.clone().unwrap();
        assert_eq!(layer_1.pearson_permutation_p, None);
        assert_eq!(
            layer_1.permutation_reason,
            Some(Undefined::TooFewPairs { pairs: 2 }.to_string())
        );
        let json = serde_json::to_value(&got).unwrap();
        assert_eq!(
            json["metrics"]["cka"]["groups"][0]["permutation_exact"],
            json!(true)
        );
        let back: Table<String> = serde_json::from_value(json).unwrap();
        assert_eq!(back.metrics["cka"].groups, cka.groups);
        let without = results(&reference_groups(), &["cka"], distance, None, None);
        let json = serde_json::to_value(&without).unwrap();
        assert!(
            json["metrics"]["cka"]["groups"][0]
                .get("permutation_exact")
                .is_none()
        );
        let back: Table<String> = serde_json::from_value(json).unwrap();
        assert_eq!(back.metrics["cka"].groups[0].permutation, None);
    }

    #[test]
    fn ordered_pairs_count_twice_only_for_asymmetric_metrics() {
        let selection = [
            representation(1, 0, 0.9),
            representation(2, 0, 0.7),
            representation(3, 0, 0.4),
            representation(4, 0, 0.2),
        ];
        let protocol = Protocol::AllPairs {
            group_by: GroupBy::None,
            ordered: true,
        };
        let groups = pairs_needed(&selection, &protocol, FunctionalSource::Scores).unwrap();
        let lookup = |_: &&str, first: i64, second: i64| {
            Some(DistanceOutcome::Value((first * 10 + second) as f64))
        };
        let got = results(&groups, &["cka", "asym"], lookup, None, None);
        assert_eq!(
            (got.metrics["cka"].n_pairs, got.metrics["asym"].n_pairs),
            (6, 12)
        );
        let rows = scatter_rows(&groups[0], &"asym", lookup);
        assert_eq!((rows[1].first, rows[1].second, rows[1].x), (2, 1, 21.0));
        assert_eq!(rows[0].y, rows[1].y);
    }

    #[test]
    fn undefined_interval_and_means_carry_reasons() {
        let constant = |_: &&str, _: i64, _: i64| Some(DistanceOutcome::Value(0.5));
        let groups = &reference_groups()[1..];
        let got = results(
            groups,
            &["cka"],
            constant,
            Some(&BootstrapOptions::default()),
            None,
        )
        .metrics;
        let json = serde_json::to_value(&got).unwrap();
        assert_eq!(json["cka"]["spearman"], json!(null));
        assert_eq!(
            json["cka"]["correlation_reason"],
            json!(Undefined::NoDefinedGroup.to_string())
        );
        assert_eq!(json["cka"]["ci"], json!(null));
        assert_eq!(
            json["cka"]["ci_reason"],
            json!(Undefined::NoDefinedGroup.to_string())
        );
    }

    /// `cka` as [`distance`], `doubled` twice it (the same order, so the same ρ in every draw),
    /// `scrambled` an order of its own, `refusing` like `cka` but refusing one pair.
    fn four_metrics(metric: &&str, first: i64, second: i64) -> Option<DistanceOutcome> {
        let Some(DistanceOutcome::Value(x)) = distance(&"cka", first, second) else {
            unreachable!("the test distance always has a value");
        };
        let value = match *metric {
            "cka" => x,
            "doubled" => 2.0 * x,
            "scrambled" => ((first * 7 + second * 3) % 5) as f64,
            "refusing" if second == 4 => return Some(DistanceOutcome::Refused),
            "refusing" => x,
            other => unreachable!("no metric {other}"),
        };
        Some(DistanceOutcome::Value(value))
    }

    #[test]
    fn metrics_are_compared_on_shared_resamples() {
        let metrics = ["cka", "doubled", "scrambled", "refusing"];
        let options = BootstrapOptions::new(300, 0.95, 4).unwrap();
        let table = results(
            &reference_groups(),
            &metrics,
            four_metrics,
            Some(&options),
            None,
        );
        assert_eq!(
            table.comparisons.len(),
            4 * 3,
            "every ordered pair of distinct metrics"
        );
        let find = |a: &str, b: &str| {
            table
                .comparisons
                .iter()
                .find(|comparison| comparison.a == a && comparison.b == b)
                .unwrap_or_else(|| panic!("{a} against {b}"))
        };
        let same_order = find("cka", "doubled");
        assert_eq!(same_order.delta, Some(0.0));
        assert_eq!(same_order.ci, Some([0.0, 0.0]));
        assert_eq!(same_order.probability_not_better, Some(1.0));
        assert!(same_order.is_tie());

        let ahead = find("cka", "scrambled");
        let behind = find("scrambled", "cka");
        let value = |metric: &str| {
            let result = &table.metrics[metric];
            result.statistics.correlations.clone().unwrap().spearman
        };
        assert_eq!(ahead.delta, Some(value("cka") - value("scrambled")));
        assert_eq!(behind.delta.map(|delta| -delta), ahead.delta);
        let ([lower, upper], [back_lower, back_upper]) = (ahead.ci.unwrap(), behind.ci.unwrap());
        assert_eq!((lower, upper), (-back_upper, -back_lower));
        let (p, q) = (
            ahead.probability_not_better.unwrap(),
            behind.probability_not_better.unwrap(),
        );
        assert!((0.0..=1.0).contains(&p) && (0.0..=1.0).contains(&q));

        // `refusing` lacks a pair the others have: no shared resamples, and it says so.
        let apart = find("cka", "refusing");
        assert_eq!((apart.delta, apart.ci), (None, None));
        assert_eq!(apart.reason, Some(DifferentPairs.to_string()));
        let json = serde_json::to_value(same_order).unwrap();
        assert_eq!(
            json,
            json!({"a": "cka", "b": "doubled", "delta": 0.0, "ci": [0.0, 0.0],
                   "probability_not_better": 1.0})
        );
    }
}
