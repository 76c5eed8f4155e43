//! `simbench bench-metrics`: seconds per pair of each metric on structured random matrices, the
//! paper's trio in one call, one-time preparation and memory per representation, and the
//! building blocks behind them, each as a multiple of one n x d x d GEMM timed in the same run.

use std::time::Instant;

use anyhow::{Context, ensure};
use ndarray::{Array2, Axis, linalg::general_mat_mul};
use ndarray_linalg::{EigValsh, Eigh, JobSvd, SVDDC, UPLO};
use serde::Serialize;

use crate::metrics::{
    CostClass, Metric, MetricKind, Prepared, assignment, blas_core, blas_threads, compare, linalg,
    set_blas_threads,
};
use crate::synthetic::{SignalSpec, related_pair};
use crate::transform::pca_keep;

/// The name of the trio figure in the report, which `bench-queue` compares the service with.
pub const TRIO_FIGURE: &str = "trio: cka + pwcca + procrustes, one call";

/// The figure of every G- and R-class measure of README, Measures, asked for in one call.
const MEASURES_FIGURE: &str = "G- and R-class measures, one call";

/// The measures of README, Measures, beyond the paper's ten, of the cost classes `classes`, at
/// their default parameters.
pub(super) fn measures_beyond_the_paper(classes: &[CostClass]) -> Vec<Metric> {
    MetricKind::ALL
        .into_iter()
        .map(Metric::of)
        .filter(|metric| {
            !Metric::PAPER.contains(metric) && classes.contains(&metric.kind().cost_class())
        })
        .collect()
}

/// The G- and R-class measures of README, Measures, with gulp at its default and at one λ > 0.
fn gram_and_row_measures() -> Vec<Metric> {
    let mut measures = measures_beyond_the_paper(&[CostClass::Gram, CostClass::Rows]);
    measures.push(
        Metric::of(MetricKind::Gulp)
            .with_param("lambda", 0.01)
            .expect("0.01 is a valid lambda"),
    );
    measures
}

#[derive(Debug, clap::Args)]
pub struct BenchMetricsArgs {
    /// Examples (rows) per representation.
    #[arg(long, default_value_t = 4000)]
    pub n: usize,

    /// Features (columns) per representation.
    #[arg(long, default_value_t = 768)]
    pub d: usize,

    /// Timed runs of each figure; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,

    /// Seed of the generated matrices.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// OpenBLAS threads per call (default: OpenBLAS's own setting, normally one per core).
    #[arg(long)]
    pub blas_threads: Option<usize>,

    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Time the N-class measures (neighbour lists, distance and kernel matrices) and their
    /// per-representation preparation instead of the ten metrics.
    #[arg(long)]
    pub n_class: bool,
}

/// What both reports open with: the run's sizes and settings and the GEMM every ratio divides by.
#[derive(Debug, Serialize)]
struct Run {
    n: usize,
    d: usize,
    repeats: usize,
    seed: u64,
    blas_threads: usize,
    /// OpenBLAS's kernel family (see `metrics::better_blas_core`).
    blas_core: String,
    /// Median of every GEMM timed during the run.
    gemm_seconds: f64,
}

impl Run {
    fn new(args: &BenchMetricsArgs, stopwatch: Stopwatch) -> Run {
        Run {
            n: args.n,
            d: args.d,
            repeats: args.repeats,
            seed: args.seed,
            blas_threads: blas_threads(),
            blas_core: blas_core(),
            gemm_seconds: median(stopwatch.all_gemm_seconds),
        }
    }

    fn print(&self, command: &str) {
        println!(
            "{command}: n = {}, d = {}, median of {} runs, seed {}, {} OpenBLAS thread(s), {} kernels",
            self.n, self.d, self.repeats, self.seed, self.blas_threads, self.blas_core
        );
        println!(
            "one n x d x d f64 GEMM (XᵀY), median over the run: {:.4} s; each ratio divides by the \
             median of the GEMMs timed just before that figure's runs\n",
            self.gemm_seconds
        );
    }
}

