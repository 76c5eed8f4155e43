//! The few dense kernels the metrics need, called straight into OpenBLAS/LAPACK (public so that
//! `simbench bench-metrics` can time them against the alternatives).
//!
//! ndarray-linalg's `eigh` runs LAPACK's `dsyev` (implicit QR), which at d = 768 is three to five
//! times slower than the divide-and-conquer driver `dsyevd` for eigenvectors (measured with
//! `simbench bench-metrics`' own machine, see BENCHMARKS.md), so the symmetric eigensolvers here
//! call `dsyevd` directly. Gram matrices go through `dsyrk`, half the flops of a general product.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int};
use std::sync::{Mutex, MutexGuard, TryLockError};

use cblas_sys::{CBLAS_LAYOUT, CBLAS_TRANSPOSE, CBLAS_UPLO};
use ndarray::{Array2, ArrayView2, ShapeBuilder, s};

use super::MetricError;

unsafe extern "C" {
    // Provided by the OpenBLAS that blas-src links; not part of the reference BLAS interface.
    fn openblas_set_num_threads(num_threads: c_int);
    fn openblas_get_num_threads() -> c_int;
    fn openblas_get_corename() -> *const c_char;
}

/// The kernel family OpenBLAS chose for this CPU (e.g. `Haswell`, `SkylakeX`).
pub fn blas_core() -> String {
    // SAFETY: returns a pointer to a static NUL-terminated string owned by OpenBLAS.
    let name = unsafe { openblas_get_corename() };
    if name.is_null() {
        return "unknown".to_owned();
    }
    // SAFETY: non-null, NUL-terminated, static (see above).
    unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned()
}

/// A better kernel family than OpenBLAS's own choice, when it fell back to pre-AVX2 kernels on
/// a CPU it does not recognise (Debian's OpenBLAS 0.3.21 runs recent Xeons on its SSE3
/// `Prescott` kernels: a GEMM three times slower than with the AVX-512 ones). `None` when its
/// choice is fine. OpenBLAS reads `OPENBLAS_CORETYPE` only when it loads, so the process must
/// set it and start over to use the answer.
pub fn better_blas_core() -> Option<&'static str> {
    if !blas_core_lacks_avx() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx512cd")
        {
            return Some("SkylakeX");
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Some("Haswell");
        }
    }
    None
}

/// Whether OpenBLAS runs one of its pre-AVX kernel families, whose single-threaded GEMM is slow
/// enough to outweigh the memory-bound LAPACK reductions (see `Pair::decompose_side_by_side`).
pub fn blas_core_lacks_avx() -> bool {
    const PRE_AVX: [&str; 8] = [
        "Prescott",
        "Core2",
        "Penryn",
        "Dunnington",
        "Nehalem",
        "Atom",
        "Katmai",
        "Banias",
    ];
    PRE_AVX.contains(&blas_core().as_str())
}

/// Sets how many threads OpenBLAS uses for each call, so that `workers x BLAS threads` never
/// exceeds the cores (oversubscribed BLAS threads spin against each other and run slower than one).
pub fn set_blas_threads(threads: usize) {
    let threads = c_int::try_from(threads.max(1)).unwrap_or(c_int::MAX);
    // SAFETY: plain setter of OpenBLAS's global thread count; any positive value is valid.
    unsafe { openblas_set_num_threads(threads) }
}

/// The number of threads OpenBLAS uses for each call.
pub fn blas_threads() -> usize {
    // SAFETY: plain getter of OpenBLAS's global thread count.
    let threads = unsafe { openblas_get_num_threads() };
    usize::try_from(threads).unwrap_or(1)
}

/// OpenBLAS lowered to one thread per call, so that two calls can run side by side without
/// oversubscribing the cores. The thread count is process-wide: while one holder has it lowered,
/// no other may lower it, and it is restored on drop, a panic included.
pub struct OneBlasThread {
    threads: usize,
    _held: MutexGuard<'static, ()>,
}

static BLAS_THREADS_LOWERED: Mutex<()> = Mutex::new(());

