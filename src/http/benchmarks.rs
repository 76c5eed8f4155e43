//! `/v1/benchmarks`: does a metric's dissimilarity track differences in function?

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::Caller;
use super::csv_format::{self, FormatParam};
use super::extract::{Json, Path, Query};
use super::pagination::{ListResponse, page_request};
use super::{ApiContext, Routes, parse_metric_id, parse_metric_ids, validate};
use crate::benchmark::service;
use crate::benchmark::{Functional, Protocol, ProtocolKind};
use crate::http::error::ApiError;
use crate::metrics::MetricId;
use crate::stats::{BootstrapOptions, PermutationOptions};
use crate::store::Page;
use crate::store::benchmarks::{self, Benchmark, Definition, Selection};

pub(super) fn router() -> Routes {
    Routes::default()
        .route(Method::POST, "/v1/benchmarks", create)
        .route(Method::GET, "/v1/benchmarks", list)
        .route(Method::GET, "/v1/benchmarks/{id}", get)
        .route(Method::DELETE, "/v1/benchmarks/{id}", delete)
        .route(Method::GET, "/v1/benchmarks/{id}/results", results)
        .route(Method::GET, "/v1/benchmarks/{id}/pairs", pairs)
        .route(Method::GET, "/v1/benchmarks/{id}/missing", missing)
        .route(Method::POST, "/v1/benchmarks/{id}/run", run)
        .route(Method::POST, "/v1/benchmarks/{id}/publish", publish)
        .route(Method::POST, "/v1/benchmarks/{id}/unpublish", unpublish)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBenchmark {
    name: String,
    description: Option<String>,
    dataset: String,
    #[serde(default)]
    select: Selection,
    /// Shorthand for `functional: {"kind": "score_difference", "score": ...}`.
    score: Option<String>,
    functional: Option<Value>,
    protocol: Protocol,
    metrics: Vec<String>,
    bootstrap: Option<Value>,
    permutation: Option<Value>,
}

/// What y is: the `functional`, or the score its shorthand `score` names (PROTOCOLS "Functional
/// differences"); exactly one of the two.
fn functional_of(score: Option<String>, functional: Option<Value>) -> Result<Functional, ApiError> {
    let functional = match (score, functional) {
        (Some(score), None) => Functional::ScoreDifference { score },
        (None, Some(value)) => serde_json::from_value::<Functional>(value)
            .map_err(|error| ApiError::unprocessable("invalid_functional", error.to_string()))?,
        (Some(_), Some(_)) => {
            return Err(ApiError::unprocessable(
                "invalid_functional",
                "give either functional or its shorthand score, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::unprocessable(
                "invalid_functional",
                "a benchmark needs its functional difference: functional \
                 ({\"kind\": \"score_difference\", \"score\": NAME}, {\"kind\": \"disagreement\"} \
                 or {\"kind\": \"jsd\"}) or the shorthand score: NAME",
            ));
        }
    };
    if let Some(score) = functional.score() {
        validate::score_name(score)?;
    }
    Ok(functional)
}

/// Bootstrap intervals and permutation p-values are defined for correlations only.
fn refuse_for_kind(
    kind: ProtocolKind,
    bootstrap: &Option<Value>,
    permutation: &Option<Value>,
) -> Result<(), ApiError> {
    let refused = |code: &'static str, option: &str| {
        ApiError::unprocessable(
            code,
            format!(
                "{option} is defined for the correlation protocols (reference, all_pairs), not \
                 for a {} benchmark",
                kind.name()
            ),
        )
    };
    if bootstrap.is_some() {
        return Err(refused("invalid_bootstrap", "bootstrap"));
    }
    if permutation.is_some() {
        return Err(refused("invalid_permutation", "permutation"));
    }
    Ok(())
}

