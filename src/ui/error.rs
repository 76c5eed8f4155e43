//! What a page answers when it cannot be shown: an HTML page with the status the JSON API would
//! use, or a redirect to the log-in form.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::layout;
use crate::http::error::ApiError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub(super) enum UiError {
    #[error(transparent)]
    Api(#[from] ApiError),
    /// No session and no public read: log in first, then come back to `next`.
    #[error("log in to see this page")]
    LoginRequired { next: String },
    /// A write refused: no session, read scope, a missing or wrong CSRF token, another origin.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("no such page")]
    NotFound,
}

impl From<StoreError> for UiError {
    fn from(error: StoreError) -> UiError {
        UiError::Api(error.into())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = match &self {
            UiError::Api(error) => error.status(),
            UiError::LoginRequired { next } => {
                let query =
                    serde_urlencoded::to_string([("next", next.as_str())]).unwrap_or_default();
                return Redirect::to(&format!("/ui/login?{query}")).into_response();
            }
            UiError::Forbidden(_) => StatusCode::FORBIDDEN,
            UiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            UiError::NotFound => StatusCode::NOT_FOUND,
        };
        if status.is_server_error() {
            tracing::error!(error = %self, "a page failed");
        }
        let detail = match &self {
            UiError::Api(_) if status.is_server_error() => {
                "the service could not build this page; its log says why".to_owned()
            }
            UiError::Api(error) => error.detail(),
            other => other.to_string(),
        };
        let body = layout::bare(
            status.canonical_reason().unwrap_or("Error"),
            html! {
                h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                p.error-detail { (detail) }
                p { a href="/ui/leaderboard" { "Back to the leaderboard" } }
            },
        );
        (status, body).into_response()
    }
}

/// A path id: anything but a number names no page.
pub(super) fn parse_id(text: &str) -> Result<i64, UiError> {
    text.parse().map_err(|_| UiError::NotFound)
}
