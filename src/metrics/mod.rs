//! Representation dissimilarity metrics (DESIGN.md, "Metric definitions" and "Cost model").
//!
//! Pure numerics in f64: no I/O, no async. A [`Prepared`] representation holds the work that
//! depends on one matrix (centering, normalisation, XᵀX, and lazily the eigendecomposition, the RDM
//! ranks and the neighbour lists); [`compare`] does the per-pair rest, sharing M = XᵀY and the
//! decompositions between the metrics of one call.

mod aligned;
pub mod assignment;
mod cca;
mod cka;
mod error;
mod external;
mod id;
pub mod kernel;
mod kind;
mod knn;
pub mod linalg;
mod matching;
mod nclass;
pub mod neighbourhood;
mod procrustes;
mod rows;
mod rsa;
mod subspace;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use ndarray::{Array1, Array2, Axis};

pub use error::MetricError;
pub use external::{
    EXTERNAL_PREFIX, ExternalName, InvalidExternalName, MAX_EXTERNAL_NAME_LEN, MetricId,
    UnknownMetricId,
};
pub use id::{CostClass, MAX_PARAMS, MemoryOrder, Metric, ParamRange, ParamSpec, UnknownMetric};
pub use kind::MetricKind;
pub use knn::NEIGHBOURS;
pub use linalg::{better_blas_core, blas_core, blas_threads, set_blas_threads};

/// Parses a comma-separated list such as `cka,pwcca, gulp(lambda=0.1)` (spaces around names
/// allowed), keeping the first occurrence of each metric in order.
pub fn parse_metric_list(list: &str) -> Result<Vec<Metric>, UnknownMetric> {
    let mut metrics = Vec::new();
    for name in id::split_list(list) {
        let metric: Metric = name.trim().parse()?;
        if !metrics.contains(&metric) {
            metrics.push(metric);
        }
    }
    Ok(metrics)
}

/// Memory the measures of one comparison may allocate (README, Measures: "Memory").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBudget {
    pub bytes: u64,
}

impl MemoryBudget {
    pub const UNLIMITED: MemoryBudget = MemoryBudget { bytes: u64::MAX };

    /// The metric's refusal when its cost for an n x d1, n x d2 pair exceeds the budget.
    pub fn check(self, metric: Metric, n: usize, d1: usize, d2: usize) -> Result<(), MetricError> {
        let cost = metric.memory_bytes(n, d1, d2);
        if cost > self.bytes {
            return Err(MetricError::OverMemoryBudget {
                metric,
                n,
                d1,
                d2,
                cost,
                limit: self.bytes,
            });
        }
        Ok(())
    }

    /// The refusal of preparing an n x d representation at all, when its eager parts exceed the
    /// budget.
    pub fn check_preparation(self, n: usize, d: usize) -> Result<(), MetricError> {
        let cost = Prepared::eager_bytes(n, d);
        if cost > self.bytes {
            return Err(MetricError::PreparationOverMemoryBudget {
                n,
                d,
                cost,
                limit: self.bytes,
            });
        }
        Ok(())
    }
}

