//! `/v1/jobs`: the comparison-job queue, for operators.

use axum::extract::State;
use axum::http::Method;
use serde::Deserialize;

use super::extract::{Json, Path, Query};
use super::pagination::{ListResponse, page_request};
use super::{ApiContext, Routes};
use crate::http::error::ApiError;
use crate::store::jobs::{self, Job};

const STATUSES: [&str; 5] = ["queued", "running", "done", "failed", "cancelled"];

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
    if let Some(status) = &params.status
        && !STATUSES.contains(&status.as_str())
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!(
                "status must be one of {}, got {status:?}",
                STATUSES.join(", ")
            ),
        ));
    }
    let page = page_request(params.limit, params.cursor.as_deref())?;
    Ok(Json(
        jobs::list(&ctx.db, params.status.as_deref(), page)
            .await?
            .into(),
    ))
}

async fn get(State(ctx): State<ApiContext>, Path(id): Path<i64>) -> Result<Json<Job>, ApiError> {
    Ok(Json(jobs::get(&ctx.db, id).await?))
}

/// Queues a failed job again, with a fresh budget of attempts.
async fn retry(State(ctx): State<ApiContext>, Path(id): Path<i64>) -> Result<Json<Job>, ApiError> {
    Ok(Json(jobs::retry(&ctx.db, id).await?))
}
