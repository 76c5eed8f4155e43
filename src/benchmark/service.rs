//! The benchmark service: creating and re-running benchmarks (planned by `planning`, written by
//! `store`), a benchmark's correlation table from the distances known so far, the points behind
//! one group, and the team's leaderboard. It reads through `store` and computes off the async
//! runtime; HTTP and pages call it and only serialise.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::by_kind::MetricResults;
use super::functional::{Functional, ModelDifferences, OutputsDifference, model_differences};
use super::leaderboard::{Leaderboard, Published, Statistic, rank};
use super::planning::{self, FunctionalInput, PlanError, RunGroups};
use super::{
    Comparison, DistanceOutcome, FunctionalSource, Group, GroupKey, ModelStack, Protocol,
    ProtocolError, ScatterRow, SeparationGroup, Table, monotonicity_result, separation_result,
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

    /// A separation benchmark whose selected models have no class.
    #[error(
        "no selected representation's model has {by:?} in its metadata, so none falls into a \
         design class"
    )]
    NoClass { by: String },

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
    let candidates = planning.candidates().await?;
    let planned = match &protocol {
        Protocol::Reference { .. } | Protocol::AllPairs { .. } => {
            let functional = decode_functional(definition.id, definition.functional.as_ref())?;
            let differences;
            let input = match (functional.score(), functional.outputs_difference()) {
                (Some(score), _) => FunctionalInput::Score(score),
                (None, Some(kind)) => {
                    differences =
                        outputs_differences(db, definition.dataset_id, &candidates, kind).await?;
                    FunctionalInput::Outputs(&differences)
                }
                (None, None) => {
                    return Err(BenchmarkError::Internal(format!(
                        "benchmark {}: a functional without a score or outputs",
                        definition.id
                    )));
                }
            };
            planning::plan(&protocol, input, &definition.metrics, candidates)
        }
        Protocol::Separation(separation) => {
            planning::plan_separation(separation, &definition.metrics, candidates)
        }
        Protocol::Monotonicity(_) => planning::plan_monotonicity(&definition.metrics, candidates),
    };
    let plan = match planned {
        Ok(plan) => plan,
        Err(PlanError::NoScore) => {
            let known = planning.dataset_score_names().await?;
            let score = definition.score_name.clone().unwrap_or_default();
            return Err(BenchmarkError::UnknownScore { score, known });
        }
        Err(PlanError::NothingSelected) => return Err(BenchmarkError::NothingSelected),
        Err(PlanError::NoOutputs) => return Err(BenchmarkError::NoOutputs),
        Err(PlanError::NoClass(by)) => return Err(BenchmarkError::NoClass { by }),
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

/// A benchmark's results, in the form of its protocol's kind.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Results {
    pub benchmark: i64,
    pub status: BenchmarkStatus,
    /// Some distances are not computed yet: the figures may still move.
    pub partial: bool,
    /// The statistic each metric's benchmark value is.
    pub statistic: Statistic,
    /// `kind` and each metric's result of that kind.
    #[serde(flatten)]
    pub metrics: MetricResults,
    /// With a bootstrap, every ordered pair of distinct metrics compared on shared resamples;
    /// empty without one.
    pub comparisons: Vec<Comparison<MetricId>>,
}

/// Results as stored once complete: `{"format": RESULTS_FORMAT, "table": StoredTable}`.
#[derive(Serialize, Deserialize)]
struct StoredTable {
    #[serde(flatten)]
    metrics: MetricResults,
    comparisons: Vec<Comparison<MetricId>>,
}

/// The points behind one metric's figures in one group, for scatter plots.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PairRows {
    pub metric: MetricId,
    /// The group's key; for monotonicity, the model's name.
    pub group: GroupKey,
    pub reference: Option<i64>,
    /// x = d(first, second) rounded as the statistics see it; y = the pair's functional
    /// difference (correlation), 1 across design classes and 0 within one (separation), or the
    /// number of layers between the two (monotonicity).
    pub rows: Vec<ScatterRow>,
    /// For monotonicity, the model's representations in depth order; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<StackLayer>,
}

