//! `simbench bench-upload`: upload latency of a typical matrix and the server's peak memory while
//! a large one streams in, measured against a real `simbench serve` child process.

use std::time::Instant;

use bytes::Bytes;
use futures::stream;
use serde::Serialize;
use serde_json::json;

use super::server_process::ServerProcess;
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
        let server = ServerProcess::start(&args.database, &[]).await?;
        let result = time_typical_uploads(&server, &args).await;
        server.stop().await;
        result?
    };
    let large = if args.large_mib > 0 {
        // A fresh server, so its peak resident memory reflects this upload alone.
        let server = ServerProcess::start(&args.database, &[]).await?;
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
    server: &ServerProcess,
    args: &BenchUploadArgs,
) -> anyhow::Result<UploadFigures> {
    let model = server.create_model("typical").await?;
    let mut seconds = Vec::with_capacity(args.repeats);
    let mut body_bytes = 0;
    for layer in 0..args.repeats {
        let body = random_npy(args.rows, args.cols, layer as u64);
        body_bytes = body.len();
        let started = Instant::now();
        server
            .api
            .upload(model, &server.run_name, layer, body)
            .await?;
        seconds.push(started.elapsed().as_secs_f64());
    }
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

async fn measure_large_upload(server: &ServerProcess, mib: usize) -> anyhow::Result<MemoryFigures> {
    let cols = 1024;
    let rows = mib * 1024 * 1024 / (cols * 4);
    let header = npy_header(Dtype::Float32, rows, cols);
    let body_bytes = (header.len() + rows * cols * 4) as u64;
    let rows_per_piece = 256;
    // Made afresh for each send: the client sends again after a 429.
    let body = move || {
        let pieces = (0..rows.div_ceil(rows_per_piece)).map(move |piece| {
            let first = piece * rows_per_piece;
            let count = rows_per_piece.min(rows - first);
            Ok::<_, std::io::Error>(Bytes::from(random_f32_bytes(count * cols, piece as u64)))
        });
        let header = Ok(Bytes::from(header.clone()));
        reqwest::Body::wrap_stream(stream::iter(std::iter::once(header).chain(pieces)))
    };

    let model = server.create_model("large").await?;
    let before = server.resident_bytes()?;
    let started = Instant::now();
    let url = server.api.url(&format!(
        "/v1/models/{model}/representations?dataset={}-large&layer=0",
        server.run_name
    ));
    server
        .api
        .send_json::<serde_json::Value>("POST /v1/models/{id}/representations", || {
            server
                .api
                .http()
                .post(&url)
                .header("content-type", "application/x-npy")
                .header("content-length", body_bytes)
                .body(body())
        })
        .await?;
    let upload_seconds = started.elapsed().as_secs_f64();
    let peak = server.peak_resident_bytes()?;
    Ok(MemoryFigures {
        body_bytes,
        upload_seconds,
        server_rss_before_bytes: before,
        server_peak_rss_bytes: peak,
        peak_over_body: peak as f64 / body_bytes as f64,
    })
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
