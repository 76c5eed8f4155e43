//! `simbench compare`: the metrics of one pair of matrix files, through the same code path as
//! the workers (`Prepared::new` + `compare`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::metrics::{Metric, Prepared, compare, parse_metric_list};

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// First representation, X (.npy or .safetensors; rows = examples). pwcca weights by X.
    pub a: PathBuf,

    /// Second representation, Y, on the same examples in the same order.
    pub b: PathBuf,

    /// Comma-separated metrics to compute (default: all ten): cka, cka_debiased, cca_mean,
    /// cca_mean_sq, pwcca, svcca, procrustes, procrustes_angular, rsa, mutual_knn.
    #[arg(long)]
    pub metrics: Option<String>,

    /// Tensor to read from A when it is a safetensors file holding several.
    #[arg(long)]
    pub tensor_a: Option<String>,

    /// Tensor to read from B when it is a safetensors file holding several.
    #[arg(long)]
    pub tensor_b: Option<String>,
}

/// Prints one JSON object: metric name → value, or → {"error", "code"} where the metric refuses
/// the pair. Fails only when a file cannot be read or is not a usable representation.
pub fn run(args: CompareArgs) -> anyhow::Result<()> {
    let metrics = match &args.metrics {
        Some(list) => parse_metric_list(list)?,
        None => Metric::PAPER.to_vec(),
    };
    let x = load(&args.a, args.tensor_a.as_deref())?;
    let y = load(&args.b, args.tensor_b.as_deref())?;
    if x.n_rows() != y.n_rows() {
        bail!(
            "{} has {} rows but {} has {}: both must hold the same examples in the same order",
            args.a.display(),
            x.n_rows(),
            args.b.display(),
            y.n_rows()
        );
    }
    let report: BTreeMap<Metric, Value> = compare(&x, &y, &metrics)
        .into_iter()
        .map(|(metric, outcome)| {
            let value = match outcome {
                Ok(value) => json!(value),
                Err(error) => json!({ "error": error.to_string(), "code": error.code() }),
            };
            (metric, value)
        })
        .collect();
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn load(path: &Path, tensor: Option<&str>) -> anyhow::Result<Prepared> {
    let matrix = crate::matrix::read_matrix_file(path, tensor)
        .with_context(|| format!("reading {}", path.display()))?;
    Prepared::new(matrix.to_f64()).with_context(|| format!("{} cannot be compared", path.display()))
}
