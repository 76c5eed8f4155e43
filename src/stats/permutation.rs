//! Two-sided permutation p-values of Spearman ρ, Kendall τ-b and Pearson r (README
//! "Grounding tests"): the x's are permuted against the fixed y's,
//! as `scipy.stats.permutation_test(permutation_type="pairings")` does.
//!
//! Built for many permutations of small groups: everything that does not depend on the
//! permutation is computed once per group (ranks, standardised values, tie structure), and a
//! permutation only rearranges indices. Spearman's numerator is an exact integer (doubled average
//! ranks), so permutations with equal ρ in exact arithmetic give bit-identical values; Kendall's
//! S = C − D is an integer counted in O(m) word operations for m ≤ 64 (a bit set of the x
//! positions seen so far) and O(m log m) beyond (a Fenwick tree); Pearson's r is a dot product of
//! precomputed standardised vectors.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::pearson::standardised;
use super::{
    ResamplesOutOfRange, Undefined, average_ranks, check_correlation_input, compare_values,
};

/// How many random permutations to draw and from which seed. Always valid once built.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "PermutationRequest")]
pub struct PermutationOptions {
    resamples: usize,
    seed: u64,
}

/// The user-facing form of [`PermutationOptions`], every field optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PermutationRequest {
    #[serde(default = "default_resamples")]
    resamples: usize,
    #[serde(default)]
    seed: u64,
}

fn default_resamples() -> usize {
    PermutationOptions::DEFAULT_RESAMPLES
}

impl TryFrom<PermutationRequest> for PermutationOptions {
    type Error = ResamplesOutOfRange;

    fn try_from(request: PermutationRequest) -> Result<Self, Self::Error> {
        PermutationOptions::new(request.resamples, request.seed)
    }
}

impl PermutationOptions {
    pub const DEFAULT_RESAMPLES: usize = 9_999;
    /// README "Grounding tests" caps R here: the smallest random p is then 2e-5.
    pub const MAX_RESAMPLES: usize = 100_000;

    pub fn new(resamples: usize, seed: u64) -> Result<PermutationOptions, ResamplesOutOfRange> {
        let resamples = ResamplesOutOfRange::check("permutation", resamples, Self::MAX_RESAMPLES)?;
        Ok(PermutationOptions { resamples, seed })
    }

    pub fn resamples(&self) -> usize {
        self.resamples
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Whether a group of `pairs` pairs is tested on all its m! permutations (m! ≤ R).
    pub fn is_exact_for(&self, pairs: usize) -> bool {
        permutation_count(pairs).is_some_and(|count| count <= self.resamples)
    }
}

impl Default for PermutationOptions {
    fn default() -> Self {
        PermutationOptions {
            resamples: Self::DEFAULT_RESAMPLES,
            seed: 0,
        }
    }
}

/// m!, or `None` when it exceeds every allowed number of resamples.
fn permutation_count(pairs: usize) -> Option<usize> {
    (1..=pairs).try_fold(1usize, |product, factor| {
        product
            .checked_mul(factor)
            .filter(|&count| count <= PermutationOptions::MAX_RESAMPLES)
    })
}

/// The two-sided permutation p-values of one group.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PermutationPValues {
    pub spearman: Result<f64, Undefined>,
    pub kendall: Result<f64, Undefined>,
    pub pearson: Result<f64, Undefined>,
    /// Every permutation was enumerated once (m! ≤ R) instead of R drawn at random.
    pub exact: bool,
}

