//! Seeded percentile bootstrap of the benchmark value (DESIGN "Benchmark protocols": "a bootstrap
//! confidence interval (resampling pairs within groups, seeded, reproducible) goes beyond the
//! paper").

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize, Serializer};

use super::{ResamplesOutOfRange, Undefined, compare_values, mean_over_groups, spearman};

/// How to bootstrap: number of resamples, confidence level and seed. Always valid once built.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "BootstrapRequest")]
pub struct BootstrapOptions {
    resamples: usize,
    level: f64,
    seed: u64,
}

/// The user-facing form of [`BootstrapOptions`], every field optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BootstrapRequest {
    #[serde(default = "default_resamples")]
    resamples: usize,
    #[serde(default = "default_level")]
    level: f64,
    #[serde(default)]
    seed: u64,
}

fn default_resamples() -> usize {
    BootstrapOptions::DEFAULT_RESAMPLES
}

fn default_level() -> f64 {
    BootstrapOptions::DEFAULT_LEVEL
}

impl TryFrom<BootstrapRequest> for BootstrapOptions {
    type Error = BootstrapError;

    fn try_from(request: BootstrapRequest) -> Result<Self, Self::Error> {
        BootstrapOptions::new(request.resamples, request.level, request.seed)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum BootstrapError {
    #[error("bootstrap level must lie strictly between 0 and 1, got {0}")]
    LevelOutOfRange(f64),
    #[error(transparent)]
    Resamples(#[from] ResamplesOutOfRange),
}

impl BootstrapOptions {
    pub const DEFAULT_RESAMPLES: usize = 1000;
    pub const DEFAULT_LEVEL: f64 = 0.95;
    /// Cost grows with resamples × pairs; this keeps one benchmark's interval to seconds.
    pub const MAX_RESAMPLES: usize = 10_000;

    pub fn new(
        resamples: usize,
        level: f64,
        seed: u64,
    ) -> Result<BootstrapOptions, BootstrapError> {
        if !(level > 0.0 && level < 1.0) {
            return Err(BootstrapError::LevelOutOfRange(level));
        }
        let resamples = ResamplesOutOfRange::check("bootstrap", resamples, Self::MAX_RESAMPLES)?;
        Ok(BootstrapOptions {
            resamples,
            level,
            seed,
        })
    }

    pub fn resamples(&self) -> usize {
        self.resamples
    }

    pub fn level(&self) -> f64 {
        self.level
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        BootstrapOptions {
            resamples: Self::DEFAULT_RESAMPLES,
            level: Self::DEFAULT_LEVEL,
            seed: 0,
        }
    }
}

/// A confidence interval; serialises as `[lower, upper]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConfidenceInterval {
    pub lower: f64,
    pub upper: f64,
}

impl Serialize for ConfidenceInterval {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        [self.lower, self.upper].serialize(serializer)
    }
}

/// The benchmark value: the mean over groups of Spearman's ρ, over the groups where ρ is defined.
pub fn mean_spearman(groups: &[Vec<(f64, f64)>]) -> Result<f64, Undefined> {
    mean_over_groups(
        groups
            .iter()
            .map(|pairs| spearman(pairs).map(|rho| rho.coefficient)),
    )
}

/// Percentile bootstrap confidence interval of [`mean_spearman`], resampling pairs within groups.
///
/// The procedure, fixed so that a seed gives the same interval on every machine and release:
/// 1. The generator is `rand_chacha::ChaCha8Rng::seed_from_u64(seed)`.
/// 2. Each of the `resamples` draws takes the groups in the order given. A group of m > 0 pairs
///    gets m indices drawn independently and uniformly from 0..m, each from the generator's
///    `next_u64` by Lemire's multiply-and-reject method (64 × 64 → 128-bit product with n; draw
///    again while the low half is below 2⁶⁴ mod n; the index is the high half). The group's
///    resample is the pairs at those indices, in draw order. Groups without pairs draw nothing.
/// 3. The draw's statistic is [`mean_spearman`] of the resampled groups. A draw in which no group
///    has a defined ρ (every resampled group constant or too small) is discarded.
/// 4. With the k kept statistics sorted ascending as s₀ ≤ … ≤ s_{k−1}, the bound at probability
///    q is s_⌊h⌋ + (h − ⌊h⌋)(s_{⌊h⌋+1} − s_⌊h⌋) with h = (k − 1)q (numpy's default "linear"
///    percentile, Hyndman & Fan type 7); lower uses q = (1 − level)/2, upper q = (1 + level)/2.
///
/// Undefined when the point estimate is ([`Undefined::NoDefinedGroup`]) or every draw was
/// discarded ([`Undefined::NoDefinedResample`]).
pub fn mean_spearman_interval(
    groups: &[Vec<(f64, f64)>],
    options: &BootstrapOptions,
) -> Result<ConfidenceInterval, Undefined> {
    SharedResamples::new(groups.iter().map(Vec::len).collect(), *options)
        .mean_spearman_draws(groups)
        .expect("the resamples were drawn for these groups")
        .interval()
}

/// The bootstrap resamples of one benchmark, shared by all its metrics (README "Grounding tests",
/// metric against metric): the indices depend only on the seed and the group sizes, so metrics whose groups list
/// the same pairs in the same order see the same resampled pairs in every draw. The indices are
/// replayed from the seed for each metric rather than stored (R × pairs of them).
#[derive(Clone, Debug, PartialEq)]
pub struct SharedResamples {
    group_sizes: Vec<usize>,
    options: BootstrapOptions,
}

/// Groups that do not have the sizes the shared resamples were drawn for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResampleError {
    #[error("{got} groups where the shared resamples have {expected}")]
    GroupCount { expected: usize, got: usize },
    #[error("group {group} has {got} pairs where the shared resamples draw from {expected}")]
    GroupSize {
        group: usize,
        expected: usize,
        got: usize,
    },
    #[error("the two metrics were not bootstrapped on the same resamples")]
    DifferentResamples,
}

