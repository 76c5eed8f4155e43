//! The tables of the benchmark page for the kinds that need no functional (README "Grounding
//! tests"): a separation benchmark's figures per metric, per group and per design class; a
//! monotonicity benchmark's figures per metric and per model, and a model's layer-by-layer
//! distance matrix.

use std::collections::{BTreeMap, HashMap};

use maud::{Markup, html};

use super::charts::{HeatCell, Heatmap};
use super::layout::{colour_cell, count_cell, stat_cell};
use crate::benchmark::service::PairRows;
use crate::benchmark::{MonotonicityResult, SeparationResult, Totals};
use crate::metrics::MetricId;

/// One metric's row in the per-metric table of a kind without a functional.
struct MetricRow {
    value: Option<f64>,
    violation_rate: Option<f64>,
    totals: Totals,
    reason: Option<String>,
}

/// The per-metric table: the benchmark value (headed `value_header`, coloured by `colour` of it
/// on the scale of correlations), the violation rate, how many groups (headed `groups_header`),
/// the distances refused and missing, and why the value is undefined.
fn metric_table(
    metrics: &[MetricId],
    (value_header, groups_header): (&str, &str),
    colour: fn(f64) -> f64,
    row_of: impl Fn(&MetricId) -> Option<MetricRow>,
) -> Markup {
    html! {
        table.metrics {
            thead { tr {
                th { "metric" } th.num { (value_header) } th.num { "violation rate" }
                th.num { (groups_header) } th.num { "refused" } th.num { "missing" }
                th { "why undefined" }
            } }
            tbody {
                @for metric in metrics {
                    @let row = row_of(metric);
                    @let value = row.as_ref().and_then(|row| row.value);
                    tr data-metric=(metric.name()) {
                        th { (metric.name()) }
                        (colour_cell(value.map(colour), value))
                        (stat_cell(row.as_ref().and_then(|row| row.violation_rate), 3))
                        (count_cell(row.as_ref().map(|row| row.totals.n_groups)))
                        (count_cell(row.as_ref().map(|row| row.totals.counted.refused)))
                        (count_cell(row.as_ref().map(|row| row.totals.counted.missing)))
                        td { (row.and_then(|row| row.reason).unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

pub(super) fn separation_metric_table(
    metrics: &[MetricId],
    results: &BTreeMap<MetricId, SeparationResult>,
) -> Markup {
    metric_table(
        metrics,
        ("AUPRC", "groups"),
        auprc_as_correlation,
        |metric| {
            let result = results.get(metric)?;
            Some(MetricRow {
                value: result.auprc,
                violation_rate: result.violation_rate,
                totals: result.totals,
                reason: result.reason.clone(),
            })
        },
    )
}

/// AUPRC on the colour scale of correlations: 0.5 is neutral.
fn auprc_as_correlation(auprc: f64) -> f64 {
    2.0 * auprc - 1.0
}

/// The design classes of the group labelled `group`: their sizes and chance level, and each
/// metric's AUPRC and violation rate for the class.
pub(super) fn class_table(
    metrics: &[MetricId],
    group: &str,
    results: &BTreeMap<MetricId, SeparationResult>,
) -> Markup {
    let groups: HashMap<MetricId, _> = metrics
        .iter()
        .filter_map(|metric| {
            let result = results.get(metric)?;
            let found = result
                .groups
                .iter()
                .find(|result| result.group.label() == group)?;
            Some((*metric, found))
        })
        .collect();
    let Some(classes) = metrics
        .iter()
        .find_map(|metric| groups.get(metric))
        .map(|group| &group.classes)
    else {
        return html! {};
    };
    html! {
        div.scroll { table.classes {
            thead {
                tr {
                    th rowspan="2" { "class" } th.num rowspan="2" { "in-class pairs" }
                    th.num rowspan="2" { "cross pairs" } th.num rowspan="2" { "chance AUPRC" }
                    @for metric in metrics { th.num colspan="2" { (metric.name()) } }
                }
                tr { @for _ in metrics { th.num { "AUPRC" } th.num { "violations" } } }
            }
            tbody {
                @for (index, class) in classes.iter().enumerate() {
                    tr data-class=(class.class.0.to_string()) {
                        th { (class.class.0.to_string()) }
                        td.num { (class.n_in) }
                        td.num { (class.n_cross) }
                        (stat_cell(class.chance, 3))
                        @for metric in metrics {
                            @let figures = groups.get(metric).and_then(|group| group.classes.get(index));
                            (colour_cell(figures.and_then(|class| class.auprc).map(auprc_as_correlation), figures.and_then(|class| class.auprc)))
                            (stat_cell(figures.and_then(|class| class.violation_rate), 3))
                        }
                    }
                }
            }
        } }
    }
}

pub(super) fn monotonicity_metric_table(
    metrics: &[MetricId],
    results: &BTreeMap<MetricId, MonotonicityResult>,
) -> Markup {
    metric_table(
        metrics,
        ("correlation", "models"),
        |value| value,
        |metric| {
            let result = results.get(metric)?;
            Some(MetricRow {
                value: result.figures.correlation,
                violation_rate: result.figures.violation_rate,
                totals: result.totals,
                reason: result.figures.correlation_reason.clone(),
            })
        },
    )
}

/// One heatmap per metric of the distances between the layers of one model, in depth order,
/// from the pairs behind its figures (row = first argument). The diagonal is 0 by definition.
pub(super) fn layer_matrices(model: &str, pairs: &[PairRows]) -> Vec<Heatmap> {
    pairs
        .iter()
        .map(|rows| {
            let mut known: HashMap<(i64, i64), f64> = HashMap::new();
            for row in &rows.rows {
                known.insert((row.first, row.second), row.x);
                // The rows of a symmetric metric hold each unordered pair once.
                known.entry((row.second, row.first)).or_insert(row.x);
            }
            let cells = rows
                .layers
                .iter()
                .map(|row| {
                    rows.layers
                        .iter()
                        .map(|column| HeatCell {
                            a: row.representation,
                            b: column.representation,
                            value: if row.representation == column.representation {
                                Some(0.0)
                            } else {
                                known
                                    .get(&(row.representation, column.representation))
                                    .copied()
                            },
                        })
                        .collect()
                })
                .collect();
            let labels: Vec<String> = rows
                .layers
                .iter()
                .map(|layer| layer.layer.to_string())
                .collect();
            Heatmap {
                id: format!("layers-{}", rows.metric.name()),
                title: format!("{} · {model}", rows.metric.name()),
                row_title: "layer (first)".to_owned(),
                column_title: "layer (second)".to_owned(),
                row_labels: labels.clone(),
                column_labels: labels,
                cells,
            }
        })
        .collect()
}
