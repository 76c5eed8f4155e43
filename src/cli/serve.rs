//! `simbench serve`, `simbench worker` and `simbench migrate`.

use crate::app::{self, Application};
use crate::config::{DatabaseConfig, ServeConfig, WorkerProcessConfig};

/// Applies pending migrations, creates the first admin token when there is no token at all,
/// then serves the API and runs the in-process workers until SIGTERM or SIGINT.
pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    Application::build(config)
        .await?
        .run_until(shutdown_signal())
        .await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Runs comparison workers only, against the same database as the API, and serves their
/// instruments when given an address.
pub async fn worker(config: WorkerProcessConfig) -> anyhow::Result<()> {
    let application = Application::build_worker(config).await?;
    if let Some(address) = application.address() {
        tracing::info!(%address, "serving /metrics");
    }
    application.run_until(shutdown_signal()).await?;
    tracing::info!("workers stopped cleanly");
    Ok(())
}

/// Applies pending migrations and exits.
pub async fn migrate(config: DatabaseConfig) -> anyhow::Result<()> {
    app::connect_and_migrate(&config).await?;
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
