//! Models: trained networks with free-form metadata and tags.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;

use super::error::StoreError;
use super::{Page, PageRequest, benchmarks, outputs, representations};

#[derive(Clone, Debug, Serialize, Deserialize, sqlx::FromRow)]
pub struct Model {
    pub id: i64,
    pub name: String,
    pub metadata: Value,
    pub tags: Vec<String>,
    pub n_representations: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The token whose request created it.
    pub created_by: Option<String>,
}

/// Which models a list returns: all tags must be present, every metadata key must hold the value
/// (compared as text, so `seed=3` matches both `3` and `"3"`).
#[derive(Clone, Debug, Default)]
pub struct ModelFilter {
    pub name: Option<String>,
    pub tags: Vec<String>,
    pub metadata: Vec<(String, String)>,
}

/// A query returning [`Model`] rows, completed by the given clauses.
macro_rules! select_models {
    ($clauses:literal) => {
        concat!(
            "SELECT m.id, m.name, m.metadata, m.tags, m.created_at, m.updated_at, m.created_by,
                (SELECT count(*) FROM representations r WHERE r.model_id = m.id)
                    AS n_representations
             FROM models m ",
            $clauses
        )
    };
}

pub async fn create(
    db: &PgPool,
    name: &str,
    metadata: &Value,
    tags: &[String],
    created_by: Option<&str>,
) -> Result<Model, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO models (name, metadata, tags, created_by) VALUES ($1, $2, $3, $4)
         RETURNING id",
    )
    .bind(name)
    .bind(metadata)
    .bind(tags)
    .bind(created_by)
    .fetch_one(db)
    .await?;
    get(db, id).await
}

pub async fn get(db: &PgPool, id: i64) -> Result<Model, StoreError> {
    sqlx::query_as::<_, Model>(select_models!("WHERE m.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| StoreError::not_found("model", id))
}

pub async fn exists(db: &PgPool, id: i64) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM models WHERE id = $1)")
            .bind(id)
            .fetch_one(db)
            .await?,
    )
}

pub async fn list(
    db: &PgPool,
    filter: &ModelFilter,
    page: PageRequest,
) -> Result<Page<Model>, StoreError> {
    let (keys, values): (Vec<&str>, Vec<&str>) = filter
        .metadata
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .unzip();
    let rows = sqlx::query_as::<_, Model>(select_models!(
        "WHERE m.id > $1
           AND ($2::text IS NULL OR m.name = $2)
           AND m.tags @> $3::text[]
           AND NOT EXISTS (
               SELECT 1 FROM unnest($4::text[], $5::text[]) AS wanted (key, value)
               WHERE m.metadata ->> wanted.key IS DISTINCT FROM wanted.value)
         ORDER BY m.id
         LIMIT $6"
    ))
    .bind(page.after)
    .bind(filter.name.as_deref())
    .bind(&filter.tags)
    .bind(&keys)
    .bind(&values)
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?;
    Ok(Page::from_rows(rows, page, |model| model.id))
}

/// Updates a model: `edit_metadata` maps the current metadata to the new (and may refuse it);
/// `tags`, when given, replace the current ones.
/// Updates a model's tags and, through `edit_metadata`, its metadata under a row lock; the
/// caller's edit may refuse with its own error.
pub async fn update<E: From<StoreError>>(
    db: &PgPool,
    id: i64,
    edit_metadata: impl FnOnce(Value) -> Result<Value, E>,
    tags: Option<&[String]>,
) -> Result<Model, E> {
    let mut tx = db.begin().await.map_err(StoreError::from)?;
    let held_off = benchmarks::hold_off_planning(&mut tx).await?;
    let (current, current_tags): (Value, Vec<String>) =
        sqlx::query_as("SELECT metadata, tags FROM models WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from)?
            .ok_or_else(|| StoreError::not_found("model", id))?;
    let metadata = edit_metadata(current.clone())?;
    let changed = metadata != current || tags.is_some_and(|tags| tags != current_tags.as_slice());
    sqlx::query(
        "UPDATE models SET metadata = $2, tags = coalesce($3::text[], tags), updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(&metadata)
    .bind(tags)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    if changed {
        benchmarks::mark_stale_for_model(&mut tx, &held_off, id).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(get(db, id).await?)
}

/// Deletes a model with its outputs. With representations it is refused unless `cascade`, which
/// deletes them and everything computed from them.
pub async fn delete(db: &PgPool, id: i64, cascade: bool) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let held_off = benchmarks::hold_off_planning(&mut tx).await?;
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM models WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    if found.is_none() {
        return Err(StoreError::not_found("model", id));
    }
    let owned: Vec<i64> = sqlx::query_scalar("SELECT id FROM representations WHERE model_id = $1")
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
    if !owned.is_empty() && !cascade {
        return Err(StoreError::conflict(
            "model_has_representations",
            format!(
                "model {id} still has {} representation(s); delete them first or pass cascade=true to delete them with everything computed from them",
                owned.len()
            ),
        ));
    }
    representations::delete_many(&mut tx, &held_off, &owned).await?;
    outputs::delete_for_model(&mut tx, id).await?;
    sqlx::query("DELETE FROM models WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
