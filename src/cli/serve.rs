//! `simbench serve`, `simbench worker` and `simbench migrate`.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::access::bootstrap::{self, INITIAL_ADMIN};
use crate::config::{AccessConfig, DatabaseConfig, HttpConfig, ServeConfig, WorkerProcessConfig};
use crate::http::{self, ApiContext};
use crate::store;
use crate::telemetry::Instruments;
use crate::worker::WorkerPool;

/// Applies pending migrations, creates the first admin token when there is no token at all,
/// then serves the API and runs the in-process workers until SIGTERM or SIGINT.
pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let db = connect_and_migrate(&config.database).await?;
    first_admin_token(&db, &config.access).await?;
    let listener = TcpListener::bind(config.http.bind)
        .await
        .with_context(|| format!("could not listen on {}", config.http.bind))?;
    tracing::info!(address = %listener.local_addr()?, "simbench is serving");
    let instruments = Arc::new(Instruments::new());
    let shutdown = CancellationToken::new();
    let workers = WorkerPool::start(
        db.clone(),
        &config.workers,
        instruments.clone(),
        shutdown.clone(),
    );
    let ctx = ApiContext {
        db,
        config: Arc::new(config.http),
        instruments,
    };
    let stop = shutdown.clone();
    http::serve(listener, ctx, async move {
        shutdown_signal().await;
        stop.cancel();
    })
    .await?;
    workers.wait().await;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Runs comparison workers only, against the same database as the API, and serves their
/// instruments when given an address.
pub async fn worker(config: WorkerProcessConfig) -> anyhow::Result<()> {
    let db = connect_and_migrate(&config.database).await?;
    let listener = match config.bind {
        Some(address) => Some(
            TcpListener::bind(address)
                .await
                .with_context(|| format!("could not listen on {address}"))?,
        ),
        None => None,
    };
    let instruments = Arc::new(Instruments::new());
    let shutdown = CancellationToken::new();
    let workers = WorkerPool::start(
        db.clone(),
        &config.workers,
        instruments.clone(),
        shutdown.clone(),
    );
    let metrics_server = match listener {
        Some(listener) => {
            tracing::info!(address = %listener.local_addr()?, "serving /metrics");
            let ctx = ApiContext {
                db,
                config: Arc::new(HttpConfig {
                    public_read: config.public_read,
                    ..HttpConfig::default()
                }),
                instruments,
            };
            let stop = shutdown.clone();
            Some(tokio::spawn(http::serve_app(
                listener,
                http::worker_app(ctx),
                async move { stop.cancelled().await },
            )))
        }
        None => None,
    };
    shutdown_signal().await;
    shutdown.cancel();
    workers.wait().await;
    if let Some(server) = metrics_server {
        server.await??;
    }
    tracing::info!("workers stopped cleanly");
    Ok(())
}

/// Applies pending migrations and exits.
pub async fn migrate(config: DatabaseConfig) -> anyhow::Result<()> {
    connect_and_migrate(&config).await?;
    tracing::info!("the schema is up to date");
    Ok(())
}

/// On first start, hands the operator an admin token through a private file; says where, and
/// never what the token is.
async fn first_admin_token(db: &sqlx::PgPool, config: &AccessConfig) -> anyhow::Result<()> {
    let file = config.admin_token_file();
    if !bootstrap::ensure_admin_token(db, file.as_deref()).await? {
        return Ok(());
    }
    let path = file
        .map(|file| file.display().to_string())
        .unwrap_or_default();
    // A warning so that it shows at every log level but error: a credential now exists, and
    // whoever started the service must learn where it is.
    tracing::warn!(
        %path,
        "no API token existed: created the admin token {INITIAL_ADMIN:?} and wrote it to {path}, readable by you only. Send it as the header Authorization: Bearer <token>, or to clients through SIMBENCH_TOKEN (export SIMBENCH_TOKEN=$(cat {path})). Make more tokens with `simbench token create --name NAME --scope read|write|admin`, or POST /v1/tokens"
    );
    Ok(())
}

pub(super) async fn connect_and_migrate(config: &DatabaseConfig) -> anyhow::Result<sqlx::PgPool> {
    let db = store::connect(config)
        .await
        .context("could not connect to PostgreSQL (check DATABASE_URL)")?;
    store::migrate(&db)
        .await
        .context("could not apply migrations")?;
    Ok(db)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (container stop).
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested: finishing requests in flight");
}
