//! Collab metrics: rooms, connections, stored updates per commit, failed commits, fan-out
//! latency, refused writes, closes.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

pub struct CollabMetrics {
    pub rooms: IntGauge,
    pub connections: IntGauge,
    pub batch: Histogram,
    pub journal_failures: IntCounter,
    pub fanout: Histogram,
    pub updates: IntCounter,
    pub dropped_writes: IntCounter,
    pub closes: IntCounterVec,
}

impl CollabMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self {
            rooms: IntGauge::new("mdz_collab_rooms", "Documents loaded in memory")?,
            connections: IntGauge::new("mdz_collab_connections", "Open collab WebSockets")?,
            batch: Histogram::with_opts(
                HistogramOpts::new(
                    "mdz_collab_commit_batch_updates",
                    "Collab updates stored per database commit (group commit)",
                )
                .buckets(vec![
                    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0,
                ]),
            )?,
            journal_failures: IntCounter::new(
                "mdz_collab_journal_failed_commits_total",
                "Journal commits (batches of updates) PostgreSQL refused; their sockets closed",
            )?,
            fanout: Histogram::with_opts(
                HistogramOpts::new(
                    "mdz_collab_fanout_seconds",
                    "From a room frame's broadcast on this node to its write on each socket",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ]),
            )?,
            updates: IntCounter::new("mdz_collab_updates_total", "Collab updates stored")?,
            dropped_writes: IntCounter::new(
                "mdz_collab_dropped_writes_total",
                "Updates from read-only connections (viewers, commenters), dropped unapplied",
            )?,
            closes: IntCounterVec::new(
                Opts::new(
                    "mdz_collab_closes_total",
                    "Collab connections closed by the server, by reason",
                ),
                &["reason"],
            )?,
        };
        registry.register(Box::new(metrics.rooms.clone()))?;
        registry.register(Box::new(metrics.connections.clone()))?;
        registry.register(Box::new(metrics.batch.clone()))?;
        registry.register(Box::new(metrics.journal_failures.clone()))?;
        registry.register(Box::new(metrics.fanout.clone()))?;
        registry.register(Box::new(metrics.updates.clone()))?;
        registry.register(Box::new(metrics.dropped_writes.clone()))?;
        registry.register(Box::new(metrics.closes.clone()))?;
        Ok(metrics)
    }
}