/// Prints `report` as one JSON object, or as the table `print_table` makes of it.
fn emit<T: Serialize>(report: &T, json: bool, print_table: fn(&T)) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print_table(report);
    }
    Ok(())
}

#[derive(Debug, Serialize)]
struct Report {
    #[serde(flatten)]
    run: Run,
    /// Seconds per pair, prepared representations cached.
    per_pair: Vec<Figure>,
    /// Seconds to prepare one representation.
    preparation: Vec<Figure>,
    /// Bytes held by one prepared representation.
    memory_bytes: Vec<Memory>,
    /// The d x d decompositions the metrics could use, timed on S = XᵀX and M = XᵀY.
    kernels: Vec<Figure>,
}

#[derive(Debug, Serialize)]
struct Figure {
    name: String,
    seconds: f64,
    /// Median of the GEMMs timed just before each run of this figure.
    gemm_seconds: f64,
    ratio_to_gemm: f64,
}

#[derive(Debug, Serialize)]
struct Memory {
    name: String,
    bytes: usize,
}

/// Times work against one n x d x d GEMM (XᵀY) run just before each timed run, so that a ratio
/// compares timings taken under the same load: the machines this runs on are shared.
struct Stopwatch<'a> {
    x: &'a Array2<f64>,
    y: &'a Array2<f64>,
    product: Array2<f64>,
    repeats: usize,
    all_gemm_seconds: Vec<f64>,
}

impl Stopwatch<'_> {
    fn figure(&mut self, name: &str, mut work: impl FnMut()) -> Figure {
        self.figure_with_input(name, || (), |()| work())
    }

    /// Median wall time of `work`, each run on a fresh input whose making is not timed.
    fn figure_with_input<T>(
        &mut self,
        name: &str,
        mut make_input: impl FnMut() -> T,
        mut work: impl FnMut(T),
    ) -> Figure {
        let mut seconds = Vec::with_capacity(self.repeats);
        let mut gemm_seconds = Vec::with_capacity(self.repeats);
        for _ in 0..self.repeats {
            let start = Instant::now();
            general_mat_mul(1.0, &self.x.t(), self.y, 0.0, &mut self.product);
            gemm_seconds.push(start.elapsed().as_secs_f64());
            let input = make_input();
            let start = Instant::now();
            work(input);
            seconds.push(start.elapsed().as_secs_f64());
        }
        self.all_gemm_seconds.extend(&gemm_seconds);
        let (seconds, gemm_seconds) = (median(seconds), median(gemm_seconds));
        Figure {
            name: name.to_owned(),
            seconds,
            gemm_seconds,
            ratio_to_gemm: seconds / gemm_seconds,
        }
    }
}

