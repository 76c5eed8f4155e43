//! `simbench bench-queue`: pairs per second through the whole service — queue, workers, cache,
//! database — against the pure compute rate `bench-metrics` measures in the same run.

use std::process::Command;

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::Value;

use super::bench_metrics::TRIO_FIGURE;
use super::server_process::{
    ServerProcess, ServiceBenchArgs, StudyShape, drifting_study, unordered_pairs,
};
use crate::metrics::Metric;

#[derive(Clone, Debug, clap::Args)]
pub struct BenchQueueArgs {
    #[command(flatten)]
    pub service: ServiceBenchArgs,

    /// Representations to compare all against all (split over two models).
    #[arg(long, default_value_t = 24)]
    pub representations: usize,

    /// Rows (examples) per representation.
    #[arg(long, default_value_t = 4000)]
    pub n: usize,

    /// Columns (features) per representation.
    #[arg(long, default_value_t = 768)]
    pub d: usize,
}

#[derive(Debug, Serialize)]
struct Report {
    #[serde(flatten)]
    shape: StudyShape,
    pairs: usize,
    /// From the comparison request to its last distance, uploads excluded.
    service_seconds: f64,
    service_pairs_per_second: f64,
    /// `bench-metrics`: the trio on one prepared pair, BLAS on every core.
    compute_seconds_per_pair: f64,
    compute_pairs_per_second: f64,
    service_over_compute: f64,
}

pub async fn run(args: BenchQueueArgs) -> anyhow::Result<()> {
    let workers = args.service.worker_count();
    let server = ServerProcess::start_computing(&args.service).await?;
    let measured = time_all_pairs(&server, &args).await;
    server.stop().await;
    let (pairs, service_seconds) = measured?;
    let compute_seconds_per_pair = trio_seconds_per_pair(&args)?;

    let service_pairs_per_second = pairs as f64 / service_seconds;
    let compute_pairs_per_second = 1.0 / compute_seconds_per_pair;
    let report = Report {
        shape: StudyShape {
            representations: args.representations,
            n: args.n,
            d: args.d,
            workers,
        },
        pairs,
        service_seconds,
        service_pairs_per_second,
        compute_seconds_per_pair,
        compute_pairs_per_second,
        service_over_compute: service_pairs_per_second / compute_pairs_per_second,
    };
    if args.service.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "all {} pairs of {}, trio cka + pwcca + procrustes:",
        report.pairs, report.shape
    );
    println!(
        "  through the service  {:8.2} s   {:6.2} pairs/s",
        report.service_seconds, report.service_pairs_per_second
    );
    println!(
        "  pure compute         {:8.4} s/pair {:6.2} pairs/s   (bench-metrics, same run)",
        report.compute_seconds_per_pair, report.compute_pairs_per_second
    );
    println!(
        "  service / compute    {:8.1} %",
        100.0 * report.service_over_compute
    );
    Ok(())
}

/// Uploads the representations (not timed), then times one all-pairs comparison.
async fn time_all_pairs(
    server: &ServerProcess,
    args: &BenchQueueArgs,
) -> anyhow::Result<(usize, f64)> {
    let study = drifting_study(args.representations, args.n, args.d);
    let ids = server.upload_study(&study).await?;
    // Each unordered pair once, as bench-metrics times it: `all_pairs` would also ask for the
    // reverse order of the asymmetric pwcca.
    let pairs = unordered_pairs(&ids);
    let seconds = server.time_comparison(&pairs, &Metric::PAPER_TRIO).await?;
    Ok((pairs.len(), seconds))
}

/// Runs `simbench bench-metrics` on the same shape and reads its trio figure.
fn trio_seconds_per_pair(args: &BenchQueueArgs) -> anyhow::Result<f64> {
    let output = Command::new(std::env::current_exe()?)
        .args(["bench-metrics", "--json", "--repeats", "5"])
        .args(["--n", &args.n.to_string(), "--d", &args.d.to_string()])
        .output()
        .context("could not run `simbench bench-metrics`")?;
    if !output.status.success() {
        bail!(
            "bench-metrics failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let report: Value = serde_json::from_slice(&output.stdout)?;
    report["per_pair"]
        .as_array()
        .and_then(|figures| figures.iter().find(|figure| figure["name"] == TRIO_FIGURE))
        .and_then(|figure| figure["seconds"].as_f64())
        .context("bench-metrics reported no trio figure")
}
