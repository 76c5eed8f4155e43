//! Every SQL statement of the service, grouped by aggregate.

pub mod audit;
pub mod benchmarks;
pub mod blobs;
pub mod comparisons;
pub mod datasets;
pub mod distances;
mod error;
pub mod external_metrics;
pub mod jobs;
pub mod models;
pub mod outputs;
pub mod representations;
pub mod scores;
pub mod sessions;
pub mod status;
pub mod tokens;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::ConnectOptions;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::config::DatabaseConfig;

pub use error::{StoreError, violation};

/// The schema, embedded at build time so the binary needs nothing beside it.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// Opens the connection pool.
pub async fn connect(config: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
    // Deleting a large matrix takes seconds; only warn about statements slower than that.
    let options = config
        .database_url
        .parse::<PgConnectOptions>()?
        .log_slow_statements(log::LevelFilter::Warn, Duration::from_secs(10));
    PgPoolOptions::new()
        .max_connections(config.db_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options.application_name("simbench"))
        .await
}

/// Applies pending migrations. sqlx holds a PostgreSQL advisory lock meanwhile, so several
/// `simbench serve` processes starting together apply each migration once.
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    MIGRATOR.run(pool).await
}

/// Whether every migration this binary knows has been applied (readiness).
pub async fn migrations_applied(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let latest = MIGRATOR.iter().map(|migration| migration.version).max();
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await
            .or_else(|error| match &error {
                // No migration table yet: nothing applied.
                sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => Ok(None),
                _ => Err(error),
            })?;
    Ok(applied >= latest)
}

/// What a score is attached to: one representation, or a model (and so each of its
/// representations without a score of that name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreTarget {
    Representation(i64),
    Model(i64),
}

/// One page of a list ordered by id (keyset pagination): `next_after` is the id to continue
/// after, when more rows exist.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_after: Option<i64>,
}

/// Where a page starts and how long it is.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    pub after: i64,
    pub limit: i64,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched in id order.
    pub(crate) fn from_rows(
        mut rows: Vec<T>,
        request: PageRequest,
        id: impl Fn(&T) -> i64,
    ) -> Page<T> {
        let more = rows.len() as i64 > request.limit;
        rows.truncate(request.limit as usize);
        let next_after = if more { rows.last().map(id) } else { None };
        Page {
            items: rows,
            next_after,
        }
    }
}