pub fn run(args: BenchMetricsArgs) -> anyhow::Result<()> {
    if args.n_class {
        return run_n_class(args);
    }
    ensure!(args.repeats > 0, "--repeats must be at least 1");
    ensure!(args.d >= 1, "--d must be at least 1");
    ensure!(
        args.n > args.d,
        "--n must exceed --d so that every metric applies"
    );
    if let Some(threads) = args.blas_threads {
        set_blas_threads(threads);
    }
    let (x, y) = related_pair(&SignalSpec::new(args.n, args.d), 0.8, args.seed);
    let a = Prepared::new(x.clone()).context("preparing X")?;
    let b = Prepared::new(y.clone()).context("preparing Y")?;
    let measures = gram_and_row_measures();
    let every: Vec<Metric> = Metric::PAPER.iter().chain(&measures).copied().collect();
    a.prepare_for(&every);
    b.prepare_for(&every);
    for (metric, outcome) in compare(&a, &b, &every) {
        outcome.with_context(|| format!("{metric} refused the generated pair"))?;
    }
    let mut stopwatch = Stopwatch {
        x: &x,
        y: &y,
        product: Array2::zeros((args.d, args.d)),
        repeats: args.repeats,
        all_gemm_seconds: Vec::new(),
    };

    let mut per_pair = Vec::new();
    for metric in Metric::PAPER {
        per_pair.push(stopwatch.figure(&metric.name(), || {
            std::hint::black_box(compare(&a, &b, &[metric]));
        }));
    }
    per_pair.push(stopwatch.figure(TRIO_FIGURE, || {
        std::hint::black_box(compare(&a, &b, &Metric::PAPER_TRIO));
    }));
    per_pair.push(stopwatch.figure("all ten, one call", || {
        std::hint::black_box(compare(&a, &b, &Metric::PAPER));
    }));
    for &metric in &measures {
        per_pair.push(stopwatch.figure(&metric.name(), || {
            std::hint::black_box(compare(&a, &b, &[metric]));
        }));
    }
    per_pair.push(stopwatch.figure(MEASURES_FIGURE, || {
        std::hint::black_box(compare(&a, &b, &measures));
    }));
    per_pair.push(
        stopwatch.figure("all twenty (and gulp at a second lambda), one call", || {
            std::hint::black_box(compare(&a, &b, &every));
        }),
    );
    // The principal-component deletion benchmark pairs each representation with its copies.
    let keep = (args.d / 48).max(1);
    let copies = pca_keep(&x, &[keep]).context("principal-component copy of X")?;
    let copy = copies.into_iter().next().context("one copy per k")?;
    let copy = Prepared::new(copy).context("preparing the copy")?;
    copy.prepare_for(&Metric::PAPER);
    per_pair.push(stopwatch.figure(
        &format!("pwcca(X, its top-{keep} principal components)"),
        || {
            std::hint::black_box(compare(&a, &copy, &[Metric::of(MetricKind::Pwcca)]));
        },
    ));
    per_pair.push(stopwatch.figure(
        &format!("trio(X, its top-{keep} principal components)"),
        || {
            std::hint::black_box(compare(&a, &copy, &Metric::PAPER_TRIO));
        },
    ));

    let mut preparation = Vec::new();
    let mut memory_bytes = Vec::new();
    for (name, metrics) in [
        ("eager part only (cka, procrustes)", &[][..]),
        (
            "for the trio (cka + pwcca + procrustes)",
            &Metric::PAPER_TRIO[..],
        ),
        ("for rsa (RDM ranks)", &[Metric::of(MetricKind::Rsa)][..]),
        (
            "for mutual_knn (neighbour lists)",
            &[Metric::of(MetricKind::MutualKnn)][..],
        ),
        ("for all ten metrics", &Metric::PAPER[..]),
        (
            "for the G- and R-class measures (eigenbases, unit rows)",
            &measures[..],
        ),
        ("for all twenty", &every[..]),
    ] {
        let mut bytes = 0;
        preparation.push(stopwatch.figure_with_input(
            name,
            || x.clone(),
            |input| {
                let prepared = Prepared::new(input).expect("X was prepared once already");
                prepared.prepare_for(metrics);
                bytes = prepared.memory_bytes();
            },
        ));
        memory_bytes.push(Memory {
            name: name.to_owned(),
            bytes,
        });
    }

    let cross = x.t().dot(&y);
    let kernels = kernel_figures(&mut stopwatch, &x, &y, &cross)?;

    let report = Report {
        run: Run::new(&args, stopwatch),
        per_pair,
        preparation,
        memory_bytes,
        kernels,
    };
    emit(&report, args.json, print_table)
}

