//! Counts of what the core did, read by the edge's `/metrics` and the
//! console's live view. Plain atomics: one relaxed add per commit, no lock
//! and no knowledge of any metrics library.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct Activity {
    committed: AtomicU64,
    acks: AtomicU64,
}

impl Activity {
    /// Messages committed to storage since the process started (every
    /// dialect and protocol; a multicast counts once, as it is stored once).
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }

    pub(crate) fn add_committed(&self, messages: usize) {
        self.committed.fetch_add(messages as u64, Ordering::Relaxed);
    }

    /// Delivery acknowledgements gateway sessions recorded (each moves a
    /// device's cursor in one conversation; a client acks many messages at once).
    pub fn acks(&self) -> u64 {
        self.acks.load(Ordering::Relaxed)
    }

    pub(crate) fn add_ack(&self) {
        self.acks.fetch_add(1, Ordering::Relaxed);
    }
}

/// A histogram with fixed bounds kept in atomics, so a storage engine's
/// writer or the bus can record into it from any thread without a lock.
/// The edge exports it (`metrics.rs`); the core knows no metrics library.
#[derive(Debug)]
pub struct Buckets {
    bounds: &'static [f64],
    /// One count per bound, and one for what is above every bound.
    counts: Box<[AtomicU64]>,
    /// The sum of observations, in millionths of the unit.
    sum_millionths: AtomicU64,
}

impl Buckets {
    pub fn new(bounds: &'static [f64]) -> Buckets {
        Buckets {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_millionths: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        let bucket = self.bounds.iter().position(|b| value <= *b).unwrap_or(self.bounds.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_millionths.fetch_add((value.max(0.0) * 1e6) as u64, Ordering::Relaxed);
    }

    /// (upper bound, count in that bucket alone); the last bound is `f64::MAX`.
    pub fn read(&self) -> Vec<(f64, u64)> {
        let bounds = self.bounds.iter().copied().chain(std::iter::once(f64::MAX));
        bounds.zip(self.counts.iter().map(|c| c.load(Ordering::Relaxed))).collect()
    }

    pub fn sum(&self) -> f64 {
        self.sum_millionths.load(Ordering::Relaxed) as f64 / 1e6
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// Batch sizes of a commit: 1 to 1,024 writes.
const BATCH_BOUNDS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];
/// Commit durations: 0.1 ms to about 1.6 s.
const COMMIT_SECONDS: &[f64] = &[
    0.0001, 0.0002, 0.0004, 0.0008, 0.0016, 0.0032, 0.0064, 0.0128, 0.0256, 0.0512, 0.1024, 0.2048, 0.4096, 0.8192,
    1.6384,
];

/// What a storage engine's group commits do: how many writes each carried
/// and how long it took (from the start of the transaction to the durable
/// commit), and how many failed.
pub struct CommitStats {
    pub batch_sizes: Buckets,
    pub seconds: Buckets,
    failures: AtomicU64,
    /// What an engine that runs inside the server says of itself (SQLite);
    /// `None` for one that runs elsewhere (PostgreSQL).
    engine: Option<Arc<dyn EngineStats>>,
}

/// What an engine running inside the server process reports of itself, for
/// the operator's metrics.
pub trait EngineStats: Send + Sync {
    /// Bytes it holds in the server's memory: a cache of what is stored
    /// (SQLite: page caches, statements, schemas), not a session's cost.
    fn memory_bytes(&self) -> u64;
    /// The write-ahead log checkpoints it has run so far.
    fn checkpoints(&self) -> Checkpoints;
}

/// Write-ahead log checkpoints, by who ran them: a thread of their own, off
/// the commit path, or the writer at a commit (to let the log start over,
/// or as a backstop when the thread fell behind). A writer count growing
/// as fast as the background one says commits are paying for copies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoints {
    pub background: u64,
    pub writer: u64,
}

impl Default for CommitStats {
    fn default() -> Self {
        CommitStats {
            batch_sizes: Buckets::new(BATCH_BOUNDS),
            seconds: Buckets::new(COMMIT_SECONDS),
            failures: AtomicU64::new(0),
            engine: None,
        }
    }
}

impl std::fmt::Debug for CommitStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitStats").field("failures", &self.failures()).finish_non_exhaustive()
    }
}

impl CommitStats {
    /// Stats for an engine that runs inside the server and reports on itself.
    pub fn with_engine(engine: Arc<dyn EngineStats>) -> CommitStats {
        CommitStats { engine: Some(engine), ..CommitStats::default() }
    }

    /// What the engine says of itself, if it runs inside the server.
    pub fn engine(&self) -> Option<&dyn EngineStats> {
        self.engine.as_deref()
    }

    /// A commit of `writes` that took `seconds`.
    pub fn committed(&self, writes: usize, seconds: f64) {
        self.batch_sizes.observe(writes as f64);
        self.seconds.observe(seconds);
    }

    /// A commit that failed (its writes were refused).
    pub fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

/// What a node sent and received on the bus between nodes (NATS).
#[derive(Debug, Default)]
pub struct BusStats {
    published: AtomicU64,
    received: AtomicU64,
}

impl BusStats {
    pub fn published(&self, messages: u64) {
        self.published.fetch_add(messages, Ordering::Relaxed);
    }

    pub fn received(&self, messages: u64) {
        self.received.fetch_add(messages, Ordering::Relaxed);
    }

    /// (messages published, messages received) since the node joined.
    pub fn totals(&self) -> (u64, u64) {
        (self.published.load(Ordering::Relaxed), self.received.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_count_each_observation_once() {
        let buckets = Buckets::new(&[1.0, 10.0]);
        for v in [0.5, 1.0, 3.0, 10.0, 11.0] {
            buckets.observe(v);
        }
        assert_eq!(buckets.read(), vec![(1.0, 2), (10.0, 2), (f64::MAX, 1)]);
        assert_eq!(buckets.count(), 5);
        assert!((buckets.sum() - 25.5).abs() < 1e-9);
    }
}