/// A representation of a monotonicity benchmark's model, at its layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackLayer {
    pub layer: i64,
    pub representation: i64,
}

/// The results of a benchmark's current run: stored ones once complete, else computed from the
/// distances known so far (and stored when they turn out complete).
pub async fn results(db: &PgPool, id: i64) -> Result<Results, BenchmarkError> {
    let benchmark = benchmarks::get(db, id).await?;
    let stored = benchmarks::stored_results(db, id).await?;
    let results = |table: StoredTable, partial: bool| Results {
        benchmark: id,
        status: benchmark.status,
        partial,
        statistic: table.metrics.statistic(),
        metrics: table.metrics,
        comparisons: table.comparisons,
    };
    if let Some(table) = stored.and_then(current_format) {
        let table: StoredTable = serde_json::from_value(table)
            .map_err(|error| BenchmarkError::Internal(format!("stored results: {error}")))?;
        return Ok(results(table, false));
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
    let table =
        tokio::task::spawn_blocking(move || run.table(bootstrap.as_ref(), permutation.as_ref()))
            .await
            .map_err(|error| BenchmarkError::Internal(format!("computing results: {error}")))?;
    let partial = table.metrics.partial();
    if !partial {
        let serialised = serde_json::to_value(&table)
            .map_err(|error| BenchmarkError::Internal(format!("serialising results: {error}")))?;
        let stored = serde_json::json!({"format": RESULTS_FORMAT, "table": serialised});
        benchmarks::store_results(db, id, run_at, &stored).await?;
    }
    Ok(results(table, partial))
}

/// The shape of stored results; those of another shape (an older service's, holding fewer
/// statistics or no kind) are computed again on their next read and stored anew.
const RESULTS_FORMAT: u32 = 5;

/// The table of stored results when they have the current shape.
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
        .pairs()
        .into_iter()
        .map(|(first, second)| run.key(metric, first, second))
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
        columns.push(Published {
            id,
            name,
            status: results.status,
            partial: results.partial,
            statistic: results.statistic,
            values: results.metrics.values(),
            comparisons: results.comparisons.clone(),
        });
        column_results.push(results);
    }
    Ok((rank(columns), column_results))
}

/// A run's groups and the distances known for them.
struct Run {
    snapshot: RunSnapshot,
    groups: RunGroups,
    distances: HashMap<(MetricId, i64, i64), Outcome>,
    /// The symmetry of the run's external metrics, which decides where their distances are.
    external_symmetry: HashMap<ExternalName, bool>,
}

