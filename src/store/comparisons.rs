//! Comparisons: requests for the distances of some pairs under some metrics, and their progress.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::error::StoreError;
use super::jobs;
use crate::metrics::Metric;

/// A comparison and how far its work has come. Work is counted in items: each pair whose
/// distances were all known when asked, and each job computing the rest.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub id: i64,
    pub status: &'static str,
    pub metrics: Vec<String>,
    pub n_pairs: i64,
    pub total: i64,
    pub done: i64,
    pub failed: i64,
    pub running: i64,
    pub queued: i64,
    pub cancelled: i64,
    pub created_at: DateTime<Utc>,
    /// The token whose request created it.
    pub created_by: Option<String>,
}

/// Records a comparison of `pairs` (each as asked) and queues what is missing.
pub async fn create(
    db: &PgPool,
    pairs: &[(i64, i64)],
    metrics: &[Metric],
    created_by: Option<&str>,
) -> Result<Comparison, StoreError> {
    let mut tx = db.begin().await?;
    let id = insert(&mut tx, pairs, metrics, created_by).await?;
    tx.commit().await?;
    get(db, id).await
}

/// [`create`] within a transaction; returns the comparison's id.
pub async fn insert(
    tx: &mut PgConnection,
    pairs: &[(i64, i64)],
    metrics: &[Metric],
    created_by: Option<&str>,
) -> Result<i64, StoreError> {
    let enqueued = jobs::enqueue(tx, pairs, metrics).await?;
    let names: Vec<String> = metrics.iter().map(|metric| metric.name()).collect();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO comparisons (metrics, n_pairs, n_known, created_by) VALUES ($1, $2, $3, $4)
         RETURNING id",
    )
    .bind(&names)
    .bind(pairs.len() as i32)
    .bind(enqueued.n_known as i32)
    .bind(created_by)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO comparison_jobs (comparison_id, job_id) SELECT $1, unnest($2::bigint[])",
    )
    .bind(id)
    .bind(&enqueued.job_ids)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

pub async fn get(db: &PgPool, id: i64) -> Result<Comparison, StoreError> {
    type Row = (
        i64,
        Vec<String>,
        i32,
        i32,
        bool,
        DateTime<Utc>,
        Option<String>,
        i64,
        i64,
        i64,
        i64,
        i64,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT c.id, c.metrics, c.n_pairs, c.n_known, c.cancelled, c.created_at, c.created_by,
                count(j.id) FILTER (WHERE j.status = 'done'),
                count(j.id) FILTER (WHERE j.status = 'failed'),
                count(j.id) FILTER (WHERE j.status = 'running'),
                count(j.id) FILTER (WHERE j.status = 'queued'),
                count(j.id) FILTER (WHERE j.status = 'cancelled')
         FROM comparisons c
         LEFT JOIN comparison_jobs cj ON cj.comparison_id = c.id
         LEFT JOIN jobs j ON j.id = cj.job_id
         WHERE c.id = $1
         GROUP BY c.id",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    let (
        id,
        metrics,
        n_pairs,
        n_known,
        cancelled_by_user,
        created_at,
        created_by,
        done,
        failed,
        running,
        queued,
        cancelled,
    ) = row.ok_or_else(|| StoreError::not_found("comparison", id))?;
    let done = done + i64::from(n_known);
    let status = if running > 0 {
        "running"
    } else if queued > 0 {
        if done + failed > 0 {
            "running"
        } else {
            "queued"
        }
    } else if cancelled_by_user {
        "cancelled"
    } else if failed > 0 {
        "failed"
    } else {
        "done"
    };
    Ok(Comparison {
        id,
        status,
        metrics,
        n_pairs: i64::from(n_pairs),
        total: done + failed + running + queued + cancelled,
        done,
        failed,
        running,
        queued,
        cancelled,
        created_at,
        created_by,
    })
}

/// Cancels the comparison's queued jobs that no other comparison needs.
pub async fn cancel(db: &PgPool, id: i64) -> Result<Comparison, StoreError> {
    let mut tx = db.begin().await?;
    let updated = sqlx::query("UPDATE comparisons SET cancelled = true WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::not_found("comparison", id));
    }
    sqlx::query(
        "UPDATE jobs j SET status = 'cancelled', finished_at = now(), updated_at = now(),
                last_error = 'cancelled with comparison ' || $1
         WHERE j.status = 'queued'
           AND j.id IN (SELECT job_id FROM comparison_jobs WHERE comparison_id = $1)
           AND NOT EXISTS (SELECT 1 FROM comparison_jobs other
                           WHERE other.job_id = j.id AND other.comparison_id <> $1)",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    get(db, id).await
}
