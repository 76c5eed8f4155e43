//! `/ui/models` and `/ui/models/{id}`: models with their tags and metadata, and a model's
//! representations and scores.

use axum::extract::{Path, State};
use axum::response::Response;
use maud::html;

use super::charts::full_precision;
use super::data;
use super::error::{UiError, parse_id};
use super::layout::{Page, Section};
use super::session::Viewer;
use crate::http::ApiContext;
use crate::store::scores::{Score, ScoreTarget};

pub(super) async fn list(
    State(ctx): State<ApiContext>,
    viewer: Viewer,
) -> Result<Response, UiError> {
    let models = data::models(&ctx).await?;
    let content = html! {
        h1 { "Models" }
        @if models.is_empty() {
            p.notice { "No model yet: training jobs create them with " code { "POST /v1/models" } "." }
        } @else {
            table.models {
                thead { tr { th { "id" } th { "name" } th { "tags" } th { "metadata" } th.num { "representations" } th { "created" } } }
                tbody {
                    @for model in &models {
                        tr data-model=(model.id) {
                            td.num { (model.id) }
                            td { a href={ "/ui/models/" (model.id) } { (model.name) } }
                            td { @for tag in &model.tags { span.tag { (tag) } } }
                            td { code { (model.metadata) } }
                            td.num { (model.n_representations) }
                            td { (model.created_at.format("%Y-%m-%d %H:%M")) }
                        }
                    }
                }
            }
        }
    };
    Ok(Page::new("Models", Section::Models, content).respond(viewer.session()))
}

pub(super) async fn detail(
    State(ctx): State<ApiContext>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let id = parse_id(&id)?;
    let model = data::model(&ctx, id).await?;
    let representations = data::representations(&ctx, id, None, None).await?;
    let model_scores = data::scores(&ctx, ScoreTarget::Model(id)).await?;
    let representation_scores = data::representation_scores(&ctx, id).await?;
    let rows: Vec<_> = representations
        .into_iter()
        .map(|representation| {
            let scores: Vec<&Score> = representation_scores
                .iter()
                .filter(|score| score.representation_id == Some(representation.id))
                .collect();
            (representation, scores)
        })
        .collect();
    let content = html! {
        h1 { "Model " (model.name) }
        dl.definition {
            dt { "id" } dd { (model.id) }
            dt { "tags" } dd { @for tag in &model.tags { span.tag { (tag) } } }
            dt { "metadata" } dd { code { (model.metadata) } }
            dt { "created" } dd { (model.created_at.format("%Y-%m-%d %H:%M:%S UTC")) @if let Some(by) = &model.created_by { " by " (by) } }
            dt { "scores" } dd {
                @if model_scores.is_empty() { "—" }
                @for score in &model_scores {
                    span.score data-name=(score.name) data-value=(full_precision(score.value)) { code { (score.name) } " = " (format!("{:.4}", score.value)) } " "
                }
            }
        }
        h2 { "Representations" }
        @if rows.is_empty() {
            p { "None uploaded yet." }
        } @else {
            table.representations {
                thead { tr { th { "id" } th { "dataset" } th { "layer" } th { "shape" } th { "dtype" } th { "derived from" } th { "scores" } } }
                tbody {
                    @for (representation, scores) in &rows {
                        tr data-representation=(representation.id) {
                            td.num { (representation.id) }
                            td { (representation.dataset) }
                            td { (representation.layer) @if let Some(name) = &representation.layer_name { " · " (name) } }
                            td { (representation.n_rows) " × " (representation.n_cols) }
                            td { (representation.dtype) }
                            td {
                                @match (representation.parent_id, &representation.transform) {
                                    (Some(parent), Some(transform)) => { "#" (parent) " " code { (transform) } }
                                    (Some(parent), None) => { "#" (parent) }
                                    _ => { "—" }
                                }
                            }
                            td {
                                @for score in scores {
                                    span.score data-name=(score.name) data-value=(full_precision(score.value)) { code { (score.name) } " = " (format!("{:.4}", score.value)) } " "
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Page::new(&model.name, Section::Models, content).respond(viewer.session()))
}
