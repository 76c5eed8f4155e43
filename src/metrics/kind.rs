//! The metric kinds: names, parameters, symmetry, cost class, a one-line definition and the
//! memory each needs (README, Measures).

use super::id::{CostClass, MemoryOrder, Metric, ParamRange, ParamSpec};
use super::nclass::Measure;

/// The kinds [`super::nclass`] computes, the N-class measures of docs/MEASURES.md, as one
/// pattern for every match that leaves them to it.
macro_rules! n_class_measure {
    () => {
        $crate::metrics::MetricKind::DistanceCorrelation
            | $crate::metrics::MetricKind::JaccardKnn
            | $crate::metrics::MetricKind::RankSimilarity
            | $crate::metrics::MetricKind::SecondOrderCosine
            | $crate::metrics::MetricKind::RsmNormDiff
            | $crate::metrics::MetricKind::UniformityDiff
            | $crate::metrics::MetricKind::Cknna
            | $crate::metrics::MetricKind::RbfCka
    };
}
pub(super) use n_class_measure;

/// A metric without its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MetricKind {
    Cka,
    CkaDebiased,
    CcaMean,
    CcaMeanSq,
    Pwcca,
    Svcca,
    Procrustes,
    ProcrustesAngular,
    Rsa,
    MutualKnn,
    HardCorrMatch,
    SoftCorrMatch,
    EigenspaceOverlap,
    Gulp,
    LinearRegression,
    AlignedCosine,
    ProcrustesSizeShape,
    PermutationProcrustes,
    MagnitudeDiff,
    ConcentricityDiff,
    DistanceCorrelation,
    JaccardKnn,
    RankSimilarity,
    SecondOrderCosine,
    RsmNormDiff,
    UniformityDiff,
    Cknna,
    RbfCka,
}

/// The list of a kind that takes one parameter.
const fn one_param(name: &'static str, default: f64, range: ParamRange) -> [ParamSpec; 1] {
    [ParamSpec {
        name,
        default,
        range,
    }]
}

const GULP_PARAMS: [ParamSpec; 1] = one_param("lambda", 0.0, ParamRange::NonNegative);

/// The neighbours k of the kNN-list measures (docs/MEASURES.md, Measures).
const NEIGHBOURHOOD_PARAMS: [ParamSpec; 1] = one_param("k", 10.0, ParamRange::Count);

const UNIFORMITY_PARAMS: [ParamSpec; 1] = one_param("t", 2.0, ParamRange::Positive);

const RBF_CKA_PARAMS: [ParamSpec; 1] = one_param("sigma_frac", 1.0, ParamRange::Positive);

impl MetricKind {
    /// Every kind, in the order of README's Measures tables (and of `Ord`).
    pub const ALL: [MetricKind; 28] = [
        MetricKind::Cka,
        MetricKind::CkaDebiased,
        MetricKind::CcaMean,
        MetricKind::CcaMeanSq,
        MetricKind::Pwcca,
        MetricKind::Svcca,
        MetricKind::Procrustes,
        MetricKind::ProcrustesAngular,
        MetricKind::Rsa,
        MetricKind::MutualKnn,
        MetricKind::HardCorrMatch,
        MetricKind::SoftCorrMatch,
        MetricKind::EigenspaceOverlap,
        MetricKind::Gulp,
        MetricKind::LinearRegression,
        MetricKind::AlignedCosine,
        MetricKind::ProcrustesSizeShape,
        MetricKind::PermutationProcrustes,
        MetricKind::MagnitudeDiff,
        MetricKind::ConcentricityDiff,
        MetricKind::DistanceCorrelation,
        MetricKind::JaccardKnn,
        MetricKind::RankSimilarity,
        MetricKind::SecondOrderCosine,
        MetricKind::RsmNormDiff,
        MetricKind::UniformityDiff,
        MetricKind::Cknna,
        MetricKind::RbfCka,
    ];

