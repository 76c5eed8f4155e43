//! Representational similarity analysis (DESIGN, Metric definitions: `rsa`).
//!
//! Spearman's ρ between two RDMs is the Pearson correlation of their entries' average ranks, and
//! the ranks of one RDM depend on one representation only: they are computed once per
//! representation, and a pair costs one pass over the two rank vectors.

use ndarray::{Array2, ArrayView1, ArrayView2, Axis, s};

use super::MetricError;

/// Rows of the correlation product computed at a time: bounds the n x n temporary to a strip.
const STRIP_ROWS: usize = 256;

/// Largest n whose m = n(n-1)/2 dissimilarities keep centred doubled ranks (up to ±(m-1)) in i32.
pub(super) const MAX_EXAMPLES: usize = 65_536;

/// The average ranks of one representation's RDM entries (strict upper triangle, row-major),
/// stored doubled and centred, 2·rank - (m + 1): integers in [-(m-1), m-1].
pub(super) struct RdmRanks {
    centred_doubled: Vec<i32>,
    sum_of_squares: f64,
}

impl RdmRanks {
    /// DESIGN, Metric definitions (`rsa`): RDM[i,j] = 1 - Pearson correlation of rows i and j of
    /// the raw input, rebuilt as `normalised · centred_norm + column_means` (P(X) undone).
    /// `constant_row` was found on the exact input, where rounding cannot hide it.
    pub(super) fn compute(
        normalised: ArrayView2<f64>,
        centred_norm: f64,
        column_means: ArrayView1<f64>,
        constant_row: Option<usize>,
    ) -> Result<RdmRanks, MetricError> {
        let (n, d) = normalised.dim();
        if d < 3 {
            return Err(MetricError::RsaTooFewColumns { d });
        }
        if let Some(row) = constant_row {
            return Err(MetricError::RsaConstantRow { row });
        }
        if n > MAX_EXAMPLES {
            return Err(MetricError::RsaTooManyExamples {
                n,
                max: MAX_EXAMPLES,
            });
        }
        let standardised = standardise_rows(normalised, centred_norm, column_means);
        let dissimilarities = upper_triangle_dissimilarities(&standardised);
        let centred_doubled = centred_doubled_average_ranks(dissimilarities);
        let sum_of_squares = exact_dot(&centred_doubled, &centred_doubled);
        if sum_of_squares == 0.0 {
            return Err(MetricError::RsaConstantDissimilarities);
        }
        Ok(RdmRanks {
            centred_doubled,
            sum_of_squares,
        })
    }

    pub(super) fn memory_bytes(&self) -> usize {
        4 * self.centred_doubled.capacity()
    }
}

/// `rsa` (DESIGN, Metric definitions): 1 - Spearman ρ of the two RDMs' upper triangles.
pub(super) fn rsa(x: &RdmRanks, y: &RdmRanks) -> f64 {
    let covariance = exact_dot(&x.centred_doubled, &y.centred_doubled);
    1.0 - covariance / (x.sum_of_squares * y.sum_of_squares).sqrt()
}

/// The raw rows, each centred and scaled to unit norm so that a dot product of two rows is their
/// Pearson correlation. The caller has ruled out constant rows.
fn standardise_rows(
    normalised: ArrayView2<f64>,
    centred_norm: f64,
    column_means: ArrayView1<f64>,
) -> Array2<f64> {
    let mut rows = &normalised * centred_norm + column_means;
    for mut row in rows.axis_iter_mut(Axis(0)) {
        let mean = row.mean().unwrap_or(0.0);
        row -= mean;
        let norm = row.dot(&row).sqrt();
        row /= norm;
    }
    rows
}

/// 1 - ⟨rᵢ, rⱼ⟩ for i < j, each with its position in row-major order (ready to be sorted without
/// a second copy), strip by strip: each strip of rows is multiplied only by the rows from its own
/// first row on, which halves the products of a full n x n GEMM.
fn upper_triangle_dissimilarities(rows: &Array2<f64>) -> Vec<(f64, u32)> {
    let n = rows.nrows();
    let mut values = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    for strip_start in (0..n).step_by(STRIP_ROWS) {
        let strip_end = (strip_start + STRIP_ROWS).min(n);
        let correlations = rows
            .slice(s![strip_start..strip_end, ..])
            .dot(&rows.slice(s![strip_start.., ..]).t());
        for i in strip_start..strip_end {
            let local = i - strip_start;
            values.extend(
                correlations
                    .slice(s![local, local + 1..])
                    .iter()
                    .map(|correlation| 1.0 - correlation)
                    .zip(values.len() as u32..),
            );
        }
    }
    values
}

/// Average ranks (ties share the mean of their positions), as 2·rank - (m + 1) so that they stay
/// integers: a tie over sorted positions a..=b has 1-based average rank (a + b + 2) / 2.
fn centred_doubled_average_ranks(mut order: Vec<(f64, u32)>) -> Vec<i32> {
    let count = order.len();
    order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut ranks = vec![0i32; count];
    let mut start = 0;
    while start < count {
        let mut end = start;
        while end + 1 < count && order[end + 1].0 == order[start].0 {
            end += 1;
        }
        let rank = (start + end + 1) as i64 - count as i64;
        for &(_, index) in &order[start..=end] {
            ranks[index as usize] = rank as i32;
        }
        start = end + 1;
    }
    ranks
}

/// Σ aᵢbᵢ in exact integer arithmetic: m terms below m² each stay far below 2^127.
fn exact_dot(a: &[i32], b: &[i32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i128::from(i64::from(x) * i64::from(y)))
        .sum::<i128>() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tied_values_share_their_average_rank() {
        // Sorted: 1.0 (rank 1), 2.0 x3 (ranks 2-4, average 3), 5.0 (rank 5); m + 1 = 6.
        let values = [2.0, 5.0, 2.0, 1.0, 2.0];
        let ranks = centred_doubled_average_ranks(values.into_iter().zip(0..).collect());
        assert_eq!(ranks, [0, 4, 0, -4, 0]);
    }

    #[test]
    fn exact_dot_does_not_lose_the_small_terms() {
        let a = [i32::MAX, 1, -i32::MAX];
        let b = [i32::MAX, 1, i32::MAX];
        assert_eq!(exact_dot(&a, &b), 1.0);
    }
}
