//! The small key-value surface that Redis provides when configured and this process provides
//! otherwise: fixed-window counters (rate limits) and expiring flags (revocations).
//!
//! Everything Redis does for mdz goes through [`Kv`], so a single node needs no Redis and
//! many nodes share state through one.

use async_trait::async_trait;
use deadpool_redis::redis::AsyncCommands;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// A message on the bus every node of a deployment hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent {
    /// `topic` said `payload` (e.g. a cache key to drop).
    Message { topic: String, payload: String },
    /// Messages may have been lost (the bus reconnected): drop everything derived from them.
    Resync,
}

const BUS_CAPACITY: usize = 4096;

/// Why the shared store could not answer.
#[derive(Debug, thiserror::Error)]
#[error("shared store unavailable: {0}")]
pub struct KvError(String);

/// A counter's value and how long until its window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub count: u64,
    pub resets_in: Duration,
}

#[async_trait]
pub trait Kv: Send + Sync + 'static {
    /// Add one to the counter `key`, starting a window of `window` if none is running.
    async fn incr(&self, key: &str, window: Duration) -> Result<Window, KvError>;
    /// Read the counter `key` (zero when absent or expired).
    async fn count(&self, key: &str) -> Result<Window, KvError>;
    /// Remove the counter `key`.
    async fn reset(&self, key: &str) -> Result<(), KvError>;
    /// Take back one [`Kv::incr`] of a running window (a reserved attempt that turned out not
    /// to count); nothing when the counter is absent, expired or zero. The window keeps its end.
    async fn release(&self, key: &str) -> Result<(), KvError>;
    /// Set a flag that expires after `ttl`.
    async fn set_flag(&self, key: &str, ttl: Duration) -> Result<(), KvError>;
    /// Is the flag set?
    async fn has_flag(&self, key: &str) -> Result<bool, KvError>;
    /// Is the store reachable?
    async fn ping(&self) -> Result<(), KvError>;
    /// `redis` or `memory`, for health output and logs.
    fn backend(&self) -> &'static str;
    /// Tell every node (this one included) `payload` on `topic`.
    async fn publish(&self, topic: &str, payload: &str) -> Result<(), KvError>;
    /// Hear the bus from now on.
    fn subscribe(&self) -> broadcast::Receiver<BusEvent>;
    /// Is this node hearing the bus? While it is not, nothing may trust what it last heard.
    fn bus_connected(&self) -> bool;
}

pub type SharedKv = Arc<dyn Kv>;

/// In-process store for a single node.
pub struct MemoryKv {
    entries: Mutex<HashMap<String, (u64, Instant)>>,
    bus: broadcast::Sender<BusEvent>,
}

impl Default for MemoryKv {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
            bus: broadcast::channel(BUS_CAPACITY).0,
        }
    }
}

impl MemoryKv {
    pub fn new() -> Self {
        Self::default()
    }

    fn with_entries<T>(&self, f: impl FnOnce(&mut HashMap<String, (u64, Instant)>) -> T) -> T {
        let mut guard = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if guard.len() > 10_000 {
            guard.retain(|_, (_, until)| *until > now);
        }
        f(&mut guard)
    }
}

#[async_trait]
impl Kv for MemoryKv {
    async fn incr(&self, key: &str, window: Duration) -> Result<Window, KvError> {
        let now = Instant::now();
        Ok(self.with_entries(|m| {
            let entry = m.entry(key.to_owned()).or_insert((0, now + window));
            if entry.1 <= now {
                *entry = (0, now + window);
            }
            entry.0 += 1;
            Window {
                count: entry.0,
                resets_in: entry.1 - now,
            }
        }))
    }

    async fn count(&self, key: &str) -> Result<Window, KvError> {
        let now = Instant::now();
        Ok(self.with_entries(|m| match m.get(key) {
            Some((count, until)) if *until > now => Window {
                count: *count,
                resets_in: *until - now,
            },
            _ => Window {
                count: 0,
                resets_in: Duration::ZERO,
            },
        }))
    }

