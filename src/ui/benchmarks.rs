//! `/ui/benchmarks` and `/ui/benchmarks/{id}`: definitions, progress, correlation tables and
//! the scatter plots behind a group.

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use maud::{Markup, html};

use super::charts::{Point, Scatter, full_precision};
use super::data;
use super::error::{UiError, parse_id};
use super::layout::{Page, Section, fixed, rho_class};
use super::session::Viewer;
use super::{query_pairs, query_value, wants_csv};

use crate::benchmark::service::{PairRows, Results};
use crate::benchmark::{Correlations, Functional, GroupResult, Interval, MetricResult, Statistics};
use crate::http::ApiContext;
use crate::metrics::MetricId;
use crate::store::benchmarks::{Benchmark, Progress};
use crate::store::status::BenchmarkStatus;

/// Seconds between reloads while a benchmark runs.
const REFRESH_SECS: u32 = 3;

fn running(benchmark: &Benchmark) -> bool {
    matches!(
        benchmark.status,
        BenchmarkStatus::Queued | BenchmarkStatus::Running
    )
}

fn status_badge(status: &str) -> Markup {
    html! { span.badge.(status) data-status=(status) { (status) } }
}

fn progress_bar(progress: &Progress) -> Markup {
    let finished = progress.done + progress.failed;
    html! {
        progress value=(finished) max=(progress.total.max(1)) {}
        " " span.progress-text { (finished) " / " (progress.total) " jobs" }
        @if progress.failed > 0 { " (" (progress.failed) " failed)" }
    }
}

pub(super) async fn list(
    State(ctx): State<ApiContext>,
    viewer: Viewer,
) -> Result<Response, UiError> {
    let benchmarks = data::benchmarks(&ctx).await?;
    let content = html! {
        h1 { "Benchmarks" }
        p.lead { "Each benchmark asks whether a metric's distances track differences in a functionality score, over a selection of representations grouped by a protocol." }
        @if benchmarks.is_empty() {
            p.notice { "No benchmark yet: create one with " code { "POST /v1/benchmarks" } " or run " code { "simbench demo" } "." }
        } @else {
            table {
                thead { tr { th { "id" } th { "name" } th { "dataset" } th { "functional" } th { "metrics" } th { "status" } th { "progress" } th { "published" } } }
                tbody {
                    @for benchmark in &benchmarks {
                        tr data-benchmark=(benchmark.id) {
                            td.num { (benchmark.id) }
                            td { a href={ "/ui/benchmarks/" (benchmark.id) } { (benchmark.name) } }
                            td { (benchmark.dataset) }
                            td { (functional_label(benchmark)) }
                            td.num { (benchmark.metrics.len()) }
                            td { (status_badge(benchmark.status.name())) }
                            td { (progress_bar(&benchmark.progress)) }
                            td { @if benchmark.published { "yes" } @else { "no" } }
                        }
                    }
                }
            }
        }
    };
    let refresh = benchmarks.iter().any(running).then_some(REFRESH_SECS);
    Ok(Page::new("Benchmarks", Section::Benchmarks, content)
        .refreshing(refresh)
        .respond(viewer.session()))
}

