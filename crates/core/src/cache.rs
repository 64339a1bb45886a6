//! A read-through cache whose entries every node drops at once when any node changes the data
//! behind them (invalidations travel on the [`crate::kv::Kv`] bus: Redis pub/sub across
//! replicas, a channel in a single process).
//!
//! Safety rules: entries live at most `ttl`; while the bus is disconnected nothing is served
//! from the cache; after a reconnection everything is dropped (messages may have been missed);
//! and a value read from the database is only inserted if no invalidation arrived while it was
//! being read (the epoch check), so a stale read can never outlive the write that replaced it.

use crate::kv::{BusEvent, SharedKv};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

const KEY: &str = "k:";
const PREFIX: &str = "p:";

pub struct Cache<V> {
    name: &'static str,
    kv: SharedKv,
    ttl: Duration,
    max_entries: usize,
    epoch: AtomicU64,
    entries: RwLock<HashMap<String, (V, Instant)>>,
}

impl<V: Clone + Send + Sync + 'static> Cache<V> {
    /// A cache named `name` (its bus topic), listening for invalidations from now on.
    pub fn new(name: &'static str, kv: SharedKv, ttl: Duration, max_entries: usize) -> Arc<Self> {
        let mut events = kv.subscribe();
        let cache = Arc::new(Self {
            name,
            kv,
            ttl,
            max_entries,
            epoch: AtomicU64::new(0),
            entries: RwLock::new(HashMap::new()),
        });
        let weak: Weak<Self> = Arc::downgrade(&cache);
        tokio::spawn(async move {
            loop {
                let event = events.recv().await;
                let Some(cache) = weak.upgrade() else { return };
                match event {
                    Ok(BusEvent::Message { topic, payload }) if topic == cache.name => {
                        cache.drop_local(&payload);
                    }
                    Ok(BusEvent::Message { .. }) => {}
                    Ok(BusEvent::Resync)
                    | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        cache.clear();
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        cache
    }

    /// The cached value, if fresh and the bus is connected.
    pub fn get(&self, key: &str) -> Option<V> {
        if !self.kv.bus_connected() {
            return None;
        }
        let entries = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(v, _)| v.clone())
    }

    /// Take this before reading the database; pass it to [`Cache::insert`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Cache `value` unless an invalidation arrived since `epoch` was taken.
    pub fn insert(&self, key: String, value: V, epoch: u64) {
        if !self.kv.bus_connected() {
            return;
        }
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.epoch.load(Ordering::SeqCst) != epoch {
            return;
        }
        if entries.len() >= self.max_entries {
            entries.clear();
        }
        entries.insert(key, (value, Instant::now()));
    }

    /// Drop `key` here at once and on every other node.
    pub async fn invalidate(&self, key: &str) {
        self.drop_local(&format!("{KEY}{key}"));
        self.announce(&format!("{KEY}{key}")).await;
    }

    /// Drop every key starting with `prefix`, here at once and on every other node.
    pub async fn invalidate_prefix(&self, prefix: &str) {
        self.drop_local(&format!("{PREFIX}{prefix}"));
        self.announce(&format!("{PREFIX}{prefix}")).await;
    }

    async fn announce(&self, payload: &str) {
        if let Err(e) = self.kv.publish(self.name, payload).await {
            // Other nodes hear the same bus; if it is down they are not serving from cache.
            tracing::warn!(cache = self.name, error = %e, "could not announce an invalidation");
        }
    }

    fn drop_local(&self, payload: &str) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Some(key) = payload.strip_prefix(KEY) {
            entries.remove(key);
        } else if let Some(prefix) = payload.strip_prefix(PREFIX) {
            entries.retain(|k, _| !k.starts_with(prefix));
        }
    }

    fn clear(&self) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;

    #[tokio::test]
    async fn invalidation_drops_and_blocks_a_racing_insert() {
        let cache = Cache::<u32>::new("t", Arc::new(MemoryKv::new()), Duration::from_secs(60), 100);
        let e = cache.epoch();
        cache.insert("a".into(), 1, e);
        assert_eq!(cache.get("a"), Some(1));
        let before_read = cache.epoch();
        cache.invalidate("a").await;
        assert_eq!(cache.get("a"), None);
        // A value read before the invalidation must not be cached after it.
        cache.insert("a".into(), 1, before_read);
        assert_eq!(cache.get("a"), None);
        cache.insert("p1:u1".into(), 2, cache.epoch());
        cache.insert("p1:u2".into(), 3, cache.epoch());
        cache.invalidate_prefix("p1:").await;
        assert_eq!(cache.get("p1:u1"), None);
        assert_eq!(cache.get("p1:u2"), None);
    }

    #[tokio::test]
    async fn entries_expire() {
        let cache = Cache::<u32>::new(
            "t",
            Arc::new(MemoryKv::new()),
            Duration::from_millis(20),
            100,
        );
        cache.insert("a".into(), 1, cache.epoch());
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(cache.get("a"), None);
    }
}
