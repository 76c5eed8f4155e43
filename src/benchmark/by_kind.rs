//! A benchmark's results in the form of its protocol's kind (PROTOCOLS "Result keys"): the
//! correlation table, the separation figures or the monotonicity figures of each metric, with
//! the benchmark value each kind names (`spearman`, `auprc`, `correlation`) and the leaderboard
//! statistic it ranks by.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::leaderboard::Statistic;
use super::monotonicity::MonotonicityResult;
use super::protocol::ProtocolKind;
use super::results::MetricResult;
use super::separation::SeparationResult;
use crate::metrics::MetricId;

/// Each metric's result. Serialises as `"kind"` beside `"metrics"`, the map of metric names to
/// that kind's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "metrics", rename_all = "snake_case")]
pub enum MetricResults {
    Correlation(BTreeMap<MetricId, MetricResult>),
    Separation(BTreeMap<MetricId, SeparationResult>),
    Monotonicity(BTreeMap<MetricId, MonotonicityResult>),
}

impl MetricResults {
    pub fn kind(&self) -> ProtocolKind {
        match self {
            MetricResults::Correlation(_) => ProtocolKind::Correlation,
            MetricResults::Separation(_) => ProtocolKind::Separation,
            MetricResults::Monotonicity(_) => ProtocolKind::Monotonicity,
        }
    }

    /// The statistic that is the benchmark value, and that the leaderboard ranks by.
    pub fn statistic(&self) -> Statistic {
        match self {
            MetricResults::Correlation(_) => Statistic::Spearman,
            MetricResults::Separation(_) => Statistic::Auprc,
            MetricResults::Monotonicity(_) => Statistic::Correlation,
        }
    }

    /// Each metric's benchmark value; `None` where it is undefined.
    pub fn values(&self) -> BTreeMap<MetricId, Option<f64>> {
        match self {
            MetricResults::Correlation(metrics) => metrics
                .iter()
                .map(|(metric, result)| {
                    let correlations = result.statistics.correlations.as_ref().ok();
                    (
                        *metric,
                        correlations.map(|correlations| correlations.spearman),
                    )
                })
                .collect(),
            MetricResults::Separation(metrics) => metrics
                .iter()
                .map(|(metric, result)| (*metric, result.auprc))
                .collect(),
            MetricResults::Monotonicity(metrics) => metrics
                .iter()
                .map(|(metric, result)| (*metric, result.figures.correlation))
                .collect(),
        }
    }

    /// Some distances are not computed yet, so some figures may still move.
    pub fn partial(&self) -> bool {
        match self {
            MetricResults::Correlation(metrics) => metrics.values().any(|result| result.partial),
            MetricResults::Separation(metrics) => {
                metrics.values().any(|result| result.totals.partial)
            }
            MetricResults::Monotonicity(metrics) => {
                metrics.values().any(|result| result.totals.partial)
            }
        }
    }

    /// The labels of the groups (models, for monotonicity), as the first metric lists them: every
    /// metric has the same groups.
    pub fn group_labels(&self) -> Vec<String> {
        match self {
            MetricResults::Correlation(metrics) => first(metrics).map(|result| {
                result
                    .groups
                    .iter()
                    .map(|group| group.group.label())
                    .collect()
            }),
            MetricResults::Separation(metrics) => first(metrics).map(|result| {
                result
                    .groups
                    .iter()
                    .map(|group| group.group.label())
                    .collect()
            }),
            MetricResults::Monotonicity(metrics) => first(metrics).map(|result| {
                result
                    .groups
                    .iter()
                    .map(|group| group.group.clone())
                    .collect()
            }),
        }
        .unwrap_or_default()
    }

    /// The value of `metric` in the group labelled `label`, in the benchmark's statistic.
    pub fn group_value(&self, metric: &MetricId, label: &str) -> Option<f64> {
        match self {
            MetricResults::Correlation(metrics) => metrics
                .get(metric)?
                .groups
                .iter()
                .find(|group| group.group.label() == label)?
                .statistics
                .correlations
                .as_ref()
                .ok()
                .map(|correlations| correlations.spearman),
            MetricResults::Separation(metrics) => {
                metrics
                    .get(metric)?
                    .groups
                    .iter()
                    .find(|group| group.group.label() == label)?
                    .auprc
            }
            MetricResults::Monotonicity(metrics) => {
                metrics
                    .get(metric)?
                    .groups
                    .iter()
                    .find(|group| group.group == label)?
                    .figures
                    .correlation
            }
        }
    }

    /// The correlation table, for a correlation benchmark.
    pub fn correlation(&self) -> Option<&BTreeMap<MetricId, MetricResult>> {
        match self {
            MetricResults::Correlation(metrics) => Some(metrics),
            _ => None,
        }
    }
}

fn first<R>(metrics: &BTreeMap<MetricId, R>) -> Option<&R> {
    metrics.values().next()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::benchmark::{monotonicity_result, separation_result};

    fn metric(name: &str) -> MetricId {
        name.parse().unwrap()
    }

    #[test]
    fn each_kind_names_its_value_and_reads_back_from_its_serialised_form() {
        let empty_separation = separation_result(&[], |_, _| None);
        let empty_monotonicity = monotonicity_result(&[], |_, _| None);
        let separation =
            MetricResults::Separation(BTreeMap::from([(metric("cka"), empty_separation)]));
        let monotonicity =
            MetricResults::Monotonicity(BTreeMap::from([(metric("rsa"), empty_monotonicity)]));
        let json = serde_json::to_value(&separation).unwrap();
        assert_eq!(json["kind"], "separation");
        assert_eq!(json["metrics"]["cka"]["auprc"], json!(null));
        assert!(json["metrics"]["cka"]["reason"].is_string());
        assert_eq!(
            serde_json::from_value::<MetricResults>(json).unwrap(),
            separation
        );
        let json = serde_json::to_value(&monotonicity).unwrap();
        assert_eq!(json["kind"], "monotonicity");
        assert!(json["metrics"]["rsa"].get("correlation").is_some());
        assert_eq!(
            serde_json::from_value::<MetricResults>(json).unwrap(),
            monotonicity
        );
        assert_eq!(separation.statistic(), Statistic::Auprc);
        assert_eq!(monotonicity.statistic(), Statistic::Correlation);
        assert_eq!(monotonicity.kind(), ProtocolKind::Monotonicity);
        assert_eq!(separation.values(), BTreeMap::from([(metric("cka"), None)]));
        assert!(!separation.partial());
        assert!(separation.correlation().is_none());
    }
}
