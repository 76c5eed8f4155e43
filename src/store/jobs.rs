//! The comparison-job queue (DESIGN, Jobs): at-least-once execution with idempotent results.
//! Workers claim with `FOR UPDATE SKIP LOCKED` in a short transaction, hold a lease renewed by a
//! heartbeat, and write results and the done mark in one transaction. Expired leases return jobs
//! to the queue; failures retry with exponential backoff, then stay `failed` with their error.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::error::StoreError;
use super::status::{JobStatus, UnknownStatus};
use super::{Page, PageRequest};
use crate::metrics::Metric;

/// The channel idle workers listen on; a transaction that queues work notifies it.
pub const WAKEUP_CHANNEL: &str = "simbench_jobs";

/// Longest wait between two attempts of a failing job.
const MAX_BACKOFF_SECS: f64 = 600.0;

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Job {
    pub id: i64,
    pub rep_a: Option<i64>,
    pub rep_b: Option<i64>,
    pub metrics: Vec<String>,
    #[sqlx(try_from = "String")]
    pub status: JobStatus,
    pub attempts: i32,
    pub run_after: DateTime<Utc>,
    pub worker: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Where the distance of `metric` for the pair asked as (first, second) is stored: symmetric
/// metrics under (lower id, higher id), asymmetric ones as asked.
pub fn distance_key(metric: Metric, first: i64, second: i64) -> (i64, i64) {
    stored_order(metric.is_symmetric(), first, second)
}

/// [`distance_key`] for a metric of this symmetry, built-in or not.
pub fn stored_order(symmetric: bool, first: i64, second: i64) -> (i64, i64) {
    if symmetric {
        (first.min(second), first.max(second))
    } else {
        (first, second)
    }
}

/// What enqueueing a set of pairs led to.
#[derive(Debug, Default)]
pub struct Enqueued {
    /// New jobs, and queued or running jobs of others that compute some of what was asked.
    pub job_ids: Vec<i64>,
    /// Pairs whose every distance already existed.
    pub n_known: usize,
}

/// Queues the distances of `metrics` for `pairs` (each as asked: first argument first) that are
/// neither stored nor being computed. Notifies idle workers when it queues anything.
pub async fn enqueue(
    tx: &mut PgConnection,
    pairs: &[(i64, i64)],
    metrics: &[Metric],
) -> Result<Enqueued, StoreError> {
    // One enqueue at a time, so two requests for the same pair do not both queue it.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('simbench.enqueue'))")
        .execute(&mut *tx)
        .await?;
    let representations: Vec<i64> = pairs
        .iter()
        .flat_map(|&(a, b)| [a, b])
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let names: Vec<String> = metrics.iter().map(|metric| metric.name()).collect();

    let stored: HashSet<(String, i64, i64)> = sqlx::query_as(
        "SELECT metric, rep_a, rep_b FROM distances
         WHERE metric = ANY($1) AND rep_a = ANY($2) AND rep_b = ANY($2)",
    )
    .bind(&names)
    .bind(&representations)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();

    let active: Vec<(i64, i64, i64, Vec<String>)> = sqlx::query_as(
        "SELECT id, rep_a, rep_b, metrics FROM jobs
         WHERE status IN ('queued', 'running') AND rep_a = ANY($1) AND rep_b = ANY($1)",
    )
    .bind(&representations)
    .fetch_all(&mut *tx)
    .await?;
    // (metric, stored key) → the job computing it.
    let mut pending: HashMap<(String, i64, i64), Option<i64>> = HashMap::new();
    for (id, a, b, job_metrics) in active {
        for name in job_metrics {
            if let Ok(metric) = name.parse::<Metric>() {
                let (ka, kb) = distance_key(metric, a, b);
                pending.insert((name, ka, kb), Some(id));
            }
        }
    }

    let mut outcome = Enqueued::default();
    let mut linked = HashSet::new();
    let mut new_jobs: Vec<(i64, i64, Vec<String>)> = Vec::new();
    for &(a, b) in pairs {
        let mut missing = Vec::new();
        let mut covered = false;
        for metric in metrics {
            let (ka, kb) = distance_key(*metric, a, b);
            let key = (metric.name().to_owned(), ka, kb);
            if stored.contains(&key) {
                continue;
            }
            match pending.get(&key) {
                Some(job) => {
                    covered = true;
                    if let Some(id) = job {
                        linked.insert(*id);
                    }
                }
                None => {
                    missing.push(metric.name());
                    // A later pair of this request asking for the same distance shares this job.
                    pending.insert(key, None);
                }
            }
        }
        if missing.is_empty() {
            if !covered {
                outcome.n_known += 1;
            }
        } else {
            new_jobs.push((a, b, missing));
        }
    }

    let created: Vec<i64> = if new_jobs.is_empty() {
        Vec::new()
    } else {
        let firsts: Vec<i64> = new_jobs.iter().map(|job| job.0).collect();
        let seconds: Vec<i64> = new_jobs.iter().map(|job| job.1).collect();
        let metric_lists: Vec<String> = new_jobs.iter().map(|job| job.2.join(",")).collect();
        let ids = sqlx::query_scalar(
            "INSERT INTO jobs (rep_a, rep_b, metrics)
             SELECT first, second, string_to_array(names, ',')
             FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS planned (first, second, names)
             RETURNING id",
        )
        .bind(&firsts)
        .bind(&seconds)
        .bind(&metric_lists)
        .fetch_all(&mut *tx)
        .await?;
        notify_workers(tx).await?;
        ids
    };
    // Jobs created by pairs that a later pair of this request also needed are linked once.
    outcome.job_ids = created;
    outcome.job_ids.extend(linked);
    Ok(outcome)
}

/// Wakes idle workers once the transaction commits.
pub async fn notify_workers(tx: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(WAKEUP_CHANNEL)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// A job as a worker holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimedJob {
    pub id: i64,
    pub rep_a: i64,
    pub rep_b: i64,
    pub metrics: Vec<Metric>,
    pub attempts: i32,
}

/// Takes the next due job, preferring those whose representations are in `prepared` (the
/// worker's cache), and leases it to `worker`.
pub async fn claim(
    db: &PgPool,
    worker: &str,
    lease: Duration,
    prepared: &[i64],
) -> Result<Option<ClaimedJob>, StoreError> {
    let claimed: Option<(i64, i64, i64, Vec<String>, i32)> = sqlx::query_as(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, worker = $1,
                lease_expires_at = now() + make_interval(secs => $2), updated_at = now()
         WHERE id = (
             SELECT id FROM jobs
             WHERE status = 'queued' AND run_after <= now()
               AND rep_a IS NOT NULL AND rep_b IS NOT NULL
             ORDER BY (rep_a = ANY($3))::int + (rep_b = ANY($3))::int DESC, id
             LIMIT 1
             FOR UPDATE SKIP LOCKED)
         RETURNING id, rep_a, rep_b, metrics, attempts",
    )
    .bind(worker)
    .bind(lease.as_secs_f64())
    .bind(prepared)
    .fetch_optional(db)
    .await?;
    let Some((id, rep_a, rep_b, names, attempts)) = claimed else {
        return Ok(None);
    };
    let metrics = names
        .iter()
        .map(|name| name.parse::<Metric>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| StoreError::Corrupt(format!("job {id}: {error}")))?;
    Ok(Some(ClaimedJob {
        id,
        rep_a,
        rep_b,
        metrics,
        attempts,
    }))
}

/// Extends the lease; false when the job is no longer this worker's (rescued, cancelled).
pub async fn heartbeat(
    db: &PgPool,
    id: i64,
    worker: &str,
    lease: Duration,
) -> Result<bool, StoreError> {
    let renewed = sqlx::query(
        "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3), updated_at = now()
         WHERE id = $1 AND worker = $2 AND status = 'running'",
    )
    .bind(id)
    .bind(worker)
    .bind(lease.as_secs_f64())
    .execute(db)
    .await?;
    Ok(renewed.rows_affected() == 1)
}

/// Locks a job row until the transaction ends; its status, `None` when there is no such job.
async fn lock_status(tx: &mut PgConnection, id: i64) -> Result<Option<JobStatus>, StoreError> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    status.map(parse_status).transpose()
}

