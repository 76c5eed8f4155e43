//! What a store call can fail with. A violated constraint becomes the client error it stands for
//! as the statement's result is converted (`?` on a `sqlx::Error`), so no caller sees a raw
//! database error for something a client caused; everything else stays `Database` (a 500).

/// A store call's failure, in terms of the data rather than of SQL.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{resource} {id} does not exist")]
    NotFound { resource: &'static str, id: String },

    /// A row the statement points at is gone, typically deleted by a concurrent request.
    #[error("{detail}")]
    Missing { detail: &'static str },

    /// The write collides with a row that exists (a unique name, a concurrent identical write).
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },

    /// The request asks for something the stored data does not allow.
    #[error("{detail}")]
    Invalid { code: &'static str, detail: String },

    /// A stored row does not decode: a server bug or a hand-edited database.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),

    #[error("database error: {0}")]
    Database(sqlx::Error),
}

impl StoreError {
    pub fn not_found(resource: &'static str, id: impl ToString) -> StoreError {
        StoreError::NotFound {
            resource,
            id: id.to_string(),
        }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> StoreError {
        StoreError::Conflict {
            code,
            detail: detail.into(),
        }
    }

    pub fn invalid(code: &'static str, detail: impl Into<String>) -> StoreError {
        StoreError::Invalid {
            code,
            detail: detail.into(),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> StoreError {
        let violated = match &error {
            sqlx::Error::Database(database_error) => database_error.constraint(),
            _ => None,
        };
        match violated.and_then(violation) {
            Some(violation) => violation,
            None => StoreError::Database(error),
        }
    }
}

const CONCURRENT_WRITE: &str =
    "another request wrote the same row at the same moment; retry the request";
const CONCURRENT_DELETE: &str =
    "something this request refers to does not exist (it may just have been deleted)";

/// The client error each named constraint and unique index of `migrations/` stands for; `None`
/// for a name the schema does not have. Every constraint is listed, including those validation
/// guards before the statement runs, so that a race or a missed check still answers 4xx
/// (`tests/store_constraints.rs` holds this list against `pg_constraint`).
pub fn violation(constraint: &str) -> Option<StoreError> {
    let conflict = |code, detail: &str| Some(StoreError::conflict(code, detail));
    let invalid = |detail: &str| Some(StoreError::invalid("constraint_violated", detail));
    let missing = |detail| Some(StoreError::Missing { detail });
    match constraint {
        "datasets_name_key" => {
            conflict("dataset_exists", "a dataset with this name already exists")
        }
        "models_name_key" => conflict("model_exists", "a model with this name already exists"),
        "external_metrics_name_key" => conflict(
            "metric_exists",
            "an external metric with this name is already registered; choose another name, or delete it first",
        ),
        "external_metrics_name_check" => invalid(
            "an external metric's name is ext: then a lowercase letter and up to 47 lowercase letters, digits, '_', '-' or '.'",
        ),
        "external_metrics_parameters_check" => {
            invalid("an external metric's parameters must be a JSON array")
        }
        "benchmarks_name_key" => conflict(
            "benchmark_exists",
            "a benchmark with this name already exists; choose another name, or delete the existing benchmark first",
        ),
        "tokens_name_key" => conflict(
            "token_exists",
            "a token with this name already exists (names of revoked tokens stay taken, so that the audit log stays unambiguous); choose another name",
        ),
        "representations_identity_key" => conflict(
            "representation_exists",
            "this model already has a representation for this dataset and layer; pass replace=true to replace it",
        ),
        "model_outputs_pkey" => conflict(
            "outputs_exist",
            "this model already has outputs for this dataset; pass replace=true to replace them",
        ),
        "scores_representation_name_key"
        | "scores_model_name_key"
        | "distances_key"
        | "blobs_sha256_key"
        | "tokens_public_id_key"
        | "datasets_pkey"
        | "models_pkey"
        | "blobs_pkey"
        | "blob_chunks_pkey"
        | "representations_pkey"
        | "scores_pkey"
        | "distances_pkey"
        | "jobs_pkey"
        | "comparisons_pkey"
        | "comparison_jobs_pkey"
        | "benchmarks_pkey"
        | "benchmark_members_pkey"
        | "tokens_pkey"
        | "audit_log_pkey"
        | "ui_sessions_pkey"
        | "external_metrics_pkey" => conflict("concurrent_write", CONCURRENT_WRITE),
        "representations_model_id_fkey"
        | "scores_model_id_fkey"
        | "model_outputs_model_id_fkey" => {
            missing("the model does not exist (it may just have been deleted)")
        }
        "scores_representation_id_fkey" | "representations_parent_id_fkey" => {
            missing("the representation does not exist (it may just have been deleted)")
        }
        "representations_dataset_id_fkey"
        | "benchmarks_dataset_id_fkey"
        | "model_outputs_dataset_id_fkey" => {
            missing("the dataset does not exist (it may just have been deleted)")
        }
        "representations_blob_id_fkey"
        | "model_outputs_blob_id_fkey"
        | "blob_chunks_blob_id_fkey"
        | "distances_rep_a_fkey"
        | "distances_rep_b_fkey"
        | "jobs_rep_a_fkey"
        | "jobs_rep_b_fkey"
        | "comparison_jobs_comparison_id_fkey"
        | "comparison_jobs_job_id_fkey"
        | "benchmarks_comparison_id_fkey"
        | "benchmark_members_benchmark_id_fkey"
        | "benchmark_members_representation_id_fkey" => missing(CONCURRENT_DELETE),
        "ui_sessions_token_id_fkey" => {
            missing("the token does not exist (it may just have been deleted)")
        }
        "models_metadata_check" => invalid("model metadata must be a JSON object"),
        "benchmarks_selection_check" => invalid("a benchmark's selection must be a JSON object"),
        "scores_value_check" => invalid("a score must be a finite number"),
        "scores_check" => invalid("a score belongs to exactly one of a representation or a model"),
        "datasets_n_rows_check"
        | "blobs_n_rows_check"
        | "blobs_n_cols_check"
        | "blobs_byte_len_check" => invalid("a matrix needs at least one row and one column"),
        "blobs_dtype_check" => invalid("matrices are stored as float16, float32 or float64"),
        "blobs_sha256_check"
        | "blob_chunks_data_check"
        | "blob_chunks_seq_check"
        | "representations_check"
        | "distances_check"
        | "jobs_check"
        | "jobs_metrics_check"
        | "jobs_status_check"
        | "comparisons_n_known_check"
        | "comparisons_n_pairs_check"
        | "tokens_scope_check"
        | "tokens_secret_sha256_check"
        | "ui_sessions_id_sha256_check" => invalid(
            "the request would store an inconsistent row; nothing was written (see the service log)",
        ),
        "benchmarks_metrics_check" => invalid("a benchmark needs at least one metric"),
        _ => None,
    }
}
