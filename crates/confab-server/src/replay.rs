//! Signed requests seen recently, so a captured one cannot be sent again.
//! WildfireChat's dialect signs every call with a nonce and a timestamp;
//! which window and how many to remember are its own (`wildfire::auth`).

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

use confab_core::model::AppId;

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// This exact signature was used before, within its window.
    Seen,
    /// Too many signatures are remembered; the caller should slow down.
    Full,
}

/// Signatures seen within their window, as keyed hashes (a caller cannot
/// choose collisions), with when each may be forgotten.
#[derive(Default)]
pub struct NonceCache {
    hasher: RandomState,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    hashes: HashSet<u64>,
    by_expiry: BTreeMap<i64, Vec<u64>>,
}

impl NonceCache {
    /// Records a signature, remembered until `forget_at_ms`; refuses one
    /// seen before, or any while `most` are remembered.
    pub fn first_use(
        &self,
        app: AppId,
        nonce: &str,
        sent_ms: i64,
        forget_at_ms: i64,
        most: usize,
        now: i64,
    ) -> Result<(), Replay> {
        let hash = self.hasher.hash_one((app, nonce, sent_ms));
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let Seen { hashes, by_expiry } = &mut *seen;
        while let Some(entry) = by_expiry.first_entry() {
            if *entry.key() > now {
                break;
            }
            for old in entry.remove() {
                hashes.remove(&old);
            }
        }
        if hashes.len() >= most {
            return Err(Replay::Full);
        }
        if !hashes.insert(hash) {
            return Err(Replay::Seen);
        }
        by_expiry.entry(forget_at_ms).or_default().push(hash);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_used_once_within_its_window() {
        let cache = NonceCache::default();
        assert_eq!(cache.first_use(AppId(1), "n", 10, 100, 2, 10), Ok(()));
        assert_eq!(cache.first_use(AppId(1), "n", 10, 100, 2, 50), Err(Replay::Seen));
        // Another app's identical signature is its own.
        assert_eq!(cache.first_use(AppId(2), "n", 10, 100, 2, 50), Ok(()));
        assert_eq!(cache.first_use(AppId(1), "m", 10, 100, 2, 50), Err(Replay::Full));
        // Past its window it is forgotten.
        assert_eq!(cache.first_use(AppId(1), "n", 10, 200, 2, 100), Ok(()));
    }
}