async fn create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Json(request): Json<NewBenchmark>,
) -> Result<impl IntoResponse, ApiError> {
    validate::name("benchmark", &request.name)?;
    let functional = match request.protocol.kind() {
        ProtocolKind::Correlation => Some(functional_of(request.score, request.functional)?),
        kind => {
            refuse_for_kind(kind, &request.bootstrap, &request.permutation)?;
            if request.score.is_some() || request.functional.is_some() {
                return Err(ApiError::unprocessable(
                    "invalid_functional",
                    format!(
                        "a {} benchmark reads only distances, so it takes no score or functional",
                        kind.name()
                    ),
                ));
            }
            None
        }
    };
    // The reference is the representation with the highest score, which outputs do not give.
    let score = functional.as_ref().and_then(Functional::score);
    if let (Protocol::Reference { .. }, None) = (&request.protocol, score) {
        return Err(ApiError::unprocessable(
            "reference_needs_score",
            "the reference protocol picks its reference by score, so its functional must be a \
             score_difference; use all_pairs for differences of model outputs",
        ));
    }
    let metrics = parse_metric_ids(&request.metrics)?;
    // Whether the mirrored pairs of an `ordered` run are needed depends on each metric's
    // symmetry; a client's metric declares it only in its registration, which planning does not
    // read, so the two are not combined.
    if let (Protocol::AllPairs { ordered: true, .. }, Some(external)) = (
        &request.protocol,
        metrics.iter().find(|metric| metric.external().is_some()),
    ) {
        return Err(ApiError::unprocessable(
            "ordered_external_metric",
            format!("an ordered all_pairs benchmark takes built-in metrics only, not {external}"),
        ));
    }
    let bootstrap = request
        .bootstrap
        .map(|value| {
            serde_json::from_value::<BootstrapOptions>(value)
                .map(|options| json!(options))
                .map_err(|error| ApiError::unprocessable("invalid_bootstrap", error.to_string()))
        })
        .transpose()?;
    let permutation = request
        .permutation
        .map(|value| {
            serde_json::from_value::<PermutationOptions>(value)
                .map(|options| json!(options))
                .map_err(|error| ApiError::unprocessable("invalid_permutation", error.to_string()))
        })
        .transpose()?;
    let definition = Definition {
        name: request.name,
        description: request.description,
        dataset: request.dataset,
        selection: request.select,
        score: score.map(str::to_owned),
        functional: functional.as_ref().map(|functional| json!(functional)),
        protocol: json!(request.protocol),
        metrics,
        bootstrap,
        permutation,
    };
    let benchmark = service::create(&ctx.db, &definition, caller.token_name()).await?;
    let location = format!("/v1/benchmarks/{}", benchmark.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(benchmark),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    published: Option<bool>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list(
    State(ctx): State<ApiContext>,
    Query(params): Query<ListParams>,
) -> Result<Json<ListResponse<Benchmark>>, ApiError> {
    let page = page_request(params.limit, params.cursor.as_deref())?;
    Ok(Json(
        benchmarks::list(&ctx.db, params.published, page)
            .await?
            .into(),
    ))
}

async fn get(
    State(ctx): State<ApiContext>,
    Path(id): Path<i64>,
) -> Result<Json<Benchmark>, ApiError> {
    Ok(Json(benchmarks::get(&ctx.db, id).await?))
}

async fn delete(
    State(ctx): State<ApiContext>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    benchmarks::delete(&ctx.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/benchmarks/{id}/run`: runs again on the data as it is now (after a stale mark).
async fn run(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let benchmark = service::rerun(&ctx.db, id, caller.token_name()).await?;
    Ok((StatusCode::ACCEPTED, Json(benchmark)))
}

async fn publish(
    State(ctx): State<ApiContext>,
    Path(id): Path<i64>,
) -> Result<Json<Benchmark>, ApiError> {
    Ok(Json(benchmarks::set_published(&ctx.db, id, true).await?))
}

async fn unpublish(
    State(ctx): State<ApiContext>,
    Path(id): Path<i64>,
) -> Result<Json<Benchmark>, ApiError> {
    Ok(Json(benchmarks::set_published(&ctx.db, id, false).await?))
}

async fn results(
    State(ctx): State<ApiContext>,
    Path(id): Path<i64>,
    Query(params): Query<FormatParam>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let results = service::results(&ctx.db, id).await?;
    csv_format::respond(&params, &headers, &results, csv_format::results)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PairsParams {
    metric: String,
    /// The group's label: a layer number, a metadata value, or `all`. Optional with one group.
    group: Option<String>,
    format: Option<csv_format::Format>,
}

/// `GET /v1/benchmarks/{id}/pairs?metric=&group=`: the points behind a group, for scatter plots.
async fn pairs(
    State(ctx): State<ApiContext>,
    Path(id): Path<i64>,
    Query(params): Query<PairsParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let metric = parse_metric_id(&params.metric)?;
    let rows = service::pairs(&ctx.db, id, metric, params.group.as_deref()).await?;
    let format = FormatParam {
        format: params.format,
    };
    csv_format::respond(&format, &headers, &rows, csv_format::pairs)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MissingParams {
    metric: String,
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(Debug, Serialize)]
struct MissingPairs {
    metric: MetricId,
    /// The pairs of the current run this metric needs, and how many of them have no distance.
    n_pairs: usize,
    n_missing: usize,
    items: Vec<MissingPair>,
    next_cursor: Option<String>,
}

#[derive(Debug, Serialize)]
struct MissingPair {
    a: i64,
    b: i64,
}

/// `GET /v1/benchmarks/{id}/missing?metric=`: the pairs whose distance under `metric` the
/// current run still lacks, as `PUT /v1/distances` takes them. Paged by position in the run's
/// list of pairs, so that pairs sent meanwhile do not shift the next page.
async fn missing(
    State(ctx): State<ApiContext>,
    Path(id): Path<i64>,
    Query(params): Query<MissingParams>,
) -> Result<Json<MissingPairs>, ApiError> {
    let metric = parse_metric_id(&params.metric)?;
    let page = page_request(params.limit, params.cursor.as_deref())?;
    let needed = service::needed_pairs(&ctx.db, id, metric).await?;
    let n_missing = needed.pairs.iter().filter(|pair| pair.missing).count();
    let rows: Vec<(i64, MissingPair)> = needed
        .pairs
        .iter()
        .enumerate()
        .skip(usize::try_from(page.after).unwrap_or(0))
        .filter(|(_, pair)| pair.missing)
        .take(usize::try_from(page.limit + 1).unwrap_or(usize::MAX))
        .map(|(position, pair)| {
            (
                position as i64 + 1,
                MissingPair {
                    a: pair.a,
                    b: pair.b,
                },
            )
        })
        .collect();
    let list: ListResponse<(i64, MissingPair)> =
        Page::from_rows(rows, page, |(position, _)| *position).into();
    let ListResponse { items, next_cursor } = list;
    Ok(Json(MissingPairs {
        metric: needed.metric,
        n_pairs: needed.pairs.len(),
        n_missing,
        items: items.into_iter().map(|(_, pair)| pair).collect(),
        next_cursor,
    }))
}
