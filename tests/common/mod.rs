//! Test harness: every test gets its own database, migrated from scratch, and the real
//! application listening on a free port, and talks to it over HTTP with an admin token.

#![allow(dead_code)] // each test crate uses a different part of the harness

pub mod dashboard;

use std::sync::Arc;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Executor};
use tokio::net::TcpListener;

use simbench::access::Scope;
use simbench::config::{DEFAULT_DATABASE_URL, HttpConfig, WorkerConfig};
use simbench::http::ApiContext;
use simbench::matrix::{CanonicalMatrix, Dtype};
use simbench::store::tokens::NewToken;
use simbench::telemetry::Instruments;
use simbench::worker::WorkerPool;
use tokio_util::sync::CancellationToken;

/// The tables whose row counts must not move when a request is refused.
pub const TABLES: &[&str] = &[
    "datasets",
    "models",
    "blobs",
    "blob_chunks",
    "representations",
    "scores",
    "distances",
    "jobs",
    "comparisons",
];

/// The name of the admin token every test app starts with.
pub const TEST_ADMIN: &str = "test-admin";

pub struct TestApp {
    pub base_url: String,
    pub db: PgPool,
    /// Sends the admin token `token` with every request.
    pub client: Client,
    pub token: String,
    /// Stops the in-process workers when the test ends.
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Worker settings for tests: short leases and backoffs, so recovery happens in seconds.
pub fn test_workers(count: usize) -> WorkerConfig {
    WorkerConfig {
        workers: Some(count),
        lease_secs: 2,
        cache_bytes: 256 << 20,
        max_attempts: 3,
        retry_backoff_ms: 50,
    }
}

/// A TCP port free on 127.0.0.1 just now, for a child process to listen on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("bound")
        .port()
}

/// The server the harness creates test databases on.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned())
}

/// Creates an empty database with the schema applied, and returns a pool on it.
pub async fn fresh_database() -> PgPool {
    let (db, _) = empty_database().await;
    simbench::store::migrate(&db)
        .await
        .expect("migrations apply");
    db
}

/// Creates an empty database without any schema; returns a pool on it and its URL.
pub async fn empty_database() -> (PgPool, String) {
    let server: PgConnectOptions = server_url().parse().expect("DATABASE_URL is a valid URL");
    let name = format!("simbench_test_{:016x}", rand::random::<u64>());
    let mut admin = server
        .connect()
        .await
        .expect("PostgreSQL is reachable (run ./scripts/setup-local.sh)");
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .await
        .expect("the role may create databases");
    let db = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(server.clone().database(&name))
        .await
        .expect("the new database accepts connections");
    let mut url = reqwest::Url::parse(&server_url()).expect("DATABASE_URL is a valid URL");
    url.set_path(&name);
    (db, url.to_string())
}

