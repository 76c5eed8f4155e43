//! Functionality scores of representations and models.

use axum::extract::State;
use axum::http::Method;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::extract::{Json, Path};
use super::pagination::ListResponse;
use super::{ApiContext, Routes, validate};
use crate::http::error::ApiError;
use crate::store::scores::{self, Score, ScoreTarget};

/// Scores per request in `POST /v1/scores`.
const MAX_BATCH: usize = 10_000;

pub(super) fn router() -> Routes {
    Routes::default()
        .route(
            Method::GET,
            "/v1/representations/{id}/scores",
            list_representation_scores,
        )
        .route(
            Method::PUT,
            "/v1/representations/{id}/scores/{name}",
            put_representation_score,
        )
        .route(Method::GET, "/v1/models/{id}/scores", list_model_scores)
        .route(
            Method::PUT,
            "/v1/models/{id}/scores/{name}",
            put_model_score,
        )
        .route(Method::POST, "/v1/scores", upsert_many)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreValue {
    value: f64,
}

async fn put_representation_score(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((id, name)): Path<(i64, String)>,
    Json(score): Json<ScoreValue>,
) -> Result<Json<Score>, ApiError> {
    let target = ScoreTarget::Representation(id);
    put(&ctx, &caller, target, &name, score.value).await
}

async fn put_model_score(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path((id, name)): Path<(i64, String)>,
    Json(score): Json<ScoreValue>,
) -> Result<Json<Score>, ApiError> {
    put(&ctx, &caller, ScoreTarget::Model(id), &name, score.value).await
}

async fn put(
    ctx: &ApiContext,
    caller: &Caller,
    target: ScoreTarget,
    name: &str,
    value: f64,
) -> Result<Json<Score>, ApiError> {
    validate::score_name(name)?;
    let score = scores::upsert(&ctx.db, target, name, value, caller.token_name()).await?;
    Ok(Json(score))
}

async fn list_representation_scores(
    State(ctx): State<ApiContext>,
    Path(id): Path<i64>,
) -> Result<Json<ListResponse<Score>>, ApiError> {
    list(&ctx, ScoreTarget::Representation(id)).await
}

async fn list_model_scores(
    State(ctx): State<ApiContext>,
    Path(id): Path<i64>,
) -> Result<Json<ListResponse<Score>>, ApiError> {
    list(&ctx, ScoreTarget::Model(id)).await
}

async fn list(
    ctx: &ApiContext,
    target: ScoreTarget,
) -> Result<Json<ListResponse<Score>>, ApiError> {
    Ok(Json(ListResponse {
        items: scores::list(&ctx.db, target).await?,
        next_cursor: None,
    }))
}

/// The body of `POST /v1/scores`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreBatch {
    pub scores: Vec<ScoreItem>,
}

/// One score of a batch: exactly one of `representation` and `model` names its target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub representation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<i64>,
    pub name: String,
    pub value: f64,
}

impl ScoreItem {
    /// The score `name` = `value` of one target, in the batch's form.
    pub fn new(target: ScoreTarget, name: impl Into<String>, value: f64) -> ScoreItem {
        let (representation, model) = match target {
            ScoreTarget::Representation(id) => (Some(id), None),
            ScoreTarget::Model(id) => (None, Some(id)),
        };
        ScoreItem {
            representation,
            model,
            name: name.into(),
            value,
        }
    }
}

/// `POST /v1/scores`: sets many scores at once, all or none.
async fn upsert_many(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Json(batch): Json<ScoreBatch>,
) -> Result<Json<ListResponse<Score>>, ApiError> {
    if batch.scores.len() > MAX_BATCH {
        return Err(ApiError::unprocessable(
            "batch_too_large",
            format!(
                "at most {MAX_BATCH} scores per request, got {}",
                batch.scores.len()
            ),
        ));
    }
    let mut items = Vec::with_capacity(batch.scores.len());
    for (index, item) in batch.scores.into_iter().enumerate() {
        let target = match (item.representation, item.model) {
            (Some(id), None) => ScoreTarget::Representation(id),
            (None, Some(id)) => ScoreTarget::Model(id),
            _ => {
                return Err(ApiError::unprocessable(
                    "invalid_score_target",
                    format!(
                        "scores[{index}] must name exactly one of \"representation\" and \"model\""
                    ),
                ));
            }
        };
        validate::score_name(&item.name)?;
        items.push((target, item.name, item.value));
    }
    Ok(Json(ListResponse {
        items: scores::upsert_many(&ctx.db, &items, caller.token_name()).await?,
        next_cursor: None,
    }))
}
