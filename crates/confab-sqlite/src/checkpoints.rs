//! WAL checkpoints, mostly off the writer thread.
//!
//! A checkpoint copies the pages committed to the WAL into the database file
//! and syncs it; once everything is copied, the next write starts the WAL
//! over from its beginning. SQLite's automatic checkpoint does all of it
//! inside the COMMIT that takes the WAL past its threshold, on the writer
//! thread: every few thousand pages one commit took 7 to 9 ms instead of
//! 0.3, every write queued behind it waited as long, and that was most of
//! the send latency's p99 at half load (docs/benchmarks.md).
//!
//! Here the writer's WAL hook asks a thread of its own for a pass once the
//! WAL holds [`WAKE_PAGES`] (a PASSIVE checkpoint, which blocks neither the
//! writer nor the readers; it copies the pages and pays the database
//! file's sync). At its first commit after that pass the writer checkpoints
//! itself, which only has the pages of the few commits since to copy, so
//! the WAL can restart. The writer must take that last step: a background
//! pass almost never ends between two commits under steady writes, and a
//! WAL that never restarts grows without bound. If the thread falls behind,
//! the writer checkpoints whatever is left at [`BACKSTOP_PAGES`], as SQLite's
//! automatic checkpoint would.

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use rusqlite::{ffi, Connection};

/// WAL pages at which the writer asks for a background pass.
const WAKE_PAGES: c_int = 4000;
/// WAL pages at which the writer checkpoints itself whatever the thread did.
const BACKSTOP_PAGES: c_int = 8000;

/// What the writer's WAL hook and the checkpoint thread share.
#[derive(Default)]
struct Flags {
    /// A pass was asked for and has not finished.
    asked: AtomicBool,
    /// A pass finished since the writer last checkpointed.
    copied: AtomicBool,
    /// Passes the thread has made.
    passes: AtomicU64,
    /// Checkpoints the writer ran itself at a commit and SQLite finished
    /// (not refused as busy).
    by_writer: AtomicU64,
}

/// Checkpoints so far, for the operator's metrics.
#[derive(Clone)]
pub(crate) struct Counts(Arc<Flags>);

impl Counts {
    pub(crate) fn read(&self) -> confab_core::activity::Checkpoints {
        confab_core::activity::Checkpoints {
            background: self.0.passes.load(Ordering::Relaxed),
            writer: self.0.by_writer.load(Ordering::Relaxed),
        }
    }
}

/// What the hook's client-data pointer points to. Only the writer holds the
/// sender, so the thread ends when the writer's connection does.
struct Hook {
    flags: Arc<Flags>,
    wake: SyncSender<()>,
}

/// The writer's connection, with its WAL hook registered for as long as it
/// lives.
pub(crate) struct Writer {
    conn: Connection,
    /// What the hook's pointer points to; kept alive and in place here.
    _hook: Box<Hook>,
}

