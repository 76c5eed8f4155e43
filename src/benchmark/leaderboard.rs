//! The leaderboard: each metric's benchmark value across the published benchmarks, its rank in
//! each, which metrics the data cannot tell from each column's leader (PROTOCOLS "Metric against
//! metric"), and the mean rank that orders the rows. Columns of different kinds rank by
//! different statistics, so rows are compared by their ranks, never by raw values.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::results::Comparison;
use crate::metrics::MetricId;
use crate::store::status::BenchmarkStatus;

/// The statistic a column ranks by, higher being better in each: a correlation benchmark's mean
/// Spearman ρ, a separation benchmark's mean AUPRC, a monotonicity benchmark's mean correlation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    Spearman,
    Auprc,
    Correlation,
}

impl Statistic {
    /// The name the JSON and CSV use.
    pub fn name(self) -> &'static str {
        match self {
            Statistic::Spearman => "spearman",
            Statistic::Auprc => "auprc",
            Statistic::Correlation => "correlation",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Leaderboard {
    pub benchmarks: Vec<Column>,
    /// Best first: by mean rank, then mean ρ.
    pub rows: Vec<Row>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Column {
    pub id: i64,
    pub name: String,
    pub status: BenchmarkStatus,
    pub partial: bool,
    /// What the column's values are.
    pub statistic: Statistic,
    /// The metric ranked first (the lowest in `MetricId` order among equal values).
    pub leader: Option<MetricId>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    pub metric: MetricId,
    /// One cell per benchmark, in the order of `benchmarks`.
    pub cells: Vec<Cell>,
    /// Over the `spearman` columns where the metric has a value; null where it has none.
    pub mean_spearman: Option<f64>,
    /// Over every column where the metric has a value.
    pub mean_rank: Option<f64>,
    pub n_benchmarks: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cell {
    pub benchmark: i64,
    /// The benchmark value in the column's statistic; null when the metric is missing from the
    /// benchmark or undefined there — never zero.
    pub value: Option<f64>,
    /// `value` in a `spearman` column, else null.
    pub spearman: Option<f64>,
    /// 1 for the best metric of the benchmark; ties share the mean of their places.
    pub rank: Option<f64>,
    /// The bootstrap interval of Δ = value(metric) − value(leader) contains 0: the data do not
    /// tell this metric from the column's leader. False for the leader itself and without a
    /// bootstrap.
    pub tied_with_leader: bool,
}

/// A published benchmark as the leaderboard sees it: each metric's benchmark value in
/// `statistic`, `None` where it is undefined, and its metric comparisons (empty without a
/// bootstrap).
pub struct Published {
    pub id: i64,
    pub name: String,
    pub status: BenchmarkStatus,
    pub partial: bool,
    pub statistic: Statistic,
    pub values: BTreeMap<MetricId, Option<f64>>,
    pub comparisons: Vec<Comparison<MetricId>>,
}

impl Published {
    /// The best metric: the highest value, the lowest metric among equal ones.
    fn leader(&self) -> Option<MetricId> {
        self.values
            .iter()
            .filter_map(|(metric, value)| value.map(|value| (*metric, value)))
            .min_by(|(a, a_value), (b, b_value)| b_value.total_cmp(a_value).then(a.cmp(b)))
            .map(|(metric, _)| metric)
    }

    /// The metrics whose Δ against `leader` has an interval containing 0.
    fn tied_with(&self, leader: Option<MetricId>) -> BTreeSet<MetricId> {
        self.comparisons
            .iter()
            .filter(|comparison| Some(comparison.b) == leader && comparison.is_tie())
            .map(|comparison| comparison.a)
            .collect()
    }
}

/// Ranks the metrics of each published benchmark and orders the rows.
pub fn rank(columns: Vec<Published>) -> Leaderboard {
    // Every metric some published benchmark computes, in the order of `MetricId`.
    let named: BTreeSet<MetricId> = columns
        .iter()
        .flat_map(|column| column.values.keys().copied())
        .collect();
    let values: Vec<(MetricId, Vec<Option<f64>>)> = named
        .iter()
        .map(|metric| {
            let row = columns
                .iter()
                .map(|column| column.values.get(metric).copied().flatten())
                .collect();
            (*metric, row)
        })
        .collect();
    let ties: Vec<BTreeSet<MetricId>> = columns
        .iter()
        .map(|column| column.tied_with(column.leader()))
        .collect();
    let columns: Vec<Column> = columns
        .into_iter()
        .map(|column| Column {
            leader: column.leader(),
            id: column.id,
            name: column.name,
            status: column.status,
            partial: column.partial,
            statistic: column.statistic,
        })
        .collect();
    let ranks: Vec<Vec<Option<f64>>> = (0..columns.len())
        .map(|column| {
            average_ranks_descending(
                &values
                    .iter()
                    .map(|(_, row)| row[column])
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let mut rows: Vec<Row> = values
        .into_iter()
        .enumerate()
        .filter(|(_, (_, row))| row.iter().any(Option::is_some))
        .map(|(index, (metric, row))| {
            let cells: Vec<Cell> = row
                .iter()
                .zip(&columns)
                .zip(&ranks)
                .zip(&ties)
                .map(|(((value, column), column_ranks), tied)| Cell {
                    benchmark: column.id,
                    value: *value,
                    spearman: value.filter(|_| column.statistic == Statistic::Spearman),
                    rank: column_ranks[index],
                    tied_with_leader: tied.contains(&metric),
                })
                .collect();
            let present: Vec<&Cell> = cells.iter().filter(|cell| cell.value.is_some()).collect();
            let mean = |field: fn(&Cell) -> Option<f64>| {
                let values: Vec<f64> = present.iter().filter_map(|cell| field(cell)).collect();
                (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
            };
            Row {
                metric,
                mean_spearman: mean(|cell| cell.spearman),
                mean_rank: mean(|cell| cell.rank),
                n_benchmarks: present.len(),
                cells,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        a.mean_rank
            .partial_cmp(&b.mean_rank)
            .unwrap_or(Ordering::Equal)
            .then_with(|| {
                b.mean_spearman
                    .partial_cmp(&a.mean_spearman)
                    .unwrap_or(Ordering::Equal)
            })
            .then_with(|| a.metric.cmp(&b.metric))
    });
    Leaderboard {
        benchmarks: columns,
        rows,
    }
}

/// Ranks of the present values, highest first (1 = best), ties sharing their mean place.
fn average_ranks_descending(values: &[Option<f64>]) -> Vec<Option<f64>> {
    values
        .iter()
        .map(|value| {
            value.map(|value| {
                let better = values
                    .iter()
                    .flatten()
                    .filter(|other| **other > value)
                    .count();
                let tied = values
                    .iter()
                    .flatten()
                    .filter(|other| **other == value)
                    .count();
                better as f64 + (tied as f64 + 1.0) / 2.0
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_put_the_highest_first_and_share_ties() {
        let ranks = average_ranks_descending(&[Some(0.5), None, Some(0.9), Some(0.5)]);
        assert_eq!(ranks, vec![Some(2.5), None, Some(1.0), Some(2.5)]);
    }

    fn comparison(a: MetricId, b: MetricId, ci: [f64; 2]) -> Comparison<MetricId> {
        Comparison {
            a,
            b,
            delta: Some((ci[0] + ci[1]) / 2.0),
            ci: Some(ci),
            probability_not_better: Some(0.5),
            reason: None,
        }
    }

    fn metric(name: &str) -> MetricId {
        name.parse().unwrap()
    }

    #[test]
    fn columns_of_different_kinds_rank_by_their_own_statistic_and_mark_ties() {
        let (cka, pwcca, procrustes) = (metric("cka"), metric("pwcca"), metric("procrustes"));
        let correlation = Published {
            id: 1,
            name: "depth".into(),
            status: BenchmarkStatus::Done,
            partial: false,
            statistic: Statistic::Spearman,
            values: BTreeMap::from([
                (cka, Some(0.9)),
                (pwcca, Some(0.2)),
                (procrustes, Some(0.8)),
            ]),
            comparisons: vec![
                comparison(procrustes, cka, [-0.3, 0.1]),
                comparison(pwcca, cka, [-0.9, -0.5]),
                comparison(cka, procrustes, [-0.1, 0.3]),
            ],
        };
        // AUPRC values live on another scale: ranks, not values, are averaged.
        let separation = Published {
            id: 2,
            name: "classes".into(),
            status: BenchmarkStatus::Done,
            partial: false,
            statistic: Statistic::Auprc,
            values: BTreeMap::from([(cka, Some(0.4)), (pwcca, Some(0.6)), (procrustes, None)]),
            comparisons: Vec::new(),
        };
        let board = rank(vec![correlation, separation]);
        assert_eq!(board.benchmarks[0].leader, Some(cka));
        assert_eq!(board.benchmarks[1].leader, Some(pwcca));
        assert_eq!(board.benchmarks[1].statistic, Statistic::Auprc);
        let row = |m: MetricId| board.rows.iter().find(|row| row.metric == m).unwrap();
        let cka_row = row(cka);
        assert_eq!(cka_row.cells[1].value, Some(0.4));
        assert_eq!(cka_row.cells[1].spearman, None);
        assert_eq!(cka_row.mean_rank, Some(1.5));
        assert_eq!(cka_row.mean_spearman, Some(0.9));
        assert!(
            !cka_row.cells[0].tied_with_leader,
            "the leader is not tied with itself"
        );
        assert!(row(procrustes).cells[0].tied_with_leader);
        assert!(!row(pwcca).cells[0].tied_with_leader);
        assert_eq!(row(pwcca).mean_rank, Some(2.0));
        assert_eq!(row(procrustes).mean_rank, Some(2.0));
        let order: Vec<MetricId> = board.rows.iter().map(|row| row.metric).collect();
        // pwcca and procrustes share mean rank 2; procrustes has the higher mean ρ.
        assert_eq!(order, [cka, procrustes, pwcca]);
    }
}
