//! A synthetic version of the paper's study (Ding, Denain & Steinhardt 2021): networks × layers
//! on a labelled dataset, with functionality scores that genuinely depend on what shapes the
//! representations, so that a good metric's distances rank-correlate with score differences —
//! positively, not perfectly.
//!
//! The dataset: n inputs described by K "world" factors F (variances decaying like 1/(j + 1)), a
//! latent label score s and a shortcut feature h, both independent standard Gaussians; the binary
//! label is s + τ·noise > 0.
//!
//! A pretrained network (one per pretraining seed) computes, at each layer l,
//! X = Φ_l R_l + λ_l s bᵀ_l + σ E: layer factors Φ_l start near the world factors and rotate
//! towards fresh ones layer after layer (deep layers differ more between seeds than shallow ones),
//! read out by R_l that drifts too; the label score enters along b_l with a strength λ_l that
//! peaks at a seed-dependent depth, which is what the linear probe measures.
//!
//! A finetuned network starts from a pretrained one and, more strongly in deeper layers, adds the
//! label score with weight ρ and the shortcut feature with weight 1 − ρ, where ρ is the model's
//! robustness (drawn around a pretraining-seed-dependent centre), plus seed-specific changes
//! unrelated to ρ. Its out-of-distribution and stress-test accuracies are noisy increasing
//! functions of ρ — the same parameter that moves its representations.
//!
//! Everything is drawn from ChaCha8 generators seeded from the study seed and the role of the
//! draw (world, pretraining seed, finetuning seed), so adding finetuned models leaves the
//! pretrained ones unchanged. Matrices are rounded to float32, the dtype the demo uploads, so that
//! probe accuracies computed here are those of the stored matrices.

