//! Comparison workers: claim a job, keep its lease alive, load and prepare both representations
//! (through a shared byte-bounded cache), compute the metrics off the async runtime, and write
//! the distances with the done mark in one transaction (DESIGN, Jobs).

mod cache;
mod wakeup;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::{Mutex, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use cache::PreparedCache;

use crate::config::{WorkerConfig, cores};
use crate::metrics::{self, MemoryBudget, Metric, MetricError, Prepared};
use crate::store::jobs::{self, ClaimedJob, Completion, ComputedDistance, distance_key};
use crate::store::status::JobStatus;
use crate::store::{StoreError, blobs, representations};
use crate::telemetry::Instruments;

/// The running workers of a process.
pub struct WorkerPool {
    tasks: Vec<JoinHandle<()>>,
}

/// What the workers of a process share.
struct Shared {
    db: PgPool,
    cache: PreparedCache,
    wakeup: Arc<Notify>,
    instruments: Arc<Instruments>,
    shutdown: CancellationToken,
    lease: Duration,
    /// What one comparison's measures may allocate (README, Measures: "Memory").
    budget: MemoryBudget,
    max_attempts: i32,
    retry_backoff: Duration,
    /// How long an idle worker waits without a notification before looking again (a safety
    /// net for lost notifications, and the pace of lease rescue).
    idle_poll: Duration,
    last_rescue: Mutex<Instant>,
    process: String,
}

impl WorkerPool {
    /// Starts `config.worker_count()` workers (none when 0) until `shutdown` is cancelled. Sets the
    /// BLAS threads so that workers x BLAS threads does not exceed the cores.
    pub fn start(
        db: PgPool,
        config: &WorkerConfig,
        instruments: Arc<Instruments>,
        shutdown: CancellationToken,
    ) -> WorkerPool {
        let count = config.worker_count();
        if count == 0 {
            return WorkerPool { tasks: Vec::new() };
        }
        let blas_threads = (cores() / count).max(1);
        metrics::set_blas_threads(blas_threads);
        let lease = Duration::from_secs(config.lease_secs.max(1));
        let shared = Arc::new(Shared {
            db: db.clone(),
            cache: PreparedCache::new(config.cache_bytes),
            wakeup: Arc::new(Notify::new()),
            instruments,
            shutdown: shutdown.clone(),
            lease,
            budget: config.measure_memory_budget(),
            max_attempts: config.max_attempts.max(1),
            retry_backoff: Duration::from_millis(config.retry_backoff_ms),
            idle_poll: (lease / 4).clamp(Duration::from_millis(500), Duration::from_secs(15)),
            last_rescue: Mutex::new(Instant::now() - lease),
            process: process_name(),
        });
        tracing::info!(
            workers = count,
            blas_threads,
            blas_core = metrics::blas_core(),
            lease_secs = lease.as_secs(),
            "starting comparison workers"
        );
        let mut tasks = vec![tokio::spawn(wakeup::listen(
            db,
            shared.wakeup.clone(),
            shutdown,
        ))];
        for index in 0..count {
            let shared = shared.clone();
            tasks.push(tokio::spawn(async move {
                let name = format!("{}:{index}", shared.process);
                run(&shared, &name).await;
            }));
        }
        WorkerPool { tasks }
    }

