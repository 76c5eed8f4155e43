//! Why a metric gave no value for a pair.

use super::Metric;

/// Why a metric gave no value. [`MetricError::is_refusal`] separates a metric declining an input
/// it is not defined for (a normal outcome, recorded per pair) from invalid input and numerical
/// failures.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum MetricError {
    #[error(
        "{metric} needs more examples than features (n > d) in both representations, but n = {n} \
         examples and d = {d} features: the feature covariance is singular, so canonical \
         correlations are all 1 whatever the data; use cka or procrustes, which work for any n, \
         or supply more than {d} examples"
    )]
    TooFewExamples { metric: Metric, n: usize, d: usize },

    #[error(
        "the representation has zero variance: each of its {d} columns is constant over the \
         {n} rows, so there is nothing to compare"
    )]
    ZeroVariance { n: usize, d: usize },

    #[error("the representation is empty ({n} rows x {d} columns)")]
    Empty { n: usize, d: usize },

    #[error(
        "the representation holds a non-finite value (NaN or infinity) at row {row}, column {column}"
    )]
    NonFinite { row: usize, column: usize },

    #[error(
        "the two representations have different row counts ({x_rows} and {y_rows}); both must \
         hold the same inputs in the same order"
    )]
    RowCountMismatch { x_rows: usize, y_rows: usize },

    #[error(
        "rsa needs at least 3 columns, got {d}: with fewer, every correlation between two rows \
         is +1 or -1"
    )]
    RsaTooFewColumns { d: usize },

    #[error(
        "rsa needs rows that vary: row {row} is constant, so its correlation with other rows is undefined"
    )]
    RsaConstantRow { row: usize },

    #[error(
        "rsa is undefined here: all n(n-1)/2 dissimilarities between rows are equal, so their \
         ranks carry no information"
    )]
    RsaConstantDissimilarities,

    #[error(
        "rsa ranks the n(n-1)/2 dissimilarities between rows and supports at most {max} rows, \
         got n = {n}"
    )]
    RsaTooManyExamples { n: usize, max: usize },

    #[error("mutual_knn needs more examples than neighbours (n > k), got n = {n} and k = {k}")]
    TooFewExamplesForNeighbours { n: usize, k: usize },

    #[error("cka_debiased needs at least 4 examples, got n = {n}")]
    DebiasedTooFewExamples { n: usize },

    #[error(
        "cka_debiased is undefined here: the unbiased HSIC estimate of a representation with \
         itself is not positive (too few examples for the debiased estimator, n = {n})"
    )]
    DebiasedNotPositive { n: usize },

    #[error(
        "{metric} would need {cost} bytes for a pair of {n} examples with {d1} and {d2} \
         features, over the limit of {limit} bytes (SIMBENCH_MEASURE_MEMORY_BYTES); raise the \
         limit or compare fewer examples"
    )]
    OverMemoryBudget {
        metric: Metric,
        n: usize,
        d1: usize,
        d2: usize,
        cost: u64,
        limit: u64,
    },

    #[error(
        "preparing a representation of {n} examples x {d} features would need {cost} bytes, \
         over the limit of {limit} bytes (SIMBENCH_MEASURE_MEMORY_BYTES)"
    )]
    PreparationOverMemoryBudget {
        n: usize,
        d: usize,
        cost: u64,
        limit: u64,
    },

    #[error(
        "concentricity_diff is undefined here: the mean row has norm {mean_norm:e}, within \
         rounding noise of zero (<= n·ε·max‖xᵢ‖ = {threshold:e}), so its direction is arbitrary"
    )]
    ConcentricityUndefined { mean_norm: f64, threshold: f64 },

    #[error(
        "aligned_cosine is undefined here: no row is non-zero in both representations, so there \
         is no cosine to average"
    )]
    AlignedCosineNoRows,

    #[error("LAPACK routine {routine} failed (info = {info})")]
    LinearAlgebra { routine: &'static str, info: i32 },

    #[error("a dimension of {dim} is too large for the 32-bit LAPACK/BLAS interface ({routine})")]
    TooLargeForLapack { routine: &'static str, dim: usize },

    #[error(
        "{k} nearest neighbours per row need at least k + 1 = {} rows, got n = {n}; ask for \
         k <= {} or supply more rows",
        k + 1,
        n.saturating_sub(1)
    )]
    TooFewRowsForNeighbours { n: usize, k: usize },

    #[error(
        "row {row} is all zeros: its cosine similarity to any other row is undefined, so it has \
         no nearest neighbours"
    )]
    ZeroRow { row: usize },

    #[error(
        "second_order_cosine is undefined at row {row}: its cosine distances to the neighbours of \
         both lists are all 0 in the {side} representation, so their direction is undefined"
    )]
    ZeroDissimilarityProfile { row: usize, side: &'static str },

    #[error("cknna needs at least 4 examples for its unbiased HSIC, got n = {n}")]
    CknnaTooFewExamples { n: usize },

    #[error(
        "cknna is undefined here: the unbiased HSIC of the {side} representation's masked kernel \
         with itself is negative ({value:e}), so it has no square root to normalise by"
    )]
    CknnaNegativeSelfHsic { side: &'static str, value: f64 },

    #[error(
        "distance_correlation is undefined here: all {n} rows of the {side} representation are \
         identical, so its distance covariance with itself is 0"
    )]
    IdenticalRows { n: usize, side: &'static str },

    #[error(
        "rbf_cka is undefined here: the median squared distance between rows is 0 (at least half \
         of the n^2 = {} pairs of rows, i = j included, are identical), so the kernel width \
         sigma is 0",
        n * n
    )]
    ZeroMedianDistance { n: usize },

    #[error("{parameter} must be {valid}, got {value}")]
    ParameterOutOfRange {
        parameter: &'static str,
        value: f64,
        valid: &'static str,
    },

    #[error(
        "the neighbour lists were prepared for k = {prepared} neighbours, fewer than the k = \
         {asked} asked for"
    )]
    NeighboursNotPrepared { prepared: usize, asked: usize },

    #[error(
        "the two representations were prepared with different {parameter} ({x} and {y}); a pair \
         needs both prepared with the value asked for"
    )]
    PreparedWithDifferentParameter {
        parameter: &'static str,
        x: f64,
        y: f64,
    },
}

