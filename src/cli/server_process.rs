//! A `simbench serve` child process on a free port and a scratch database, for benchmarks that
//! measure the service as it runs in production: over HTTP, in its own process, with a token.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ndarray::Array2;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Executor};

use super::client::{Client, NewModel};
use crate::access::{self, Scope};
use crate::config::{DatabaseConfig, cores};
use crate::matrix::{CanonicalMatrix, Dtype};
use crate::metrics::Metric;
use crate::store::{self, tokens::NewToken};
use crate::synthetic::{SignalSpec, drifting_layers};

/// What every benchmark that runs its own `simbench serve` takes: the PostgreSQL server to make
/// a scratch database on, the service's worker count, and the output form.
#[derive(Clone, Debug, clap::Args)]
pub struct ServiceBenchArgs {
    #[command(flatten)]
    pub database: DatabaseConfig,

    /// Workers of the service (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,

    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl ServiceBenchArgs {
    /// Workers the service runs: as given, or one per core.
    pub fn worker_count(&self) -> usize {
        self.workers.unwrap_or_else(cores)
    }
}

/// What a service benchmark ran on, the head of its report.
#[derive(Debug, Serialize)]
pub struct StudyShape {
    pub representations: usize,
    /// Rows (examples) per representation.
    pub n: usize,
    /// Columns (features) per representation.
    pub d: usize,
    /// Workers of the service.
    pub workers: usize,
}

impl std::fmt::Display for StudyShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} representations ({} x {} float32), {} workers",
            self.representations, self.n, self.d, self.workers
        )
    }
}

pub struct ServerProcess {
    child: Child,
    /// Sends a write token of the scratch database with every request.
    pub api: Client,
    /// That write token, for what logs in with it (the dashboard's session).
    pub token: String,
    /// A name unique to this run, for the dataset and models it creates.
    pub run_name: String,
    scratch: ScratchDatabase,
}

/// A database made for one benchmark run on the server of `DATABASE_URL`, so measurements start
/// from an empty schema and leave the user's data alone.
struct ScratchDatabase {
    server: PgConnectOptions,
    name: String,
}

impl ScratchDatabase {
    async fn create(database: &DatabaseConfig) -> anyhow::Result<ScratchDatabase> {
        // Creating and dropping a database takes seconds on a busy disk; that is not news.
        let server: PgConnectOptions = database
            .database_url
            .parse::<PgConnectOptions>()?
            .log_slow_statements(log::LevelFilter::Off, Duration::ZERO);
        let name = format!("simbench_bench_{:08x}", rand::random::<u32>());
        let mut admin = server
            .connect()
            .await
            .context("could not connect to PostgreSQL (DATABASE_URL)")?;
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await
            .context("the benchmark needs a role that may create databases")?;
        Ok(ScratchDatabase { server, name })
    }

    fn url(&self, database: &DatabaseConfig) -> anyhow::Result<String> {
        let mut url = reqwest::Url::parse(&database.database_url)?;
        url.set_path(&self.name);
        Ok(url.to_string())
    }

    async fn drop(self) {
        let dropped = async {
            let mut admin = self.server.connect().await?;
            admin
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    self.name
                )))
                .await
        };
        if let Err(error) = dropped.await {
            eprintln!("could not drop the scratch database {}: {error}", self.name);
        }
    }
}

