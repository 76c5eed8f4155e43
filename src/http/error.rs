//! One error type for the API, rendered as RFC 9457 `application/problem+json` with a stable
//! machine-readable `code`.

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::access::{AccessError, Scope};
use crate::benchmark::service::BenchmarkError;
use crate::matrix::MatrixError;
use crate::store::StoreError;

/// Everything a request can fail with. Database constraint violations are translated into the
/// 4xx the client caused; anything else from the database is a 500 whose details stay in the log.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{resource} {id} does not exist")]
    NotFound { resource: &'static str, id: String },

    /// Something the request refers to vanished while it ran (a concurrent deletion).
    #[error("{detail}")]
    Gone { detail: String },

    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },

    #[error("{detail}")]
    Unprocessable {
        code: &'static str,
        detail: String,
        extra: Map<String, Value>,
    },

    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },

    #[error("the upload exceeds the limit of {limit} bytes (SIMBENCH_MAX_UPLOAD_BYTES)")]
    UploadTooLarge { limit: u64 },

    #[error(
        "the JSON body exceeds the limit (SIMBENCH_MAX_JSON_BYTES); send fewer items per request"
    )]
    JsonTooLarge,

    #[error("{0}")]
    UnsupportedMediaType(String),

    #[error("{detail}")]
    Unavailable { code: &'static str, detail: String },

    #[error("the request took longer than {0} seconds")]
    Timeout(u64),

    #[error("no route for {0}")]
    RouteNotFound(String),

    #[error("{method} is not allowed on this route")]
    MethodNotAllowed { method: String },

    /// No usable bearer token: missing, malformed, unknown, revoked or expired.
    #[error("{detail}")]
    Unauthorized {
        challenge: Challenge,
        detail: String,
    },

    #[error(
        "this request needs a token with scope {required}; the token {token:?} has scope {held}"
    )]
    InsufficientScope {
        token: String,
        required: Scope,
        held: Scope,
    },

    #[error(
        "too many requests from this caller; retry in {retry_after_secs} s (limits: SIMBENCH_RATE_LIMIT_PER_MINUTE, SIMBENCH_RATE_LIMIT_BURST)"
    )]
    RateLimited { retry_after_secs: u64 },

    #[error(transparent)]
    Matrix(#[from] MatrixError),

    #[error("database error: {0}")]
    Database(#[source] StoreError),

    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn not_found(resource: &'static str, id: impl ToString) -> ApiError {
        ApiError::NotFound {
            resource,
            id: id.to_string(),
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::Unprocessable {
            code,
            detail: detail.into(),
            extra: Map::new(),
        }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::Conflict {
            code,
            detail: detail.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound { .. } | ApiError::Gone { .. } | ApiError::RouteNotFound(_) => {
                StatusCode::NOT_FOUND
            }
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::UploadTooLarge { .. } | ApiError::JsonTooLarge => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Timeout(_) | ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Matrix(error) if error.is_malformed() => StatusCode::BAD_REQUEST,
            ApiError::Matrix(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Database(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::Gone { .. } => "not_found",
            ApiError::BadRequest { code, .. }
            | ApiError::Unprocessable { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unavailable { code, .. } => code,
            ApiError::UploadTooLarge { .. } | ApiError::JsonTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Timeout(_) => "request_timeout",
            ApiError::RouteNotFound(_) => "route_not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::InsufficientScope { .. } => "insufficient_scope",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Matrix(error) => error.code(),
            ApiError::Database(_) | ApiError::Internal(_) => "internal_error",
        }
    }

    /// What the client is told went wrong (server errors keep their details in the log).
    pub fn detail(&self) -> String {
        match self {
            ApiError::Database(_) | ApiError::Internal(_) => {
                "the service could not complete the request; the error is logged".into()
            }
            other => other.to_string(),
        }
    }

    /// Problem members beyond the standard ones, e.g. the row and column of a non-finite value.
    fn extensions(&self) -> Map<String, Value> {
        match self {
            ApiError::Unprocessable { extra, .. } => extra.clone(),
            ApiError::Matrix(MatrixError::NonFinite { row, column, value }) => {
                let mut members = Map::new();
                members.insert("row".into(), json!(row));
                members.insert("column".into(), json!(column));
                members.insert("value".into(), json!(value));
                members
            }
            ApiError::UploadTooLarge { limit } => {
                let mut members = Map::new();
                members.insert("limit_bytes".into(), json!(limit));
                members
            }
            ApiError::InsufficientScope { required, .. } => {
                let mut members = Map::new();
                members.insert("required_scope".into(), json!(required));
                members
            }
            ApiError::RateLimited { retry_after_secs } => {
                let mut members = Map::new();
                members.insert("retry_after_seconds".into(), json!(retry_after_secs));
                members
            }
            _ => Map::new(),
        }
    }

    /// Headers the status calls for: the bearer challenge of a 401 or 403 (RFC 6750), the wait
    /// of a 429.
    fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        match self {
            ApiError::Unauthorized { challenge, .. } => vec![(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge.header()),
            )],
            ApiError::InsufficientScope { required, .. } => {
                let challenge = format!(
                    "Bearer realm=\"simbench\", error=\"insufficient_scope\", scope=\"{required}\""
                );
                HeaderValue::from_str(&challenge)
                    .map(|value| vec![(header::WWW_AUTHENTICATE, value)])
                    .unwrap_or_default()
            }
            ApiError::RateLimited { retry_after_secs } => {
                vec![(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs))]
            }
            _ => Vec::new(),
        }
    }
}

/// The `WWW-Authenticate` challenge of a 401.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// No credentials were sent: say which scheme to use.
    Missing,
    /// Credentials were sent but cannot be used (malformed, unknown, revoked, expired).
    InvalidToken,
}

impl Challenge {
    fn header(self) -> &'static str {
        match self {
            Challenge::Missing => "Bearer realm=\"simbench\"",
            Challenge::InvalidToken => "Bearer realm=\"simbench\", error=\"invalid_token\"",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, code = self.code(), "request failed");
        }
        let mut body = Map::new();
        body.insert("type".into(), json!("about:blank"));
        body.insert(
            "title".into(),
            json!(status.canonical_reason().unwrap_or("Error")),
        );
        body.insert("status".into(), json!(status.as_u16()));
        body.insert("detail".into(), json!(self.detail()));
        body.insert("code".into(), json!(self.code()));
        body.extend(self.extensions());
        let mut response = (status, Json(Value::Object(body))).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        for (name, value) in self.headers() {
            headers.insert(name, value);
        }
        response
    }
}

