//! Model outputs: one model's n x C logits on one dataset (docs/PROTOCOLS.md, "Functional
//! differences"), stored as a content-addressed blob like a representation's matrix.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use super::benchmarks::{PlanningHeldOff, hold_off_planning, mark_stale_for_outputs};
use super::blobs;
use super::error::StoreError;

/// What is stored for a (model, dataset); the logits themselves stay in the blob.
#[derive(Clone, Debug, Serialize, Deserialize, sqlx::FromRow)]
pub struct ModelOutputs {
    pub model_id: i64,
    pub model: String,
    pub dataset_id: i64,
    pub dataset: String,
    pub n_rows: i64,
    pub n_classes: i64,
    pub dtype: String,
    pub sha256: String,
    pub byte_len: i64,
    #[serde(skip)]
    pub blob_id: i64,
    pub created_at: DateTime<Utc>,
    /// The token whose request stored them.
    pub created_by: Option<String>,
}

/// A query returning [`ModelOutputs`] rows, completed by the given clauses.
macro_rules! select_outputs {
    ($clauses:literal) => {
        concat!(
            "SELECT o.model_id, m.name AS model, o.dataset_id, d.name AS dataset,
                    b.n_rows, b.n_cols AS n_classes, b.dtype, encode(b.sha256, 'hex') AS sha256,
                    b.byte_len, o.blob_id, o.created_at, o.created_by
             FROM model_outputs o
             JOIN models m ON m.id = o.model_id
             JOIN datasets d ON d.id = o.dataset_id
             JOIN blobs b ON b.id = o.blob_id ",
            $clauses
        )
    };
}

/// The outputs of `model_id` on the dataset named `dataset`.
pub async fn get(db: &PgPool, model_id: i64, dataset: &str) -> Result<ModelOutputs, StoreError> {
    sqlx::query_as::<_, ModelOutputs>(select_outputs!("WHERE o.model_id = $1 AND d.name = $2"))
        .bind(model_id)
        .bind(dataset)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| missing(model_id, dataset))
}

fn missing(model_id: i64, dataset: &str) -> StoreError {
    StoreError::not_found(
        "outputs of model",
        format!("{model_id} on dataset {dataset:?}"),
    )
}

/// What storing an upload did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredOutputs {
    Created,
    /// The same logits were already there.
    Unchanged,
    /// Different logits were there and have been replaced.
    Replaced,
}

/// What an upload asks to store.
#[derive(Clone, Debug)]
pub struct OutputsTarget {
    pub model_id: i64,
    pub dataset_id: i64,
    pub created_by: Option<String>,
}

/// Records an uploaded blob as the outputs of `target`, within the upload's transaction.
pub async fn store_upload(
    tx: &mut PgConnection,
    held_off: &PlanningHeldOff,
    target: &OutputsTarget,
    blob_id: i64,
    replace: bool,
) -> Result<StoredOutputs, StoreError> {
    let existing: Option<i64> = sqlx::query_scalar(
        "SELECT blob_id FROM model_outputs WHERE model_id = $1 AND dataset_id = $2 FOR UPDATE",
    )
    .bind(target.model_id)
    .bind(target.dataset_id)
    .fetch_optional(&mut *tx)
    .await?;
    let stored = match existing {
        None => StoredOutputs::Created,
        Some(existing_blob) if existing_blob == blob_id => return Ok(StoredOutputs::Unchanged),
        Some(_) if !replace => {
            return Err(StoreError::conflict(
                "outputs_exist",
                format!(
                    "model {} already has different outputs for this dataset; pass replace=true to replace them",
                    target.model_id
                ),
            ));
        }
        Some(_) => StoredOutputs::Replaced,
    };
    // A plain insert when none was there, so that a concurrent first upload answers 409
    // (model_outputs_pkey) rather than being overwritten.
    let statement = match stored {
        StoredOutputs::Created => {
            "INSERT INTO model_outputs (model_id, dataset_id, blob_id, created_by)
             VALUES ($1, $2, $3, $4)"
        }
        _ => {
            "UPDATE model_outputs SET blob_id = $3, created_by = $4, created_at = now()
             WHERE model_id = $1 AND dataset_id = $2"
        }
    };
    sqlx::query(statement)
        .bind(target.model_id)
        .bind(target.dataset_id)
        .bind(blob_id)
        .bind(target.created_by.as_deref())
        .execute(&mut *tx)
        .await?;
    if let Some(previous) = existing {
        blobs::delete_unreferenced(tx, &[previous]).await?;
    }
    mark_stale_for_outputs(tx, held_off, target.model_id, target.dataset_id).await?;
    Ok(stored)
}

/// Deletes the outputs of `model_id` on the dataset named `dataset`.
pub async fn delete(db: &PgPool, model_id: i64, dataset: &str) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let held_off = hold_off_planning(&mut tx).await?;
    let deleted: Option<(i64, i64)> = sqlx::query_as(
        "DELETE FROM model_outputs o USING datasets d
         WHERE o.dataset_id = d.id AND o.model_id = $1 AND d.name = $2
         RETURNING o.blob_id, o.dataset_id",
    )
    .bind(model_id)
    .bind(dataset)
    .fetch_optional(&mut *tx)
    .await?;
    let (blob_id, dataset_id) = deleted.ok_or_else(|| missing(model_id, dataset))?;
    blobs::delete_unreferenced(&mut tx, &[blob_id]).await?;
    mark_stale_for_outputs(&mut tx, &held_off, model_id, dataset_id).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes every output of a model, within the transaction deleting it.
pub(super) async fn delete_for_model(
    tx: &mut PgConnection,
    model_id: i64,
) -> Result<(), StoreError> {
    let blob_ids: Vec<i64> =
        sqlx::query_scalar("DELETE FROM model_outputs WHERE model_id = $1 RETURNING blob_id")
            .bind(model_id)
            .fetch_all(&mut *tx)
            .await?;
    blobs::delete_unreferenced(tx, &blob_ids).await
}

/// Each of `model_ids`' logits on the dataset, upcast to f64 (docs/PROTOCOLS.md, "Functional
/// differences": logits are upcast before anything else), or `None` for a model without outputs
/// there. Every requested id is a key.
pub async fn logits(
    db: &PgPool,
    dataset_id: i64,
    model_ids: &[i64],
) -> Result<BTreeMap<i64, Option<Array2<f64>>>, StoreError> {
    let stored: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT model_id, blob_id FROM model_outputs
         WHERE dataset_id = $1 AND model_id = ANY($2)",
    )
    .bind(dataset_id)
    .bind(model_ids)
    .fetch_all(db)
    .await?;
    let mut found: BTreeMap<i64, Option<Array2<f64>>> =
        model_ids.iter().map(|&model_id| (model_id, None)).collect();
    for (model_id, blob_id) in stored {
        let matrix = blobs::read(db, blob_id).await?;
        let widened = tokio::task::spawn_blocking(move || matrix.to_f64())
            .await
            .map_err(|error| StoreError::Corrupt(format!("upcasting logits: {error}")))?;
        found.insert(model_id, Some(widened));
    }
    Ok(found)
}
