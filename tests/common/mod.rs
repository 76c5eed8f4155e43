//! Test harness: every test gets its own database, migrated from scratch, and the real
//! application listening on a free port, and talks to it over HTTP with an admin token.

#![allow(dead_code)] // each test crate uses a different part of the harness

pub mod dashboard;
pub mod measures;

use std::sync::Arc;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Executor};

use simbench::access::Scope;
use simbench::access::bootstrap::INITIAL_ADMIN;
use simbench::app::Application;
use simbench::cli::client as api;
use simbench::config::{
    AccessConfig, DEFAULT_DATABASE_URL, DatabaseConfig, HttpConfig, ServeConfig, WorkerConfig,
};
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
    "model_outputs",
    "scores",
    "distances",
    "jobs",
    "comparisons",
];

/// The name of the admin token every test app starts with: the one the first start creates.
pub const TEST_ADMIN: &str = INITIAL_ADMIN;

pub struct TestApp {
    pub base_url: String,
    pub db: PgPool,
    /// Sends the admin token `token` with every request.
    pub client: Client,
    /// The typed client of the CLI, with the same token: for tests that set up data rather than
    /// look at the wire format.
    pub api: api::Client,
    pub token: String,
    /// Stops the server and the in-process workers when the test ends.
    shutdown: CancellationToken,
    /// Holds the first start's admin-token file; removed with the app.
    _data_dir: tempfile::TempDir,
    /// Dropped last: the database goes once nothing uses it.
    database: TestDatabase,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A database of one test, dropped (with any connection still open to it) when the test ends.
pub struct TestDatabase {
    pub pool: PgPool,
    pub url: String,
    name: String,
}

impl TestDatabase {
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async code: a thread of its own with its own runtime does the work,
        // and joining it keeps the test process alive until the database is gone.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let server: PgConnectOptions = server_url().parse().expect("a database URL");
                let mut admin = server.connect().await.expect("PostgreSQL is reachable");
                admin
                    .execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .await
                    .map(|_| ())
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop test database {}: {error}", self.name);
        }
    }
}

/// Worker settings for tests: short leases and backoffs, so recovery happens in seconds.
pub fn test_workers(count: usize) -> WorkerConfig {
    WorkerConfig {
        workers: Some(count),
        lease_secs: 2,
        cache_bytes: 256 << 20,
        measure_memory_bytes: None,
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

/// Creates an empty database without any schema; returns a pool on it and its URL.
pub async fn empty_database() -> TestDatabase {
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
    TestDatabase {
        pool: db,
        url: url.to_string(),
        name,
    }
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

    /// The real start-up path (`Application::build`, as `simbench serve` runs it) on a fresh
    /// database: migrations, the first admin token (read back from its file), the workers.
    pub async fn spawn_full(config: HttpConfig, workers: WorkerConfig) -> TestApp {
        let database = empty_database().await;
        let data_dir = tempfile::tempdir().expect("a temporary directory");
        let serve = ServeConfig {
            database: DatabaseConfig {
                database_url: database.url.clone(),
                db_connections: 8,
            },
            http: HttpConfig {
                bind: "127.0.0.1:0".parse().expect("an address"),
                ..config
            },
            workers,
            access: AccessConfig {
                data_dir: Some(data_dir.path().to_owned()),
                admin_token_file: None,
            },
        };
        let application = Application::build(serve).await.expect("the service starts");
        let address = application.address().expect("the service listens");
        let token_file = application
            .admin_token_file()
            .expect("a fresh database gets an admin token")
            .clone();
        let token = std::fs::read_to_string(&token_file)
            .expect("the admin token file is readable")
            .trim()
            .to_owned();
        let db = application.db().clone();
        let shutdown = application.shutdown_token();
        tokio::spawn(application.run_until(std::future::pending()));
        TestApp {
            base_url: format!("http://{address}"),
            db,
            client: client_with(&token),
            api: api::Client::new(&format!("http://{address}"), Some(&token))
                .expect("the typed client"),
            token,
            shutdown,
            _data_dir: data_dir,
            database,
        }
    }

    /// The URL of the app's database, for child processes.
    pub async fn database_url(&self) -> String {
        self.database.url.clone()
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

    /// Puts raw bytes as an upload body.
    pub async fn put_bytes(&self, path: &str, body: Vec<u8>) -> Response {
        self.client
            .put(self.url(path))
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Registers a model with no metadata and no tags; returns its id.
    pub async fn create_model(&self, name: &str) -> i64 {
        let new = api::NewModel {
            name: name.to_owned(),
            metadata: serde_json::json!({}),
            tags: Vec::new(),
        };
        self.api.create_model(&new).await.expect("a model").id
    }

    /// Uploads a matrix for (model, dataset, layer) through the typed client; returns the
    /// stored representation.
    pub async fn upload_representation(
        &self,
        model: i64,
        dataset: &str,
        layer: usize,
        npy: Vec<u8>,
    ) -> api::Representation {
        self.api
            .upload(model, dataset, layer, npy)
            .await
            .expect("an upload")
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

/// Polls a benchmark until none of its distances is queued or running.
pub async fn wait_for_benchmark(app: &TestApp, id: i64) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let state = expect_status(
            app.get(&format!("/v1/benchmarks/{id}")).await,
            StatusCode::OK,
        )
        .await;
        if state["progress"]["queued"] == 0 && state["progress"]["running"] == 0 {
            return state;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "benchmark {id} did not finish: {state}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