use ndarray::{Array1, Array2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::probe::{ProbeError, ridge_probe_accuracy};
use super::{decaying_factors, gaussian, mix};
use crate::transform::{TransformError, pca_keep};

/// Label noise τ: caps probe accuracy near 0.9, as on real tasks.
const LABEL_NOISE: f64 = 0.35;
/// Correlation of the first layer's factors with the world factors.
const INPUT_FIDELITY: f64 = 0.9;
/// Rotation (radians) of factors, read-out and label direction from one layer to the next.
const LAYER_DRIFT: f64 = 0.45;
/// Per-entry noise σ.
const NOISE: f64 = 0.25;
/// Peak strength of the label score in a pretrained network.
const LABEL_STRENGTH: f64 = 0.9;
/// Relative standard deviation of the label strength from layer to layer around the bump.
const LABEL_JITTER: f64 = 0.2;
/// Width of the label-strength bump, in units of relative depth (0 = first layer, 1 = last).
const LABEL_WIDTH: f64 = 0.3;
/// Standard deviations of the robustness logit between pretraining seeds and between the
/// finetuning seeds of one pretrained network.
const ROBUSTNESS_SPREAD_PRETRAIN: f64 = 0.8;
const ROBUSTNESS_SPREAD_FINETUNE: f64 = 0.9;
/// Strength of finetuning at the last layer; it grows linearly with depth.
const FINETUNE_STRENGTH: f64 = 1.6;
/// Strength of the finetuning changes unrelated to robustness, relative to the ρ-driven ones.
const FINETUNE_IDIOSYNCRASY: f64 = 0.35;
/// Scale of a finetuned head's margin, and the noise on it.
const OUTPUT_SCALE: f64 = 3.0;
const OUTPUT_NOISE: f64 = 0.5;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StudyError {
    /// The minimum layers and finetuning seeds give every group of the four subtasks at least
    /// 3 pairs, the fewest a rank correlation is defined on.
    #[error(
        "a study needs n >= 8 rows, d >= 2 features, at least 3 layers, 2 pretraining seeds and \
         3 finetuning seeds (got n = {n}, d = {d}, {layers} layers, {pretrain_seeds} pretraining \
         and {finetune_seeds} finetuning seeds)"
    )]
    TooSmall {
        n: usize,
        d: usize,
        layers: usize,
        pretrain_seeds: usize,
        finetune_seeds: usize,
    },

    #[error(transparent)]
    Probe(#[from] ProbeError),

    #[error(transparent)]
    Transform(#[from] TransformError),
}

/// The size of a study.
#[derive(Clone, Debug, PartialEq)]
pub struct StudySpec {
    /// Inputs in the dataset (rows of every representation).
    pub n: usize,
    /// Features of every representation.
    pub d: usize,
    /// Layers per network.
    pub layers: usize,
    /// Pretrained networks, one per pretraining seed.
    pub pretrain_seeds: usize,
    /// Finetuned networks per pretrained one.
    pub finetune_seeds: usize,
    /// Principal-component counts of the deletion copies (subtask 2), each in 1..=d.
    pub pca_keep: Vec<usize>,
    pub seed: u64,
}

impl StudySpec {
    /// A study of the given size with deletion copies keeping d/2, d/4, ... down to 1 component.
    pub fn new(
        n: usize,
        d: usize,
        layers: usize,
        pretrain_seeds: usize,
        finetune_seeds: usize,
        seed: u64,
    ) -> StudySpec {
        let pca_keep = std::iter::successors(Some(d / 2), |&k| (k > 1).then_some(k / 2))
            .filter(|&k| k >= 1)
            .collect();
        StudySpec {
            n,
            d,
            layers,
            pretrain_seeds,
            finetune_seeds,
            pca_keep,
            seed,
        }
    }
}

/// The generated study: labels, pretrained networks and the networks finetuned from them.
#[derive(Clone, Debug)]
pub struct Study {
    pub labels: Vec<bool>,
    /// Indexed by pretraining seed.
    pub pretrained: Vec<Network>,
    /// `finetune_seeds` networks per pretraining seed, by pretraining then finetuning seed.
    pub finetuned: Vec<Network>,
}

#[derive(Clone, Debug)]
pub struct Network {
    pub pretrain_seed: usize,
    /// Present for finetuned networks.
    pub finetuning: Option<Finetuning>,
    /// Indexed by layer.
    pub layers: Vec<Layer>,
    /// A finetuned network's n x 2 logits on the dataset (negative, positive class): its head
    /// reads the label score with weight ρ and the shortcut with weight 1 − ρ; every value
    /// exactly representable in float32. None for a pretrained network, which has no head.
    pub outputs: Option<Array2<f64>>,
}

/// What finetuning gave a network, with its model-level functionality scores.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Finetuning {
    pub seed: usize,
    /// ρ in [0, 1]: how much the network relies on the label score rather than the shortcut.
    pub robustness: f64,
    /// Out-of-distribution accuracy (the paper's HANS), subtask 3's score.
    pub ood_acc: f64,
    /// Stress-test accuracy, subtask 4's score.
    pub stress_acc: f64,
}

#[derive(Clone, Debug)]
pub struct Layer {
    /// n x d, every value exactly representable in float32.
    pub activations: Array2<f64>,
    /// Ridge-probe accuracy of the label from these activations.
    pub probe_acc: f64,
    /// (k, probe accuracy of the top-k principal-component copy) for each k of
    /// `StudySpec::pca_keep`; computed for pretrained networks only, which subtask 2 uses.
    pub pca_probe_acc: Vec<(usize, f64)>,
}

/// The dataset's latent structure, shared by every network.
struct World {
    factors: Array2<f64>,
    label_score: Array1<f64>,
    shortcut: Array1<f64>,
}

/// Where finetuning writes the label score and the shortcut in one layer. Shared by every network
/// finetuned from the same pretrained one, so that those differ mainly through their robustness.
struct FinetuneDirections {
    label: Array1<f64>,
    shortcut: Array1<f64>,
}

