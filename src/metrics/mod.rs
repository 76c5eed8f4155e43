//! Representation dissimilarity metrics (DESIGN.md, "Metric definitions" and "Cost model").
//!
//! Pure numerics in f64: no I/O, no async. A [`Prepared`] representation holds the work that
//! depends on one matrix (centering, normalisation, XᵀX, and lazily the eigendecomposition, the RDM
//! ranks and the neighbour lists); [`compare`] does the per-pair rest, sharing M = XᵀY and the
//! decompositions between the metrics of one call.

mod cca;
mod cka;
mod error;
pub mod kernel;
mod knn;
pub mod linalg;
pub mod neighbourhood;
mod procrustes;
mod rsa;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use ndarray::{Array1, Array2, Axis};
use serde::{Deserialize, Serialize};

pub use error::MetricError;
pub use knn::NEIGHBOURS;
pub use linalg::{better_blas_core, blas_core, blas_threads, set_blas_threads};

/// A dissimilarity between two representations: 0 for identical ones, larger when they differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Cka,
    CkaDebiased,
    CcaMean,
    CcaMeanSq,
    Pwcca,
    Svcca,
    Procrustes,
    ProcrustesAngular,
    Rsa,
    MutualKnn,
}

impl Metric {
    /// Every metric, in the order of DESIGN's table (and of `Ord`).
    pub const ALL: [Metric; 10] = [
        Metric::Cka,
        Metric::CkaDebiased,
        Metric::CcaMean,
        Metric::CcaMeanSq,
        Metric::Pwcca,
        Metric::Svcca,
        Metric::Procrustes,
        Metric::ProcrustesAngular,
        Metric::Rsa,
        Metric::MutualKnn,
    ];

    /// The three metrics the paper benchmarks.
    pub const PAPER_TRIO: [Metric; 3] = [Metric::Cka, Metric::Pwcca, Metric::Procrustes];

    /// The name used in the API, the database and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cka => "cka",
            Metric::CkaDebiased => "cka_debiased",
            Metric::CcaMean => "cca_mean",
            Metric::CcaMeanSq => "cca_mean_sq",
            Metric::Pwcca => "pwcca",
            Metric::Svcca => "svcca",
            Metric::Procrustes => "procrustes",
            Metric::ProcrustesAngular => "procrustes_angular",
            Metric::Rsa => "rsa",
            Metric::MutualKnn => "mutual_knn",
        }
    }

    /// Whether d(X, Y) = d(Y, X). Only pwcca is not: X's variance gives the weights.
    pub fn is_symmetric(self) -> bool {
        self != Metric::Pwcca
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A metric name that is not one of [`Metric::ALL`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownMetric {
    pub name: String,
}

impl fmt::Display for UnknownMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let valid: Vec<&str> = Metric::ALL.iter().map(|metric| metric.name()).collect();
        write!(
            f,
            "unknown metric {:?}; valid metrics are: {}",
            self.name,
            valid.join(", ")
        )
    }
}

impl std::error::Error for UnknownMetric {}

impl FromStr for Metric {
    type Err = UnknownMetric;

    fn from_str(name: &str) -> Result<Metric, UnknownMetric> {
        Metric::ALL
            .into_iter()
            .find(|metric| metric.name() == name)
            .ok_or_else(|| UnknownMetric {
                name: name.to_owned(),
            })
    }
}

/// Parses a comma-separated list such as `cka,pwcca, procrustes` (spaces around names allowed),
/// keeping the first occurrence of each metric in order.
pub fn parse_metric_list(list: &str) -> Result<Vec<Metric>, UnknownMetric> {
    let mut metrics = Vec::new();
    for name in list.split(',') {
        let metric: Metric = name.trim().parse()?;
        if !metrics.contains(&metric) {
            metrics.push(metric);
        }
    }
    Ok(metrics)
}

