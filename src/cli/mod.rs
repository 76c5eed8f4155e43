//! The `simbench` command line: one binary, one subcommand per role.

mod bench_metrics;
mod compare;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Compute dissimilarity metrics between two matrix files and print them as one JSON object.
    Compare(compare::CompareArgs),
    /// Time every metric per pair, preparation and memory, against one GEMM of the same run.
    BenchMetrics(bench_metrics::BenchMetricsArgs),
}

/// Runs a parsed command line; the process exit code says whether it succeeded.
pub fn run(cli: Cli) -> ExitCode {
    crate::telemetry::init(cli.log_format);
    let outcome: anyhow::Result<()> = match cli.command {
        Command::Compare(args) => compare::run(args),
        Command::BenchMetrics(args) => bench_metrics::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
