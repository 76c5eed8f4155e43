//! `/ui/compare?dataset=&a=&b=&metric=…`: one heatmap per metric of the distances between every
//! layer of model a (rows) and every layer of model b (columns), and a button that asks for the
//! missing ones.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use maud::{Markup, html};

use super::charts::{HeatCell, Heatmap};
use super::data;
use super::error::UiError;
use super::layout::{Page, Section};
use super::session::{self, Viewer};
use super::{query_pairs, query_value, wants_csv};
use crate::http::ApiContext;
use crate::metrics::{Metric, MetricKind};
use crate::store::models::Model;
use crate::store::representations::Representation;

/// The metrics shown when none is picked: the two that tell different stories.
const DEFAULT_METRICS: [Metric; 2] = [Metric::of(MetricKind::Cka), Metric::of(MetricKind::CcaMean)];
const REFRESH_SECS: u32 = 2;

/// What the page compares, from its query (or the compute form).
struct Selection {
    dataset: Option<String>,
    a: Option<i64>,
    b: Option<i64>,
    metrics: Vec<Metric>,
}

impl Selection {
    fn parse(pairs: &[(String, String)]) -> Result<Selection, UiError> {
        let id = |key: &str| {
            query_value(pairs, key)
                .filter(|value| !value.is_empty())
                .map(|value| {
                    value.parse::<i64>().map_err(|_| {
                        UiError::BadRequest(format!("{key} must be a model id, got {value:?}"))
                    })
                })
                .transpose()
        };
        let mut metrics = Vec::new();
        for (key, value) in pairs {
            if key == "metric" {
                let metric: Metric =
                    value
                        .parse()
                        .map_err(|error: crate::metrics::UnknownMetric| {
                            UiError::BadRequest(error.to_string())
                        })?;
                if !metrics.contains(&metric) {
                    metrics.push(metric);
                }
            }
        }
        if metrics.is_empty() {
            metrics = DEFAULT_METRICS.to_vec();
        }
        Ok(Selection {
            dataset: query_value(pairs, "dataset")
                .filter(|value| !value.is_empty())
                .map(str::to_owned),
            a: id("a")?,
            b: id("b")?,
            metrics,
        })
    }

    fn query(&self, extra: &[(&str, &str)]) -> String {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(dataset) = &self.dataset {
            params.push(("dataset", dataset.clone()));
        }
        if let Some(a) = self.a {
            params.push(("a", a.to_string()));
        }
        if let Some(b) = self.b {
            params.push(("b", b.to_string()));
        }
        for metric in &self.metrics {
            params.push(("metric", metric.name().to_owned()));
        }
        for (key, value) in extra {
            params.push((key, (*value).to_owned()));
        }
        serde_urlencoded::to_string(params).unwrap_or_default()
    }
}

fn layer_label(representation: &Representation) -> String {
    representation
        .layer_name
        .clone()
        .unwrap_or_else(|| format!("layer {}", representation.layer))
}

fn model_name(models: &[Model], id: i64) -> String {
    models
        .iter()
        .find(|model| model.id == id)
        .map_or_else(|| format!("model {id}"), |model| model.name.clone())
}