/// The alternatives behind the choices in `metrics::linalg`: LAPACK drivers for d x d symmetric
/// eigenproblems, a values-only SVD against the Gram-matrix route for singular values, and the
/// trio's two d x d reductions one after the other against side by side.
fn kernel_figures(
    stopwatch: &mut Stopwatch,
    x: &Array2<f64>,
    y: &Array2<f64>,
    cross: &Array2<f64>,
) -> anyhow::Result<Vec<Figure>> {
    let gram = x.t().dot(x);
    let correlations = column_correlations(x, y);
    let mut failure = None;
    let mut note = |outcome: Result<(), String>| {
        if let Err(error) = outcome {
            failure.get_or_insert(error);
        }
    };
    let figures = vec![
        stopwatch.figure("S = XᵀX by GEMM", || {
            std::hint::black_box(x.t().dot(x));
        }),
        stopwatch.figure("S = XᵀX by dsyrk (used)", || {
            note(discard(linalg::gram_of_columns(x.view())))
        }),
        stopwatch.figure("eigh(S), ndarray-linalg (dsyev)", || {
            note(discard(gram.eigh(UPLO::Upper)))
        }),
        stopwatch.figure("eigh(S), dsyevd (used)", || {
            note(discard(linalg::symmetric_eigen(gram.clone())))
        }),
        stopwatch.figure("eigvalsh(S), ndarray-linalg (dsyev)", || {
            note(discard(gram.eigvalsh(UPLO::Upper)))
        }),
        stopwatch.figure("eigvalsh(S), dsyevd (used)", || {
            note(discard(linalg::symmetric_eigenvalues(gram.clone())))
        }),
        stopwatch.figure("singular values of M, dgesdd values-only (used)", || {
            note(discard(linalg::singular_values(cross)))
        }),
        stopwatch.figure("singular values of M, eigvalsh(MᵀM)", || {
            note(discard(linalg::singular_values_from_gram(cross)))
        }),
        stopwatch.figure(
            "assignment on the column correlations (hard_corr_match)",
            || {
                std::hint::black_box(assignment::max_weight_matching(correlations.view()));
            },
        ),
        stopwatch.figure("assignment on M (permutation_procrustes)", || {
            std::hint::black_box(assignment::max_weight_matching(cross.view()));
        }),
        stopwatch.figure("full SVD of M, dgesdd", || {
            note(discard(cross.svddc(JobSvd::All)))
        }),
        stopwatch.figure("procrustes SVD, then pwcca d x d part", || {
            note(discard(linalg::singular_values(cross)));
            note(discard(pwcca_like_reduction(&gram, cross)));
        }),
        stopwatch.figure(
            "both side by side, 1 BLAS thread each (used with AVX)",
            || {
                let one_thread = linalg::OneBlasThread::try_lower();
                let (svd, reduction) = std::thread::scope(|scope| {
                    let svd = scope.spawn(|| discard(linalg::singular_values(cross)));
                    let reduction = discard(pwcca_like_reduction(&gram, cross));
                    let svd = svd
                        .join()
                        .unwrap_or_else(|_| Err("the SVD thread panicked".to_owned()));
                    (svd, reduction)
                });
                drop(one_thread);
                note(svd);
                note(reduction);
            },
        ),
    ];
    match failure {
        Some(error) => anyhow::bail!("a kernel failed: {error}"),
        None => Ok(figures),
    }
}

/// The Pearson correlations of every column of X with every column of Y, hard_corr_match's
/// weights.
fn column_correlations(x: &Array2<f64>, y: &Array2<f64>) -> Array2<f64> {
    let standardised = |matrix: &Array2<f64>| {
        let mut centred = matrix - &matrix.mean_axis(Axis(0)).expect("at least one row");
        for mut column in centred.columns_mut() {
            let norm = column.dot(&column).sqrt();
            if norm > 0.0 {
                column /= norm;
            }
        }
        centred
    };
    standardised(x).t().dot(&standardised(y))
}

