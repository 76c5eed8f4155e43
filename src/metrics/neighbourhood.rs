//! The neighbourhood measures of docs/MEASURES.md (Measures: `jaccard_knn`, `rank_similarity`,
//! `second_order_cosine`, `cknna`), on neighbour lists prepared once per representation.
//!
//! The lists (docs/MEASURES.md, Conventions: kNN lists) depend on one representation only and on
//! the largest k any measure asks for: a list for a smaller k is the first k entries of the longer
//! one, because the order (similarity, then index) is total. A pair then costs O(n·k) for the
//! overlap measures, O(n·k·d) for second_order_cosine and O(n·k·log k) for cknna.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use ndarray::{Array2, ArrayView1, ArrayView2, Axis, s};

use super::MetricError;

/// Rows of the similarity product computed at a time: bounds the n x n temporary to a strip.
const STRIP_ROWS: usize = 256;

/// The cknna normaliser's guard against a zero denominator (docs/MEASURES.md, Measures: `cknna`).
const CKNNA_EPSILON: f64 = 1e-6;

/// Every row's k most cosine-similar other rows on raw rows, nearest first, ties to the lower
/// index, with the unit rows kept for the similarities second_order_cosine needs outside them.
///
/// Memory at n = 10 000, d = 768, k = 10: 61.4 MB held (unit rows 61.4 MB, lists 1.2 MB), about
/// 83 MB while preparing (the 256-row strip of similarities adds 20.5 MB).
pub struct Neighbourhoods {
    k: usize,
    unit_rows: Array2<f64>,
    /// n x k, row-major: row i's neighbours, nearest first.
    indices: Vec<u32>,
    /// cos(xᵢ, xⱼ) for each entry of `indices`.
    similarities: Vec<f64>,
}

impl Neighbourhoods {
    /// The lists at `k` neighbours of the n x d representation `x` (rows = examples). Refuses
    /// k = 0, k > n - 1, an all-zero row and non-finite values.
    pub fn new(x: ArrayView2<f64>, k: usize) -> Result<Neighbourhoods, MetricError> {
        Neighbourhoods::build(x, k, None)
    }

    /// Like [`Neighbourhoods::new`] on rows rebuilt from a prepared copy, which may differ from
    /// the input in the last bits: `equal_unit_rows` ([`first_equal_unit_rows`] of the exact
    /// input) says which rows tie, so rounding in the rebuild cannot split them.
    pub(super) fn with_equal_rows(
        x: ArrayView2<f64>,
        k: usize,
        equal_unit_rows: &[u32],
    ) -> Result<Neighbourhoods, MetricError> {
        Neighbourhoods::build(x, k, Some(equal_unit_rows))
    }

    fn build(
        x: ArrayView2<f64>,
        k: usize,
        equal_unit_rows: Option<&[u32]>,
    ) -> Result<Neighbourhoods, MetricError> {
        let (n, d) = x.dim();
        if n == 0 || d == 0 {
            return Err(MetricError::Empty { n, d });
        }
        if k == 0 {
            return Err(MetricError::ParameterOutOfRange {
                parameter: "k",
                value: 0.0,
                valid: "a positive integer",
            });
        }
        if k > n - 1 {
            return Err(MetricError::TooFewRowsForNeighbours { n, k });
        }
        check_finite(x)?;
        let mut unit_rows = x.as_standard_layout().into_owned();
        for (row, mut values) in unit_rows.axis_iter_mut(Axis(0)).enumerate() {
            let norm = values.dot(&values).sqrt();
            if norm == 0.0 {
                return Err(MetricError::ZeroRow { row });
            }
            values /= norm;
        }
        // Rows that are equal after normalisation tie exactly in exact arithmetic, but a GEMM
        // may round their two columns differently: each column reads its first equal row's value,
        // so that the lower-index rule, not rounding, decides between them.
        let representative = match equal_unit_rows {
            Some(equal) => equal.to_vec(),
            None => first_equal_rows(unit_rows.view()),
        };
        let mut indices = Vec::with_capacity(n * k);
        let mut similarities = Vec::with_capacity(n * k);
        let mut candidates: Vec<(f64, u32)> = Vec::with_capacity(n - 1);
        for strip_start in (0..n).step_by(STRIP_ROWS) {
            let strip_end = (strip_start + STRIP_ROWS).min(n);
            let strip = unit_rows
                .slice(s![strip_start..strip_end, ..])
                .dot(&unit_rows.t());
            for (local, row) in strip.axis_iter(Axis(0)).enumerate() {
                let i = strip_start + local;
                candidates.clear();
                candidates.extend(
                    (0..n)
                        .filter(|&j| j != i)
                        .map(|j| (row[representative[j] as usize], j as u32)),
                );
                nearest_first(&mut candidates, k);
                for &(similarity, j) in &candidates[..k] {
                    indices.push(j);
                    similarities.push(similarity);
                }
            }
        }
        Ok(Neighbourhoods {
            k,
            unit_rows,
            indices,
            similarities,
        })
    }

