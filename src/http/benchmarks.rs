//! `/v1/benchmarks`: does a metric's dissimilarity track differences in function?

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::Caller;
use super::csv_format::{self, FormatParam};
use super::extract::{Json, Path, Query};
use super::pagination::{ListResponse, page_request};
use super::{ApiContext, Routes, parse_metric, parse_metrics, validate};
use crate::benchmark::{
    self, DistanceOutcome, Group, GroupKey, Protocol, ScatterRow, pairs_needed,
};
use crate::error::ApiError;
use crate::metrics::Metric;
use crate::stats::BootstrapOptions;
use crate::store::benchmarks::{self, Benchmark, Definition, Selection};
use crate::store::distances::{self, Outcome};
use crate::store::jobs::distance_key;

pub(super) fn router() -> Routes {
    Routes::default()
        .route(Method::POST, "/v1/benchmarks", create)
        .route(Method::GET, "/v1/benchmarks", list)
        .route(Method::GET, "/v1/benchmarks/{id}", get)
        .route(Method::DELETE, "/v1/benchmarks/{id}", delete)
        .route(Method::GET, "/v1/benchmarks/{id}/results", results)
        .route(Method::GET, "/v1/benchmarks/{id}/pairs", pairs)
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
    score: String,
    protocol: Protocol,
    metrics: Vec<String>,
    bootstrap: Option<Value>,
}

