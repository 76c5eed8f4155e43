//! The distance and kernel measures of docs/MEASURES.md (Measures: `distance_correlation`,
//! `rsm_norm_diff`, `uniformity_diff`, `rbf_cka`), on n x n matrices prepared once per
//! representation.
//!
//! One n x n matrix of Euclidean distances per representation serves distance_correlation,
//! rsm_norm_diff and uniformity_diff; rbf_cka adds one centred kernel per `sigma_frac`, and
//! uniformity_diff one number per `t`. A pair then costs O(n²) (one pass over two matrices),
//! except rsm_norm_diff, whose spectral norm takes an n x n symmetric eigenvalue problem.

use ndarray::{Array1, Array2, ArrayView2, Axis};

use super::MetricError;
use super::linalg;
use super::neighbourhood::{check_finite, first_equal_rows};

/// The Euclidean distances between the raw rows of one representation, with their row means.
///
/// Memory at n = 10 000, d = 768: 800 MB held, 861 MB while preparing (a centred copy of the
/// rows, 61 MB).
pub struct Distances {
    /// D, n x n, symmetric with an exact zero diagonal; exact zeros between equal rows.
    distances: Array2<f64>,
    row_means: Array1<f64>,
    grand_mean: f64,
    /// dCov²(X, X) of docs/MEASURES.md (Measures: `distance_correlation`).
    self_distance_covariance: f64,
    all_rows_equal: bool,
}

impl Distances {
    /// The distances between the rows of the n x d representation `x` (rows = examples).
    /// Refuses an empty matrix and non-finite values.
    pub fn new(x: ArrayView2<f64>) -> Result<Distances, MetricError> {
        let (n, d) = x.dim();
        if n == 0 || d == 0 {
            return Err(MetricError::Empty { n, d });
        }
        check_finite(x)?;
        // Distances do not change under translation, and centred rows lose far less to
        // cancellation in ‖xᵢ‖² + ‖xⱼ‖² - 2xᵢᵀxⱼ than rows far from the origin.
        let mut centred = x.as_standard_layout().into_owned();
        let means = centred
            .mean_axis(Axis(0))
            .expect("a non-empty matrix has column means");
        centred -= &means;
        let representative = first_equal_rows(x);
        let mut distances = linalg::gram_of_rows(centred.view())?;
        drop(centred);
        let squared_norms: Vec<f64> = distances.diag().to_vec();
        for ((i, j), value) in distances.indexed_iter_mut() {
            *value = if i == j {
                0.0
            } else {
                (squared_norms[i] + squared_norms[j] - 2.0 * *value)
                    .max(0.0)
                    .sqrt()
            };
        }
        // Equal rows are at distance exactly 0 from each other and exactly as far as their first
        // copy from everything else: rounding in the product would break both.
        for (i, &first) in representative.iter().enumerate() {
            let first = first as usize;
            if first != i {
                let row = distances.row(first).to_owned();
                distances.row_mut(i).assign(&row);
                distances.column_mut(i).assign(&row);
            }
        }
        let all_rows_equal = representative.iter().all(|&first| first == 0);
        let row_means = distances
            .mean_axis(Axis(1))
            .expect("a non-empty matrix has row means");
        let grand_mean = row_means.mean().unwrap_or(0.0);
        let mut distances = Distances {
            distances,
            row_means,
            grand_mean,
            self_distance_covariance: 0.0,
            all_rows_equal,
        };
        distances.self_distance_covariance = distance_covariance(&distances, &distances);
        Ok(distances)
    }

    /// Peak bytes [`Distances::new`] allocates for an n x d representation.
    pub fn memory_bytes(n: usize, d: usize) -> usize {
        8 * n * n + 8 * n * d + 8 * n * 4 + 48 * n
    }

    /// Bytes held once prepared (for a byte-bounded cache).
    pub fn held_bytes(&self) -> usize {
        8 * (self.distances.len() + self.row_means.len())
    }

