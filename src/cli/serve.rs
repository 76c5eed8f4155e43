//! `simbench serve` and `simbench migrate`.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::{DatabaseConfig, ServeConfig};
use crate::http::{self, ApiContext};
use crate::store;

/// Applies pending migrations, then serves the API until SIGTERM or SIGINT.
pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let db = store::connect(&config.database)
        .await
        .context("could not connect to PostgreSQL (check DATABASE_URL)")?;
    store::migrate(&db)
        .await
        .context("could not apply migrations")?;
    let listener = TcpListener::bind(config.http.bind)
        .await
        .with_context(|| format!("could not listen on {}", config.http.bind))?;
    tracing::info!(address = %listener.local_addr()?, "simbench is serving");
    let ctx = ApiContext {
        db,
        config: Arc::new(config.http),
    };
    http::serve(listener, ctx, shutdown_signal()).await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Applies pending migrations and exits.
pub async fn migrate(config: DatabaseConfig) -> anyhow::Result<()> {
    let db = store::connect(&config)
        .await
        .context("could not connect to PostgreSQL (check DATABASE_URL)")?;
    store::migrate(&db)
        .await
        .context("could not apply migrations")?;
    tracing::info!("the schema is up to date");
    Ok(())
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