/// Permutation p-values of each group, the groups spread over the machine's cores. Group g draws
/// from stream g of the seed's generator (see [`permutation_p_values`]), so the result does not
/// depend on how many threads share the work.
pub fn permutation_p_values_by_group(
    groups: &[Vec<(f64, f64)>],
    options: &PermutationOptions,
) -> Vec<PermutationPValues> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |count| count.get())
        .min(groups.len())
        .max(1);
    let chunk_size = groups.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = groups
            .chunks(chunk_size)
            .enumerate()
            .map(|(chunk, chunk_groups)| {
                scope.spawn(move || {
                    chunk_groups
                        .iter()
                        .enumerate()
                        .map(|(offset, pairs)| {
                            let stream = (chunk * chunk_size + offset) as u64;
                            permutation_p_values(pairs, options, stream)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("a permutation worker panicked"))
            .collect()
    })
}

/// Two-sided permutation p-values of Spearman ρ, Kendall τ-b and Pearson r of the `(x, y)` pairs.
///
/// The procedure, fixed so that a seed gives the same p-values on every machine and release:
/// 1. T is the statistic of the pairs as given; T_π that of the x's rearranged by a permutation π
///    against the fixed y's; γ = |T|·100·ε absorbs round-off between equal values.
/// 2. With m! ≤ R every permutation is visited once (Heap's order) and
///    p_less = #{T_π ≤ T + γ}/m!, p_greater = #{T_π ≥ T − γ}/m!.
/// 3. Otherwise the generator is `ChaCha8Rng::seed_from_u64(seed)` switched to `stream`
///    (`set_stream`); each of the R permutations is a Fisher–Yates shuffle of the previous
///    arrangement (positions m−1 down to 1, each swapped with an index drawn uniformly from
///    0..=position by Lemire's multiply-and-reject on `next_u32`), and
///    p_less = (1 + #{T_π ≤ T + γ})/(R + 1), likewise p_greater.
/// 4. p = min(1, 2·min(p_less, p_greater)).
///
/// The three statistics see the same permutations. Each is undefined, with the reason, where the
/// statistic itself is (fewer than 3 pairs, a constant side, non-finite values).
pub fn permutation_p_values(
    pairs: &[(f64, f64)],
    options: &PermutationOptions,
    stream: u64,
) -> PermutationPValues {
    let exact = options.is_exact_for(pairs.len());
    if let Err(reason) = check_correlation_input(pairs) {
        return PermutationPValues {
            spearman: Err(reason),
            kendall: Err(reason),
            pearson: Err(reason),
            exact,
        };
    }
    let statistics = PermutableStatistics::new(pairs);
    let mut arrangement = statistics.observed_arrangement.clone();
    let mut counter = ConcordanceCounter::new(pairs.len());
    let observed = statistics.evaluate(&arrangement, &mut counter);
    let mut tally = [
        Tally::new(observed.spearman),
        Tally::new(observed.kendall),
        Tally::new(observed.pearson),
    ];
    let mut visit = |arrangement: &[usize]| {
        let permuted = statistics.evaluate(arrangement, &mut counter);
        tally[0].count(permuted.spearman);
        tally[1].count(permuted.kendall);
        tally[2].count(permuted.pearson);
    };
    // p_less = (offset + count)/denominator: the observed arrangement is among the m! visited
    // when exact, and counted once more when the R permutations are random.
    let (offset, denominator) = if exact {
        for_each_permutation(&mut arrangement, &mut visit);
        let total = permutation_count(pairs.len()).expect("exact means m! is small");
        (0.0, total as f64)
    } else {
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        rng.set_stream(stream);
        for _ in 0..options.resamples {
            shuffle(&mut arrangement, &mut rng);
            visit(&arrangement);
        }
        (1.0, options.resamples as f64 + 1.0)
    };
    let p_value = |tally: &Tally| tally.two_sided_p(|count| (offset + count as f64) / denominator);
    PermutationPValues {
        spearman: Ok(p_value(&tally[0])),
        kendall: Ok(p_value(&tally[1])),
        pearson: Ok(p_value(&tally[2])),
        exact,
    }
}

/// Counts of permuted statistics at or below, and at or above, the observed one (within γ).
struct Tally {
    observed: f64,
    tolerance: f64,
    at_most: usize,
    at_least: usize,
}

impl Tally {
    fn new(observed: f64) -> Tally {
        Tally {
            observed,
            tolerance: observed.abs() * 100.0 * f64::EPSILON,
            at_most: 0,
            at_least: 0,
        }
    }

    fn count(&mut self, permuted: f64) {
        self.at_most += usize::from(permuted <= self.observed + self.tolerance);
        self.at_least += usize::from(permuted >= self.observed - self.tolerance);
    }

    fn two_sided_p(&self, proportion: impl Fn(usize) -> f64) -> f64 {
        (2.0 * proportion(self.at_most).min(proportion(self.at_least))).min(1.0)
    }
}

/// The three statistics of one arrangement.
struct Statistics {
    spearman: f64,
    kendall: f64,
    pearson: f64,
}

/// One group made ready for permutation. Pairs are addressed two ways: by their position p in the
/// y order (fixed) and by their position k in the x order. An arrangement maps each y position p
/// to the x position k whose x it gets; the observed pairs are one arrangement.
struct PermutableStatistics {
    pairs: usize,
    observed_arrangement: Vec<usize>,
    /// By x position k: twice the average rank of x (an integer), and the standardised x.
    doubled_x_ranks: Vec<i64>,
    standardised_x: Vec<f64>,
    /// By x position k: the x positions below `smaller_x_end[k]` hold smaller x, those from
    /// `larger_x_start[k]` larger x; the ones in between tie with k.
    smaller_x_end: Vec<usize>,
    larger_x_start: Vec<usize>,
    /// By y position p.
    doubled_y_ranks: Vec<i64>,
    standardised_y: Vec<f64>,
    /// Ends of the runs of equal y, in y order.
    y_run_ends: Vec<usize>,
    /// Σ 2·rank(x), Σ 2·rank(y), and m·Σ(2r)² − (Σ 2r)² per side (Spearman's denominator).
    doubled_x_rank_sum: i128,
    doubled_y_rank_sum: i128,
    spearman_denominator: f64,
    /// √((tot − xtie)(tot − ytie)), τ-b's denominator (see `kendall_tau_b`).
    kendall_denominator: f64,
}

impl PermutableStatistics {
    /// The pairs must pass `check_correlation_input`.
    fn new(pairs: &[(f64, f64)]) -> PermutableStatistics {
        let m = pairs.len();
        let x: Vec<f64> = pairs.iter().map(|pair| pair.0).collect();
        let y: Vec<f64> = pairs.iter().map(|pair| pair.1).collect();
        let x_order = sorted_order(&x);
        let y_order = sorted_order(&y);
        let mut x_position = vec![0; m];
        for (k, &i) in x_order.iter().enumerate() {
            x_position[i] = k;
        }
        let doubled = |ranks: Vec<f64>| -> Vec<i64> {
            ranks.into_iter().map(|rank| (2.0 * rank) as i64).collect()
        };
        let (x_ranks, y_ranks) = (doubled(average_ranks(&x)), doubled(average_ranks(&y)));
        let (x_standard, y_standard) = (standardised(&x), standardised(&y));

        let x_runs = run_ends(&x_order, &x);
        let mut smaller_x_end = vec![0; m];
        let mut larger_x_start = vec![0; m];
        let mut start = 0;
        for &end in &x_runs {
            smaller_x_end[start..end].fill(start);
            larger_x_start[start..end].fill(end);
            start = end;
        }
        let y_run_ends = run_ends(&y_order, &y);

        let sum = |ranks: &[i64]| ranks.iter().map(|&r| i128::from(r)).sum::<i128>();
        let spread = |ranks: &[i64]| {
            let squares: i128 = ranks.iter().map(|&r| i128::from(r) * i128::from(r)).sum();
            (m as i128 * squares - sum(ranks) * sum(ranks)) as f64
        };
        let total = (m * (m - 1) / 2) as f64;
        let tied_pairs = |ends: &[usize]| {
            let mut start = 0;
            ends.iter()
                .map(|&end| {
                    let t = end - start;
                    start = end;
                    (t * (t - 1) / 2) as f64
                })
                .sum::<f64>()
        };
        PermutableStatistics {
            pairs: m,
            observed_arrangement: y_order.iter().map(|&i| x_position[i]).collect(),
            doubled_x_ranks: x_order.iter().map(|&i| x_ranks[i]).collect(),
            standardised_x: x_order.iter().map(|&i| x_standard[i]).collect(),
            smaller_x_end,
            larger_x_start,
            doubled_y_ranks: y_order.iter().map(|&i| y_ranks[i]).collect(),
            standardised_y: y_order.iter().map(|&i| y_standard[i]).collect(),
            doubled_x_rank_sum: sum(&x_ranks),
            doubled_y_rank_sum: sum(&y_ranks),
            spearman_denominator: (spread(&x_ranks) * spread(&y_ranks)).sqrt(),
            kendall_denominator: ((total - tied_pairs(&x_runs))
                * (total - tied_pairs(&y_run_ends)))
            .sqrt(),
            y_run_ends,
        }
    }

    fn evaluate(&self, arrangement: &[usize], counter: &mut ConcordanceCounter) -> Statistics {
        let rank_dot: i64 = arrangement
            .iter()
            .zip(&self.doubled_y_ranks)
            .map(|(&k, &y_rank)| self.doubled_x_ranks[k] * y_rank)
            .sum();
        let numerator = self.pairs as i128 * i128::from(rank_dot)
            - self.doubled_x_rank_sum * self.doubled_y_rank_sum;
        let spearman = (numerator as f64 / self.spearman_denominator).clamp(-1.0, 1.0);

        let permuted_x = arrangement.iter().map(|&k| self.standardised_x[k]);
        let pearson = permuted_x
            .zip(&self.standardised_y)
            .map(|(x, y)| x * y)
            .sum::<f64>()
            .clamp(-1.0, 1.0);

        counter.clear();
        let mut concordant_minus_discordant = 0i64;
        let mut start = 0;
        for &end in &self.y_run_ends {
            // Earlier runs have smaller y: a seen smaller x is concordant, a larger one discordant.
            for &k in &arrangement[start..end] {
                let smaller = counter.count_below(self.smaller_x_end[k]);
                let larger = counter.seen() - counter.count_below(self.larger_x_start[k]);
                concordant_minus_discordant += smaller as i64 - larger as i64;
            }
            for &k in &arrangement[start..end] {
                counter.insert(k);
            }
            start = end;
        }
        let kendall =
            (concordant_minus_discordant as f64 / self.kendall_denominator).clamp(-1.0, 1.0);
        Statistics {
            spearman,
            kendall,
            pearson,
        }
    }
}

/// Indices of `values` in ascending order (ties in index order).
fn sorted_order(values: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| compare_values(values[i], values[j]));
    order
}

/// Ends (exclusive) of the runs of equal values along `order`.
fn run_ends(order: &[usize], values: &[f64]) -> Vec<usize> {
    let mut ends = Vec::new();
    for position in 1..=order.len() {
        if position == order.len()
            || compare_values(values[order[position]], values[order[position - 1]]).is_ne()
        {
            ends.push(position);
        }
    }
    ends
}

/// The set of x positions seen so far, answering "how many seen positions lie below j".
enum ConcordanceCounter {
    /// m ≤ 64: one bit per position.
    Word { bits: u64, seen: usize },
    /// Larger m: a Fenwick tree over positions.
    Fenwick { tree: Vec<u32>, seen: usize },
}

impl ConcordanceCounter {
    fn new(pairs: usize) -> ConcordanceCounter {
        if pairs <= 64 {
            ConcordanceCounter::Word { bits: 0, seen: 0 }
        } else {
            ConcordanceCounter::Fenwick {
                tree: vec![0; pairs + 1],
                seen: 0,
            }
        }
    }

    fn clear(&mut self) {
        match self {
            ConcordanceCounter::Word { bits, seen } => (*bits, *seen) = (0, 0),
            ConcordanceCounter::Fenwick { tree, seen } => {
                tree.fill(0);
                *seen = 0;
            }
        }
    }

    fn seen(&self) -> usize {
        match self {
            ConcordanceCounter::Word { seen, .. } | ConcordanceCounter::Fenwick { seen, .. } => {
                *seen
            }
        }
    }

    fn insert(&mut self, position: usize) {
        match self {
            ConcordanceCounter::Word { bits, seen } => {
                *bits |= 1 << position;
                *seen += 1;
            }
            ConcordanceCounter::Fenwick { tree, seen } => {
                let mut node = position + 1;
                while node < tree.len() {
                    tree[node] += 1;
                    node += node & node.wrapping_neg();
                }
                *seen += 1;
            }
        }
    }

    fn count_below(&self, end: usize) -> usize {
        match self {
            ConcordanceCounter::Word { bits, .. } => {
                let mask = if end >= 64 {
                    u64::MAX
                } else {
                    (1u64 << end) - 1
                };
                (bits & mask).count_ones() as usize
            }
            ConcordanceCounter::Fenwick { tree, .. } => {
                let (mut node, mut count) = (end, 0usize);
                while node > 0 {
                    count += tree[node] as usize;
                    node &= node - 1;
                }
                count
            }
        }
    }
}

/// Calls `visit` on every permutation of `items` once, starting with `items` as given (Heap's
/// algorithm, iterative form).
fn for_each_permutation(items: &mut [usize], visit: &mut impl FnMut(&[usize])) {
    let mut counters = vec![0usize; items.len()];
    visit(items);
    let mut level = 1;
    while level < items.len() {
        if counters[level] < level {
            let other = if level % 2 == 0 { 0 } else { counters[level] };
            items.swap(other, level);
            visit(items);
            counters[level] += 1;
            level = 1;
        } else {
            counters[level] = 0;
            level += 1;
        }
    }
}

/// Fisher–Yates shuffle in place, positions m−1 down to 1.
fn shuffle(items: &mut [usize], rng: &mut ChaCha8Rng) {
    for position in (1..items.len()).rev() {
        items.swap(
            position,
            uniform_index_u32(rng, position as u32 + 1) as usize,
        );
    }
}

/// A uniform index in 0..n (n > 0) by Lemire's multiply-and-reject method on 32-bit words (the
/// 64-bit form is `bootstrap`'s; a permutation needs m − 1 draws, so half-width words matter).
fn uniform_index_u32(rng: &mut ChaCha8Rng, n: u32) -> u32 {
    let threshold = n.wrapping_neg() % n;
    loop {
        let product = u64::from(rng.next_u32()) * u64::from(n);
        if product as u32 >= threshold {
            return (product >> 32) as u32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{kendall_tau_b, pearson, spearman};

    fn sample(m: usize, levels: u32, seed: u64) -> Vec<(f64, f64)> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..m)
            .map(|_| {
                let x = f64::from(uniform_index_u32(&mut rng, levels));
                let y = 0.3 * x + f64::from(uniform_index_u32(&mut rng, levels));
                (x, y)
            })
            .collect()
    }

    #[test]
    fn observed_arrangement_gives_the_reported_statistics() {
        for (m, levels, seed) in [(6, 3, 1), (45, 10, 2), (45, 1000, 3), (150, 7, 4)] {
            let pairs = sample(m, levels, seed);
            let statistics = PermutableStatistics::new(&pairs);
            let mut counter = ConcordanceCounter::new(m);
            let got = statistics.evaluate(&statistics.observed_arrangement, &mut counter);
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-14;
            assert!(close(got.spearman, spearman(&pairs).unwrap().coefficient));
            assert_eq!(got.kendall, kendall_tau_b(&pairs).unwrap().coefficient);
            assert!(close(got.pearson, pearson(&pairs).unwrap().coefficient));
        }
    }

    #[test]
    fn shuffled_arrangements_give_the_statistics_of_the_permuted_pairs() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for (m, levels) in [(45, 6), (64, 1000), (65, 8), (200, 30)] {
            let pairs = sample(m, levels, m as u64);
            let statistics = PermutableStatistics::new(&pairs);
            let x: Vec<f64> = pairs.iter().map(|pair| pair.0).collect();
            let y: Vec<f64> = pairs.iter().map(|pair| pair.1).collect();
            let (x_order, y_order) = (sorted_order(&x), sorted_order(&y));
            let mut arrangement = statistics.observed_arrangement.clone();
            let mut counter = ConcordanceCounter::new(m);
            for _ in 0..20 {
                shuffle(&mut arrangement, &mut rng);
                let permuted: Vec<(f64, f64)> = arrangement
                    .iter()
                    .zip(&y_order)
                    .map(|(&k, &i)| (x[x_order[k]], y[i]))
                    .collect();
                let got = statistics.evaluate(&arrangement, &mut counter);
                let close = |a: f64, b: f64| (a - b).abs() <= 1e-13;
                assert!(close(
                    got.spearman,
                    spearman(&permuted).unwrap().coefficient
                ));
                assert_eq!(got.kendall, kendall_tau_b(&permuted).unwrap().coefficient);
                assert!(close(got.pearson, pearson(&permuted).unwrap().coefficient));
            }
        }
    }

    #[test]
    fn heaps_algorithm_visits_every_permutation_once() {
        let mut items = vec![0, 1, 2, 3, 4];
        let mut seen = std::collections::BTreeSet::new();
        for_each_permutation(&mut items, &mut |arrangement| {
            assert!(seen.insert(arrangement.to_vec()), "{arrangement:?} twice");
        });
        assert_eq!(seen.len(), 120);
    }

    #[test]
    fn exactness_follows_the_factorial() {
        let options = PermutationOptions::new(9_999, 0).unwrap();
        assert!(options.is_exact_for(7)); // 5040
        assert!(!options.is_exact_for(8)); // 40320
        assert!(!options.is_exact_for(45));
        assert!(PermutationOptions::new(40_320, 0).unwrap().is_exact_for(8));
    }

    #[test]
    fn options_are_validated() {
        assert_eq!(
            PermutationOptions::new(0, 1),
            Err(ResamplesOutOfRange {
                procedure: "permutation",
                max: 100_000,
                got: 0
            })
        );
        assert!(PermutationOptions::new(100_001, 1).is_err());
        let parsed: PermutationOptions = serde_json::from_str(r#"{"seed": 4}"#).unwrap();
        assert_eq!(parsed, PermutationOptions::new(9_999, 4).unwrap());
        assert!(serde_json::from_str::<PermutationOptions>(r#"{"resamples": 0}"#).is_err());
        assert!(serde_json::from_str::<PermutationOptions>(r#"{"seeds": 1}"#).is_err());
    }

    #[test]
    fn undefined_statistics_have_no_p_value() {
        let constant_x = [(1.0, 1.0), (1.0, 2.0), (1.0, 3.0), (1.0, 4.0)];
        let got = permutation_p_values(&constant_x, &PermutationOptions::default(), 0);
        assert_eq!(got.spearman, Err(Undefined::ConstantX));
        assert_eq!(got.kendall, Err(Undefined::ConstantX));
        assert_eq!(got.pearson, Err(Undefined::ConstantX));
    }
}
