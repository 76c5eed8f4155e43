//! A benchmark as listed, published and deleted (created with its first run: `runs`).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use super::super::comparisons::{WorkCounts, work_counts};
use super::super::error::StoreError;
use super::super::status::{BenchmarkStatus, JobStatus};
use super::super::{Page, PageRequest};
use super::{Benchmark, Progress, ScoreName};

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    description: Option<String>,
    dataset: String,
    selection: Value,
    score_name: Option<String>,
    functional: Option<Value>,
    protocol: Value,
    metrics: Vec<String>,
    bootstrap: Option<Value>,
    permutation: Option<Value>,
    comparison_id: Option<i64>,
    left_out: Value,
    stale: bool,
    published: bool,
    published_at: Option<DateTime<Utc>>,
    created_by: Option<String>,
    created_at: DateTime<Utc>,
    run_at: DateTime<Utc>,
    n_representations: i64,
    #[sqlx(flatten)]
    counts: WorkCounts,
    cancelled_by_user: bool,
}

/// A query returning [`Row`]s, completed by the given clauses: each row carries its run's
/// progress, so that a page of benchmarks costs one query.
macro_rules! select_benchmarks {
    ($clauses:literal) => {
        concat!(
            "SELECT b.id, b.name, b.description, d.name AS dataset, b.selection, b.score_name,
                    b.functional, b.protocol, b.metrics, b.bootstrap, b.permutation,
                    b.comparison_id, b.left_out, b.stale,
                    b.published, b.published_at, b.created_by, b.created_at, b.run_at,
                    (SELECT count(*) FROM benchmark_members bm WHERE bm.benchmark_id = b.id)
                        AS n_representations,
                    coalesce(w.done, 0) AS done, coalesce(w.failed, 0) AS failed,
                    coalesce(w.running, 0) AS running, coalesce(w.queued, 0) AS queued,
                    coalesce(w.cancelled, 0) AS cancelled,
                    coalesce(w.cancelled_by_user, false) AS cancelled_by_user
             FROM benchmarks b JOIN datasets d ON d.id = b.dataset_id
             LEFT JOIN LATERAL (",
            work_counts!("b.comparison_id"),
            ") w ON true ",
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
    Ok(row.into())
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
    Ok(Page {
        items: page.items.into_iter().map(Benchmark::from).collect(),
        next_after: page.next_after,
    })
}

impl From<Row> for Benchmark {
    fn from(row: Row) -> Benchmark {
        let counts = row.counts;
        let status = match (row.stale, row.comparison_id) {
            (true, _) => BenchmarkStatus::Stale,
            (false, None) => BenchmarkStatus::Queued,
            (false, Some(_)) => match counts.status(row.cancelled_by_user) {
                JobStatus::Queued => BenchmarkStatus::Queued,
                JobStatus::Running => BenchmarkStatus::Running,
                JobStatus::Done => BenchmarkStatus::Done,
                JobStatus::Failed | JobStatus::Cancelled => BenchmarkStatus::Failed,
            },
        };
        let progress = Progress {
            total: counts.total(),
            done: counts.done,
            failed: counts.failed + counts.cancelled,
            running: counts.running,
            queued: counts.queued,
        };
        Benchmark {
            id: row.id,
            name: row.name,
            description: row.description,
            dataset: row.dataset,
            select: row.selection,
            score: ScoreName(row.score_name),
            functional: row.functional,
            protocol: row.protocol,
            metrics: row.metrics,
            bootstrap: row.bootstrap,
            permutation: row.permutation,
            status,
            progress,
            n_representations: row.n_representations,
            left_out: row.left_out,
            comparison_id: row.comparison_id,
            published: row.published,
            published_at: row.published_at,
            created_by: row.created_by,
            created_at: row.created_at,
            run_at: row.run_at,
        }
    }
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