/// One representation made ready for comparison: the per-matrix work of DESIGN's cost model,
/// done once and shared by every pair (workers share it across threads through an `Arc`).
/// Eager: P(X) = the centred matrix divided by its Frobenius norm, S = P(X)ᵀP(X) and ‖S‖_F, row
/// norms of P(X) and of the raw rows, and c(X) (`concentricity_diff`). Lazy, on the first metric
/// that needs it: the eigendecompositions of S (CCA family, svcca; gulp, linear_regression) and of
/// the raw Gram matrix (eigenspace_overlap), the raw rows at unit norm (aligned_cosine), the ranks
/// of the RDM (rsa), the neighbour lists (mutual_knn), and the N-class parts of docs/MEASURES.md
/// (kNN lists at the largest k asked for, the n x n distances, u(X) per t, the RBF kernel per
/// sigma_frac).
pub struct Prepared {
    /// P(X), n x d, row-major.
    normalised: Array2<f64>,
    /// With `centred_norm`, rebuilds the raw rows for the measures on uncentred input.
    column_means: Array1<f64>,
    centred_norm: f64,
    /// Squared norm of each row of P(X) (cka_debiased's rₓ).
    row_sq_norms: Array1<f64>,
    /// ‖xᵢ‖ of the raw rows, exactly 0 for an all-zero row.
    raw_row_norms: Array1<f64>,
    /// Which raw rows are equal once scaled to unit norm, read from the exact input: the rows the
    /// neighbour lists rebuild from P(X) may differ in the last bits, and must tie all the same.
    equal_unit_rows: Vec<u32>,
    gram: Array2<f64>,
    gram_norm: f64,
    /// First row whose entries are all equal in the exact input (rsa refuses it).
    constant_row: Option<usize>,
    concentricity: Result<f64, MetricError>,
    spectrum: Lazy<cca::Spectrum>,
    centred_basis: Lazy<subspace::Eigenbasis>,
    raw_basis: Lazy<subspace::Eigenbasis>,
    unit_rows: OnceLock<Array2<f64>>,
    rdm_ranks: Lazy<rsa::RdmRanks>,
    neighbours: Lazy<knn::Neighbours>,
    n_class: nclass::Parts,
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
        let raw_row_norms = Array1::from_iter(
            normalised
                .axis_iter(Axis(0))
                .map(|row| row.dot(&row).sqrt()),
        );

        let equal_unit_rows =
            neighbourhood::first_equal_unit_rows(normalised.view(), raw_row_norms.view());