fn parse_status(text: String) -> Result<JobStatus, StoreError> {
    text.parse()
        .map_err(|error: UnknownStatus| StoreError::Corrupt(format!("job status: {error}")))
}

/// One computed outcome, keyed as stored (see [`distance_key`]).
#[derive(Clone, Debug)]
pub struct ComputedDistance {
    pub metric: Metric,
    pub rep_a: i64,
    pub rep_b: i64,
    /// The value, or why the metric refuses the pair.
    pub outcome: Result<f64, String>,
    pub seconds: f64,
}

/// What became of a job's results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    Stored,
    /// The job was cancelled meanwhile (a representation deleted): nothing is written.
    Cancelled,
}

/// Writes the distances and marks the job done, in one transaction. A distance stored already
/// (by an earlier run whose lease expired) is kept as it is, so nothing is written twice.
pub async fn complete(
    db: &PgPool,
    id: i64,
    distances: &[ComputedDistance],
) -> Result<Completion, StoreError> {
    let mut tx = db.begin().await?;
    let status = lock_status(&mut tx, id).await?;
    if status.is_none_or(|status| status == JobStatus::Cancelled) {
        return Ok(Completion::Cancelled);
    }
    let metrics: Vec<String> = distances.iter().map(|d| d.metric.name()).collect();
    let firsts: Vec<i64> = distances.iter().map(|d| d.rep_a).collect();
    let seconds: Vec<i64> = distances.iter().map(|d| d.rep_b).collect();
    let values: Vec<Option<f64>> = distances.iter().map(|d| d.outcome.clone().ok()).collect();
    let refusals: Vec<Option<String>> = distances.iter().map(|d| d.outcome.clone().err()).collect();
    let timings: Vec<f64> = distances.iter().map(|d| d.seconds).collect();
    sqlx::query(
        "INSERT INTO distances (metric, rep_a, rep_b, value, refusal, compute_seconds)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::float8[], $5::text[],
                              $6::float8[])
         ON CONFLICT (metric, rep_a, rep_b) DO NOTHING",
    )
    .bind(&metrics)
    .bind(&firsts)
    .bind(&seconds)
    .bind(&values)
    .bind(&refusals)
    .bind(&timings)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE jobs SET status = 'done', lease_expires_at = NULL, finished_at = now(),
                updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Completion::Stored)
}