    /// Peak bytes [`Neighbourhoods::new`] allocates for an n x d representation at k neighbours:
    /// the unit rows, the lists, one strip of similarities, the candidates of one row and the
    /// map of equal rows.
    pub fn memory_bytes(n: usize, d: usize, k: usize) -> usize {
        let unit_rows = 8 * n * d;
        let lists = 12 * n * k;
        let strip = 8 * STRIP_ROWS.min(n) * n;
        let candidates = 16 * n;
        let equal_rows = 48 * n;
        unit_rows + lists + strip + candidates + equal_rows
    }

    /// Bytes held once prepared (for a byte-bounded cache).
    pub fn held_bytes(&self) -> usize {
        8 * self.unit_rows.len() + 4 * self.indices.capacity() + 8 * self.similarities.capacity()
    }

    pub fn n_rows(&self) -> usize {
        self.unit_rows.nrows()
    }

    /// The largest k these lists serve.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Row i's first k neighbours, nearest first.
    pub fn neighbours(&self, row: usize, k: usize) -> &[u32] {
        &self.indices[row * self.k..row * self.k + k]
    }

    fn similarities(&self, row: usize, k: usize) -> &[f64] {
        &self.similarities[row * self.k..row * self.k + k]
    }

    fn cosine(&self, i: usize, j: usize) -> f64 {
        self.unit_rows.row(i).dot(&self.unit_rows.row(j))
    }

    /// Row i's first k neighbours as (index, rank 1..=k, similarity), sorted by index.
    fn by_index(&self, row: usize, k: usize, into: &mut Vec<Entry>) {
        into.clear();
        into.extend(
            self.neighbours(row, k)
                .iter()
                .zip(self.similarities(row, k))
                .enumerate()
                .map(|(position, (&j, &similarity))| (j, position + 1, similarity)),
        );
        into.sort_unstable_by_key(|&(j, _, _)| j);
    }
}

/// Moves the k best candidates, higher similarity first and then lower index, to the front in
/// that order: a linear-time selection, then a sort of the k alone.
fn nearest_first(candidates: &mut [(f64, u32)], k: usize) {
    let order = |a: &(f64, u32), b: &(f64, u32)| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(Ordering::Equal)
            .then(a.1.cmp(&b.1))
    };
    if k < candidates.len() {
        candidates.select_nth_unstable_by(k - 1, order);
    }
    candidates[..k].sort_unstable_by(order);
}