impl Writer {
    /// Registers the hook on the writer's connection and starts the thread
    /// that checkpoints with `background`, a read-write connection of its own.
    pub(crate) fn start(conn: Connection, background: Connection) -> std::io::Result<Writer> {
        let (wake, woken) = sync_channel(1);
        let flags = Arc::new(Flags::default());
        let thread_flags = flags.clone();
        std::thread::Builder::new()
            .name("confab-sqlite-checkpoints".into())
            .spawn(move || run(&background, &woken, &thread_flags))?;
        let hook = Box::new(Hook { flags, wake });
        // SAFETY: the pointer is to the boxed `Hook`, which this struct keeps
        // in place and unregisters in `drop` before the connection closes.
        // The hook replaces SQLite's automatic checkpoint, as it is meant to.
        unsafe {
            let data = std::ptr::from_ref::<Hook>(&hook) as *mut c_void;
            ffi::sqlite3_wal_hook(conn.handle(), Some(on_commit), data);
        }
        Ok(Writer { conn, _hook: hook })
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The checkpoints run so far, readable from any thread.
    pub(crate) fn counts(&self) -> Counts {
        Counts(self._hook.flags.clone())
    }

    /// What the hook and the thread share, for the tests to watch.
    #[cfg(test)]
    fn flags(&self) -> &Flags {
        &self._hook.flags
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // SAFETY: unregisters the hook while the `Hook` is still alive.
        unsafe {
            ffi::sqlite3_wal_hook(self.conn.handle(), None, std::ptr::null_mut());
        }
        // Then `hook` drops with its sender, which ends the thread once it
        // finishes any pass it is in.
    }
}

/// The WAL hook: SQLite calls it on the writer thread after each commit,
/// with the pages the WAL now holds.
unsafe extern "C" fn on_commit(data: *mut c_void, db: *mut ffi::sqlite3, name: *const c_char, pages: c_int) -> c_int {
    // SAFETY: `data` is the `Hook` that `Writer` keeps alive while the hook
    // is registered.
    let hook = unsafe { &*(data as *const Hook) };
    if pages >= BACKSTOP_PAGES || hook.flags.copied.swap(false, Ordering::AcqRel) {
        // Busy (a pass running, a reader on old pages) is not an error:
        // the next commit tries again.
        // SAFETY: `db` and `name` are what SQLite passed to this hook.
        if unsafe { ffi::sqlite3_wal_checkpoint(db, name) } == ffi::SQLITE_OK {
            hook.flags.by_writer.fetch_add(1, Ordering::Relaxed);
        }
        return ffi::SQLITE_OK;
    }
    if pages >= WAKE_PAGES && !hook.flags.asked.swap(true, Ordering::AcqRel) {
        let _ = hook.wake.try_send(());
    }
    ffi::SQLITE_OK
}

/// The checkpoint thread: one PASSIVE pass per wake-up, until the writer
/// (and with it the last sender) is gone.
fn run(conn: &Connection, woken: &Receiver<()>, flags: &Flags) {
    while woken.recv().is_ok() {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!("sqlite background checkpoint failed: {e}");
        }
        flags.passes.fetch_add(1, Ordering::Relaxed);
        flags.copied.store(true, Ordering::Release);
        flags.asked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 4096;

    fn open(path: &std::path::Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=4000;")
            .unwrap();
        conn
    }

    /// Writes `pages` pages' worth of new rows in one transaction.
    fn write_pages(conn: &Connection, pages: usize) {
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        let mut insert = conn.prepare_cached("INSERT INTO t (body) VALUES (zeroblob(?1))").unwrap();
        for _ in 0..pages {
            insert.execute([PAGE as i64 - 200]).unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();
    }

    /// A writer on a new database with one table, in `folder`.
    fn started(folder: &tempfile::TempDir) -> Writer {
        let path = folder.path().join("db");
        let conn = open(&path);
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)").unwrap();
        Writer::start(conn, open(&path)).unwrap()
    }

    /// Waits until no pass is asked for and unfinished.
    fn settle(writer: &Writer) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while writer.flags().asked.load(Ordering::Acquire) {
            assert!(std::time::Instant::now() < deadline, "a background pass did not finish");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Frames in the WAL now.
    fn wal_frames(writer: &Writer) -> i64 {
        writer.conn().query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1)).unwrap()
    }

    #[test]
    fn the_thread_copies_and_the_wal_starts_over() {
        let folder = tempfile::tempdir().unwrap();
        let writer = started(&folder);
        // 24,000 pages in commits of 500, six times the WAL's threshold,
        // each commit after any pass asked for has finished.
        for _ in 0..48 {
            write_pages(writer.conn(), 500);
            settle(&writer);
        }
        let passes = writer.flags().passes.load(Ordering::Relaxed);
        assert!(passes >= 4, "only {passes} background passes");
        // The writer finished one checkpoint after each pass, and the
        // metrics read both counts.
        let counts = writer.counts().read();
        assert_eq!(counts.background, passes);
        assert!(counts.writer >= passes - 1, "{counts:?}");
        // The WAL file keeps its largest size: had the WAL never started
        // over, it would hold all 24,000 pages. It starts over at the
        // second commit after the one that crossed the threshold.
        let wal = std::fs::metadata(folder.path().join("db-wal")).unwrap().len() as usize;
        let most = (WAKE_PAGES as usize + 1500) * (PAGE + 24);
        assert!(wal < most, "the WAL grew to {wal} bytes");
        drop(writer);
        let rows: i64 = open(&folder.path().join("db")).query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 24_000);
    }

    #[test]
    fn a_reader_on_old_pages_only_delays_the_start_over() {
        let folder = tempfile::tempdir().unwrap();
        let writer = started(&folder);
        // A reader holding an old snapshot keeps any checkpoint from
        // finishing, so the WAL cannot start over while it reads: past
        // [`BACKSTOP_PAGES`] the writer tries at every commit.
        let reader = open(&folder.path().join("db"));
        reader.execute_batch("BEGIN; SELECT COUNT(*) FROM t;").unwrap();
        for _ in 0..20 {
            write_pages(writer.conn(), 1000);
        }
        settle(&writer);
        assert!(wal_frames(&writer) >= 20_000);
        reader.execute_batch("COMMIT").unwrap();
        for _ in 0..3 {
            write_pages(writer.conn(), 1000);
            settle(&writer);
        }
        let frames = wal_frames(&writer);
        assert!(frames < 3000, "{frames} frames in the WAL after the reader left");
        assert!(writer.counts().read().writer >= 1, "the backstop checkpoint is counted once it finishes");
    }
}