    /// The name in the API, the database and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            MetricKind::Cka => "cka",
            MetricKind::CkaDebiased => "cka_debiased",
            MetricKind::CcaMean => "cca_mean",
            MetricKind::CcaMeanSq => "cca_mean_sq",
            MetricKind::Pwcca => "pwcca",
            MetricKind::Svcca => "svcca",
            MetricKind::Procrustes => "procrustes",
            MetricKind::ProcrustesAngular => "procrustes_angular",
            MetricKind::Rsa => "rsa",
            MetricKind::MutualKnn => "mutual_knn",
            MetricKind::HardCorrMatch => "hard_corr_match",
            MetricKind::SoftCorrMatch => "soft_corr_match",
            MetricKind::EigenspaceOverlap => "eigenspace_overlap",
            MetricKind::Gulp => "gulp",
            MetricKind::LinearRegression => "linear_regression",
            MetricKind::AlignedCosine => "aligned_cosine",
            MetricKind::ProcrustesSizeShape => "procrustes_size_shape",
            MetricKind::PermutationProcrustes => "permutation_procrustes",
            MetricKind::MagnitudeDiff => "magnitude_diff",
            MetricKind::ConcentricityDiff => "concentricity_diff",
            MetricKind::DistanceCorrelation => "distance_correlation",
            MetricKind::JaccardKnn => "jaccard_knn",
            MetricKind::RankSimilarity => "rank_similarity",
            MetricKind::SecondOrderCosine => "second_order_cosine",
            MetricKind::RsmNormDiff => "rsm_norm_diff",
            MetricKind::UniformityDiff => "uniformity_diff",
            MetricKind::Cknna => "cknna",
            MetricKind::RbfCka => "rbf_cka",
        }
    }

    /// The parameters the kind takes, with their defaults and ranges.
    pub const fn params(self) -> &'static [ParamSpec] {
        match self {
            MetricKind::Gulp => &GULP_PARAMS,
            MetricKind::JaccardKnn
            | MetricKind::RankSimilarity
            | MetricKind::SecondOrderCosine
            | MetricKind::Cknna => &NEIGHBOURHOOD_PARAMS,
            MetricKind::UniformityDiff => &UNIFORMITY_PARAMS,
            MetricKind::RbfCka => &RBF_CKA_PARAMS,
            _ => &[],
        }
    }

    /// Whether d(X, Y) = d(Y, X) for every input.
    pub const fn is_symmetric(self) -> bool {
        !matches!(
            self,
            MetricKind::Pwcca | MetricKind::LinearRegression | MetricKind::Cknna
        )
    }

    pub const fn cost_class(self) -> CostClass {
        match self {
            MetricKind::Rsa | MetricKind::MutualKnn | n_class_measure!() => {
                CostClass::Neighbourhood
            }
            MetricKind::MagnitudeDiff | MetricKind::ConcentricityDiff => CostClass::Rows,
            _ => CostClass::Gram,
        }
    }

    /// What dominates the kind's memory for n > d ([`Metric::memory_bytes`] gives the bytes).
    pub const fn memory_order(self) -> MemoryOrder {
        match self {
            MetricKind::Rsa
            | MetricKind::DistanceCorrelation
            | MetricKind::RsmNormDiff
            | MetricKind::UniformityDiff
            | MetricKind::RbfCka => MemoryOrder::RowsSquared,
            MetricKind::MutualKnn
            | MetricKind::AlignedCosine
            | MetricKind::JaccardKnn
            | MetricKind::RankSimilarity
            | MetricKind::SecondOrderCosine
            | MetricKind::Cknna => MemoryOrder::Rows,
            _ => MemoryOrder::Features,
        }
    }

    /// One line saying what the kind computes (README, Measures, has the full definitions).
    pub const fn definition(self) -> &'static str {
        match self {
            MetricKind::Cka => "1 - linear CKA of the centred representations",
            MetricKind::CkaDebiased => "1 - CKA with the unbiased HSIC estimator",
            MetricKind::CcaMean => "1 - mean canonical correlation",
            MetricKind::CcaMeanSq => "1 - mean squared canonical correlation",
            MetricKind::Pwcca => "1 - projection-weighted mean canonical correlation (X weighs)",
            MetricKind::Svcca => "cca_mean of the reductions keeping 99% of each variance",
            MetricKind::Procrustes => "orthogonal Procrustes distance of the normalised matrices",
            MetricKind::ProcrustesAngular => "arccos of the Procrustes nuclear norm",
            MetricKind::Rsa => "1 - Spearman correlation of the two correlation-distance RDMs",
            MetricKind::MutualKnn => "1 - mean overlap of the 10-nearest-neighbour lists",
            MetricKind::HardCorrMatch => {
                "1 - mean Pearson correlation of columns under the best one-to-one matching"
            }
            MetricKind::SoftCorrMatch => {
                "1 - mean best Pearson correlation of each column with the other side's"
            }
            MetricKind::EigenspaceOverlap => "1 - overlap of the column spaces of the raw matrices",
            MetricKind::Gulp => "GULP distance of ridge-regularised linear predictors (lambda)",
            MetricKind::LinearRegression => {
                "1 - share of X's centred variance a linear map of Y explains"
            }
            MetricKind::AlignedCosine => {
                "1 - mean cosine of matching rows after the Procrustes rotation of raw X"
            }
            MetricKind::ProcrustesSizeShape => {
                "Procrustes distance of the centred, unscaled matrices"
            }
            MetricKind::PermutationProcrustes => {
                "Procrustes distance under the best permutation of raw columns"
            }
            MetricKind::MagnitudeDiff => "difference of the norms of the mean rows",
            MetricKind::ConcentricityDiff => {
                "difference of the mean cosines of rows with their mean row"
            }
            MetricKind::DistanceCorrelation => {
                "1 - distance correlation of the Euclidean distances between raw rows"
            }
            MetricKind::JaccardKnn => "1 - mean Jaccard index of the k-nearest-neighbour lists (k)",
            MetricKind::RankSimilarity => {
                "1 - mean rank-weighted overlap of the k-nearest-neighbour lists (k)"
            }
            MetricKind::SecondOrderCosine => {
                "1 - mean cosine of the cosine-distance profiles over both kNN lists (k)"
            }
            MetricKind::RsmNormDiff => "spectral norm of the difference of the distance matrices",
            MetricKind::UniformityDiff => {
                "difference of the log mean Gaussian potentials of all pairs of rows (t)"
            }
            MetricKind::Cknna => {
                "1 - CKA of the cosine kernels restricted to mutual k nearest neighbours (k; X first)"
            }
            MetricKind::RbfCka => "1 - CKA of RBF kernels, sigma a fraction of the median distance",
        }
    }

    /// Bytes the kind allocates at its default parameters for one pair of n x d1 and n x d2
    /// representations (see [`Metric::memory_bytes`]).
    pub fn memory_bytes(self, n: usize, d1: usize, d2: usize) -> u64 {
        Metric::of(self).memory_bytes(n, d1, d2)
    }
}

