//! Rectangular linear assignment on real weights (README, Measures: `hard_corr_match`,
//! `permutation_procrustes`).
//!
//! Written here rather than taken from a crate: `pathfinding`'s Kuhn–Munkres needs `Ord` weights
//! (integers; floats would have to be scaled and rounded, which changes the optimum), and `lsap`
//! (a port of SciPy's solver) has seen no release since 2023 and copies the weights into its own
//! row-major vector. The method is SciPy's `linear_sum_assignment`: shortest augmenting paths
//! with dual potentials (Jonker–Volgenant, with Crouse's rectangular extension), exact on floats
//! in the sense that it compares only sums of the given weights, O(r²c) for r rows and c >= r
//! columns.
//!
//! On the matrices the measures give, each row's partner is almost always among its own best
//! few columns, or the row among that column's best few rows. So the paths are first searched on
//! those candidate edges alone, about 2 % of a 768 x 768 matrix, and the potentials they end with
//! are checked on every edge: when no edge has a negative reduced cost, linear-programming
//! duality proves the matching optimal on the whole matrix. Edges that fail the check join the
//! candidates and the rows that gained them search again (every row, in a rectangular problem);
//! after some rounds, or when the candidates cannot match every row, the search runs on the
//! whole matrix. Both routes are tested against brute force and against each other below. On the
//! 768 x 768 matrices of `simbench bench-metrics` the candidates take the assignment from 1.06x
//! to 0.37x one GEMM on the correlations and from 1.50x to 0.56x on M (BENCHMARKS.md).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use ndarray::ArrayView2;

/// How many of its best edges each row and each column brings to the candidates: 4, 6, 8, 16 and
/// 24 were measured on the matrices of `simbench bench-metrics`, and 8 was fastest on M and
/// within noise of the fastest on the correlations.
const CANDIDATES_PER_LINE: usize = 8;

/// Candidate searches before the whole matrix is searched instead. In a square problem each
/// search after the first is of the few rows the check repaired, so a dozen costs little more
/// than one; in a rectangular one each is of every row.
const SQUARE_ROUNDS: usize = 12;
const RECTANGULAR_ROUNDS: usize = 3;

/// The largest Σ weights[i, π(i)] over one-to-one maps π of the smaller side into the larger
/// (every row assigned when rows <= columns, every column otherwise).
pub fn max_weight_matching(weights: ArrayView2<f64>) -> f64 {
    solve(weights).0
}

/// How a matching was found.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// On candidate edges, proven optimal on the whole matrix after this many searches.
    Candidates { rounds: usize },
    /// On the whole matrix.
    Whole,
}

fn solve(weights: ArrayView2<f64>) -> (f64, Route) {
    let costs = Costs::negated(weights);
    if costs.rows == 0 {
        return (0.0, Route::Whole);
    }
    let (column_of_row, route) = if costs.cols <= 2 * CANDIDATES_PER_LINE {
        (assign_on_whole_matrix(&costs), Route::Whole)
    } else {
        match assign_on_candidates(&costs, CANDIDATES_PER_LINE) {
            Some((column_of_row, rounds)) => (column_of_row, Route::Candidates { rounds }),
            None => (assign_on_whole_matrix(&costs), Route::Whole),
        }
    };
    let total = column_of_row
        .iter()
        .enumerate()
        .map(|(row, &col)| -costs.row(row)[col])
        .sum();
    (total, route)
}

/// The negated weights, row-major, transposed when needed so that rows <= columns: the method
/// minimises, and assigns every row.
struct Costs {
    rows: usize,
    cols: usize,
    values: Vec<f64>,
}

impl Costs {
    fn negated(weights: ArrayView2<f64>) -> Costs {
        let weights = if weights.nrows() > weights.ncols() {
            weights.reversed_axes()
        } else {
            weights
        };
        Costs {
            rows: weights.nrows(),
            cols: weights.ncols(),
            values: weights.iter().map(|&weight| -weight).collect(),
        }
    }

    fn row(&self, row: usize) -> &[f64] {
        &self.values[row * self.cols..(row + 1) * self.cols]
    }
}

const UNASSIGNED: usize = usize::MAX;

