//! Planning a run: the selection resolved into members with their scores and groups, what is
//! left out and why, and the comparison that queues the missing distances.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};

use super::super::comparisons;
use super::super::error::StoreError;
use crate::benchmark::{self, GroupKey, Protocol, pairs_needed};
use crate::metrics::{Metric, MetricId};

/// Runs a benchmark again on the data as it is now; `run_by` names the token asking, recorded
/// on the run's comparison.
pub async fn rerun(db: &PgPool, id: i64, run_by: Option<&str>) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM benchmarks WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    if found.is_none() {
        return Err(StoreError::not_found("benchmark", id));
    }
    run_in(&mut tx, id, run_by).await?;
    tx.commit().await?;
    Ok(())
}

/// A representation of the selection with what the benchmark needs of it.
#[derive(sqlx::FromRow)]
struct Candidate {
    id: i64,
    layer: i32,
    derived: bool,
    model_metadata: Value,
    score: Option<f64>,
}

/// A stored benchmark's protocol and metrics, as the rows hold them.
fn decode_definition(
    id: i64,
    protocol: Value,
    metric_names: &[String],
) -> Result<(Protocol, Vec<MetricId>), StoreError> {
    let protocol = serde_json::from_value(protocol)
        .map_err(|error| StoreError::Corrupt(format!("benchmark {id} protocol: {error}")))?;
    let metrics = metric_names
        .iter()
        .map(|name| name.parse::<MetricId>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| StoreError::Corrupt(format!("benchmark {id}: {error}")))?;
    Ok((protocol, metrics))
}

