//! Metrics computed by clients: their registration, and the distances clients send for them
//! (README, "Metrics computed by the client").

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use super::error::StoreError;
use super::jobs::stored_order;
use crate::metrics::ExternalName;

/// A registered external metric.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct ExternalMetric {
    pub name: String,
    pub description: String,
    pub is_symmetric: bool,
    /// `[{"name", "default", "range"}]`, as the client registered them.
    pub parameters: Value,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What a client registers.
#[derive(Clone, Debug)]
pub struct NewExternalMetric {
    pub name: ExternalName,
    pub description: String,
    pub symmetric: bool,
    pub parameters: Value,
}

pub async fn register(
    db: &PgPool,
    metric: &NewExternalMetric,
    created_by: Option<&str>,
) -> Result<ExternalMetric, StoreError> {
    Ok(sqlx::query_as::<_, ExternalMetric>(
        "INSERT INTO external_metrics (name, description, is_symmetric, parameters, created_by)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING name, description, is_symmetric, parameters, created_by, created_at",
    )
    .bind(metric.name.to_string())
    .bind(&metric.description)
    .bind(metric.symmetric)
    .bind(&metric.parameters)
    .bind(created_by)
    .fetch_one(db)
    .await?)
}

/// Every registered external metric, by name.
pub async fn list(db: &PgPool) -> Result<Vec<ExternalMetric>, StoreError> {
    Ok(sqlx::query_as::<_, ExternalMetric>(
        "SELECT name, description, is_symmetric, parameters, created_by, created_at
         FROM external_metrics ORDER BY name",
    )
    .fetch_all(db)
    .await?)
}

/// Deletes an external metric and its distances; refused while a benchmark names it.
pub async fn delete(db: &PgPool, name: ExternalName) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let text = name.to_string();
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM external_metrics WHERE name = $1 FOR UPDATE")
            .bind(&text)
            .fetch_optional(&mut *tx)
            .await?;
    if found.is_none() {
        return Err(StoreError::not_found("metric", text));
    }
    let users: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM benchmarks WHERE $1 = ANY(metrics) ORDER BY id")
            .bind(&text)
            .fetch_all(&mut *tx)
            .await?;
    if !users.is_empty() {
        let ids: Vec<String> = users.iter().map(i64::to_string).collect();
        return Err(StoreError::conflict(
            "metric_in_use",
            format!(
                "{text} is named by benchmark(s) {}; delete them first",
                ids.join(", ")
            ),
        ));
    }
    sqlx::query("DELETE FROM distances WHERE metric = $1")
        .bind(&text)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM external_metrics WHERE name = $1")
        .bind(&text)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The symmetry of each of `names` that is registered, locked against deletion until the
/// transaction ends.
pub async fn lock_registered(
    tx: &mut PgConnection,
    names: &[ExternalName],
) -> Result<HashMap<ExternalName, bool>, StoreError> {
    let texts: Vec<String> = names.iter().map(ExternalName::to_string).collect();
    let rows: Vec<(String, bool)> = sqlx::query_as(
        "SELECT name, is_symmetric FROM external_metrics WHERE name = ANY($1) ORDER BY name FOR SHARE",
    )
    .bind(&texts)
    .fetch_all(&mut *tx)
    .await?;
    decode_symmetry(rows)
}

/// The symmetry of each of `names` that is registered.
pub async fn symmetry(
    db: &PgPool,
    names: &[ExternalName],
) -> Result<HashMap<ExternalName, bool>, StoreError> {
    let texts: Vec<String> = names.iter().map(ExternalName::to_string).collect();
    let rows: Vec<(String, bool)> =
        sqlx::query_as("SELECT name, is_symmetric FROM external_metrics WHERE name = ANY($1)")
            .bind(&texts)
            .fetch_all(db)
            .await?;
    decode_symmetry(rows)
}

fn decode_symmetry(rows: Vec<(String, bool)>) -> Result<HashMap<ExternalName, bool>, StoreError> {
    rows.into_iter()
        .map(|(name, symmetric)| {
            ExternalName::parse(&name)
                .map(|name| (name, symmetric))
                .map_err(|error| StoreError::Corrupt(format!("stored external metric: {error}")))
        })
        .collect()
}

/// The most rows one `PUT /v1/distances` takes.
pub const MAX_DISTANCE_ROWS: usize = 10_000;

/// One distance a client sends: d(a, b) under an external metric, finite and >= 0.
#[derive(Clone, Copy, Debug)]
pub struct DistanceRow {
    pub metric: ExternalName,
    pub a: i64,
    pub b: i64,
    pub value: f64,
}