/// Records a failed attempt: back to the queue after an exponential backoff
/// (`backoff`·2^(attempts−1), at most 10 minutes), or `failed` once `max_attempts` are spent.
/// Returns the new status, or `None` when the job was no longer this worker's.
pub async fn fail(
    db: &PgPool,
    id: i64,
    worker: &str,
    error: &str,
    max_attempts: i32,
    backoff: Duration,
) -> Result<Option<JobStatus>, StoreError> {
    let status: Option<String> = sqlx::query_scalar(
        "UPDATE jobs SET
            status = CASE WHEN attempts >= $4 THEN 'failed' ELSE 'queued' END,
            last_error = $3,
            run_after = now() + make_interval(secs => least($5 * power(2, attempts - 1), $6)),
            lease_expires_at = NULL,
            finished_at = CASE WHEN attempts >= $4 THEN now() END,
            updated_at = now()
         WHERE id = $1 AND worker = $2 AND status = 'running'
         RETURNING status",
    )
    .bind(id)
    .bind(worker)
    .bind(error)
    .bind(max_attempts)
    .bind(backoff.as_secs_f64())
    .bind(MAX_BACKOFF_SECS)
    .fetch_optional(db)
    .await?;
    status.map(parse_status).transpose()
}

/// Returns jobs whose lease expired (their worker died or hung) to the queue, or fails them when
/// their attempts are spent. Returns how many were rescued.
pub async fn rescue_expired(db: &PgPool, max_attempts: i32) -> Result<u64, StoreError> {
    let rescued = sqlx::query(
        "UPDATE jobs SET
            status = CASE WHEN attempts >= $1 THEN 'failed' ELSE 'queued' END,
            last_error = 'the lease of worker ' || coalesce(worker, '?')
                         || ' expired before the job finished (the worker stopped or hung)',
            lease_expires_at = NULL,
            run_after = now(),
            finished_at = CASE WHEN attempts >= $1 THEN now() END,
            updated_at = now()
         WHERE status = 'running' AND lease_expires_at < now()",
    )
    .bind(max_attempts)
    .execute(db)
    .await?;
    Ok(rescued.rows_affected())
}

