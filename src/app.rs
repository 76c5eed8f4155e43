//! The one wiring of the service: connect, migrate, hand out the first admin token, bind,
//! start the workers and serve. `simbench serve`, `simbench worker` and the tests all start
//! through [`Application`], so the tests exercise the start-up path users get.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::access::bootstrap::{self, INITIAL_ADMIN};
use crate::config::{
    AccessConfig, DatabaseConfig, HttpConfig, ServeConfig, WorkerConfig, WorkerProcessConfig,
};
use crate::http::{self, ApiContext};
use crate::store;
use crate::telemetry::Instruments;
use crate::ui;
use crate::worker::WorkerPool;

/// A started service: its database pool, its workers, and (unless it runs workers only without
/// an address) a bound listener with the router it will serve.
pub struct Application {
    db: PgPool,
    server: Option<(TcpListener, Router)>,
    workers: WorkerPool,
    shutdown: CancellationToken,
    admin_token_file: Option<PathBuf>,
}

impl Application {
    /// `simbench serve`: migrations, the first admin token when there is no token at all, the
    /// listener, and the in-process workers (already running when this returns).
    pub async fn build(config: ServeConfig) -> anyhow::Result<Application> {
        let db = connect_and_migrate(&config.database).await?;
        let admin_token_file = first_admin_token(&db, &config.access, &config.database).await?;
        let listener = bind(config.http.bind).await?;
        let (workers, instruments, shutdown) = start_workers(&db, &config.workers);
        let router = http::app(
            ApiContext {
                db: db.clone(),
                config: Arc::new(config.http),
                instruments,
            },
            ui::router(),
        );
        Ok(Application {
            db,
            server: Some((listener, router)),
            workers,
            shutdown,
            admin_token_file,
        })
    }

    /// `simbench worker`: workers only, serving their own instruments when given an address.
    pub async fn build_worker(config: WorkerProcessConfig) -> anyhow::Result<Application> {
        let db = connect_and_migrate(&config.database).await?;
        let listener = match config.bind {
            Some(address) => Some(bind(address).await?),
            None => None,
        };
        let (workers, instruments, shutdown) = start_workers(&db, &config.workers);
        let server = listener.map(|listener| {
            let router = http::worker_app(ApiContext {
                db: db.clone(),
                config: Arc::new(HttpConfig {
                    public_read: config.public_read,
                    ..HttpConfig::default()
                }),
                instruments,
            });
            (listener, router)
        });
        Ok(Application {
            db,
            server,
            workers,
            shutdown,
            admin_token_file: None,
        })
    }

    /// Where the service listens, when it does.
    pub fn address(&self) -> Option<SocketAddr> {
        self.server
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
    }

    pub fn db(&self) -> &PgPool {
        &self.db
    }

    /// The file the first start wrote its admin token to, when this start created it.
    pub fn admin_token_file(&self) -> Option<&PathBuf> {
        self.admin_token_file.as_ref()
    }

    /// Cancelling it stops the workers and the server, as `stop` resolving does.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until `stop` resolves or the shutdown token is cancelled, finishing requests in
    /// flight, then waits for the workers to put their jobs back.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let shutdown = self.shutdown.clone();
        let stopped = async move {
            tokio::select! {
                () = stop => {}
                () = shutdown.cancelled() => {}
            }
            shutdown.cancel();
        };
        match self.server {
            Some((listener, router)) => {
                tracing::info!(address = %listener.local_addr()?, "simbench is serving");
                http::serve_app(listener, router, stopped).await?;
            }
            None => stopped.await,
        }
        self.workers.wait().await;
        Ok(())
    }
}

/// Starts the workers with fresh instruments and the shutdown token that stops them.
fn start_workers(
    db: &PgPool,
    config: &WorkerConfig,
) -> (WorkerPool, Arc<Instruments>, CancellationToken) {
    let instruments = Arc::new(Instruments::new());
    let shutdown = CancellationToken::new();
    let workers = WorkerPool::start(db.clone(), config, instruments.clone(), shutdown.clone());
    (workers, instruments, shutdown)
}

async fn bind(address: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("could not listen on {address}"))
}

pub async fn connect_and_migrate(config: &DatabaseConfig) -> anyhow::Result<PgPool> {
    let db = store::connect(config)
        .await
        .context("could not connect to PostgreSQL (check DATABASE_URL)")?;
    store::migrate(&db)
        .await
        .context("could not apply migrations")?;
    Ok(db)
}

/// On first start, hands the operator an admin token through a private file named after the
/// database; says where, and never what the token is. Returns the file when it wrote one.
async fn first_admin_token(
    db: &PgPool,
    access: &AccessConfig,
    database: &DatabaseConfig,
) -> anyhow::Result<Option<PathBuf>> {
    let file = access.admin_token_file(&database.database_name());
    if !bootstrap::ensure_admin_token(db, file.as_deref()).await? {
        return Ok(None);
    }
    let path = file
        .as_ref()
        .map(|file| file.display().to_string())
        .unwrap_or_default();
    // A warning so that it shows at every log level but error: a credential now exists, and
    // whoever started the service must learn where it is.
    tracing::warn!(
        %path,
        "no API token existed: created the admin token {INITIAL_ADMIN:?} and wrote it to {path}, readable by you only. Send it as the header Authorization: Bearer <token>, or to clients through SIMBENCH_TOKEN (export SIMBENCH_TOKEN=$(cat {path})). Make more tokens with `simbench token create --name NAME --scope read|write|admin`, or POST /v1/tokens"
    );
    Ok(file)
}