impl Study {
    pub fn generate(spec: &StudySpec) -> Result<Study, StudyError> {
        if spec.n < 8
            || spec.d < 2
            || spec.layers < 3
            || spec.pretrain_seeds < 2
            || spec.finetune_seeds < 3
        {
            return Err(StudyError::TooSmall {
                n: spec.n,
                d: spec.d,
                layers: spec.layers,
                pretrain_seeds: spec.pretrain_seeds,
                finetune_seeds: spec.finetune_seeds,
            });
        }
        if let Some(&k) = spec.pca_keep.iter().find(|&&k| k == 0 || k > spec.d) {
            return Err(TransformError::KOutOfRange { k, d: spec.d }.into());
        }
        let rank = (spec.d / 2).max(1);
        let mut rng = rng_for(spec.seed, &[0]);
        let world = World {
            factors: decaying_factors(spec.n, rank, &mut rng),
            label_score: gaussian_vector(spec.n, &mut rng),
            shortcut: gaussian_vector(spec.n, &mut rng),
        };
        let labels: Vec<bool> = world
            .label_score
            .iter()
            .map(|&score| score + LABEL_NOISE * rng.sample::<f64, _>(StandardNormal) > 0.0)
            .collect();

        let mut pretrained = Vec::with_capacity(spec.pretrain_seeds);
        let mut finetuned = Vec::with_capacity(spec.pretrain_seeds * spec.finetune_seeds);
        for seed in 0..spec.pretrain_seeds {
            let mut rng = rng_for(spec.seed, &[1, seed as u64]);
            let activations = pretrained_layers(spec, &world, &mut rng);
            let robustness_logit =
                ROBUSTNESS_SPREAD_PRETRAIN * rng.sample::<f64, _>(StandardNormal);
            let directions: Vec<FinetuneDirections> = (0..spec.layers)
                .map(|_| FinetuneDirections {
                    label: unit_vector(spec.d, &mut rng),
                    shortcut: unit_vector(spec.d, &mut rng),
                })
                .collect();
            for finetune_seed in 0..spec.finetune_seeds {
                let mut rng = rng_for(spec.seed, &[2, seed as u64, finetune_seed as u64]);
                let robustness = logistic(
                    robustness_logit
                        + ROBUSTNESS_SPREAD_FINETUNE * rng.sample::<f64, _>(StandardNormal),
                );
                let layers = finetuned_layers(
                    spec,
                    &world,
                    &activations,
                    &directions,
                    robustness,
                    &mut rng,
                );
                // As on HANS: a network that relies on the shortcut alone is at chance (0.5).
                let finetuning = Finetuning {
                    seed: finetune_seed,
                    robustness,
                    ood_acc: 0.5 + 0.3 * robustness + 0.02 * rng.sample::<f64, _>(StandardNormal),
                    stress_acc: 0.55
                        + 0.25 * robustness
                        + 0.04 * rng.sample::<f64, _>(StandardNormal),
                };
                // Drawn last, so that the scores above do not depend on it.
                let outputs = finetuned_outputs(&world, robustness, &mut rng);
                finetuned.push(Network {
                    pretrain_seed: seed,
                    finetuning: Some(finetuning),
                    layers: probed(layers, &labels, &[])?,
                    outputs: Some(outputs),
                });
            }
            pretrained.push(Network {
                pretrain_seed: seed,
                finetuning: None,
                layers: probed(activations, &labels, &spec.pca_keep)?,
                outputs: None,
            });
        }
        Ok(Study {
            labels,
            pretrained,
            finetuned,
        })
    }
}

/// A finetuned network's logits: the head's margin z = OUTPUT_SCALE·(ρ s + (1 − ρ) h) + noise on
/// each input, split as (−z/2, z/2), so that networks of similar robustness disagree less.
fn finetuned_outputs(world: &World, robustness: f64, rng: &mut impl Rng) -> Array2<f64> {
    let n = world.label_score.len();
    let mut logits = Array2::zeros((n, 2));
    for (index, mut row) in logits.rows_mut().into_iter().enumerate() {
        let signal =
            robustness * world.label_score[index] + (1.0 - robustness) * world.shortcut[index];
        let margin = OUTPUT_SCALE * signal + OUTPUT_NOISE * rng.sample::<f64, _>(StandardNormal);
        row[0] = f64::from((-margin / 2.0) as f32);
        row[1] = f64::from((margin / 2.0) as f32);
    }
    logits
}

