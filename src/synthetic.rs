//! Seeded random activation matrices with structure, for benchmarks, demos and property tests.
//!
//! A representation is a low-rank signal plus isotropic noise: X = Z A + σ E, with Z (n x rank)
//! latent factors whose variances decay like 1/(j + 1) — as activation spectra do — A (rank x d)
//! a random linear read-out and E standard Gaussian noise. Two representations are related when
//! their latent factors are correlated. Results depend only on the arguments: the generator is
//! ChaCha8 seeded from `seed`.

use ndarray::{Array2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

pub mod probe;
pub mod study;

/// Shape and signal-to-noise of generated representations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignalSpec {
    /// Rows (examples).
    pub n: usize,
    /// Columns (features).
    pub d: usize,
    /// Number of latent factors.
    pub rank: usize,
    /// Standard deviation of the per-entry noise; the signal's entries have variance about
    /// Σ 1/(j + 1) / rank, a little over ln(rank)/rank.
    pub noise: f64,
}

impl SignalSpec {
    /// n x d with min(d, 64) latent factors and noise 0.1.
    pub fn new(n: usize, d: usize) -> SignalSpec {
        SignalSpec {
            n,
            d,
            rank: d.min(64),
            noise: 0.1,
        }
    }
}

/// Two representations of the same n inputs whose latent factors have correlation `relatedness`
/// (clamped to [0, 1]: 1 gives the same factors read out by different maps, 0 independent ones).
pub fn related_pair(spec: &SignalSpec, relatedness: f64, seed: u64) -> (Array2<f64>, Array2<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let shared = latent_factors(spec, &mut rng);
    let fresh = latent_factors(spec, &mut rng);
    let related = mix(&shared, &fresh, relatedness.clamp(0.0, 1.0));
    let x = read_out(spec, &shared, &mut rng);
    let y = read_out(spec, &related, &mut rng);
    (x, y)
}

/// Activations of `layers` successive layers of one network: from layer to layer, the latent
/// factors and the read-out each rotate by the angle `drift` (radians) towards fresh random ones,
/// so near layers are similar and far layers less so.
pub fn drifting_layers(
    spec: &SignalSpec,
    layers: usize,
    drift: f64,
    seed: u64,
) -> Vec<Array2<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let keep = drift.cos();
    let mut factors = latent_factors(spec, &mut rng);
    let mut readout = gaussian(spec.rank, spec.d, &mut rng) / (spec.rank as f64).sqrt();
    let mut activations = Vec::with_capacity(layers);
    for _ in 0..layers {
        let noise = gaussian(spec.n, spec.d, &mut rng) * spec.noise;
        activations.push(factors.dot(&readout) + noise);
        factors = mix(&factors, &latent_factors(spec, &mut rng), keep);
        let fresh_readout = gaussian(spec.rank, spec.d, &mut rng) / (spec.rank as f64).sqrt();
        readout = mix(&readout, &fresh_readout, keep);
    }
    activations
}

/// An n x d matrix of independent standard Gaussians.
pub fn gaussian(n: usize, d: usize, rng: &mut impl Rng) -> Array2<f64> {
    Array2::from_shape_simple_fn((n, d), || rng.sample(StandardNormal))
}

fn latent_factors(spec: &SignalSpec, rng: &mut impl Rng) -> Array2<f64> {
    decaying_factors(spec.n, spec.rank, rng)
}

/// n x rank Gaussian factors, column j with variance 1/(j + 1).
fn decaying_factors(n: usize, rank: usize, rng: &mut impl Rng) -> Array2<f64> {
    let mut factors = gaussian(n, rank, rng);
    for (index, mut column) in factors.axis_iter_mut(Axis(1)).enumerate() {
        column /= ((index + 1) as f64).sqrt();
    }
    factors
}

fn read_out(spec: &SignalSpec, factors: &Array2<f64>, rng: &mut impl Rng) -> Array2<f64> {
    let readout = gaussian(spec.rank, spec.d, rng) / (spec.rank as f64).sqrt();
    let noise = gaussian(spec.n, spec.d, rng) * spec.noise;
    factors.dot(&readout) + noise
}

/// c·a + sqrt(1 - c²)·b: keeps unit-variance entries at unit variance.
fn mix(a: &Array2<f64>, b: &Array2<f64>, c: f64) -> Array2<f64> {
    a * c + b * (1.0 - c * c).max(0.0).sqrt()
}
