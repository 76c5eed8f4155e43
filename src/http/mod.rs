//! The HTTP API: shared state, router assembly and middleware. One module per resource, each
//! exposing its `router()`; handlers only parse, call `store`, and map errors.

mod audit;
mod auth;
pub(crate) mod benchmarks;
mod comparisons;
pub(crate) mod csv_format;
pub mod datasets;
pub(crate) mod distances;
pub mod error;
mod extract;
mod health;
mod jobs;
mod leaderboard;
mod metrics;
pub use health::OPENAPI_YAML;
pub mod models;
mod outputs;
pub mod pagination;
mod prometheus;
mod rate_limit;
pub mod representations;
pub mod scores;
mod tokens;
mod upload;
mod validate;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderName, HeaderValue, Method, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::HttpConfig;
use crate::http::error::ApiError;
use crate::metrics::{Metric, MetricId, MetricKind};
use crate::telemetry::Instruments;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiContext {
    pub db: PgPool,
    pub config: Arc<HttpConfig>,
    pub instruments: Arc<Instruments>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application: the API's routes and the dashboard's `pages`, the fallbacks and the
/// middleware.
pub fn app(ctx: ApiContext, pages: Router<ApiContext>) -> Router {
    assemble(ctx, api_routes(), pages)
}

/// What a `simbench worker` process serves when given an address: the Prometheus instruments of
/// its own workers (job outcomes, compute and preparation seconds, which no API process sees)
/// with the queue depth, and its health, behind the same access rules and middleware as the API.
pub fn worker_app(ctx: ApiContext) -> Router {
    assemble(
        ctx,
        Routes::default()
            .merge(health::probes())
            .merge(prometheus::router()),
        Router::new(),
    )
}

/// `pages` are the dashboard's, which check their own sessions.
fn assemble(ctx: ApiContext, routes: Routes, pages: Router<ApiContext>) -> Router {
    let timeout = Duration::from_secs(ctx.config.request_timeout_secs);
    let instruments = ctx.instruments.clone();
    let guard = auth::Guard {
        limiter: rate_limit::RateLimiter::new(
            ctx.config.rate_limit_per_minute,
            ctx.config.rate_limit_burst,
        )
        .map(Arc::new),
        ctx: ctx.clone(),
    };
    let bounded = routes
        .bounded
        .merge(pages)
        .layer(middleware::from_fn_with_state(timeout, enforce_timeout));
    // Matrices are float data: gzip costs CPU and saves nothing.
    let compress_when =
        DefaultPredicate::new().and(NotForContentType::const_new("application/x-npy"));
    let mut app = bounded
        .merge(routes.streaming)
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Uploads read their body as a stream under SIMBENCH_MAX_UPLOAD_BYTES; this limit binds
        // the extractors (JSON) only.
        .layer(DefaultBodyLimit::max(ctx.config.max_json_bytes))
        .layer(middleware::from_fn_with_state(guard, auth::guard))
        .layer(middleware::from_fn_with_state(instruments, record_latency))
        .layer(CompressionLayer::new().compress_when(compress_when));
    // Outside the access check, so that browsers' preflight requests (which carry no token) are
    // answered, and refusals carry the headers that let a dashboard read them.
    if let Some(cors) = cors(&ctx.config.cors_origins.0) {
        app = app.layer(cors);
    }
    app.layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("a request handler panicked".into()).into_response()
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let request_id = request
                .headers()
                .get(REQUEST_ID)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), uri = %request.uri(), request_id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(ctx)
}

/// Serves `app` (from [`app`] or [`worker_app`]) until `shutdown` resolves.
pub async fn serve_app(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Client addresses key the rate limit of requests without a token.
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
}

/// CORS for the configured dashboard origins; none configured, no CORS headers at all.
fn cors(origins: &[HeaderValue]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([
                header::LOCATION,
                header::RETRY_AFTER,
                header::WWW_AUTHENTICATE,
                REQUEST_ID,
            ])
            .max_age(Duration::from_secs(3600)),
    )
}

/// Every (method, path) the API routes, in registration order; `openapi.yaml` must list exactly
/// these.
pub fn route_table() -> Vec<(Method, &'static str)> {
    api_routes().table
}