/// The layers of one pretrained network, before rounding.
fn pretrained_layers(spec: &StudySpec, world: &World, rng: &mut impl Rng) -> Vec<Array2<f64>> {
    let rank = world.factors.ncols();
    let keep = LAYER_DRIFT.cos();
    // The relative depth where the label is most decodable, and how decodable, vary by seed.
    let peak = 0.6 + 0.12 * rng.sample::<f64, _>(StandardNormal);
    let strength = LABEL_STRENGTH * (1.0 + 0.15 * rng.sample::<f64, _>(StandardNormal)).max(0.2);
    let mut factors = mix(
        &world.factors,
        &decaying_factors(spec.n, rank, rng),
        INPUT_FIDELITY,
    );
    let mut readout = gaussian(rank, spec.d, rng) / (rank as f64).sqrt();
    let mut direction = unit_vector(spec.d, rng);
    let last = (spec.layers - 1) as f64;
    let mut layers = Vec::with_capacity(spec.layers);
    for layer in 0..spec.layers {
        let depth = layer as f64 / last;
        // Some layers carry the label a little better or worse than their depth says.
        let jitter = (1.0 + LABEL_JITTER * rng.sample::<f64, _>(StandardNormal)).max(0.0);
        let label_strength =
            strength * jitter * (-(depth - peak).powi(2) / (2.0 * LABEL_WIDTH * LABEL_WIDTH)).exp();
        let label = outer(&world.label_score, &direction) * label_strength;
        let noise = gaussian(spec.n, spec.d, rng) * NOISE;
        layers.push(factors.dot(&readout) + label + noise);
        factors = mix(&factors, &decaying_factors(spec.n, rank, rng), keep);
        readout = mix(
            &readout,
            &(gaussian(rank, spec.d, rng) / (rank as f64).sqrt()),
            keep,
        );
        direction = renormalised(
            &mix_vector(&direction, &unit_vector(spec.d, rng), keep),
            spec.d,
        );
    }
    layers
}

/// A finetuned copy of `pretrained`: label score with weight ρ, shortcut with weight 1 − ρ, and
/// seed-specific low-rank changes, all growing with depth.
fn finetuned_layers(
    spec: &StudySpec,
    world: &World,
    pretrained: &[Array2<f64>],
    directions: &[FinetuneDirections],
    robustness: f64,
    rng: &mut impl Rng,
) -> Vec<Array2<f64>> {
    let idiosyncratic_rank = (spec.d / 8).max(1);
    pretrained
        .iter()
        .zip(directions)
        .enumerate()
        .map(|(layer, (base, direction))| {
            let strength = FINETUNE_STRENGTH * (layer + 1) as f64 / spec.layers as f64;
            let label = outer(&world.label_score, &direction.label) * (strength * robustness);
            let shortcut =
                outer(&world.shortcut, &direction.shortcut) * (strength * (1.0 - robustness));
            let idiosyncratic = decaying_factors(spec.n, idiosyncratic_rank, rng).dot(
                &(gaussian(idiosyncratic_rank, spec.d, rng)
                    * (strength * FINETUNE_IDIOSYNCRASY / (idiosyncratic_rank as f64).sqrt())),
            );
            base + &label + &shortcut + &idiosyncratic
        })
        .collect()
}

/// Rounds to float32 and scores each layer with the probe, and its deletion copies for `keep`.
fn probed(
    activations: Vec<Array2<f64>>,
    labels: &[bool],
    keep: &[usize],
) -> Result<Vec<Layer>, StudyError> {
    activations
        .into_iter()
        .map(|raw| {
            let activations = raw.mapv(|value| f64::from(value as f32));
            let probe_acc = ridge_probe_accuracy(activations.view(), labels)?;
            let copies = pca_keep(&activations, keep)?;
            let pca_probe_acc = keep
                .iter()
                .zip(&copies)
                .map(|(&k, copy)| Ok((k, ridge_probe_accuracy(copy.view(), labels)?)))
                .collect::<Result<_, ProbeError>>()?;
            Ok(Layer {
                activations,
                probe_acc,
                pca_probe_acc,
            })
        })
        .collect()
}

/// A generator for one role of the study: `path` says which (world, pretraining seed, ...).
fn rng_for(seed: u64, path: &[u64]) -> ChaCha8Rng {
    let mixed = path.iter().fold(splitmix(seed), |state, &part| {
        splitmix(state ^ splitmix(part.wrapping_add(0x5851_F42D_4C95_7F2D)))
    });
    ChaCha8Rng::seed_from_u64(mixed)
}

/// SplitMix64's finaliser: distinct inputs give unrelated outputs.
fn splitmix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn logistic(value: f64) -> f64 {
    1.0 / (1.0 + (-value).exp())
}

fn gaussian_vector(n: usize, rng: &mut impl Rng) -> Array1<f64> {
    Array1::from_shape_simple_fn(n, || rng.sample(StandardNormal))
}

