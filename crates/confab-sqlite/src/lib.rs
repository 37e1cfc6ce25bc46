//! SQLite implementation of confab's storage traits: the embedded default.
//!
//! One writer thread owns the only write connection and commits in groups:
//! it takes every write that is waiting, runs them one after another inside
//! one transaction, commits once, and only then answers the callers. With
//! `synchronous=FULL` in WAL mode that commit is one fsync for the whole
//! group, so a success answer always means the data is on disk, while
//! throughput grows with concurrency. Reads go to a small pool of read-only
//! connections, which WAL lets run beside the writer.
//!
//! WAL checkpoints are copied by a thread of their own (`checkpoints.rs`),
//! so that no commit pays for a whole checkpoint.
//!
//! The writer also keeps each conversation's latest sequence number in
//! memory and writes the new values once per group, which is why a database
//! must have only one writing confab process (the `confab app` commands only
//! touch the apps table).

mod appends;
mod apps;
mod checkpoints;
mod convert;
mod files;
mod groups;
mod history;
mod operators;
pub mod page_cache;
mod relations;
mod settings;
mod store;
mod users;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use confab_core::activity::{Checkpoints, CommitStats, EngineStats};
use confab_core::error::{Error, Result};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};

/// How the writer flushes commits to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// fsync every group commit (`synchronous=FULL`): nothing acknowledged is
    /// lost even on power failure. The default.
    #[default]
    Full,
    /// fsync at WAL checkpoints only (`synchronous=NORMAL`): survives a crash
    /// of confab, may lose the last commits on power failure.
    Normal,
}

/// Writes waiting longer than this many jobs make callers wait (backpressure).
const WRITE_QUEUE: usize = 8192;
/// Most jobs folded into one commit.
const MAX_GROUP: usize = 1024;
/// Read connections, each on a thread of its own.
const READERS: usize = 4;
/// Reads waiting beyond this many make callers wait (backpressure).
const READ_QUEUE: usize = 4096;

/// A read: runs on a reader thread with that thread's connection.
type Read = Box<dyn FnOnce(&Connection) + Send>;

type Completion = Box<dyn FnOnce(Result<()>) + Send>;
/// A write: runs on the writer thread and returns how to answer its caller
/// once the group's fate is known, and whether it failed mid-write.
type Job = Box<dyn FnOnce(&Connection, &mut WriterCache) -> (Completion, bool) + Send>;

/// State the writer thread keeps between jobs. Cleared whenever a group
/// fails, since it may describe writes that were rolled back.
#[derive(Default)]
pub(crate) struct WriterCache {
    /// Conversation IDs by (app, kind, key), so hot conversations skip the
    /// get-or-create statements.
    pub conversations: HashMap<(i64, i64, String), i64>,
    /// Latest sequence number per conversation ID, authoritative while cached
    /// (the stored one is its messages' largest `seq`).
    pub last_seq: HashMap<i64, i64>,
    /// Per conversation ID, the time and ID of its newest message stored in
    /// time order (not `late`), authoritative while cached; a conversation
    /// without one maps to [`history::BEFORE_ALL`].
    pub newest: HashMap<i64, (i64, i64)>,
}

/// Prepared statements each connection keeps. rusqlite keeps 16; the store
/// has about 90 distinct statements (history queries vary with their
/// filters), and a statement pushed out is parsed and planned again.
const STATEMENTS: usize = 256;

/// Entries kept before the caches are emptied (after a commit).
const CACHE_LIMIT: usize = 100_000;

impl WriterCache {
    fn clear(&mut self) {
        self.conversations.clear();
        self.last_seq.clear();
        self.newest.clear();
    }
}

/// A device's acknowledgement or read receipt: (app, user, conversation)
/// and the sequence numbers to move to (0 leaves a cursor alone).
pub(crate) struct CursorMove {
    pub key: (i64, String, i64),
    pub ack: i64,
    pub read: i64,
}

/// Cursor moves waiting to be folded into one write.
const CURSOR_QUEUE: usize = 65_536;

