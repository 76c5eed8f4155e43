//! Configuration: every setting is a flag and an environment variable (README, Configuration).

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::http::HeaderValue;

use crate::metrics::MemoryBudget;

/// Where the local setup script creates the database; `DATABASE_URL` overrides it.
pub const DEFAULT_DATABASE_URL: &str = "postgres://simbench:simbench@127.0.0.1:5432/simbench";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 2 << 30;
pub const DEFAULT_MAX_JSON_BYTES: usize = 4 << 20;
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;
/// Generous for people and training jobs; a client stuck in a loop is slowed, not served.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 3000;
pub const DEFAULT_RATE_LIMIT_BURST: u32 = 500;

/// An on/off setting takes its value explicitly (`--public-read true`), like its environment
/// variable does, so that a flag can also turn off what the environment turned on.
const SWITCH: clap::ArgAction = clap::ArgAction::Set;
const SWITCH_VALUES: &str = "true|false";

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

impl DatabaseConfig {
    /// The database's name as the URL gives it (PostgreSQL's default, the user's name, when it
    /// names none).
    pub fn database_name(&self) -> String {
        let Ok(url) = reqwest::Url::parse(&self.database_url) else {
            return "default".to_owned();
        };
        match url.path().trim_start_matches('/') {
            "" => match url.username() {
                "" => "default".to_owned(),
                user => user.to_owned(),
            },
            name => name.to_owned(),
        }
    }
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

    /// Let GET requests (and /metrics) in without a token; writes still need one.
    #[arg(long, env = "SIMBENCH_PUBLIC_READ", default_value_t = false, action = SWITCH, value_name = SWITCH_VALUES)]
    pub public_read: bool,

    /// Requests per minute and per token (per client address for requests without a token);
    /// 0 turns rate limiting off.
    #[arg(long, env = "SIMBENCH_RATE_LIMIT_PER_MINUTE", default_value_t = DEFAULT_RATE_LIMIT_PER_MINUTE)]
    pub rate_limit_per_minute: u32,

    /// Requests a caller may make at once before the per-minute rate applies.
    #[arg(
        long,
        env = "SIMBENCH_RATE_LIMIT_BURST",
        default_value_t = DEFAULT_RATE_LIMIT_BURST,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub rate_limit_burst: u32,

    /// Browser origins allowed to call the API (CORS), comma-separated, e.g.
    /// https://dash.example.org; none by default.
    #[arg(
        long,
        env = "SIMBENCH_CORS_ORIGINS",
        default_value = "",
        hide_default_value = true,
        value_parser = parse_origins
    )]
    pub cors_origins: Origins,

    /// Mark the dashboard's session cookie Secure: set it when the service is reached over
    /// https (directly or behind a proxy), so that browsers never send the cookie in clear.
    #[arg(long, env = "SIMBENCH_SECURE_COOKIES", default_value_t = false, action = SWITCH, value_name = SWITCH_VALUES)]
    pub secure_cookies: bool,
}

/// Browser origins allowed to call the API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origins(pub Vec<HeaderValue>);

/// A comma-separated list of origins; empty for none.
fn parse_origins(list: &str) -> Result<Origins, String> {
    list.split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(parse_origin)
        .collect::<Result<_, _>>()
        .map(Origins)
}

/// An origin as browsers send it: scheme and host, optionally a port, nothing after.
fn parse_origin(origin: &str) -> Result<HeaderValue, String> {
    let (scheme, rest) = origin.split_once("://").unwrap_or(("", ""));
    let valid = matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && !rest.contains(['/', '?', '#', ' ']);
    if !valid {
        return Err(format!(
            "{origin:?} is not an origin: write scheme and host, e.g. https://dash.example.org or http://localhost:3000"
        ));
    }
    HeaderValue::from_str(origin).map_err(|error| format!("{origin:?}: {error}"))
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            bind: DEFAULT_BIND.parse().expect("valid default address"),
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            max_json_bytes: DEFAULT_MAX_JSON_BYTES,
            request_timeout_secs: DEFAULT_REQUEST_TIMEOUT_SECS,
            public_read: false,
            rate_limit_per_minute: DEFAULT_RATE_LIMIT_PER_MINUTE,
            rate_limit_burst: DEFAULT_RATE_LIMIT_BURST,
            cors_origins: Origins::default(),
            secure_cookies: false,
        }
    }
}

