//! The `simbench` command line: one binary, one subcommand per role.

mod bench_benchmark;
mod bench_measures;
mod bench_metrics;
mod bench_queue;
mod bench_stats;
mod bench_ui;
mod bench_upload;
pub mod client;
mod compare;
pub mod demo;
mod progress;
mod serve;
mod server_process;
mod token;
mod upload;

use std::future::Future;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{DatabaseConfig, ServeConfig, WorkerProcessConfig};
use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "simbench",
    version,
    about = "Grounding representation-similarity metrics in function, as a service"
)]
pub struct Cli {
    /// Log output: human-readable lines or one JSON object per line.
    #[arg(
        long,
        env = "SIMBENCH_LOG_FORMAT",
        default_value = "pretty",
        global = true
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve the HTTP API and run comparison workers.
    Serve(ServeConfig),
    /// Run comparison workers only (scale out on more machines against the same database).
    Worker(WorkerProcessConfig),
    /// Apply pending migrations and exit.
    Migrate(DatabaseConfig),
    /// Compute dissimilarity metrics between two matrix files and print them as one JSON object.
    Compare(compare::CompareArgs),
    /// Time every metric per pair, preparation and memory, against one GEMM of the same run.
    BenchMetrics(bench_metrics::BenchMetricsArgs),
    /// Measure upload latency and the server's memory while a large matrix uploads.
    BenchUpload(bench_upload::BenchUploadArgs),
    /// Measure pairs per second through the service against the pure compute rate.
    BenchQueue(bench_queue::BenchQueueArgs),
    /// Time each measure through the service on all pairs of a study, against ReSi's figures.
    BenchMeasures(bench_measures::BenchMeasuresArgs),
    /// Measure a paper-sized benchmark from creation to results, and query latencies.
    BenchBenchmark(bench_benchmark::BenchBenchmarkArgs),
    /// Time every dashboard page on the bench-benchmark study: server time and size.
    BenchUi(bench_ui::BenchUiArgs),
    /// Time the permutation p-values of many groups, random and exact.
    BenchStats(bench_stats::BenchStatsArgs),
    /// Run the paper's four subtasks and ReSi's separation and monotonicity tests on a synthetic
    /// study against a running service and print the leaderboard.
    Demo(demo::DemoArgs),
    /// Upload a model's layers (.npy files, a folder of them, or a .safetensors file with a
    /// tensor per layer) and its scores to a running service.
    Upload(upload::UploadArgs),
    /// Create, list and revoke API tokens, directly in the database (reads DATABASE_URL).
    #[command(subcommand)]
    Token(token::TokenCommand),
}

/// Runs a parsed command line; the process exit code says whether it succeeded.
pub fn run(cli: Cli) -> ExitCode {
    crate::telemetry::init(cli.log_format);
    let outcome = match cli.command {
        Command::Serve(config) => block_on(serve::serve(config)),
        Command::Worker(config) => block_on(serve::worker(config)),
        Command::Migrate(config) => block_on(serve::migrate(config)),
        Command::Compare(args) => compare::run(args),
        Command::BenchMetrics(args) => bench_metrics::run(args),
        Command::BenchUpload(args) => block_on(bench_upload::run(args)),
        Command::BenchQueue(args) => block_on(bench_queue::run(args)),
        Command::BenchMeasures(args) => block_on(bench_measures::run(args)),
        Command::BenchBenchmark(args) => block_on(bench_benchmark::run(args)),
        Command::BenchStats(args) => bench_stats::run(args),
        Command::BenchUi(args) => block_on(bench_ui::run(args)),
        Command::Demo(args) => block_on(async move { demo::run(&args).await.map(|_| ()) }),
        Command::Upload(args) => block_on(upload::run(args)),
        Command::Token(command) => block_on(token::run(command)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs an async command on a multi-threaded runtime.
fn block_on(command: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(command)
}