impl OneBlasThread {
    /// `None` when another comparison holds it or BLAS already runs on one thread.
    pub fn try_lower() -> Option<OneBlasThread> {
        let held = match BLAS_THREADS_LOWERED.try_lock() {
            Ok(held) => held,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        let threads = blas_threads();
        if threads < 2 {
            return None;
        }
        set_blas_threads(1);
        Some(OneBlasThread {
            threads,
            _held: held,
        })
    }
}

impl Drop for OneBlasThread {
    fn drop(&mut self) {
        set_blas_threads(self.threads);
    }
}

fn lapack_dim(value: usize, routine: &'static str) -> Result<c_int, MetricError> {
    c_int::try_from(value).map_err(|_| MetricError::TooLargeForLapack {
        routine,
        dim: value,
    })
}

/// `Aᵀ A` (columns' Gram matrix), both triangles filled.
pub fn gram_of_columns(a: ArrayView2<f64>) -> Result<Array2<f64>, MetricError> {
    symmetric_rank_k(a, CBLAS_TRANSPOSE::CblasTrans, a.ncols())
}

/// `A Aᵀ` (rows' Gram matrix), both triangles filled.
pub fn gram_of_rows(a: ArrayView2<f64>) -> Result<Array2<f64>, MetricError> {
    symmetric_rank_k(a, CBLAS_TRANSPOSE::CblasNoTrans, a.nrows())
}

fn symmetric_rank_k(
    a: ArrayView2<f64>,
    trans: CBLAS_TRANSPOSE,
    order: usize,
) -> Result<Array2<f64>, MetricError> {
    let a = a.as_standard_layout();
    let mut gram = Array2::<f64>::zeros((order, order));
    let inner = if order == a.ncols() {
        a.nrows()
    } else {
        a.ncols()
    };
    if order == 0 || inner == 0 {
        return Ok(gram);
    }
    let order_c = lapack_dim(order, "dsyrk")?;
    let inner_c = lapack_dim(inner, "dsyrk")?;
    let lda = lapack_dim(a.ncols(), "dsyrk")?;
    // SAFETY: `a` is a contiguous row-major (inner x order or order x inner) matrix with leading
    // dimension ncols, and `gram` a contiguous order x order output, as dsyrk is told.
    unsafe {
        cblas_sys::cblas_dsyrk(
            CBLAS_LAYOUT::CblasRowMajor,
            CBLAS_UPLO::CblasUpper,
            trans,
            order_c,
            inner_c,
            1.0,
            a.as_ptr(),
            lda,
            0.0,
            gram.as_mut_ptr(),
            order_c,
        );
    }
    for i in 0..order {
        for j in 0..i {
            gram[[i, j]] = gram[[j, i]];
        }
    }
    Ok(gram)
}

/// Eigen-decomposition of a symmetric matrix.
pub struct SymmetricEigen {
    /// Eigenvalues, largest first.
    pub values: Vec<f64>,
    /// Unit eigenvectors as columns, in the order of `values`.
    pub vectors: Array2<f64>,
}

/// Eigenvalues and eigenvectors of a symmetric matrix (LAPACK `dsyevd`), largest first.
pub fn symmetric_eigen(matrix: Array2<f64>) -> Result<SymmetricEigen, MetricError> {
    let order = matrix.nrows();
    let (values, buffer) = dsyevd(matrix, b'V')?;
    // LAPACK writes the eigenvectors column by column: read the buffer in column-major order.
    let ascending = Array2::from_shape_vec((order, order).f(), buffer)
        .expect("dsyevd overwrites the order x order input with the eigenvectors");
    let vectors = ascending
        .slice(s![.., ..;-1])
        .as_standard_layout()
        .into_owned();
    Ok(SymmetricEigen {
        values: values.into_iter().rev().collect(),
        vectors,
    })
}

/// Eigenvalues of a symmetric matrix, largest first.
pub fn symmetric_eigenvalues(matrix: Array2<f64>) -> Result<Vec<f64>, MetricError> {
    let (values, _) = dsyevd(matrix, b'N')?;
    Ok(values.into_iter().rev().collect())
}

fn dsyevd(matrix: Array2<f64>, job: u8) -> Result<(Vec<f64>, Vec<f64>), MetricError> {
    let order = matrix.nrows();
    debug_assert_eq!(order, matrix.ncols());
    if order == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    // Symmetric, so row-major and column-major storage hold the same matrix.
    let mut buffer = matrix
        .as_standard_layout()
        .into_owned()
        .into_raw_vec_and_offset()
        .0;
    let order_c = lapack_dim(order, "dsyevd")?;
    let mut values = vec![0.0; order];
    let mut call = |work: &mut [f64], work_len: c_int, iwork: &mut [c_int], iwork_len: c_int| {
        let mut info: c_int = 0;
        // SAFETY: buffer is order x order and values has order entries. Either the lengths are -1
        // (a workspace query: LAPACK writes the optimal sizes into work[0] and iwork[0]) or the
        // workspaces have the lengths passed.
        unsafe {
            lapack_sys::dsyevd_(
                &(job as c_char),
                &(b'U' as c_char),
                &order_c,
                buffer.as_mut_ptr(),
                &order_c,
                values.as_mut_ptr(),
                work.as_mut_ptr(),
                &work_len,
                iwork.as_mut_ptr(),
                &iwork_len,
                &mut info,
            );
        }
        lapack_result("dsyevd", info)
    };
    let (mut work_size, mut iwork_size) = ([0.0f64], [0 as c_int]);
    call(&mut work_size, -1, &mut iwork_size, -1)?;
    let mut work = vec![0.0f64; optimal_length(work_size[0])];
    let mut iwork = vec![0 as c_int; usize::try_from(iwork_size[0]).unwrap_or(0).max(1)];
    let (work_len, iwork_len) = (
        lapack_dim(work.len(), "dsyevd")?,
        lapack_dim(iwork.len(), "dsyevd")?,
    );
    call(&mut work, work_len, &mut iwork, iwork_len)?;
    Ok((values, buffer))
}

fn lapack_result(routine: &'static str, info: c_int) -> Result<(), MetricError> {
    match info {
        0 => Ok(()),
        info => Err(MetricError::LinearAlgebra { routine, info }),
    }
}

/// A workspace size returned by a LAPACK query: an integer stored in a double.
fn optimal_length(size: f64) -> usize {
    (size as usize).max(1)
}

/// Singular values of `a`, largest first, from the eigenvalues of the smaller of AᵀA and AAᵀ
/// (DESIGN, Cost model), rounding noise set to zero first. About twice as fast as
/// [`singular_values`] at d = 768, but a singular value σ carries an absolute error of about
/// sqrt(ε)·σ_max: fine for canonical correlations (whitened, σ_max <= 1, the small ones are noise
/// either way), not for a sum of hundreds of small singular values.
pub fn singular_values_from_gram(a: &Array2<f64>) -> Result<Vec<f64>, MetricError> {
    let gram = if a.ncols() <= a.nrows() {
        gram_of_columns(a.view())?
    } else {
        gram_of_rows(a.view())?
    };
    let dim = gram.nrows();
    let mut values = symmetric_eigenvalues(gram)?;
    zero_rounding_noise(&mut values, dim);
    Ok(values.into_iter().map(f64::sqrt).collect())
}

/// Singular values of `a`, largest first, by LAPACK's values-only SVD (`dgesdd`, bidiagonal
/// reduction then dqds), accurate to about ε·σ_max each.
pub fn singular_values(a: &Array2<f64>) -> Result<Vec<f64>, MetricError> {
    let (rows, cols) = a.dim();
    let count = rows.min(cols);
    if count == 0 {
        return Ok(Vec::new());
    }
    // A row-major matrix read as column-major is its transpose, which has the same singular values.
    let mut buffer = a
        .as_standard_layout()
        .into_owned()
        .into_raw_vec_and_offset()
        .0;
    let (m, n) = (lapack_dim(cols, "dgesdd")?, lapack_dim(rows, "dgesdd")?);
    let mut values = vec![0.0; count];
    let mut iwork = vec![0 as c_int; 8 * count];
    let mut call = |work: &mut [f64], work_len: c_int| {
        let mut unused_vectors = [0.0f64];
        let mut info: c_int = 0;
        // SAFETY: buffer holds the m x n matrix (leading dimension m), values min(m, n) entries,
        // iwork 8·min(m, n). Either work_len is -1 (a workspace query: LAPACK writes the optimal
        // size into work[0]) or work has that length. With job 'N' the singular-vector arrays are
        // not referenced, and leading dimension 1 is valid for them.
        unsafe {
            lapack_sys::dgesdd_(
                &(b'N' as c_char),
                &m,
                &n,
                buffer.as_mut_ptr(),
                &m,
                values.as_mut_ptr(),
                unused_vectors.as_mut_ptr(),
                &1,
                unused_vectors.as_mut_ptr(),
                &1,
                work.as_mut_ptr(),
                &work_len,
                iwork.as_mut_ptr(),
                &mut info,
            );
        }
        lapack_result("dgesdd", info)
    };
    let mut work_size = [0.0f64];
    call(&mut work_size, -1)?;
    let mut work = vec![0.0f64; optimal_length(work_size[0])];
    let work_len = lapack_dim(work.len(), "dgesdd")?;
    call(&mut work, work_len)?;
    Ok(values)
}

/// Sets to zero the eigenvalues of a Gram-type matrix that rounding alone can produce (DESIGN,
/// Metric definitions and Cost model: at most `dim·ε·λ_max`, negatives included). Left in, each
/// would add about 1e-8 to a sum of square roots.
pub fn zero_rounding_noise(values: &mut [f64], dim: usize) {
    let largest = values.iter().copied().fold(0.0f64, f64::max);
    let threshold = dim as f64 * f64::EPSILON * largest;
    for value in values.iter_mut() {
        if *value <= threshold {
            *value = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    #[test]
    fn eigenpairs_come_largest_first_and_reconstruct_the_matrix() {
        let matrix = array![[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]];
        let eigen = symmetric_eigen(matrix.clone()).expect("dsyevd");
        assert!(eigen.values.windows(2).all(|pair| pair[0] >= pair[1]));
        let rebuilt = (&eigen.vectors * &Array2::from_shape_fn((1, 3), |(_, j)| eigen.values[j]))
            .dot(&eigen.vectors.t());
        assert!((rebuilt - &matrix).iter().all(|diff| diff.abs() < 1e-12));
        let values = symmetric_eigenvalues(matrix).expect("dsyevd");
        assert!(
            values
                .iter()
                .zip(&eigen.values)
                .all(|(a, b)| (a - b).abs() < 1e-12)
        );
    }

    #[test]
    fn singular_values_of_a_rank_one_matrix_have_exact_zeros() {
        let a = array![[1.0], [2.0], [3.0]].dot(&array![[1.0, -1.0, 0.5, 2.0]]);
        let values = singular_values_from_gram(&a).expect("singular values");
        assert_eq!(values.len(), 3);
        assert!((values[0] - 14f64.sqrt() * 6.25f64.sqrt()).abs() < 1e-12);
        assert_eq!(&values[1..], [0.0, 0.0]);
    }

    #[test]
    fn small_singular_values_keep_their_accuracy_in_the_values_only_svd() {
        // diag(1, 1e-9, 1e-12) in a rotated basis: the Gram route cannot see below sqrt(ε).
        let (c, s) = (0.6, 0.8);
        let rotation = array![[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]];
        let a = rotation
            .dot(&Array2::from_diag(&array![1.0, 1e-9, 1e-12]))
            .dot(&rotation.t());
        let values = singular_values(&a).expect("dgesdd");
        for (got, want) in values.iter().zip([1.0, 1e-9, 1e-12]) {
            assert!((got - want).abs() <= 1e-15, "{got} vs {want}");
        }
        let wide = array![[3.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0]];
        let values = singular_values(&wide).expect("dgesdd");
        assert_eq!(values.len(), 2);
        assert!((values[0] - 3.0).abs() < 1e-14 && (values[1] - 2.0).abs() < 1e-14);
    }

    #[test]
    fn gram_matrices_match_plain_products() {
        let a = array![[1.0, 2.0], [3.0, -1.0], [0.5, 4.0]];
        assert_eq!(gram_of_columns(a.view()).expect("dsyrk"), a.t().dot(&a));
        assert_eq!(gram_of_rows(a.view()).expect("dsyrk"), a.dot(&a.t()));
    }
}