pub(super) async fn page(
    State(ctx): State<ApiContext>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    let params = query_pairs(query.as_deref());
    let selection = Selection::parse(&params)?;
    let models = data::models(&ctx).await?;
    let datasets = data::datasets(&ctx).await?;
    // Asked before the distances are read: a job that finishes in between then still shows as
    // pending and the page reloads once more, where asking afterwards could see the job done but
    // the cells it filled still missing, and stop reloading for good.
    let pending = data::job_counts(&ctx)
        .await?
        .iter()
        .any(|(status, count)| status.is_pending() && *count > 0);
    let mut heatmaps = Vec::new();
    let mut layers = None;
    if let (Some(dataset), Some(a), Some(b)) = (&selection.dataset, selection.a, selection.b) {
        let rows = data::representations(&ctx, a, Some(dataset), Some(false)).await?;
        let columns = data::representations(&ctx, b, Some(dataset), Some(false)).await?;
        let ids: Vec<i64> = rows.iter().chain(&columns).map(|rep| rep.id).collect();
        if wants_csv(&params) {
            let metric = selection.metrics[0];
            return Ok(data::csv_response(data::matrix_csv(
                &data::matrix(&ctx, metric, ids).await?,
            )?));
        }
        if !rows.is_empty() && !columns.is_empty() {
            for metric in &selection.metrics {
                let matrix = data::matrix(&ctx, *metric, ids.clone()).await?;
                let cells = rows
                    .iter()
                    .zip(&matrix.values)
                    .map(|(row, values)| {
                        columns
                            .iter()
                            .zip(&values[rows.len()..])
                            .map(|(column, value)| HeatCell {
                                a: row.id,
                                b: column.id,
                                value: *value,
                            })
                            .collect()
                    })
                    .collect();
                heatmaps.push(Heatmap {
                    id: metric.name().to_owned(),
                    title: metric.name().to_owned(),
                    row_title: model_name(&models, a),
                    column_title: model_name(&models, b),
                    row_labels: rows.iter().map(layer_label).collect(),
                    column_labels: columns.iter().map(layer_label).collect(),
                    cells,
                });
            }
        }
        layers = Some((rows.len(), columns.len()));
    }
    let missing: usize = heatmaps.iter().map(Heatmap::n_missing).sum();
    let working = missing > 0 && pending;
    let content = html! {
        h1 { "Compare two models layer by layer" }
        p.lead { "Rows are the layers of model a, columns those of model b; darker cells are more similar (lower distance). Hatched cells are not computed yet." }
        (pickers(&selection, &models, &datasets))
        @match layers {
            None => { p.notice { "Pick a dataset and two models." } }
            Some((0, _)) | Some((_, 0)) => { p.notice { "One of the models has no representation on this dataset." } }
            Some(_) => {
                p.downloads {
                    @for metric in &selection.metrics {
                        @let query = Selection { metrics: vec![*metric], dataset: selection.dataset.clone(), ..selection };
                        a href={ "/ui/compare?" (query.query(&[("format", "csv")])) } { "distance matrix CSV " (metric.name()) }
                    }
                }
                @if missing > 0 {
                    div.notice #missing data-missing=(missing) {
                        (missing) " cells are not computed yet."
                        @if working { " The workers are on it; this page reloads until they are done." }
                        @if let (true, Some(csrf)) = (viewer.can_write(), viewer.csrf_token()) {
                            form method="post" action="/ui/compare/compute" {
                                input type="hidden" name="csrf" value=(csrf);
                                @if let Some(dataset) = &selection.dataset { input type="hidden" name="dataset" value=(dataset); }
                                @if let Some(a) = selection.a { input type="hidden" name="a" value=(a); }
                                @if let Some(b) = selection.b { input type="hidden" name="b" value=(b); }
                                @for metric in &selection.metrics { input type="hidden" name="metric" value=(metric.name()); }
                                button #compute-missing type="submit" { "Compute missing" }
                            }
                        }
                    }
                }
                div.charts {
                    @for heatmap in &heatmaps { div.chart { (heatmap.render()) } }
                }
            }
        }
    };
    Ok(Page::new("Compare", Section::Compare, content)
        .refreshing(working.then_some(REFRESH_SECS))
        .respond(viewer.session()))
}

fn pickers(
    selection: &Selection,
    models: &[Model],
    datasets: &[crate::store::datasets::Dataset],
) -> Markup {
    let model_picker = |name: &str, label: &str, chosen: Option<i64>| {
        html! {
            label { (label)
                select name=(name) {
                    option value="" { "—" }
                    @for model in models {
                        option value=(model.id) selected[chosen == Some(model.id)] { (model.name) " (#" (model.id) ")" }
                    }
                }
            }
        }
    };
    html! {
        form.pickers method="get" action="/ui/compare" {
            label { "dataset"
                select name="dataset" {
                    option value="" { "—" }
                    @for dataset in datasets {
                        option value=(dataset.name) selected[selection.dataset.as_deref() == Some(dataset.name.as_str())] { (dataset.name) }
                    }
                }
            }
            (model_picker("a", "model a (rows)", selection.a))
            (model_picker("b", "model b (columns)", selection.b))
            fieldset {
                legend { "metrics" }
                @for metric in Metric::PAPER {
                    label { input type="checkbox" name="metric" value=(metric.name()) checked[selection.metrics.contains(&metric)]; (metric.name()) }
                }
            }
            button.secondary type="submit" { "Show" }
        }
    }
}

/// `POST /ui/compare/compute`: asks for every pair of the page's heatmaps (those known are not
/// computed again), then goes back to the page.
pub(super) async fn compute_missing(
    State(ctx): State<ApiContext>,
    viewer: Viewer,
    body: Bytes,
) -> Result<Response, UiError> {
    let form: Vec<(String, String)> = session::parse_form(&body)?;
    let token_name = session::authorize_write(&viewer, query_value(&form, "csrf"))?;
    let selection = Selection::parse(&form)?;
    let (Some(dataset), Some(a), Some(b)) = (&selection.dataset, selection.a, selection.b) else {
        return Err(UiError::BadRequest("pick a dataset and two models".into()));
    };
    let rows = data::representations(&ctx, a, Some(dataset), Some(false)).await?;
    let columns = data::representations(&ctx, b, Some(dataset), Some(false)).await?;
    let pairs: Vec<(i64, i64)> = rows
        .iter()
        .flat_map(|row| columns.iter().map(move |column| (row.id, column.id)))
        .filter(|(row, column)| row != column)
        .collect();
    let outcome = if pairs.is_empty() {
        Ok(())
    } else {
        data::compare(&ctx, &pairs, &selection.metrics, token_name)
            .await
            .map(|_| ())
    };
    let status = match &outcome {
        Ok(()) => StatusCode::SEE_OTHER,
        Err(error) => error.status(),
    };
    session::audit(
        &ctx,
        token_name,
        "/ui/compare/compute",
        "/ui/compare/compute",
        status,
    )
    .await;
    outcome?;
    Ok(Redirect::to(&format!("/ui/compare?{}", selection.query(&[]))).into_response())
}