impl Metric {
    /// The ten metrics of the paper's code (README, Measures: "The paper's ten").
    pub const PAPER: [Metric; 10] = [
        Metric::of(MetricKind::Cka),
        Metric::of(MetricKind::CkaDebiased),
        Metric::of(MetricKind::CcaMean),
        Metric::of(MetricKind::CcaMeanSq),
        Metric::of(MetricKind::Pwcca),
        Metric::of(MetricKind::Svcca),
        Metric::of(MetricKind::Procrustes),
        Metric::of(MetricKind::ProcrustesAngular),
        Metric::of(MetricKind::Rsa),
        Metric::of(MetricKind::MutualKnn),
    ];

    /// The three metrics the paper benchmarks.
    pub const PAPER_TRIO: [Metric; 3] = [
        Metric::of(MetricKind::Cka),
        Metric::of(MetricKind::Pwcca),
        Metric::of(MetricKind::Procrustes),
    ];

    /// Every kind at its default parameters.
    pub fn defaults() -> Vec<Metric> {
        MetricKind::ALL.into_iter().map(Metric::of).collect()
    }

    /// Bytes the metric allocates for one pair of n x d1 and n x d2 representations, the lazily
    /// prepared parts of both sides included and the eager ones ([`super::Prepared::eager_bytes`])
    /// not: known before anything is allocated (README, Measures: "Memory").
    pub fn memory_bytes(self, n: usize, d1: usize, d2: usize) -> u64 {
        if let Some(measure) = Measure::of(self) {
            return measure.memory_bytes(n, d1, d2);
        }
        let (n, d1, d2) = (n as u64, d1 as u64, d2 as u64);
        let wide = d1.max(d2);
        let cross = d1 * d2;
        let squares = d1 * d1 + d2 * d2;
        let words = match self.kind() {
            MetricKind::Cka
            | MetricKind::CkaDebiased
            | MetricKind::MagnitudeDiff
            | MetricKind::ConcentricityDiff => cross,
            // Spectra (W, S^(1/2), reduction and the eigendecomposition's copy) on each side; the
            // pair's whitened T, T Tᵀ and its eigenvectors.
            MetricKind::CcaMean | MetricKind::CcaMeanSq | MetricKind::Pwcca | MetricKind::Svcca => {
                5 * squares + 3 * cross + 2 * wide * wide
            }
            // M, its copy in dgesdd and the bidiagonal workspace.
            MetricKind::Procrustes
            | MetricKind::ProcrustesAngular
            | MetricKind::ProcrustesSizeShape => 3 * cross + 4 * wide * wide,
            // Per side: the sort buffer of n(n-1)/2 (value, position) pairs (two words) once at a
            // time, the i32 ranks kept (half a word each), the standardised rows; and a strip.
            MetricKind::Rsa => {
                let pairs = n * n.saturating_sub(1) / 2;
                2 * pairs + pairs + n * wide + 256 * n
            }
            // Per side: unit rows, a strip of similarities and the candidate lists.
            MetricKind::MutualKnn => {
                let k = super::NEIGHBOURS as u64;
                n * (d1 + d2) + 256 * n + 2 * k * n
            }
            MetricKind::HardCorrMatch | MetricKind::PermutationProcrustes => 3 * cross + 2 * wide,
            MetricKind::SoftCorrMatch => 2 * cross,
            // The eigendecompositions (vectors and a workspace copy) of both sides' Gram
            // matrices, and the rotated cross product with its intermediate.
            MetricKind::EigenspaceOverlap | MetricKind::Gulp | MetricKind::LinearRegression => {
                3 * squares + 3 * cross
            }
            // Unit rows on each side; the raw cross product, its SVD and the weighted product.
            MetricKind::AlignedCosine => n * (d1 + d2) + 6 * cross + 2 * wide * wide,
            n_class_measure!() => unreachable!("an N-class measure's cost is its Measure's"),
        };
        8 * words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order each kind declares is the one its byte count follows: doubling n leaves a
    /// d x d cost as it is, doubles a linear one and quadruples an n x n one.
    #[test]
    fn memory_orders_follow_the_byte_counts() {
        let (n, d) = (1_000_000, 50);
        for kind in MetricKind::ALL {
            let growth = kind.memory_bytes(2 * n, d, d) as f64 / kind.memory_bytes(n, d, d) as f64;
            let expected = match kind.memory_order() {
                MemoryOrder::Features => 1.0,
                MemoryOrder::Rows => 2.0,
                MemoryOrder::RowsSquared => 4.0,
            };
            assert!(
                (growth - expected).abs() < 0.05,
                "{}: doubling n multiplies its bytes by {growth}",
                kind.name()
            );
        }
    }
}
