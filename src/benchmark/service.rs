//! The benchmark service: creating and re-running benchmarks (planned by `planning`, written by
//! `store`), a benchmark's correlation table from the distances known so far, the points behind
//! one group, and the team's leaderboard. It reads through `store` and computes off the async
//! runtime; HTTP and pages call it and only serialise.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sqlx::PgPool;

use super::functional::{Functional, ModelDifferences, OutputsDifference, model_differences};
use super::leaderboard::{Leaderboard, Published, Statistic, rank};
use super::planning::{self, FunctionalInput, PlanError};
use super::{
    Comparison, DistanceOutcome, FunctionalSource, Group, GroupKey, MetricResult, Protocol,
    ProtocolError, ScatterRow, Table, pairs_needed,
};
use crate::metrics::{ExternalName, MetricId};
use crate::stats::{BootstrapOptions, PermutationOptions};
use crate::store::StoreError;
use crate::store::benchmarks::{self, Benchmark, Candidate, RunPlanning, RunSnapshot};
use crate::store::distances::{self, Outcome};
use crate::store::external_metrics;
use crate::store::jobs::{distance_key, stored_order};
use crate::store::outputs;
use crate::store::status::BenchmarkStatus;

/// Why the service could not answer.
#[derive(Debug, thiserror::Error)]
pub enum BenchmarkError {
    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("the selection holds no representation of this dataset")]
    NothingSelected,

    #[error(
        "no selected representation has a score named {score:?} (on itself or its model); scores of this dataset: {}",
        if known.is_empty() { "none yet".to_owned() } else { known.join(", ") }
    )]
    UnknownScore { score: String, known: Vec<String> },

    /// The selected representations do not form the protocol's groups.
    #[error(transparent)]
    InvalidSelection(ProtocolError),

    #[error(
        "no selected representation's model has outputs on the dataset; upload them with PUT \
         /v1/models/{{id}}/outputs?dataset=NAME"
    )]
    NoOutputs,

    /// Two models' outputs cannot be compared (they differ in their number of classes).
    #[error("the models' outputs cannot be compared: {0}")]
    IncomparableOutputs(String),

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

/// Creates a benchmark and runs it: snapshots its selection and queues the missing distances.
/// `created_by` names the token asking, recorded on the benchmark and its comparison. The
/// definition's protocol is a serialised [`Protocol`].
pub async fn create(
    db: &PgPool,
    definition: &benchmarks::Definition,
    created_by: Option<&str>,
) -> Result<Benchmark, BenchmarkError> {
    let planning = benchmarks::begin_create(db, definition, created_by).await?;
    let id = plan_and_commit(db, planning, created_by).await?;
    Ok(benchmarks::get(db, id).await?)
}

/// Runs a benchmark again on the data as it is now; `run_by` names the token asking, recorded
/// on the run's comparison.
pub async fn rerun(
    db: &PgPool,
    id: i64,
    run_by: Option<&str>,
) -> Result<Benchmark, BenchmarkError> {
    let planning = benchmarks::begin_rerun(db, id).await?;
    plan_and_commit(db, planning, run_by).await?;
    Ok(benchmarks::get(db, id).await?)
}

async fn plan_and_commit(
    db: &PgPool,
    mut planning: RunPlanning,
    run_by: Option<&str>,
) -> Result<i64, BenchmarkError> {
    let definition = planning.definition().clone();
    let protocol = decode_protocol(definition.id, &definition.protocol)?;
    let functional = decode_functional(definition.id, definition.functional.as_ref())?;
    let candidates = planning.candidates().await?;
    let differences;
    let input = match &functional {
        Functional::ScoreDifference { score } => FunctionalInput::Score(score),
        Functional::Disagreement {} => {
            differences = outputs_differences(
                db,
                definition.dataset_id,
                &candidates,
                OutputsDifference::Disagreement,
            )
            .await?;
            FunctionalInput::Outputs(&differences)
        }
        Functional::Jsd {} => {
            differences = outputs_differences(
                db,
                definition.dataset_id,
                &candidates,
                OutputsDifference::Jsd,
            )
            .await?;
            FunctionalInput::Outputs(&differences)
        }
    };
    let plan = match planning::plan(&protocol, input, &definition.metrics, candidates) {
        Ok(plan) => plan,
        Err(PlanError::NothingSelected) => return Err(BenchmarkError::NothingSelected),
        Err(PlanError::NoScore) => {
            let known = planning.dataset_score_names().await?;
            let score = functional.score().unwrap_or_default().to_owned();
            return Err(BenchmarkError::UnknownScore { score, known });
        }
        Err(PlanError::NoOutputs) => return Err(BenchmarkError::NoOutputs),
        Err(PlanError::Protocol(error)) => return Err(BenchmarkError::InvalidSelection(error)),
    };
    Ok(planning.commit(&plan, run_by).await?)
}

/// y between the candidates' models, from their outputs on the dataset, computed off the async
/// runtime.
async fn outputs_differences(
    db: &PgPool,
    dataset_id: i64,
    candidates: &[Candidate],
    kind: OutputsDifference,
) -> Result<ModelDifferences, BenchmarkError> {
    let mut models: Vec<i64> = candidates
        .iter()
        .map(|candidate| candidate.model_id)
        .collect();
    models.sort_unstable();
    models.dedup();
    let logits = outputs::logits(db, dataset_id, &models).await?;
    tokio::task::spawn_blocking(move || model_differences(kind, &logits))
        .await
        .map_err(|error| BenchmarkError::Internal(format!("model differences: {error}")))?
        .map_err(|error| BenchmarkError::IncomparableOutputs(error.to_string()))
}

