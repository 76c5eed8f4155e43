//! Benchmarks: definitions, the snapshot of each run (members and their scores), staleness,
//! publication, and cached results.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sqlx::{PgConnection, PgPool};

use super::error::StoreError;
use super::scores::ScoreTarget;
use super::{Page, PageRequest, comparisons};
use crate::benchmark::{self, GroupKey, Protocol, pairs_needed};
use crate::metrics::Metric;

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

/// What a client asks to benchmark.
#[derive(Clone, Debug)]
pub struct Definition {
    pub name: String,
    pub description: Option<String>,
    pub dataset: String,
    pub selection: Selection,
    pub score: String,
    pub protocol: Protocol,
    pub metrics: Vec<Metric>,
    /// The validated bootstrap request, as the client wrote it.
    pub bootstrap: Option<Value>,
}

/// A benchmark as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Benchmark {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub dataset: String,
    pub select: Value,
    pub score: String,
    pub protocol: Value,
    pub metrics: Vec<String>,
    pub bootstrap: Option<Value>,
    /// queued | running | done | failed | stale
    pub status: &'static str,
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
#[derive(Clone, Debug, Default, Serialize)]
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

/// Creates a benchmark and runs it: snapshots its selection and queues the missing distances.
/// `created_by` names the token asking, recorded on the benchmark and its comparison.
pub async fn create(
    db: &PgPool,
    definition: &Definition,
    created_by: Option<&str>,
) -> Result<Benchmark, StoreError> {
    let mut tx = db.begin().await?;
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
    let metrics: Vec<String> = definition
        .metrics
        .iter()
        .map(|metric| metric.name())
        .collect();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO benchmarks
             (name, description, dataset_id, selection, score_name, protocol, metrics, bootstrap,
              created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING id",
    )
    .bind(&definition.name)
    .bind(definition.description.as_deref())
    .bind(dataset_id)
    .bind(json!(definition.selection))
    .bind(&definition.score)
    .bind(json!(definition.protocol))
    .bind(&metrics)
    .bind(&definition.bootstrap)
    .bind(created_by)
    .fetch_one(&mut *tx)
    .await?;
    run_in(&mut tx, id, created_by).await?;
    tx.commit().await?;
    get(db, id).await
}

