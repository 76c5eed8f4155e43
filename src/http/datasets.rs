//! `/v1/datasets`: the inputs representations are computed on.

use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::extract::{Json, Path, Query};
use super::pagination::{ListResponse, page_request};
use super::{ApiContext, Routes, validate};
use crate::http::error::ApiError;
use crate::store::datasets::{self, Dataset};

pub(super) fn router() -> Routes {
    Routes::default()
        .route(Method::POST, "/v1/datasets", create)
        .route(Method::GET, "/v1/datasets", list)
        .route(Method::GET, "/v1/datasets/{id}", get)
}

/// The body of `POST /v1/datasets`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDataset {
    pub name: String,
    pub n_rows: Option<i64>,
    pub description: Option<String>,
}

async fn create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Json(new): Json<NewDataset>,
) -> Result<impl IntoResponse, ApiError> {
    validate::name("dataset", &new.name)?;
    if let Some(n_rows) = new.n_rows
        && n_rows < 1
    {
        return Err(ApiError::unprocessable(
            "invalid_n_rows",
            format!("n_rows is the number of examples and must be at least 1, got {n_rows}"),
        ));
    }
    let dataset = datasets::create(
        &ctx.db,
        &new.name,
        new.n_rows,
        new.description.as_deref(),
        caller.token_name(),
    )
    .await?;
    let location = format!("/v1/datasets/{}", dataset.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(dataset),
    ))
}

#[derive(Debug, Deserialize)]
struct ListParams {
    name: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list(
    State(ctx): State<ApiContext>,
    Query(params): Query<ListParams>,
) -> Result<Json<ListResponse<Dataset>>, ApiError> {
    let page = page_request(params.limit, params.cursor.as_deref())?;
    let datasets = datasets::list(&ctx.db, params.name.as_deref(), page).await?;
    Ok(Json(datasets.into()))
}

async fn get(
    State(ctx): State<ApiContext>,
    Path(id): Path<i64>,
) -> Result<Json<Dataset>, ApiError> {
    Ok(Json(datasets::get(&ctx.db, id).await?))
}
