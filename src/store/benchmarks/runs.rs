//! A run's rows: the candidates its selection takes, and the planned run (members, what is left
//! out, the comparison queueing its distances) written in the transaction that read them. What
//! the plan holds is decided by `benchmark::planning`; this module only reads and writes it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgPool, Postgres, Transaction};

use super::super::comparisons;
use super::super::error::StoreError;
use super::super::external_metrics;
use super::staleness::exclude_writes;
use super::{Definition, ModelDifference};
use crate::metrics::{ExternalName, Metric, MetricId};

/// A benchmark row locked for planning its run; dropping it without [`RunPlanning::commit`]
/// leaves the benchmark as it was (or, when it was being created, absent).
pub struct RunPlanning {
    tx: Transaction<'static, Postgres>,
    stored: StoredDefinition,
}

/// What a run is planned from, as the benchmark row holds it.
#[derive(Clone, Debug)]
pub struct StoredDefinition {
    pub id: i64,
    pub dataset_id: i64,
    pub score_name: Option<String>,
    /// A serialised `benchmark::Functional`.
    pub functional: Option<Value>,
    pub protocol: Value,
    pub metrics: Vec<MetricId>,
}

/// A representation the selection takes, with what planning needs of it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Candidate {
    pub id: i64,
    pub model_id: i64,
    pub model_name: String,
    pub layer: i32,
    pub derived: bool,
    pub model_metadata: Value,
    /// The benchmark's score: the representation's own, else its model's.
    pub score: Option<f64>,
}

/// A member of a run as stored: its score (when y is a score difference), its group, encoded by
/// the planner, and its model.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub id: i64,
    pub model_id: i64,
    pub score: Option<f64>,
    pub group_key: Value,
    pub derived: bool,
}

/// A representation of the selection the run does not take, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LeftOut {
    pub representation: i64,
    pub reason: String,
}

/// A run as planned: written in one transaction with the comparison queueing `pairs`.
#[derive(Clone, Debug, Default)]
pub struct PlannedRun {
    pub members: Vec<Member>,
    pub left_out: Vec<LeftOut>,
    /// The distances the run needs, each (first, second) once; self-pairs excluded.
    pub pairs: Vec<(i64, i64)>,
    /// With y from model outputs, y between every two of the members' models.
    pub model_differences: Option<Vec<ModelDifference>>,
}

/// Inserts a benchmark and locks it for planning its first run; no write that could make the run
/// stale commits until the run does (see `staleness`).
pub async fn begin_create(
    db: &PgPool,
    definition: &Definition,
    created_by: Option<&str>,
) -> Result<RunPlanning, StoreError> {
    let mut tx = db.begin().await?;
    exclude_writes(&mut tx).await?;
    let dataset_id: i64 = sqlx::query_scalar("SELECT id FROM datasets WHERE name = $1")
        .bind(&definition.dataset)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| {
            StoreError::invalid(
                "unknown_dataset",
                format!("there is no dataset named {:?}", definition.dataset),
            )
        })?;
    let external: Vec<ExternalName> = definition
        .metrics
        .iter()
        .filter_map(|metric| metric.external())
        .collect();
    let registered = external_metrics::lock_registered(&mut tx, &external).await?;
    if let Some(unknown) = external.iter().find(|name| !registered.contains_key(name)) {
        return Err(StoreError::invalid(
            "unknown_metric",
            format!("no external metric named {unknown}; register it with POST /v1/metrics"),
        ));
    }
    let metric_names: Vec<String> = definition
        .metrics
        .iter()
        .map(|metric| metric.name())
        .collect();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO benchmarks
             (name, description, dataset_id, selection, score_name, functional, protocol, metrics,
              bootstrap, permutation, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         RETURNING id",
    )
    .bind(&definition.name)
    .bind(definition.description.as_deref())
    .bind(dataset_id)
    .bind(serde_json::json!(definition.selection))
    .bind(definition.score.as_deref())
    .bind(&definition.functional)
    .bind(&definition.protocol)
    .bind(&metric_names)
    .bind(&definition.bootstrap)
    .bind(&definition.permutation)
    .bind(created_by)
    .fetch_one(&mut *tx)
    .await?;
    Ok(RunPlanning {
        tx,
        stored: StoredDefinition {
            id,
            dataset_id,
            score_name: definition.score.clone(),
            functional: definition.functional.clone(),
            protocol: definition.protocol.clone(),
            metrics: definition.metrics.clone(),
        },
    })
}