impl TestApp {
    /// The API alone: queued jobs stay queued.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(HttpConfig::default()).await
    }

    pub async fn spawn_with(config: HttpConfig) -> TestApp {
        TestApp::spawn_full(config, test_workers(0)).await
    }

    /// The API with `count` in-process comparison workers.
    pub async fn spawn_with_workers(count: usize) -> TestApp {
        TestApp::spawn_full(HttpConfig::default(), test_workers(count)).await
    }

    pub async fn spawn_full(config: HttpConfig, workers: WorkerConfig) -> TestApp {
        let db = fresh_database().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let base_url = format!("http://{}", listener.local_addr().expect("bound"));
        let instruments = Arc::new(Instruments::new());
        let shutdown = CancellationToken::new();
        WorkerPool::start(db.clone(), &workers, instruments.clone(), shutdown.clone());
        let ctx = ApiContext {
            db: db.clone(),
            config: Arc::new(config),
            instruments,
        };
        let stop = shutdown.clone();
        tokio::spawn(simbench::http::serve(listener, ctx, async move {
            stop.cancelled().await
        }));
        let token = issue_token(&db, TEST_ADMIN, Scope::Admin).await;
        TestApp {
            base_url,
            db,
            client: client_with(&token),
            token,
            shutdown,
        }
    }

    /// The URL of the app's database, for child processes.
    pub async fn database_url(&self) -> String {
        let name: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&self.db)
            .await
            .expect("the database answers");
        let mut url = reqwest::Url::parse(&server_url()).expect("a database URL");
        url.set_path(&name);
        url.to_string()
    }

    /// Creates a token of this scope in the app's database; returns its text.
    pub async fn token(&self, name: &str, scope: Scope) -> String {
        issue_token(&self.db, name, scope).await
    }

    /// Starts `count` more in-process workers on this app's database.
    pub fn start_workers(&self, count: usize) {
        WorkerPool::start(
            self.db.clone(),
            &test_workers(count),
            Arc::new(Instruments::new()),
            self.shutdown.clone(),
        );
    }

    /// Polls a comparison until nothing of it is queued or running; returns its last state.
    pub async fn wait_for_comparison(&self, id: i64) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let state = expect_status(
                self.get(&format!("/v1/comparisons/{id}")).await,
                StatusCode::OK,
            )
            .await;
            if state["queued"] == 0 && state["running"] == 0 {
                return state;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "comparison {id} did not finish: {state}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .put(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Posts raw bytes as an upload body.
    pub async fn post_bytes(&self, path: &str, body: Vec<u8>) -> Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Registers a model and returns its id.
    pub async fn create_model(&self, name: &str) -> i64 {
        let response = self
            .post_json("/v1/models", &serde_json::json!({"name": name}))
            .await;
        let body = expect_status(response, StatusCode::CREATED).await;
        body["id"].as_i64().expect("an id")
    }

    /// Uploads a matrix for (model, dataset, layer) and returns the response body.
    pub async fn upload(&self, model: i64, dataset: &str, layer: i32, npy: Vec<u8>) -> Value {
        let response = self
            .post_bytes(
                &format!("/v1/models/{model}/representations?dataset={dataset}&layer={layer}"),
                npy,
            )
            .await;
        expect_status(response, StatusCode::CREATED).await
    }

    /// The stored matrix of a representation, as `GET .../data` serves it.
    pub async fn download(&self, representation: &Value) -> CanonicalMatrix {
        let response = self
            .get(&format!("/v1/representations/{representation}/data"))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response.bytes().await.expect("a body");
        simbench::matrix::read_matrix(bytes.as_ref(), None).expect("a valid .npy file")
    }

    /// Row counts of every table, to show that a refused request left nothing behind.
    pub async fn row_counts(&self) -> Vec<(&'static str, i64)> {
        let mut counts = Vec::new();
        for table in TABLES {
            let count: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                    .fetch_one(&self.db)
                    .await
                    .expect("count");
            counts.push((*table, count));
        }
        counts
    }
}

/// Creates a token directly in the database, as `simbench token create` does; returns its text.
pub async fn issue_token(db: &PgPool, name: &str, scope: Scope) -> String {
    let new = NewToken {
        name,
        scope,
        expires_in_days: None,
        created_by: None,
    };
    let mut conn = db.acquire().await.expect("a connection");
    let issued = simbench::access::issue(&mut conn, &new)
        .await
        .expect("the token is created");
    issued.plaintext.expose().to_owned()
}

/// A client that sends `token` as its bearer token with every request.
pub fn client_with(token: &str) -> Client {
    let mut bearer = HeaderValue::from_str(&format!("Bearer {token}")).expect("a header value");
    bearer.set_sensitive(true);
    Client::builder()
        .default_headers(HeaderMap::from_iter([(AUTHORIZATION, bearer)]))
        .build()
        .expect("a client")
}

/// Asserts the status (showing the body when it differs) and returns the JSON body, or Null.
pub async fn expect_status(response: Response, status: StatusCode) -> Value {
    let got = response.status();
    let text = response.text().await.expect("a body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

/// Asserts a problem+json response with this status and code; returns the problem.
pub async fn expect_problem(response: Response, status: StatusCode, code: &str) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let problem = expect_status(response, status).await;
    assert_eq!(
        content_type, "application/problem+json",
        "problem: {problem}"
    );
    assert_eq!(problem["code"], code, "problem: {problem}");
    assert_eq!(problem["status"], status.as_u16(), "problem: {problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|detail| !detail.is_empty()),
        "a problem says what went wrong: {problem}"
    );
    problem
}

/// A deterministic n x d float32 matrix as a `.npy` file.
pub fn npy_f32(rows: usize, cols: usize, seed: u64) -> Vec<u8> {
    matrix_f32(rows, cols, seed).to_npy()
}

pub fn matrix_f32(rows: usize, cols: usize, seed: u64) -> CanonicalMatrix {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data = (0..rows * cols)
        .flat_map(|_| {
            // xorshift: cheap, reproducible values in [-1, 1).
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let unit = (state >> 40) as f32 / (1u64 << 24) as f32;
            (unit * 2.0 - 1.0).to_le_bytes()
        })
        .collect();
    CanonicalMatrix {
        dtype: Dtype::Float32,
        rows,
        cols,
        data,
    }
}
