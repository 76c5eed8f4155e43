//! Liveness, readiness and the API description.

use axum::extract::State;
use axum::http::{Method, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::extract::Json;
use super::{ApiContext, Routes};
use crate::http::error::ApiError;
use crate::store;

/// The OpenAPI document of this API, served as written.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

pub(super) fn router() -> Routes {
    probes().route(Method::GET, "/openapi.yaml", openapi)
}

/// Liveness and readiness alone, for processes that serve no API.
pub(super) fn probes() -> Routes {
    Routes::default()
        .route(Method::GET, "/healthz", healthz)
        .route(Method::GET, "/readyz", readyz)
}

/// The process is up.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The database answers and holds every migration this binary knows.
async fn readyz(State(ctx): State<ApiContext>) -> Result<Json<Value>, ApiError> {
    let not_ready = |detail: String| ApiError::Unavailable {
        code: "not_ready",
        detail,
    };
    match store::migrations_applied(&ctx.db).await {
        Ok(true) => Ok(Json(json!({"status": "ready"}))),
        Ok(false) => Err(not_ready(
            "the database schema is behind this binary; run `simbench migrate`".into(),
        )),
        Err(error) => Err(not_ready(format!("the database is unreachable: {error}"))),
    }
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI_YAML)
}
