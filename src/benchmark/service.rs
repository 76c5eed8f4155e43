//! The results service: a benchmark's correlation table from the distances known so far, the
//! points behind one group, and the team's leaderboard. It reads through `store` and computes
//! off the async runtime; HTTP and pages call it and only serialise.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sqlx::PgPool;

use super::leaderboard::{Leaderboard, Published, Statistic, rank};
use super::{
    Comparison, DistanceOutcome, Group, GroupKey, MetricResult, ScatterRow, Table, pairs_needed,
};
use crate::metrics::Metric;
use crate::stats::BootstrapOptions;
use crate::store::StoreError;
use crate::store::benchmarks::{self, RunSnapshot};
use crate::store::distances::{self, Outcome};
use crate::store::jobs::distance_key;
use crate::store::status::BenchmarkStatus;

/// Why the service could not answer.
#[derive(Debug, thiserror::Error)]
pub enum BenchmarkError {
    #[error(transparent)]
    Store(#[from] StoreError),

    /// The stored run no longer forms valid groups (its data changed under it).
    #[error("the benchmark's run no longer holds together ({0}); run it again")]
    RunBroken(String),

    #[error("benchmark {benchmark} does not compute {metric}")]
    MetricNotInBenchmark { benchmark: i64, metric: Metric },

    #[error("the benchmark has several groups; pick one with group=: {}", groups.join(", "))]
    GroupRequired { groups: Vec<String> },

    #[error("no group {wanted:?}; the groups are: {}", groups.join(", "))]
    UnknownGroup { wanted: String, groups: Vec<String> },

    /// Stored options or results do not decode, or the computation crashed: a server bug.
    #[error("{0}")]
    Internal(String),
}

/// A benchmark's correlation table.
#[derive(Clone, Debug, Serialize)]
pub struct Results {
    pub benchmark: i64,
    pub status: BenchmarkStatus,
    /// Some distances are not computed yet: the figures may still move.
    pub partial: bool,
    pub metrics: BTreeMap<Metric, MetricResult>,
    /// With a bootstrap, every ordered pair of distinct metrics compared on shared resamples;
    /// empty without one.
    pub comparisons: Vec<Comparison<Metric>>,
}

/// The points behind one metric's statistics in one group, for scatter plots.
#[derive(Clone, Debug, Serialize)]
pub struct PairRows {
    pub metric: Metric,
    pub group: GroupKey,
    pub reference: Option<i64>,
    /// x = d(first, second), y = |f(first) − f(second)|, rounded as the statistics see them.
    pub rows: Vec<ScatterRow>,
}

/// The results of a benchmark's current run: stored ones once complete, else computed from the
/// distances known so far (and stored when they turn out complete).
pub async fn results(db: &PgPool, id: i64) -> Result<Results, BenchmarkError> {
    let benchmark = benchmarks::get(db, id).await?;
    // Results stored before comparisons existed do not decode: they are computed again.
    let stored = benchmarks::stored_results(db, id)
        .await?
        .and_then(|stored| serde_json::from_value::<Table<Metric>>(stored).ok());
    if let Some(table) = stored {
        return Ok(Results {
            benchmark: id,
            status: benchmark.status,
            partial: false,
            metrics: table.metrics,
            comparisons: table.comparisons,
        });
    }
    let run = Run::load(db, id).await?;
    let bootstrap = run
        .snapshot
        .bootstrap
        .clone()
        .map(serde_json::from_value::<BootstrapOptions>)
        .transpose()
        .map_err(|error| BenchmarkError::Internal(format!("stored bootstrap options: {error}")))?;
    let run_at = run.snapshot.run_at;
    let table = tokio::task::spawn_blocking(move || {
        let lookup =
            |metric: &Metric, first: i64, second: i64| run.distance(*metric, first, second);
        super::results(
            &run.groups,
            &run.snapshot.metrics,
            lookup,
            bootstrap.as_ref(),
        )
    })
    .await
    .map_err(|error| BenchmarkError::Internal(format!("computing results: {error}")))?;
    let partial = table.metrics.values().any(|result| result.partial);
    if !partial {
        let stored = serde_json::to_value(&table)
            .map_err(|error| BenchmarkError::Internal(format!("serialising results: {error}")))?;
        benchmarks::store_results(db, id, run_at, &stored).await?;
    }
    Ok(Results {
        benchmark: id,
        status: benchmark.status,
        partial,
        metrics: table.metrics,
        comparisons: table.comparisons,
    })
}

/// The pairs behind `metric` in the group labelled `group` (optional when there is one group).
pub async fn pairs(
    db: &PgPool,
    id: i64,
    metric: Metric,
    group: Option<&str>,
) -> Result<PairRows, BenchmarkError> {
    let run = Run::load(db, id).await?;
    if !run.snapshot.metrics.contains(&metric) {
        return Err(BenchmarkError::MetricNotInBenchmark {
            benchmark: id,
            metric,
        });
    }
    let labels = || run.groups.iter().map(|group| group.key.label()).collect();
    let group = match (group, run.groups.as_slice()) {
        (None, [only]) => only,
        (None, _) => return Err(BenchmarkError::GroupRequired { groups: labels() }),
        (Some(wanted), groups) => groups
            .iter()
            .find(|group| group.key.label() == wanted)
            .ok_or_else(|| BenchmarkError::UnknownGroup {
                wanted: wanted.to_owned(),
                groups: labels(),
            })?,
    };
    let lookup = |metric: &Metric, first: i64, second: i64| run.distance(*metric, first, second);
    Ok(PairRows {
        metric,
        group: group.key.clone(),
        reference: group.reference,
        rows: super::scatter_rows(group, &metric, lookup),
    })
}

/// The metrics across the published benchmarks, best first.
pub async fn leaderboard(db: &PgPool) -> Result<Leaderboard, BenchmarkError> {
    let mut columns = Vec::new();
    for id in benchmarks::published_ids(db).await? {
        let name = benchmarks::get(db, id).await?.name;
        let results = results(db, id).await?;
        let values = results
            .metrics
            .iter()
            .map(|(metric, result)| {
                let value = result.statistics.correlations.as_ref().ok();
                (*metric, value.map(|correlations| correlations.spearman))
            })
            .collect();
        columns.push(Published {
            id,
            name,
            status: results.status,
            partial: results.partial,
            statistic: Statistic::Spearman,
            values,
            comparisons: results.comparisons,
        });
    }
    Ok(rank(columns))
}

/// A run's groups and the distances known for them.
struct Run {
    snapshot: RunSnapshot,
    groups: Vec<Group>,
    distances: HashMap<(Metric, i64, i64), Outcome>,
}

impl Run {
    async fn load(db: &PgPool, id: i64) -> Result<Run, BenchmarkError> {
        let snapshot = benchmarks::snapshot(db, id).await?;
        let groups = pairs_needed(&snapshot.members, &snapshot.protocol)
            .map_err(|error| BenchmarkError::RunBroken(error.to_string()))?;
        let ids: Vec<i64> = snapshot.members.iter().map(|member| member.id).collect();
        let distances = distances::among(db, &snapshot.metrics, &ids).await?;
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
