//! The job queue under failure, with real `simbench` processes and the real database: nothing is
//! lost when a worker dies, nothing is written twice, and failures end visibly.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestApp, expect_status, npy_f32};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use reqwest::StatusCode;
use serde_json::{Value, json};
use simbench::access::Scope;

/// A `simbench` child process, killed if the test ends while it runs.
struct Process(Child);

impl Process {
    fn worker(database_url: &str, workers: usize) -> Process {
        Process::start(database_url, &["worker"], workers)
    }

    fn serve(database_url: &str, port: u16, workers: usize) -> Process {
        Process::start(
            database_url,
            &["serve", "--bind", &format!("127.0.0.1:{port}")],
            workers,
        )
    }

    /// A worker process that serves its instruments on `port`.
    fn observable_worker(database_url: &str, port: u16) -> Process {
        Process::start(
            database_url,
            &["worker", "--bind", &format!("127.0.0.1:{port}")],
            1,
        )
    }

    fn start(database_url: &str, args: &[&str], workers: usize) -> Process {
        let child = Command::new(env!("CARGO_BIN_EXE_simbench"))
            .args(args)
            .env("DATABASE_URL", database_url)
            .env("SIMBENCH_WORKERS", workers.to_string())
            .env("SIMBENCH_LEASE_SECS", "2")
            .env("SIMBENCH_MAX_ATTEMPTS", "3")
            .env("SIMBENCH_RETRY_BACKOFF_MS", "50")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        Process(child)
    }

    fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.0.id() as i32), signal).expect("the process exists");
    }

    fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the process did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn upload_layers(app: &TestApp, rows: usize, cols: usize, count: usize) -> Vec<i64> {
    let model = app.create_model("m").await;
    let mut ids = Vec::new();
    for layer in 0..count {
        let created = app
            .upload(
                model,
                "d",
                layer as i32,
                npy_f32(rows, cols, layer as u64 + 1),
            )
            .await;
        ids.push(created["id"].as_i64().unwrap());
    }
    ids
}

async fn compare(app: &TestApp, body: Value) -> i64 {
    let created = expect_status(
        app.post_json("/v1/comparisons", &body).await,
        StatusCode::ACCEPTED,
    )
    .await;
    created["id"].as_i64().unwrap()
}

async fn poll_until(what: &str, within: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_worker_killed_mid_job_loses_nothing_and_writes_nothing_twice() {
    let app = TestApp::spawn().await;
    let url = app.database_url().await;
    // rsa on 4000 examples ranks 8 million dissimilarities per representation: seconds of work.
    let ids = upload_layers(&app, 4000, 64, 2).await;
    let comparison = compare(
        &app,
        json!({"pairs": [[ids[0], ids[1]]], "metrics": ["rsa", "mutual_knn", "cka"]}),
    )
    .await;

    let mut doomed = Process::worker(&url, 1);
    poll_until(
        "the job to be claimed",
        Duration::from_secs(60),
        async || {
            sqlx::query_scalar::<_, String>("SELECT status FROM jobs")
                .fetch_one(&app.db)
                .await
                .unwrap()
                == "running"
        },
    )
    .await;
    doomed.signal(Signal::SIGKILL);
    doomed.wait_exit(Duration::from_secs(10));
    let written: i64 = sqlx::query_scalar("SELECT count(*) FROM distances")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(written, 0, "killed mid-job: nothing written");

    let _rescuer = Process::worker(&url, 1);
    let state = app.wait_for_comparison(comparison).await;
    assert_eq!(state["status"], "done", "{state}");
    let job = expect_status(app.get("/v1/jobs?status=done").await, StatusCode::OK).await;
    assert_eq!(
        job["items"][0]["attempts"], 2,
        "taken again after the lease expired"
    );
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT metric, count(*) FROM distances GROUP BY metric ORDER BY metric")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![
            ("cka".into(), 1),
            ("mutual_knn".into(), 1),
            ("rsa".into(), 1)
        ]
    );
}

#[tokio::test]
async fn two_worker_processes_compute_each_distance_exactly_once() {
    let app = TestApp::spawn().await;
    let url = app.database_url().await;
    let ids = upload_layers(&app, 50, 5, 21).await;
    let comparison = compare(
        &app,
        json!({"representations": ids, "all_pairs": true, "metrics": ["cka", "procrustes"]}),
    )
    .await;
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status = 'queued'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(queued, 210);

    let _first = Process::worker(&url, 1);
    let _second = Process::worker(&url, 1);
    let state = app.wait_for_comparison(comparison).await;
    assert_eq!(
        (state["status"].as_str(), state["done"].as_i64()),
        (Some("done"), Some(210))
    );

    let (distances, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT (metric, rep_a, rep_b)) FROM distances")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        (distances, distinct),
        (420, 420),
        "210 pairs x 2 metrics, each once"
    );
    let (max_attempts, processes): (i32, i64) = sqlx::query_as(
        "SELECT max(attempts), count(DISTINCT split_part(worker, ':', 2)) FROM jobs",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(max_attempts, 1, "no job ran twice");
    assert_eq!(processes, 2, "both processes took jobs");
}

