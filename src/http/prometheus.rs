//! `GET /metrics`: Prometheus text exposition.

use axum::extract::State;
use axum::http::{Method, header};
use axum::response::IntoResponse;

use super::{ApiContext, Routes};
use crate::http::error::ApiError;
use crate::store::jobs;

pub(super) fn router() -> Routes {
    Routes::default().route(Method::GET, "/metrics", metrics)
}

async fn metrics(State(ctx): State<ApiContext>) -> Result<impl IntoResponse, ApiError> {
    let depths = jobs::count_by_status(&ctx.db).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        ctx.instruments.render(&depths),
    ))
}