/// A random direction of norm 1.
fn unit_vector(d: usize, rng: &mut impl Rng) -> Array1<f64> {
    renormalised(&gaussian_vector(d, rng), d)
}

fn renormalised(vector: &Array1<f64>, d: usize) -> Array1<f64> {
    let norm = vector.dot(vector).sqrt();
    if norm > 0.0 {
        vector / norm
    } else {
        Array1::from_elem(d, 1.0 / (d as f64).sqrt())
    }
}

fn outer(column: &Array1<f64>, row: &Array1<f64>) -> Array2<f64> {
    column
        .view()
        .insert_axis(Axis(1))
        .dot(&row.view().insert_axis(Axis(0)))
}

fn mix_vector(a: &Array1<f64>, b: &Array1<f64>, c: f64) -> Array1<f64> {
    a * c + b * (1.0 - c * c).max(0.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(seed: u64) -> StudySpec {
        StudySpec::new(120, 16, 4, 3, 4, seed)
    }

    fn all_networks(study: &Study) -> impl Iterator<Item = &Network> {
        study.pretrained.iter().chain(&study.finetuned)
    }

    fn spread(values: impl Iterator<Item = f64>) -> f64 {
        let values: Vec<f64> = values.collect();
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        max - min
    }

    #[test]
    fn deletion_copies_halve_down_to_one_component() {
        assert_eq!(
            StudySpec::new(600, 64, 6, 6, 12, 0).pca_keep,
            [32, 16, 8, 4, 2, 1]
        );
        assert_eq!(StudySpec::new(600, 3, 6, 6, 12, 0).pca_keep, [1]);
    }

    #[test]
    fn finetuned_heads_are_more_accurate_the_more_robust_and_pretrained_ones_have_none() {
        let spec = StudySpec::new(400, 16, 3, 3, 6, 2);
        let study = Study::generate(&spec).expect("a study");
        assert!(
            study
                .pretrained
                .iter()
                .all(|network| network.outputs.is_none())
        );
        let accuracy = |network: &Network| {
            let logits = network.outputs.as_ref().expect("a finetuned head");
            assert_eq!(logits.dim(), (spec.n, 2));
            assert!(
                logits
                    .iter()
                    .all(|value| f64::from(*value as f32) == *value)
            );
            let correct = logits
                .rows()
                .into_iter()
                .zip(&study.labels)
                .filter(|(row, label)| (row[1] > row[0]) == **label)
                .count();
            correct as f64 / spec.n as f64
        };
        let robustness = |network: &Network| network.finetuning.expect("finetuned").robustness;
        let by_robustness = |a: &&Network, b: &&Network| robustness(a).total_cmp(&robustness(b));
        let least = study.finetuned.iter().min_by(by_robustness).unwrap();
        let most = study.finetuned.iter().max_by(by_robustness).unwrap();
        assert!(
            accuracy(most) > accuracy(least) + 0.1,
            "ρ {:.2} → {:.3}, ρ {:.2} → {:.3}",
            robustness(most),
            accuracy(most),
            robustness(least),
            accuracy(least)
        );
    }

    #[test]
    fn shapes_follow_the_spec() {
        let spec = small(1);
        let study = Study::generate(&spec).expect("a study");
        assert_eq!(study.labels.len(), spec.n);
        assert_eq!(study.pretrained.len(), 3);
        assert_eq!(study.finetuned.len(), 3 * 4);
        for network in all_networks(&study) {
            assert_eq!(network.layers.len(), spec.layers);
            for layer in &network.layers {
                assert_eq!(layer.activations.dim(), (spec.n, spec.d));
            }
        }
        for network in &study.pretrained {
            assert!(network.finetuning.is_none());
            for layer in &network.layers {
                let ks: Vec<usize> = layer.pca_probe_acc.iter().map(|&(k, _)| k).collect();
                assert_eq!(ks, spec.pca_keep);
            }
        }
        let finetunings: Vec<(usize, usize)> = study
            .finetuned
            .iter()
            .map(|network| {
                let finetuning = network.finetuning.expect("finetuned");
                (network.pretrain_seed, finetuning.seed)
            })
            .collect();
        let expected: Vec<(usize, usize)> = (0..3)
            .flat_map(|pretrain| (0..4).map(move |finetune| (pretrain, finetune)))
            .collect();
        assert_eq!(finetunings, expected);
    }

    #[test]
    fn a_seed_determines_the_study() {
        let first = Study::generate(&small(7)).expect("a study");
        let again = Study::generate(&small(7)).expect("a study");
        let other = Study::generate(&small(8)).expect("a study");
        assert_eq!(first.labels, again.labels);
        for (a, b) in all_networks(&first).zip(all_networks(&again)) {
            assert_eq!(a.finetuning, b.finetuning);
            for (x, y) in a.layers.iter().zip(&b.layers) {
                assert_eq!(x.activations, y.activations);
                assert_eq!(x.probe_acc, y.probe_acc);
                assert_eq!(x.pca_probe_acc, y.pca_probe_acc);
            }
        }
        assert_ne!(
            first.pretrained[0].layers[0].activations,
            other.pretrained[0].layers[0].activations
        );
    }

    #[test]
    fn more_finetuning_seeds_leave_the_rest_unchanged() {
        let mut larger = small(3);
        larger.finetune_seeds = 6;
        let base = Study::generate(&small(3)).expect("a study");
        let grown = Study::generate(&larger).expect("a study");
        assert_eq!(base.labels, grown.labels);
        for (a, b) in base.pretrained.iter().zip(&grown.pretrained) {
            assert_eq!(a.layers[2].activations, b.layers[2].activations);
        }
        assert_eq!(
            base.finetuned[1].layers[3].activations,
            grown.finetuned[1].layers[3].activations
        );
    }

    #[test]
    fn activations_are_float32_values() {
        let study = Study::generate(&small(2)).expect("a study");
        for network in all_networks(&study) {
            for layer in &network.layers {
                assert!(
                    layer
                        .activations
                        .iter()
                        .all(|&value| f64::from(value as f32) == value)
                );
            }
        }
    }

    #[test]
    fn scores_vary_and_stay_in_range() {
        let study = Study::generate(&StudySpec::new(400, 32, 6, 4, 6, 5)).expect("a study");
        let probes = || {
            study
                .pretrained
                .iter()
                .flat_map(|network| network.layers.iter().map(|layer| layer.probe_acc))
        };
        assert!(probes().all(|accuracy| (0.0..=1.0).contains(&accuracy)));
        assert!(spread(probes()) > 0.1, "probe accuracies vary with depth");
        let deleted = study.pretrained.iter().flat_map(|network| {
            network
                .layers
                .iter()
                .flat_map(|layer| layer.pca_probe_acc.iter().map(|&(_, accuracy)| accuracy))
        });
        assert!(spread(deleted) > 0.2, "deleting components loses the label");
        let finetunings: Vec<Finetuning> = study
            .finetuned
            .iter()
            .filter_map(|network| network.finetuning)
            .collect();
        assert!(spread(finetunings.iter().map(|f| f.robustness)) > 0.3);
        assert!(spread(finetunings.iter().map(|f| f.ood_acc)) > 0.1);
        assert!(spread(finetunings.iter().map(|f| f.stress_acc)) > 0.1);
    }

    #[test]
    fn ood_accuracy_follows_robustness() {
        let study = Study::generate(&StudySpec::new(40, 8, 3, 6, 8, 11)).expect("a study");
        let pairs: Vec<(f64, f64)> = study
            .finetuned
            .iter()
            .filter_map(|network| network.finetuning)
            .map(|finetuning| (finetuning.robustness, finetuning.ood_acc))
            .collect();
        let rho = crate::stats::spearman(&pairs).expect("defined").coefficient;
        assert!(rho > 0.8, "spearman(robustness, ood_acc) = {rho}");
    }

    #[test]
    fn refuses_a_study_too_small_and_impossible_copies() {
        assert!(matches!(
            Study::generate(&StudySpec::new(120, 16, 2, 3, 4, 0)),
            Err(StudyError::TooSmall { layers: 2, .. })
        ));
        let mut spec = small(0);
        spec.pca_keep = vec![4, 17];
        assert_eq!(
            Study::generate(&spec).err(),
            Some(StudyError::Transform(TransformError::KOutOfRange {
                k: 17,
                d: 16
            }))
        );
    }
}
