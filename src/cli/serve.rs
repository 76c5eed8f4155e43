//! `simbench serve`, `simbench worker` and `simbench migrate`.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{DatabaseConfig, ServeConfig, WorkerProcessConfig};
use crate::http::{self, ApiContext};
use crate::store;
use crate::telemetry::Instruments;
use crate::worker::WorkerPool;

/// Applies pending migrations, then serves the API and runs the in-process workers until
/// SIGTERM or SIGINT.
pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let db = connect_and_migrate(&config.database).await?;
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

/// Runs comparison workers only, against the same database as the API.
pub async fn worker(config: WorkerProcessConfig) -> anyhow::Result<()> {
    let db = connect_and_migrate(&config.database).await?;
    let shutdown = CancellationToken::new();
    let workers = WorkerPool::start(
        db,
        &config.workers,
        Arc::new(Instruments::new()),
        shutdown.clone(),
    );
    shutdown_signal().await;
    shutdown.cancel();
    workers.wait().await;
    tracing::info!("workers stopped cleanly");
    Ok(())
}

/// Applies pending migrations and exits.
pub async fn migrate(config: DatabaseConfig) -> anyhow::Result<()> {
    connect_and_migrate(&config).await?;
    tracing::info!("the schema is up to date");
    Ok(())
}

async fn connect_and_migrate(config: &DatabaseConfig) -> anyhow::Result<sqlx::PgPool> {
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
