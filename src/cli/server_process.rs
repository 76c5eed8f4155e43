//! A `simbench serve` child process on a free port, for benchmarks that measure the service as
//! it runs in production: over HTTP, in its own process, with a token of their own.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::access::{self, Scope};
use crate::config::DatabaseConfig;
use crate::store::{self, tokens};

pub struct ServerProcess {
    child: Child,
    db: PgPool,
    pub base_url: String,
    /// Sends this run's write token with every request.
    pub client: reqwest::Client,
    /// A name unique to this run, for the dataset and models it creates and for its token.
    pub run_name: String,
}

impl ServerProcess {
    /// Starts `simbench serve` with extra environment (`SIMBENCH_*` settings), waits until it is
    /// ready, and creates a write token for this run (revoked by `stop`). The token is made
    /// after the server started, so that a first start on an empty database still hands the
    /// operator their admin token.
    pub async fn start(
        database: &DatabaseConfig,
        environment: &[(&str, String)],
    ) -> anyhow::Result<ServerProcess> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", &database.database_url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        for (name, value) in environment {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .context("could not start `simbench serve`")?;
        let base_url = format!("http://127.0.0.1:{port}");
        let ready = async {
            wait_ready(&base_url).await?;
            run_token(database).await
        };
        match ready.await {
            Ok((db, run_name, client)) => Ok(ServerProcess {
                child,
                db,
                base_url,
                client,
                run_name,
            }),
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(error)
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Registers a model named after this run; returns its id.
    pub async fn create_model(&self, suffix: &str) -> anyhow::Result<i64> {
        let created = self
            .json_request(self.client.post(self.url("/v1/models")).json(
                &json!({"name": format!("{}-{suffix}", self.run_name), "tags": ["benchmark"]}),
            ))
            .await?;
        created["id"]
            .as_i64()
            .context("the created model has an id")
    }

    /// Deletes a model with everything computed from it.
    pub async fn delete_model(&self, model: i64) -> anyhow::Result<()> {
        self.client
            .delete(self.url(&format!("/v1/models/{model}?cascade=true")))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// Uploads a `.npy` body as (model, dataset, layer); returns the representation.
    pub async fn upload(
        &self,
        model: i64,
        dataset: &str,
        layer: usize,
        npy: Vec<u8>,
    ) -> anyhow::Result<Value> {
        self.json_request(
            self.client
                .post(self.url(&format!(
                    "/v1/models/{model}/representations?dataset={dataset}&layer={layer}"
                )))
                .header("content-type", "application/x-npy")
                .body(npy),
        )
        .await
    }

    /// Sends a request and returns its JSON body, or the problem it answered.
    pub async fn json_request(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request.send().await?;
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            bail!("the service answered {status}: {body}");
        }
        Ok(serde_json::from_str(&body)?)
    }

    /// Resident memory now, in bytes.
    pub fn resident_bytes(&self) -> anyhow::Result<u64> {
        proc_status_kib(self.pid(), "VmRSS:").map(|kib| kib * 1024)
    }

    /// Peak resident memory since the process started, in bytes.
    pub fn peak_resident_bytes(&self) -> anyhow::Result<u64> {
        proc_status_kib(self.pid(), "VmHWM:").map(|kib| kib * 1024)
    }

    /// Revokes this run's token, then stops the server with SIGTERM (a graceful shutdown),
    /// killing it if it lingers.
    pub async fn stop(mut self) {
        if let Err(error) = tokens::revoke(&self.db, &self.run_name).await {
            tracing::warn!(%error, token = %self.run_name, "could not revoke the benchmark's token");
        }
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        for _ in 0..200 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A write token named after a new run, and a client that sends it.
async fn run_token(database: &DatabaseConfig) -> anyhow::Result<(PgPool, String, reqwest::Client)> {
    let db = store::connect(database)
        .await
        .context("could not connect to PostgreSQL (check DATABASE_URL)")?;
    let run_name = format!("bench-{:08x}", rand::random::<u32>());
    let new = tokens::NewToken {
        name: &run_name,
        scope: Scope::Write,
        expires_in_days: Some(1),
        created_by: None,
    };
    let issued = access::issue(&mut *db.acquire().await?, &new).await?;
    let mut bearer = HeaderValue::from_str(&format!("Bearer {}", issued.plaintext.expose()))?;
    bearer.set_sensitive(true);
    let client = reqwest::Client::builder()
        .default_headers(HeaderMap::from_iter([(AUTHORIZATION, bearer)]))
        .build()?;
    Ok((db, run_name, client))
}

async fn wait_ready(base_url: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for _ in 0..300 {
        let ready = client.get(format!("{base_url}/readyz")).send().await;
        if ready.is_ok_and(|response| response.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("`simbench serve` did not become ready within 30 s")
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