/// The SQLite storage engine.
pub struct SqliteStore {
    writer: mpsc::Sender<Job>,
    cursors: mpsc::Sender<CursorMove>,
    reads: mpsc::Sender<Read>,
    /// Group commits: writes per group, time to commit, failures.
    commits: Arc<CommitStats>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date.
    pub fn open(path: &Path, durability: Durability) -> Result<SqliteStore> {
        let mut conn = Connection::open(path).map_err(storage)?;
        configure(&conn, durability)?;
        migrate(&mut conn)?;
        conn.set_prepared_statement_cache_capacity(STATEMENTS);
        let (reads, queue) = mpsc::channel(READ_QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..READERS {
            let reader =
                Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                    .map_err(storage)?;
            reader.busy_timeout(std::time::Duration::from_secs(5)).map_err(storage)?;
            reader.set_prepared_statement_cache_capacity(STATEMENTS);
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("confab-sqlite-reader-{n}"))
                .spawn(move || run_reader(reader, &queue))
                .map_err(|e| Error::Storage(format!("cannot start reader thread: {e}")))?;
        }
        let background = Connection::open(path).map_err(storage)?;
        configure(&background, durability)?;
        let conn = checkpoints::Writer::start(conn, background)
            .map_err(|e| Error::Storage(format!("cannot start checkpoint thread: {e}")))?;
        let (writer, jobs) = mpsc::channel(WRITE_QUEUE);
        let commits = Arc::new(CommitStats::with_engine(Arc::new(Engine { checkpoints: conn.counts() })));
        let stats = commits.clone();
        std::thread::Builder::new()
            .name("confab-sqlite-writer".into())
            .spawn(move || run_writer(&conn, jobs, &stats))
            .map_err(|e| Error::Storage(format!("cannot start writer thread: {e}")))?;
        let (cursors, moves) = mpsc::channel(CURSOR_QUEUE);
        let cursor_writer = writer.clone();
        std::thread::Builder::new()
            .name("confab-sqlite-cursors".into())
            .spawn(move || run_cursor_writer(cursor_writer, moves))
            .map_err(|e| Error::Storage(format!("cannot start cursor thread: {e}")))?;
        Ok(SqliteStore { writer, cursors, reads, commits })
    }

    /// Queues a cursor move; it is written with the others waiting (see
    /// [`run_cursor_writer`]).
    pub(crate) async fn move_cursor(&self, m: CursorMove) -> Result<()> {
        self.cursors.send(m).await.map_err(|_| Error::Unavailable)
    }

    /// Runs `f` in the next group commit and returns its result once that
    /// commit is durable.
    ///
    /// The contract that lets a group share one transaction without a
    /// savepoint per job: a job refuses (`Duplicate`, `NotFound`, …) before
    /// it writes anything; a `Storage` error, which may come mid-write,
    /// rolls back the whole group and fails every job in it, so nothing
    /// half-written is ever committed or acknowledged.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut WriterCache) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn, cache| {
            let outcome = f(conn, cache);
            let poisoned = matches!(outcome, Err(Error::Storage(_)));
            let completion: Completion = Box::new(move |committed: Result<()>| {
                let _ = reply.send(committed.and(outcome));
            });
            (completion, poisoned)
        });
        self.writer.send(job).await.map_err(|_| Error::Unavailable)?;
        answer.await.map_err(|_| Error::Unavailable)?
    }

    /// Runs `f` on a read connection, off the async runtime.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let read: Read = Box::new(move |conn| {
            let _ = reply.send(f(conn));
        });
        self.reads.send(read).await.map_err(|_| Error::Unavailable)?;
        // A read that panicked dropped its reply unanswered.
        answer.await.map_err(|_| Error::Storage("a read failed".into()))?
    }
}

/// Runs reads on one read connection until the store closes.
///
/// Reads have threads of their own rather than tokio's blocking pool: that
/// pool starts a thread whenever every thread it has is busy, so bursts of
/// reads left threads behind, each with its allocator heap, for ten seconds
/// at a time (and a read waited for its connection on a thread of its own).
/// The idle threads take turns waiting on the one queue, so a read goes to
/// whichever connection is free.
fn run_reader(conn: Connection, queue: &Mutex<mpsc::Receiver<Read>>) {
    let lock = || queue.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let waiting = lock().try_recv();
        let next = match waiting {
            Ok(read) => Some(read),
            Err(TryRecvError::Disconnected) => None,
            // Not while holding the queue: another reader may take the next read meanwhile.
            Err(TryRecvError::Empty) => {
                confab_core::memory::idle();
                lock().blocking_recv()
            }
        };
        let Some(read) = next else {
            return;
        };
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(&conn))).is_err() {
            tracing::error!("a sqlite read panicked");
        }
    }
}