/// Runs a benchmark again on the data as it is now; `run_by` names the token asking, recorded
/// on the run's comparison.
pub async fn rerun(db: &PgPool, id: i64, run_by: Option<&str>) -> Result<Benchmark, StoreError> {
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
    get(db, id).await
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

/// Resolves the selection, snapshots members and scores, and queues the missing distances.
async fn run_in(tx: &mut PgConnection, id: i64, run_by: Option<&str>) -> Result<(), StoreError> {
    let (protocol, metric_names, score_name, dataset_id): (Value, Vec<String>, String, i64) =
        sqlx::query_as(
            "SELECT protocol, metrics, score_name, dataset_id FROM benchmarks WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let protocol: Protocol = serde_json::from_value(protocol)
        .map_err(|error| StoreError::Corrupt(format!("benchmark {id} protocol: {error}")))?;
    let metrics = metric_names
        .iter()
        .map(|name| name.parse::<Metric>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| StoreError::Corrupt(format!("benchmark {id}: {error}")))?;
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
    let comparison_id = comparisons::insert(tx, &pairs, &metrics, run_by).await?;

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

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    description: Option<String>,
    dataset: String,
    selection: Value,
    score_name: String,
    protocol: Value,
    metrics: Vec<String>,
    bootstrap: Option<Value>,
    comparison_id: Option<i64>,
    left_out: Value,
    stale: bool,
    published: bool,
    published_at: Option<DateTime<Utc>>,
    created_by: Option<String>,
    created_at: DateTime<Utc>,
    run_at: DateTime<Utc>,
    n_representations: i64,
}

/// A query returning [`Row`]s, completed by the given clauses.
macro_rules! select_benchmarks {
    ($clauses:literal) => {
        concat!(
            "SELECT b.id, b.name, b.description, d.name AS dataset, b.selection, b.score_name,
                    b.protocol, b.metrics, b.bootstrap, b.comparison_id, b.left_out, b.stale,
                    b.published, b.published_at, b.created_by, b.created_at, b.run_at,
                    (SELECT count(*) FROM benchmark_members bm WHERE bm.benchmark_id = b.id)
                        AS n_representations
             FROM benchmarks b JOIN datasets d ON d.id = b.dataset_id ",
            $clauses
        )
    };
}

pub async fn get(db: &PgPool, id: i64) -> Result<Benchmark, StoreError> {
    let row = sqlx::query_as::<_, Row>(select_benchmarks!("WHERE b.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| StoreError::not_found("benchmark", id))?;
    with_progress(db, row).await
}

pub async fn list(
    db: &PgPool,
    published: Option<bool>,
    page: PageRequest,
) -> Result<Page<Benchmark>, StoreError> {
    let rows = sqlx::query_as::<_, Row>(select_benchmarks!(
        "WHERE b.id > $1 AND ($2::boolean IS NULL OR b.published = $2) ORDER BY b.id LIMIT $3"
    ))
    .bind(page.after)
    .bind(published)
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?;
    let page = Page::from_rows(rows, page, |row| row.id);
    let mut items = Vec::with_capacity(page.items.len());
    for row in page.items {
        items.push(with_progress(db, row).await?);
    }
    Ok(Page {
        items,
        next_after: page.next_after,
    })
}

async fn with_progress(db: &PgPool, row: Row) -> Result<Benchmark, StoreError> {
    let (status, progress) = match row.comparison_id {
        Some(comparison) => {
            let comparison = comparisons::get(db, comparison).await?;
            let status = match comparison.status {
                "cancelled" => "failed",
                other => other,
            };
            let progress = Progress {
                total: comparison.total,
                done: comparison.done,
                failed: comparison.failed + comparison.cancelled,
                running: comparison.running,
                queued: comparison.queued,
            };
            (status, progress)
        }
        None => ("queued", Progress::default()),
    };
    Ok(Benchmark {
        id: row.id,
        name: row.name,
        description: row.description,
        dataset: row.dataset,
        select: row.selection,
        score: row.score_name,
        protocol: row.protocol,
        metrics: row.metrics,
        bootstrap: row.bootstrap,
        status: if row.stale { "stale" } else { status },
        progress,
        n_representations: row.n_representations,
        left_out: row.left_out,
        comparison_id: row.comparison_id,
        published: row.published,
        published_at: row.published_at,
        created_by: row.created_by,
        created_at: row.created_at,
        run_at: row.run_at,
    })
}

/// Everything needed to compute a benchmark's results: its run's members and definition.
pub struct RunSnapshot {
    pub protocol: Protocol,
    pub metrics: Vec<Metric>,
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
    let protocol: Protocol = serde_json::from_value(protocol)
        .map_err(|error| StoreError::Corrupt(format!("benchmark {id} protocol: {error}")))?;
    let metrics = metric_names
        .iter()
        .map(|name| name.parse::<Metric>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| StoreError::Corrupt(format!("benchmark {id}: {error}")))?;
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

/// The results stored for the current run, once it was complete.
pub async fn stored_results(db: &PgPool, id: i64) -> Result<Option<Value>, StoreError> {
    Ok(
        sqlx::query_scalar::<_, Option<Value>>("SELECT results FROM benchmarks WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?
            .flatten(),
    )
}

/// Keeps complete results, unless the benchmark was run again meanwhile.
pub async fn store_results(
    db: &PgPool,
    id: i64,
    run_at: DateTime<Utc>,
    results: &Value,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE benchmarks SET results = $3 WHERE id = $1 AND run_at = $2")
        .bind(id)
        .bind(run_at)
        .bind(results)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_published(db: &PgPool, id: i64, published: bool) -> Result<Benchmark, StoreError> {
    let updated = sqlx::query(
        "UPDATE benchmarks SET published = $2,
                published_at = CASE WHEN $2 THEN coalesce(published_at, now()) END
         WHERE id = $1",
    )
    .bind(id)
    .bind(published)
    .execute(db)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::not_found("benchmark", id));
    }
    get(db, id).await
}

/// Ids of the published benchmarks, oldest first.
pub async fn published_ids(db: &PgPool) -> Result<Vec<i64>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT id FROM benchmarks WHERE published ORDER BY id")
            .fetch_all(db)
            .await?,
    )
}

/// Marks stale the benchmarks a changed score concerns: those of that score name whose current
/// run holds a representation it applies to, or whose selection takes one.
pub async fn mark_stale_for_score(
    tx: &mut PgConnection,
    target: ScoreTarget,
    name: &str,
) -> Result<(), StoreError> {
    let (representation, model) = match target {
        ScoreTarget::Representation(id) => (Some(id), None),
        ScoreTarget::Model(id) => (None, Some(id)),
    };
    sqlx::query(concat!(
        "UPDATE benchmarks b SET stale = true
         WHERE NOT b.stale AND b.score_name = $3
           AND EXISTS (
               SELECT 1 FROM representations r JOIN models m ON m.id = r.model_id
               WHERE (r.id = $1 OR r.model_id = $2)
                 AND (EXISTS (SELECT 1 FROM benchmark_members bm
                              WHERE bm.benchmark_id = b.id AND bm.representation_id = r.id)
                      OR (",
        selection_predicate!(),
        ")))"
    ))
    .bind(representation)
    .bind(model)
    .bind(name)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Marks stale the benchmarks whose selection takes a new representation that has their score.
pub async fn mark_stale_for_new_representation(
    tx: &mut PgConnection,
    id: i64,
) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "UPDATE benchmarks b SET stale = true
         WHERE NOT b.stale AND EXISTS (
             SELECT 1 FROM representations r JOIN models m ON m.id = r.model_id
             WHERE r.id = $1 AND ",
        selection_predicate!(),
        " AND ",
        applicable_score!(),
        " IS NOT NULL)"
    ))
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Marks stale the benchmarks whose current run holds representations about to be deleted.
pub async fn mark_stale_for_deleted(tx: &mut PgConnection, ids: &[i64]) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE benchmarks b SET stale = true
         WHERE NOT b.stale AND EXISTS (SELECT 1 FROM benchmark_members bm
                                       WHERE bm.benchmark_id = b.id AND bm.representation_id = ANY($1))",
    )
    .bind(ids)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Deletes a benchmark and its run; the distances it computed stay for others to reuse.
pub async fn delete(db: &PgPool, id: i64) -> Result<(), StoreError> {
    let deleted = sqlx::query("DELETE FROM benchmarks WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(StoreError::not_found("benchmark", id));
    }
    Ok(())
}