/// The dense method on every edge.
fn assign_on_whole_matrix(costs: &Costs) -> Vec<usize> {
    let (rows, cols) = (costs.rows, costs.cols);
    let mut search = Search::new(rows, cols);
    let mut remaining: Vec<usize> = Vec::with_capacity(cols);
    for start in 0..rows {
        search.shortest.fill(f64::INFINITY);
        search.scanned_rows.clear();
        search.scanned_columns.clear();
        remaining.clear();
        remaining.extend((0..cols).rev());
        let mut min_value = 0.0f64;
        let mut row = start;
        let sink = loop {
            search.scanned_rows.push(row);
            let row_costs = costs.row(row);
            let mut lowest = f64::INFINITY;
            let mut lowest_index = 0;
            for (index, &col) in remaining.iter().enumerate() {
                let reduced = min_value + row_costs[col] - search.u[row] - search.v[col];
                if reduced < search.shortest[col] {
                    search.predecessor[col] = row;
                    search.shortest[col] = reduced;
                }
                // Ties prefer an unassigned column, which ends the search sooner.
                if search.shortest[col] < lowest
                    || (search.shortest[col] == lowest && search.row_of_column[col] == UNASSIGNED)
                {
                    lowest = search.shortest[col];
                    lowest_index = index;
                }
            }
            min_value = lowest;
            let col = remaining.swap_remove(lowest_index);
            search.scanned_columns.push(col);
            if search.row_of_column[col] == UNASSIGNED {
                break col;
            }
            row = search.row_of_column[col];
        };
        search.close(start, sink, min_value);
    }
    search.column_of_row
}

/// The searches on the `per_line` cheapest edges of each row and column and the edges added
/// since, until their potentials hold on every edge: the optimal assignment and the number of
/// searches, or `None` when the whole matrix must be searched.
fn assign_on_candidates(costs: &Costs, per_line: usize) -> Option<(Vec<usize>, usize)> {
    let mut candidates = Candidates::cheapest(costs, per_line);
    let mut search = Search::new(costs.rows, costs.cols);
    let mut starts: Vec<usize> = (0..costs.rows).collect();
    let square = costs.rows == costs.cols;
    let rounds = if square {
        SQUARE_ROUNDS
    } else {
        RECTANGULAR_ROUNDS
    };
    for round in 1..=rounds {
        search.assign(&candidates, &starts)?;
        let repaired = candidates.add_violated(costs, &search);
        if repaired.is_empty() {
            return Some((search.column_of_row, round));
        }
        if square {
            // Only the rows that gained edges search again. Their potentials need no repair: a
            // search sets its start's from the minimum over its edges. The columns they free
            // keep potentials below zero, which is allowed only because every column of a square
            // problem ends assigned.
            search.unassign(&repaired);
            starts = repaired;
        } else {
            search = Search::new(costs.rows, costs.cols);
            starts = (0..costs.rows).collect();
        }
    }
    None
}

/// A subset of the edges, by row, with their costs.
struct Candidates {
    cols: usize,
    edges: Vec<Vec<(usize, f64)>>,
    /// Row-major: whether edge (row, col) is a candidate.
    member: Vec<bool>,
}

impl Candidates {
    /// The `per_line` cheapest edges of every row and of every column (ties broken by position).
    /// A row ranks its edges less each column's least cost, and a column its edges less each
    /// row's least cost (Jonker and Volgenant's reductions), which leaves the optimum where it
    /// is: on M, whose columns differ in scale, every row's cheapest raw costs crowd into the
    /// same large columns, and most of those rows then fail the check.
    fn cheapest(costs: &Costs, per_line: usize) -> Candidates {
        let (rows, cols) = (costs.rows, costs.cols);
        let mut candidates = Candidates {
            cols,
            edges: vec![Vec::with_capacity(2 * per_line); rows],
            member: vec![false; rows * cols],
        };
        let mut row_min = vec![f64::INFINITY; rows];
        let mut col_min = vec![f64::INFINITY; cols];
        for (row, least) in row_min.iter_mut().enumerate() {
            for (col_least, &cost) in col_min.iter_mut().zip(costs.row(row)) {
                *least = least.min(cost);
                *col_least = col_least.min(cost);
            }
        }
        let mut of_row = Cheapest::new(per_line);
        let mut of_column = vec![Cheapest::new(per_line); cols];
        // Each column's bound, side by side, so that the usual refusal reads no list.
        let mut column_bound = vec![f64::INFINITY; cols];
        for (row, &least_of_row) in row_min.iter().enumerate() {
            of_row.clear();
            let mut row_bound = f64::INFINITY;
            for (col, &cost) in costs.row(row).iter().enumerate() {
                let by_row = cost - col_min[col];
                if by_row < row_bound {
                    row_bound = of_row.offer(by_row, col);
                }
                let by_column = cost - least_of_row;
                if by_column < column_bound[col] {
                    column_bound[col] = of_column[col].offer(by_column, row);
                }
            }
            for &(_, col) in &of_row.kept {
                candidates.insert(row, col, costs.row(row)[col]);
            }
        }
        for (col, cheapest) in of_column.iter().enumerate() {
            for &(_, row) in &cheapest.kept {
                candidates.insert(row, col, costs.row(row)[col]);
            }
        }
        candidates
    }

