//! `GET /v1/audit`: the write requests of every token, for admins.

use axum::extract::State;
use axum::http::Method;
use serde::Deserialize;

use super::extract::{Json, Query};
use super::pagination::{ListResponse, page_request};
use super::{ApiContext, Routes};
use crate::http::error::ApiError;
use crate::store::audit::{self, AuditRecord};

pub(super) fn router() -> Routes {
    Routes::default().route(Method::GET, "/v1/audit", list)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    /// Only the requests of the token with this name.
    token: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list(
    State(ctx): State<ApiContext>,
    Query(params): Query<ListParams>,
) -> Result<Json<ListResponse<AuditRecord>>, ApiError> {
    let page = page_request(params.limit, params.cursor.as_deref())?;
    Ok(Json(
        audit::list(&ctx.db, params.token.as_deref(), page)
            .await?
            .into(),
    ))
}
