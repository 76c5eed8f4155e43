//! Benchmarks, by concern: their definitions and publication, the rows of each run (the
//! candidates it is planned from, its members and the distances it queues), stored results, and
//! staleness.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::status::BenchmarkStatus;
use crate::metrics::MetricId;

pub use definitions::{delete, get, list, published_ids, set_published};
pub use results::{store_results, stored_results};
pub use runs::{
    Candidate, LeftOut, Member, PlannedRun, RunPlanning, RunSnapshot, StoredDefinition,
    begin_create, begin_rerun, snapshot,
};
pub use staleness::{
    PlanningHeldOff, hold_off_planning, mark_stale_for_deleted, mark_stale_for_distances,
    mark_stale_for_model, mark_stale_for_new_representation, mark_stale_for_outputs,
    mark_stale_for_score,
};

/// Which representations of the dataset a benchmark takes; an absent field does not restrict.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<i64>>,
    /// Models carrying every one of these tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Models whose metadata contains this object (each key with this value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<i32>>,
    /// Whether derived copies (principal-component deletions) take part.
    #[serde(default)]
    pub include_derived: bool,
}

/// A benchmark's definition as stored; `benchmark` validates it before it gets here.
#[derive(Clone, Debug)]
pub struct Definition {
    pub name: String,
    pub description: Option<String>,
    pub dataset: String,
    pub selection: Selection,
    /// The score whose differences are y, when they are (the functional's own `score`).
    pub score: Option<String>,
    /// What y is, a serialised `benchmark::Functional`.
    pub functional: Option<Value>,
    pub protocol: Value,
    pub metrics: Vec<MetricId>,
    /// The validated bootstrap request, as the client wrote it.
    pub bootstrap: Option<Value>,
    /// The validated permutation request, with its defaults filled in.
    pub permutation: Option<Value>,
}

/// The score a benchmark's y is the difference of: serialises as its name, or `null` when y comes
/// from something else (model outputs); displays as the name, or as what y is then.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScoreName(pub Option<String>);

impl fmt::Display for ScoreName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_deref().unwrap_or("model outputs"))
    }
}

/// y between two models of a run, from their outputs (`a` < `b`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "(i64, i64, f64)", into = "(i64, i64, f64)")]
pub struct ModelDifference {
    pub a: i64,
    pub b: i64,
    pub value: f64,
}

impl From<(i64, i64, f64)> for ModelDifference {
    fn from((a, b, value): (i64, i64, f64)) -> ModelDifference {
        ModelDifference { a, b, value }
    }
}

impl From<ModelDifference> for (i64, i64, f64) {
    fn from(difference: ModelDifference) -> (i64, i64, f64) {
        (difference.a, difference.b, difference.value)
    }
}

/// A benchmark as the API shows it (and its clients read it).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Benchmark {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub dataset: String,
    pub select: Value,
    pub score: ScoreName,
    pub functional: Option<Value>,
    pub protocol: Value,
    pub metrics: Vec<String>,
    pub bootstrap: Option<Value>,
    pub permutation: Option<Value>,
    pub status: BenchmarkStatus,
    pub progress: Progress,
    pub n_representations: i64,
    pub left_out: Value,
    pub comparison_id: Option<i64>,
    pub published: bool,
    pub published_at: Option<DateTime<Utc>>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub run_at: DateTime<Utc>,
}

/// The distance work of the current run, in comparison items (see `store::comparisons`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Progress {
    pub total: i64,
    pub done: i64,
    pub failed: i64,
    pub running: i64,
    pub queued: i64,
}

/// The representations of `benchmarks b` that its selection takes, as `r` joined with its model
/// `m`. Kept in one place: runs and staleness checks must agree on what a selection holds.
macro_rules! selection_predicate {
    () => {
        "r.dataset_id = b.dataset_id
         AND (b.selection -> 'models' IS NULL OR r.model_id IN
                (SELECT value::bigint FROM jsonb_array_elements_text(b.selection -> 'models')))
         AND (b.selection -> 'tags' IS NULL OR m.tags @>
                ARRAY(SELECT jsonb_array_elements_text(b.selection -> 'tags')))
         AND (b.selection -> 'metadata' IS NULL OR m.metadata @> (b.selection -> 'metadata'))
         AND (b.selection -> 'layers' IS NULL OR r.layer IN
                (SELECT value::integer FROM jsonb_array_elements_text(b.selection -> 'layers')))
         AND (r.parent_id IS NULL OR coalesce((b.selection ->> 'include_derived')::boolean, false))"
    };
}

/// The score of name `b.score_name` that applies to representation `r`: its own, else its
/// model's.
macro_rules! applicable_score {
    () => {
        "coalesce(
            (SELECT s.value FROM scores s
             WHERE s.representation_id = r.id AND s.name = b.score_name),
            (SELECT s.value FROM scores s WHERE s.model_id = r.model_id AND s.name = b.score_name))"
    };
}

// After the macros: they are in scope only for the modules declared below them.
mod definitions;
mod results;
mod runs;
mod staleness;
