//! Datasets: named, ordered sets of inputs that fix the row count of their representations.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use super::error::StoreError;
use super::{Page, PageRequest};

#[derive(Clone, Debug, Serialize, Deserialize, sqlx::FromRow)]
pub struct Dataset {
    pub id: i64,
    pub name: String,
    /// `None` until the first upload (or creation) fixes it.
    pub n_rows: Option<i64>,
    pub description: Option<String>,
    pub n_representations: i64,
    pub created_at: DateTime<Utc>,
    /// The token whose request created it.
    pub created_by: Option<String>,
}

/// A query returning [`Dataset`] rows, completed by the given clauses.
macro_rules! select_datasets {
    ($clauses:literal) => {
        concat!(
            "SELECT d.id, d.name, d.n_rows, d.description, d.created_at, d.created_by,
                (SELECT count(*) FROM representations r WHERE r.dataset_id = d.id)
                    AS n_representations
             FROM datasets d ",
            $clauses
        )
    };
}

pub async fn create(
    db: &PgPool,
    name: &str,
    n_rows: Option<i64>,
    description: Option<&str>,
    created_by: Option<&str>,
) -> Result<Dataset, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO datasets (name, n_rows, description, created_by) VALUES ($1, $2, $3, $4)
         RETURNING id",
    )
    .bind(name)
    .bind(n_rows)
    .bind(description)
    .bind(created_by)
    .fetch_one(db)
    .await?;
    get(db, id).await
}

pub async fn get(db: &PgPool, id: i64) -> Result<Dataset, StoreError> {
    sqlx::query_as::<_, Dataset>(select_datasets!("WHERE d.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| StoreError::not_found("dataset", id))
}

pub async fn find_by_name(db: &PgPool, name: &str) -> Result<Option<Dataset>, StoreError> {
    Ok(
        sqlx::query_as::<_, Dataset>(select_datasets!("WHERE d.name = $1"))
            .bind(name)
            .fetch_optional(db)
            .await?,
    )
}

pub async fn list(
    db: &PgPool,
    name: Option<&str>,
    page: PageRequest,
) -> Result<Page<Dataset>, StoreError> {
    let rows = sqlx::query_as::<_, Dataset>(select_datasets!(
        "WHERE d.id > $1 AND ($2::text IS NULL OR d.name = $2) ORDER BY d.id LIMIT $3"
    ))
    .bind(page.after)
    .bind(name)
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?;
    Ok(Page::from_rows(rows, page, |dataset| dataset.id))
}

/// The dataset an upload goes to, created when unknown, with its row count fixed by the upload
/// when still open. Locks the dataset row until the transaction ends, so two first uploads with
/// different row counts cannot both fix it.
pub async fn lock_for_upload(
    tx: &mut PgConnection,
    name: &str,
    upload_rows: i64,
    created_by: Option<&str>,
) -> Result<i64, StoreError> {
    sqlx::query(
        "INSERT INTO datasets (name, n_rows, created_by) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(upload_rows)
    .bind(created_by)
    .execute(&mut *tx)
    .await?;
    let (id, n_rows): (i64, Option<i64>) =
        sqlx::query_as("SELECT id, n_rows FROM datasets WHERE name = $1 FOR UPDATE")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
    match n_rows {
        Some(expected) if expected != upload_rows => {
            Err(row_count_mismatch(name, expected, upload_rows))
        }
        Some(_) => Ok(id),
        None => {
            sqlx::query("UPDATE datasets SET n_rows = $2 WHERE id = $1")
                .bind(id)
                .bind(upload_rows)
                .execute(&mut *tx)
                .await?;
            Ok(id)
        }
    }
}

pub fn row_count_mismatch(name: &str, expected: i64, got: i64) -> StoreError {
    StoreError::invalid(
        "row_count_mismatch",
        format!(
            "dataset {name:?} has {expected} examples, but the matrix has {got} rows; every representation of a dataset holds one row per example, in the same order"
        ),
    )
}

/// Refuses a matrix of `rows` rows for a dataset whose row count is fixed at another.
pub fn check_row_count(name: &str, expected: Option<i64>, rows: usize) -> Result<(), StoreError> {
    match expected {
        Some(expected) if expected != rows as i64 => {
            Err(row_count_mismatch(name, expected, rows as i64))
        }
        _ => Ok(()),
    }
}
