//! The results service: a benchmark's correlation table from the distances known so far, the
//! points behind one group, and the team's leaderboard. It reads through `store` and computes
//! off the async runtime; HTTP and pages call it and only serialise.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sqlx::PgPool;

use super::leaderboard::{Leaderboard, Published, rank};
use super::{DistanceOutcome, Group, GroupKey, MetricResult, ScatterRow, pairs_needed};
use crate::metrics::{ExternalName, MetricId};
use crate::stats::BootstrapOptions;
use crate::store::StoreError;
use crate::store::benchmarks::{self, RunSnapshot};
use crate::store::distances::{self, Outcome};
use crate::store::external_metrics;
use crate::store::jobs::{distance_key, stored_order};
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
    MetricNotInBenchmark { benchmark: i64, metric: MetricId },

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
    pub metrics: BTreeMap<MetricId, MetricResult>,
}

/// The points behind one metric's statistics in one group, for scatter plots.
#[derive(Clone, Debug, Serialize)]
pub struct PairRows {
    pub metric: MetricId,
    pub group: GroupKey,
    pub reference: Option<i64>,
    /// x = d(first, second), y = |f(first) − f(second)|, rounded as the statistics see them.
    pub rows: Vec<ScatterRow>,
}

/// The results of a benchmark's current run: stored ones once complete, else computed from the
/// distances known so far (and stored when they turn out complete).
pub async fn results(db: &PgPool, id: i64) -> Result<Results, BenchmarkError> {
    let benchmark = benchmarks::get(db, id).await?;
    if let Some(stored) = benchmarks::stored_results(db, id).await? {
        let metrics = serde_json::from_value(stored)
            .map_err(|error| BenchmarkError::Internal(format!("stored results: {error}")))?;
        return Ok(Results {
            benchmark: id,
            status: benchmark.status,
            partial: false,
            metrics,
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
    let metrics = tokio::task::spawn_blocking(move || {
        let lookup =
            |metric: &MetricId, first: i64, second: i64| run.distance(*metric, first, second);
        super::results(
            &run.groups,
            &run.snapshot.metrics,
            lookup,
            bootstrap.as_ref(),
        )
    })
    .await
    .map_err(|error| BenchmarkError::Internal(format!("computing results: {error}")))?;
    let partial = metrics.values().any(|result| result.partial);
    if !partial {
        let stored = serde_json::to_value(&metrics)
            .map_err(|error| BenchmarkError::Internal(format!("serialising results: {error}")))?;
        benchmarks::store_results(db, id, run_at, &stored).await?;
    }
    Ok(Results {
        benchmark: id,
        status: benchmark.status,
        partial,
        metrics,
    })
}

/// The pairs behind `metric` in the group labelled `group` (optional when there is one group).
pub async fn pairs(
    db: &PgPool,
    id: i64,
    metric: MetricId,
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
    let lookup = |metric: &MetricId, first: i64, second: i64| run.distance(*metric, first, second);
    Ok(PairRows {
        metric,
        group: group.key.clone(),
        reference: group.reference,
        rows: super::scatter_rows(group, &metric, lookup),
    })
}

/// The distances of one metric a benchmark's current run needs: every pair as stored (lower id
/// first for a symmetric metric, else as the protocol asks it), once, in ascending order, with
/// whether it is still missing.
#[derive(Clone, Debug)]
pub struct NeededPairs {
    pub metric: MetricId,
    pub pairs: Vec<NeededPair>,
}

#[derive(Clone, Copy, Debug)]
pub struct NeededPair {
    pub a: i64,
    pub b: i64,
    pub missing: bool,
}

/// The pairs the current run of benchmark `id` needs under `metric`.
pub async fn needed_pairs(
    db: &PgPool,
    id: i64,
    metric: MetricId,
) -> Result<NeededPairs, BenchmarkError> {
    let run = Run::load(db, id).await?;
    if !run.snapshot.metrics.contains(&metric) {
        return Err(BenchmarkError::MetricNotInBenchmark {
            benchmark: id,
            metric,
        });
    }
    let mut keys: Vec<(i64, i64)> = run
        .groups
        .iter()
        .flat_map(|group| group.pairs.iter())
        .filter(|pair| !pair.is_self_pair())
        .map(|pair| run.key(metric, pair.first, pair.second))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let pairs = keys
        .into_iter()
        .map(|(a, b)| NeededPair {
            a,
            b,
            missing: !run.distances.contains_key(&(metric, a, b)),
        })
        .collect();
    Ok(NeededPairs { metric, pairs })
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
            values,
        });
    }
    Ok(rank(columns))
}

/// A run's groups and the distances known for them.
struct Run {
    snapshot: RunSnapshot,
    groups: Vec<Group>,
    distances: HashMap<(MetricId, i64, i64), Outcome>,
    /// The symmetry of the run's external metrics, which decides where their distances are.
    external_symmetry: HashMap<ExternalName, bool>,
}

impl Run {
    async fn load(db: &PgPool, id: i64) -> Result<Run, BenchmarkError> {
        let snapshot = benchmarks::snapshot(db, id).await?;
        let groups = pairs_needed(&snapshot.members, &snapshot.protocol)
            .map_err(|error| BenchmarkError::RunBroken(error.to_string()))?;
        let ids: Vec<i64> = snapshot.members.iter().map(|member| member.id).collect();
        let distances = distances::among(db, &snapshot.metrics, &ids).await?;
        let external: Vec<ExternalName> = snapshot
            .metrics
            .iter()
            .filter_map(|metric| metric.external())
            .collect();
        let external_symmetry = external_metrics::symmetry(db, &external).await?;
        Ok(Run {
            snapshot,
            groups,
            distances,
            external_symmetry,
        })
    }

    /// Where the distance of `metric` for the pair asked as (first, second) is stored.
    fn key(&self, metric: MetricId, first: i64, second: i64) -> (i64, i64) {
        match metric {
            MetricId::BuiltIn(metric) => distance_key(metric, first, second),
            MetricId::External(name) => {
                let symmetric = self.external_symmetry.get(&name).copied().unwrap_or(false);
                stored_order(symmetric, first, second)
            }
        }
    }

    fn distance(&self, metric: MetricId, first: i64, second: i64) -> Option<DistanceOutcome> {
        let (a, b) = self.key(metric, first, second);
        self.distances
            .get(&(metric, a, b))
            .map(|outcome| match outcome {
                Ok(value) => DistanceOutcome::Value(*value),
                Err(_) => DistanceOutcome::Refused,
            })
    }
}
