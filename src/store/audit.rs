//! The audit log: one row per write request of an authenticated caller.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::error::StoreError;
use super::{Page, PageRequest};

/// A write request as it is recorded.
#[derive(Clone, Debug)]
pub struct AuditEntry<'a> {
    pub token_name: &'a str,
    pub method: &'a str,
    pub route: Option<&'a str>,
    pub path: &'a str,
    pub status: u16,
    pub request_id: Option<&'a str>,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub token: String,
    pub method: String,
    pub route: Option<String>,
    pub path: String,
    pub status: i16,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
}

pub async fn record(db: &PgPool, entry: &AuditEntry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (token_name, method, route, path, status, request_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(entry.token_name)
    .bind(entry.method)
    .bind(entry.route)
    .bind(entry.path)
    .bind(entry.status as i16)
    .bind(entry.request_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Entries oldest first, optionally of one token only.
pub async fn list(
    db: &PgPool,
    token: Option<&str>,
    page: PageRequest,
) -> Result<Page<AuditRecord>, StoreError> {
    let rows = sqlx::query_as::<_, AuditRecord>(
        "SELECT id, token_name AS token, method, route, path, status, request_id, at
         FROM audit_log
         WHERE id > $1 AND ($2::text IS NULL OR token_name = $2)
         ORDER BY id
         LIMIT $3",
    )
    .bind(page.after)
    .bind(token)
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?;
    Ok(Page::from_rows(rows, page, |record| record.id))
}
