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
        let mut nearest = vec![Nearest::default(); n];
        // Similarity is symmetric: each strip of rows is multiplied only by the rows from its own
        // first row on, and a similarity outside the strip serves both rows, which halves the
        // products of a full n x n GEMM.
        for strip_start in (0..n).step_by(STRIP_ROWS) {
            let strip_end = (strip_start + STRIP_ROWS).min(n);
            let similarities = unit_rows
                .slice(s![strip_start..strip_end, ..])
                .dot(&unit_rows.slice(s![strip_start.., ..]).t());
            for (local, row) in similarities.axis_iter(Axis(0)).enumerate() {
                let i = strip_start + local;
                for (offset, &similarity) in row.iter().enumerate() {
                    let j = strip_start + offset;
                    if j == i {
                        continue;
                    }
                    nearest[i].offer(similarity, j as u32);
                    if j >= strip_end {
                        nearest[j].offer(similarity, i as u32);
                    }
                }
            }
        }
        let mut indices = Vec::with_capacity(n * NEIGHBOURS);
        for list in nearest {
            let mut row: Vec<u32> = list.kept().iter().map(|&(_, index)| index).collect();
            row.sort_unstable();
            indices.extend(row);
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

/// The best k candidates offered so far, best first: higher similarity, then lower index.
#[derive(Clone, Default)]
struct Nearest {
    kept: [(f64, u32); NEIGHBOURS],
    len: usize,
}

impl Nearest {
    fn offer(&mut self, similarity: f64, index: u32) {
        let beats = |&(kept, kept_index): &(f64, u32)| {
            similarity > kept || (similarity == kept && index < kept_index)
        };
        if self.len == NEIGHBOURS && !beats(&self.kept[NEIGHBOURS - 1]) {
            return;
        }
        let position = self.kept[..self.len]
            .iter()
            .position(beats)
            .unwrap_or(self.len);
        let last = self.len.min(NEIGHBOURS - 1);
        self.kept.copy_within(position..last, position + 1);
        self.kept[position] = (similarity, index);
        self.len = (self.len + 1).min(NEIGHBOURS);
    }

    fn kept(&self) -> &[(f64, u32)] {
        &self.kept[..self.len]
    }
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
    fn equal_similarities_go_to_the_lower_index_whatever_the_order_of_offers() {
        // Eleven candidates tie at 0.9 for ten places: the highest index among them, 12, loses.
        let similarities = [
            0.9, 0.9, 0.2, 0.9, 0.9, 0.1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.3,
        ];
        let mut nearest = Nearest::default();
        for index in [13, 12, 0, 11, 2, 10, 3, 9, 5, 8, 4, 7, 6, 1] {
            nearest.offer(similarities[index], index as u32);
        }
        let kept: Vec<u32> = nearest.kept().iter().map(|&(_, index)| index).collect();
        assert_eq!(kept, [0, 1, 3, 4, 6, 7, 8, 9, 10, 11]);
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