    async fn reset(&self, key: &str) -> Result<(), KvError> {
        self.with_entries(|m| m.remove(key));
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), KvError> {
        let now = Instant::now();
        self.with_entries(|m| {
            if let Some((count, until)) = m.get_mut(key)
                && *until > now
            {
                *count = count.saturating_sub(1);
            }
        });
        Ok(())
    }

    async fn set_flag(&self, key: &str, ttl: Duration) -> Result<(), KvError> {
        let until = Instant::now() + ttl;
        self.with_entries(|m| m.insert(key.to_owned(), (1, until)));
        Ok(())
    }

    async fn has_flag(&self, key: &str) -> Result<bool, KvError> {
        Ok(self.count(key).await?.count > 0)
    }

    async fn ping(&self) -> Result<(), KvError> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn publish(&self, topic: &str, payload: &str) -> Result<(), KvError> {
        // No receivers is fine: nobody caches anything yet.
        drop(self.bus.send(BusEvent::Message {
            topic: topic.to_owned(),
            payload: payload.to_owned(),
        }));
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.bus.subscribe()
    }

    fn bus_connected(&self) -> bool {
        true
    }
}

/// Redis-backed store shared by every replica.
pub struct RedisKv {
    pool: deadpool_redis::Pool,
    prefix: String,
    bus: broadcast::Sender<BusEvent>,
    bus_up: Arc<AtomicBool>,
}