    pub fn n_rows(&self) -> usize {
        self.distances.nrows()
    }

    fn flat(&self) -> &[f64] {
        self.distances
            .as_slice()
            .expect("the distance matrix is built in standard layout")
    }
}

fn check_rows(x_rows: usize, y_rows: usize) -> Result<(), MetricError> {
    if x_rows != y_rows {
        return Err(MetricError::RowCountMismatch { x_rows, y_rows });
    }
    Ok(())
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    ndarray::aview1(a).dot(&ndarray::aview1(b))
}

/// dCov²(X, Y) = (1/n²)Σᵢⱼ AᵢⱼBᵢⱼ, A and B the double-centred distance matrices, clipped at 0.
/// A's rows and columns sum to 0, so Σ AᵢⱼBᵢⱼ = Σ AᵢⱼEᵢⱼ with E the uncentred distances of Y,
/// which expands to Σ DᵢⱼEᵢⱼ - 2nΣᵢ rᵢsᵢ + n²gh (r, s row means, g, h grand means): one pass
/// over the two stored matrices, no centred copy.
fn distance_covariance(x: &Distances, y: &Distances) -> f64 {
    let n = x.n_rows() as f64;
    let products = dot(x.flat(), y.flat()) / (n * n);
    let row_means = x.row_means.dot(&y.row_means) / n;
    (products - 2.0 * row_means + x.grand_mean * y.grand_mean).max(0.0)
}

/// `distance_correlation` (docs/MEASURES.md, Measures): 1 - sqrt(dCov²(X,Y) /
/// sqrt(dCov²(X,X)·dCov²(Y,Y))). Refuses a representation whose rows are all identical.
pub fn distance_correlation(x: &Distances, y: &Distances) -> Result<f64, MetricError> {
    check_rows(x.n_rows(), y.n_rows())?;
    let n = x.n_rows();
    for (side, distances) in [("first", x), ("second", y)] {
        if distances.all_rows_equal || distances.self_distance_covariance == 0.0 {
            return Err(MetricError::IdenticalRows { n, side });
        }
    }
    let normaliser = (x.self_distance_covariance * y.self_distance_covariance).sqrt();
    let correlation = (distance_covariance(x, y) / normaliser).sqrt();
    Ok(1.0 - correlation)
}

/// Bytes [`distance_correlation`] allocates beyond its inputs.
pub fn distance_correlation_memory_bytes() -> usize {
    0
}

/// Below this many rows, rsm_norm_diff takes all eigenvalues from LAPACK: the Lanczos basis
/// would approach the whole space anyway.
const LANCZOS_MIN_ROWS: usize = 512;

/// Lanczos steps before rsm_norm_diff gives up on convergence and asks LAPACK for all eigenvalues.
const LANCZOS_MAX_STEPS: usize = 400;

/// A Ritz value counts as converged when its residual bound |βⱼ·sⱼ| is below this fraction of the
/// largest absolute Ritz value: the eigenvalue then lies within that distance of it, about as
/// close as LAPACK's own dsyevd answer (backward error ~n·ε·‖A‖).
const LANCZOS_TOLERANCE: f64 = 1e-12;

/// `rsm_norm_diff` (docs/MEASURES.md, Measures): the spectral norm ‖D_X - D_Y‖₂ of the difference
/// of the distance matrices, its largest absolute eigenvalue.
///
/// The two extreme eigenvalues come from Lanczos with full reorthogonalisation, one matrix-vector
/// product per step (tens of steps instead of LAPACK's O(n³) tridiagonal reduction), stopped when
/// both extreme Ritz values carry residual bounds below [`LANCZOS_TOLERANCE`]: Ritz values lie
/// inside the spectrum, so the larger of their absolute values is then the norm to that accuracy.
/// Small matrices, and any that do not converge in [`LANCZOS_MAX_STEPS`], go to LAPACK `dsyevd`.
pub fn rsm_norm_diff(x: &Distances, y: &Distances) -> Result<f64, MetricError> {
    check_rows(x.n_rows(), y.n_rows())?;
    let difference = &x.distances - &y.distances;
    if difference.nrows() >= LANCZOS_MIN_ROWS
        && let Some(norm) = lanczos_spectral_norm(&difference)?
    {
        return Ok(norm);
    }
    let eigenvalues = linalg::symmetric_eigenvalues(difference)?;
    Ok(eigenvalues
        .iter()
        .fold(0.0, |largest, value| value.abs().max(largest)))
}

