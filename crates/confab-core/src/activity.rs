//! Counts of what the core did, read by the edge's `/metrics` and the
//! console's live view. Plain atomics: one relaxed add per commit, no lock
//! and no knowledge of any metrics library.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Activity {
    committed: AtomicU64,
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
}
