//! `simbench bench-upload`: upload latency of a typical matrix and the server's peak memory while
//! a large one streams in, measured against a real `simbench serve` child process.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use futures::stream;
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::DatabaseConfig;
use crate::matrix::{Dtype, npy_header};

#[derive(Clone, Debug, clap::Args)]
pub struct BenchUploadArgs {
    #[command(flatten)]
    pub database: DatabaseConfig,

    /// Rows of the typical matrix (examples).
    #[arg(long, default_value_t = 4000)]
    pub rows: usize,

    /// Columns of the typical matrix (features).
    #[arg(long, default_value_t = 768)]
    pub cols: usize,

    /// Uploads of the typical matrix to time.
    #[arg(long, default_value_t = 10)]
    pub repeats: usize,

    /// Size of the large float32 upload whose server memory is measured, in MiB (0 to skip).
    #[arg(long, default_value_t = 1024)]
    pub large_mib: usize,

    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct UploadFigures {
    rows: usize,
    cols: usize,
    body_bytes: usize,
    repeats: usize,
    seconds_median: f64,
    seconds_min: f64,
    seconds_max: f64,
    megabytes_per_second: f64,
}

#[derive(Debug, Serialize)]
struct MemoryFigures {
    body_bytes: u64,
    upload_seconds: f64,
    server_rss_before_bytes: u64,
    server_peak_rss_bytes: u64,
    peak_over_body: f64,
}

pub async fn run(args: BenchUploadArgs) -> anyhow::Result<()> {
    let typical = {
        let server = Server::start(&args.database).await?;
        let result = time_typical_uploads(&server, &args).await;
        server.stop().await;
        result?
    };
    let large = if args.large_mib > 0 {
        // A fresh server, so its peak resident memory reflects this upload alone.
        let server = Server::start(&args.database).await?;
        let result = measure_large_upload(&server, args.large_mib).await;
        server.stop().await;
        Some(result?)
    } else {
        None
    };

    if args.json {
        println!("{}", json!({"typical": typical, "large": large}));
        return Ok(());
    }
    println!(
        "upload of a {} x {} float32 matrix ({:.1} MB), {} uploads through HTTP into PostgreSQL:",
        typical.rows,
        typical.cols,
        typical.body_bytes as f64 / 1e6,
        typical.repeats
    );
    println!(
        "  median {:.3} s   min {:.3} s   max {:.3} s   ({:.0} MB/s)",
        typical.seconds_median,
        typical.seconds_min,
        typical.seconds_max,
        typical.megabytes_per_second
    );
    if let Some(large) = large {
        println!(
            "server memory while a {:.2} GB float32 matrix uploads:",
            large.body_bytes as f64 / 1e9
        );
        println!(
            "  resident before {:.1} MB   peak {:.1} MB   peak / body = {:.3}   (upload took {:.1} s)",
            large.server_rss_before_bytes as f64 / 1e6,
            large.server_peak_rss_bytes as f64 / 1e6,
            large.peak_over_body,
            large.upload_seconds
        );
    }
    Ok(())
}

async fn time_typical_uploads(
    server: &Server,
    args: &BenchUploadArgs,
) -> anyhow::Result<UploadFigures> {
    let model = server.create_model().await?;
    let mut seconds = Vec::with_capacity(args.repeats);
    let mut body_bytes = 0;
    for layer in 0..args.repeats {
        let body = random_npy(args.rows, args.cols, layer as u64);
        body_bytes = body.len();
        let started = Instant::now();
        let response = server
            .client
            .post(server.upload_url(model, &server.dataset, layer))
            .header("content-type", "application/x-npy")
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        seconds.push(started.elapsed().as_secs_f64());
        if status.as_u16() != 201 {
            bail!("upload answered {status}: {text}");
        }
    }
    server.delete_model(model).await?;
    seconds.sort_by(f64::total_cmp);
    let median = seconds[seconds.len() / 2];
    Ok(UploadFigures {
        rows: args.rows,
        cols: args.cols,
        body_bytes,
        repeats: args.repeats,
        seconds_median: median,
        seconds_min: seconds[0],
        seconds_max: seconds[seconds.len() - 1],
        megabytes_per_second: body_bytes as f64 / 1e6 / median,
    })
}

async fn measure_large_upload(server: &Server, mib: usize) -> anyhow::Result<MemoryFigures> {
    let cols = 1024;
    let rows = mib * 1024 * 1024 / (cols * 4);
    let header = npy_header(Dtype::Float32, rows, cols);
    let body_bytes = (header.len() + rows * cols * 4) as u64;
    let rows_per_piece = 256;
    let pieces = (0..rows.div_ceil(rows_per_piece)).map(move |piece| {
        let first = piece * rows_per_piece;
        let count = rows_per_piece.min(rows - first);
        Ok::<_, std::io::Error>(Bytes::from(random_f32_bytes(count * cols, piece as u64)))
    });
    let body = stream::iter(std::iter::once(Ok(Bytes::from(header))).chain(pieces));

    let model = server.create_model().await?;
    let before = server.resident_bytes()?;
    let started = Instant::now();
    let response = server
        .client
        .post(server.upload_url(model, &format!("{}-large", server.dataset), 0))
        .header("content-type", "application/x-npy")
        .header("content-length", body_bytes)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    let upload_seconds = started.elapsed().as_secs_f64();
    if status.as_u16() != 201 {
        bail!("large upload answered {status}: {text}");
    }
    let peak = server.peak_resident_bytes()?;
    server.delete_model(model).await?;
    Ok(MemoryFigures {
        body_bytes,
        upload_seconds,
        server_rss_before_bytes: before,
        server_peak_rss_bytes: peak,
        peak_over_body: peak as f64 / body_bytes as f64,
    })
}

/// A `simbench serve` child process on a free port.
struct Server {
    child: Child,
    base_url: String,
    dataset: String,
    client: reqwest::Client,
}

impl Server {
    async fn start(database: &DatabaseConfig) -> anyhow::Result<Server> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(std::env::current_exe()?)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", &database.database_url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("could not start `simbench serve`")?;
        let server = Server {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            dataset: format!("bench-upload-{:08x}", rand::random::<u32>()),
            client: reqwest::Client::new(),
        };
        for _ in 0..300 {
            let ready = server
                .client
                .get(format!("{}/readyz", server.base_url))
                .send()
                .await;
            if ready.is_ok_and(|response| response.status().is_success()) {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("`simbench serve` did not become ready within 30 s")
    }

    fn upload_url(&self, model: i64, dataset: &str, layer: usize) -> String {
        format!(
            "{}/v1/models/{model}/representations?dataset={dataset}&layer={layer}",
            self.base_url
        )
    }

    async fn create_model(&self) -> anyhow::Result<i64> {
        let name = format!("{}-{:08x}", self.dataset, rand::random::<u32>());
        let created: Value = self
            .client
            .post(format!("{}/v1/models", self.base_url))
            .json(&json!({"name": name, "tags": ["bench-upload"]}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        created["id"]
            .as_i64()
            .context("the created model has an id")
    }

    async fn delete_model(&self, model: i64) -> anyhow::Result<()> {
        self.client
            .delete(format!("{}/v1/models/{model}?cascade=true", self.base_url))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    fn resident_bytes(&self) -> anyhow::Result<u64> {
        proc_status_kib(self.child.id(), "VmRSS:").map(|kib| kib * 1024)
    }

    fn peak_resident_bytes(&self) -> anyhow::Result<u64> {
        proc_status_kib(self.child.id(), "VmHWM:").map(|kib| kib * 1024)
    }

    async fn stop(mut self) {
        // SIGTERM for a graceful shutdown; the child is reaped either way.
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

fn random_npy(rows: usize, cols: usize, seed: u64) -> Vec<u8> {
    let mut file = npy_header(Dtype::Float32, rows, cols);
    file.extend(random_f32_bytes(rows * cols, seed));
    file
}

/// Reproducible float32 noise in [-1, 1), little-endian.
fn random_f32_bytes(count: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut bytes = Vec::with_capacity(count * 4);
    for _ in 0..count {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let unit = (state >> 40) as f32 / (1u64 << 24) as f32;
        bytes.extend_from_slice(&(unit * 2.0 - 1.0).to_le_bytes());
    }
    bytes
}