/// The shape of pwcca's per-pair work after M (`metrics::cca::canonical`): T = W M W, eigh(T Tᵀ)
/// with vectors, then a d x d GEMM with the eigenvectors; `w` stands in for Wₓ, W_y and Sₓ^(1/2).
fn pwcca_like_reduction(
    w: &Array2<f64>,
    cross: &Array2<f64>,
) -> Result<Array2<f64>, crate::metrics::MetricError> {
    let whitened = w.dot(cross).dot(w);
    let eigen = linalg::symmetric_eigen(linalg::gram_of_rows(whitened.view())?)?;
    Ok(w.dot(&eigen.vectors))
}

fn discard<T, E: std::fmt::Display>(outcome: Result<T, E>) -> Result<(), String> {
    outcome.map(drop).map_err(|error| error.to_string())
}

pub(super) fn median(mut seconds: Vec<f64>) -> f64 {
    seconds.sort_by(f64::total_cmp);
    let middle = seconds.len() / 2;
    if seconds.len() % 2 == 1 {
        seconds[middle]
    } else {
        (seconds[middle - 1] + seconds[middle]) / 2.0
    }
}

fn print_table(report: &Report) {
    report.run.print("bench-metrics");
    print_section(
        "per pair (prepared representations cached)",
        &report.per_pair,
    );
    print_section("preparation, once per representation", &report.preparation);
    println!("memory per prepared representation");
    for memory in &report.memory_bytes {
        println!(
            "  {:<50} {:>10.1} MiB",
            memory.name,
            memory.bytes as f64 / (1024.0 * 1024.0)
        );
    }
    println!();
    print_section("building blocks (d x d)", &report.kernels);
}

fn print_section(title: &str, figures: &[Figure]) {
    println!("{title:<52} {:>10} {:>8}", "seconds", "x GEMM");
    for figure in figures {
        println!(
            "  {:<50} {:>10.4} {:>8.2}",
            figure.name, figure.seconds, figure.ratio_to_gemm
        );
    }
    println!();
}

#[derive(Debug, Serialize)]
struct NClassReport {
    #[serde(flatten)]
    run: Run,
    /// Seconds per pair, both representations prepared.
    per_pair: Vec<Figure>,
    /// Seconds to prepare one representation from its rows, eager part included.
    preparation: Vec<Figure>,
    /// Memory of each preparation.
    preparation_memory: Vec<PeakMemory>,
}

#[derive(Debug, Serialize)]
struct PeakMemory {
    name: String,
    /// The largest cost the engine budgets for these measures on a pair of the representation
    /// with itself (`Metric::memory_bytes`, both sides and the pair's own work).
    pair_estimate_bytes: u64,
    /// Bytes the prepared representation holds beyond its eager part afterwards.
    held_bytes: usize,
    /// Growth of the process's peak resident set during one preparation (Linux `VmHWM`, reset
    /// through `/proc/self/clear_refs` first); `None` where the kernel offers neither.
    measured_peak_bytes: Option<usize>,
}

/// Resets the process's peak resident set to its current size; false where Linux's
/// `/proc/self/clear_refs` is not available.
fn reset_peak_resident() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// A field of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`).
fn resident_bytes(field: &str) -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kilobytes: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

/// Bytes by which the peak resident set grows while `work` runs.
fn measured_peak(work: impl FnOnce()) -> Option<usize> {
    let reset = reset_peak_resident();
    let before = resident_bytes("VmRSS:");
    work();
    let peak = resident_bytes("VmHWM:");
    match (reset, before, peak) {
        (true, Some(before), Some(peak)) => Some(peak.saturating_sub(before)),
        _ => None,
    }
}