#[tokio::test]
async fn a_job_that_always_fails_ends_failed_with_its_error_and_can_be_retried() {
    let app = TestApp::spawn_with_workers(1).await;
    let ids = upload_layers(&app, 30, 4, 2).await;
    // The stored matrix of the second representation is lost: loading it fails every time.
    sqlx::query("DELETE FROM blob_chunks WHERE blob_id = (SELECT blob_id FROM representations WHERE id = $1)")
        .bind(ids[1])
        .execute(&app.db)
        .await
        .unwrap();
    let comparison = compare(
        &app,
        json!({"pairs": [[ids[0], ids[1]]], "metrics": ["cka"]}),
    )
    .await;
    let state = app.wait_for_comparison(comparison).await;
    assert_eq!(state["status"], "failed", "{state}");

    let failed = expect_status(app.get("/v1/jobs?status=failed").await, StatusCode::OK).await;
    let job = &failed["items"][0];
    assert_eq!(job["attempts"], 3, "the maximum number of attempts");
    let error = job["last_error"].as_str().unwrap();
    assert!(error.contains("holds 0 bytes"), "{error}");

    let retried = app
        .client
        .post(app.url(&format!("/v1/jobs/{}/retry", job["id"])))
        .send()
        .await
        .unwrap();
    let retried = expect_status(retried, StatusCode::OK).await;
    assert_eq!(
        (retried["status"].as_str(), retried["attempts"].as_i64()),
        (Some("queued"), Some(0))
    );
    let state = app.wait_for_comparison(comparison).await;
    assert_eq!(state["failed"], 1, "still failing, so failed again");
    let not_failed = app
        .client
        .post(app.url("/v1/jobs/424242/retry"))
        .send()
        .await
        .unwrap();
    assert_eq!(not_failed.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn jobs_queued_before_a_restart_complete_after_it() {
    let app = TestApp::spawn().await;
    let url = app.database_url().await;
    let ids = upload_layers(&app, 40, 5, 6).await;
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");

    // An API-only service accepts the comparison and is stopped with the jobs still queued.
    let mut api_only = Process::serve(&url, port, 0);
    let client = common::client_with(&app.token);
    poll_until(
        "the service to start",
        Duration::from_secs(30),
        async || {
            client
                .get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        },
    )
    .await;
    let created: Value = client
        .post(format!("{base}/v1/comparisons"))
        .json(&json!({"representations": ids, "all_pairs": true, "metrics": ["cka"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    api_only.signal(Signal::SIGTERM);
    assert!(api_only.wait_exit(Duration::from_secs(10)).success());
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status = 'queued'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(queued, 15);

    let _restarted = Process::serve(&url, port, 2);
    let state = app
        .wait_for_comparison(created["id"].as_i64().unwrap())
        .await;
    assert_eq!(
        (state["status"].as_str(), state["done"].as_i64()),
        (Some("done"), Some(15))
    );
}

#[tokio::test]
async fn deleting_a_representation_cancels_its_queued_jobs() {
    let app = TestApp::spawn().await;
    let ids = upload_layers(&app, 40, 5, 4).await;
    let comparison = compare(
        &app,
        json!({"representations": ids, "all_pairs": true, "metrics": ["cka"]}),
    )
    .await;
    let deleted = app.delete(&format!("/v1/representations/{}", ids[3])).await;
    expect_status(deleted, StatusCode::NO_CONTENT).await;

    let cancelled = expect_status(app.get("/v1/jobs?status=cancelled").await, StatusCode::OK).await;
    let cancelled = cancelled["items"].as_array().unwrap();
    assert_eq!(
        cancelled.len(),
        3,
        "the three pairs with the deleted representation"
    );
    assert!(
        cancelled[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("deleted")
    );

    app.start_workers(1);
    let state = app.wait_for_comparison(comparison).await;
    assert_eq!(
        (
            state["done"].as_i64(),
            state["cancelled"].as_i64(),
            state["failed"].as_i64()
        ),
        (Some(3), Some(3), Some(0))
    );
    let failed = expect_status(app.get("/v1/jobs?status=failed").await, StatusCode::OK).await;
    assert!(
        failed["items"].as_array().unwrap().is_empty(),
        "cancelled, not failed forever"
    );
}

#[tokio::test]
async fn a_worker_process_serves_the_instruments_of_its_own_workers() {
    let app = TestApp::spawn().await;
    let url = app.database_url().await;
    let ids = upload_layers(&app, 40, 5, 4).await;
    let comparison = compare(
        &app,
        json!({"representations": ids, "all_pairs": true, "metrics": ["cka", "svcca"]}),
    )
    .await;
    let port = common::free_port();
    let _worker = Process::observable_worker(&url, port);
    let state = app.wait_for_comparison(comparison).await;
    assert_eq!(
        (state["status"].as_str(), state["done"].as_i64()),
        (Some("done"), Some(6))
    );

    let metrics_url = format!("http://127.0.0.1:{port}/metrics");
    let anonymous = reqwest::Client::new();
    let refused = anonymous.get(&metrics_url).send().await.unwrap();
    common::expect_problem(refused, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let healthy = anonymous
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(healthy.status(), StatusCode::OK);

    let reader = common::client_with(&app.token("scraper", Scope::Read).await);
    let expected = [
        "simbench_jobs_finished_total{outcome=\"done\"} 6",
        "simbench_compute_seconds_count{metric=\"cka\"} 6",
        "simbench_compute_seconds_count{metric=\"svcca\"} 6",
        "simbench_jobs{status=\"done\"} 6",
    ];
    // The worker counts a job just after committing it, so the last count may trail the API.
    poll_until(
        "the worker's counters",
        Duration::from_secs(10),
        async || {
            let response = reader.get(&metrics_url).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let exposition = response.text().await.unwrap();
            expected
                .iter()
                .all(|line| exposition.lines().any(|got| got == *line))
        },
    )
    .await;
    // The API process ran no worker: its own counters know nothing of these jobs.
    let api = app.get("/metrics").await.text().await.unwrap();
    assert!(
        !api.contains("simbench_jobs_finished_total{outcome=\"done\"}"),
        "{api}"
    );
    let unrouted = reader
        .get(format!("http://127.0.0.1:{port}/v1/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(unrouted.status(), StatusCode::NOT_FOUND);
}