/// The largest absolute eigenvalue of the symmetric `matrix` by Lanczos, `None` when it has not
/// converged within [`LANCZOS_MAX_STEPS`].
fn lanczos_spectral_norm(matrix: &Array2<f64>) -> Result<Option<f64>, MetricError> {
    let n = matrix.nrows();
    let steps = LANCZOS_MAX_STEPS.min(n);
    // A fixed start vector with no special relation to distance matrices (a Weyl sequence).
    let start = Array1::from_shape_fn(n, |i| {
        ((i as f64 + 1.0) * 0.618_033_988_749_894_9).fract() - 0.5
    });
    let mut basis: Vec<Array1<f64>> = Vec::with_capacity(steps);
    basis.push(&start / start.dot(&start).sqrt());
    let (mut alphas, mut betas): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    for step in 0..steps {
        let current = &basis[step];
        let mut next = matrix.dot(current);
        let alpha = current.dot(&next);
        next.scaled_add(-alpha, current);
        if step > 0 {
            next.scaled_add(-betas[step - 1], &basis[step - 1]);
        }
        // Twice is enough to keep the basis orthogonal to working precision.
        for _ in 0..2 {
            for vector in &basis {
                let overlap = vector.dot(&next);
                next.scaled_add(-overlap, vector);
            }
        }
        let beta = next.dot(&next).sqrt();
        alphas.push(alpha);
        let order = alphas.len();
        let tridiagonal = Array2::from_shape_fn((order, order), |(i, j)| {
            if i == j {
                alphas[i]
            } else if i.abs_diff(j) == 1 {
                betas[i.min(j)]
            } else {
                0.0
            }
        });
        let ritz = linalg::symmetric_eigen(tridiagonal)?;
        let largest = ritz.values[0].abs().max(ritz.values[order - 1].abs());
        let residual = |index: usize| (beta * ritz.vectors[[order - 1, index]]).abs();
        let invariant = beta <= LANCZOS_TOLERANCE * largest;
        if invariant
            || (order >= 2
                && residual(0) <= LANCZOS_TOLERANCE * largest
                && residual(order - 1) <= LANCZOS_TOLERANCE * largest)
        {
            return Ok(Some(largest));
        }
        betas.push(beta);
        basis.push(next / beta);
    }
    Ok(None)
}

/// Bytes [`rsm_norm_diff`] allocates beyond its inputs: the n x n difference, and the Lanczos
/// basis or LAPACK's eigenvalues and workspace, whichever is larger. At n = 10 000: 836 MB.
pub fn rsm_norm_diff_memory_bytes(n: usize) -> usize {
    let lanczos = 8 * n * (LANCZOS_MAX_STEPS + 2) + 8 * LANCZOS_MAX_STEPS * LANCZOS_MAX_STEPS * 3;
    let lapack = 8 * n + 8 * (2 * n + 1);
    8 * n * n + lanczos.max(lapack)
}

/// u(X) of `uniformity_diff` (docs/MEASURES.md, Measures) at one `t`: 16 bytes held.
pub struct Uniformity {
    t: f64,
    value: f64,
}