/// The writer and the cursor thread wait through
/// `confab_core::memory::next_or_idle`, the readers likewise: they allocate
/// every row they return or store, and a storage thread that goes quiet
/// after a burst (an hour's export) would otherwise keep those pages for as
/// long as it waits.
fn run_writer(writer: &checkpoints::Writer, mut jobs: mpsc::Receiver<Job>, stats: &CommitStats) {
    let conn = writer.conn();
    let mut cache = WriterCache::default();
    while let Some(first) = confab_core::memory::next_or_idle(&mut jobs) {
        let started = std::time::Instant::now();
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            // Dropping the job unanswered tells its caller the store is
            // unavailable; it never ran.
            tracing::error!("sqlite cannot begin a transaction: {e}");
            drop(first);
            continue;
        }
        // Run jobs until none is waiting: writes that arrive while the group
        // runs join it, so under load groups grow and commits (each of which
        // rewrites every page it touched into the WAL) become rarer.
        let mut poisoned = false;
        let mut completions = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            let (completion, failed) = job(conn, &mut cache);
            poisoned |= failed;
            completions.push(completion);
            if completions.len() < MAX_GROUP {
                next = jobs.try_recv().ok();
            }
        }
        let committed = if poisoned {
            Err(Error::Storage("a write in the same group failed; nothing was committed".into()))
        } else {
            conn.execute_batch("COMMIT").map_err(storage)
        };
        if committed.is_ok() {
            stats.committed(completions.len(), started.elapsed().as_secs_f64());
        }
        if committed.is_err() {
            stats.failed();
            let _ = conn.execute_batch("ROLLBACK");
            cache.clear();
            tracing::error!("sqlite group commit failed; {} writes rejected", completions.len());
        } else if cache.last_seq.len() > CACHE_LIMIT
            || cache.conversations.len() > CACHE_LIMIT
            || cache.newest.len() > CACHE_LIMIT
        {
            cache.clear();
        }
        for completion in completions {
            completion(committed.clone());
        }
    }
    tracing::debug!("sqlite writer stopped");
}

/// Folds cursor moves into one write job at a time: everything that arrived
/// while the previous job was committing goes into the next.
///
/// Acknowledgements are the most frequent write there is (every device acks
/// every message; a message to a group of 10,000 brings 10,000), so they are
/// answered once queued rather than each waiting for its own commit. That is
/// safe because cursors only move forward and a lost move only means a
/// message is offered again, which the device recognises by its sequence
/// number. The PostgreSQL engine does the same.
fn run_cursor_writer(writer: mpsc::Sender<Job>, mut moves: mpsc::Receiver<CursorMove>) {
    while let Some(first) = confab_core::memory::next_or_idle(&mut moves) {
        let mut latest: HashMap<(i64, String, i64), (i64, i64)> = HashMap::new();
        let mut next = Some(first);
        while let Some(CursorMove { key, ack, read }) = next.take() {
            let entry = latest.entry(key).or_insert((0, 0));
            *entry = (entry.0.max(ack), entry.1.max(read));
            next = moves.try_recv().ok();
        }
        let (done, finished) = std::sync::mpsc::channel();
        let job: Job = Box::new(move |conn, cache| {
            let outcome = appends::write_cursors(conn, cache, &latest);
            let failed = outcome.is_err();
            let completion: Completion = Box::new(move |committed: Result<()>| {
                if let Err(e) = committed.and(outcome) {
                    tracing::warn!("writing delivery cursors failed: {e}");
                }
                let _ = done.send(());
            });
            (completion, failed)
        });
        if writer.blocking_send(job).is_err() {
            return;
        }
        let _ = finished.recv();
    }
}

/// The pragmas of a read-write connection. On the writer's, the WAL hook of
/// `checkpoints.rs` takes the automatic checkpoint's place.
fn configure(conn: &Connection, durability: Durability) -> Result<()> {
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={synchronous}; PRAGMA foreign_keys=OFF; \
         PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=4000; PRAGMA temp_store=MEMORY;"
    ))
    .map_err(storage)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(storage)
}

/// Schema versions, applied in order; `user_version` records how far a
/// database has come.
const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    "ALTER TABLE apps ADD COLUMN rate_limits TEXT NOT NULL DEFAULT '{}';",
    "ALTER TABLE members ADD COLUMN joined_seq INTEGER NOT NULL DEFAULT 0;",
    include_str!("groups.sql"),
    include_str!("edits.sql"),
    include_str!("relations.sql"),
    include_str!("files.sql"),
    include_str!("leancloud.sql"),
    include_str!("credentials.sql"),
    include_str!("broadcasts.sql"),
    include_str!("settings.sql"),
    include_str!("message_edits.sql"),
    include_str!("operators.sql"),
    include_str!("history_index.sql"),
    include_str!("derived_last_seq.sql"),
    include_str!("late_messages.sql"),
];