        // A constant column keeps its exact value as mean, so it centres to exact zeros instead of
        // rounding noise that normalisation would blow up when it is the only variation.
        let column_means = Array1::from_iter(normalised.axis_iter(Axis(1)).map(|column| {
            if column.iter().all(|&value| value == column[0]) {
                column[0]
            } else {
                column.sum() / n as f64
            }
        }));
        let concentricity =
            rows::concentricity(normalised.view(), column_means.view(), raw_row_norms.view());
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
            raw_row_norms,
            equal_unit_rows,
            gram,
            gram_norm,
            constant_row,
            concentricity,
            spectrum: Lazy::default(),
            centred_basis: Lazy::default(),
            raw_basis: Lazy::default(),
            unit_rows: OnceLock::new(),
            rdm_ranks: Lazy::default(),
            neighbours: Lazy::default(),
            n_class: nclass::Parts::default(),
        })
    }

    /// Bytes [`Prepared::new`] holds for an n x d matrix (the input itself, row vectors, the
    /// equal-row indices and S), known before it allocates.
    pub fn eager_bytes(n: usize, d: usize) -> u64 {
        let (n, d) = (n as u64, d as u64);
        8 * (n * d + d * d + 3 * n + d) + 4 * n
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
        self.prepare_within(metrics, MemoryBudget::UNLIMITED);
    }

    /// [`Prepared::prepare_for`], skipping the metrics whose cost on a pair of this representation
    /// with itself exceeds `budget` ([`compare_within`] refuses them).
    ///
    /// Returns the seconds each metric spent preparing: a part several metrics read counts for
    /// the first of them, and a part prepared before costs nothing.
    pub fn prepare_within(
        &self,
        metrics: &[Metric],
        budget: MemoryBudget,
    ) -> BTreeMap<Metric, f64> {
        let mut seconds = BTreeMap::new();
        let (n, d) = (self.n_rows(), self.n_cols());
        let admitted: Vec<Metric> = metrics
            .iter()
            .copied()
            .filter(|metric| budget.check(*metric, n, d, d).is_ok())
            .collect();
        let lists_k = lists_neighbours(&admitted, n);
        for metric in admitted {
            let started = std::time::Instant::now();
            self.prepare_parts(metric, lists_k);
            *seconds.entry(metric).or_default() += started.elapsed().as_secs_f64();
        }
        seconds
    }

    fn prepare_parts(&self, metric: Metric, lists_k: usize) {
        if let Some(measure) = nclass::Measure::of(metric) {
            self.n_class.prepare(measure, lists_k, self);
            return;
        }
        match metric.kind() {
            MetricKind::CcaMean | MetricKind::CcaMeanSq | MetricKind::Pwcca | MetricKind::Svcca => {
                let _ = self.spectrum();
            }
            MetricKind::Gulp | MetricKind::LinearRegression => {
                let _ = self.centred_basis();
            }
            MetricKind::EigenspaceOverlap => {
                let _ = self.raw_basis();
            }
            MetricKind::AlignedCosine => {
                self.unit_rows();
            }
            MetricKind::Rsa => {
                let _ = self.rdm_ranks();
            }
            MetricKind::MutualKnn => {
                let _ = self.neighbours();
            }
            // The other kinds read only eager parts and the pair's products.
            _ => {}
        }
    }

    /// Bytes held on the heap now, lazy parts included once computed (for a byte-bounded cache).
    pub fn memory_bytes(&self) -> usize {
        let eager = 8
            * (self.normalised.len()
                + self.column_means.len()
                + self.row_sq_norms.len()
                + self.raw_row_norms.len()
                + self.gram.len());
        let lazy = self.spectrum.held_bytes(cca::Spectrum::memory_bytes)
            + self
                .centred_basis
                .held_bytes(subspace::Eigenbasis::memory_bytes)
            + self
                .raw_basis
                .held_bytes(subspace::Eigenbasis::memory_bytes)
            + self.unit_rows.get().map_or(0, |rows| 8 * rows.len())
            + self.rdm_ranks.held_bytes(rsa::RdmRanks::memory_bytes)
            + self.neighbours.held_bytes(knn::Neighbours::memory_bytes)
            + self.n_class.held_bytes();
        std::mem::size_of::<Prepared>() + eager + lazy
    }

    /// ‖X‖²_F of the raw matrix: ‖X̃‖²_F + n‖x̄‖².
    fn raw_sq_norm(&self) -> f64 {
        self.centred_norm.powi(2) + self.n_rows() as f64 * self.column_means.dot(&self.column_means)
    }

    fn spectrum(&self) -> Result<&cca::Spectrum, MetricError> {
        self.spectrum
            .get_or_compute(|| cca::Spectrum::from_gram(&self.gram))
    }

    fn centred_basis(&self) -> Result<&subspace::Eigenbasis, MetricError> {
        self.centred_basis
            .get_or_compute(|| subspace::Eigenbasis::of_gram(self.gram.clone()))
    }

    /// Of XᵀX / c², c = ‖X̃‖_F: S + (n/c²) x̄x̄ᵀ, a rank-one update of the centred Gram matrix
    /// rather than a second n-sized product.
    fn raw_basis(&self) -> Result<&subspace::Eigenbasis, MetricError> {
        self.raw_basis.get_or_compute(|| {
            let scaled_mean = &self.column_means / self.centred_norm;
            let n = self.n_rows() as f64;
            let mut raw = self.gram.clone();
            for (mut row, a) in raw.axis_iter_mut(Axis(0)).zip(&scaled_mean) {
                row.scaled_add(n * a, &scaled_mean);
            }
            subspace::Eigenbasis::of_gram(raw)
        })
    }

    /// The raw rows rebuilt from P(X): X̃·c + 1x̄ᵀ, all-zero rows exactly zero again. Equal input
    /// rows stay equal (each entry goes through the same operations).
    fn raw_rows(&self) -> Array2<f64> {
        let mut rows = &self.normalised * self.centred_norm + &self.column_means;
        for (mut row, norm) in rows.axis_iter_mut(Axis(0)).zip(&self.raw_row_norms) {
            if *norm == 0.0 {
                row.fill(0.0);
            }
        }
        rows
    }

    /// The raw rows scaled to unit norm, all-zero rows left zero.
    fn unit_rows(&self) -> &Array2<f64> {
        self.unit_rows.get_or_init(|| {
            let mut rows = self.raw_rows();
            for (mut row, norm) in rows.axis_iter_mut(Axis(0)).zip(&self.raw_row_norms) {
                if *norm > 0.0 {
                    row /= *norm;
                }
            }
            rows
        })
    }

    fn rdm_ranks(&self) -> Result<&rsa::RdmRanks, MetricError> {
        self.rdm_ranks.get_or_compute(|| {
            rsa::RdmRanks::compute(
                self.normalised.view(),
                self.centred_norm,
                self.column_means.view(),
                self.constant_row,
            )
        })
    }

    fn neighbours(&self) -> Result<&knn::Neighbours, MetricError> {
        self.neighbours
            .get_or_compute(|| knn::Neighbours::compute(self.normalised.view()))
    }
}