    /// Waits for every worker to stop (after the shutdown token is cancelled).
    pub async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// `host:pid`, so a job's `worker` says which process held it.
fn process_name() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_else(|| "unknown-host".into());
    format!("{host}:{}", std::process::id())
}

/// One worker's loop: claim, execute, repeat; wait for a wake-up when the queue is empty.
async fn run(shared: &Shared, worker: &str) {
    while !shared.shutdown.is_cancelled() {
        rescue_if_due(shared).await;
        // Registered before looking, so a notification sent while we look is not missed.
        let notified = shared.wakeup.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match jobs::claim(&shared.db, worker, shared.lease, &shared.cache.ready_ids()).await {
            Ok(Some(job)) => execute(shared, worker, job).await,
            Ok(None) => {
                let pause = idle_pause(shared).await;
                tokio::select! {
                    () = shared.shutdown.cancelled() => {}
                    () = &mut notified => {}
                    () = tokio::time::sleep(pause) => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, worker, "cannot claim jobs; retrying");
                tokio::select! {
                    () = shared.shutdown.cancelled() => {}
                    () = tokio::time::sleep(shared.idle_poll) => {}
                }
            }
        }
    }
}

/// Until the next poll, or until the earliest job waiting out its backoff is due.
async fn idle_pause(shared: &Shared) -> Duration {
    match jobs::next_due(&shared.db).await {
        Ok(Some(due)) => (due - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(shared.idle_poll),
        _ => shared.idle_poll,
    }
}

/// Returns expired leases to the queue, at most every quarter lease per process.
async fn rescue_if_due(shared: &Shared) {
    let mut last = shared.last_rescue.lock().await;
    if last.elapsed() < shared.lease / 4 {
        return;
    }
    *last = Instant::now();
    match jobs::rescue_expired(&shared.db, shared.max_attempts).await {
        Ok(0) => {}
        Ok(rescued) => tracing::warn!(rescued, "returned jobs with expired leases to the queue"),
        Err(error) => tracing::warn!(%error, "cannot rescue expired leases"),
    }
}

/// Runs one claimed job to its end: done, retried later, failed, or released on shutdown.
async fn execute(shared: &Shared, worker: &str, job: ClaimedJob) {
    let lost_lease = Arc::new(AtomicBool::new(false));
    let heartbeat = tokio::spawn(keep_lease(
        shared.db.clone(),
        job.id,
        worker.to_owned(),
        shared.lease,
        lost_lease.clone(),
    ));
    let outcome = tokio::select! {
        outcome = compute(shared, &job) => Some(outcome),
        () = shared.shutdown.cancelled() => None,
    };
    heartbeat.abort();
    let finished = &shared.instruments.jobs_finished;
    match outcome {
        None => {
            if let Err(error) = jobs::release(&shared.db, job.id, worker).await {
                tracing::warn!(%error, job = job.id, "cannot release the job on shutdown");
            }
        }
        Some(Ok(distances)) => match jobs::complete(&shared.db, job.id, &distances).await {
            Ok(Completion::Stored) => {
                finished.with_label_values(&["done"]).inc();
                for distance in &distances {
                    shared
                        .instruments
                        .compute_seconds
                        .with_label_values(&[distance.metric.name()])
                        .observe(distance.seconds);
                }
                if lost_lease.load(Ordering::Relaxed) {
                    tracing::info!(
                        job = job.id,
                        "finished after losing the lease; results kept once"
                    );
                }
            }
            Ok(Completion::Cancelled) => finished.with_label_values(&["cancelled"]).inc(),
            Err(error) => fail(shared, worker, &job, &WorkerError::from(error)).await,
        },
        Some(Err(error)) => fail(shared, worker, &job, &error).await,
    }
    shared
        .instruments
        .prepared_cache_bytes
        .set(shared.cache.bytes() as i64);
}

async fn fail(shared: &Shared, worker: &str, job: &ClaimedJob, error: &WorkerError) {
    let error = error.to_string();
    tracing::warn!(
        job = job.id,
        attempt = job.attempts,
        error,
        "comparison job failed"
    );
    match jobs::fail(
        &shared.db,
        job.id,
        worker,
        &error,
        shared.max_attempts,
        shared.retry_backoff,
    )
    .await
    {
        Ok(Some(status)) => {
            let outcome = if status == JobStatus::Failed {
                "failed"
            } else {
                "retried"
            };
            shared
                .instruments
                .jobs_finished
                .with_label_values(&[outcome])
                .inc();
        }
        Ok(None) => {}
        Err(error) => tracing::warn!(%error, job = job.id, "cannot record the failure"),
    }
}

/// Renews the lease every third of its length until aborted; flags a lost lease.
async fn keep_lease(db: PgPool, id: i64, worker: String, lease: Duration, lost: Arc<AtomicBool>) {
    let mut ticks = tokio::time::interval(lease / 3);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        match jobs::heartbeat(&db, id, &worker, lease).await {
            Ok(true) => {}
            Ok(false) => {
                lost.store(true, Ordering::Relaxed);
                return;
            }
            Err(error) => tracing::warn!(%error, job = id, "heartbeat failed"),
        }
    }
}

/// Loads, prepares and compares; a metric refusing the pair is an outcome, not a failure.
async fn compute(shared: &Shared, job: &ClaimedJob) -> Result<Vec<ComputedDistance>, WorkerError> {
    let first = prepared(shared, job.rep_a).await?;
    let second = prepared(shared, job.rep_b).await?;
    let (first, second) = match (first, second) {
        (Ok(first), Ok(second)) => (first, second),
        (Err(refusal), _) | (_, Err(refusal)) => {
            return Ok(job
                .metrics
                .iter()
                .map(|&metric| outcome(job, metric, Err(refusal.clone()), 0.0))
                .collect());
        }
    };
    let metrics_wanted = job.metrics.clone();
    let budget = shared.budget;
    let timed = tokio::task::spawn_blocking(move || {
        let prepared = [
            first.prepare_within(&metrics_wanted, budget),
            second.prepare_within(&metrics_wanted, budget),
        ];
        let mut timed = metrics::compare_timed(&first, &second, &metrics_wanted, budget);
        // A metric's seconds include the parts of the representations it was first to need,
        // so that the telemetry shows preparation as the cache amortises it.
        for (metric, outcome) in &mut timed {
            outcome.seconds += (prepared.iter())
                .filter_map(|seconds| seconds.get(metric))
                .sum::<f64>();
        }
        timed
    })
    .await
    .map_err(|error| WorkerError::Crashed("the computation", panic_message(error)))?;
    let mut distances = Vec::with_capacity(timed.len());
    for (metric, timed) in timed {
        let value = match timed.value {
            Ok(value) => Ok(value),
            Err(error) if is_refusal(&error) => Err(error.to_string()),
            Err(source) => return Err(WorkerError::Metric { metric, source }),
        };
        distances.push(outcome(job, metric, value, timed.seconds));
    }
    Ok(distances)
}

fn outcome(
    job: &ClaimedJob,
    metric: Metric,
    value: Result<f64, String>,
    seconds: f64,
) -> ComputedDistance {
    let (rep_a, rep_b) = distance_key(metric, job.rep_a, job.rep_b);
    ComputedDistance {
        metric,
        rep_a,
        rep_b,
        outcome: value,
        seconds,
    }
}

/// A metric not being defined for an input is recorded with the pair; so is a representation
/// without variance, which no metric is defined for. Anything else is a failure to retry.
fn is_refusal(error: &MetricError) -> bool {
    error.is_refusal() || matches!(error, MetricError::ZeroVariance { .. })
}

/// A representation ready for comparison (outer error: the job fails), or the reason no metric
/// is defined for it (inner error: every metric refuses the pair).
async fn prepared(shared: &Shared, id: i64) -> Result<Result<Arc<Prepared>, String>, WorkerError> {
    let loaded = shared
        .cache
        .get_or_prepare(id, || load_and_prepare(shared, id))
        .await;
    match loaded {
        Ok(prepared) => Ok(Ok(prepared)),
        Err(LoadError::Refused(reason)) => Ok(Err(reason)),
        Err(LoadError::Failed(reason)) => Err(reason),
    }
}

/// Why a job could not run to an outcome; the job is retried, and its error shown once it has
/// failed for good. (A metric refusing a pair is an outcome, not one of these.)
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("loading the representations: {0}")]
    Store(#[from] StoreError),

    #[error("representation {id}: {source}")]
    Preparation { id: i64, source: MetricError },

    #[error("{metric}: {source}")]
    Metric { metric: Metric, source: MetricError },

    #[error("{0} crashed: {1}")]
    Crashed(&'static str, String),
}

/// A representation that could not be prepared: refused by every metric, or failed.
enum LoadError {
    Refused(String),
    Failed(WorkerError),
}

impl From<StoreError> for LoadError {
    fn from(error: StoreError) -> LoadError {
        LoadError::Failed(error.into())
    }
}

async fn load_and_prepare(shared: &Shared, id: i64) -> Result<Arc<Prepared>, LoadError> {
    let started = Instant::now();
    let representation = representations::get(&shared.db, id).await?;
    let (n, d) = (representation.n_rows, representation.n_cols);
    if let Err(error) = shared.budget.check_preparation(
        usize::try_from(n).unwrap_or(usize::MAX),
        usize::try_from(d).unwrap_or(usize::MAX),
    ) {
        return Err(LoadError::Refused(format!("representation {id}: {error}")));
    }
    let matrix = blobs::read(&shared.db, representation.blob_id).await?;
    shared
        .instruments
        .prepare_seconds
        .with_label_values(&["load"])
        .observe(started.elapsed().as_secs_f64());
    let started = Instant::now();
    let prepared = tokio::task::spawn_blocking(move || Prepared::new(matrix.to_f64()))
        .await
        .map_err(|error| {
            LoadError::Failed(WorkerError::Crashed("preparation", panic_message(error)))
        })?;
    shared
        .instruments
        .prepare_seconds
        .with_label_values(&["prepare"])
        .observe(started.elapsed().as_secs_f64());
    match prepared {
        Ok(prepared) => Ok(Arc::new(prepared)),
        Err(error) if is_refusal(&error) => {
            Err(LoadError::Refused(format!("representation {id}: {error}")))
        }
        Err(source) => Err(LoadError::Failed(WorkerError::Preparation { id, source })),
    }
}

fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|text| text.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into()),
        Err(error) => error.to_string(),
    }
}