    fn insert(&mut self, row: usize, col: usize, cost: f64) {
        let member = &mut self.member[row * self.cols + col];
        if !*member {
            *member = true;
            self.edges[row].push((col, cost));
        }
    }

    /// Adds every edge whose reduced cost under `search`'s potentials is negative, and returns
    /// the rows that gained one. None means the potentials are feasible on the whole matrix;
    /// with the assigned edges tight and only assigned columns below zero, the assignment is
    /// then optimal.
    fn add_violated(&mut self, costs: &Costs, search: &Search) -> Vec<usize> {
        let mut repaired = Vec::new();
        for (row, &u) in search.u.iter().enumerate() {
            let before = self.edges[row].len();
            for (col, (&cost, &v)) in costs.row(row).iter().zip(&search.v).enumerate() {
                if cost - u - v < 0.0 {
                    self.insert(row, col, cost);
                }
            }
            if self.edges[row].len() > before {
                repaired.push(row);
            }
        }
        repaired
    }
}

/// The `capacity` smallest costs offered, with their indices, in ascending order. The caller
/// offers only costs below the bound the last offer returned, so that most costs are refused by
/// one comparison.
#[derive(Clone)]
struct Cheapest {
    capacity: usize,
    kept: Vec<(f64, usize)>,
}

impl Cheapest {
    fn new(capacity: usize) -> Cheapest {
        Cheapest {
            capacity,
            kept: Vec::with_capacity(capacity + 1),
        }
    }

    fn clear(&mut self) {
        self.kept.clear();
    }

    /// Keeps `cost`, below the current bound, in place of the largest when full; returns the new
    /// bound: the largest kept once full, infinite before.
    fn offer(&mut self, cost: f64, index: usize) -> f64 {
        if self.kept.len() == self.capacity {
            self.kept.pop();
        }
        let at = self.kept.partition_point(|&(kept, _)| kept <= cost);
        self.kept.insert(at, (cost, index));
        match self.kept.last() {
            Some(&(largest, _)) if self.kept.len() == self.capacity => largest,
            _ => f64::INFINITY,
        }
    }
}

/// The state of the method: the assignment so far, the potentials, and the scratch of one
/// search (`scanned_column`, `reached` and `frontier` only for the search on candidates).
struct Search {
    u: Vec<f64>,
    v: Vec<f64>,
    column_of_row: Vec<usize>,
    row_of_column: Vec<usize>,
    shortest: Vec<f64>,
    predecessor: Vec<usize>,
    scanned_column: Vec<bool>,
    reached: Vec<usize>,
    scanned_rows: Vec<usize>,
    scanned_columns: Vec<usize>,
    frontier: BinaryHeap<Frontier>,
}

impl Search {
    fn new(rows: usize, cols: usize) -> Search {
        Search {
            u: vec![0.0; rows],
            v: vec![0.0; cols],
            column_of_row: vec![UNASSIGNED; rows],
            row_of_column: vec![UNASSIGNED; cols],
            shortest: vec![f64::INFINITY; cols],
            predecessor: vec![UNASSIGNED; cols],
            scanned_column: vec![false; cols],
            reached: Vec::new(),
            scanned_rows: Vec::new(),
            scanned_columns: Vec::new(),
            frontier: BinaryHeap::new(),
        }
    }