/// Locks an existing benchmark for planning a new run on the data as it is now, with the writes
/// that could make the run stale held off as for a new one.
pub async fn begin_rerun(db: &PgPool, id: i64) -> Result<RunPlanning, StoreError> {
    let mut tx = db.begin().await?;
    exclude_writes(&mut tx).await?;
    type Stored = (Value, Vec<String>, Option<String>, Option<Value>, i64);
    let row: Option<Stored> = sqlx::query_as(
        "SELECT protocol, metrics, score_name, functional, dataset_id FROM benchmarks
         WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let (protocol, metric_names, score_name, functional, dataset_id) =
        row.ok_or_else(|| StoreError::not_found("benchmark", id))?;
    Ok(RunPlanning {
        tx,
        stored: StoredDefinition {
            id,
            dataset_id,
            score_name,
            functional,
            protocol,
            metrics: decode_metrics(id, &metric_names)?,
        },
    })
}

impl RunPlanning {
    pub fn definition(&self) -> &StoredDefinition {
        &self.stored
    }

    /// The representations the selection takes, by ascending id, with the benchmark's score.
    pub async fn candidates(&mut self) -> Result<Vec<Candidate>, StoreError> {
        Ok(sqlx::query_as::<_, Candidate>(concat!(
            "SELECT r.id, r.model_id, m.name AS model_name, r.layer,
                    r.parent_id IS NOT NULL AS derived,
                    m.metadata AS model_metadata, ",
            applicable_score!(),
            " AS score
             FROM benchmarks b
             JOIN representations r ON true
             JOIN models m ON m.id = r.model_id
             WHERE b.id = $1 AND ",
            selection_predicate!(),
            " ORDER BY r.id"
        ))
        .bind(self.stored.id)
        .fetch_all(&mut *self.tx)
        .await?)
    }

    /// The score names of the benchmark's dataset, for telling a client which ones exist.
    pub async fn dataset_score_names(&mut self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT s.name FROM scores s
             LEFT JOIN representations r ON r.id = s.representation_id
             LEFT JOIN representations mr ON mr.model_id = s.model_id
             WHERE r.dataset_id = $1 OR mr.dataset_id = $1
             ORDER BY s.name",
        )
        .bind(self.stored.dataset_id)
        .fetch_all(&mut *self.tx)
        .await?)
    }

    /// Writes the planned run in place of the previous one and queues its distances; `run_by`
    /// names the token asking, recorded on the run's comparison. Returns the benchmark's id.
    pub async fn commit(
        mut self,
        plan: &PlannedRun,
        run_by: Option<&str>,
    ) -> Result<i64, StoreError> {
        let id = self.stored.id;
        let tx = &mut self.tx;
        // The workers compute the built-in metrics; clients send the others.
        let built_in: Vec<Metric> = self
            .stored
            .metrics
            .iter()
            .filter_map(|metric| metric.built_in())
            .collect();
        let comparison_id = comparisons::insert(tx, &plan.pairs, &built_in, run_by).await?;
        sqlx::query("DELETE FROM benchmark_members WHERE benchmark_id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        let ids: Vec<i64> = plan.members.iter().map(|member| member.id).collect();
        let scores: Vec<Option<f64>> = plan.members.iter().map(|member| member.score).collect();
        let groups: Vec<Value> = plan
            .members
            .iter()
            .map(|member| member.group_key.clone())
            .collect();
        let derived: Vec<bool> = plan.members.iter().map(|member| member.derived).collect();
        sqlx::query(
            "INSERT INTO benchmark_members (benchmark_id, representation_id, score, group_key, derived)
             SELECT $1, * FROM unnest($2::bigint[], $3::float8[], $4::jsonb[], $5::boolean[])",
        )
        .bind(id)
        .bind(&ids)
        .bind(&scores)
        .bind(&groups)
        .bind(&derived)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "UPDATE benchmarks SET comparison_id = $2, left_out = $3, model_differences = $4,
                    stale = false, results = NULL, run_at = now()
             WHERE id = $1",
        )
        .bind(id)
        .bind(comparison_id)
        .bind(serde_json::json!(plan.left_out))
        .bind(
            plan.model_differences
                .as_ref()
                .map(|differences| serde_json::json!(differences)),
        )
        .execute(&mut **tx)
        .await?;
        self.tx.commit().await?;
        Ok(id)
    }
}

fn decode_metrics(id: i64, metric_names: &[String]) -> Result<Vec<MetricId>, StoreError> {
    metric_names
        .iter()
        .map(|name| name.parse::<MetricId>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| StoreError::Corrupt(format!("benchmark {id}: {error}")))
}

/// Everything needed to compute a benchmark's results: its run's members and definition.
pub struct RunSnapshot {
    /// The protocol as stored; `benchmark` decodes it, and the functional likewise.
    pub protocol: Value,
    pub functional: Option<Value>,
    pub metrics: Vec<MetricId>,
    pub bootstrap: Option<Value>,
    pub permutation: Option<Value>,
    /// With y from model outputs, y between every two of the members' models.
    pub model_differences: Option<Vec<ModelDifference>>,
    /// By ascending id.
    pub members: Vec<Member>,
    /// When the run was made, so results computed from it are not stored for a later run.
    pub run_at: DateTime<Utc>,
}

pub async fn snapshot(db: &PgPool, id: i64) -> Result<RunSnapshot, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Stored {
        protocol: Value,
        functional: Option<Value>,
        metrics: Vec<String>,
        bootstrap: Option<Value>,
        permutation: Option<Value>,
        model_differences: Option<Value>,
        run_at: DateTime<Utc>,
    }
    let stored: Stored = sqlx::query_as(
        "SELECT protocol, functional, metrics, bootstrap, permutation, model_differences, run_at
         FROM benchmarks WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?
    .ok_or_else(|| StoreError::not_found("benchmark", id))?;
    let rows: Vec<(i64, i64, Option<f64>, Value, bool)> = sqlx::query_as(
        "SELECT bm.representation_id, r.model_id, bm.score, bm.group_key, bm.derived
         FROM benchmark_members bm JOIN representations r ON r.id = bm.representation_id
         WHERE bm.benchmark_id = $1 ORDER BY bm.representation_id",
    )
    .bind(id)
    .fetch_all(db)
    .await?;
    let members = rows
        .into_iter()
        .map(|(id, model_id, score, group_key, derived)| Member {
            id,
            model_id,
            score,
            group_key,
            derived,
        })
        .collect();
    let model_differences = stored
        .model_differences
        .map(serde_json::from_value)
        .transpose()
        .map_err(|error| {
            StoreError::Corrupt(format!("benchmark {id}: stored model differences: {error}"))
        })?;
    Ok(RunSnapshot {
        protocol: stored.protocol,
        functional: stored.functional,
        metrics: decode_metrics(id, &stored.metrics)?,
        bootstrap: stored.bootstrap,
        permutation: stored.permutation,
        model_differences,
        members,
        run_at: stored.run_at,
    })
}