/// One representation made ready for comparison: the per-matrix work of DESIGN's cost model,
/// done once and shared by every pair (workers share it across threads through an `Arc`).
/// Eager: P(X) = the centred matrix divided by its Frobenius norm, S = P(X)ᵀP(X) and ‖S‖_F, row
/// norms. Lazy, on the first metric that needs it: the eigendecomposition of S (CCA family,
/// svcca), the ranks of the RDM (rsa), the neighbour lists (mutual_knn).
pub struct Prepared {
    /// P(X), n x d, row-major.
    normalised: Array2<f64>,
    /// With `centred_norm`, rebuilds the raw rows for rsa, which works on the uncentred input.
    column_means: Array1<f64>,
    centred_norm: f64,
    /// Squared norm of each row of P(X) (cka_debiased's rₓ).
    row_sq_norms: Array1<f64>,
    gram: Array2<f64>,
    gram_norm: f64,
    /// First row whose entries are all equal in the exact input (rsa refuses it).
    constant_row: Option<usize>,
    spectrum: OnceLock<Result<cca::Spectrum, MetricError>>,
    rdm_ranks: OnceLock<Result<rsa::RdmRanks, MetricError>>,
    neighbours: OnceLock<Result<knn::Neighbours, MetricError>>,
}

impl Prepared {
    /// Validates and prepares an n x d representation (rows = examples). Refuses an empty matrix,
    /// non-finite values and zero variance (every column constant).
    pub fn new(x: Array2<f64>) -> Result<Prepared, MetricError> {
        let (n, d) = x.dim();
        if n == 0 || d == 0 {
            return Err(MetricError::Empty { n, d });
        }
        if let Some(position) = x.iter().position(|value| !value.is_finite()) {
            return Err(MetricError::NonFinite {
                row: position / d,
                column: position % d,
            });
        }
        let mut normalised = if x.is_standard_layout() {
            x
        } else {
            x.as_standard_layout().into_owned()
        };
        let constant_row = normalised
            .axis_iter(Axis(0))
            .position(|row| row.iter().all(|&value| value == row[0]));

        // A constant column keeps its exact value as mean, so it centres to exact zeros instead of
        // rounding noise that normalisation would blow up when it is the only variation.
        let column_means = Array1::from_iter(normalised.axis_iter(Axis(1)).map(|column| {
            if column.iter().all(|&value| value == column[0]) {
                column[0]
            } else {
                column.sum() / n as f64
            }
        }));
        normalised -= &column_means;
        let centred_norm = normalised
            .iter()
            .map(|value| value * value)
            .sum::<f64>()
            .sqrt();
        if centred_norm == 0.0 {
            return Err(MetricError::ZeroVariance { n, d });
        }
        normalised /= centred_norm;

        let row_sq_norms =
            Array1::from_iter(normalised.axis_iter(Axis(0)).map(|row| row.dot(&row)));
        let gram = linalg::gram_of_columns(normalised.view())?;
        let gram_norm = gram.iter().map(|value| value * value).sum::<f64>().sqrt();
        Ok(Prepared {
            normalised,
            column_means,
            centred_norm,
            row_sq_norms,
            gram,
            gram_norm,
            constant_row,
            spectrum: OnceLock::new(),
            rdm_ranks: OnceLock::new(),
            neighbours: OnceLock::new(),
        })
    }

    pub fn n_rows(&self) -> usize {
        self.normalised.nrows()
    }

    pub fn n_cols(&self) -> usize {
        self.normalised.ncols()
    }

    /// Computes now the lazy parts these metrics need, so that later comparisons only do per-pair
    /// work. A metric's refusal is kept and reported by [`compare`], not here.
    pub fn prepare_for(&self, metrics: &[Metric]) {
        for metric in metrics {
            match metric {
                Metric::CcaMean | Metric::CcaMeanSq | Metric::Pwcca | Metric::Svcca => {
                    let _ = self.spectrum();
                }
                Metric::Rsa => {
                    let _ = self.rdm_ranks();
                }
                Metric::MutualKnn => {
                    let _ = self.neighbours();
                }
                Metric::Cka
                | Metric::CkaDebiased
                | Metric::Procrustes
                | Metric::ProcrustesAngular => {}
            }
        }
    }

