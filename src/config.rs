//! Configuration: every setting is a flag and an environment variable (README, Configuration).

use std::net::SocketAddr;

/// Where the local setup script creates the database; `DATABASE_URL` overrides it.
pub const DEFAULT_DATABASE_URL: &str = "postgres://simbench:simbench@127.0.0.1:5432/simbench";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 2 << 30;
pub const DEFAULT_MAX_JSON_BYTES: usize = 4 << 20;
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;

#[derive(Clone, Debug, clap::Args)]
pub struct DatabaseConfig {
    /// PostgreSQL connection URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true
    )]
    pub database_url: String,

    /// Connections in the pool.
    #[arg(long, env = "SIMBENCH_DB_CONNECTIONS", default_value_t = 16)]
    pub db_connections: u32,
}

/// Limits and address of the HTTP API.
#[derive(Clone, Debug, clap::Args)]
pub struct HttpConfig {
    /// Address to listen on.
    #[arg(long, env = "SIMBENCH_BIND", default_value = DEFAULT_BIND)]
    pub bind: SocketAddr,

    /// Largest accepted upload body (a representation matrix), in bytes.
    #[arg(long, env = "SIMBENCH_MAX_UPLOAD_BYTES", default_value_t = DEFAULT_MAX_UPLOAD_BYTES)]
    pub max_upload_bytes: u64,

    /// Largest accepted JSON request body, in bytes.
    #[arg(long, env = "SIMBENCH_MAX_JSON_BYTES", default_value_t = DEFAULT_MAX_JSON_BYTES)]
    pub max_json_bytes: usize,

    /// Time limit for a request, in seconds (uploads and downloads of matrices are exempt).
    #[arg(long, env = "SIMBENCH_REQUEST_TIMEOUT_SECS", default_value_t = DEFAULT_REQUEST_TIMEOUT_SECS)]
    pub request_timeout_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            bind: DEFAULT_BIND.parse().expect("valid default address"),
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            max_json_bytes: DEFAULT_MAX_JSON_BYTES,
            request_timeout_secs: DEFAULT_REQUEST_TIMEOUT_SECS,
        }
    }
}

/// The comparison workers of a process.
#[derive(Clone, Debug, clap::Args)]
pub struct WorkerConfig {
    /// Comparison workers in this process; 0 for an API-only node. Default: one per core.
    #[arg(long, env = "SIMBENCH_WORKERS")]
    pub workers: Option<usize>,

    /// Seconds a claimed job stays leased without a heartbeat before others may take it.
    #[arg(long, env = "SIMBENCH_LEASE_SECS", default_value_t = DEFAULT_LEASE_SECS)]
    pub lease_secs: u64,

    /// Bytes of prepared representations kept in memory for reuse across pairs.
    #[arg(long, env = "SIMBENCH_CACHE_BYTES", default_value_t = DEFAULT_CACHE_BYTES)]
    pub cache_bytes: u64,

    /// Attempts of a job before it stays failed.
    #[arg(long, env = "SIMBENCH_MAX_ATTEMPTS", default_value_t = DEFAULT_MAX_ATTEMPTS)]
    pub max_attempts: i32,

    /// Wait before the first retry of a failed job, in milliseconds; doubles with each attempt.
    #[arg(long, env = "SIMBENCH_RETRY_BACKOFF_MS", default_value_t = DEFAULT_RETRY_BACKOFF_MS)]
    pub retry_backoff_ms: u64,
}

pub const DEFAULT_LEASE_SECS: u64 = 60;
pub const DEFAULT_CACHE_BYTES: u64 = 2 << 30;
pub const DEFAULT_MAX_ATTEMPTS: i32 = 5;
pub const DEFAULT_RETRY_BACKOFF_MS: u64 = 2000;

impl WorkerConfig {
    /// Workers to run: as configured, or one per core.
    pub fn worker_count(&self) -> usize {
        self.workers.unwrap_or_else(cores)
    }
}

impl Default for WorkerConfig {
    fn default() -> WorkerConfig {
        WorkerConfig {
            workers: None,
            lease_secs: DEFAULT_LEASE_SECS,
            cache_bytes: DEFAULT_CACHE_BYTES,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            retry_backoff_ms: DEFAULT_RETRY_BACKOFF_MS,
        }
    }
}

/// Cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// `simbench serve`: the API and, unless `SIMBENCH_WORKERS=0`, comparison workers.
#[derive(Clone, Debug, clap::Args)]
pub struct ServeConfig {
    #[command(flatten)]
    pub database: DatabaseConfig,

    #[command(flatten)]
    pub http: HttpConfig,

    #[command(flatten)]
    pub workers: WorkerConfig,
}

/// `simbench worker`: comparison workers only, for scaling out against the same database.
#[derive(Clone, Debug, clap::Args)]
pub struct WorkerProcessConfig {
    #[command(flatten)]
    pub database: DatabaseConfig,

    #[command(flatten)]
    pub workers: WorkerConfig,
}