/// A store failure as the client hears of it: violated constraints already carry their 4xx.
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::NotFound { resource, id } => ApiError::NotFound { resource, id },
            StoreError::Missing { detail } => ApiError::Gone {
                detail: detail.to_owned(),
            },
            StoreError::Conflict { code, detail } => ApiError::Conflict { code, detail },
            StoreError::Invalid { code, detail } => ApiError::unprocessable(code, detail),
            StoreError::Corrupt(detail) => ApiError::Internal(detail),
            error @ StoreError::Database(_) => ApiError::Database(error),
        }
    }
}

impl From<BenchmarkError> for ApiError {
    fn from(error: BenchmarkError) -> ApiError {
        let detail = error.to_string();
        match error {
            BenchmarkError::Store(error) => error.into(),
            BenchmarkError::NothingSelected | BenchmarkError::InvalidSelection(_) => {
                ApiError::unprocessable("invalid_selection", detail)
            }
            BenchmarkError::UnknownScore { .. } => ApiError::unprocessable("unknown_score", detail),
            BenchmarkError::NoOutputs => ApiError::unprocessable("no_outputs", detail),
            BenchmarkError::NoClass { .. } => ApiError::unprocessable("no_class", detail),
            BenchmarkError::IncomparableOutputs(_) => {
                ApiError::unprocessable("incomparable_outputs", detail)
            }
            BenchmarkError::RunBroken(_) => ApiError::conflict("benchmark_stale", detail),
            BenchmarkError::MetricNotInBenchmark { .. } => {
                ApiError::unprocessable("unknown_metric", detail)
            }
            BenchmarkError::GroupRequired { .. } => ApiError::bad_request("group_required", detail),
            BenchmarkError::UnknownGroup { .. } => ApiError::unprocessable("unknown_group", detail),
            BenchmarkError::Internal(detail) => ApiError::Internal(detail),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> ApiError {
        StoreError::from(error).into()
    }
}

impl From<AccessError> for ApiError {
    fn from(error: AccessError) -> ApiError {
        match error {
            AccessError::Invalid { code, detail } => ApiError::unprocessable(code, detail),
            AccessError::Random(error) => ApiError::Internal(error.to_string()),
            AccessError::Store(error) => error.into(),
        }
    }
}
