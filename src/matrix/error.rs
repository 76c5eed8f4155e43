use thiserror::Error;

/// Why a body or file is not an acceptable representation matrix. Every message says what was
/// found and what to do instead, since it goes straight back to the researcher.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MatrixError {
    #[error(
        "the body is neither a .npy file (numpy.save) nor a .safetensors file; it starts with {starts_with}"
    )]
    UnknownFormat { starts_with: String },

    #[error("malformed .npy header: {0}")]
    MalformedNpy(String),

    #[error("malformed safetensors file: {0}")]
    MalformedSafetensors(String),

    #[error(
        "the safetensors file holds several tensors ({names}); pick one with the `tensor` query parameter"
    )]
    AmbiguousTensor { names: String },

    #[error("the safetensors file has no tensor named {wanted:?}; it holds: {names}")]
    TensorNotFound { wanted: String, names: String },

    #[error(
        "unsupported dtype {found}: representations must be float16, float32 or float64; convert with x.astype(numpy.float32) before saving"
    )]
    UnsupportedDtype { found: String },

    #[error(
        "the array has shape {shape}, but a representation is 2-D (examples, features); {suggestion}"
    )]
    NotTwoDimensional { shape: String, suggestion: String },

    #[error(
        "the matrix has shape ({rows}, {cols}); a representation needs at least one example and one feature"
    )]
    Empty { rows: usize, cols: usize },

    #[error(
        "non-finite value {value} at row {row}, column {column} (0-based); representations must be finite"
    )]
    NonFinite {
        value: String,
        row: usize,
        column: usize,
    },

    #[error(
        "the body ended early: the header announces {expected} bytes of data but only {received} arrived"
    )]
    Truncated { expected: u64, received: u64 },

    #[error("{extra} unexpected bytes follow the end of the matrix data")]
    TrailingBytes { extra: u64 },

    #[error("the matrix is too large to address: {0}")]
    TooLarge(String),

    #[error("could not read the matrix: {0}")]
    Io(String),
}

impl MatrixError {
    /// Stable machine-readable code, used as the problem+json `code`.
    pub fn code(&self) -> &'static str {
        match self {
            MatrixError::UnknownFormat { .. } => "unknown_matrix_format",
            MatrixError::MalformedNpy(_) => "malformed_npy",
            MatrixError::MalformedSafetensors(_) => "malformed_safetensors",
            MatrixError::AmbiguousTensor { .. } => "ambiguous_tensor",
            MatrixError::TensorNotFound { .. } => "tensor_not_found",
            MatrixError::UnsupportedDtype { .. } => "unsupported_dtype",
            MatrixError::NotTwoDimensional { .. } => "not_two_dimensional",
            MatrixError::Empty { .. } => "empty_matrix",
            MatrixError::NonFinite { .. } => "non_finite_value",
            MatrixError::Truncated { .. } => "truncated_body",
            MatrixError::TrailingBytes { .. } => "trailing_bytes",
            MatrixError::TooLarge(_) => "matrix_too_large",
            MatrixError::Io(_) => "io_error",
        }
    }

    /// Whether the bytes themselves are unreadable (as opposed to a readable matrix the service
    /// does not accept): 400 against 422.
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            MatrixError::UnknownFormat { .. }
                | MatrixError::MalformedNpy(_)
                | MatrixError::MalformedSafetensors(_)
                | MatrixError::Truncated { .. }
                | MatrixError::TrailingBytes { .. }
                | MatrixError::Io(_)
        )
    }
}

/// Advice for an array of the wrong rank, in numpy terms.
pub(crate) fn reshape_advice(shape: &[usize]) -> MatrixError {
    let shape_text = match shape {
        [single] => format!("({single},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let suggestion = match shape.len() {
        0 => "save a matrix, e.g. numpy.atleast_2d(x)".to_owned(),
        1 => "for one feature per example save x.reshape(-1, 1)".to_owned(),
        _ => format!(
            "flatten the trailing axes with x.reshape({}, -1), or pool over them (e.g. the mean over tokens) first",
            shape[0]
        ),
    };
    MatrixError::NotTwoDimensional {
        shape: shape_text,
        suggestion,
    }
}
