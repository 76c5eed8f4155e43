//! Prepared representations kept in memory, bounded in bytes, least recently used out first,
//! shared by the workers of a process so each representation is loaded and prepared once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::metrics::Prepared;

pub struct PreparedCache {
    budget_bytes: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<i64, Entry>,
    clock: u64,
}

struct Entry {
    /// Concurrent requests for the same representation wait for one preparation.
    cell: Arc<OnceCell<Arc<Prepared>>>,
    last_used: u64,
}

impl PreparedCache {
    pub fn new(budget_bytes: u64) -> PreparedCache {
        PreparedCache {
            budget_bytes: usize::try_from(budget_bytes).unwrap_or(usize::MAX),
            state: Mutex::new(State::default()),
        }
    }

    /// The prepared representation `id`, from the cache or from `prepare`.
    pub async fn get_or_prepare<E, F, Fut>(&self, id: i64, prepare: F) -> Result<Arc<Prepared>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Arc<Prepared>, E>>,
    {
        let cell = {
            let mut state = self.state.lock().expect("cache lock");
            state.clock += 1;
            let now = state.clock;
            let entry = state.entries.entry(id).or_insert_with(|| Entry {
                cell: Arc::new(OnceCell::new()),
                last_used: now,
            });
            entry.last_used = now;
            entry.cell.clone()
        };
        let prepared = cell.get_or_try_init(prepare).await?.clone();
        self.evict_beyond_budget(id);
        Ok(prepared)
    }

    /// Ids of the representations ready in memory.
    pub fn ready_ids(&self) -> Vec<i64> {
        let state = self.state.lock().expect("cache lock");
        state
            .entries
            .iter()
            .filter(|(_, entry)| entry.cell.initialized())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Bytes held by the prepared representations in memory (lazy parts grow them as metrics
    /// need them).
    pub fn bytes(&self) -> usize {
        let state = self.state.lock().expect("cache lock");
        state.entries.values().map(Entry::bytes).sum()
    }

    /// Drops least recently used representations until the rest fit the budget; `keep` (just
    /// asked for) stays even when it alone exceeds it, since it is about to be used.
    fn evict_beyond_budget(&self, keep: i64) {
        let mut state = self.state.lock().expect("cache lock");
        let mut total: usize = state.entries.values().map(Entry::bytes).sum();
        while total > self.budget_bytes {
            let oldest = state
                .entries
                .iter()
                .filter(|(id, entry)| **id != keep && entry.cell.initialized())
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(id, _)| *id);
            let Some(oldest) = oldest else { break };
            if let Some(entry) = state.entries.remove(&oldest) {
                total -= entry.bytes();
            }
        }
    }
}

impl Entry {
    fn bytes(&self) -> usize {
        self.cell
            .get()
            .map_or(0, |prepared| prepared.memory_bytes())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use ndarray::Array2;

    use super::*;

    fn prepared(seed: u64) -> Arc<Prepared> {
        let values = Array2::from_shape_fn((20, 4), |(i, j)| {
            ((i * 7 + j * 3) as u64 * seed % 11) as f64
        });
        Arc::new(Prepared::new(values).unwrap())
    }

    #[tokio::test]
    async fn prepares_once_and_evicts_the_least_recently_used() {
        let one = prepared(1).memory_bytes();
        let cache = PreparedCache::new((2 * one + one / 2) as u64);
        let preparations = AtomicUsize::new(0);
        let prepare = |seed| {
            let preparations = &preparations;
            move || async move {
                preparations.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(prepared(seed))
            }
        };
        cache.get_or_prepare(1, prepare(1)).await.unwrap();
        cache.get_or_prepare(2, prepare(2)).await.unwrap();
        cache.get_or_prepare(1, prepare(1)).await.unwrap();
        assert_eq!(preparations.load(Ordering::SeqCst), 2, "1 came from memory");
        cache.get_or_prepare(3, prepare(3)).await.unwrap();
        let mut ready = cache.ready_ids();
        ready.sort();
        assert_eq!(ready, vec![1, 3], "2 was the least recently used");
        assert!(cache.bytes() <= 2 * one + one / 2);
    }

    #[tokio::test]
    async fn a_failed_preparation_is_retried_next_time() {
        let cache = PreparedCache::new(1 << 30);
        let failed = cache
            .get_or_prepare(7, || async { Err::<Arc<Prepared>, _>("database down") })
            .await;
        assert!(matches!(failed, Err("database down")));
        assert!(cache.ready_ids().is_empty());
        let again = cache
            .get_or_prepare(7, || async { Ok::<_, &str>(prepared(7)) })
            .await;
        assert!(again.is_ok());
        assert_eq!(cache.ready_ids(), vec![7]);
    }
}
