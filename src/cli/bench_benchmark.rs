//! `simbench bench-benchmark`: a paper-sized benchmark through the service — wall time from its
//! creation to its results — and the latency of the results and leaderboard queries.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde::Serialize;
use serde_json::{Value, json};

use super::client::{ScoreItem, ScoreTarget};
use super::server_process::{ServerProcess, ServiceBenchArgs, StudyShape};
use crate::benchmark::service::Results;
use crate::metrics::Metric;
use crate::store::status::BenchmarkStatus;
use crate::synthetic::{SignalSpec, drifting_layers};

#[derive(Clone, Debug, clap::Args)]
pub struct BenchBenchmarkArgs {
    #[command(flatten)]
    pub service: ServiceBenchArgs,

    #[command(flatten)]
    pub study: StudyArgs,

    /// Timed queries of the results and of the leaderboard.
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
}

/// The paper-sized study the service benchmarks run on: models x layers representations of one
/// dataset, with probe-like scores.
#[derive(Clone, Debug, clap::Args)]
pub struct StudyArgs {
    /// Models (networks) in the study.
    #[arg(long, default_value_t = 10)]
    pub models: usize,

    /// Layers per model.
    #[arg(long, default_value_t = 12)]
    pub layers: usize,

    /// Rows (examples) per representation.
    #[arg(long, default_value_t = 2000)]
    pub n: usize,

    /// Columns (features) per representation.
    #[arg(long, default_value_t = 256)]
    pub d: usize,
}

/// A study uploaded and benchmarked to complete, published results.
pub(super) struct Study {
    pub dataset: String,
    /// Model ids, each with its representations' ids by layer.
    pub models: Vec<(i64, Vec<i64>)>,
    pub benchmark: i64,
    /// Comparison jobs the benchmark's run queued.
    pub jobs: i64,
    /// From `POST /v1/benchmarks` to complete results, uploads excluded.
    pub creation_to_results_seconds: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    #[serde(flatten)]
    shape: StudyShape,
    /// Comparison jobs the run queued (about one per pair).
    jobs: i64,
    /// From `POST /v1/benchmarks` to complete results, uploads excluded.
    creation_to_results_seconds: f64,
    results: Latency,
    leaderboard: Latency,
}

#[derive(Debug, Serialize)]
pub(super) struct Latency {
    pub queries: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

pub async fn run(args: BenchBenchmarkArgs) -> anyhow::Result<()> {
    if args.queries == 0 {
        bail!("--queries must be at least 1");
    }
    let workers = args.service.worker_count();
    let server = ServerProcess::start_computing(&args.service).await?;
    let measured = measure(&server, &args, workers).await;
    server.stop().await;
    let report = measured?;
    if args.service.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "reference protocol, compare_to all, trio, {}:",
        report.shape
    );
    println!(
        "  creation to complete results  {:.1} s  ({} comparison jobs)",
        report.creation_to_results_seconds, report.jobs
    );
    for (name, latency) in [
        ("results", &report.results),
        ("leaderboard", &report.leaderboard),
    ] {
        println!(
            "  GET {name:<12} p50 {:6.2} ms   p99 {:6.2} ms   max {:6.2} ms   ({} queries)",
            latency.p50_ms, latency.p99_ms, latency.max_ms, latency.queries
        );
    }
    Ok(())
}

async fn measure(
    server: &ServerProcess,
    args: &BenchBenchmarkArgs,
    workers: usize,
) -> anyhow::Result<Report> {
    let study = build_study(server, &args.study).await?;
    let results_path = format!("/v1/benchmarks/{}/results", study.benchmark);
    Ok(Report {
        shape: StudyShape {
            representations: args.study.models * args.study.layers,
            n: args.study.n,
            d: args.study.d,
            workers,
        },
        jobs: study.jobs,
        creation_to_results_seconds: study.creation_to_results_seconds,
        results: latency(server, &results_path, args.queries).await?,
        leaderboard: latency(server, "/v1/leaderboard", args.queries).await?,
    })
}

/// Uploads the study, benchmarks it with the reference protocol (grouped by layer, compare_to
/// all, the trio), waits for complete results and publishes them.
pub(super) async fn build_study(server: &ServerProcess, args: &StudyArgs) -> anyhow::Result<Study> {
    let dataset = &server.run_name;
    let spec = SignalSpec::new(args.n, args.d);
    let mut scores = Vec::new();
    let mut models = Vec::with_capacity(args.models);
    for model_index in 0..args.models {
        let model = server
            .create_model(&format!("network-{model_index}"))
            .await?;
        let layers = drifting_layers(&spec, args.layers, 0.35, 100 + model_index as u64);
        let representations = server.upload_layers(model, &layers).await?;
        for (layer, representation) in representations.iter().enumerate() {
            // Probe accuracy rising with depth, with a per-model offset: a plausible score.
            let accuracy =
                0.55 + 0.3 * layer as f64 / args.layers as f64 + 0.01 * (model_index % 5) as f64;
            scores.push(ScoreItem::new(
                ScoreTarget::Representation(*representation),
                "probe_acc",
                accuracy,
            ));
        }
        models.push((model, representations));
    }
    server.api.set_scores(&scores).await?;

    let started = Instant::now();
    let definition = json!({
        "name": format!("{dataset}-depth"),
        "dataset": dataset,
        "score": "probe_acc",
        "protocol": {"kind": "reference", "group_by": "layer", "compare_to": "all"},
        "metrics": Metric::PAPER_TRIO,
    });
    let id = server.api.create_benchmark(&definition).await?.id;
    let results_path = format!("/v1/benchmarks/{id}/results");
    loop {
        let results: Results = server.api.get_json(&results_path).await?;
        if !results.partial {
            break;
        }
        if results.status == BenchmarkStatus::Failed {
            bail!("benchmark {id} failed");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let creation_to_results_seconds = started.elapsed().as_secs_f64();
    let state = server.api.benchmark(id).await?;
    server.api.publish(id).await?;
    Ok(Study {
        dataset: dataset.clone(),
        models,
        benchmark: id,
        jobs: state.progress.total,
        creation_to_results_seconds,
    })
}

/// Sequential GETs of `path`, each timed from request to the last byte of the body.
async fn latency(server: &ServerProcess, path: &str, queries: usize) -> anyhow::Result<Latency> {
    let mut millis = Vec::with_capacity(queries);
    for _ in 0..queries {
        let started = Instant::now();
        let body: Value = server.api.get_json(path).await?;
        millis.push(started.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(body);
    }
    Ok(Latency::of(millis))
}

impl Latency {
    /// The summary of timings in milliseconds (at least one).
    pub(super) fn of(mut millis: Vec<f64>) -> Latency {
        millis.sort_by(f64::total_cmp);
        let percentile =
            |p: f64| millis[((p * millis.len() as f64).ceil() as usize).clamp(1, millis.len()) - 1];
        Latency {
            queries: millis.len(),
            p50_ms: percentile(0.50),
            p99_ms: percentile(0.99),
            max_ms: millis[millis.len() - 1],
        }
    }
}