impl SharedResamples {
    pub fn new(group_sizes: Vec<usize>, options: BootstrapOptions) -> SharedResamples {
        SharedResamples {
            group_sizes,
            options,
        }
    }

    /// [`mean_spearman`] of the groups and of each draw (steps 1 to 3 of
    /// [`mean_spearman_interval`]), `None` for a discarded draw.
    pub fn mean_spearman_draws(
        &self,
        groups: &[Vec<(f64, f64)>],
    ) -> Result<BootstrapDraws, ResampleError> {
        if groups.len() != self.group_sizes.len() {
            return Err(ResampleError::GroupCount {
                expected: self.group_sizes.len(),
                got: groups.len(),
            });
        }
        if let Some((group, (pairs, &expected))) = groups
            .iter()
            .zip(&self.group_sizes)
            .enumerate()
            .find(|(_, (pairs, expected))| pairs.len() != **expected)
        {
            return Err(ResampleError::GroupSize {
                group,
                expected,
                got: pairs.len(),
            });
        }
        let estimate = mean_spearman(groups);
        let mut statistics = Vec::new();
        if estimate.is_ok() {
            statistics.reserve(self.options.resamples);
            let mut rng = ChaCha8Rng::seed_from_u64(self.options.seed);
            let mut resampled: Vec<Vec<(f64, f64)>> = groups
                .iter()
                .map(|pairs| Vec::with_capacity(pairs.len()))
                .collect();
            for _ in 0..self.options.resamples {
                for (pairs, resample) in groups.iter().zip(&mut resampled) {
                    resample.clear();
                    resample.extend(
                        (0..pairs.len()).map(|_| pairs[uniform_index(&mut rng, pairs.len())]),
                    );
                }
                statistics.push(mean_spearman(&resampled).ok());
            }
        }
        Ok(BootstrapDraws {
            resamples: self.clone(),
            estimate,
            statistics,
        })
    }
}

/// A benchmark value and its value in each shared bootstrap draw.
#[derive(Clone, Debug, PartialEq)]
pub struct BootstrapDraws {
    resamples: SharedResamples,
    estimate: Result<f64, Undefined>,
    statistics: Vec<Option<f64>>,
}

impl BootstrapDraws {
    pub fn estimate(&self) -> Result<f64, Undefined> {
        self.estimate
    }

    /// The percentile interval at the bootstrap's level (step 4 of [`mean_spearman_interval`]).
    pub fn interval(&self) -> Result<ConfidenceInterval, Undefined> {
        self.estimate?;
        let kept: Vec<f64> = self.statistics.iter().flatten().copied().collect();
        percentile_interval(kept, self.resamples.options.level)
    }
}