/// Resolves the selection, snapshots members and scores, and queues the missing distances.
pub(super) async fn run_in(
    tx: &mut PgConnection,
    id: i64,
    run_by: Option<&str>,
) -> Result<(), StoreError> {
    let (protocol, metric_names, score_name, dataset_id): (Value, Vec<String>, String, i64) =
        sqlx::query_as(
            "SELECT protocol, metrics, score_name, dataset_id FROM benchmarks WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let (protocol, metrics) = decode_definition(id, protocol, &metric_names)?;
    let candidates = sqlx::query_as::<_, Candidate>(concat!(
        "SELECT r.id, r.layer, r.parent_id IS NOT NULL AS derived, m.metadata AS model_metadata, ",
        applicable_score!(),
        " AS score
         FROM benchmarks b
         JOIN representations r ON true
         JOIN models m ON m.id = r.model_id
         WHERE b.id = $1 AND ",
        selection_predicate!(),
        " ORDER BY r.id"
    ))
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;

    if candidates.iter().all(|candidate| candidate.score.is_none()) {
        return Err(unknown_score(tx, dataset_id, &score_name, candidates.len()).await?);
    }
    let mut members = Vec::new();
    let mut left_out = Vec::new();
    for candidate in candidates {
        let Some(score) = candidate.score else {
            left_out.push(json!({
                "representation": candidate.id,
                "reason": format!("no score named {score_name:?}, on the representation or its model"),
            }));
            continue;
        };
        match protocol.group_by().group_of(i64::from(candidate.layer), &candidate.model_metadata) {
            Some(group) => members.push(benchmark::Representation {
                id: candidate.id,
                group,
                derived: candidate.derived,
                score,
            }),
            None => left_out.push(json!({
                "representation": candidate.id,
                "reason": format!("its model's metadata has no {:?} to group by", String::from(protocol.group_by().clone())),
            })),
        }
    }
    let groups = pairs_needed(&members, &protocol)
        .map_err(|error| StoreError::invalid("invalid_selection", error.to_string()))?;
    let mut pairs: Vec<(i64, i64)> = groups
        .iter()
        .flat_map(|group| group.pairs.iter())
        .filter(|pair| !pair.is_self_pair())
        .map(|pair| (pair.first, pair.second))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    // The workers compute the built-in metrics; clients send the others.
    let built_in: Vec<Metric> = metrics
        .iter()
        .filter_map(|metric| metric.built_in())
        .collect();
    let comparison_id = comparisons::insert(tx, &pairs, &built_in, run_by).await?;

    sqlx::query("DELETE FROM benchmark_members WHERE benchmark_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let ids: Vec<i64> = members.iter().map(|member| member.id).collect();
    let scores: Vec<f64> = members.iter().map(|member| member.score).collect();
    let groups: Vec<Value> = members
        .iter()
        .map(|member| group_to_json(&member.group))
        .collect();
    let derived: Vec<bool> = members.iter().map(|member| member.derived).collect();
    sqlx::query(
        "INSERT INTO benchmark_members (benchmark_id, representation_id, score, group_key, derived)
         SELECT $1, * FROM unnest($2::bigint[], $3::float8[], $4::jsonb[], $5::boolean[])",
    )
    .bind(id)
    .bind(&ids)
    .bind(&scores)
    .bind(&groups)
    .bind(&derived)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE benchmarks SET comparison_id = $2, left_out = $3, stale = false, results = NULL,
                run_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(comparison_id)
    .bind(Value::Array(left_out))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The 422 for a score no selected representation has, listing the names that do exist.
async fn unknown_score(
    tx: &mut PgConnection,
    dataset_id: i64,
    score_name: &str,
    selected: usize,
) -> Result<StoreError, StoreError> {
    if selected == 0 {
        return Ok(StoreError::invalid(
            "invalid_selection",
            "the selection holds no representation of this dataset",
        ));
    }
    let known: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT s.name FROM scores s
         LEFT JOIN representations r ON r.id = s.representation_id
         LEFT JOIN representations mr ON mr.model_id = s.model_id
         WHERE r.dataset_id = $1 OR mr.dataset_id = $1
         ORDER BY s.name",
    )
    .bind(dataset_id)
    .fetch_all(&mut *tx)
    .await?;
    Ok(StoreError::invalid(
        "unknown_score",
        format!(
            "no selected representation has a score named {score_name:?} (on itself or its model); scores of this dataset: {}",
            if known.is_empty() {
                "none yet".to_owned()
            } else {
                known.join(", ")
            }
        ),
    ))
}

/// Group keys are stored tagged, so that a metadata value "all" or "3" stays a metadata value.
fn group_to_json(group: &GroupKey) -> Value {
    match group {
        GroupKey::All => json!({"all": true}),
        GroupKey::Layer(layer) => json!({"layer": layer}),
        GroupKey::Metadata(value) => json!({"metadata": value}),
    }
}

fn group_from_json(value: &Value) -> Option<GroupKey> {
    if let Some(layer) = value.get("layer") {
        return layer.as_i64().map(GroupKey::Layer);
    }
    if let Some(text) = value.get("metadata") {
        return text
            .as_str()
            .map(|text| GroupKey::Metadata(text.to_owned()));
    }
    value.get("all").map(|_| GroupKey::All)
}

/// Everything needed to compute a benchmark's results: its run's members and definition.
pub struct RunSnapshot {
    pub protocol: Protocol,
    pub metrics: Vec<MetricId>,
    pub bootstrap: Option<Value>,
    pub members: Vec<benchmark::Representation>,
    /// When the run was made, so results computed from it are not stored for a later run.
    pub run_at: DateTime<Utc>,
}

pub async fn snapshot(db: &PgPool, id: i64) -> Result<RunSnapshot, StoreError> {
    type Stored = (Value, Vec<String>, Option<Value>, DateTime<Utc>);
    let (protocol, metric_names, bootstrap, run_at): Stored =
        sqlx::query_as("SELECT protocol, metrics, bootstrap, run_at FROM benchmarks WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?
            .ok_or_else(|| StoreError::not_found("benchmark", id))?;
    let (protocol, metrics) = decode_definition(id, protocol, &metric_names)?;
    let rows: Vec<(i64, f64, Value, bool)> = sqlx::query_as(
        "SELECT representation_id, score, group_key, derived FROM benchmark_members
         WHERE benchmark_id = $1 ORDER BY representation_id",
    )
    .bind(id)
    .fetch_all(db)
    .await?;
    let members = rows
        .into_iter()
        .map(|(id, score, group, derived)| {
            let group = group_from_json(&group)
                .ok_or_else(|| StoreError::Corrupt(format!("stored group key {group}")))?;
            Ok(benchmark::Representation {
                id,
                group,
                derived,
                score,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(RunSnapshot {
        protocol,
        metrics,
        bootstrap,
        members,
        run_at,
    })
}
