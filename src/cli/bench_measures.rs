//! `simbench bench-measures`: the measures of README, Measures through the whole service — all
//! pairs of a dozen representations, one measure at a time and then all together — per pair as a
//! multiple of one n x d x d GEMM timed in the same run, beside ReSi's own implementations.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, ensure};
use ndarray::{Array2, linalg::general_mat_mul};
use serde::Serialize;

use super::bench_metrics::{measures_beyond_the_paper, median};
use super::server_process::{
    ServerProcess, ServiceBenchArgs, StudyShape, drifting_study, unordered_pairs,
};
use crate::metrics::{CostClass, Metric, MetricKind};
use crate::synthetic::{SignalSpec, related_pair};

/// ReSi's own implementations, one pair from scratch at n = 4000, d = 768 (float64, 2 BLAS
/// threads, on a machine of this kind, where one GEMM took 0.056 s), in multiples of that GEMM.
/// The measures of README, Measures that ReSi also has; the three it lacks have no figure.
const RESI_GEMM_RATIOS: [(MetricKind, f64); 15] = [
    (MetricKind::HardCorrMatch, 3.6),
    (MetricKind::SoftCorrMatch, 1.8),
    (MetricKind::EigenspaceOverlap, 110.0),
    (MetricKind::Gulp, 9.2),
    (MetricKind::LinearRegression, 20.0),
    (MetricKind::AlignedCosine, 13.0),
    (MetricKind::ProcrustesSizeShape, 7.1),
    (MetricKind::PermutationProcrustes, 3.5),
    (MetricKind::MagnitudeDiff, 0.1),
    (MetricKind::ConcentricityDiff, 0.6),
    (MetricKind::JaccardKnn, 34.0),
    (MetricKind::RankSimilarity, 28.0),
    (MetricKind::DistanceCorrelation, 21.0),
    (MetricKind::RsmNormDiff, 253.0),
    (MetricKind::UniformityDiff, 112.0),
];

/// How much cheaper per pair than ReSi's from-scratch figure the service must be, for every
/// measure that costs ReSi more than one GEMM.
const REQUIRED_FACTOR: f64 = 10.0;

#[derive(Clone, Debug, clap::Args)]
pub struct BenchMeasuresArgs {
    #[command(flatten)]
    pub service: ServiceBenchArgs,

    /// Representations to compare all against all (split over two models).
    #[arg(long, default_value_t = 12)]
    pub representations: usize,

    /// Rows (examples) per representation.
    #[arg(long, default_value_t = 4000)]
    pub n: usize,

    /// Columns (features) per representation.
    #[arg(long, default_value_t = 768)]
    pub d: usize,

    /// Only these measures on their own (comma-separated identifiers; default: every measure
    /// that costs ReSi more than one GEMM). The run of all together always follows.
    #[arg(long, value_delimiter = ',')]
    pub measures: Vec<Metric>,
}

#[derive(Debug, Serialize)]
struct Report {
    #[serde(flatten)]
    shape: StudyShape,
    pairs: usize,
    /// Each measure on its own, from a cold service.
    alone: Vec<Alone>,
    /// Every measure of README, Measures in one comparison.
    together: Together,
}

#[derive(Debug, Serialize)]
struct Alone {
    /// Seconds from the comparison request to its last distance, over `pairs`: loading and
    /// preparing the representations included, uploads not.
    #[serde(flatten)]
    cost: MeasureCost,
    /// Median of the GEMMs timed just before this measure's service started.
    gemm_seconds: f64,
}

#[derive(Debug, Serialize)]
struct Together {
    metrics: Vec<Metric>,
    seconds_per_pair: f64,
    gemm_seconds: f64,
    ratio_to_gemm: f64,
    /// The workers' seconds per pair loading representations and preparing their eager part
    /// (`simbench_prepare_seconds`), which every measure uses.
    shared_preparation_seconds_per_pair: f64,
    /// Each measure's part of `seconds_per_pair`.
    shares: Vec<Share>,
    /// `seconds_per_pair` less every share: the queue, the database and idle workers.
    unattributed_seconds_per_pair: f64,
}

#[derive(Debug, Serialize)]
struct Share {
    /// Compute and an equal part of the shared preparation, over the workers that run side by
    /// side: wall seconds per pair.
    #[serde(flatten)]
    cost: MeasureCost,
    /// The workers' seconds per pair (`simbench_compute_seconds`, one BLAS thread each): M = XᵀY
    /// split evenly between the G-class metrics of a job, and the lazily prepared parts of a
    /// representation (eigenbases, unit rows, neighbour lists, distances, kernels) counted for
    /// the first metric that needs them, once per representation as the cache keeps them.
    compute_seconds_per_pair: f64,
}

/// A measure's seconds per pair, in GEMMs and against ReSi's figure.
#[derive(Debug, Serialize)]
struct MeasureCost {
    metric: Metric,
    seconds_per_pair: f64,
    ratio_to_gemm: f64,
    resi_ratio_to_gemm: Option<f64>,
    /// ReSi's ratio over the service's; `None` without a ReSi figure.
    times_cheaper_than_resi: Option<f64>,
    /// Whether the service is `REQUIRED_FACTOR` times cheaper; `None` where no target applies
    /// (no ReSi figure, or ReSi under one GEMM).
    met: Option<bool>,
}