fn api_routes() -> Routes {
    Routes::default()
        .merge(health::router())
        .merge(datasets::router())
        .merge(models::router())
        .merge(outputs::router())
        .merge(representations::router())
        .merge(scores::router())
        .merge(comparisons::router())
        .merge(distances::router())
        .merge(jobs::router())
        .merge(benchmarks::router())
        .merge(leaderboard::router())
        .merge(metrics::router())
        .merge(tokens::router())
        .merge(audit::router())
        .merge(prometheus::router())
}

/// A router that remembers what it routes, so the route table can be checked against the
/// OpenAPI document. Routes that stream large bodies are kept apart from the request timeout.
#[derive(Default)]
pub(crate) struct Routes {
    bounded: Router<ApiContext>,
    streaming: Router<ApiContext>,
    table: Vec<(Method, &'static str)>,
}

impl Routes {
    /// Adds a route subject to the request timeout.
    pub(crate) fn route<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Routes
    where
        H: Handler<T, ApiContext>,
        T: 'static,
    {
        self.bounded = self
            .bounded
            .route(path, on(method_filter(&method), handler));
        self.table.push((method, path));
        self
    }

    /// Adds a route whose body may take longer to transfer than any fixed timeout; it is bounded
    /// by an idle timeout between body frames instead.
    pub(crate) fn streaming<H, T>(
        mut self,
        method: Method,
        path: &'static str,
        handler: H,
    ) -> Routes
    where
        H: Handler<T, ApiContext>,
        T: 'static,
    {
        self.streaming = self
            .streaming
            .route(path, on(method_filter(&method), handler));
        self.table.push((method, path));
        self
    }

    fn merge(mut self, other: Routes) -> Routes {
        self.bounded = self.bounded.merge(other.bounded);
        self.streaming = self.streaming.merge(other.streaming);
        self.table.extend(other.table);
        self
    }
}

/// Metric names from a request, refused with the list of valid ones.
fn parse_metrics(names: &[String]) -> Result<Vec<Metric>, ApiError> {
    if names.is_empty() {
        return Err(ApiError::unprocessable(
            "unknown_metric",
            format!("name at least one metric: {}", metric_names()),
        ));
    }
    let mut metrics = Vec::with_capacity(names.len());
    for name in names {
        let metric = parse_metric(name)?;
        if !metrics.contains(&metric) {
            metrics.push(metric);
        }
    }
    Ok(metrics)
}

fn parse_metric(name: &str) -> Result<Metric, ApiError> {
    name.parse()
        .map_err(|error: crate::metrics::UnknownMetric| {
            ApiError::unprocessable("unknown_metric", error.to_string())
        })
}

/// Metric identifiers for a benchmark: built-in names or `ext:NAME`; duplicates dropped.
fn parse_metric_ids(names: &[String]) -> Result<Vec<MetricId>, ApiError> {
    if names.is_empty() {
        return Err(ApiError::unprocessable(
            "unknown_metric",
            format!(
                "name at least one metric: {}, or an external one as ext:NAME",
                metric_names()
            ),
        ));
    }
    let mut metrics = Vec::with_capacity(names.len());
    for name in names {
        let metric = parse_metric_id(name)?;
        if !metrics.contains(&metric) {
            metrics.push(metric);
        }
    }
    Ok(metrics)
}

fn parse_metric_id(name: &str) -> Result<MetricId, ApiError> {
    name.parse()
        .map_err(|error: crate::metrics::UnknownMetricId| {
            ApiError::unprocessable("unknown_metric", error.to_string())
        })
}

fn metric_names() -> String {
    MetricKind::ALL.map(MetricKind::name).join(", ")
}

fn method_filter(method: &Method) -> MethodFilter {
    MethodFilter::try_from(method.clone()).expect("routes use standard HTTP methods")
}

async fn enforce_timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(limit.as_secs()).into_response(),
    }
}

/// Observes each request's latency under its route pattern (not its path, which holds ids).
async fn record_latency(
    State(instruments): State<Arc<Instruments>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    instruments
        .http_request_seconds
        .with_label_values(&[method.as_str(), &route, response.status().as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}

async fn route_not_found(uri: Uri) -> ApiError {
    ApiError::RouteNotFound(uri.path().to_owned())
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
    }
}
