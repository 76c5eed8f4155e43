//! Computed distances, cached forever and shared by every comparison and benchmark.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::error::StoreError;
use super::{Page, PageRequest};
use crate::metrics::MetricId;

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Distance {
    #[serde(skip)]
    pub id: i64,
    pub metric: String,
    /// The first argument (for symmetric metrics, the lower id).
    pub rep_a: i64,
    pub rep_b: i64,
    /// `null` when the metric refuses the pair; `refusal` says why.
    pub value: Option<f64>,
    pub refusal: Option<String>,
    pub computed_at: DateTime<Utc>,
}

pub async fn list(
    db: &PgPool,
    metric: Option<MetricId>,
    representation: Option<i64>,
    page: PageRequest,
) -> Result<Page<Distance>, StoreError> {
    let rows = sqlx::query_as::<_, Distance>(
        "SELECT id, metric, rep_a, rep_b, value, refusal, computed_at FROM distances
         WHERE id > $1
           AND ($2::text IS NULL OR metric = $2)
           AND ($3::bigint IS NULL OR rep_a = $3 OR rep_b = $3)
         ORDER BY id
         LIMIT $4",
    )
    .bind(page.after)
    .bind(metric.map(MetricId::name))
    .bind(representation)
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?;
    Ok(Page::from_rows(rows, page, |distance| distance.id))
}

/// A stored outcome: the value, or why the metric refuses the pair.
pub type Outcome = Result<f64, String>;

/// Every stored distance of `metrics` between two of `representations`, keyed by
/// (metric, rep_a, rep_b) as stored.
pub async fn among(
    db: &PgPool,
    metrics: &[MetricId],
    representations: &[i64],
) -> Result<HashMap<(MetricId, i64, i64), Outcome>, StoreError> {
    let names: Vec<String> = metrics.iter().map(|metric| metric.name()).collect();
    type Row = (String, i64, i64, Option<f64>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT metric, rep_a, rep_b, value, refusal FROM distances
         WHERE metric = ANY($1) AND rep_a = ANY($2) AND rep_b = ANY($2)",
    )
    .bind(&names)
    .bind(representations)
    .fetch_all(db)
    .await?;
    let mut found = HashMap::with_capacity(rows.len());
    for (name, rep_a, rep_b, value, refusal) in rows {
        let metric: MetricId = name
            .parse()
            .map_err(|error| StoreError::Corrupt(format!("stored distance: {error}")))?;
        let outcome = match (value, refusal) {
            (Some(value), _) => Ok(value),
            (None, refusal) => Err(refusal.unwrap_or_default()),
        };
        found.insert((metric, rep_a, rep_b), outcome);
    }
    Ok(found)
}