/// What a `PUT /v1/distances` changed, counted in rows of the request.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct PutOutcome {
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// Stores client-computed distances in one transaction: symmetric metrics under (lower id,
/// higher id) as the workers store theirs, a row equal to the stored one changes nothing, a
/// changed value replaces the stored one and marks stale the benchmarks whose run used it.
/// Refusals name the row (0-based index in `rows`).
pub async fn put_distances(db: &PgPool, rows: &[DistanceRow]) -> Result<PutOutcome, StoreError> {
    let mut tx = db.begin().await?;
    let held_off = super::benchmarks::hold_off_planning(&mut tx).await?;
    let mut names: Vec<ExternalName> = rows.iter().map(|row| row.metric).collect();
    names.sort_unstable();
    names.dedup();
    let symmetric = lock_registered(&mut tx, &names).await?;
    let mut ids: Vec<i64> = rows.iter().flat_map(|row| [row.a, row.b]).collect();
    ids.sort_unstable();
    ids.dedup();
    let datasets: HashMap<i64, i64> =
        sqlx::query_as("SELECT id, dataset_id FROM representations WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();

    // Stored key → (first row giving it, value).
    let mut keyed: HashMap<(ExternalName, i64, i64), (usize, f64)> = HashMap::new();
    let mut order = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let Some(&is_symmetric) = symmetric.get(&row.metric) else {
            return Err(StoreError::invalid(
                "unknown_metric",
                format!(
                    "row {index}: no external metric named {}; register it with POST /v1/metrics",
                    row.metric
                ),
            ));
        };
        let dataset = |id: i64| {
            datasets.get(&id).copied().ok_or_else(|| {
                StoreError::invalid(
                    "unknown_representation",
                    format!("row {index}: representation {id} does not exist"),
                )
            })
        };
        if dataset(row.a)? != dataset(row.b)? {
            return Err(StoreError::invalid(
                "different_datasets",
                format!(
                    "row {index}: representations {} and {} are on different datasets",
                    row.a, row.b
                ),
            ));
        }
        let (a, b) = stored_order(is_symmetric, row.a, row.b);
        let key = (row.metric, a, b);
        match keyed.get(&key) {
            Some(&(first, value)) if value.to_bits() != row.value.to_bits() => {
                return Err(StoreError::invalid(
                    "conflicting_rows",
                    format!(
                        "row {index} gives {} d({a}, {b}) = {}, row {first} gave {value}",
                        row.metric, row.value
                    ),
                ));
            }
            Some(_) => {}
            None => {
                keyed.insert(key, (index, row.value));
                order.push(key);
            }
        }
    }

    let metric_texts: Vec<String> = order.iter().map(|key| key.0.to_string()).collect();
    let rep_a: Vec<i64> = order.iter().map(|key| key.1).collect();
    let rep_b: Vec<i64> = order.iter().map(|key| key.2).collect();
    let values: Vec<f64> = order.iter().map(|key| keyed[key].1).collect();
    let stored: HashMap<(String, i64, i64), Option<f64>> = sqlx::query_as(
        "SELECT d.metric, d.rep_a, d.rep_b, d.value FROM distances d
         JOIN unnest($1::text[], $2::bigint[], $3::bigint[]) AS t(metric, rep_a, rep_b)
           USING (metric, rep_a, rep_b)
         FOR UPDATE OF d",
    )
    .bind(&metric_texts)
    .bind(&rep_a)
    .bind(&rep_b)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(metric, a, b, value): (String, i64, i64, Option<f64>)| ((metric, a, b), value))
    .collect();

    let mut outcome = PutOutcome {
        unchanged: rows.len() - order.len(),
        ..PutOutcome::default()
    };
    let mut changed = Vec::new();
    for (index, value) in values.iter().enumerate() {
        let key = (metric_texts[index].clone(), rep_a[index], rep_b[index]);
        match stored.get(&key) {
            None => outcome.inserted += 1,
            Some(Some(old)) if old.to_bits() == value.to_bits() => outcome.unchanged += 1,
            Some(_) => {
                outcome.updated += 1;
                changed.push(index);
            }
        }
    }
    sqlx::query(
        "INSERT INTO distances (metric, rep_a, rep_b, value)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::float8[])
         ON CONFLICT (metric, rep_a, rep_b) DO UPDATE
             SET value = EXCLUDED.value, refusal = NULL, computed_at = now()
             WHERE distances.value IS DISTINCT FROM EXCLUDED.value",
    )
    .bind(&metric_texts)
    .bind(&rep_a)
    .bind(&rep_b)
    .bind(&values)
    .execute(&mut *tx)
    .await?;
    if !changed.is_empty() {
        let pick = |column: &[i64]| -> Vec<i64> { changed.iter().map(|&i| column[i]).collect() };
        let changed_metrics: Vec<String> =
            changed.iter().map(|&i| metric_texts[i].clone()).collect();
        super::benchmarks::mark_stale_for_distances(
            &mut tx,
            &held_off,
            &changed_metrics,
            &pick(&rep_a),
            &pick(&rep_b),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(outcome)
}
