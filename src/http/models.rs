//! `/v1/models`: trained networks, their metadata and tags.

use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth::Caller;
use super::extract::{Json, Path, Query, QueryPairs};
use super::pagination::{ListResponse, page_request};
use super::{ApiContext, Routes, validate};
use crate::http::error::ApiError;
use crate::store::models::{self, Model, ModelFilter};

pub(super) fn router() -> Routes {
    Routes::default()
        .route(Method::POST, "/v1/models", create)
        .route(Method::GET, "/v1/models", list)
        .route(Method::GET, "/v1/models/{id}", get)
        .route(Method::PATCH, "/v1/models/{id}", update)
        .route(Method::DELETE, "/v1/models/{id}", delete)
}

/// The body of `POST /v1/models`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewModel {
    pub name: String,
    #[serde(default = "empty_object")]
    pub metadata: Value,
    #[serde(default)]
    pub tags: Vec<String>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

async fn create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Json(new): Json<NewModel>,
) -> Result<impl IntoResponse, ApiError> {
    validate::name("model", &new.name)?;
    validate::metadata(&new.metadata)?;
    validate::tags(&new.tags)?;
    let model = models::create(
        &ctx.db,
        &new.name,
        &new.metadata,
        &new.tags,
        caller.token_name(),
    )
    .await?;
    let location = format!("/v1/models/{}", model.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(model),
    ))
}

/// `?name=..&tag=a&tag=b&metadata=seed=3&limit=..&cursor=..`: tags and metadata filters repeat,
/// which the typed query extractor cannot express.
async fn list(
    State(ctx): State<ApiContext>,
    QueryPairs(pairs): QueryPairs,
) -> Result<Json<ListResponse<Model>>, ApiError> {
    let mut filter = ModelFilter::default();
    let (mut limit, mut cursor) = (None, None);
    for (key, value) in pairs {
        match key.as_str() {
            "name" => filter.name = Some(value),
            "tag" => filter.tags.push(value),
            "metadata" => {
                let (field, wanted) = value.split_once('=').ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_query",
                        format!("metadata filter {value:?} must look like key=value, e.g. metadata=seed=3"),
                    )
                })?;
                filter.metadata.push((field.to_owned(), wanted.to_owned()));
            }
            "limit" => {
                limit = Some(value.parse().map_err(|_| {
                    ApiError::bad_request(
                        "invalid_limit",
                        format!("limit must be an integer, got {value:?}"),
                    )
                })?)
            }
            "cursor" => cursor = Some(value),
            other => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!(
                        "unknown query parameter {other:?}; use name, tag, metadata, limit or cursor"
                    ),
                ));
            }
        }
    }
    let page = page_request(limit, cursor.as_deref())?;
    Ok(Json(models::list(&ctx.db, &filter, page).await?.into()))
}

async fn get(State(ctx): State<ApiContext>, Path(id): Path<i64>) -> Result<Json<Model>, ApiError> {
    Ok(Json(models::get(&ctx.db, id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelPatch {
    metadata: Option<Value>,
    tags: Option<Vec<String>>,
}

async fn update(
    State(ctx): State<ApiContext>,
    Path(id): Path<i64>,
    Json(patch): Json<ModelPatch>,
) -> Result<Json<Model>, ApiError> {
    if let Some(tags) = &patch.tags {
        validate::tags(tags)?;
    }
    let edit_metadata = |current: Value| match &patch.metadata {
        None => Ok::<_, ApiError>(current),
        Some(changes) => {
            validate::metadata(changes)?;
            let merged = merge_patch(current, changes);
            validate::metadata(&merged)?;
            Ok(merged)
        }
    };
    let model = models::update(&ctx.db, id, edit_metadata, patch.tags.as_deref()).await?;
    Ok(Json(model))
}

/// JSON Merge Patch (RFC 7396) on the top-level keys: a key set to null is removed, any other
/// value replaces the current one.
fn merge_patch(current: Value, changes: &Value) -> Value {
    let (Value::Object(mut merged), Value::Object(changes)) = (current, changes) else {
        return changes.clone();
    };
    for (key, value) in changes {
        if value.is_null() {
            merged.remove(key);
        } else {
            merged.insert(key.clone(), value.clone());
        }
    }
    Value::Object(merged)
}

#[derive(Debug, Deserialize)]
struct DeleteParams {
    #[serde(default)]
    cascade: bool,
}

async fn delete(
    State(ctx): State<ApiContext>,
    Path(id): Path<i64>,
    Query(params): Query<DeleteParams>,
) -> Result<StatusCode, ApiError> {
    models::delete(&ctx.db, id, params.cascade).await?;
    Ok(StatusCode::NO_CONTENT)
}
