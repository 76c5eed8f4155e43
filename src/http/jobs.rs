//! `/v1/jobs`: the comparison-job queue, for operators.

use axum::extract::State;
use axum::http::Method;
use serde::Deserialize;

use super::extract::{Json, Path, Query};
use super::pagination::{ListResponse, page_request};
use super::{ApiContext, Routes};
use crate::http::error::ApiError;
use crate::store::jobs::{self, Job};
use crate::store::status::JobStatus;

pub(super) fn router() -> Routes {
    Routes::default()
        .route(Method::GET, "/v1/jobs", list)
        .route(Method::GET, "/v1/jobs/{id}", get)
        .route(Method::POST, "/v1/jobs/{id}/retry", retry)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    status: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list(
    State(ctx): State<ApiContext>,
    Query(params): Query<ListParams>,
) -> Result<Json<ListResponse<Job>>, ApiError> {
    let status = params
        .status
        .as_deref()
        .map(str::parse::<JobStatus>)
        .transpose()
        .map_err(|error| ApiError::bad_request("invalid_query", format!("status: {error}")))?;
    let page = page_request(params.limit, params.cursor.as_deref())?;
    Ok(Json(jobs::list(&ctx.db, status, page).await?.into()))
}

async fn get(State(ctx): State<ApiContext>, Path(id): Path<i64>) -> Result<Json<Job>, ApiError> {
    Ok(Json(jobs::get(&ctx.db, id).await?))
}

/// Queues a failed job again, with a fresh budget of attempts.
async fn retry(State(ctx): State<ApiContext>, Path(id): Path<i64>) -> Result<Json<Job>, ApiError> {
    Ok(Json(jobs::retry(&ctx.db, id).await?))
}