/// Puts a stopping worker's unfinished job back without counting the attempt.
pub async fn release(db: &PgPool, id: i64, worker: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE jobs SET status = 'queued', attempts = attempts - 1, lease_expires_at = NULL,
                run_after = now(), updated_at = now()
         WHERE id = $1 AND worker = $2 AND status = 'running'",
    )
    .bind(id)
    .bind(worker)
    .execute(db)
    .await?;
    Ok(())
}

/// When the earliest job waiting for its backoff becomes due.
pub async fn next_due(db: &PgPool) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT min(run_after) FROM jobs WHERE status = 'queued'")
            .fetch_one(db)
            .await?,
    )
}

/// Cancels the unfinished jobs of representations about to be deleted.
pub async fn cancel_for_representations(
    tx: &mut PgConnection,
    ids: &[i64],
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE jobs SET status = 'cancelled', lease_expires_at = NULL, finished_at = now(),
                updated_at = now(),
                last_error = 'a representation of this pair was deleted'
         WHERE status IN ('queued', 'running', 'failed')
           AND (rep_a = ANY($1) OR rep_b = ANY($1))",
    )
    .bind(ids)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A query returning [`Job`] rows, completed by the given clauses.
macro_rules! select_jobs {
    ($clauses:literal) => {
        concat!(
            "SELECT id, rep_a, rep_b, metrics, status, attempts, run_after, worker, last_error,
                    created_at, updated_at, finished_at
             FROM jobs ",
            $clauses
        )
    };
}

pub async fn get(db: &PgPool, id: i64) -> Result<Job, StoreError> {
    sqlx::query_as::<_, Job>(select_jobs!("WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| StoreError::not_found("job", id))
}

pub async fn list(
    db: &PgPool,
    status: Option<JobStatus>,
    page: PageRequest,
) -> Result<Page<Job>, StoreError> {
    let rows = sqlx::query_as::<_, Job>(select_jobs!(
        "WHERE id > $1 AND ($2::text IS NULL OR status = $2) ORDER BY id LIMIT $3"
    ))
    .bind(page.after)
    .bind(status.map(JobStatus::name))
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?;
    Ok(Page::from_rows(rows, page, |job| job.id))
}

/// Queues a failed job again with a fresh budget of attempts.
pub async fn retry(db: &PgPool, id: i64) -> Result<Job, StoreError> {
    let mut tx = db.begin().await?;
    let status = lock_status(&mut tx, id).await?;
    match status {
        None => return Err(StoreError::not_found("job", id)),
        Some(JobStatus::Failed) => {}
        Some(other) => {
            return Err(StoreError::conflict(
                "job_not_failed",
                format!("job {id} is {other}; only failed jobs can be retried"),
            ));
        }
    }
    sqlx::query(
        "UPDATE jobs SET status = 'queued', attempts = 0, run_after = now(), finished_at = NULL,
                updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    // Read back before committing: once committed, a woken worker may claim (and fail) the job
    // before a later read, and the answer would not show the retry.
    let job = sqlx::query_as::<_, Job>(select_jobs!("WHERE id = $1"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    notify_workers(&mut tx).await?;
    tx.commit().await?;
    Ok(job)
}

/// Jobs per status, for the queue-depth gauge.
pub async fn count_by_status(db: &PgPool) -> Result<Vec<(JobStatus, i64)>, StoreError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM jobs GROUP BY status ORDER BY status")
            .fetch_all(db)
            .await?;
    rows.into_iter()
        .map(|(status, count)| Ok((parse_status(status)?, count)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MetricKind;

    #[test]
    fn symmetric_distances_are_keyed_by_ascending_ids_and_pwcca_as_asked() {
        assert_eq!(distance_key(Metric::of(MetricKind::Cka), 9, 4), (4, 9));
        assert_eq!(
            distance_key(Metric::of(MetricKind::Procrustes), 4, 9),
            (4, 9)
        );
        assert_eq!(distance_key(Metric::of(MetricKind::Pwcca), 9, 4), (9, 4));
    }
}
