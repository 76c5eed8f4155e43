//! Mutual k-nearest-neighbour overlap (DESIGN, Metric definitions: `mutual_knn`).
//!
//! The neighbour lists of a representation depend on it alone: they are computed once per
//! representation, and a pair costs n intersections of two k-element lists.

use ndarray::{Array2, ArrayView2, Axis, s};

use super::MetricError;

/// Neighbours per row (DESIGN: k = 10).
pub const NEIGHBOURS: usize = 10;

/// Rows of the similarity product computed at a time: bounds the n x n temporary to a strip.
const STRIP_ROWS: usize = 256;

/// For every row, the indices of its k most cosine-similar other rows, sorted by index.
pub(super) struct Neighbours {
    indices: Vec<u32>,
}

impl Neighbours {
    /// DESIGN, Metric definitions (`mutual_knn`): N(i) = the k rows most cosine-similar to row i
    /// after column centering, i excluded, ties to the lower index. `centred` is P(X), whose rows
    /// are the column-centred rows up to one common scale. A row equal to the column means has
    /// no direction: its similarity to every row is taken as 0.
    pub(super) fn compute(centred: ArrayView2<f64>) -> Result<Neighbours, MetricError> {
        let n = centred.nrows();
        if n <= NEIGHBOURS {
            return Err(MetricError::TooFewExamplesForNeighbours { n, k: NEIGHBOURS });
        }
        let unit_rows = normalise_rows(centred);
        let mut indices = Vec::with_capacity(n * NEIGHBOURS);
        for strip_start in (0..n).step_by(STRIP_ROWS) {
            let strip_end = (strip_start + STRIP_ROWS).min(n);
            let similarities = unit_rows
                .slice(s![strip_start..strip_end, ..])
                .dot(&unit_rows.t());
            for (local, row) in similarities.axis_iter(Axis(0)).enumerate() {
                let mut nearest = top_k(row.iter(), strip_start + local);
                nearest.sort_unstable();
                indices.extend(nearest);
            }
        }
        Ok(Neighbours { indices })
    }

    pub(super) fn memory_bytes(&self) -> usize {
        4 * self.indices.capacity()
    }

    fn of_row(&self, row: usize) -> &[u32] {
        &self.indices[row * NEIGHBOURS..(row + 1) * NEIGHBOURS]
    }
}

fn normalise_rows(rows: ArrayView2<f64>) -> Array2<f64> {
    let mut unit = rows.to_owned();
    for mut row in unit.axis_iter_mut(Axis(0)) {
        let norm = row.dot(&row).sqrt();
        if norm > 0.0 {
            row /= norm;
        }
    }
    unit
}

/// The k indices with the largest similarity, `own` excluded; on equal similarity the lower index
/// wins. Scanning in index order, a candidate enters only when strictly better than the current
/// k-th, because every index already kept is lower.
fn top_k<'a>(similarities: impl Iterator<Item = &'a f64>, own: usize) -> Vec<u32> {
    let mut best: Vec<(f64, u32)> = Vec::with_capacity(NEIGHBOURS + 1);
    for (index, &similarity) in similarities.enumerate() {
        if index == own {
            continue;
        }
        if best.len() == NEIGHBOURS && similarity <= best[NEIGHBOURS - 1].0 {
            continue;
        }
        let position = best.partition_point(|&(kept, _)| kept >= similarity);
        best.insert(position, (similarity, index as u32));
        best.truncate(NEIGHBOURS);
    }
    best.into_iter().map(|(_, index)| index).collect()
}

/// `mutual_knn` (DESIGN, Metric definitions): 1 - Σᵢ |N_X(i) ∩ N_Y(i)| / (n·k).
pub(super) fn mutual_knn(x: &Neighbours, y: &Neighbours) -> f64 {
    let n = x.indices.len() / NEIGHBOURS;
    let shared: usize = (0..n)
        .map(|row| sorted_intersection_size(x.of_row(row), y.of_row(row)))
        .sum();
    1.0 - shared as f64 / (n * NEIGHBOURS) as f64
}

fn sorted_intersection_size(a: &[u32], b: &[u32]) -> usize {
    let (mut i, mut j, mut shared) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    shared
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_similarities_go_to_the_lower_index_and_the_row_itself_is_skipped() {
        let similarities = [
            0.5, 0.9, 0.2, 0.9, 0.9, 0.1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.3,
        ];
        let mut nearest = top_k(similarities.iter(), 1);
        nearest.sort_unstable();
        assert_eq!(nearest, [0, 3, 4, 6, 7, 8, 9, 10, 11, 12]);
    }

    #[test]
    fn duplicate_rows_are_each_others_nearest_neighbours() {
        let mut rows = Array2::from_shape_fn((12, 3), |(i, j)| ((i * 7 + j * 3) % 11) as f64);
        let copy = rows.row(2).to_owned();
        rows.row_mut(9).assign(&copy);
        let neighbours = Neighbours::compute(rows.view()).expect("12 > k rows");
        assert!(neighbours.of_row(2).contains(&9));
        assert!(neighbours.of_row(9).contains(&2));
        assert_eq!(mutual_knn(&neighbours, &neighbours), 0.0);
    }
}