fn decode_protocol(id: i64, stored: &serde_json::Value) -> Result<Protocol, BenchmarkError> {
    serde_json::from_value(stored.clone())
        .map_err(|error| BenchmarkError::Internal(format!("benchmark {id} protocol: {error}")))
}

fn decode_functional(
    id: i64,
    stored: Option<&serde_json::Value>,
) -> Result<Functional, BenchmarkError> {
    let stored = stored
        .ok_or_else(|| BenchmarkError::Internal(format!("benchmark {id} has no functional")))?;
    serde_json::from_value(stored.clone())
        .map_err(|error| BenchmarkError::Internal(format!("benchmark {id} functional: {error}")))
}

/// A benchmark's correlation table.
#[derive(Clone, Debug, Serialize)]
pub struct Results {
    pub benchmark: i64,
    pub status: BenchmarkStatus,
    /// Some distances are not computed yet: the figures may still move.
    pub partial: bool,
    pub metrics: BTreeMap<MetricId, MetricResult>,
    /// With a bootstrap, every ordered pair of distinct metrics compared on shared resamples;
    /// empty without one.
    pub comparisons: Vec<Comparison<MetricId>>,
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
    let stored = benchmarks::stored_results(db, id).await?;
    if let Some(table) = stored.and_then(current_format) {
        let table: Table<MetricId> = serde_json::from_value(table)
            .map_err(|error| BenchmarkError::Internal(format!("stored results: {error}")))?;
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
    let permutation = run
        .snapshot
        .permutation
        .clone()
        .map(serde_json::from_value::<PermutationOptions>)
        .transpose()
        .map_err(|error| {
            BenchmarkError::Internal(format!("stored permutation options: {error}"))
        })?;
    let run_at = run.snapshot.run_at;
    let table = tokio::task::spawn_blocking(move || {
        let lookup =
            |metric: &MetricId, first: i64, second: i64| run.distance(*metric, first, second);
        super::results(
            &run.groups,
            &run.snapshot.metrics,
            lookup,
            bootstrap.as_ref(),
            permutation.as_ref(),
        )
    })
    .await
    .map_err(|error| BenchmarkError::Internal(format!("computing results: {error}")))?;
    let partial = table.metrics.values().any(|result| result.partial);
    if !partial {
        let serialised = serde_json::to_value(&table)
            .map_err(|error| BenchmarkError::Internal(format!("serialising results: {error}")))?;
        let stored = serde_json::json!({"format": RESULTS_FORMAT, "table": serialised});
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

/// The shape of stored results; those of another shape (an older service's, holding fewer
/// statistics) are computed again on their next read and stored anew.
const RESULTS_FORMAT: u32 = 4;

/// The metrics of stored results when they have the current shape.
fn current_format(mut stored: serde_json::Value) -> Option<serde_json::Value> {
    let format = stored.get("format")?.as_u64()?;
    (format == u64::from(RESULTS_FORMAT)).then(|| stored["table"].take())
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
    let group = run.group(group)?;
    Ok(run.pair_rows(group, metric))
}

/// The pairs behind every metric of the benchmark in one group, in the run's metric order: one
/// load of the run and its distances however many metrics there are.
pub async fn group_pairs(
    db: &PgPool,
    id: i64,
    group: Option<&str>,
) -> Result<Vec<PairRows>, BenchmarkError> {
    let run = Run::load(db, id).await?;
    let group = run.group(group)?;
    Ok(run
        .snapshot
        .metrics
        .iter()
        .map(|metric| run.pair_rows(group, *metric))
        .collect())
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
    Ok(leaderboard_with_results(db).await?.0)
}

/// The leaderboard and, in the order of its columns, the results each column was read from (for
/// what a column shows beyond its values, such as their intervals), each computed once.
pub async fn leaderboard_with_results(
    db: &PgPool,
) -> Result<(Leaderboard, Vec<Results>), BenchmarkError> {
    let mut columns = Vec::new();
    let mut column_results = Vec::new();
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
            comparisons: results.comparisons.clone(),
        });
        column_results.push(results);
    }
    Ok((rank(columns), column_results))
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
        let protocol = decode_protocol(id, &snapshot.protocol)?;
        let members = planning::representations(&snapshot.members).ok_or_else(|| {
            BenchmarkError::Internal(format!(
                "benchmark {id}: a stored group key does not decode"
            ))
        })?;
        let differences = snapshot.model_differences.as_ref().map(|stored| {
            let models = members.iter().map(|member| member.model).collect();
            ModelDifferences::from_stored(models, stored)
        });
        let source = match &differences {
            Some(differences) => FunctionalSource::Models(differences),
            None => FunctionalSource::Scores,
        };
        let groups = pairs_needed(&members, &protocol, source)
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

    /// The group labelled `wanted`, or the only group when none is named.
    fn group(&self, wanted: Option<&str>) -> Result<&Group, BenchmarkError> {
        let labels = || self.groups.iter().map(|group| group.key.label()).collect();
        match (wanted, self.groups.as_slice()) {
            (None, [only]) => Ok(only),
            (None, _) => Err(BenchmarkError::GroupRequired { groups: labels() }),
            (Some(wanted), groups) => groups
                .iter()
                .find(|group| group.key.label() == wanted)
                .ok_or_else(|| BenchmarkError::UnknownGroup {
                    wanted: wanted.to_owned(),
                    groups: labels(),
                }),
        }
    }

    fn pair_rows(&self, group: &Group, metric: MetricId) -> PairRows {
        let lookup =
            |metric: &MetricId, first: i64, second: i64| self.distance(*metric, first, second);
        PairRows {
            metric,
            group: group.key.clone(),
            reference: group.reference,
            rows: super::scatter_rows(group, &metric, lookup),
        }
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