/// For every row of `x`, the index of the first row equal to it once both are scaled to unit
/// norm (itself when none is earlier, or when it is all zero), as [`first_equal_rows`] of the
/// unit rows would say, without holding them: `norms` are each row's `dot(row, row).sqrt()`.
pub(super) fn first_equal_unit_rows(x: ArrayView2<f64>, norms: ArrayView1<f64>) -> Vec<u32> {
    let unit = |i: usize| x.row(i).mapv(|value| value / norms[i] + 0.0);
    let mut first_by_hash: HashMap<u64, Vec<u32>> = HashMap::with_capacity(x.nrows());
    let mut representative = Vec::with_capacity(x.nrows());
    for i in 0..x.nrows() {
        if norms[i] == 0.0 {
            representative.push(i as u32);
            continue;
        }
        let row = unit(i);
        let mut hasher = DefaultHasher::new();
        row.iter()
            .for_each(|value| value.to_bits().hash(&mut hasher));
        let earlier = first_by_hash.entry(hasher.finish()).or_default();
        match earlier.iter().copied().find(|&j| unit(j as usize) == row) {
            Some(j) => representative.push(j),
            None => {
                earlier.push(i as u32);
                representative.push(i as u32);
            }
        }
    }
    representative
}

/// For every row, the index of the first row equal to it (itself when none is earlier).
pub(super) fn first_equal_rows(rows: ArrayView2<f64>) -> Vec<u32> {
    let mut first_by_hash: HashMap<u64, Vec<u32>> = HashMap::with_capacity(rows.nrows());
    let mut representative = Vec::with_capacity(rows.nrows());
    for (i, row) in rows.axis_iter(Axis(0)).enumerate() {
        let mut hasher = DefaultHasher::new();
        // Adding 0.0 turns -0.0 into 0.0, which compares equal to it.
        row.iter()
            .for_each(|value| (value + 0.0).to_bits().hash(&mut hasher));
        let earlier = first_by_hash.entry(hasher.finish()).or_default();
        let equal = earlier
            .iter()
            .copied()
            .find(|&j| rows.row(j as usize) == row);
        match equal {
            Some(j) => representative.push(j),
            None => {
                earlier.push(i as u32);
                representative.push(i as u32);
            }
        }
    }
    representative
}

pub(super) fn check_finite(x: ArrayView2<f64>) -> Result<(), MetricError> {
    for ((row, column), value) in x.indexed_iter() {
        if !value.is_finite() {
            return Err(MetricError::NonFinite { row, column });
        }
    }
    Ok(())
}

fn check_pair(x: &Neighbourhoods, y: &Neighbourhoods, k: usize) -> Result<(), MetricError> {
    if x.n_rows() != y.n_rows() {
        return Err(MetricError::RowCountMismatch {
            x_rows: x.n_rows(),
            y_rows: y.n_rows(),
        });
    }
    if k == 0 {
        return Err(MetricError::ParameterOutOfRange {
            parameter: "k",
            value: 0.0,
            valid: "a positive integer",
        });
    }
    let n = x.n_rows();
    if k > n - 1 {
        return Err(MetricError::TooFewRowsForNeighbours { n, k });
    }
    let prepared = x.k.min(y.k);
    if k > prepared {
        return Err(MetricError::NeighboursNotPrepared { prepared, asked: k });
    }
    Ok(())
}

/// Calls `shared` for every neighbour of row i in both lists with (rank in X, rank in Y), and
/// returns how many there were. Both lists sorted by index.
fn merge_shared(x: &[Entry], y: &[Entry], mut shared: impl FnMut(usize, usize)) -> usize {
    let (mut a, mut b, mut count) = (0, 0, 0);
    while a < x.len() && b < y.len() {
        match x[a].0.cmp(&y[b].0) {
            Ordering::Less => a += 1,
            Ordering::Greater => b += 1,
            Ordering::Equal => {
                shared(x[a].1, y[b].1);
                count += 1;
                a += 1;
                b += 1;
            }
        }
    }
    count
}

/// One entry of a row's list sorted by index: (neighbour, rank 1..=k, similarity).
type Entry = (u32, usize, f64);

/// 1 - the mean over rows i of `similarity(i, X's list, Y's list)`, both lists of row i at k
/// neighbours sorted by index: the frame of every list measure below.
fn one_minus_mean_over_rows(
    x: &Neighbourhoods,
    y: &Neighbourhoods,
    k: usize,
    mut similarity: impl FnMut(usize, &[Entry], &[Entry]) -> Result<f64, MetricError>,
) -> Result<f64, MetricError> {
    check_pair(x, y, k)?;
    let n = x.n_rows();
    let (mut row_x, mut row_y) = (Vec::with_capacity(k), Vec::with_capacity(k));
    let mut total = 0.0;
    for i in 0..n {
        x.by_index(i, k, &mut row_x);
        y.by_index(i, k, &mut row_y);
        total += similarity(i, &row_x, &row_y)?;
    }
    Ok(1.0 - total / n as f64)
}

