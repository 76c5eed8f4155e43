//! `GET /v1/leaderboard`: the team's metrics across its published benchmarks.

use axum::extract::State;
use axum::http::Method;

use super::extract::Json;
use super::{ApiContext, Routes};
use crate::benchmark::leaderboard::Leaderboard;
use crate::benchmark::service;
use crate::http::error::ApiError;

pub(super) fn router() -> Routes {
    Routes::default().route(Method::GET, "/v1/leaderboard", leaderboard)
}

async fn leaderboard(State(ctx): State<ApiContext>) -> Result<Json<Leaderboard>, ApiError> {
    Ok(Json(service::leaderboard(&ctx.db).await?))
}