fn migrate(conn: &mut Connection) -> Result<()> {
    let version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(storage)?;
    if version > MIGRATIONS.len() {
        return Err(Error::Storage(format!(
            "database schema version {version} is newer than this confab ({})",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction().map_err(storage)?;
        tx.execute_batch(sql).map_err(storage)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", index + 1)).map_err(storage)?;
        tx.commit().map_err(storage)?;
        tracing::info!(version = index + 1, "applied sqlite migration");
    }
    Ok(())
}

pub(crate) fn storage(e: rusqlite::Error) -> Error {
    Error::Storage(format!("sqlite: {e}"))
}

/// What SQLite, running inside the server, reports of itself.
struct Engine {
    checkpoints: checkpoints::Counts,
}

impl EngineStats for Engine {
    /// Bytes SQLite holds in this process (page caches, statements,
    /// schemas), over every connection.
    fn memory_bytes(&self) -> u64 {
        // SAFETY: a read of SQLite's own counter, callable from any thread at
        // any time (the library is built threadsafe).
        let used = unsafe { rusqlite::ffi::sqlite3_memory_used() };
        u64::try_from(used).unwrap_or(0)
    }

    fn checkpoints(&self) -> Checkpoints {
        self.checkpoints.read()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_core::model::{AppId, Username};
    use confab_core::storage::MessageData;

    /// A database written before version 17, where `conversations.last_seq`
    /// was stored, opens with the same sequence numbers, now derived from
    /// its messages.
    #[tokio::test]
    async fn last_seq_survives_the_migration_that_derives_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("confab.db");
        let before = MIGRATIONS.iter().position(|m| m.contains("DROP COLUMN last_seq")).unwrap();
        {
            let mut conn = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..before] {
                let tx = conn.transaction().unwrap();
                tx.execute_batch(sql).unwrap();
                tx.commit().unwrap();
            }
            conn.execute_batch(&format!(
                "PRAGMA user_version = {before};
                 INSERT INTO conversations (id, app_id, kind, key, last_seq, created_ms) VALUES (7, 1, 0, 'a:b', 2, 0);
                 INSERT INTO conversations (id, app_id, kind, key, last_seq, created_ms) VALUES (8, 1, 0, 'a:c', 0, 0);
                 INSERT INTO members (app_id, username, conv_id, ack_seq, read_seq) VALUES (1, 'a', 7, 1, 0);
                 INSERT INTO members (app_id, username, conv_id, ack_seq, read_seq) VALUES (1, 'a', 8, 0, 0);
                 INSERT INTO messages (id, app_id, conv_id, seq, chat_type, sender, target, body, created_ms, sync_sender)
                     VALUES (100, 1, 7, 1, 0, 'a', 'b', '{{}}', 0, 0), (101, 1, 7, 2, 0, 'b', 'a', '{{}}', 0, 0);"
            ))
            .unwrap();
        }
        let store = SqliteStore::open(&path, Durability::Full).unwrap();
        let mut seen: Vec<(i64, i64, i64)> = store
            .memberships(AppId(1), &Username::parse("a").unwrap())
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.conversation.0, m.ack_seq, m.last_seq))
            .collect();
        seen.sort();
        assert_eq!(seen, vec![(7, 1, 2), (8, 0, 0)]);
    }

    fn direct(id: u64, key: &str, from: &str, to: &str) -> confab_core::model::NewMessage {
        let user = |name: &str| Username::parse(name).unwrap();
        confab_core::model::NewMessage {
            id: confab_core::ids::MessageId(id),
            chat_type: confab_core::model::ChatType::Chat,
            conversation_key: key.into(),
            members: vec![user(from), user(to)],
            from: user(from),
            to: to.into(),
            body: confab_core::model::Body::Text { msg: "hi".into() },
            ext: None,
            timestamp_ms: 1_000,
            sync_sender: false,
            origin_device: None,
            original: None,
            audience: Default::default(),
        }
    }

    /// Conversations made in a group start at sequence 1 without a seek (the
    /// writer knows a new one is empty), two in one group do not share
    /// numbers, and a writer with an empty cache continues from the rows.
    #[tokio::test]
    async fn new_conversations_number_from_one_and_continue_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("confab.db");
        let seqs = |stored: Vec<confab_core::model::Message>| {
            stored.into_iter().map(|m| (m.conversation.0, m.seq)).collect::<Vec<_>>()
        };
        let (ab, ac) = {
            let store = SqliteStore::open(&path, Durability::Full).unwrap();
            let first = store
                .append(
                    AppId(1),
                    vec![direct(1, "a:b", "a", "b"), direct(2, "a:c", "a", "c"), direct(3, "a:b", "b", "a")],
                )
                .await
                .unwrap();
            let first = seqs(first);
            let (ab, ac) = (first[0].0, first[1].0);
            assert_ne!(ab, ac);
            assert_eq!(first, vec![(ab, 1), (ac, 1), (ab, 2)]);
            (ab, ac)
        };
        let store = SqliteStore::open(&path, Durability::Full).unwrap();
        let later = store.append(AppId(1), vec![direct(4, "a:c", "c", "a"), direct(5, "a:b", "a", "b")]).await.unwrap();
        assert_eq!(seqs(later), vec![(ac, 2), (ab, 3)]);
    }
}
