//! Results of complete runs, kept so that reading them costs one row.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use super::super::error::StoreError;

/// The results stored for the current run, once it was complete.
pub async fn stored_results(db: &PgPool, id: i64) -> Result<Option<Value>, StoreError> {
    Ok(
        sqlx::query_scalar::<_, Option<Value>>("SELECT results FROM benchmarks WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?
            .flatten(),
    )
}

/// Keeps complete results, unless the benchmark was run again meanwhile.
pub async fn store_results(
    db: &PgPool,
    id: i64,
    run_at: DateTime<Utc>,
    results: &Value,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE benchmarks SET results = $3 WHERE id = $1 AND run_at = $2")
        .bind(id)
        .bind(run_at)
        .bind(results)
        .execute(db)
        .await?;
    Ok(())
}
