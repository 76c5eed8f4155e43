//! `/ui/leaderboard`: metrics × published benchmarks, each cell coloured by its ρ.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::charts::full_precision;
use super::data;
use super::error::UiError;
use super::layout::{self, Page, Section, fixed, rho_class};
use super::session::Viewer;
use crate::benchmark::{Interval, MetricResult};
use crate::http::ApiContext;

pub(super) async fn page(
    State(ctx): State<ApiContext>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    let (board, results) = data::leaderboard(&ctx).await?;
    if super::wants_csv(&super::query_pairs(query.as_deref())) {
        return Ok(data::csv_response(data::leaderboard_csv(&board)?));
    }
    let running = board.benchmarks.iter().any(|column| column.partial);
    let content = html! {
        h1 { "Leaderboard" }
        p.lead {
            "Each cell is a metric's Spearman ρ between its distances and the differences in function, "
            "averaged over the benchmark's groups (higher is better; hover for the bootstrap interval). "
            "Rows come best first by mean rank over the published benchmarks."
        }
        p.downloads { a href="/ui/leaderboard?format=csv" { "Download CSV" } }
        @if board.benchmarks.is_empty() {
            p.notice { "No benchmark is published yet: publish one with " code { "POST /v1/benchmarks/{id}/publish" } "." }
        } @else {
            table.leaderboard {
                thead {
                    tr {
                        th { "metric" }
                        @for column in &board.benchmarks {
                            th.num data-benchmark=(column.id) {
                                a href={ "/ui/benchmarks/" (column.id) } { (column.name) }
                                @if column.partial { " " span.badge.running { "partial" } }
                            }
                        }
                        th.num { "mean ρ" }
                        th.num { "mean rank" }
                    }
                }
                tbody {
                    @for row in &board.rows {
                        tr data-metric=(row.metric.name()) {
                            th { (row.metric.name()) }
                            @for (cell, column_results) in row.cells.iter().zip(&results) {
                                @match cell.spearman {
                                    Some(rho) => {
                                        td.cell.(rho_class(rho)) data-value=(full_precision(rho))
                                            data-benchmark=(cell.benchmark)
                                            title=(interval_text(column_results.metrics.get(&row.metric), rho)) {
                                            (format!("{rho:.3}"))
                                        }
                                    }
                                    None => { td.missing data-benchmark=(cell.benchmark) { "—" } }
                                }
                            }
                            td.num.mean data-value=[row.mean_spearman.map(full_precision)] { (fixed(row.mean_spearman, 3)) }
                            td.num.rank data-value=[row.mean_rank.map(full_precision)] { (fixed(row.mean_rank, 2)) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        viewer.session(),
        Page {
            title: "Leaderboard",
            section: Section::Leaderboard,
            refresh_secs: running.then_some(5),
            content,
        },
    )
    .into_response())
}

/// The hover text of a cell: the value and its bootstrap interval when one was estimated.
fn interval_text(result: Option<&MetricResult>, rho: f64) -> String {
    match result.map(|result| &result.ci) {
        Some(Interval::Estimated(ci)) => format!(
            "ρ = {rho:.4}; 95% bootstrap interval [{:.4}, {:.4}]",
            ci.lower, ci.upper
        ),
        Some(Interval::Undefined(reason)) => {
            format!("ρ = {rho:.4}; no bootstrap interval: {reason}")
        }
        Some(Interval::NotRequested) | None => {
            format!("ρ = {rho:.4}; no bootstrap interval requested")
        }
    }
}