/// `bench-metrics --n-class`: through the engine (`Prepared`, `compare`), each N-class measure
/// of README, Measures, per pair on prepared representations, all of them in one call, and each
/// per-representation part (kNN lists, distances, u(X), the RBF kernel) prepared from the rows,
/// with its memory, against one n x d x d GEMM.
fn run_n_class(args: BenchMetricsArgs) -> anyhow::Result<()> {
    ensure!(args.repeats > 0, "--repeats must be at least 1");
    ensure!(args.d >= 1, "--d must be at least 1");
    let measures = measures_beyond_the_paper(&[CostClass::Neighbourhood]);
    if let Some(threads) = args.blas_threads {
        set_blas_threads(threads);
    }
    let (n, d) = (args.n, args.d);
    let (x, y) = related_pair(&SignalSpec::new(n, d), 0.8, args.seed);
    let mut stopwatch = Stopwatch {
        x: &x,
        y: &y,
        product: Array2::zeros((d, d)),
        repeats: args.repeats,
        all_gemm_seconds: Vec::new(),
    };

    let mut preparation = Vec::new();
    let mut preparation_memory = Vec::new();
    let of = |kind| vec![Metric::of(kind)];
    for (name, metrics) in [
        (
            "kNN lists, k = 10 (jaccard_knn, rank_similarity, ...)",
            of(MetricKind::JaccardKnn),
        ),
        (
            "distances (distance_correlation, rsm_norm_diff)",
            of(MetricKind::DistanceCorrelation),
        ),
        (
            "distances and u(X), t = 2 (uniformity_diff)",
            of(MetricKind::UniformityDiff),
        ),
        (
            "distances and the RBF kernel (rbf_cka)",
            of(MetricKind::RbfCka),
        ),
        ("all N-class parts", measures.clone()),
    ] {
        let mut held_bytes = 0;
        let mut prepare = |input: Array2<f64>| {
            let prepared = Prepared::new(input).expect("X is a valid representation");
            let eager = prepared.memory_bytes();
            prepared.prepare_for(&metrics);
            held_bytes = prepared.memory_bytes() - eager;
        };
        let input = x.clone();
        let measured_peak_bytes = measured_peak(|| prepare(input));
        preparation.push(stopwatch.figure_with_input(name, || x.clone(), &mut prepare));
        preparation_memory.push(PeakMemory {
            name: name.to_owned(),
            pair_estimate_bytes: metrics
                .iter()
                .map(|metric| metric.memory_bytes(n, d, d))
                .max()
                .unwrap_or(0),
            held_bytes,
            measured_peak_bytes,
        });
    }

    let a = Prepared::new(x.clone()).context("preparing X")?;
    let b = Prepared::new(y.clone()).context("preparing Y")?;
    a.prepare_for(&measures);
    b.prepare_for(&measures);
    for (metric, outcome) in compare(&a, &b, &measures) {
        outcome.with_context(|| format!("{metric} refused the generated pair"))?;
    }
    let mut per_pair: Vec<Figure> = measures
        .iter()
        .map(|&metric| {
            stopwatch.figure(&metric.name(), || {
                std::hint::black_box(compare(&a, &b, &[metric]));
            })
        })
        .collect();
    per_pair.push(stopwatch.figure("all eight, one call", || {
        std::hint::black_box(compare(&a, &b, &measures));
    }));

    let report = NClassReport {
        run: Run::new(&args, stopwatch),
        per_pair,
        preparation,
        preparation_memory,
    };
    emit(&report, args.json, print_n_class_table)
}

fn print_n_class_table(report: &NClassReport) {
    report.run.print("bench-metrics --n-class");
    print_section("per pair (prepared representations)", &report.per_pair);
    print_section(
        "preparation from the rows, once per representation",
        &report.preparation,
    );
    println!(
        "{:<52} {:>12} {:>10} {:>10}",
        "memory of each preparation", "pair budget", "held", "peak"
    );
    let mebibytes = |bytes: f64| format!("{:.1} MiB", bytes / (1024.0 * 1024.0));
    for memory in &report.preparation_memory {
        let peak = memory
            .measured_peak_bytes
            .map_or("n/a".to_owned(), |bytes| mebibytes(bytes as f64));
        println!(
            "  {:<50} {:>12} {:>10} {:>10}",
            memory.name,
            mebibytes(memory.pair_estimate_bytes as f64),
            mebibytes(memory.held_bytes as f64),
            peak
        );
    }
}