impl ServerProcess {
    /// Starts `simbench serve` with extra environment (`SIMBENCH_*` settings) and waits until
    /// it is ready.
    pub async fn start(
        database: &DatabaseConfig,
        environment: &[(&str, String)],
    ) -> anyhow::Result<ServerProcess> {
        let scratch = ScratchDatabase::create(database).await?;
        let token = match write_token(&scratch.url(database)?).await {
            Ok(token) => token,
            Err(error) => {
                scratch.drop().await;
                return Err(error);
            }
        };
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", scratch.url(database)?)
            .env("RUST_LOG", "warn")
            // Measurements of throughput and latency, not of the rate limiter.
            .env("SIMBENCH_RATE_LIMIT_PER_MINUTE", "0")
            .stdout(Stdio::null());
        for (name, value) in environment {
            command.env(name, value);
        }
        let child = command
            .spawn()
            .context("could not start `simbench serve`")?;
        let server = ServerProcess {
            child,
            api: Client::new(&format!("http://127.0.0.1:{port}"), Some(&token))?,
            token,
            run_name: format!("bench-{:08x}", rand::random::<u32>()),
            scratch,
        };
        for _ in 0..300 {
            let ready = server
                .api
                .http()
                .get(server.api.url("/readyz"))
                .send()
                .await;
            if ready.is_ok_and(|response| response.status().is_success()) {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server.stop().await;
        bail!("`simbench serve` did not become ready within 30 s")
    }

    /// Starts the service with the benchmark's workers and a representation cache that holds a
    /// whole study, so that a throughput figure measures computing, not re-reading matrices.
    pub async fn start_computing(service: &ServiceBenchArgs) -> anyhow::Result<ServerProcess> {
        ServerProcess::start(
            &service.database,
            &[
                ("SIMBENCH_WORKERS", service.worker_count().to_string()),
                ("SIMBENCH_CACHE_BYTES", (8u64 << 30).to_string()),
            ],
        )
        .await
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Registers a model named after this run; returns its id.
    pub async fn create_model(&self, suffix: &str) -> anyhow::Result<i64> {
        let name = format!("{}-{suffix}", self.run_name);
        let new = NewModel {
            name,
            metadata: json!({}),
            tags: vec!["benchmark".to_owned()],
        };
        Ok(self.api.create_model(&new).await?.id)
    }

    /// Uploads the activations of a model's layers, as float32, to this run's dataset; returns
    /// the representation ids in layer order.
    pub async fn upload_layers(
        &self,
        model: i64,
        layers: &[Array2<f64>],
    ) -> anyhow::Result<Vec<i64>> {
        let mut ids = Vec::with_capacity(layers.len());
        for (layer, activations) in layers.iter().enumerate() {
            let npy = CanonicalMatrix::from_f64_as(Dtype::Float32, activations).to_npy();
            ids.push(self.api.upload(model, &self.run_name, layer, npy).await?.id);
        }
        Ok(ids)
    }

    /// Uploads the layers of each model of `study` (not timed) as one model each; returns the
    /// representation ids, model by model in layer order.
    pub async fn upload_study(&self, study: &[Vec<Array2<f64>>]) -> anyhow::Result<Vec<i64>> {
        let mut ids = Vec::new();
        for (index, layers) in study.iter().enumerate() {
            let model = self.create_model(&format!("network-{index}")).await?;
            ids.extend(self.upload_layers(model, layers).await?);
        }
        Ok(ids)
    }

    /// Asks for `metrics` on `pairs` in one comparison and returns the seconds from the request
    /// to its last distance; an error unless every job of it finished.
    pub async fn time_comparison(
        &self,
        pairs: &[[i64; 2]],
        metrics: &[Metric],
    ) -> anyhow::Result<f64> {
        let started = Instant::now();
        let comparison: Value = self
            .api
            .post_json(
                "/v1/comparisons",
                &json!({"pairs": pairs, "metrics": metrics}),
            )
            .await?;
        let id = comparison["id"]
            .as_i64()
            .context("a comparison has an id")?;
        let state = loop {
            let state: Value = self.api.get_json(&format!("/v1/comparisons/{id}")).await?;
            if state["queued"] == 0 && state["running"] == 0 {
                break state;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let seconds = started.elapsed().as_secs_f64();
        if state["status"] != "done" {
            bail!("the comparison ended {}: {state}", state["status"]);
        }
        Ok(seconds)
    }

    /// The text of `GET /metrics`.
    pub async fn prometheus_text(&self) -> anyhow::Result<String> {
        let response = self.api.http().get(self.api.url("/metrics")).send().await?;
        Ok(response.error_for_status()?.text().await?)
    }

    /// Resident memory now, in bytes.
    pub fn resident_bytes(&self) -> anyhow::Result<u64> {
        proc_status_kib(self.pid(), "VmRSS:").map(|kib| kib * 1024)
    }

    /// Peak resident memory since the process started, in bytes.
    pub fn peak_resident_bytes(&self) -> anyhow::Result<u64> {
        proc_status_kib(self.pid(), "VmHWM:").map(|kib| kib * 1024)
    }

    /// Stops the server with SIGTERM (a graceful shutdown), killing it if it lingers, and drops
    /// its database.
    pub async fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let mut exited = false;
        for _ in 0..200 {
            if let Ok(Some(_)) = self.child.try_wait() {
                exited = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.scratch.drop().await;
    }
}

/// Migrates the scratch database and makes a write token in it, so that the server starts with a
/// token (and leaves the first start's admin token file alone); returns the token.
async fn write_token(database_url: &str) -> anyhow::Result<String> {
    let config = DatabaseConfig {
        database_url: database_url.to_owned(),
        db_connections: 1,
    };
    let db = store::connect(&config).await?;
    store::migrate(&db).await?;
    let new = NewToken {
        name: "bench",
        scope: Scope::Write,
        expires_in_days: None,
        created_by: None,
    };
    let issued = access::issue(&mut *db.acquire().await?, &new).await?;
    db.close().await;
    Ok(issued.plaintext.expose().to_owned())
}

/// What the service benchmarks study: `representations` layers of n x d activations split over
/// two models of `synthetic::drifting_layers`, layer by layer for each model.
pub fn drifting_study(representations: usize, n: usize, d: usize) -> Vec<Vec<Array2<f64>>> {
    let spec = SignalSpec::new(n, d);
    let per_model = representations.div_ceil(2);
    [11u64, 12]
        .into_iter()
        .enumerate()
        .filter_map(|(index, seed)| {
            let layers = per_model.min(representations - index * per_model);
            (layers > 0).then(|| drifting_layers(&spec, layers, 0.3, seed))
        })
        .collect()
}

/// Each unordered pair of `ids` once.
pub fn unordered_pairs(ids: &[i64]) -> Vec<[i64; 2]> {
    ids.iter()
        .enumerate()
        .flat_map(|(index, &first)| ids[index + 1..].iter().map(move |&second| [first, second]))
        .collect()
}

/// A field of `/proc/<pid>/status`, in KiB.
fn proc_status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}