impl MeasureCost {
    fn new(metric: Metric, seconds_per_pair: f64, gemm_seconds: f64) -> MeasureCost {
        let ratio_to_gemm = seconds_per_pair / gemm_seconds;
        let resi = resi_ratio(metric);
        MeasureCost {
            metric,
            seconds_per_pair,
            ratio_to_gemm,
            resi_ratio_to_gemm: resi,
            times_cheaper_than_resi: resi.map(|resi| resi / ratio_to_gemm),
            met: resi
                .filter(|resi| *resi > 1.0)
                .map(|resi| resi / ratio_to_gemm >= REQUIRED_FACTOR),
        }
    }
}

pub async fn run(args: BenchMeasuresArgs) -> anyhow::Result<()> {
    ensure!(
        args.representations >= 2,
        "--representations must be at least 2"
    );
    ensure!(
        args.n > args.d,
        "--n must exceed --d so that every measure applies"
    );
    let gemm = GemmClock::new(args.n, args.d);
    let alone_metrics = if args.measures.is_empty() {
        RESI_GEMM_RATIOS
            .iter()
            .filter(|(_, ratio)| *ratio > 1.0)
            .map(|(kind, _)| Metric::of(*kind))
            .collect()
    } else {
        args.measures.clone()
    };
    let study = drifting_study(args.representations, args.n, args.d);
    let mut alone = Vec::new();
    for metric in alone_metrics {
        let gemm_seconds = gemm.median_seconds();
        let (pairs, seconds, _) = time_cold_study(&args, &study, &[metric]).await?;
        let cost = MeasureCost::new(metric, seconds / pairs as f64, gemm_seconds);
        eprintln!("{metric}: {:.3} s per pair", cost.seconds_per_pair);
        alone.push(Alone { cost, gemm_seconds });
    }

    let every =
        measures_beyond_the_paper(&[CostClass::Gram, CostClass::Rows, CostClass::Neighbourhood]);
    let gemm_seconds = gemm.median_seconds();
    let (pairs, seconds, prometheus) = time_cold_study(&args, &study, &every).await?;
    let together = apportion(&args, &every, pairs, seconds, gemm_seconds, &prometheus)?;
    let report = Report {
        shape: StudyShape {
            representations: args.representations,
            n: args.n,
            d: args.d,
            workers: args.service.worker_count(),
        },
        pairs,
        alone,
        together,
    };
    if args.service.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// Splits the wall time of the all-together run between the measures by the workers' own
/// accounts of it.
fn apportion(
    args: &BenchMeasuresArgs,
    every: &[Metric],
    pairs: usize,
    seconds: f64,
    gemm_seconds: f64,
    prometheus: &str,
) -> anyhow::Result<Together> {
    let per_pair = |total: f64| total / pairs as f64;
    let workers = args.service.worker_count() as f64;
    let preparation = per_pair(
        histogram_sums(prometheus, "simbench_prepare_seconds", "stage")
            .values()
            .sum(),
    );
    let compute = histogram_sums(prometheus, "simbench_compute_seconds", "metric");
    let mut shares = Vec::with_capacity(every.len());
    for &metric in every {
        let computed = compute
            .get(&metric.to_string())
            .with_context(|| format!("the workers reported no compute seconds for {metric}"))?;
        let compute_seconds_per_pair = per_pair(*computed);
        let seconds_per_pair =
            (compute_seconds_per_pair + preparation / every.len() as f64) / workers;
        shares.push(Share {
            cost: MeasureCost::new(metric, seconds_per_pair, gemm_seconds),
            compute_seconds_per_pair,
        });
    }
    let attributed: f64 = shares.iter().map(|share| share.cost.seconds_per_pair).sum();
    Ok(Together {
        metrics: every.to_vec(),
        seconds_per_pair: per_pair(seconds),
        gemm_seconds,
        ratio_to_gemm: per_pair(seconds) / gemm_seconds,
        shared_preparation_seconds_per_pair: preparation,
        shares,
        unattributed_seconds_per_pair: per_pair(seconds) - attributed,
    })
}

fn resi_ratio(metric: Metric) -> Option<f64> {
    // ReSi's figures are for the default parameters only.
    if metric != Metric::of(metric.kind()) {
        return None;
    }
    RESI_GEMM_RATIOS
        .iter()
        .find(|(kind, _)| *kind == metric.kind())
        .map(|(_, ratio)| *ratio)
}

/// A fresh service on a fresh scratch database, so that no run profits from another's prepared
/// representations: uploads the study (not timed), times one comparison of every unordered pair
/// and returns the pair count, its seconds and the service's `/metrics` text after it.
async fn time_cold_study(
    args: &BenchMeasuresArgs,
    study: &[Vec<Array2<f64>>],
    metrics: &[Metric],
) -> anyhow::Result<(usize, f64, String)> {
    let server = ServerProcess::start_computing(&args.service).await?;
    let measured = async {
        let ids = server.upload_study(study).await?;
        let pairs = unordered_pairs(&ids);
        let seconds = server.time_comparison(&pairs, metrics).await?;
        let prometheus = server.prometheus_text().await?;
        anyhow::Ok((pairs.len(), seconds, prometheus))
    }
    .await;
    server.stop().await;
    measured.with_context(|| {
        let names: Vec<String> = metrics.iter().map(Metric::to_string).collect();
        format!("through the service: {}", names.join(","))
    })
}

/// The `_sum` series of histogram `name` by its one label `label`, from Prometheus's text
/// exposition.
fn histogram_sums(prometheus: &str, name: &str, label: &str) -> BTreeMap<String, f64> {
    let prefix = format!("{name}_sum{{{label}=\"");
    prometheus
        .lines()
        .filter_map(|line| {
            let labelled = line.strip_prefix(&prefix)?;
            let (value_of_label, value) = labelled.split_once("\"} ")?;
            Some((value_of_label.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// One n x d x d f64 GEMM (XᵀY) on all BLAS threads, timed in this process while no service
/// runs, as the unit of every ratio.
struct GemmClock {
    x: Array2<f64>,
    y: Array2<f64>,
}

impl GemmClock {
    fn new(n: usize, d: usize) -> GemmClock {
        let (x, y) = related_pair(&SignalSpec::new(n, d), 0.8, 0);
        GemmClock { x, y }
    }

    fn median_seconds(&self) -> f64 {
        let d = self.x.ncols();
        let mut product = Array2::zeros((d, d));
        let seconds = (0..5)
            .map(|_| {
                let started = Instant::now();
                general_mat_mul(1.0, &self.x.t(), &self.y, 0.0, &mut product);
                started.elapsed().as_secs_f64()
            })
            .collect();
        median(seconds)
    }
}

fn print_table(report: &Report) {
    println!(
        "all {} pairs of {}, through the service from a cold start (preparation included):\n",
        report.pairs, report.shape
    );
    print_header("each measure alone");
    for alone in &report.alone {
        print_row(&alone.cost);
    }
    let together = &report.together;
    println!(
        "\nall {} measures in one comparison: {:.4} s per pair, {:.2}x GEMM (GEMM {:.4} s); \
         loading and eager preparation {:.4} worker-s per pair, shared evenly; unattributed \
         {:.4} s per pair",
        together.metrics.len(),
        together.seconds_per_pair,
        together.ratio_to_gemm,
        together.gemm_seconds,
        together.shared_preparation_seconds_per_pair,
        together.unattributed_seconds_per_pair,
    );
    print_header("each measure's share");
    for share in &together.shares {
        print_row(&share.cost);
    }
}

fn print_header(title: &str) {
    println!(
        "{title:<28} {:>10} {:>8} {:>8} {:>10}  {:>7}",
        "s / pair", "x GEMM", "ReSi", "cheaper", "10x"
    );
}

fn print_row(cost: &MeasureCost) {
    let optional = |value: Option<f64>, unit: &str| {
        value.map_or_else(|| "–".to_owned(), |value| format!("{value:.2}{unit}"))
    };
    let met = match cost.met {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "–",
    };
    println!(
        "{:<28} {:>10.4} {:>8.2} {:>8} {:>10}  {met:>7}",
        cost.metric.to_string(),
        cost.seconds_per_pair,
        cost.ratio_to_gemm,
        optional(cost.resi_ratio_to_gemm, ""),
        optional(cost.times_cheaper_than_resi, "x"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_sums_are_read_by_label_from_the_exposition() {
        let text = "# HELP simbench_compute_seconds Seconds\n\
                    simbench_compute_seconds_bucket{metric=\"gulp\",le=\"0.001\"} 0\n\
                    simbench_compute_seconds_sum{metric=\"gulp\"} 1.5\n\
                    simbench_compute_seconds_count{metric=\"gulp\"} 3\n\
                    simbench_compute_seconds_sum{metric=\"gulp(lambda=0.01)\"} 0.25\n\
                    simbench_prepare_seconds_sum{stage=\"load\"} 2\n";
        let sums = histogram_sums(text, "simbench_compute_seconds", "metric");
        assert_eq!(sums.len(), 2);
        assert_eq!(sums["gulp"], 1.5);
        assert_eq!(sums["gulp(lambda=0.01)"], 0.25);
    }

    #[test]
    fn resi_figures_are_for_default_parameters_only() {
        assert_eq!(resi_ratio(Metric::of(MetricKind::Gulp)), Some(9.2));
        let tuned = Metric::of(MetricKind::Gulp)
            .with_param("lambda", 0.01)
            .expect("0.01 is a valid lambda");
        assert_eq!(resi_ratio(tuned), None);
        assert_eq!(resi_ratio(Metric::of(MetricKind::Cknna)), None);
    }
}
