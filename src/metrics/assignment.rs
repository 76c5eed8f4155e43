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
pub fn max_weight_matching(weights: ArrayView2<f64>) -> f64 {
    if weights.nrows() > weights.ncols() {
        return max_weight_matching(weights.t());
    }
    let (rows, cols) = weights.dim();
    if rows == 0 {
        return 0.0;
    }
    // Minimise the negated weights; `u` and `v` are the dual potentials of rows and columns.
    let cost = |row: usize, col: usize| -weights[[row, col]];
    let mut u = vec![0.0f64; rows];
    let mut v = vec![0.0f64; cols];
    let mut column_of_row = vec![usize::MAX; rows];
    let mut row_of_column = vec![usize::MAX; cols];
    let mut shortest = vec![f64::INFINITY; cols];
    let mut predecessor = vec![usize::MAX; cols];
    let mut scanned_rows = vec![false; rows];
    let mut scanned_columns = vec![false; cols];
    let mut remaining: Vec<usize> = Vec::with_capacity(cols);

    for start in 0..rows {
        shortest.fill(f64::INFINITY);
        scanned_rows.fill(false);
        scanned_columns.fill(false);
        remaining.clear();
        remaining.extend((0..cols).rev());
        let mut min_value = 0.0f64;
        let mut row = start;
        let sink = loop {
            scanned_rows[row] = true;
            let mut lowest = f64::INFINITY;
            let mut lowest_index = 0;
            for (index, &col) in remaining.iter().enumerate() {
                let reduced = min_value + cost(row, col) - u[row] - v[col];
                if reduced < shortest[col] {
                    predecessor[col] = row;
                    shortest[col] = reduced;
                }
                // Ties prefer an unassigned column, which ends the search sooner.
                if shortest[col] < lowest
                    || (shortest[col] == lowest && row_of_column[col] == usize::MAX)
                {
                    lowest = shortest[col];
                    lowest_index = index;
                }
            }
            min_value = lowest;
            let col = remaining.swap_remove(lowest_index);
            scanned_columns[col] = true;
            if row_of_column[col] == usize::MAX {
                break col;
            }
            row = row_of_column[col];
        };
        u[start] += min_value;
        for other in 0..rows {
            if scanned_rows[other] && other != start {
                u[other] += min_value - shortest[column_of_row[other]];
            }
        }
        for col in 0..cols {
            if scanned_columns[col] {
                v[col] -= min_value - shortest[col];
            }
        }
        let mut col = sink;
        loop {
            let row = predecessor[col];
            row_of_column[col] = row;
            let previous = column_of_row[row];
            column_of_row[row] = col;
            if row == start {
                break;
            }
            col = previous;
        }
    }
    column_of_row
        .iter()
        .enumerate()
        .map(|(row, &col)| weights[[row, col]])
        .sum()
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

    #[test]
    fn an_identity_weight_matrix_matches_each_row_to_its_own_column() {
        let weights = Array2::<f64>::eye(5);
        assert_eq!(max_weight_matching(weights.view()), 5.0);
    }
}