async fn create(
    State(ctx): State<ApiContext>,
    caller: Caller,
    Json(request): Json<NewBenchmark>,
) -> Result<impl IntoResponse, ApiError> {
    validate::name("benchmark", &request.name)?;
    validate::score_name(&request.score)?;
    let metrics = parse_metrics(&request.metrics)?;
    let bootstrap = request
        .bootstrap
        .map(|value| {
            serde_json::from_value::<BootstrapOptions>(value)
                .map(|options| json!(options))
                .map_err(|error| ApiError::unprocessable("invalid_bootstrap", error.to_string()))
        })
        .transpose()?;
    let definition = Definition {
        name: request.name,
        description: request.description,
        dataset: request.dataset,
        selection: request.select,
        score: request.score,
        protocol: request.protocol,
        metrics,
        bootstrap,
    };
    let benchmark = benchmarks::create(&ctx.db, &definition, caller.token_name()).await?;
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
    Ok((
        StatusCode::ACCEPTED,
        Json(benchmarks::rerun(&ctx.db, id, caller.token_name()).await?),
    ))
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

/// A benchmark's correlation table.
#[derive(Debug, Serialize)]
pub(crate) struct Results {
    pub benchmark: i64,
    pub status: &'static str,
    /// Some distances are not computed yet: the figures may still move.
    pub partial: bool,
    /// metric → statistics (see `benchmark::MetricResult`).
    pub metrics: Value,
}

async fn results(
    State(ctx): State<ApiContext>,
    Path(id): Path<i64>,
    Query(params): Query<FormatParam>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let results = results_of(&ctx, id).await?;
    csv_format::respond(&params, &headers, &results, csv_format::results)
}

/// The results of a benchmark's current run: stored ones once complete, else computed from the
/// distances known so far (and stored when they turn out complete).
pub(crate) async fn results_of(ctx: &ApiContext, id: i64) -> Result<Results, ApiError> {
    let benchmark = benchmarks::get(&ctx.db, id).await?;
    if let Some(stored) = benchmarks::stored_results(&ctx.db, id).await? {
        return Ok(Results {
            benchmark: id,
            status: benchmark.status,
            partial: false,
            metrics: stored,
        });
    }
    let run = Run::load(ctx, id).await?;
    let bootstrap = run
        .snapshot
        .bootstrap
        .clone()
        .map(serde_json::from_value::<BootstrapOptions>)
        .transpose()
        .map_err(|error| ApiError::Internal(format!("stored bootstrap options: {error}")))?;
    let run_at = run.snapshot.run_at;
    let computed = tokio::task::spawn_blocking(move || {
        let lookup =
            |metric: &Metric, first: i64, second: i64| run.distance(*metric, first, second);
        benchmark::results(
            &run.groups,
            &run.snapshot.metrics,
            lookup,
            bootstrap.as_ref(),
        )
    })
    .await
    .map_err(|error| ApiError::Internal(format!("computing results: {error}")))?;
    let partial = computed.values().any(|result| result.partial);
    let metrics = serde_json::to_value(&computed)
        .map_err(|error| ApiError::Internal(format!("serialising results: {error}")))?;
    if !partial {
        benchmarks::store_results(&ctx.db, id, run_at, &metrics).await?;
    }
    Ok(Results {
        benchmark: id,
        status: benchmark.status,
        partial,
        metrics,
    })
}

/// A run's groups and the distances known for them.
struct Run {
    snapshot: benchmarks::RunSnapshot,
    groups: Vec<Group>,
    distances: HashMap<(Metric, i64, i64), Outcome>,
}

impl Run {
    async fn load(ctx: &ApiContext, id: i64) -> Result<Run, ApiError> {
        let snapshot = benchmarks::snapshot(&ctx.db, id).await?;
        let groups = pairs_needed(&snapshot.members, &snapshot.protocol).map_err(|error| {
            ApiError::conflict(
                "benchmark_stale",
                format!("the benchmark's run no longer holds together ({error}); run it again"),
            )
        })?;
        let ids: Vec<i64> = snapshot.members.iter().map(|member| member.id).collect();
        let distances = distances::among(&ctx.db, &snapshot.metrics, &ids).await?;
        Ok(Run {
            snapshot,
            groups,
            distances,
        })
    }

    fn distance(&self, metric: Metric, first: i64, second: i64) -> Option<DistanceOutcome> {
        let (a, b) = distance_key(metric, first, second);
        self.distances
            .get(&(metric, a, b))
            .map(|outcome| match outcome {
                Ok(value) => DistanceOutcome::Value(*value),
                Err(_) => DistanceOutcome::Refused,
            })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PairsParams {
    metric: String,
    /// The group's label: a layer number, a metadata value, or `all`. Optional with one group.
    group: Option<String>,
    format: Option<csv_format::Format>,
}

#[derive(Debug, Serialize)]
pub(crate) struct PairRows {
    pub metric: Metric,
    pub group: GroupKey,
    pub reference: Option<i64>,
    /// x = d(first, second), y = |f(first) − f(second)|, rounded as the statistics see them.
    pub rows: Vec<ScatterRow>,
}

/// `GET /v1/benchmarks/{id}/pairs?metric=&group=`: the points behind a group, for scatter plots.
async fn pairs(
    State(ctx): State<ApiContext>,
    Path(id): Path<i64>,
    Query(params): Query<PairsParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let metric = parse_metric(&params.metric)?;
    let rows = pair_rows(&ctx, id, metric, params.group.as_deref()).await?;
    let format = FormatParam {
        format: params.format,
    };
    csv_format::respond(&format, &headers, &rows, csv_format::pairs)
}

/// The points behind one group of a benchmark under one metric; `group` may be left out when
/// the benchmark has a single group.
pub(crate) async fn pair_rows(
    ctx: &ApiContext,
    id: i64,
    metric: Metric,
    group: Option<&str>,
) -> Result<PairRows, ApiError> {
    let run = Run::load(ctx, id).await?;
    if !run.snapshot.metrics.contains(&metric) {
        return Err(ApiError::unprocessable(
            "unknown_metric",
            format!("benchmark {id} does not compute {metric}"),
        ));
    }
    let labels: Vec<String> = run
        .groups
        .iter()
        .map(|group| group_label(&group.key))
        .collect();
    let group = match (group, run.groups.as_slice()) {
        (None, [only]) => only,
        (None, _) => {
            return Err(ApiError::bad_request(
                "group_required",
                format!(
                    "the benchmark has several groups; pick one with group=: {}",
                    labels.join(", ")
                ),
            ));
        }
        (Some(wanted), groups) => groups
            .iter()
            .find(|group| group_label(&group.key) == wanted)
            .ok_or_else(|| {
                ApiError::unprocessable(
                    "unknown_group",
                    format!("no group {wanted:?}; the groups are: {}", labels.join(", ")),
                )
            })?,
    };
    let lookup = |metric: &Metric, first: i64, second: i64| run.distance(*metric, first, second);
    Ok(PairRows {
        metric,
        group: group.key.clone(),
        reference: group.reference,
        rows: benchmark::scatter_rows(group, &metric, lookup),
    })
}

/// How a group is named in query strings.
pub(crate) fn group_label(key: &GroupKey) -> String {
    match key {
        GroupKey::All => "all".to_owned(),
        GroupKey::Layer(layer) => layer.to_string(),
        GroupKey::Metadata(value) => value.clone(),
    }
}
