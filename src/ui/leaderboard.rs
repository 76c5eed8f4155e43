//! `/ui/leaderboard`: metrics × published benchmarks, each cell coloured by its column's
//! statistic, the leader of each column and the metrics the data cannot tell from it marked.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use maud::html;

use super::charts::full_precision;
use super::data;
use super::error::UiError;
use super::layout::{Page, Section, fixed, rho_class};
use super::session::Viewer;
use crate::benchmark::leaderboard::{Column, Statistic};
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
            "Each cell is a metric's benchmark value: for a correlation benchmark its Spearman ρ between "
            "distances and differences in function, averaged over the benchmark's groups (each column says "
            "which statistic it shows; higher is better; hover for the bootstrap interval). "
            "★ marks each column's leader and ≈ the metrics whose bootstrap interval of the difference "
            "from the leader contains 0. Rows come best first by mean rank over the published benchmarks."
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
                            th.num data-benchmark=(column.id) data-statistic=(column.statistic.name())
                                data-leader=[column.leader.map(|leader| leader.name())] {
                                a href={ "/ui/benchmarks/" (column.id) } { (column.name) }
                                @if column.partial { " " span.badge.running { "partial" } }
                                br;
                                span.statistic { (statistic_label(column.statistic)) }
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
                            @for ((cell, column), column_results) in row.cells.iter().zip(&board.benchmarks).zip(&results) {
                                @match cell.value {
                                    Some(value) => {
                                        @let leads = column.leader == Some(row.metric);
                                        td.cell.(colour_class(column.statistic, value)).leader[leads].tied[cell.tied_with_leader]
                                            data-value=(full_precision(value))
                                            data-benchmark=(cell.benchmark)
                                            data-tied=(cell.tied_with_leader)
                                            title=(cell_text(column, cell.tied_with_leader, column_results.metrics.correlation().and_then(|metrics| metrics.get(&row.metric)), value)) {
                                            @if leads { "★ " } @else if cell.tied_with_leader { "≈ " }
                                            (format!("{value:.3}"))
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
    Ok(Page::new("Leaderboard", Section::Leaderboard, content)
        .refreshing(running.then_some(5))
        .respond(viewer.session()))
}

/// The statistic a column shows, as its header names it.
fn statistic_label(statistic: Statistic) -> &'static str {
    match statistic {
        Statistic::Spearman => "Spearman ρ",
        Statistic::Auprc => "AUPRC",
        Statistic::Correlation => "layer monotonicity",
    }
}

/// The diverging scale is drawn for correlations on [-1, 1]; an AUPRC on [0, 1] is stretched
/// onto it so that its extremes take the scale's ends.
fn colour_class(statistic: Statistic, value: f64) -> String {
    match statistic {
        Statistic::Spearman | Statistic::Correlation => rho_class(value),
        Statistic::Auprc => rho_class(2.0 * value - 1.0),
    }
}

/// The hover text of a cell: the value, its bootstrap interval when one was estimated (`result`
/// is the metric's correlation result, absent for the other kinds), and how it stands against
/// the column's leader.
fn cell_text(column: &Column, tied: bool, result: Option<&MetricResult>, value: f64) -> String {
    let symbol = match column.statistic {
        Statistic::Spearman => "ρ",
        Statistic::Auprc => "AUPRC",
        Statistic::Correlation => "monotonicity",
    };
    let interval = match result.map(|result| &result.ci) {
        Some(Interval::Estimated(ci)) => format!(
            "{symbol} = {value:.4}; 95% bootstrap interval [{:.4}, {:.4}]",
            ci.lower, ci.upper
        ),
        Some(Interval::Undefined(reason)) => {
            format!("{symbol} = {value:.4}; no bootstrap interval: {reason}")
        }
        Some(Interval::NotRequested) => {
            format!("{symbol} = {value:.4}; no bootstrap interval requested")
        }
        // Separation and monotonicity have no bootstrap.
        None => format!("{symbol} = {value:.4}"),
    };
    match column.leader {
        Some(leader) if tied => format!(
            "{interval}; not distinguishable from the leader, {}",
            leader.name()
        ),
        _ => interval,
    }
}