/// One group of a run, found by its label.
#[derive(Clone, Copy)]
enum RunGroup<'a> {
    Correlation(&'a Group),
    Separation(&'a SeparationGroup),
    Monotonicity(&'a ModelStack),
}

impl Run {
    async fn load(db: &PgPool, id: i64) -> Result<Run, BenchmarkError> {
        let snapshot = benchmarks::snapshot(db, id).await?;
        let protocol = decode_protocol(id, &snapshot.protocol)?;
        let differences = snapshot.model_differences.as_ref().map(|stored| {
            let models = snapshot
                .members
                .iter()
                .map(|member| member.model_id)
                .collect();
            ModelDifferences::from_stored(models, stored)
        });
        let source = match &differences {
            Some(differences) => FunctionalSource::Models(differences),
            None => FunctionalSource::Scores,
        };
        let groups = RunGroups::of(&protocol, &snapshot.members, source)
            .map_err(BenchmarkError::RunBroken)?;
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

    /// Each metric's result from the distances known.
    fn table(
        &self,
        bootstrap: Option<&BootstrapOptions>,
        permutation: Option<&PermutationOptions>,
    ) -> StoredTable {
        let metrics = &self.snapshot.metrics;
        match &self.groups {
            RunGroups::Correlation(groups) => {
                let lookup = |metric: &MetricId, first: i64, second: i64| {
                    self.distance(*metric, first, second)
                };
                let Table {
                    metrics,
                    comparisons,
                } = super::results(groups, metrics, lookup, bootstrap, permutation);
                StoredTable {
                    metrics: MetricResults::Correlation(metrics),
                    comparisons,
                }
            }
            RunGroups::Separation(groups) => StoredTable {
                metrics: MetricResults::Separation(
                    metrics
                        .iter()
                        .map(|metric| {
                            let lookup = |first, second| self.distance(*metric, first, second);
                            (*metric, separation_result(groups, lookup))
                        })
                        .collect(),
                ),
                comparisons: Vec::new(),
            },
            RunGroups::Monotonicity(stacks) => StoredTable {
                metrics: MetricResults::Monotonicity(
                    metrics
                        .iter()
                        .map(|metric| {
                            let lookup = |first, second| self.distance(*metric, first, second);
                            (*metric, monotonicity_result(stacks, lookup))
                        })
                        .collect(),
                ),
                comparisons: Vec::new(),
            },
        }
    }

    /// The group labelled `wanted`, or the only group when none is named.
    fn group(&self, wanted: Option<&str>) -> Result<RunGroup<'_>, BenchmarkError> {
        let labels = self.groups.labels();
        let index = match (wanted, labels.len()) {
            (None, 1) => 0,
            (None, _) => return Err(BenchmarkError::GroupRequired { groups: labels }),
            (Some(wanted), _) => {
                labels
                    .iter()
                    .position(|label| label == wanted)
                    .ok_or_else(|| BenchmarkError::UnknownGroup {
                        wanted: wanted.to_owned(),
                        groups: labels.clone(),
                    })?
            }
        };
        Ok(match &self.groups {
            RunGroups::Correlation(groups) => RunGroup::Correlation(&groups[index]),
            RunGroups::Separation(groups) => RunGroup::Separation(&groups[index]),
            RunGroups::Monotonicity(stacks) => RunGroup::Monotonicity(&stacks[index]),
        })
    }

    fn pair_rows(&self, group: RunGroup<'_>, metric: MetricId) -> PairRows {
        let lookup = |first: i64, second: i64| self.distance(metric, first, second);
        let symmetric = self.is_symmetric(metric);
        match group {
            RunGroup::Correlation(group) => PairRows {
                metric,
                group: group.key.clone(),
                reference: group.reference,
                rows: super::scatter_rows(group, &metric, |metric: &MetricId, first, second| {
                    self.distance(*metric, first, second)
                }),
                layers: Vec::new(),
            },
            RunGroup::Separation(group) => PairRows {
                metric,
                group: group.key.clone(),
                reference: None,
                rows: group.scatter_rows(symmetric, lookup),
                layers: Vec::new(),
            },
            RunGroup::Monotonicity(stack) => PairRows {
                metric,
                group: GroupKey::Metadata(stack.name.clone()),
                reference: None,
                rows: stack.scatter_rows(symmetric, lookup),
                layers: stack
                    .layers
                    .iter()
                    .map(|&(layer, representation)| StackLayer {
                        layer,
                        representation,
                    })
                    .collect(),
            },
        }
    }

    /// Whether d(a, b) = d(b, a) under `metric`: a client's metric as it registered.
    fn is_symmetric(&self, metric: MetricId) -> bool {
        match metric {
            MetricId::BuiltIn(metric) => metric.is_symmetric(),
            MetricId::External(name) => self.external_symmetry.get(&name).copied().unwrap_or(false),
        }
    }

    /// Where the distance of `metric` for the pair asked as (first, second) is stored.
    fn key(&self, metric: MetricId, first: i64, second: i64) -> (i64, i64) {
        match metric {
            MetricId::BuiltIn(metric) => distance_key(metric, first, second),
            MetricId::External(_) => stored_order(self.is_symmetric(metric), first, second),
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