/// A part computed on first need and kept, a refusal included, so that a refused part is not
/// attempted again by the next metric or pair.
struct Lazy<T>(OnceLock<Result<T, MetricError>>);

impl<T> Default for Lazy<T> {
    fn default() -> Lazy<T> {
        Lazy(OnceLock::new())
    }
}

impl<T> Lazy<T> {
    fn get_or_compute(
        &self,
        compute: impl FnOnce() -> Result<T, MetricError>,
    ) -> Result<&T, MetricError> {
        self.0.get_or_init(compute).as_ref().map_err(Clone::clone)
    }

    /// The part's bytes once computed; 0 before, or when it was refused.
    fn held_bytes(&self, bytes: impl FnOnce(&T) -> usize) -> usize {
        match self.0.get() {
            Some(Ok(part)) => bytes(part),
            _ => 0,
        }
    }
}

/// Computes `metrics` for the pair (X = `x`, Y = `y`; the order matters for the asymmetric ones),
/// whatever memory they take. See [`compare_within`].
pub fn compare(
    x: &Prepared,
    y: &Prepared,
    metrics: &[Metric],
) -> BTreeMap<Metric, Result<f64, MetricError>> {
    compare_within(x, y, metrics, MemoryBudget::UNLIMITED)
}

/// Computes `metrics` for the pair. The metrics of one call share M = XᵀY and the decompositions
/// they have in common (DESIGN, Cost model; README, Measures: "Shared work"). A metric that
/// refuses the pair, or whose memory cost exceeds `budget`, maps to its error; the others still
/// get their value.
pub fn compare_within(
    x: &Prepared,
    y: &Prepared,
    metrics: &[Metric],
    budget: MemoryBudget,
) -> BTreeMap<Metric, Result<f64, MetricError>> {
    compare_timed(x, y, metrics, budget)
        .into_iter()
        .map(|(metric, timed)| (metric, timed.value))
        .collect()
}

/// A metric's outcome for a pair and the seconds spent on it.
#[derive(Clone, Debug, PartialEq)]
pub struct Timed {
    pub value: Result<f64, MetricError>,
    /// M = XᵀY, the pair's one n-sized product, is split evenly between the G-class metrics of
    /// the call, which all start from it; other shared work (the canonical decomposition, the
    /// nuclear norm) counts for the first metric of the call that needs it.
    pub seconds: f64,
}

