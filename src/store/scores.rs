//! Functionality scores (probe accuracy, out-of-distribution accuracy, ...), attached to a
//! representation or to a whole model.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

pub use super::ScoreTarget;
use super::benchmarks;
use super::error::StoreError;

/// What a score is attached to. A model's score applies to all its representations unless a
/// representation has its own score of that name.

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Score {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub representation_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<i64>,
    pub name: String,
    pub value: f64,
    pub updated_at: DateTime<Utc>,
    /// The token whose request first set it.
    pub created_by: Option<String>,
}

async fn upsert_one(
    conn: &mut PgConnection,
    target: ScoreTarget,
    name: &str,
    value: f64,
    created_by: Option<&str>,
) -> Result<Score, StoreError> {
    let query = match target {
        ScoreTarget::Representation(_) => {
            "INSERT INTO scores (representation_id, name, value, created_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (representation_id, name) WHERE representation_id IS NOT NULL
             DO UPDATE SET value = EXCLUDED.value, updated_at = now()
             RETURNING representation_id, model_id, name, value, updated_at, created_by"
        }
        ScoreTarget::Model(_) => {
            "INSERT INTO scores (model_id, name, value, created_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (model_id, name) WHERE model_id IS NOT NULL
             DO UPDATE SET value = EXCLUDED.value, updated_at = now()
             RETURNING representation_id, model_id, name, value, updated_at, created_by"
        }
    };
    let (ScoreTarget::Representation(id) | ScoreTarget::Model(id)) = target;
    Ok(sqlx::query_as::<_, Score>(query)
        .bind(id)
        .bind(name)
        .bind(value)
        .bind(created_by)
        .fetch_one(conn)
        .await?)
}

/// Sets one score, creating or replacing it; benchmarks it concerns become stale.
pub async fn upsert(
    db: &PgPool,
    target: ScoreTarget,
    name: &str,
    value: f64,
    created_by: Option<&str>,
) -> Result<Score, StoreError> {
    let mut tx = db.begin().await?;
    let held_off = benchmarks::hold_off_planning(&mut tx).await?;
    check_targets_exist(&mut tx, &[target]).await?;
    let score = upsert_one(&mut tx, target, name, value, created_by).await?;
    benchmarks::mark_stale_for_score(&mut tx, &held_off, target, name).await?;
    tx.commit().await?;
    Ok(score)
}

/// Sets many scores in one transaction: all of them or none.
pub async fn upsert_many(
    db: &PgPool,
    scores: &[(ScoreTarget, String, f64)],
    created_by: Option<&str>,
) -> Result<Vec<Score>, StoreError> {
    let mut tx = db.begin().await?;
    let held_off = benchmarks::hold_off_planning(&mut tx).await?;
    let targets: Vec<ScoreTarget> = scores.iter().map(|(target, _, _)| *target).collect();
    check_targets_exist(&mut tx, &targets).await?;
    let mut stored = Vec::with_capacity(scores.len());
    for (target, name, value) in scores {
        stored.push(upsert_one(&mut tx, *target, name, *value, created_by).await?);
        benchmarks::mark_stale_for_score(&mut tx, &held_off, *target, name).await?;
    }
    tx.commit().await?;
    Ok(stored)
}

pub async fn list(db: &PgPool, target: ScoreTarget) -> Result<Vec<Score>, StoreError> {
    let mut conn = db.acquire().await?;
    check_targets_exist(&mut conn, &[target]).await?;
    let query = match target {
        ScoreTarget::Representation(_) => {
            "SELECT representation_id, model_id, name, value, updated_at, created_by FROM scores
             WHERE representation_id = $1 ORDER BY name"
        }
        ScoreTarget::Model(_) => {
            "SELECT representation_id, model_id, name, value, updated_at, created_by FROM scores
             WHERE model_id = $1 ORDER BY name"
        }
    };
    let (ScoreTarget::Representation(id) | ScoreTarget::Model(id)) = target;
    Ok(sqlx::query_as::<_, Score>(query)
        .bind(id)
        .fetch_all(&mut *conn)
        .await?)
}

/// The scores set on each representation of a model (not the model's own), in one query, by
/// representation id and name.
pub async fn of_representations(db: &PgPool, model_id: i64) -> Result<Vec<Score>, StoreError> {
    Ok(sqlx::query_as::<_, Score>(
        "SELECT s.representation_id, s.model_id, s.name, s.value, s.updated_at, s.created_by
         FROM scores s JOIN representations r ON r.id = s.representation_id
         WHERE r.model_id = $1 ORDER BY s.representation_id, s.name",
    )
    .bind(model_id)
    .fetch_all(db)
    .await?)
}

/// Names the first missing representation or model, so a 404 says which id is wrong.
async fn check_targets_exist(
    conn: &mut PgConnection,
    targets: &[ScoreTarget],
) -> Result<(), StoreError> {
    let mut representation_ids = Vec::new();
    let mut model_ids = Vec::new();
    for target in targets {
        match *target {
            ScoreTarget::Representation(id) => representation_ids.push(id),
            ScoreTarget::Model(id) => model_ids.push(id),
        }
    }
    let checks = [
        (
            "representation",
            "SELECT wanted FROM unnest($1::bigint[]) AS wanted
             WHERE NOT EXISTS (SELECT 1 FROM representations WHERE id = wanted) LIMIT 1",
            &representation_ids,
        ),
        (
            "model",
            "SELECT wanted FROM unnest($1::bigint[]) AS wanted
             WHERE NOT EXISTS (SELECT 1 FROM models WHERE id = wanted) LIMIT 1",
            &model_ids,
        ),
    ];
    for (resource, query, ids) in checks {
        if let Some(id) = first_missing(conn, query, ids).await? {
            return Err(StoreError::not_found(resource, id));
        }
    }
    Ok(())
}

/// The first of `ids` that `query` (binding them as `$1`) reports missing.
async fn first_missing(
    conn: &mut PgConnection,
    query: &'static str,
    ids: &[i64],
) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar(query)
        .bind(ids)
        .fetch_optional(conn)
        .await?)
}
