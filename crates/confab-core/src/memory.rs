//! Handing the memory a thread freed back to the system when the thread
//! goes idle.
//!
//! Allocators such as mimalloc keep freed pages per thread for that thread
//! to reuse, and only a thread that allocates or collects gives them back.
//! A thread that worked hard and then waits (a runtime worker after a burst
//! of sessions, a storage reader after an hour's history export) would keep
//! them for as long as it waits: an export of a million messages left about
//! 20 MiB on the reader threads for good (docs/benchmarks.md). So every
//! thread that waits for work calls [`idle`] first.
//!
//! The binary chooses the allocator, so it also says how to collect
//! ([`set_release`]); a build on the system allocator sets nothing and
//! [`idle`] costs one load.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;

/// How often, at most, one thread collects.
pub const RELEASE_EVERY: Duration = Duration::from_secs(1);

static RELEASE: OnceLock<fn()> = OnceLock::new();

/// Sets how a thread hands back what it freed (once per process; later
/// calls are ignored).
pub fn set_release(release: fn()) {
    let _ = RELEASE.set(release);
}

/// Called by a thread about to wait for work: hands back what it freed, at
/// most once per [`RELEASE_EVERY`] on this thread. Between collections it
/// costs a clock read.
pub fn idle() {
    let Some(release) = RELEASE.get() else {
        return;
    };
    thread_local!(static LAST: Cell<Option<Instant>> = const { Cell::new(None) });
    let now = Instant::now();
    let due = LAST.with(|last| {
        let due = last.get().is_none_or(|at| now.duration_since(at) >= RELEASE_EVERY);
        if due {
            last.set(Some(now));
        }
        due
    });
    if due {
        release();
    }
}

/// For a thread that waits on a queue: the next item, or `None` once every
/// sender is gone; with nothing waiting, the thread hands back what it
/// freed ([`idle`]) before it blocks.
pub fn next_or_idle<T>(queue: &mut mpsc::Receiver<T>) -> Option<T> {
    match queue.try_recv() {
        Ok(item) => Some(item),
        Err(TryRecvError::Disconnected) => None,
        Err(TryRecvError::Empty) => {
            idle();
            queue.blocking_recv()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    fn count() {
        CALLS.fetch_add(1, Ordering::Relaxed);
    }

    #[test]
    fn a_thread_collects_at_most_once_a_period() {
        set_release(count);
        // A fresh thread has never collected: its first idle collects, the
        // next ones within the period do not.
        std::thread::spawn(|| {
            let before = CALLS.load(Ordering::Relaxed);
            idle();
            idle();
            idle();
            assert_eq!(CALLS.load(Ordering::Relaxed) - before, 1);
        })
        .join()
        .unwrap();
    }
}
