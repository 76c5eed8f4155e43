//! `/v1/comparisons`: ask for the distances of pairs of representations under some metrics.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;

use super::auth::Caller;
use super::extract::{Json, Path};
use super::{ApiContext, Routes, parse_metrics};
use crate::http::error::ApiError;
use crate::store::comparisons::{self, Comparison};
use crate::store::representations;

/// Pairs per comparison: 450 representations all against all.
const MAX_PAIRS: usize = 100_000;

pub(super) fn router() -> Routes {
    Routes::default()
        .route(Method::POST, "/v1/comparisons", create)
        .route(Method::GET, "/v1/comparisons/{id}", get)
        .route(Method::DELETE, "/v1/comparisons/{id}", cancel)
}

/// Either explicit `pairs` (first argument first) or `representations` with `all_pairs: true`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewComparison {
    pairs: Option<Vec<(i64, i64)>>,
    representations: Option<Vec<i64>>,
    #[serde(default)]
    all_pairs: bool,
    metrics: Vec<String>,
}

async fn create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Json(request): Json<NewComparison>,
) -> Result<impl IntoResponse, ApiError> {
    let metrics = parse_metrics(&request.metrics)?;
    let pairs = match (request.pairs, request.representations, request.all_pairs) {
        (Some(pairs), None, false) => pairs,
        (None, Some(ids), true) => all_pairs(&ids, &metrics),
        _ => {
            return Err(ApiError::unprocessable(
                "invalid_comparison",
                "give either \"pairs\": [[a, b], ...] or \"representations\": [ids] with \"all_pairs\": true",
            ));
        }
    };
    if pairs.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_comparison",
            "there is no pair to compare",
        ));
    }
    if pairs.len() > MAX_PAIRS {
        return Err(ApiError::unprocessable(
            "too_many_pairs",
            format!(
                "{} pairs asked; at most {MAX_PAIRS} per comparison",
                pairs.len()
            ),
        ));
    }
    let ids: Vec<i64> = pairs
        .iter()
        .flat_map(|&(a, b)| [a, b])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    representations::check_same_dataset(&ctx.db, &ids).await?;
    let comparison = comparisons::create(&ctx.db, &pairs, &metrics, caller.token_name()).await?;
    let location = format!("/v1/comparisons/{}", comparison.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(comparison),
    ))
}

/// Every unordered pair once, lower id first; an asymmetric metric also needs the reverse
/// order, which is asked for as a pair of its own.
fn all_pairs(ids: &[i64], metrics: &[crate::metrics::Metric]) -> Vec<(i64, i64)> {
    let ids: Vec<i64> = ids
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let both_orders = metrics.iter().any(|metric| !metric.is_symmetric());
    let mut pairs = Vec::new();
    for (index, &a) in ids.iter().enumerate() {
        for &b in &ids[index + 1..] {
            pairs.push((a, b));
            if both_orders {
                pairs.push((b, a));
            }
        }
    }
    pairs
}

async fn get(
    State(ctx): State<ApiContext>,
    Path(id): Path<i64>,
) -> Result<Json<Comparison>, ApiError> {
    Ok(Json(comparisons::get(&ctx.db, id).await?))
}

async fn cancel(
    State(ctx): State<ApiContext>,
    Path(id): Path<i64>,
) -> Result<Json<Comparison>, ApiError> {
    Ok(Json(comparisons::cancel(&ctx.db, id).await?))
}