/// `jaccard_knn` (docs/MEASURES.md, Measures): 1 - (1/n)Σᵢ |Nˣ(i) ∩ Nʸ(i)| / |Nˣ(i) ∪ Nʸ(i)|.
pub fn jaccard_knn(x: &Neighbourhoods, y: &Neighbourhoods, k: usize) -> Result<f64, MetricError> {
    one_minus_mean_over_rows(x, y, k, |_, row_x, row_y| {
        let shared = merge_shared(row_x, row_y, |_, _| ());
        Ok(shared as f64 / (2 * k - shared) as f64)
    })
}

/// Bytes [`jaccard_knn`] allocates beyond its inputs.
pub fn jaccard_knn_memory_bytes(k: usize) -> usize {
    2 * 24 * k
}

/// `rank_similarity` (docs/MEASURES.md, Measures): sᵢ = Σ_{j ∈ Jᵢ} 2/((1 + |r_X(j) - r_Y(j)|)
/// (r_X(j) + r_Y(j))) / H_{|Jᵢ|} over the shared neighbours Jᵢ, 0 when there are none; 1 - mean sᵢ.
pub fn rank_similarity(
    x: &Neighbourhoods,
    y: &Neighbourhoods,
    k: usize,
) -> Result<f64, MetricError> {
    let harmonic: Vec<f64> = std::iter::once(0.0)
        .chain((1..=k).scan(0.0, |sum, m| {
            *sum += 1.0 / m as f64;
            Some(*sum)
        }))
        .collect();
    one_minus_mean_over_rows(x, y, k, |_, row_x, row_y| {
        let mut sum = 0.0;
        let shared = merge_shared(row_x, row_y, |rank_x, rank_y| {
            sum += 2.0 / ((1 + rank_x.abs_diff(rank_y)) * (rank_x + rank_y)) as f64;
        });
        Ok(if shared > 0 {
            sum / harmonic[shared]
        } else {
            0.0
        })
    })
}

/// Bytes [`rank_similarity`] allocates beyond its inputs.
pub fn rank_similarity_memory_bytes(k: usize) -> usize {
    2 * 24 * k + 8 * (k + 1)
}

/// `second_order_cosine` (docs/MEASURES.md, Measures): over Uᵢ = Nˣ(i) ∪ Nʸ(i), the cosine of
/// the cosine-distance profiles aᵢ = (1 - cos(xᵢ, xⱼ)) and bᵢ = (1 - cos(yᵢ, yⱼ)), each clipped to
/// [0, 2]; 1 - the mean over rows. Refuses a row whose profile is zero on either side.
pub fn second_order_cosine(
    x: &Neighbourhoods,
    y: &Neighbourhoods,
    k: usize,
) -> Result<f64, MetricError> {
    let distance = |similarity: f64| (1.0 - similarity).clamp(0.0, 2.0);
    one_minus_mean_over_rows(x, y, k, |i, row_x, row_y| {
        let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
        let mut add = |similarity_x: f64, similarity_y: f64| {
            let (a, b) = (distance(similarity_x), distance(similarity_y));
            ab += a * b;
            aa += a * a;
            bb += b * b;
        };
        let (mut p, mut q) = (0, 0);
        while p < row_x.len() || q < row_y.len() {
            let from_x = row_x.get(p).map(|entry| entry.0);
            let from_y = row_y.get(q).map(|entry| entry.0);
            match (from_x, from_y) {
                (Some(a), Some(b)) if a == b => {
                    add(row_x[p].2, row_y[q].2);
                    p += 1;
                    q += 1;
                }
                (Some(a), Some(b)) if a < b => {
                    add(row_x[p].2, y.cosine(i, a as usize));
                    p += 1;
                }
                (Some(a), None) => {
                    add(row_x[p].2, y.cosine(i, a as usize));
                    p += 1;
                }
                (_, Some(b)) => {
                    add(x.cosine(i, b as usize), row_y[q].2);
                    q += 1;
                }
                (None, None) => break,
            }
        }
        if aa == 0.0 {
            return Err(MetricError::ZeroDissimilarityProfile {
                row: i,
                side: "first",
            });
        }
        if bb == 0.0 {
            return Err(MetricError::ZeroDissimilarityProfile {
                row: i,
                side: "second",
            });
        }
        Ok(ab / (aa.sqrt() * bb.sqrt()))
    })
}

