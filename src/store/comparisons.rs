//! Comparisons: requests for the distances of some pairs under some metrics, and their progress.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::error::StoreError;
use super::jobs;
use super::status::JobStatus;
use crate::metrics::Metric;

/// A comparison and how far its work has come. Work is counted in items: each pair whose
/// distances were all known when asked, and each job computing the rest.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub id: i64,
    pub status: JobStatus,
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

/// How a comparison's work items stand, counted by job status.
#[derive(Clone, Copy, Debug, Default, sqlx::FromRow)]
pub struct WorkCounts {
    /// Pairs whose distances were all known when asked count as done items.
    pub done: i64,
    pub failed: i64,
    pub running: i64,
    pub queued: i64,
    pub cancelled: i64,
}

/// The counts of [`WorkCounts`] for the comparison `$id_column`, as a lateral subquery's columns
/// (so that a list of benchmarks counts every run in its one query).
macro_rules! work_counts {
    ($id_column:literal) => {
        concat!(
            "SELECT count(j.id) FILTER (WHERE j.status = 'done') + c.n_known AS done,
                    count(j.id) FILTER (WHERE j.status = 'failed') AS failed,
                    count(j.id) FILTER (WHERE j.status = 'running') AS running,
                    count(j.id) FILTER (WHERE j.status = 'queued') AS queued,
                    count(j.id) FILTER (WHERE j.status = 'cancelled') AS cancelled,
                    c.cancelled AS cancelled_by_user
             FROM comparisons c
             LEFT JOIN comparison_jobs cj ON cj.comparison_id = c.id
             LEFT JOIN jobs j ON j.id = cj.job_id
             WHERE c.id = ",
            $id_column,
            " GROUP BY c.id"
        )
    };
}
pub(crate) use work_counts;

impl WorkCounts {
    pub fn total(&self) -> i64 {
        self.done + self.failed + self.running + self.queued + self.cancelled
    }

    /// Running while anything runs or some work is finished and some waits; cancelled when a
    /// client cancelled it and nothing is pending; failed when anything failed.
    pub fn status(&self, cancelled_by_user: bool) -> JobStatus {
        if self.running > 0 || (self.queued > 0 && self.done + self.failed > 0) {
            JobStatus::Running
        } else if self.queued > 0 {
            JobStatus::Queued
        } else if cancelled_by_user {
            JobStatus::Cancelled
        } else if self.failed > 0 {
            JobStatus::Failed
        } else {
            JobStatus::Done
        }
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    metrics: Vec<String>,
    n_pairs: i32,
    created_at: DateTime<Utc>,
    created_by: Option<String>,
    #[sqlx(flatten)]
    counts: WorkCounts,
    cancelled_by_user: bool,
}

pub async fn get(db: &PgPool, id: i64) -> Result<Comparison, StoreError> {
    let row = sqlx::query_as::<_, Row>(concat!(
        "SELECT c.id, c.metrics, c.n_pairs, c.created_at, c.created_by, w.*
         FROM comparisons c, LATERAL (",
        work_counts!("$1"),
        ") w WHERE c.id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await?
    .ok_or_else(|| StoreError::not_found("comparison", id))?;
    let counts = row.counts;
    Ok(Comparison {
        id: row.id,
        status: counts.status(row.cancelled_by_user),
        metrics: row.metrics,
        n_pairs: i64::from(row.n_pairs),
        total: counts.total(),
        done: counts.done,
        failed: counts.failed,
        running: counts.running,
        queued: counts.queued,
        cancelled: counts.cancelled,
        created_at: row.created_at,
        created_by: row.created_by,
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