/// One metric against another on the same resamples (README "Grounding tests").
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricComparison {
    /// Δ = value(A) − value(B).
    pub difference: f64,
    /// Percentile interval of Δ* over the draws where both are defined, at the bootstrap's level
    /// (95 % by default: [2.5 %, 97.5 %]).
    pub interval: ConfidenceInterval,
    /// P(Δ* ≤ 0): the fraction of those draws where A does not beat B.
    pub probability_not_better: f64,
}

/// Compares metric A (`first`) with metric B (`second`): the outer error says they were not
/// bootstrapped together, the inner one why the comparison has no value (either estimate
/// undefined, or no draw where both are defined).
pub fn compare_metrics(
    first: &BootstrapDraws,
    second: &BootstrapDraws,
) -> Result<Result<MetricComparison, Undefined>, ResampleError> {
    if first.resamples != second.resamples {
        return Err(ResampleError::DifferentResamples);
    }
    Ok((|| {
        let difference = first.estimate? - second.estimate?;
        let differences: Vec<f64> = first
            .statistics
            .iter()
            .zip(&second.statistics)
            .filter_map(|(a, b)| Some((*a)? - (*b)?))
            .collect();
        let not_better = differences.iter().filter(|&&delta| delta <= 0.0).count();
        let probability_not_better = not_better as f64 / differences.len().max(1) as f64;
        let interval = percentile_interval(differences, first.resamples.options.level)?;
        Ok(MetricComparison {
            difference,
            interval,
            probability_not_better,
        })
    })())
}

/// The percentile interval at `level` of the kept draw statistics.
fn percentile_interval(mut kept: Vec<f64>, level: f64) -> Result<ConfidenceInterval, Undefined> {
    if kept.is_empty() {
        return Err(Undefined::NoDefinedResample);
    }
    kept.sort_by(|a, b| compare_values(*a, *b));
    Ok(ConfidenceInterval {
        lower: linear_percentile(&kept, (1.0 - level) / 2.0),
        upper: linear_percentile(&kept, (1.0 + level) / 2.0),
    })
}

/// A uniform index in 0..n (n > 0), by Lemire's multiply-and-reject method: unbiased, and fixed
/// here rather than borrowed from `rand`, whose range sampling may change between releases.
fn uniform_index(rng: &mut ChaCha8Rng, n: usize) -> usize {
    let n = n as u64;
    let threshold = n.wrapping_neg() % n;
    loop {
        let product = u128::from(rng.next_u64()) * u128::from(n);
        if product as u64 >= threshold {
            return (product >> 64) as usize;
        }
    }
}

