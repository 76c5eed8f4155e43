//! API tokens: found by their public id, kept as the SHA-256 of their secret, never deleted (a
//! revoked token keeps its row so that its name keeps meaning one token).

use chrono::{DateTime, Utc};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use super::error::StoreError;
use super::{Page, PageRequest};

/// What a token may do; each scope includes those below it (read < write < admin).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// GET and HEAD requests.
    Read,
    /// Also every other method: uploads, scores, comparisons, deletions.
    Write,
    /// Also managing tokens and reading the audit log.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    /// Whether a token of this scope may do what `required` asks.
    pub fn allows(self, required: Scope) -> bool {
        self >= required
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown scope {0:?}: use read, write or admin")]
pub struct UnknownScope(String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(name: &str) -> Result<Scope, UnknownScope> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.name() == name)
            .ok_or_else(|| UnknownScope(name.to_owned()))
    }
}

/// Database rows hold the scope as text.
impl TryFrom<String> for Scope {
    type Error = UnknownScope;

    fn try_from(name: String) -> Result<Scope, UnknownScope> {
        name.parse()
    }
}

/// A token as listed: never its secret or hash.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Token {
    pub id: i64,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub scope: Scope,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What a request's token is checked against. Time comparisons use the database's clock, the
/// one `expires_at` was computed with.
#[derive(Debug, sqlx::FromRow)]
pub struct Credential {
    pub id: i64,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub scope: Scope,
    pub secret_sha256: Vec<u8>,
    pub revoked: bool,
    pub expired: bool,
    /// `last_used_at` is more than a minute old: worth refreshing.
    pub stale: bool,
}

/// What creating a token asks for.
#[derive(Clone, Debug)]
pub struct NewToken<'a> {
    pub name: &'a str,
    pub scope: Scope,
    pub expires_in_days: Option<i32>,
    pub created_by: Option<&'a str>,
}

/// A query returning [`Token`] rows, completed by the given clauses.
macro_rules! select_tokens {
    ($clauses:literal) => {
        concat!(
            "SELECT id, name, scope, created_at, created_by, expires_at, revoked_at, last_used_at
             FROM tokens ",
            $clauses
        )
    };
}

/// Serialises first-start token creation across `simbench serve` processes starting together.
const BOOTSTRAP_LOCK: i64 = 0x7369_6d62_746f_6b6e;

pub async fn create(
    conn: &mut PgConnection,
    new: &NewToken<'_>,
    public_id: &str,
    secret_sha256: &[u8; 32],
) -> Result<Token, StoreError> {
    Ok(sqlx::query_as::<_, Token>(
        "INSERT INTO tokens (name, public_id, secret_sha256, scope, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(days => $6))
         RETURNING id, name, scope, created_at, created_by, expires_at, revoked_at, last_used_at",
    )
    .bind(new.name)
    .bind(public_id)
    .bind(&secret_sha256[..])
    .bind(new.scope.name())
    .bind(new.created_by)
    .bind(new.expires_in_days)
    .fetch_one(conn)
    .await?)
}

pub async fn get(db: &PgPool, name: &str) -> Result<Token, StoreError> {
    sqlx::query_as::<_, Token>(select_tokens!("WHERE name = $1"))
        .bind(name)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| StoreError::not_found("token", name))
}

pub async fn list(db: &PgPool, page: PageRequest) -> Result<Page<Token>, StoreError> {
    let rows = sqlx::query_as::<_, Token>(select_tokens!("WHERE id > $1 ORDER BY id LIMIT $2"))
        .bind(page.after)
        .bind(page.limit + 1)
        .fetch_all(db)
        .await?;
    Ok(Page::from_rows(rows, page, |token| token.id))
}

/// Revokes a token from now on; revoking it again changes nothing.
pub async fn revoke(db: &PgPool, name: &str) -> Result<Token, StoreError> {
    sqlx::query_as::<_, Token>(
        "UPDATE tokens SET revoked_at = coalesce(revoked_at, now()) WHERE name = $1
         RETURNING id, name, scope, created_at, created_by, expires_at, revoked_at, last_used_at",
    )
    .bind(name)
    .fetch_optional(db)
    .await?
    .ok_or_else(|| StoreError::not_found("token", name))
}

/// The token whose public id a request presented.
pub async fn credential(db: &PgPool, public_id: &str) -> Result<Option<Credential>, sqlx::Error> {
    sqlx::query_as::<_, Credential>(
        "SELECT id, name, scope, secret_sha256,
                revoked_at IS NOT NULL AS revoked,
                coalesce(expires_at <= now(), false) AS expired,
                coalesce(last_used_at < now() - interval '1 minute', true) AS stale
         FROM tokens WHERE public_id = $1",
    )
    .bind(public_id)
    .fetch_optional(db)
    .await
}

/// Records that a token was used just now.
pub async fn touch(db: &PgPool, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tokens SET last_used_at = now() WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Takes the first-start lock for the rest of the transaction, then says whether any token
/// exists (revoked and expired ones included).
pub async fn lock_and_check_any(tx: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(BOOTSTRAP_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tokens)")
        .fetch_one(&mut *tx)
        .await
}
