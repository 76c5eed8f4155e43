//! `/ui/benchmarks` and `/ui/benchmarks/{id}`: definitions, progress, correlation tables and
//! the scatter plots behind a group.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use maud::{Markup, html};

use super::charts::{Point, Scatter, full_precision};
use super::data;
use super::error::{UiError, parse_id};
use super::grounding;
use super::layout::{Page, Section, colour_cell, count_cell, fixed, rho_cell, stat_cell};
use super::session::Viewer;
use super::{query_pairs, query_value, wants_csv};

use crate::benchmark::leaderboard::Statistic;
use crate::benchmark::service::{PairRows, Results};
use crate::benchmark::{
    Correlations, Functional, Interval, MetricResult, MetricResults, Protocol, ProtocolKind,
    Statistics,
};
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
        p.lead { "Each benchmark asks whether a metric's distances track what the representations do: differences in a score or in model outputs (correlation protocols), design classes (separation) or depth (monotonicity)." }
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
    let groups = results.metrics.group_labels();
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
    let statistic = statistic_symbol(results.statistic);
    let mut pairs = Vec::new();
    if let Some(group) = &chosen {
        let mut by_metric: HashMap<MetricId, PairRows> = data::group_pairs(&ctx, id, Some(group))
            .await?
            .into_iter()
            .map(|pairs| (pairs.metric, pairs))
            .collect();
        pairs = metrics
            .iter()
            .filter_map(|metric| by_metric.remove(metric))
            .collect();
    }
    let plots: Vec<(MetricId, Scatter)> = chosen
        .as_ref()
        .map(|group| {
            pairs
                .iter()
                .map(|rows| {
                    let value = results.metrics.group_value(&rows.metric, group);
                    let scatter = Scatter {
                        title: format!(
                            "{} · {statistic} = {}",
                            rows.metric.name(),
                            fixed(value, 3)
                        ),
                        x_label: format!("{} distance", rows.metric.name()),
                        y_label: y_label.clone(),
                        points: rows
                            .rows
                            .iter()
                            .map(|row| Point {
                                x: row.x,
                                y: row.y,
                                first: row.first,
                                second: row.second,
                            })
                            .collect(),
                    };
                    (rows.metric, scatter)
                })
                .collect()
        })
        .unwrap_or_default();
    let tables = match &results.metrics {
        MetricResults::Correlation(table) => html! {
            h2 { "Per metric" }
            (metric_table(&metrics, table))
            h2 { "Per group (Spearman ρ)" }
            (group_table(&metrics, &groups, chosen.as_deref(), id, &results))
        },
        MetricResults::Separation(table) => html! {
            h2 { "Per metric (mean over groups)" }
            (grounding::separation_metric_table(&metrics, table))
            h2 { "Per group (AUPRC)" }
            (group_table(&metrics, &groups, chosen.as_deref(), id, &results))
            @if let Some(group) = &chosen {
                h2 #classes { "Design classes of group " (group) }
                p.lead { "AUPRC of telling a class's own pairs from its pairs with other classes by distance (chance: the fraction of in-class pairs), and the fraction of (in-class, cross) pairs of pairs the metric orders wrongly." }
                (grounding::class_table(&metrics, group, table))
            }
        },
        MetricResults::Monotonicity(table) => html! {
            h2 { "Per metric (mean over models)" }
            (grounding::monotonicity_metric_table(&metrics, table))
            h2 { "Per model (correlation of distance with layers apart)" }
            (group_table(&metrics, &groups, chosen.as_deref(), id, &results))
            @if let Some(model) = &chosen {
                h2 #layers { "Layer by layer: " (model) }
                p.lead { "Each metric's distance between two layers of the model (row: first argument). A monotone metric grows away from the diagonal." }
                div.charts {
                    @for heatmap in grounding::layer_matrices(model, &pairs) {
                        div.chart { (heatmap.render()) }
                    }
                }
            }
        },
    };
    let content = html! {
        h1 { "Benchmark " (benchmark.name) " " (status_badge(benchmark.status.name())) }
        @if let Some(description) = &benchmark.description { p.lead { (description) } }
        dl.definition {
            dt { "dataset" } dd { (benchmark.dataset) }
            dt { "selection" } dd { code { (benchmark.select) } }
            dt { "y" } dd { (y_label) }
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
        (tables)
        @if let Some(group) = &chosen {
            h2 #scatter { "Pairs of group " (group) }
            p.lead { "Each point is a pair: x = the metric's distance, y = " (y_label) " between its two representations. " (reading_hint(results.metrics.kind())) }
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

/// What the benchmark's y is: from its stored functional (the score's name for one stored
/// before functionals existed), or what the kinds without one compare distances with.
fn functional_label(benchmark: &Benchmark) -> String {
    let protocol = serde_json::from_value::<Protocol>(benchmark.protocol.clone()).ok();
    match protocol {
        Some(Protocol::Separation(separation)) => {
            format!("{:?} differs (1) or not (0)", separation.by())
        }
        Some(Protocol::Monotonicity(_)) => "layers apart".to_owned(),
        _ => benchmark
            .functional
            .clone()
            .and_then(|functional| serde_json::from_value::<Functional>(functional).ok())
            .map_or_else(
                || format!("|Δ {}|", benchmark.score),
                |functional| functional.y_label(),
            ),
    }
}

fn statistic_symbol(statistic: Statistic) -> &'static str {
    match statistic {
        Statistic::Spearman => "ρ",
        Statistic::Auprc => "AUPRC",
        Statistic::Correlation => "monotonicity",
    }
}

/// How a good metric's points lie, for each kind.
fn reading_hint(kind: ProtocolKind) -> &'static str {
    match kind {
        ProtocolKind::Correlation => "A good metric puts the points along a rising band.",
        ProtocolKind::Separation => {
            "A good metric puts every pair of one class (y = 0) left of the pairs across classes (y = 1)."
        }
        ProtocolKind::Monotonicity => {
            "A good metric's distances grow with the number of layers between the two."
        }
    }
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

fn correlations(statistics: &Statistics) -> Option<&Correlations> {
    statistics.correlations.as_ref().ok()
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

fn metric_table(metrics: &[MetricId], results: &BTreeMap<MetricId, MetricResult>) -> Markup {
    html! {
        table.metrics {
            thead { tr {
                th { "metric" } th.num { "ρ" } th.num { "p(ρ)" } th.num { "τ" } th.num { "p(τ)" }
                th.num { "bad_frac" } th { "95% CI of ρ" } th.num { "groups" } th.num { "pairs" }
                th.num { "refused" } th.num { "missing" }
            } }
            tbody {
                @for metric in metrics {
                    @let result: Option<&MetricResult> = results.get(metric);
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

/// Each group's value of each metric in the benchmark's statistic, and the group's size.
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
                th.num { (group_size_header(results.metrics.kind())) }
            } }
            tbody {
                @for group in groups {
                    tr.selected[chosen == Some(group.as_str())] data-group=(group) {
                        th { a href={ (page_href(id, &[("group", group)], "")) "#scatter" } { (group) } }
                        @for metric in metrics {
                            @let value = results.metrics.group_value(metric, group);
                            @let colour = match results.statistic { Statistic::Auprc => value.map(|auprc| 2.0 * auprc - 1.0), _ => value };
                            (colour_cell(colour, value))
                        }
                        (count_cell(group_size(&results.metrics, group)))
                    }
                }
            }
        }
    }
}

/// What the last column of the group table counts: a correlation group's pairs, a separation
/// group's in-class pairs, a model's layers.
fn group_size_header(kind: ProtocolKind) -> &'static str {
    match kind {
        ProtocolKind::Correlation => "pairs",
        ProtocolKind::Separation => "in-class pairs",
        ProtocolKind::Monotonicity => "layers",
    }
}

/// The count of [`group_size_header`] for the group labelled `label`, from the first metric's
/// result (every metric has the same groups).
fn group_size(metrics: &MetricResults, label: &str) -> Option<usize> {
    match metrics {
        MetricResults::Correlation(table) => {
            let result = table.values().next()?;
            let group = result
                .groups
                .iter()
                .find(|group| group.group.label() == label)?;
            Some(group.n_pairs)
        }
        MetricResults::Separation(table) => {
            let result = table.values().next()?;
            let group = result
                .groups
                .iter()
                .find(|group| group.group.label() == label)?;
            Some(group.classes.iter().map(|class| class.n_in).sum())
        }
        MetricResults::Monotonicity(table) => {
            let result = table.values().next()?;
            let model = result.groups.iter().find(|model| model.group == label)?;
            Some(model.n_layers)
        }
    }
}
