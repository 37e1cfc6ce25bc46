//! SQLite implementation of confab's storage traits: the embedded default.
//!
//! One writer thread owns the only write connection and commits in groups:
//! it takes every write that is waiting, runs each in its own savepoint
//! inside one transaction, commits once, and only then answers the callers.
//! With `synchronous=FULL` in WAL mode that commit is one fsync for the whole
//! group, so a success answer always means the data is on disk, while
//! throughput grows with concurrency. Reads go to a small pool of read-only
//! connections, which WAL lets run beside the writer.

mod convert;
mod store;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use confab_core::error::{Error, Result};
use rusqlite::{Connection, OpenFlags};
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
const READERS: usize = 4;

type Completion = Box<dyn FnOnce(Result<()>) + Send>;
type Job = Box<dyn FnOnce(&mut Connection, &mut WriterCache) -> Completion + Send>;

/// State the writer thread keeps between jobs.
#[derive(Default)]
pub(crate) struct WriterCache {
    /// Conversation IDs by (app, kind, key), so hot conversations skip the
    /// get-or-create statements. Cleared whenever a commit fails.
    pub conversations: std::collections::HashMap<(i64, i64, String), i64>,
}

/// The SQLite storage engine.
pub struct SqliteStore {
    writer: mpsc::Sender<Job>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: AtomicUsize,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date.
    pub fn open(path: &Path, durability: Durability) -> Result<SqliteStore> {
        let mut conn = Connection::open(path).map_err(storage)?;
        configure(&conn, durability)?;
        migrate(&mut conn)?;
        let readers = (0..READERS)
            .map(|_| {
                let reader = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(storage)?;
                reader
                    .busy_timeout(std::time::Duration::from_secs(5))
                    .map_err(storage)?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<Vec<_>>>()?;
        let (writer, jobs) = mpsc::channel(WRITE_QUEUE);
        std::thread::Builder::new()
            .name("confab-sqlite-writer".into())
            .spawn(move || run_writer(conn, jobs))
            .map_err(|e| Error::Storage(format!("cannot start writer thread: {e}")))?;
        Ok(SqliteStore {
            writer,
            readers: Arc::new(readers),
            next_reader: AtomicUsize::new(0),
        })
    }

    /// Runs `f` in the next group commit and returns its result once that
    /// commit is durable. If `f` fails, its own changes are rolled back and
    /// the rest of the group is unaffected.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut WriterCache) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn, cache| {
            let outcome = run_in_savepoint(conn, cache, f);
            Box::new(move |committed: Result<()>| {
                let _ = reply.send(committed.and(outcome));
            })
        });
        self.writer
            .send(job)
            .await
            .map_err(|_| Error::Unavailable)?;
        answer.await.map_err(|_| Error::Unavailable)?
    }

    /// Runs `f` on a read connection, off the async runtime.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        let index = self.next_reader.fetch_add(1, Ordering::Relaxed) % readers.len();
        tokio::task::spawn_blocking(move || {
            let conn = readers[index].lock().unwrap_or_else(|e| e.into_inner());
            f(&conn)
        })
        .await
        .map_err(|e| Error::Storage(format!("read task failed: {e}")))?
    }
}

fn run_in_savepoint<T, F>(conn: &mut Connection, cache: &mut WriterCache, f: F) -> Result<T>
where
    F: FnOnce(&Connection, &mut WriterCache) -> Result<T>,
{
    // A savepoint inside the group's transaction: dropping it uncommitted
    // rolls back this job's changes only.
    let sp = conn.savepoint().map_err(storage)?;
    let value = f(&sp, cache)?;
    sp.commit().map_err(storage)?;
    Ok(value)
}

fn run_writer(mut conn: Connection, mut jobs: mpsc::Receiver<Job>) {
    let mut cache = WriterCache::default();
    while let Some(first) = jobs.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            // Dropping the jobs unanswered tells their callers the store is
            // unavailable; none of them ran.
            tracing::error!("sqlite cannot begin a transaction: {e}");
            drop(group);
            continue;
        }
        let completions: Vec<Completion> = group
            .into_iter()
            .map(|job| job(&mut conn, &mut cache))
            .collect();
        let committed = conn.execute_batch("COMMIT").map_err(storage);
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
            cache.conversations.clear();
            tracing::error!(
                "sqlite group commit failed; {} writes rejected",
                completions.len()
            );
        }
        for completion in completions {
            completion(committed.clone());
        }
    }
    tracing::debug!("sqlite writer stopped");
}

fn configure(conn: &Connection, durability: Durability) -> Result<()> {
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={synchronous}; PRAGMA foreign_keys=OFF; \
         PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=4000;"
    ))
    .map_err(storage)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(storage)
}

/// Schema versions, applied in order; `user_version` records how far a
/// database has come.
const MIGRATIONS: &[&str] = &[include_str!("schema.sql")];

fn migrate(conn: &mut Connection) -> Result<()> {
    let version: usize = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(storage)?;
    if version > MIGRATIONS.len() {
        return Err(Error::Storage(format!(
            "database schema version {version} is newer than this confab ({})",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction().map_err(storage)?;
        tx.execute_batch(sql).map_err(storage)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", index + 1))
            .map_err(storage)?;
        tx.commit().map_err(storage)?;
        tracing::info!(version = index + 1, "applied sqlite migration");
    }
    Ok(())
}

pub(crate) fn storage(e: rusqlite::Error) -> Error {
    Error::Storage(format!("sqlite: {e}"))
}
