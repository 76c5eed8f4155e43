//! Dashboard sessions (README, Dashboard): found by the SHA-256 of their id, valid for 12 hours
//! and only while the token they were opened with is neither revoked nor expired.

use sqlx::PgPool;

use super::error::StoreError;
use super::tokens::Scope;

/// A live session, as a page request sees it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Session {
    pub token_name: String,
    #[sqlx(try_from = "String")]
    pub scope: Scope,
    pub csrf_token: String,
}

/// Opens a session for the token `token_id`.
pub async fn create(
    db: &PgPool,
    id_sha256: &[u8; 32],
    token_id: i64,
    csrf_token: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO ui_sessions (id_sha256, token_id, csrf_token) VALUES ($1, $2, $3)")
        .bind(&id_sha256[..])
        .bind(token_id)
        .bind(csrf_token)
        .execute(db)
        .await?;
    Ok(())
}

/// The session whose id hashes to `id_sha256`, if it is still live.
pub async fn find(db: &PgPool, id_sha256: &[u8; 32]) -> Result<Option<Session>, StoreError> {
    Ok(sqlx::query_as::<_, Session>(
        "SELECT t.name AS token_name, t.scope, s.csrf_token
         FROM ui_sessions s JOIN tokens t ON t.id = s.token_id
         WHERE s.id_sha256 = $1
           AND s.expires_at > now()
           AND t.revoked_at IS NULL
           AND coalesce(t.expires_at > now(), true)",
    )
    .bind(&id_sha256[..])
    .fetch_optional(db)
    .await?)
}

/// Ends a session, and drops the sessions that have expired meanwhile.
pub async fn end(db: &PgPool, id_sha256: &[u8; 32]) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM ui_sessions WHERE id_sha256 = $1 OR expires_at <= now()")
        .bind(&id_sha256[..])
        .execute(db)
        .await?;
    Ok(())
}