impl Uniformity {
    /// u(X) = log((1/n²)Σᵢⱼ exp(-t‖xᵢ - xⱼ‖²)) over all ordered pairs, i = j included. The
    /// largest exponent is 0 (the diagonal), so the log-sum-exp needs no shift and every term
    /// lies in [0, 1]. Refuses t <= 0 and a non-finite t.
    pub fn new(distances: &Distances, t: f64) -> Result<Uniformity, MetricError> {
        if !(t.is_finite() && t > 0.0) {
            return Err(MetricError::ParameterOutOfRange {
                parameter: "t",
                value: t,
                valid: "a finite number > 0",
            });
        }
        let n = distances.n_rows();
        let mut off_diagonal = 0.0;
        for (i, row) in distances.distances.axis_iter(Axis(0)).enumerate() {
            let upper = row.slice(ndarray::s![i + 1..]);
            off_diagonal += upper.iter().map(|d| (-t * d * d).exp()).sum::<f64>();
        }
        let total = n as f64 + 2.0 * off_diagonal;
        let value = total.ln() - 2.0 * (n as f64).ln();
        Ok(Uniformity { t, value })
    }

    /// Bytes [`Uniformity::new`] allocates.
    pub fn memory_bytes() -> usize {
        std::mem::size_of::<Uniformity>()
    }
}

/// `uniformity_diff` (docs/MEASURES.md, Measures): |u(X) - u(Y)|, both at the same t.
pub fn uniformity_diff(x: &Uniformity, y: &Uniformity) -> Result<f64, MetricError> {
    if x.t != y.t {
        return Err(MetricError::PreparedWithDifferentParameter {
            parameter: "t",
            x: x.t,
            y: y.t,
        });
    }
    Ok((x.value - y.value).abs())
}

/// The centred RBF kernel K̂ = HKH of one representation at one `sigma_frac` (docs/MEASURES.md,
/// Measures: `rbf_cka`).
///
/// Memory at n = 10 000: 800 MB held, and no more while preparing (the median is selected inside
/// the kernel's own buffer before the kernel overwrites it).
pub struct RbfKernel {
    sigma_frac: f64,
    centred: Array2<f64>,
    norm: f64,
}

impl RbfKernel {
    /// K_ij = exp(-D²_ij/(2σ²)), σ² = θ²·median of the n² entries of D² (numpy's median: the
    /// mean of the two middle entries for an even count), then centred on both sides. Refuses
    /// θ <= 0, a non-finite θ and a median of 0.
    pub fn new(distances: &Distances, sigma_frac: f64) -> Result<RbfKernel, MetricError> {
        if !(sigma_frac.is_finite() && sigma_frac > 0.0) {
            return Err(MetricError::ParameterOutOfRange {
                parameter: "sigma_frac",
                value: sigma_frac,
                valid: "a finite number > 0",
            });
        }
        let n = distances.n_rows();
        let mut kernel = Array2::<f64>::zeros((n, n));
        let median = {
            let buffer = kernel
                .as_slice_mut()
                .expect("a new matrix is in standard layout");
            median_squared_distance(&distances.distances, buffer)
        };
        if median == 0.0 {
            return Err(MetricError::ZeroMedianDistance { n });
        }
        let scale = -1.0 / (2.0 * sigma_frac * sigma_frac * median);
        kernel.zip_mut_with(&distances.distances, |entry, &d| {
            *entry = (scale * d * d).exp();
        });
        // K is symmetric, so its column means are its row means.
        let means = kernel
            .mean_axis(Axis(1))
            .expect("a non-empty matrix has row means");
        let grand_mean = means.mean().unwrap_or(0.0);
        for (i, mut row) in kernel.axis_iter_mut(Axis(0)).enumerate() {
            let shift = grand_mean - means[i];
            row.zip_mut_with(&means, |entry, &column_mean| {
                *entry += shift - column_mean;
            });
        }
        let flat = kernel
            .as_slice()
            .expect("a new matrix is in standard layout");
        let norm = dot(flat, flat).sqrt();
        Ok(RbfKernel {
            sigma_frac,
            centred: kernel,
            norm,
        })
    }

    /// Peak bytes [`RbfKernel::new`] allocates for n rows.
    pub fn memory_bytes(n: usize) -> usize {
        8 * n * n + 8 * n
    }

