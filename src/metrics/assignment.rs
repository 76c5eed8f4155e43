//! Rectangular linear assignment on real weights (README, Measures: `hard_corr_match`,
//! `permutation_procrustes`).
//!
//! Written here rather than taken from a crate: `pathfinding`'s Kuhn–Munkres needs `Ord` weights
//! (integers; floats would have to be scaled and rounded, which changes the optimum), and `lsap`
//! (a port of SciPy's solver) has seen no release since 2023 and copies the weights into its own
//! row-major vector. This is the same shortest-augmenting-path method (Jonker–Volgenant with
//! Crouse's rectangular extension, as SciPy's `linear_sum_assignment`): exact on floats in the
//! sense that it compares only sums of the given weights, O(r²c) for r rows and c >= r columns,
//! tested against brute force below.

use ndarray::ArrayView2;

/// The largest Σ weights[i, π(i)] over one-to-one maps π of the smaller side into the larger
/// (every row assigned when rows <= columns, every column otherwise).
pub(super) fn max_weight_matching(weights: ArrayView2<f64>) -> f64 {
    if weights.nrows() > weights.ncols() {
        return max_weight_matching(weights.t());
    }
    let (rows, cols) = weights.dim();
    if rows == 0 {
        return 0.0;
    }
    // Minimise the negated weights, copied row-major once: the searches below read whole rows.
    let cost: Vec<f64> = weights.iter().map(|weight| -weight).collect();
    let mut solver = Solver::new(rows, cols);
    // The column reduction pays only when it assigns most rows. On bench-metrics' pair at
    // d = 768 it assigns 369 rows of hard_corr_match's correlations, and the searches took
    // 0.026–0.037 s instead of 0.041–0.054 s; of permutation_procrustes's raw cross product, whose
    // column minima crowd into the few rows of the largest column means, it assigns 158, and the
    // searches then took 0.080–0.096 s instead of 0.055–0.072 s from zero potentials.
    if rows == cols && 2 * solver.reduce_columns(&cost) < rows {
        solver = Solver::new(rows, cols);
    }
    for start in 0..rows {
        if solver.column_of_row[start] == UNASSIGNED {
            solver.augment(&cost, start);
        }
    }
    solver
        .column_of_row
        .iter()
        .enumerate()
        .map(|(row, &col)| weights[[row, col]])
        .sum()
}

const UNASSIGNED: usize = usize::MAX;

/// A partial assignment and dual potentials `u` (rows) and `v` (columns) with every reduced cost
/// c_ij - u_i - v_j >= 0 and equal to 0 on assigned pairs, which each augmentation keeps.
struct Solver {
    rows: usize,
    cols: usize,
    u: Vec<f64>,
    v: Vec<f64>,
    column_of_row: Vec<usize>,
    row_of_column: Vec<usize>,
    shortest: Vec<f64>,
    predecessor: Vec<usize>,
    scanned_rows: Vec<bool>,
    scanned_columns: Vec<bool>,
    remaining: Vec<usize>,
}

impl Solver {
    fn new(rows: usize, cols: usize) -> Solver {
        Solver {
            rows,
            cols,
            u: vec![0.0; rows],
            v: vec![0.0; cols],
            column_of_row: vec![UNASSIGNED; rows],
            row_of_column: vec![UNASSIGNED; cols],
            shortest: vec![f64::INFINITY; cols],
            predecessor: vec![UNASSIGNED; cols],
            scanned_rows: vec![false; rows],
            scanned_columns: vec![false; cols],
            remaining: Vec::with_capacity(cols),
        }
    }

    /// Jonker and Volgenant's column reduction: v_j = min_i c_ij, and each column whose minimum
    /// lies in a still unassigned row takes that row. Feasible with u = 0, and on matrices with
    /// a clear best partner per column (related representations) it assigns most rows before
    /// any search. Square problems only: with more columns than rows an unassigned column must
    /// keep v_j <= 0, which the column minima do not respect. Returns the rows it assigned.
    fn reduce_columns(&mut self, cost: &[f64]) -> usize {
        let mut assigned = 0;
        for col in (0..self.cols).rev() {
            let mut best_row = 0;
            let mut best = f64::INFINITY;
            for row in 0..self.rows {
                let value = cost[row * self.cols + col];
                if value < best {
                    best = value;
                    best_row = row;
                }
            }
            self.v[col] = best;
            if self.column_of_row[best_row] == UNASSIGNED {
                self.column_of_row[best_row] = col;
                self.row_of_column[col] = best_row;
                assigned += 1;
            }
        }
        assigned
    }

