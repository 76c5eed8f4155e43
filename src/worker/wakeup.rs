//! LISTEN/NOTIFY wake-ups: a transaction that queues jobs notifies a channel; one listener per
//! process wakes the idle workers, so they neither sleep through new work nor poll in a storm.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store::jobs::WAKEUP_CHANNEL;

/// Listens until `shutdown`, waking every idle worker on each notification. After a lost
/// connection it wakes them too, since notifications sent meanwhile are gone.
pub async fn listen(db: PgPool, wakeup: Arc<Notify>, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        let mut listener = match PgListener::connect_with(&db).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for new jobs; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        if let Err(error) = listener.listen(WAKEUP_CHANNEL).await {
            tracing::warn!(%error, "cannot listen for new jobs; retrying");
            continue;
        }
        backoff = Duration::from_millis(100);
        wakeup.notify_waiters();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                received = listener.try_recv() => match received {
                    Ok(Some(_)) => wakeup.notify_waiters(),
                    // The connection dropped; it reconnects on the next call, but
                    // notifications sent meanwhile are lost.
                    Ok(None) => wakeup.notify_waiters(),
                    Err(error) => {
                        tracing::warn!(%error, "lost the job notification channel; reconnecting");
                        break;
                    }
                },
            }
        }
    }
}