    fn unassign(&mut self, rows: &[usize]) {
        for &row in rows {
            let col = std::mem::replace(&mut self.column_of_row[row], UNASSIGNED);
            self.row_of_column[col] = UNASSIGNED;
        }
    }

    /// Assigns each of the free rows `starts` by a shortest augmenting path through candidates,
    /// the dense method with the other edges left out (as if infinitely costly); `None` when one
    /// cannot reach a free column.
    fn assign(&mut self, candidates: &Candidates, starts: &[usize]) -> Option<()> {
        for &start in starts {
            for &col in &self.reached {
                self.shortest[col] = f64::INFINITY;
                self.scanned_column[col] = false;
            }
            self.reached.clear();
            self.scanned_rows.clear();
            self.scanned_columns.clear();
            self.frontier.clear();
            let mut min_value = 0.0f64;
            let mut row = start;
            let sink = loop {
                self.scanned_rows.push(row);
                for &(col, cost) in &candidates.edges[row] {
                    if self.scanned_column[col] {
                        continue;
                    }
                    let reduced = min_value + cost - self.u[row] - self.v[col];
                    if reduced < self.shortest[col] {
                        if self.shortest[col] == f64::INFINITY {
                            self.reached.push(col);
                        }
                        self.shortest[col] = reduced;
                        self.predecessor[col] = row;
                        self.frontier.push(Frontier {
                            distance: reduced,
                            assigned: self.row_of_column[col] != UNASSIGNED,
                            column: col,
                        });
                    }
                }
                // Entries superseded by a shorter distance are skipped as they come up.
                let col = loop {
                    let entry = self.frontier.pop()?;
                    if !self.scanned_column[entry.column]
                        && entry.distance == self.shortest[entry.column]
                    {
                        break entry.column;
                    }
                };
                min_value = self.shortest[col];
                self.scanned_column[col] = true;
                self.scanned_columns.push(col);
                if self.row_of_column[col] == UNASSIGNED {
                    break col;
                }
                row = self.row_of_column[col];
            };
            self.close(start, sink, min_value);
        }
        Some(())
    }

    /// Ends the search from `start` that reached the free column `sink` at distance
    /// `min_value`: moves the potentials of the scanned rows and columns so that every edge they
    /// searched stays feasible and the path becomes tight, then assigns along the path.
    fn close(&mut self, start: usize, sink: usize, min_value: f64) {
        self.u[start] += min_value;
        for &other in &self.scanned_rows[1..] {
            self.u[other] += min_value - self.shortest[self.column_of_row[other]];
        }
        for &col in &self.scanned_columns {
            self.v[col] -= min_value - self.shortest[col];
        }
        let mut col = sink;
        loop {
            let row = self.predecessor[col];
            self.row_of_column[col] = row;
            let previous = std::mem::replace(&mut self.column_of_row[row], col);
            if row == start {
                break;
            }
            col = previous;
        }
    }
}

/// A reached column in the search's priority queue: the shortest distance first, and among
/// equal distances an unassigned column, which ends the search sooner (as the dense method).
struct Frontier {
    distance: f64,
    assigned: bool,
    column: usize,
}

impl Ord for Frontier {
    /// Reversed, for `BinaryHeap`'s maximum to be the entry to take next.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .distance
            .total_cmp(&self.distance)
            .then(other.assigned.cmp(&self.assigned))
            .then(other.column.cmp(&self.column))
    }
}

impl PartialOrd for Frontier {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Frontier {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Frontier {}

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