pub(super) async fn detail(
    State(ctx): State<ApiContext>,
    viewer: Viewer,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    let id = parse_id(&id)?;
    let params = query_pairs(query.as_deref());
    let benchmark = data::benchmark(&ctx, id).await?;
    let results = data::results(&ctx, id).await?;
    if wants_csv(&params) {
        return Ok(data::csv_response(data::results_csv(&results)?));
    }
    let metrics: Vec<MetricId> = benchmark
        .metrics
        .iter()
        .filter_map(|name| name.parse().ok())
        .collect();
    let groups: Vec<String> = metrics
        .first()
        .and_then(|metric| results.metrics.get(metric))
        .map(|result| {
            result
                .groups
                .iter()
                .map(|group| group.group.label())
                .collect()
        })
        .unwrap_or_default();
    let chosen = match query_value(&params, "group") {
        Some(wanted) if groups.iter().any(|group| group == wanted) => Some(wanted.to_owned()),
        Some(wanted) => {
            return Err(UiError::BadRequest(format!(
                "benchmark {id} has no group {wanted:?}; its groups are: {}",
                groups.join(", ")
            )));
        }
        None => groups.first().cloned(),
    };
    let y_label = functional_label(&benchmark);
    let mut plots = Vec::new();
    if let Some(group) = &chosen {
        let mut by_metric: HashMap<MetricId, PairRows> = data::group_pairs(&ctx, id, Some(group))
            .await?
            .into_iter()
            .map(|pairs| (pairs.metric, pairs))
            .collect();
        for metric in &metrics {
            let Some(pairs) = by_metric.remove(metric) else {
                continue;
            };
            let rho = group_result(&results, metric, group)
                .and_then(|result| spearman(&result.statistics));
            plots.push((
                *metric,
                Scatter {
                    title: format!("{} · ρ = {}", metric.name(), fixed(rho, 3)),
                    x_label: format!("{} distance", metric.name()),
                    y_label: y_label.clone(),
                    points: pairs
                        .rows
                        .iter()
                        .map(|row| Point {
                            x: row.x,
                            y: row.y,
                            first: row.first,
                            second: row.second,
                        })
                        .collect(),
                },
            ));
        }
    }
    let content = html! {
        h1 { "Benchmark " (benchmark.name) " " (status_badge(benchmark.status.name())) }
        @if let Some(description) = &benchmark.description { p.lead { (description) } }
        dl.definition {
            dt { "dataset" } dd { (benchmark.dataset) }
            dt { "selection" } dd { code { (benchmark.select) } }
            dt { "functional" } dd { (y_label) }
            dt { "protocol" } dd { code { (benchmark.protocol) } }
            dt { "metrics" } dd { (benchmark.metrics.join(", ")) }
            dt { "representations" } dd { (benchmark.n_representations) }
            dt { "progress" } dd.progress { (progress_bar(&benchmark.progress)) }
            dt { "published" } dd { @if benchmark.published { "yes" } @else { "no" } }
        }
        @if results.partial { p.notice { "Some distances are not computed yet: the figures may still move." } }
        p.downloads {
            a href={ "/ui/benchmarks/" (id) "?format=csv" } { "Results CSV (per metric and group)" }
            @if let Some(group) = &chosen {
                @for metric in &metrics {
                    a href=(page_href(id, &[("metric", &metric.name()), ("group", group)], "/pairs")) { "pairs CSV " (metric.name()) }
                }
            }
        }
        h2 { "Per metric" }
        (metric_table(&metrics, &results))
        h2 { "Per group (Spearman ρ)" }
        (group_table(&metrics, &groups, chosen.as_deref(), id, &results))
        @if let Some(group) = &chosen {
            h2 #scatter { "Pairs of group " (group) }
            p.lead { "Each point is a pair: x = the metric's distance, y = " (y_label) " between its two representations. A good metric puts the points along a rising band." }
            div.charts {
                @for (metric, plot) in &plots {
                    div.chart data-metric=(metric.name()) data-group=(group) { (plot.render()) }
                }
            }
        }
    };
    Ok(Page::new(&benchmark.name, Section::Benchmarks, content)
        .refreshing((running(&benchmark) || results.partial).then_some(REFRESH_SECS))
        .respond(viewer.session()))
}

/// What the benchmark's y is, from its stored functional (the score's name for one stored
/// before functionals existed).
fn functional_label(benchmark: &Benchmark) -> String {
    benchmark
        .functional
        .clone()
        .and_then(|functional| serde_json::from_value::<Functional>(functional).ok())
        .map_or_else(
            || format!("|Δ {}|", benchmark.score),
            |functional| functional.y_label(),
        )
}

/// A link to a benchmark's page (or its sub-page `suffix`) with the query `params`.
fn page_href(id: i64, params: &[(&str, &str)], suffix: &str) -> String {
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    format!("/ui/benchmarks/{id}{suffix}?{query}")
}

/// `/ui/benchmarks/{id}/pairs?metric=&group=`: the points of one plot, as CSV.
pub(super) async fn pairs_csv(
    State(ctx): State<ApiContext>,
    _viewer: Viewer,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    let id = parse_id(&id)?;
    let params = query_pairs(query.as_deref());
    let metric: MetricId = query_value(&params, "metric")
        .ok_or_else(|| UiError::BadRequest("name a metric with metric=".into()))?
        .parse()
        .map_err(|error: crate::metrics::UnknownMetricId| UiError::BadRequest(error.to_string()))?;
    let pairs = data::pairs(&ctx, id, metric, query_value(&params, "group")).await?;
    Ok(data::csv_response(data::pairs_csv(&pairs)?))
}

