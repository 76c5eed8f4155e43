//! The dashboard (README, Dashboard): server-rendered pages over the same data as the JSON API,
//! charts drawn as SVG by the server, a stylesheet embedded in the binary and no script, under a
//! strict Content-Security-Policy. Pages check their own sessions (`session`), opened with a
//! token at `/ui/login` (`login`); with `SIMBENCH_PUBLIC_READ=true` they need none.

mod benchmarks;
pub mod charts;
mod compare;
mod data;
mod error;
mod grounding;
mod jobs;
mod layout;
mod leaderboard;
mod login;
mod models;
mod session;

use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::http::ApiContext;
use error::UiError;

/// No script, no plugin, nothing from elsewhere; styles from the embedded stylesheet only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<ApiContext> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/leaderboard") }))
        .route("/ui/style.css", get(layout::stylesheet))
        .route("/ui/login", get(login::form).post(login::login))
        .route("/ui/logout", post(login::logout))
        .route("/ui/leaderboard", get(leaderboard::page))
        .route("/ui/benchmarks", get(benchmarks::list))
        .route("/ui/benchmarks/{id}", get(benchmarks::detail))
        .route("/ui/benchmarks/{id}/pairs", get(benchmarks::pairs_csv))
        .route("/ui/compare", get(compare::page))
        .route("/ui/compare/compute", post(compare::compute_missing))
        .route("/ui/models", get(models::list))
        .route("/ui/models/{id}", get(models::detail))
        .route("/ui/jobs", get(jobs::page))
        .route("/ui/jobs/{id}/retry", post(jobs::retry))
        .layer(middleware::from_fn(refuse_other_origins))
        .layer(middleware::map_response(security_headers))
        .layer(middleware::from_fn(server_timing))
}

/// The header that carries how long the service took over a page (`bench-ui` reads it).
pub const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// Times the page from its session check to its last byte of markup: a page's body is rendered
/// before the handler returns.
async fn server_timing(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let mut response = next.run(request).await;
    let millis = started.elapsed().as_secs_f64() * 1e3;
    if let Ok(value) = HeaderValue::from_str(&format!("page;dur={millis:.3}")) {
        response.headers_mut().insert(SERVER_TIMING, value);
    }
    response
}

/// The milliseconds of a `Server-Timing` value as [`server_timing`] writes it.
pub fn server_timing_millis(value: &str) -> Option<f64> {
    value
        .split(';')
        .find_map(|parameter| parameter.trim().strip_prefix("dur="))
        .and_then(|millis| millis.parse().ok())
}

/// Every form that changes something is a POST; one sent from a page of another site is
/// refused before anything else looks at it.
async fn refuse_other_origins(request: Request, next: Next) -> Response {
    if request.method() == Method::POST && !session::same_origin(request.headers()) {
        return UiError::Forbidden("this form was sent from another site".into()).into_response();
    }
    next.run(request).await
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// A page's query string as (key, value) pairs, repeated keys kept (`metric=a&metric=b`); a
/// malformed one reads as empty.
fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|query| serde_urlencoded::from_str(query).unwrap_or_default())
        .unwrap_or_default()
}

/// The first value of `key`.
fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
}

/// Whether a page's query asks for its CSV download.
fn wants_csv(pairs: &[(String, String)]) -> bool {
    query_value(pairs, "format") == Some("csv")
}