    /// Bytes held on the heap now, lazy parts included once computed (for a byte-bounded cache).
    pub fn memory_bytes(&self) -> usize {
        let eager = 8
            * (self.normalised.len()
                + self.column_means.len()
                + self.row_sq_norms.len()
                + self.gram.len());
        let spectrum = match self.spectrum.get() {
            Some(Ok(spectrum)) => spectrum.memory_bytes(),
            _ => 0,
        };
        let ranks = match self.rdm_ranks.get() {
            Some(Ok(ranks)) => ranks.memory_bytes(),
            _ => 0,
        };
        let neighbours = match self.neighbours.get() {
            Some(Ok(neighbours)) => neighbours.memory_bytes(),
            _ => 0,
        };
        std::mem::size_of::<Prepared>() + eager + spectrum + ranks + neighbours
    }

    fn spectrum(&self) -> Result<&cca::Spectrum, MetricError> {
        self.spectrum
            .get_or_init(|| cca::Spectrum::from_gram(&self.gram))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn rdm_ranks(&self) -> Result<&rsa::RdmRanks, MetricError> {
        self.rdm_ranks
            .get_or_init(|| {
                rsa::RdmRanks::compute(
                    self.normalised.view(),
                    self.centred_norm,
                    self.column_means.view(),
                    self.constant_row,
                )
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn neighbours(&self) -> Result<&knn::Neighbours, MetricError> {
        self.neighbours
            .get_or_init(|| knn::Neighbours::compute(self.normalised.view()))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// Computes `metrics` for the pair (X = `x`, Y = `y`; the order matters for pwcca only). The
/// metrics of one call share M = XᵀY and the decompositions they have in common (DESIGN, Cost
/// model). A metric that refuses the pair maps to its error; the others still get their value.
pub fn compare(
    x: &Prepared,
    y: &Prepared,
    metrics: &[Metric],
) -> BTreeMap<Metric, Result<f64, MetricError>> {
    compare_timed(x, y, metrics)
        .into_iter()
        .map(|(metric, timed)| (metric, timed.value))
        .collect()
}

/// A metric's outcome for a pair and the seconds spent on it.
#[derive(Clone, Debug, PartialEq)]
pub struct Timed {
    pub value: Result<f64, MetricError>,
    /// Work shared between metrics (M = XᵀY, the canonical decomposition) counts for the first
    /// metric of the call that needs it.
    pub seconds: f64,
}

/// [`compare`], timing each metric.
pub fn compare_timed(x: &Prepared, y: &Prepared, metrics: &[Metric]) -> BTreeMap<Metric, Timed> {
    let needs_nuclear_norm = metrics
        .iter()
        .any(|metric| matches!(metric, Metric::Procrustes | Metric::ProcrustesAngular));
    let needs_canonical = metrics
        .iter()
        .any(|metric| matches!(metric, Metric::CcaMean | Metric::CcaMeanSq | Metric::Pwcca));
    let pair = Pair {
        x,
        y,
        with_pwcca: metrics.contains(&Metric::Pwcca),
        side_by_side: needs_nuclear_norm && needs_canonical,
        cross: OnceLock::new(),
        nuclear_norm: OnceLock::new(),
        canonical: OnceLock::new(),
    };
    metrics
        .iter()
        .map(|&metric| {
            let started = std::time::Instant::now();
            let value = pair.value(metric);
            let seconds = started.elapsed().as_secs_f64();
            (metric, Timed { value, seconds })
        })
        .collect()
}

/// Per-pair intermediate results, each computed on first use.
struct Pair<'a> {
    x: &'a Prepared,
    y: &'a Prepared,
    with_pwcca: bool,
    /// The call needs both the nuclear norm and the canonical decomposition, which
    /// [`Pair::decompose_side_by_side`] may then compute at once.
    side_by_side: bool,
    cross: OnceLock<Array2<f64>>,
    nuclear_norm: OnceLock<Result<f64, MetricError>>,
    canonical: OnceLock<Result<cca::Canonical, MetricError>>,
}

impl Pair<'_> {
    fn value(&self, metric: Metric) -> Result<f64, MetricError> {
        let (x, y) = (self.x, self.y);
        if x.n_rows() != y.n_rows() {
            return Err(MetricError::RowCountMismatch {
                x_rows: x.n_rows(),
                y_rows: y.n_rows(),
            });
        }
        match metric {
            Metric::Cka => Ok(cka::cka(self.cross_sq_norm(), x.gram_norm, y.gram_norm)),
            Metric::CkaDebiased => cka::cka_debiased(
                self.cross_sq_norm(),
                &cka::DebiasedParts {
                    gram_norm: x.gram_norm,
                    row_sq_norms: &x.row_sq_norms,
                },
                &cka::DebiasedParts {
                    gram_norm: y.gram_norm,
                    row_sq_norms: &y.row_sq_norms,
                },
            ),
            Metric::CcaMean => Ok(1.0 - cca::mean(&self.canonical(metric)?.correlations)),
            Metric::CcaMeanSq => {
                let squares: Vec<f64> = (self.canonical(metric)?.correlations.iter())
                    .map(|rho| rho * rho)
                    .collect();
                Ok(1.0 - cca::mean(&squares))
            }
            Metric::Pwcca => Ok(self
                .canonical(metric)?
                .pwcca
                .expect("compare asks for pwcca whenever the metric list holds it")),
            Metric::Svcca => cca::svcca(x.spectrum()?, y.spectrum()?, self.cross()),
            Metric::Procrustes => Ok(procrustes::procrustes(self.nuclear_norm()?)),
            Metric::ProcrustesAngular => Ok(procrustes::procrustes_angular(self.nuclear_norm()?)),
            Metric::Rsa => Ok(rsa::rsa(x.rdm_ranks()?, y.rdm_ranks()?)),
            Metric::MutualKnn => Ok(knn::mutual_knn(x.neighbours()?, y.neighbours()?)),
        }
    }

    /// M = XᵀY, the pair's one n-sized product.
    fn cross(&self) -> &Array2<f64> {
        self.cross
            .get_or_init(|| self.x.normalised.t().dot(&self.y.normalised))
    }

    fn cross_sq_norm(&self) -> f64 {
        self.cross().iter().map(|value| value * value).sum()
    }

    fn nuclear_norm(&self) -> Result<f64, MetricError> {
        if self.side_by_side {
            self.decompose_side_by_side();
        }
        self.computed_nuclear_norm().clone()
    }

    fn computed_nuclear_norm(&self) -> &Result<f64, MetricError> {
        self.nuclear_norm
            .get_or_init(|| procrustes::nuclear_norm(self.cross()))
    }

    /// The examples n and the larger width d of the pair: DESIGN, Metric definitions
    /// (`cca_mean`), the CCA family needs n > d1 and n > d2.
    fn cca_dimensions(&self) -> (usize, usize) {
        (self.x.n_rows(), self.x.n_cols().max(self.y.n_cols()))
    }

    fn canonical(&self, metric: Metric) -> Result<&cca::Canonical, MetricError> {
        let (n, d) = self.cca_dimensions();
        if n <= d {
            return Err(MetricError::TooFewExamples { metric, n, d });
        }
        if self.side_by_side {
            self.decompose_side_by_side();
        }
        self.computed_canonical().as_ref().map_err(Clone::clone)
    }

    fn computed_canonical(&self) -> &Result<cca::Canonical, MetricError> {
        self.canonical.get_or_init(|| {
            cca::canonical(
                self.x.spectrum()?,
                self.y.spectrum()?,
                self.cross(),
                self.with_pwcca,
            )
        })
    }

    /// The values-only SVD of M (procrustes) and the eigendecomposition of T Tᵀ (CCA family) are
    /// independent d x d reductions, half of them memory-bound Level-2 BLAS that gains little from
    /// a second BLAS thread. Run side by side, one BLAS thread each, they take about 0.14 s instead
    /// of 0.17 s one after the other at d = 768 (BENCHMARKS.md); M itself is computed first, with
    /// all the BLAS threads. Not when the CCA family refuses the pair, nor with pre-AVX kernels,
    /// whose slow single-threaded d x d GEMMs make it 28 % slower instead, nor with one BLAS thread
    /// or while another comparison holds the thread count lowered: then `nuclear_norm` and
    /// `canonical` compute what they need in turn.
    fn decompose_side_by_side(&self) {
        let (n, d) = self.cca_dimensions();
        if self.nuclear_norm.get().is_some() || n <= d || linalg::blas_core_lacks_avx() {
            return;
        }
        self.cross();
        let Some(_one_thread) = linalg::OneBlasThread::try_lower() else {
            return;
        };
        std::thread::scope(|scope| {
            scope.spawn(|| self.computed_canonical());
            self.computed_nuclear_norm();
        });
    }
}
