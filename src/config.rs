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

/// `simbench serve`: the API (and, later, the in-process workers).
#[derive(Clone, Debug, clap::Args)]
pub struct ServeConfig {
    #[command(flatten)]
    pub database: DatabaseConfig,

    #[command(flatten)]
    pub http: HttpConfig,
}