/// [`compare_within`], timing each metric.
pub fn compare_timed(
    x: &Prepared,
    y: &Prepared,
    metrics: &[Metric],
    budget: MemoryBudget,
) -> BTreeMap<Metric, Timed> {
    let (n, d1, d2) = (x.n_rows(), x.n_cols(), y.n_cols());
    let admitted: Vec<Metric> = metrics
        .iter()
        .copied()
        .filter(|metric| budget.check(*metric, n, d1, d2).is_ok())
        .collect();
    let needs_nuclear_norm = admitted.iter().any(|metric| {
        matches!(
            metric.kind(),
            MetricKind::Procrustes | MetricKind::ProcrustesAngular
        )
    });
    let needs_canonical = admitted.iter().any(|metric| {
        matches!(
            metric.kind(),
            MetricKind::CcaMean | MetricKind::CcaMeanSq | MetricKind::Pwcca
        )
    });
    let pair = Pair {
        x,
        y,
        lists_k: lists_neighbours(&admitted, n),
        with_pwcca: admitted
            .iter()
            .any(|metric| metric.kind() == MetricKind::Pwcca),
        side_by_side: needs_nuclear_norm && needs_canonical,
        cross: OnceLock::new(),
        cross_seconds: OnceLock::new(),
        raw_cross: OnceLock::new(),
        correlations: OnceLock::new(),
        centred_rotated: Lazy::default(),
        nuclear_norm: OnceLock::new(),
        canonical: OnceLock::new(),
    };
    // M = XᵀY is split between the G-class metrics of the call, all of which start from it.
    let shares_cross = |metric: &Metric| {
        metric.kind().cost_class() == CostClass::Gram && admitted.contains(metric)
    };
    let cross_is_shared = admitted.iter().any(shares_cross);
    let mut timed: BTreeMap<Metric, Timed> = metrics
        .iter()
        .map(|&metric| {
            let had_cross = pair.cross.get().is_some();
            let started = std::time::Instant::now();
            let value = budget
                .check(metric, n, d1, d2)
                .and_then(|()| pair.value(metric));
            let mut seconds = started.elapsed().as_secs_f64();
            if cross_is_shared && !had_cross {
                seconds -= pair.cross_seconds.get().copied().unwrap_or(0.0);
            }
            (metric, Timed { value, seconds })
        })
        .collect();
    let sharing = timed.keys().filter(|metric| shares_cross(metric)).count();
    if let Some(cross_seconds) = pair.cross_seconds.get().filter(|_| sharing > 0) {
        for (metric, outcome) in &mut timed {
            if shares_cross(metric) {
                outcome.seconds += cross_seconds / sharing as f64;
            }
        }
    }
    timed
}

/// The neighbours at which one call's kNN lists are computed: the largest k of `metrics` that
/// n rows admit (a larger k is refused), so that every smaller k reads a prefix of them.
fn lists_neighbours(metrics: &[Metric], n: usize) -> usize {
    metrics
        .iter()
        .filter_map(|metric| nclass::Measure::of(*metric)?.neighbours())
        .filter(|&k| k < n)
        .max()
        .unwrap_or(0)
}