fn group_result<'a>(
    results: &'a Results,
    metric: &MetricId,
    group: &str,
) -> Option<&'a GroupResult> {
    results
        .metrics
        .get(metric)?
        .groups
        .iter()
        .find(|result| result.group.label() == group)
}

fn correlations(statistics: &Statistics) -> Option<&Correlations> {
    statistics.correlations.as_ref().ok()
}

fn spearman(statistics: &Statistics) -> Option<f64> {
    correlations(statistics).map(|correlations| correlations.spearman)
}

/// A statistic, printed with `decimals` and carrying its full value; a dash when it is
/// undefined (or not a finite number, which the JSON API shows as `null` too).
fn stat_cell(value: Option<f64>, decimals: usize) -> Markup {
    let number = value.filter(|value| value.is_finite());
    html! { td.num data-value=[number.map(full_precision)] { (fixed(number, decimals)) } }
}

/// A count of the table, as a statistic cell without decimals.
fn count_cell(count: Option<usize>) -> Markup {
    stat_cell(count.map(|count| count as f64), 0)
}

/// A correlation coloured by its value.
fn rho_cell(rho: Option<f64>) -> Markup {
    html! {
        @match rho.filter(|rho| rho.is_finite()) {
            Some(rho) => { td.num.(rho_class(rho)) data-value=(full_precision(rho)) { (format!("{rho:.3}")) } }
            None => { td.num { "—" } }
        }
    }
}

fn interval_cell(interval: Option<&Interval>) -> Markup {
    html! {
        td {
            @match interval {
                Some(Interval::Estimated(ci)) => {
                    span data-lower=(full_precision(ci.lower)) data-upper=(full_precision(ci.upper)) {
                        "[" (fixed(Some(ci.lower), 3)) ", " (fixed(Some(ci.upper), 3)) "]"
                    }
                }
                _ => { "—" }
            }
        }
    }
}

fn metric_table(metrics: &[MetricId], results: &Results) -> Markup {
    html! {
        table.metrics {
            thead { tr {
                th { "metric" } th.num { "ρ" } th.num { "p(ρ)" } th.num { "τ" } th.num { "p(τ)" }
                th.num { "bad_frac" } th { "95% CI of ρ" } th.num { "groups" } th.num { "pairs" }
                th.num { "refused" } th.num { "missing" }
            } }
            tbody {
                @for metric in metrics {
                    @let result: Option<&MetricResult> = results.metrics.get(metric);
                    @let correlations = result.and_then(|result| correlations(&result.statistics));
                    tr data-metric=(metric.name()) {
                        th { (metric.name()) }
                        (rho_cell(correlations.map(|c| c.spearman)))
                        (stat_cell(correlations.map(|c| c.spearman_p), 4))
                        (stat_cell(correlations.map(|c| c.kendall), 3))
                        (stat_cell(correlations.map(|c| c.kendall_p), 4))
                        (stat_cell(result.and_then(|result| result.statistics.bad_frac.as_ref().ok().copied()), 3))
                        (interval_cell(result.map(|result| &result.ci)))
                        (count_cell(result.map(|result| result.n_groups)))
                        (count_cell(result.map(|result| result.n_pairs)))
                        (count_cell(result.map(|result| result.n_refused)))
                        (count_cell(result.map(|result| result.n_missing)))
                    }
                }
            }
        }
    }
}

fn group_table(
    metrics: &[MetricId],
    groups: &[String],
    chosen: Option<&str>,
    id: i64,
    results: &Results,
) -> Markup {
    html! {
        table.groups {
            thead { tr {
                th { "group" }
                @for metric in metrics { th.num { (metric.name()) } }
                th.num { "pairs" }
            } }
            tbody {
                @for group in groups {
                    tr.selected[chosen == Some(group.as_str())] data-group=(group) {
                        th { a href={ (page_href(id, &[("group", group)], "")) "#scatter" } { (group) } }
                        @for metric in metrics {
                            (rho_cell(group_result(results, metric, group).and_then(|result| spearman(&result.statistics))))
                        }
                        @let pairs = metrics.first().and_then(|metric| group_result(results, metric, group));
                        td.num { (pairs.map_or(0, |result| result.n_pairs)) }
                    }
                }
            }
        }
    }
}