    /// One shortest augmenting path from the unassigned row `start` (Crouse's form of the
    /// Jonker–Volgenant search, as SciPy's `linear_sum_assignment`), then the dual update and the
    /// flip of the path.
    fn augment(&mut self, cost: &[f64], start: usize) {
        let cols = self.cols;
        self.shortest.fill(f64::INFINITY);
        self.scanned_rows.fill(false);
        self.scanned_columns.fill(false);
        self.remaining.clear();
        self.remaining.extend((0..cols).rev());
        let mut min_value = 0.0f64;
        let mut row = start;
        let sink = loop {
            self.scanned_rows[row] = true;
            let row_costs = &cost[row * cols..(row + 1) * cols];
            let row_potential = self.u[row];
            let mut lowest = f64::INFINITY;
            let mut lowest_index = 0;
            for (index, &col) in self.remaining.iter().enumerate() {
                let reduced = min_value + row_costs[col] - row_potential - self.v[col];
                if reduced < self.shortest[col] {
                    self.predecessor[col] = row;
                    self.shortest[col] = reduced;
                }
                // Ties prefer an unassigned column, which ends the search sooner.
                if self.shortest[col] < lowest
                    || (self.shortest[col] == lowest && self.row_of_column[col] == UNASSIGNED)
                {
                    lowest = self.shortest[col];
                    lowest_index = index;
                }
            }
            min_value = lowest;
            let col = self.remaining.swap_remove(lowest_index);
            self.scanned_columns[col] = true;
            if self.row_of_column[col] == UNASSIGNED {
                break col;
            }
            row = self.row_of_column[col];
        };
        self.u[start] += min_value;
        for other in 0..self.rows {
            if self.scanned_rows[other] && other != start {
                self.u[other] += min_value - self.shortest[self.column_of_row[other]];
            }
        }
        for col in 0..cols {
            if self.scanned_columns[col] {
                self.v[col] -= min_value - self.shortest[col];
            }
        }
        let mut col = sink;
        loop {
            let row = self.predecessor[col];
            self.row_of_column[col] = row;
            let previous = self.column_of_row[row];
            self.column_of_row[row] = col;
            if row == start {
                break;
            }
            col = previous;
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// The best sum over every injective map of rows into columns (rows <= columns).
    fn brute_force(weights: &Array2<f64>) -> f64 {
        fn search(weights: &Array2<f64>, row: usize, used: &mut Vec<bool>) -> f64 {
            if row == weights.nrows() {
                return 0.0;
            }
            let mut best = f64::NEG_INFINITY;
            for col in 0..weights.ncols() {
                if !used[col] {
                    used[col] = true;
                    best = best.max(weights[[row, col]] + search(weights, row + 1, used));
                    used[col] = false;
                }
            }
            best
        }
        let weights = if weights.nrows() > weights.ncols() {
            weights.t().to_owned()
        } else {
            weights.clone()
        };
        search(&weights, 0, &mut vec![false; weights.ncols()])
    }

    #[test]
    fn agrees_with_brute_force_on_small_square_and_rectangular_problems() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for trial in 0..300 {
            let rows = rng.random_range(1..=6);
            let cols = rng.random_range(1..=6);
            // Every third problem draws from few values, so that ties are everywhere.
            let weights = Array2::from_shape_fn((rows, cols), |_| {
                if trial % 3 == 0 {
                    f64::from(rng.random_range(-2i32..=2))
                } else {
                    rng.random_range(-1.0..1.0)
                }
            });
            let got = max_weight_matching(weights.view());
            let want = brute_force(&weights);
            assert!(
                (got - want).abs() <= 1e-12,
                "{rows}x{cols}: got {got}, want {want}\n{weights}"
            );
        }
    }

    /// The optimum found by searches alone, from zero potentials.
    fn without_column_reduction(weights: &Array2<f64>) -> f64 {
        let (rows, cols) = weights.dim();
        let cost: Vec<f64> = weights.iter().map(|weight| -weight).collect();
        let mut solver = Solver::new(rows, cols);
        for start in 0..rows {
            solver.augment(&cost, start);
        }
        (solver.column_of_row.iter().enumerate())
            .map(|(row, &col)| weights[[row, col]])
            .sum()
    }

    #[test]
    fn column_reduction_keeps_the_optimum_of_larger_square_problems() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for trial in 0..40 {
            let size = rng.random_range(20..=90);
            // Correlation-like weights with a strong partner per column, as related
            // representations give, and every fourth problem full of ties.
            let weights = Array2::from_shape_fn((size, size), |(row, col)| {
                if trial % 4 == 0 {
                    f64::from(rng.random_range(0i32..=3))
                } else if (row * 7 + 3) % size == col {
                    rng.random_range(0.5..1.0)
                } else {
                    rng.random_range(-0.6..0.6)
                }
            });
            let got = max_weight_matching(weights.view());
            let want = without_column_reduction(&weights);
            assert!(
                (got - want).abs() <= 1e-9,
                "{size}x{size}: got {got}, want {want}"
            );
        }
    }

    #[test]
    fn an_identity_weight_matrix_matches_each_row_to_its_own_column() {
        let weights = Array2::<f64>::eye(5);
        assert_eq!(max_weight_matching(weights.view()), 5.0);
    }
}
