//! `GET /v1/leaderboard`: the team's metrics across its published benchmarks, as JSON or CSV.

use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::Response;

use super::csv_format::{self, FormatParam};
use super::extract::Query;
use super::{ApiContext, Routes};
use crate::benchmark::service;
use crate::http::error::ApiError;

pub(super) fn router() -> Routes {
    Routes::default().route(Method::GET, "/v1/leaderboard", leaderboard)
}

async fn leaderboard(
    State(ctx): State<ApiContext>,
    Query(params): Query<FormatParam>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let leaderboard = service::leaderboard(&ctx.db).await?;
    csv_format::respond(&params, &headers, &leaderboard, csv_format::leaderboard)
}