/// Bytes [`second_order_cosine`] allocates beyond its inputs.
pub fn second_order_cosine_memory_bytes(k: usize) -> usize {
    2 * 24 * k
}

/// An n x n matrix with at most k entries a row, rows sorted by column.
struct SparseRows {
    offsets: Vec<usize>,
    columns: Vec<u32>,
    values: Vec<f64>,
}

impl SparseRows {
    fn row(&self, i: usize) -> (&[u32], &[f64]) {
        let range = self.offsets[i]..self.offsets[i + 1];
        (&self.columns[range.clone()], &self.values[range])
    }

    fn get(&self, i: usize, j: u32) -> f64 {
        let (columns, values) = self.row(i);
        columns
            .binary_search(&j)
            .map_or(0.0, |position| values[position])
    }

    fn row_sums(&self) -> Vec<f64> {
        (0..self.offsets.len() - 1)
            .map(|i| self.row(i).1.iter().sum())
            .collect()
    }
}

impl SparseRows {
    fn with_capacity(n: usize, k: usize) -> SparseRows {
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        SparseRows {
            offsets,
            columns: Vec::with_capacity(n * k),
            values: Vec::with_capacity(n * k),
        }
    }

    fn push(&mut self, column: u32, value: f64) {
        self.columns.push(column);
        self.values.push(value);
    }

    fn end_row(&mut self) {
        self.offsets.push(self.columns.len());
    }
}

/// Mᴷ∘K of cknna: the kernel of the unit rows kept at each row's own k neighbours.
fn own_masked_kernel(z: &Neighbourhoods, k: usize) -> SparseRows {
    let n = z.n_rows();
    let mut kernel = SparseRows::with_capacity(n, k);
    let mut row = Vec::with_capacity(k);
    for i in 0..n {
        z.by_index(i, k, &mut row);
        for &(j, _, similarity) in &row {
            kernel.push(j, similarity);
        }
        kernel.end_row();
    }
    kernel
}

/// M∘K and M∘L of cknna: both kernels kept where j is among i's k neighbours in X and in Y.
fn mutually_masked_kernels(
    x: &Neighbourhoods,
    y: &Neighbourhoods,
    k: usize,
) -> (SparseRows, SparseRows) {
    let n = x.n_rows();
    let (mut kernel_x, mut kernel_y) = (
        SparseRows::with_capacity(n, k),
        SparseRows::with_capacity(n, k),
    );
    let (mut row_x, mut row_y) = (Vec::with_capacity(k), Vec::with_capacity(k));
    for i in 0..n {
        x.by_index(i, k, &mut row_x);
        y.by_index(i, k, &mut row_y);
        let (mut p, mut q) = (0, 0);
        while p < row_x.len() && q < row_y.len() {
            match row_x[p].0.cmp(&row_y[q].0) {
                Ordering::Less => p += 1,
                Ordering::Greater => q += 1,
                Ordering::Equal => {
                    kernel_x.push(row_x[p].0, row_x[p].2);
                    kernel_y.push(row_y[q].0, row_y[q].2);
                    p += 1;
                    q += 1;
                }
            }
        }
        kernel_x.end_row();
        kernel_y.end_row();
    }
    (kernel_x, kernel_y)
}

