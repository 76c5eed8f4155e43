//! The leaderboard: each metric's benchmark value across the published benchmarks, its rank in
//! each, and the means that order the rows.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::metrics::MetricId;
use crate::store::status::BenchmarkStatus;

#[derive(Clone, Debug, Serialize)]
pub struct Leaderboard {
    pub benchmarks: Vec<Column>,
    /// Best first: by mean rank, then mean ρ.
    pub rows: Vec<Row>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Column {
    pub id: i64,
    pub name: String,
    pub status: BenchmarkStatus,
    pub partial: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub metric: MetricId,
    /// One cell per benchmark, in the order of `benchmarks`.
    pub cells: Vec<Cell>,
    /// Over the benchmarks where the metric has a value; null where it has none anywhere.
    pub mean_spearman: Option<f64>,
    pub mean_rank: Option<f64>,
    pub n_benchmarks: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    pub benchmark: i64,
    /// The benchmark value (mean Spearman ρ over groups); null when the metric is missing from
    /// the benchmark or undefined there — never zero.
    pub spearman: Option<f64>,
    /// 1 for the best metric of the benchmark; ties share the mean of their places.
    pub rank: Option<f64>,
}

/// A published benchmark as the leaderboard sees it: each metric's benchmark value, `None`
/// where it is undefined.
pub struct Published {
    pub id: i64,
    pub name: String,
    pub status: BenchmarkStatus,
    pub partial: bool,
    pub values: BTreeMap<MetricId, Option<f64>>,
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
    let columns: Vec<Column> = columns
        .into_iter()
        .map(|column| Column {
            id: column.id,
            name: column.name,
            status: column.status,
            partial: column.partial,
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
                .map(|((spearman, column), column_ranks)| Cell {
                    benchmark: column.id,
                    spearman: *spearman,
                    rank: column_ranks[index],
                })
                .collect();
            let present: Vec<&Cell> = cells
                .iter()
                .filter(|cell| cell.spearman.is_some())
                .collect();
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
    use super::average_ranks_descending;

    #[test]
    fn ranks_put_the_highest_first_and_share_ties() {
        let ranks = average_ranks_descending(&[Some(0.5), None, Some(0.9), Some(0.5)]);
        assert_eq!(ranks, vec![Some(2.5), None, Some(1.0), Some(2.5)]);
    }
}
