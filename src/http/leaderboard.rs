//! `GET /v1/leaderboard`: the team's metrics across its published benchmarks.

use std::cmp::Ordering;

use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde::Serialize;

use super::benchmarks::{Results, results_of};
use super::csv_format::{self, FormatParam};
use super::extract::Query;
use super::{ApiContext, Routes};
use crate::error::ApiError;
use crate::metrics::Metric;
use crate::store::benchmarks;

pub(super) fn router() -> Routes {
    Routes::default().route(Method::GET, "/v1/leaderboard", leaderboard)
}

#[derive(Debug, Serialize)]
pub(crate) struct Leaderboard {
    pub benchmarks: Vec<Column>,
    /// Best first: by mean rank, then mean ρ.
    pub rows: Vec<Row>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Column {
    pub id: i64,
    pub name: String,
    pub status: &'static str,
    pub partial: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct Row {
    pub metric: Metric,
    /// One cell per benchmark, in the order of `benchmarks`.
    pub cells: Vec<Cell>,
    /// Over the benchmarks where the metric has a value; null where it has none anywhere.
    pub mean_spearman: Option<f64>,
    pub mean_rank: Option<f64>,
    pub n_benchmarks: usize,
}

#[derive(Debug, Serialize)]
pub(crate) struct Cell {
    pub benchmark: i64,
    /// The benchmark value (mean Spearman ρ over groups); null when the metric is missing from
    /// the benchmark or undefined there — never zero.
    pub spearman: Option<f64>,
    /// 1 for the best metric of the benchmark; ties share the mean of their places.
    pub rank: Option<f64>,
}

async fn leaderboard(
    State(ctx): State<ApiContext>,
    Query(params): Query<FormatParam>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (leaderboard, _) = build(&ctx).await?;
    csv_format::respond(&params, &headers, &leaderboard, csv_format::leaderboard)
}

/// The leaderboard, with the results of each of its benchmarks in column order.
pub(crate) async fn build(ctx: &ApiContext) -> Result<(Leaderboard, Vec<Results>), ApiError> {
    let mut columns = Vec::new();
    let mut column_results = Vec::new();
    // metric → ρ per benchmark column.
    let mut values: Vec<(Metric, Vec<Option<f64>>)> = Metric::ALL
        .iter()
        .map(|&metric| (metric, Vec::new()))
        .collect();
    for id in benchmarks::published_ids(&ctx.db).await? {
        let benchmark = benchmarks::get(&ctx.db, id).await?;
        let results = results_of(ctx, id).await?;
        for (metric, column) in &mut values {
            column.push(results.metrics[metric.name()]["spearman"].as_f64());
        }
        columns.push(Column {
            id,
            name: benchmark.name,
            status: results.status,
            partial: results.partial,
        });
        column_results.push(results);
    }
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
    Ok((
        Leaderboard {
            benchmarks: columns,
            rows,
        },
        column_results,
    ))
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