    /// Bytes held once prepared (for a byte-bounded cache).
    pub fn held_bytes(&self) -> usize {
        8 * self.centred.len()
    }

    fn flat(&self) -> &[f64] {
        self.centred
            .as_slice()
            .expect("the kernel is built in standard layout")
    }
}

/// The median of the n² entries of D² (numpy semantics), selected in `buffer` (n² entries,
/// overwritten). The n² entries are n zeros (the diagonal) and every strict-upper entry twice,
/// so order statistics come from the n(n-1)/2 upper entries alone.
fn median_squared_distance(distances: &Array2<f64>, buffer: &mut [f64]) -> f64 {
    let n = distances.nrows();
    let mut upper_len = 0;
    for (i, row) in distances.axis_iter(Axis(0)).enumerate() {
        for &d in row.iter().skip(i + 1) {
            buffer[upper_len] = d * d;
            upper_len += 1;
        }
    }
    let upper = &mut buffer[..upper_len];
    let count = n * n;
    let mut order_statistic = |position: usize| -> f64 {
        if position < n {
            return 0.0;
        }
        let index = (position - n) / 2;
        *upper.select_nth_unstable_by(index, f64::total_cmp).1
    };
    if count % 2 == 1 {
        order_statistic(count / 2)
    } else {
        let lower = order_statistic(count / 2 - 1);
        let higher = order_statistic(count / 2);
        (lower + higher) / 2.0
    }
}

/// `rbf_cka` (docs/MEASURES.md, Measures): 1 - ⟨K̂, L̂⟩_F / (‖K̂‖_F‖L̂‖_F), both at the same
/// `sigma_frac`.
pub fn rbf_cka(x: &RbfKernel, y: &RbfKernel) -> Result<f64, MetricError> {
    check_rows(x.centred.nrows(), y.centred.nrows())?;
    if x.sigma_frac != y.sigma_frac {
        return Err(MetricError::PreparedWithDifferentParameter {
            parameter: "sigma_frac",
            x: x.sigma_frac,
            y: y.sigma_frac,
        });
    }
    Ok(1.0 - dot(x.flat(), y.flat()) / (x.norm * y.norm))
}

/// Bytes [`rbf_cka`] allocates beyond its inputs.
pub fn rbf_cka_memory_bytes() -> usize {
    0
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    #[test]
    fn the_median_of_squared_distances_counts_the_diagonal_and_both_triangles() {
        // Distances 1, 2, 3 between three points on a line at 0, 1, 3: D² has entries
        // 0, 0, 0, 1, 1, 4, 4, 9, 9, whose median is 1.
        let points = array![[0.0], [1.0], [3.0]];
        let distances = Distances::new(points.view()).expect("valid rows");
        let mut buffer = vec![0.0; 9];
        assert_eq!(
            median_squared_distance(&distances.distances, &mut buffer),
            1.0
        );
        // Four points at 0, 1, 3, 7: 16 entries, four zeros, upper 1, 4, 9, 36, 49, 16 twice each:
        // sorted 0 0 0 0 1 1 4 4 | 9 9 16 16 ..., the median (4 + 9) / 2.
        let points = array![[0.0], [1.0], [3.0], [7.0]];
        let distances = Distances::new(points.view()).expect("valid rows");
        let mut buffer = vec![0.0; 16];
        assert_eq!(
            median_squared_distance(&distances.distances, &mut buffer),
            6.5
        );
    }

    #[test]
    fn equal_rows_are_at_distance_exactly_zero() {
        let rows = array![[1e8, 1.0], [3.0, 2.0], [1e8, 1.0]];
        let distances = Distances::new(rows.view()).expect("valid rows");
        assert_eq!(distances.distances[[0, 2]], 0.0);
        assert_eq!(distances.distances[[2, 0]], 0.0);
        assert_eq!(distances.distances[[0, 1]], distances.distances[[2, 1]]);
    }
}