impl MetricError {
    /// Stable machine-readable code, for problem+json bodies and stored per-pair outcomes.
    pub fn code(&self) -> &'static str {
        match self {
            MetricError::TooFewExamples { .. } => "too_few_examples",
            MetricError::ZeroVariance { .. } => "zero_variance",
            MetricError::Empty { .. } => "empty_matrix",
            MetricError::NonFinite { .. } => "non_finite",
            MetricError::RowCountMismatch { .. } => "row_count_mismatch",
            MetricError::RsaTooFewColumns { .. } => "rsa_too_few_columns",
            MetricError::RsaConstantRow { .. } => "rsa_constant_row",
            MetricError::RsaConstantDissimilarities => "rsa_constant_dissimilarities",
            MetricError::RsaTooManyExamples { .. } => "rsa_too_many_examples",
            MetricError::TooFewExamplesForNeighbours { .. } => "knn_too_few_examples",
            MetricError::DebiasedTooFewExamples { .. } => "cka_debiased_too_few_examples",
            MetricError::DebiasedNotPositive { .. } => "cka_debiased_not_positive",
            MetricError::OverMemoryBudget { .. } => "over_memory_budget",
            MetricError::PreparationOverMemoryBudget { .. } => "preparation_over_memory_budget",
            MetricError::ConcentricityUndefined { .. } => "concentricity_undefined",
            MetricError::AlignedCosineNoRows => "aligned_cosine_no_rows",
            MetricError::LinearAlgebra { .. } => "linear_algebra_failure",
            MetricError::TooLargeForLapack { .. } => "too_large",
            MetricError::TooFewRowsForNeighbours { .. } => "too_few_rows_for_neighbours",
            MetricError::ZeroRow { .. } => "zero_row",
            MetricError::ZeroDissimilarityProfile { .. } => "zero_dissimilarity_profile",
            MetricError::CknnaTooFewExamples { .. } => "cknna_too_few_examples",
            MetricError::CknnaNegativeSelfHsic { .. } => "cknna_negative_self_hsic",
            MetricError::IdenticalRows { .. } => "identical_rows",
            MetricError::ZeroMedianDistance { .. } => "zero_median_distance",
            MetricError::ParameterOutOfRange { .. } => "parameter_out_of_range",
            MetricError::NeighboursNotPrepared { .. } => "neighbours_not_prepared",
            MetricError::PreparedWithDifferentParameter { .. } => {
                "prepared_with_different_parameter"
            }
        }
    }

    /// True when the metric is simply not defined for this input (the CCA family with n <= d,
    /// rsa on a constant row, ...): a pair outcome to record, not a failure to retry. False for
    /// invalid input (zero variance, NaN, mismatched rows) and for numerical failures.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            MetricError::TooFewExamples { .. }
                | MetricError::RsaTooFewColumns { .. }
                | MetricError::RsaConstantRow { .. }
                | MetricError::RsaConstantDissimilarities
                | MetricError::RsaTooManyExamples { .. }
                | MetricError::TooFewExamplesForNeighbours { .. }
                | MetricError::DebiasedTooFewExamples { .. }
                | MetricError::DebiasedNotPositive { .. }
                | MetricError::TooFewRowsForNeighbours { .. }
                | MetricError::ZeroRow { .. }
                | MetricError::ZeroDissimilarityProfile { .. }
                | MetricError::CknnaTooFewExamples { .. }
                | MetricError::CknnaNegativeSelfHsic { .. }
                | MetricError::IdenticalRows { .. }
                | MetricError::ZeroMedianDistance { .. }
                | MetricError::OverMemoryBudget { .. }
                | MetricError::PreparationOverMemoryBudget { .. }
                | MetricError::ConcentricityUndefined { .. }
                | MetricError::AlignedCosineNoRows
        )
    }
}
