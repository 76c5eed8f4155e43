//! Representations: one model's activations at one layer on one dataset, stored as a blob.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use super::benchmarks::PlanningHeldOff;
use super::error::StoreError;
use super::{Page, PageRequest, benchmarks, blobs, jobs};

#[derive(Clone, Debug, Serialize, Deserialize, sqlx::FromRow)]
pub struct Representation {
    pub id: i64,
    pub model_id: i64,
    pub model: String,
    pub dataset_id: i64,
    pub dataset: String,
    pub layer: i32,
    pub layer_name: Option<String>,
    pub n_rows: i64,
    pub n_cols: i64,
    pub dtype: String,
    pub sha256: String,
    pub byte_len: i64,
    pub parent_id: Option<i64>,
    pub transform: Option<Value>,
    /// Never leaves the service: 0 in a representation read back from the API.
    #[serde(skip)]
    pub blob_id: i64,
    pub created_at: DateTime<Utc>,
    /// The token whose request created it.
    pub created_by: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct RepresentationFilter {
    pub dataset: Option<String>,
    pub model_id: Option<i64>,
    pub layer: Option<i32>,
    pub derived: Option<bool>,
}

/// A query returning [`Representation`] rows, completed by the given clauses.
macro_rules! select_representations {
    ($clauses:literal) => {
        concat!(
            "SELECT r.id, r.model_id, m.name AS model, r.dataset_id, d.name AS dataset,
                    r.layer, r.layer_name, b.n_rows, b.n_cols, b.dtype,
                    encode(b.sha256, 'hex') AS sha256, b.byte_len, r.parent_id, r.transform,
                    r.blob_id, r.created_at, r.created_by
             FROM representations r
             JOIN models m ON m.id = r.model_id
             JOIN datasets d ON d.id = r.dataset_id
             JOIN blobs b ON b.id = r.blob_id ",
            $clauses
        )
    };
}

pub async fn get(db: &PgPool, id: i64) -> Result<Representation, StoreError> {
    sqlx::query_as::<_, Representation>(select_representations!("WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| StoreError::not_found("representation", id))
}

pub async fn list(
    db: &PgPool,
    filter: &RepresentationFilter,
    page: PageRequest,
) -> Result<Page<Representation>, StoreError> {
    let rows = sqlx::query_as::<_, Representation>(select_representations!(
        "WHERE r.id > $1
           AND ($2::text IS NULL OR d.name = $2)
           AND ($3::bigint IS NULL OR r.model_id = $3)
           AND ($4::integer IS NULL OR r.layer = $4)
           AND ($5::boolean IS NULL OR (r.parent_id IS NOT NULL) = $5)
         ORDER BY r.id
         LIMIT $6"
    ))
    .bind(page.after)
    .bind(filter.dataset.as_deref())
    .bind(filter.model_id)
    .bind(filter.layer)
    .bind(filter.derived)
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?;
    Ok(Page::from_rows(rows, page, |representation| {
        representation.id
    }))
}

/// What an upload asks to store.
#[derive(Clone, Debug)]
pub struct UploadTarget {
    pub model_id: i64,
    pub dataset_id: i64,
    pub layer: i32,
    pub layer_name: Option<String>,
    pub created_by: Option<String>,
}

/// The outcome of storing an uploaded matrix under its (model, dataset, layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    Created(i64),
    /// The same matrix was already there.
    Unchanged(i64),
    /// A different matrix was there and has been replaced (with everything computed from it).
    Replaced {
        id: i64,
        previous: i64,
    },
}

/// Records an uploaded blob as the representation of `target`, within the upload's transaction.
pub async fn store_upload(
    tx: &mut PgConnection,
    held_off: &PlanningHeldOff,
    target: &UploadTarget,
    blob_id: i64,
    replace: bool,
) -> Result<Stored, StoreError> {
    let existing: Option<(i64, i64)> = sqlx::query_as(
        "SELECT id, blob_id FROM representations
         WHERE model_id = $1 AND dataset_id = $2 AND layer = $3 AND transform IS NULL
         FOR UPDATE",
    )
    .bind(target.model_id)
    .bind(target.dataset_id)
    .bind(target.layer)
    .fetch_optional(&mut *tx)
    .await?;
    let previous = match existing {
        Some((id, existing_blob)) if existing_blob == blob_id => return Ok(Stored::Unchanged(id)),
        Some((id, _)) if !replace => {
            return Err(StoreError::conflict(
                "representation_exists",
                format!(
                    "representation {id} already holds a different matrix for this model, dataset and layer; pass replace=true to replace it (deleting everything computed from it)"
                ),
            ));
        }
        Some((id, _)) => {
            delete_many(tx, held_off, &[id]).await?;
            Some(id)
        }
        None => None,
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO representations (model_id, dataset_id, layer, layer_name, blob_id, created_by)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(target.model_id)
    .bind(target.dataset_id)
    .bind(target.layer)
    .bind(target.layer_name.as_deref())
    .bind(blob_id)
    .bind(target.created_by.as_deref())
    .fetch_one(&mut *tx)
    .await?;
    benchmarks::mark_stale_for_new_representation(tx, held_off, id).await?;
    Ok(match previous {
        Some(previous) => Stored::Replaced { id, previous },
        None => Stored::Created(id),
    })
}

/// Deletes one representation with everything computed from it.
pub async fn delete(db: &PgPool, id: i64) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let held_off = benchmarks::hold_off_planning(&mut tx).await?;
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM representations WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    if found.is_none() {
        return Err(StoreError::not_found("representation", id));
    }
    delete_many(&mut tx, &held_off, &[id]).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes representations with their derived copies, scores and distances (by cascade), cancels
/// their unfinished jobs, then deletes the blobs no representation refers to any more.
pub async fn delete_many(
    tx: &mut PgConnection,
    held_off: &PlanningHeldOff,
    ids: &[i64],
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let doomed: Vec<(i64, i64)> = sqlx::query_as(
        "WITH RECURSIVE doomed (id, blob_id) AS (
             SELECT id, blob_id FROM representations WHERE id = ANY($1)
             UNION
             SELECT r.id, r.blob_id FROM representations r JOIN doomed ON r.parent_id = doomed.id)
         SELECT id, blob_id FROM doomed",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    let (doomed_ids, blob_ids): (Vec<i64>, Vec<i64>) = doomed.into_iter().unzip();
    jobs::cancel_for_representations(tx, &doomed_ids).await?;
    benchmarks::mark_stale_for_deleted(tx, held_off, &doomed_ids).await?;
    sqlx::query("DELETE FROM representations WHERE id = ANY($1)")
        .bind(ids)
        .execute(&mut *tx)
        .await?;
    blobs::delete_unreferenced(tx, &blob_ids).await
}

/// Checks that the representations exist and share one dataset (distances compare the same
/// inputs row by row).
pub async fn check_same_dataset(db: &PgPool, ids: &[i64]) -> Result<(), StoreError> {
    let found: Vec<(i64, String)> = sqlx::query_as(
        "SELECT r.id, d.name FROM representations r JOIN datasets d ON d.id = r.dataset_id
         WHERE r.id = ANY($1) ORDER BY r.id",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    if let Some(missing) = ids
        .iter()
        .find(|id| !found.iter().any(|(found, _)| found == *id))
    {
        return Err(StoreError::not_found("representation", missing));
    }
    let mut datasets: Vec<&str> = found.iter().map(|(_, dataset)| dataset.as_str()).collect();
    datasets.sort_unstable();
    datasets.dedup();
    if datasets.len() > 1 {
        return Err(StoreError::invalid(
            "different_datasets",
            format!(
                "the representations belong to different datasets ({}); distances compare the same inputs row by row, so compare representations of one dataset",
                datasets.join(", ")
            ),
        ));
    }
    Ok(())
}

/// The derived copies of `parent` made by `transform`s, keyed by transform.
pub async fn find_derived(
    db: &PgPool,
    parent: i64,
    transforms: &[Value],
) -> Result<Vec<Representation>, StoreError> {
    Ok(sqlx::query_as::<_, Representation>(select_representations!(
        "WHERE r.parent_id = $1 AND r.transform = ANY($2) ORDER BY r.id"
    ))
    .bind(parent)
    .bind(transforms)
    .fetch_all(db)
    .await?)
}

/// Records a derived copy of `parent` (same model, dataset and layer) held in `blob_id`, within
/// the transaction that wrote the blob. Returns its id, or the id of the identical copy a
/// concurrent request made first.
pub async fn insert_derived(
    tx: &mut PgConnection,
    held_off: &PlanningHeldOff,
    parent: &Representation,
    transform: &Value,
    blob_id: i64,
    created_by: Option<&str>,
) -> Result<i64, StoreError> {
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO representations
             (model_id, dataset_id, layer, layer_name, blob_id, parent_id, transform, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT DO NOTHING
         RETURNING id",
    )
    .bind(parent.model_id)
    .bind(parent.dataset_id)
    .bind(parent.layer)
    .bind(parent.layer_name.as_deref())
    .bind(blob_id)
    .bind(parent.id)
    .bind(transform)
    .bind(created_by)
    .fetch_optional(&mut *tx)
    .await?;
    let id = match inserted {
        Some(id) => {
            benchmarks::mark_stale_for_new_representation(tx, held_off, id).await?;
            id
        }
        None => {
            blobs::delete_unreferenced(tx, &[blob_id]).await?;
            sqlx::query_scalar(
                "SELECT id FROM representations WHERE parent_id = $1 AND transform = $2",
            )
            .bind(parent.id)
            .bind(transform)
            .fetch_one(&mut *tx)
            .await?
        }
    };
    Ok(id)
}