/// Where `simbench serve` writes the admin token it creates on first start.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct AccessConfig {
    /// Directory for the service's local files. Default: $XDG_DATA_HOME/simbench, else
    /// ~/.local/share/simbench.
    #[arg(long, env = "SIMBENCH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// File the first start writes its admin token to (readable by its owner only). Default:
    /// admin-token.DATABASE in the data directory, named after the database it belongs to.
    #[arg(long, env = "SIMBENCH_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
}

impl AccessConfig {
    /// The admin token file of the database named `database`, when a location is configured or
    /// a home directory is known. Each database has its own, so a start against another database
    /// never touches the file of the first.
    pub fn admin_token_file(&self, database: &str) -> Option<PathBuf> {
        if let Some(file) = &self.admin_token_file {
            return Some(file.clone());
        }
        let data_dir = self.data_dir.clone().or_else(|| {
            let from_env = |name| std::env::var_os(name).filter(|value| !value.is_empty());
            from_env("XDG_DATA_HOME")
                .map(PathBuf::from)
                .or_else(|| from_env("HOME").map(|home| PathBuf::from(home).join(".local/share")))
                .map(|base| base.join("simbench"))
        })?;
        let database: String = database
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Some(data_dir.join(format!("admin-token.{database}")))
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

    /// Bytes one comparison's measures may allocate; a metric that would need more for a pair is
    /// refused for it. Default: a quarter of the machine's memory.
    #[arg(long, env = "SIMBENCH_MEASURE_MEMORY_BYTES")]
    pub measure_memory_bytes: Option<u64>,

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

    /// The memory budget of one comparison: as configured, or a quarter of physical memory.
    pub fn measure_memory_budget(&self) -> MemoryBudget {
        MemoryBudget {
            bytes: self
                .measure_memory_bytes
                .unwrap_or_else(|| physical_memory_bytes() / 4),
        }
    }
}

/// Physical memory of the machine; when the system does not say, 4 GiB, a size every machine
/// that runs the service has.
pub fn physical_memory_bytes() -> u64 {
    let pages = nix::unistd::sysconf(nix::unistd::SysconfVar::_PHYS_PAGES);
    let page_size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE);
    match (pages, page_size) {
        (Ok(Some(pages)), Ok(Some(size))) if pages > 0 && size > 0 => {
            (pages as u64).saturating_mul(size as u64)
        }
        _ => 4 << 30,
    }
}

impl Default for WorkerConfig {
    fn default() -> WorkerConfig {
        WorkerConfig {
            workers: None,
            lease_secs: DEFAULT_LEASE_SECS,
            cache_bytes: DEFAULT_CACHE_BYTES,
            measure_memory_bytes: None,
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

    #[command(flatten)]
    pub access: AccessConfig,
}

/// `simbench worker`: comparison workers only, for scaling out against the same database.
#[derive(Clone, Debug, clap::Args)]
pub struct WorkerProcessConfig {
    #[command(flatten)]
    pub database: DatabaseConfig,

    #[command(flatten)]
    pub workers: WorkerConfig,

    /// Serve this process's Prometheus instruments on GET /metrics, and /healthz and /readyz, at
    /// this address (e.g. 0.0.0.0:9100); none by default.
    #[arg(long, env = "SIMBENCH_WORKER_BIND", value_name = "ADDRESS")]
    pub bind: Option<SocketAddr>,

    /// Let /metrics be scraped without a token, as `simbench serve` does.
    #[arg(long, env = "SIMBENCH_PUBLIC_READ", default_value_t = false, action = SWITCH, value_name = SWITCH_VALUES)]
    pub public_read: bool,
}