/// numpy's default ("linear") percentile of ascending non-empty `sorted` at probability `q`.
fn linear_percentile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let below = h.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    sorted[below] + (h - below as f64) * (sorted[above] - sorted[below])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_groups() -> Vec<Vec<(f64, f64)>> {
        let group = |offset: f64| -> Vec<(f64, f64)> {
            (0..12)
                .map(|i| {
                    let i = f64::from(i);
                    (i, (i * 7.0 + offset) % 11.0 + 0.3 * i)
                })
                .collect()
        };
        vec![group(0.0), group(3.0), group(5.0)]
    }

    #[test]
    fn options_are_validated() {
        assert_eq!(
            BootstrapOptions::new(0, 0.95, 1),
            Err(BootstrapError::Resamples(ResamplesOutOfRange {
                procedure: "bootstrap",
                max: 10_000,
                got: 0
            }))
        );
        assert_eq!(
            BootstrapOptions::new(10, 1.0, 1),
            Err(BootstrapError::LevelOutOfRange(1.0))
        );
        assert!(BootstrapOptions::new(10, f64::NAN, 1).is_err());
        let parsed: BootstrapOptions = serde_json::from_str(r#"{"seed": 9}"#).unwrap();
        assert_eq!(parsed, BootstrapOptions::new(1000, 0.95, 9).unwrap());
        assert!(serde_json::from_str::<BootstrapOptions>(r#"{"level": 2}"#).is_err());
        assert!(serde_json::from_str::<BootstrapOptions>(r#"{"resample": 5}"#).is_err());
    }

    #[test]
    fn percentile_interpolates_like_numpy() {
        // numpy.percentile([1, 2, 4, 8], [2.5, 50, 97.5]) → [1.075, 3.0, 7.7]
        let sorted = [1.0, 2.0, 4.0, 8.0];
        assert!((linear_percentile(&sorted, 0.025) - 1.075).abs() < 1e-12);
        assert!((linear_percentile(&sorted, 0.5) - 3.0).abs() < 1e-12);
        assert!((linear_percentile(&sorted, 0.975) - 7.7).abs() < 1e-12);
        assert_eq!(linear_percentile(&[5.0], 0.975), 5.0);
    }

    #[test]
    fn uniform_index_stays_in_range_and_covers_it() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut seen = [0usize; 7];
        for _ in 0..7000 {
            seen[uniform_index(&mut rng, 7)] += 1;
        }
        assert!(
            seen.iter().all(|&count| (800..1200).contains(&count)),
            "{seen:?}"
        );
    }

    #[test]
    fn same_seed_same_interval_and_it_brackets_the_estimate() {
        let groups = sample_groups();
        let options = BootstrapOptions::new(500, 0.95, 42).unwrap();
        let first = mean_spearman_interval(&groups, &options).unwrap();
        let again = mean_spearman_interval(&groups, &options).unwrap();
        assert_eq!(first, again);
        let estimate = mean_spearman(&groups).unwrap();
        assert!(
            first.lower < estimate && estimate < first.upper,
            "{first:?} vs {estimate}"
        );
        let other_seed = BootstrapOptions::new(500, 0.95, 43).unwrap();
        assert_ne!(mean_spearman_interval(&groups, &other_seed).unwrap(), first);
        let narrower = BootstrapOptions::new(500, 0.5, 42).unwrap();
        let narrow = mean_spearman_interval(&groups, &narrower).unwrap();
        assert!(first.lower <= narrow.lower && narrow.upper <= first.upper);
    }

    #[test]
    fn interval_for_a_seed_never_changes() {
        // Pinned from this implementation when the procedure was written down. A change here
        // means the documented procedure changed, and published intervals could no longer be
        // reproduced from their seeds.
        let options = BootstrapOptions::new(1000, 0.95, 2021).unwrap();
        let interval = mean_spearman_interval(&sample_groups(), &options).unwrap();
        assert_eq!(interval.lower, -0.37585211529563706);
        assert_eq!(interval.upper, 0.3312580317500577);
    }

    #[test]
    fn metrics_share_resamples() {
        let groups = sample_groups();
        let options = BootstrapOptions::new(400, 0.95, 5).unwrap();
        let shared = SharedResamples::new(groups.iter().map(Vec::len).collect(), options);
        let noisier: Vec<Vec<(f64, f64)>> = groups
            .iter()
            .map(|pairs| {
                let pairs = pairs.iter().enumerate();
                pairs
                    .map(|(i, &(x, y))| (x + (i % 3) as f64 * 4.0, y))
                    .collect()
            })
            .collect();
        let first = shared.mean_spearman_draws(&groups).unwrap();
        let second = shared.mean_spearman_draws(&noisier).unwrap();
        assert_eq!(first.interval(), mean_spearman_interval(&groups, &options));

        let against_itself = compare_metrics(&first, &first).unwrap().unwrap();
        assert_eq!(against_itself.difference, 0.0);
        assert_eq!(
            against_itself.interval,
            ConfidenceInterval {
                lower: 0.0,
                upper: 0.0
            }
        );
        assert_eq!(against_itself.probability_not_better, 1.0);

        let comparison = compare_metrics(&first, &second).unwrap().unwrap();
        let want = first.estimate().unwrap() - second.estimate().unwrap();
        assert_eq!(comparison.difference, want);
        assert!(comparison.interval.lower <= want && want <= comparison.interval.upper);
        let reversed = compare_metrics(&second, &first).unwrap().unwrap();
        assert_eq!(reversed.interval.lower, -comparison.interval.upper);
        assert!((0.0..=1.0).contains(&comparison.probability_not_better));

        let other = SharedResamples::new(
            groups.iter().map(Vec::len).collect(),
            BootstrapOptions::default(),
        );
        let elsewhere = other.mean_spearman_draws(&groups).unwrap();
        assert_eq!(
            compare_metrics(&first, &elsewhere),
            Err(ResampleError::DifferentResamples)
        );
        assert_eq!(
            shared.mean_spearman_draws(&groups[..2]),
            Err(ResampleError::GroupCount {
                expected: 3,
                got: 2
            })
        );
    }

    #[test]
    fn undefined_estimate_has_no_interval() {
        let constant = vec![vec![(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]];
        assert_eq!(
            mean_spearman_interval(&constant, &BootstrapOptions::default()),
            Err(Undefined::NoDefinedGroup)
        );
    }
}