/// HSIC_u(A, B) of docs/MEASURES.md (Measures: `cknna`) for sparse A, B with zero diagonals:
/// [tr(ÃB̃) + (1ᵀÃ1)(1ᵀB̃1)/((n-1)(n-2)) - (2/(n-2))·1ᵀÃB̃1] / (n(n-3)).
fn unbiased_hsic(a: &SparseRows, b: &SparseRows, n: usize) -> f64 {
    let b_row_sums = b.row_sums();
    let (mut trace, mut sum_a, mut a_times_b_row_sums) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (columns, values) = a.row(i);
        for (&j, &value) in columns.iter().zip(values) {
            trace += value * b.get(j as usize, i as u32);
            sum_a += value;
            a_times_b_row_sums += value * b_row_sums[j as usize];
        }
    }
    let sum_b: f64 = b_row_sums.iter().sum();
    let n = n as f64;
    (trace + sum_a * sum_b / ((n - 1.0) * (n - 2.0)) - 2.0 / (n - 2.0) * a_times_b_row_sums)
        / (n * (n - 3.0))
}

/// `cknna` (docs/MEASURES.md, Measures): the unbiased HSIC of the kernels K = XXᵀ, L = YYᵀ of
/// the unit rows, masked to the pairs (i, j) where j is a neighbour of i in both, normalised by
/// the self-HSICs of the kernels masked to each side's own neighbours; 1 - CKNNA. Not symmetric:
/// X is the first argument. Refuses n < 4 and a negative self-HSIC.
pub fn cknna(x: &Neighbourhoods, y: &Neighbourhoods, k: usize) -> Result<f64, MetricError> {
    check_pair(x, y, k)?;
    let n = x.n_rows();
    if n < 4 {
        return Err(MetricError::CknnaTooFewExamples { n });
    }
    let self_hsic = |z: &Neighbourhoods, side: &'static str| {
        let kernel = own_masked_kernel(z, k);
        let value = unbiased_hsic(&kernel, &kernel, n);
        if value < 0.0 {
            Err(MetricError::CknnaNegativeSelfHsic { side, value })
        } else {
            Ok(value)
        }
    };
    let hsic_xx = self_hsic(x, "first")?;
    let hsic_yy = self_hsic(y, "second")?;
    let (masked_x, masked_y) = mutually_masked_kernels(x, y, k);
    let hsic_xy = unbiased_hsic(&masked_x, &masked_y, n);
    Ok(1.0 - hsic_xy / ((hsic_xx * hsic_yy).sqrt() + CKNNA_EPSILON))
}

/// Bytes [`cknna`] allocates beyond its inputs: two masked kernels of n·k entries and their row
/// sums at a time. At n = 10 000, k = 10: 2.6 MB.
pub fn cknna_memory_bytes(n: usize, k: usize) -> usize {
    2 * (12 * n * k + 8 * (n + 1)) + 8 * n + 2 * 24 * k
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    #[test]
    fn equal_similarities_go_to_the_lower_index() {
        let mut candidates = vec![(0.5, 7), (0.9, 4), (0.5, 2), (0.9, 3), (0.1, 0), (0.5, 5)];
        nearest_first(&mut candidates, 4);
        assert_eq!(
            candidates[..4].iter().map(|c| c.1).collect::<Vec<_>>(),
            [3, 4, 2, 5]
        );
    }

    #[test]
    fn a_scaled_copy_of_a_row_is_found_equal_after_normalisation() {
        let rows = array![[1.0, 2.0], [3.0, 1.0], [2.0, 4.0], [-0.0, 1.0], [0.0, 1.0]];
        let neighbourhoods = Neighbourhoods::new(rows.view(), 1).expect("valid rows");
        assert_eq!(
            first_equal_rows(neighbourhoods.unit_rows.view()),
            [0, 1, 0, 3, 3]
        );
        assert_eq!(neighbourhoods.neighbours(0, 1), [2]);
        assert_eq!(neighbourhoods.neighbours(2, 1), [0]);
    }
}