impl RedisKv {
    /// Build a lazy pool: nothing connects until first use, so a down Redis is reported, not fatal.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Result<Self, KvError> {
        let mut cfg = deadpool_redis::Config::from_url(url);
        let mut pool_cfg = deadpool_redis::PoolConfig::new(32);
        pool_cfg.timeouts.wait = Some(timeout);
        pool_cfg.timeouts.create = Some(timeout);
        pool_cfg.timeouts.recycle = Some(timeout);
        cfg.pool = Some(pool_cfg);
        let pool = cfg
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .map_err(|e| KvError(e.to_string()))?;
        let client = deadpool_redis::redis::Client::open(url).map_err(redis_err)?;
        let bus = broadcast::channel(BUS_CAPACITY).0;
        let bus_up = Arc::new(AtomicBool::new(false));
        tokio::spawn(listen(
            client,
            format!("{prefix}bus"),
            bus.clone(),
            bus_up.clone(),
        ));
        Ok(Self {
            pool,
            prefix: prefix.to_owned(),
            bus,
            bus_up,
        })
    }

    async fn conn(&self) -> Result<deadpool_redis::Connection, KvError> {
        self.pool.get().await.map_err(|e| KvError(e.to_string()))
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

/// Keep a subscription to the bus channel, reconnecting with backoff. Every (re)connection and
/// every loss is announced as `Resync`, since messages may have been missed in between.
async fn listen(
    client: deadpool_redis::redis::Client,
    channel: String,
    bus: broadcast::Sender<BusEvent>,
    up: Arc<AtomicBool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        // Stop when the store that owns this bus is gone.
        if bus.receiver_count() == 0 && Arc::strong_count(&up) == 1 {
            return;
        }
        let connected = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, deadpool_redis::redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(Duration::from_secs(2), connected).await {
            Ok(Ok(pubsub)) => {
                backoff = Duration::from_millis(100);
                up.store(true, Ordering::SeqCst);
                drop(bus.send(BusEvent::Resync));
                let mut messages = pubsub.into_on_message();
                while let Some(msg) = messages.next().await {
                    let Ok(raw) = msg.get_payload::<String>() else {
                        continue;
                    };
                    if let Some((topic, payload)) = raw.split_once('\n') {
                        drop(bus.send(BusEvent::Message {
                            topic: topic.to_owned(),
                            payload: payload.to_owned(),
                        }));
                    }
                }
                up.store(false, Ordering::SeqCst);
                drop(bus.send(BusEvent::Resync));
                tracing::warn!("lost the Redis bus subscription; reconnecting");
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "Redis bus unavailable"),
            Err(_) => tracing::debug!("Redis bus connection timed out"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

fn redis_err(e: deadpool_redis::redis::RedisError) -> KvError {
    KvError(e.to_string())
}

fn ttl_to_duration(ttl_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0))
}

#[async_trait]
impl Kv for RedisKv {
    async fn incr(&self, key: &str, window: Duration) -> Result<Window, KvError> {
        let key = self.key(key);
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let mut conn = self.conn().await?;
        // INCR then PEXPIRE NX in one round trip: the first hit of a window sets its end.
        let (count, _, ttl): (u64, i64, i64) = deadpool_redis::redis::pipe()
            .atomic()
            .incr(&key, 1u64)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(window_ms)
            .arg("NX")
            .cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(Window {
            count,
            resets_in: ttl_to_duration(ttl),
        })
    }

    async fn count(&self, key: &str) -> Result<Window, KvError> {
        let key = self.key(key);
        let mut conn = self.conn().await?;
        let (count, ttl): (Option<u64>, i64) = deadpool_redis::redis::pipe()
            .get(&key)
            .cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(Window {
            count: count.unwrap_or(0),
            resets_in: ttl_to_duration(ttl),
        })
    }

    async fn reset(&self, key: &str) -> Result<(), KvError> {
        let mut conn = self.conn().await?;
        let _: i64 = conn.del(self.key(key)).await.map_err(redis_err)?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), KvError> {
        // Only a live, positive counter goes down: a DECR of an expired key would create one
        // at -1 without an expiry.
        const SCRIPT: &str = "local v = tonumber(redis.call('GET', KEYS[1])) \
            if v and v > 0 then return redis.call('DECR', KEYS[1]) end return 0";
        let mut conn = self.conn().await?;
        let _: i64 = deadpool_redis::redis::cmd("EVAL")
            .arg(SCRIPT)
            .arg(1)
            .arg(self.key(key))
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    async fn set_flag(&self, key: &str, ttl: Duration) -> Result<(), KvError> {
        let mut conn = self.conn().await?;
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let _: () = conn
            .pset_ex(self.key(key), 1u8, ms)
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    async fn has_flag(&self, key: &str) -> Result<bool, KvError> {
        let mut conn = self.conn().await?;
        conn.exists(self.key(key)).await.map_err(redis_err)
    }

    async fn ping(&self) -> Result<(), KvError> {
        let mut conn = self.conn().await?;
        let _: String = deadpool_redis::redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn publish(&self, topic: &str, payload: &str) -> Result<(), KvError> {
        let mut conn = self.conn().await?;
        let _: i64 = conn
            .publish(format!("{}bus", self.prefix), format!("{topic}\n{payload}"))
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.bus.subscribe()
    }

    fn bus_connected(&self) -> bool {
        self.bus_up.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_counter_counts_within_a_window_and_resets_after() {
        let kv = MemoryKv::new();
        let w = Duration::from_millis(50);
        assert_eq!(kv.incr("a", w).await.unwrap().count, 1);
        assert_eq!(kv.incr("a", w).await.unwrap().count, 2);
        assert_eq!(kv.count("a").await.unwrap().count, 2);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(kv.count("a").await.unwrap().count, 0);
        assert_eq!(kv.incr("a", w).await.unwrap().count, 1);
    }

    #[tokio::test]
    async fn memory_release_takes_back_one_hit_and_never_goes_below_zero() {
        let kv = MemoryKv::new();
        let w = Duration::from_secs(60);
        kv.incr("r", w).await.unwrap();
        kv.incr("r", w).await.unwrap();
        kv.release("r").await.unwrap();
        assert_eq!(kv.count("r").await.unwrap().count, 1);
        kv.release("r").await.unwrap();
        kv.release("r").await.unwrap();
        assert_eq!(kv.count("r").await.unwrap().count, 0);
        kv.release("absent").await.unwrap();
        assert_eq!(kv.count("absent").await.unwrap().count, 0);
    }

    #[tokio::test]
    async fn memory_flags_expire() {
        let kv = MemoryKv::new();
        kv.set_flag("f", Duration::from_millis(30)).await.unwrap();
        assert!(kv.has_flag("f").await.unwrap());
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(!kv.has_flag("f").await.unwrap());
    }
}