    /// Small problems, every third drawn from few values so that ties are everywhere.
    fn small_problems(seed: u64, count: usize) -> Vec<Array2<f64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..count)
            .map(|trial| {
                let rows = rng.random_range(1..=7);
                let cols = rng.random_range(1..=7);
                Array2::from_shape_fn((rows, cols), |_| {
                    if trial % 3 == 0 {
                        f64::from(rng.random_range(-2i32..=2))
                    } else {
                        rng.random_range(-1.0..1.0)
                    }
                })
            })
            .collect()
    }

    fn total(costs: &Costs, column_of_row: &[usize]) -> f64 {
        column_of_row
            .iter()
            .enumerate()
            .map(|(row, &col)| -costs.row(row)[col])
            .sum()
    }

    #[test]
    fn agrees_with_brute_force_on_small_square_and_rectangular_problems() {
        for weights in small_problems(7, 300) {
            let got = max_weight_matching(weights.view());
            let want = brute_force(&weights);
            assert!(
                (got - want).abs() <= 1e-12,
                "got {got}, want {want}\n{weights}"
            );
        }
    }

    /// With one candidate per row and column the first search often misses the optimum or cannot
    /// match every row: the check must catch every miss, the added edges must repair it, and a
    /// search that cannot finish must say so.
    #[test]
    fn candidate_searches_are_optimal_or_give_way_on_small_problems() {
        let (mut repaired, mut gave_way) = (0, 0);
        for weights in small_problems(11, 600) {
            let costs = Costs::negated(weights.view());
            let want = brute_force(&weights);
            match assign_on_candidates(&costs, 1) {
                Some((column_of_row, rounds)) => {
                    let got = total(&costs, &column_of_row);
                    assert!(
                        (got - want).abs() <= 1e-12,
                        "after {rounds} round(s): got {got}, want {want}\n{weights}"
                    );
                    let mut columns = column_of_row.clone();
                    columns.sort_unstable();
                    columns.dedup();
                    assert_eq!(columns.len(), costs.rows, "one to one\n{weights}");
                    if rounds > 1 {
                        repaired += 1;
                    }
                }
                None => gave_way += 1,
            }
        }
        assert!(
            repaired > 0 && gave_way > 0,
            "the problems reach both: {repaired} repaired, {gave_way} gave way"
        );
    }

    /// Matrices like the measures' at a size where the candidates are a small part: correlations
    /// of two noisy mixtures of shared sources, and raw inner products whose columns differ in
    /// scale (every row prefers the same few large columns).
    fn measure_like(seed: u64, rows: usize, cols: usize, raw: bool) -> Array2<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let sources = rows.max(cols);
        let mixing = |rng: &mut ChaCha8Rng, count: usize| {
            Array2::from_shape_fn((sources, count), |(source, column)| {
                let own = if source == column { 3.0 } else { 0.0 };
                own + rng.random_range(-1.0..1.0)
            })
        };
        let (a, b) = (mixing(&mut rng, rows), mixing(&mut rng, cols));
        let mut product = a.t().dot(&b);
        if raw {
            for (col, mut column) in product.columns_mut().into_iter().enumerate() {
                column *= 1.0 + 4.0 * (col % 5) as f64;
            }
        } else {
            let norms = |m: &Array2<f64>| -> Vec<f64> {
                m.columns().into_iter().map(|c| c.dot(&c).sqrt()).collect()
            };
            let (na, nb) = (norms(&a), norms(&b));
            for ((row, col), value) in product.indexed_iter_mut() {
                *value /= na[row] * nb[col];
            }
        }
        product
    }

    #[test]
    fn candidates_give_the_whole_matrix_optimum_on_measure_like_matrices() {
        let mut by_candidates = 0;
        for (seed, (rows, cols)) in [(120, 120), (90, 140), (140, 90), (200, 200)]
            .into_iter()
            .enumerate()
        {
            for raw in [false, true] {
                let weights = measure_like(seed as u64, rows, cols, raw);
                let (got, route) = solve(weights.view());
                let costs = Costs::negated(weights.view());
                let want = total(&costs, &assign_on_whole_matrix(&costs));
                assert!(
                    (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                    "{rows}x{cols} raw={raw} by {route:?}: got {got}, want {want}"
                );
                if matches!(route, Route::Candidates { .. }) {
                    by_candidates += 1;
                }
            }
        }
        assert!(
            by_candidates >= 6,
            "the candidates are the usual route: {by_candidates} of 8"
        );
    }

    #[test]
    fn an_identity_weight_matrix_matches_each_row_to_its_own_column() {
        let weights = Array2::<f64>::eye(5);
        assert_eq!(max_weight_matching(weights.view()), 5.0);
        let weights = Array2::<f64>::eye(60);
        assert_eq!(
            solve(weights.view()),
            (60.0, Route::Candidates { rounds: 1 })
        );
    }
}
