//! Everything the pages read or change, in one place: the same functions the JSON handlers
//! call, so that pages and API always agree.

use crate::benchmark::leaderboard::Leaderboard;
use crate::benchmark::service::{self, PairRows, Results};
use crate::http::ApiContext;
use crate::http::csv_format;
pub(super) use crate::http::distances::matrix_csv;
use crate::http::distances::{DistanceMatrix, distance_matrix};
use crate::http::error::ApiError;
use crate::metrics::{Metric, MetricId};
use crate::store::benchmarks::{self, Benchmark};
use crate::store::datasets::{self, Dataset};
use crate::store::jobs::{self, Job};
use crate::store::models::{self, Model, ModelFilter};
use crate::store::representations::{self, Representation, RepresentationFilter};
use crate::store::scores::{self, Score, ScoreTarget};
use crate::store::status::JobStatus;
use crate::store::{PageRequest, comparisons};

/// Pages list at most this many rows of a kind; the JSON API pages through the rest.
const PAGE_ROWS: i64 = 500;

fn first_page() -> PageRequest {
    PageRequest {
        after: 0,
        limit: PAGE_ROWS,
    }
}

pub(super) use csv_format::{
    csv_response, leaderboard as leaderboard_csv, pairs as pairs_csv, results as results_csv,
};

/// The leaderboard, with each column's results (for their confidence intervals).
pub(super) async fn leaderboard(ctx: &ApiContext) -> Result<(Leaderboard, Vec<Results>), ApiError> {
    Ok(service::leaderboard_with_results(&ctx.db).await?)
}

pub(super) async fn benchmarks(ctx: &ApiContext) -> Result<Vec<Benchmark>, ApiError> {
    Ok(benchmarks::list(&ctx.db, None, first_page()).await?.items)
}

pub(super) async fn benchmark(ctx: &ApiContext, id: i64) -> Result<Benchmark, ApiError> {
    Ok(benchmarks::get(&ctx.db, id).await?)
}

pub(super) async fn results(ctx: &ApiContext, id: i64) -> Result<Results, ApiError> {
    Ok(service::results(&ctx.db, id).await?)
}

pub(super) async fn pairs(
    ctx: &ApiContext,
    id: i64,
    metric: MetricId,
    group: Option<&str>,
) -> Result<PairRows, ApiError> {
    Ok(service::pairs(&ctx.db, id, metric, group).await?)
}

/// The pairs behind every metric of benchmark `id` in one group.
pub(super) async fn group_pairs(
    ctx: &ApiContext,
    id: i64,
    group: Option<&str>,
) -> Result<Vec<PairRows>, ApiError> {
    Ok(service::group_pairs(&ctx.db, id, group).await?)
}

pub(super) async fn matrix(
    ctx: &ApiContext,
    metric: Metric,
    ids: Vec<i64>,
) -> Result<DistanceMatrix, ApiError> {
    distance_matrix(ctx, metric, ids).await
}

pub(super) async fn datasets(ctx: &ApiContext) -> Result<Vec<Dataset>, ApiError> {
    Ok(datasets::list(&ctx.db, None, first_page()).await?.items)
}

pub(super) async fn models(ctx: &ApiContext) -> Result<Vec<Model>, ApiError> {
    Ok(models::list(&ctx.db, &ModelFilter::default(), first_page())
        .await?
        .items)
}

pub(super) async fn model(ctx: &ApiContext, id: i64) -> Result<Model, ApiError> {
    Ok(models::get(&ctx.db, id).await?)
}

/// A model's representations, by dataset, layer and id.
pub(super) async fn representations(
    ctx: &ApiContext,
    model_id: i64,
    dataset: Option<&str>,
    derived: Option<bool>,
) -> Result<Vec<Representation>, ApiError> {
    let filter = RepresentationFilter {
        dataset: dataset.map(str::to_owned),
        model_id: Some(model_id),
        layer: None,
        derived,
    };
    let mut rows = representations::list(&ctx.db, &filter, first_page())
        .await?
        .items;
    rows.sort_by(|a, b| {
        (&a.dataset, a.layer, a.parent_id.is_some(), a.id).cmp(&(
            &b.dataset,
            b.layer,
            b.parent_id.is_some(),
            b.id,
        ))
    });
    Ok(rows)
}

pub(super) async fn scores(ctx: &ApiContext, target: ScoreTarget) -> Result<Vec<Score>, ApiError> {
    Ok(scores::list(&ctx.db, target).await?)
}

/// The scores set on a model's representations, by representation id and name.
pub(super) async fn representation_scores(
    ctx: &ApiContext,
    model_id: i64,
) -> Result<Vec<Score>, ApiError> {
    Ok(scores::of_representations(&ctx.db, model_id).await?)
}

pub(super) async fn job_counts(ctx: &ApiContext) -> Result<Vec<(JobStatus, i64)>, ApiError> {
    Ok(jobs::count_by_status(&ctx.db).await?)
}

pub(super) async fn failed_jobs(ctx: &ApiContext) -> Result<Vec<Job>, ApiError> {
    Ok(jobs::list(&ctx.db, Some(JobStatus::Failed), first_page())
        .await?
        .items)
}

pub(super) async fn retry_job(ctx: &ApiContext, id: i64) -> Result<Job, ApiError> {
    Ok(jobs::retry(&ctx.db, id).await?)
}

/// Asks for the distances of `pairs` under `metrics`, as `POST /v1/comparisons` does.
pub(super) async fn compare(
    ctx: &ApiContext,
    pairs: &[(i64, i64)],
    metrics: &[Metric],
    token_name: &str,
) -> Result<i64, ApiError> {
    let mut ids: Vec<i64> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
    ids.sort_unstable();
    ids.dedup();
    representations::check_same_dataset(&ctx.db, &ids).await?;
    Ok(
        comparisons::create(&ctx.db, pairs, metrics, Some(token_name))
            .await?
            .id,
    )
}