/// Per-pair intermediate results, each computed on first use.
struct Pair<'a> {
    x: &'a Prepared,
    y: &'a Prepared,
    /// See [`lists_neighbours`].
    lists_k: usize,
    with_pwcca: bool,
    /// The call needs both the nuclear norm and the canonical decomposition, which
    /// [`Pair::decompose_side_by_side`] may then compute at once.
    side_by_side: bool,
    cross: OnceLock<Array2<f64>>,
    /// How long `cross` took, which [`compare_timed`] splits between the G-class metrics.
    cross_seconds: OnceLock<f64>,
    raw_cross: OnceLock<Array2<f64>>,
    correlations: OnceLock<Array2<f64>>,
    centred_rotated: Lazy<Array2<f64>>,
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
        if let Some(measure) = nclass::Measure::of(metric) {
            return nclass::value(measure, x, y, self.lists_k);
        }
        match metric.kind() {
            MetricKind::Cka => Ok(cka::cka(self.cross_sq_norm(), x.gram_norm, y.gram_norm)),
            MetricKind::CkaDebiased => cka::cka_debiased(
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
            MetricKind::CcaMean => Ok(1.0 - cca::mean(&self.canonical(metric)?.correlations)),
            MetricKind::CcaMeanSq => {
                let squares: Vec<f64> = (self.canonical(metric)?.correlations.iter())
                    .map(|rho| rho * rho)
                    .collect();
                Ok(1.0 - cca::mean(&squares))
            }
            MetricKind::Pwcca => Ok(self
                .canonical(metric)?
                .pwcca
                .expect("compare asks for pwcca whenever the metric list holds it")),
            MetricKind::Svcca => cca::svcca(x.spectrum()?, y.spectrum()?, self.cross()),
            MetricKind::Procrustes => Ok(procrustes::procrustes(self.nuclear_norm()?)),
            MetricKind::ProcrustesAngular => {
                Ok(procrustes::procrustes_angular(self.nuclear_norm()?))
            }
            MetricKind::Rsa => Ok(rsa::rsa(x.rdm_ranks()?, y.rdm_ranks()?)),
            MetricKind::MutualKnn => Ok(knn::mutual_knn(x.neighbours()?, y.neighbours()?)),
            MetricKind::HardCorrMatch => Ok(matching::hard_corr_match(self.correlations())),
            MetricKind::SoftCorrMatch => Ok(matching::soft_corr_match(self.correlations())),
            MetricKind::EigenspaceOverlap => {
                let (x_basis, y_basis) = (x.raw_basis()?, y.raw_basis()?);
                let rotated = subspace::rotated(x_basis, self.raw_cross(), y_basis);
                Ok(subspace::eigenspace_overlap(&rotated, x_basis, y_basis))
            }
            MetricKind::Gulp => {
                let lambda = metric.param("lambda").unwrap_or(0.0);
                let rotated = self.centred_rotated()?;
                Ok(subspace::gulp(
                    rotated,
                    x.centred_basis()?,
                    y.centred_basis()?,
                    lambda,
                ))
            }
            MetricKind::LinearRegression => Ok(subspace::linear_regression(
                self.cross(),
                y.centred_basis()?,
            )),
            MetricKind::AlignedCosine => {
                let count = x
                    .raw_row_norms
                    .iter()
                    .zip(&y.raw_row_norms)
                    .filter(|(a, b)| **a > 0.0 && **b > 0.0)
                    .count();
                aligned::aligned_cosine(self.raw_cross(), x.unit_rows(), y.unit_rows(), count)
            }
            MetricKind::ProcrustesSizeShape => Ok(procrustes::procrustes_size_shape(
                self.nuclear_norm()?,
                x.centred_norm,
                y.centred_norm,
            )),
            MetricKind::PermutationProcrustes => Ok(matching::permutation_procrustes(
                self.raw_cross(),
                x.centred_norm * y.centred_norm,
                x.raw_sq_norm(),
                y.raw_sq_norm(),
            )),
            MetricKind::MagnitudeDiff => Ok(rows::magnitude_diff(
                x.column_means.view(),
                y.column_means.view(),
            )),
            MetricKind::ConcentricityDiff => {
                Ok((x.concentricity.clone()? - y.concentricity.clone()?).abs())
            }
            kind::n_class_measure!() => unreachable!("the N-class measures are valued above"),
        }
    }

    /// M = XᵀY, the pair's one n-sized product.
    fn cross(&self) -> &Array2<f64> {
        self.cross.get_or_init(|| {
            let started = std::time::Instant::now();
            let cross = self.x.normalised.t().dot(&self.y.normalised);
            let _ = self.cross_seconds.set(started.elapsed().as_secs_f64());
            cross
        })
    }

    /// XᵀY / (c_x c_y) of the raw matrices: M + (n / (c_x c_y)) x̄ȳᵀ, a rank-one update of M
    /// (X = X̃ + 1x̄ᵀ and X̃ᵀ1 = 0) rather than a second n-sized product.
    fn raw_cross(&self) -> &Array2<f64> {
        self.raw_cross.get_or_init(|| {
            let (x, y) = (self.x, self.y);
            let scale = x.n_rows() as f64 / (x.centred_norm * y.centred_norm);
            let mut raw = self.cross().clone();
            for (mut row, a) in raw.axis_iter_mut(Axis(0)).zip(&x.column_means) {
                row.scaled_add(scale * a, &y.column_means);
            }
            raw
        })
    }

    fn correlations(&self) -> &Array2<f64> {
        self.correlations
            .get_or_init(|| matching::correlations(self.cross(), &self.x.gram, &self.y.gram))
    }

    /// Vₓᵀ M V_y over the centred bases (gulp at every λ of the call).
    fn centred_rotated(&self) -> Result<&Array2<f64>, MetricError> {
        self.centred_rotated.get_or_compute(|| {
            Ok(subspace::rotated(
                self.x.centred_basis()?,
                self.cross(),
                self.y.centred_basis()?,
            ))
        })
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
