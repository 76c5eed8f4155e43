//! `/v1/tokens`: API tokens, for admins. A token's text is shown once, when it is created.

use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::extract::{Json, Path, Query};
use super::pagination::{ListResponse, page_request};
use super::{ApiContext, Routes};
use crate::access::{self, Scope};
use crate::http::error::ApiError;
use crate::store::tokens::{self, NewToken, Token};

pub(super) fn router() -> Routes {
    Routes::default()
        .route(Method::POST, "/v1/tokens", create)
        .route(Method::GET, "/v1/tokens", list)
        .route(Method::GET, "/v1/tokens/{name}", get)
        .route(Method::DELETE, "/v1/tokens/{name}", revoke)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTokenRequest {
    name: String,
    scope: Scope,
    expires_in_days: Option<i32>,
}

#[derive(Debug, Serialize)]
struct CreatedToken {
    #[serde(flatten)]
    token: Token,
    /// The bearer token itself; only its hash is kept, so this is the only time it is shown.
    #[serde(rename = "token")]
    text: String,
}

async fn create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Json(request): Json<NewTokenRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let new = NewToken {
        name: &request.name,
        scope: request.scope,
        expires_in_days: request.expires_in_days,
        created_by: caller.token_name(),
    };
    let issued = access::issue(&mut *ctx.db.acquire().await?, &new).await?;
    let location = format!("/v1/tokens/{}", issued.token.name);
    let created = CreatedToken {
        token: issued.token,
        text: issued.plaintext.expose().to_owned(),
    };
    // The body holds a credential: no cache along the way may keep it.
    Ok((
        StatusCode::CREATED,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Json(created),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list(
    State(ctx): State<ApiContext>,
    Query(params): Query<ListParams>,
) -> Result<Json<ListResponse<Token>>, ApiError> {
    let page = page_request(params.limit, params.cursor.as_deref())?;
    Ok(Json(tokens::list(&ctx.db, page).await?.into()))
}

async fn get(
    State(ctx): State<ApiContext>,
    Path(name): Path<String>,
) -> Result<Json<Token>, ApiError> {
    Ok(Json(tokens::get(&ctx.db, &name).await?))
}

/// Revokes a token: every request bearing it is refused from now on.
async fn revoke(
    State(ctx): State<ApiContext>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    tokens::revoke(&ctx.db, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
