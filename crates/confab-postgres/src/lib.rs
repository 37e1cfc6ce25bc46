//! PostgreSQL implementation of confab's storage traits, selected with
//! `CONFAB_DATABASE_URL=postgres://…`. Several confab nodes may share one
//! database: PostgreSQL does the locking, confab keeps no authoritative
//! state in memory.
//!
//! Appends are committed in batches (one batcher task per node folds every
//! waiting append into one transaction), as the SQLite engine does.
//!
//! Ordering: a batch reserves each conversation's sequence numbers with one
//! upsert (`INSERT … ON CONFLICT DO UPDATE SET last_seq = last_seq + n …
//! RETURNING`), which locks the conversations' rows until the commit, so
//! sequence numbers are committed in order, across nodes. Conversations are
//! locked in key order to rule out deadlocks.

mod apps;
mod batcher;
mod convert;
mod cursors;
mod files;
mod groups;
mod messages;
mod operators;
mod relations;
mod settings;
mod users;

use batcher::run_batcher;
use convert::{message_row, user_row, MESSAGE_COLUMNS, NEW_MESSAGE_COLUMNS, USER_COLUMNS};
use cursors::run_cursor_writer;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use confab_core::activity::CommitStats;
use confab_core::error::{Error, Result};
use confab_core::ids::MessageId;
use confab_core::model::{
    App, AppId, Audience, Body, ChatType, ConversationId, Membership, Message, MessageMark, MessageState, NewMessage,
    ProfileChange, User, UserRecord, Username,
};
use confab_core::storage::{HiddenRange, MessageChange, MessageData, MessageQuery, Page, UserData};

const POOL_SIZE: usize = 32;

pub struct PostgresStore {
    pool: Pool,
    /// Appends wait here for a batcher (see [`run_batcher`]).
    appends: mpsc::Sender<AppendJob>,
    /// Delivery and read cursors wait here for [`run_cursor_writer`].
    cursors: mpsc::Sender<CursorMove>,
    /// The batcher's commits: appends per batch, time to commit, failures.
    commits: Arc<CommitStats>,
}

/// A device's acknowledgement or read receipt: (app, user, conversation) and
/// the sequence numbers to move to (0 leaves a cursor alone).
struct CursorMove {
    key: (i64, String, i64),
    ack: i64,
    read: i64,
}

/// One caller's messages, waiting to be committed with others.
struct AppendJob {
    app: AppId,
    messages: Vec<NewMessage>,
    reply: oneshot::Sender<Result<Vec<Message>>>,
}

/// Most appends folded into one transaction.
const MAX_BATCH: usize = 256;

impl PostgresStore {
    /// Connects and brings the schema up to date. Nodes starting together
    /// take an advisory lock, so each migration runs once.
    pub async fn connect(url: &str) -> Result<PostgresStore> {
        Self::open(url, IfEmpty::Create).await
    }

    /// Connects to a database confab has already set up (`confab app …`,
    /// which must not turn a wrong database into a new empty one): fails
    /// with `NotFound` if it has no confab schema.
    pub async fn connect_existing(url: &str) -> Result<PostgresStore> {
        Self::open(url, IfEmpty::Refuse).await
    }

    async fn open(url: &str, if_empty: IfEmpty) -> Result<PostgresStore> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| Error::Storage(format!("bad database url: {e}")))?;
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager).max_size(POOL_SIZE).build().map_err(|e| Error::Storage(e.to_string()))?;
        let (appends, queue) = mpsc::channel(8192);
        let (cursors, cursor_queue) = mpsc::channel(65_536);
        let commits = Arc::new(CommitStats::default());
        let store = PostgresStore { pool: pool.clone(), appends, cursors, commits: commits.clone() };
        if if_empty == IfEmpty::Refuse {
            let client = store.client().await?;
            let row = client.query_one("SELECT to_regclass('confab_schema') IS NOT NULL", &[]).await.map_err(pg)?;
            if !row.get::<_, bool>(0) {
                return Err(Error::NotFound("no confab data in this database (or schema)".into()));
            }
        }
        store.migrate().await?;
        tokio::spawn(run_cursor_writer(pool.clone(), cursor_queue));
        tokio::spawn(run_batcher(pool.clone(), queue, commits));
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| Error::Storage(format!("postgres: {e}")))
    }

    async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        tx.batch_execute(
            "SELECT pg_advisory_xact_lock(7220417);
             SET LOCAL client_min_messages TO warning;
             CREATE TABLE IF NOT EXISTS confab_schema (version BIGINT NOT NULL)",
        )
        .await
        .map_err(pg)?;
        let version: i64 =
            tx.query_one("SELECT COALESCE(MAX(version), 0) FROM confab_schema", &[]).await.map_err(pg)?.get(0);
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.batch_execute(sql).await.map_err(pg)?;
            tx.execute("INSERT INTO confab_schema (version) VALUES ($1)", &[&(index as i64 + 1)]).await.map_err(pg)?;
            tracing::info!(version = index + 1, "applied postgres migration");
        }
        tx.commit().await.map_err(pg)
    }
}

/// What opening a database without confab's schema does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IfEmpty {
    Create,
    Refuse,
}

const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("nodes.sql"),
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
];

/// Node IDs a lease can hold: 1 to 1023 (0 is a node without a database).
const MAX_NODE_ID: i32 = 1023;

/// Node ID leases. A node claims the lowest free ID at start and renews it
/// while it runs; the database's clock decides expiry, so nodes' clocks
/// need not agree.
impl PostgresStore {
    /// Claims a node ID for `holder` (a random per-process name) for `lease`.
    pub async fn claim_node_id(&self, holder: &str, lease: std::time::Duration) -> Result<u16> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        // One claim at a time, so two starting nodes never pick the same ID.
        tx.execute("SELECT pg_advisory_xact_lock(7220418)", &[]).await.map_err(pg)?;
        let row = tx
            .query_opt(
                "INSERT INTO confab_nodes (node_id, holder, expires_at)
                 SELECT n, $1, now() + make_interval(secs => $2)
                   FROM generate_series(1, $3::int) AS n
                  WHERE NOT EXISTS (SELECT 1 FROM confab_nodes c WHERE c.node_id = n AND c.expires_at > now())
                  ORDER BY n LIMIT 1
                 ON CONFLICT (node_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                 RETURNING node_id",
                &[&holder, &lease.as_secs_f64(), &MAX_NODE_ID],
            )
            .await
            .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        let row = row.ok_or_else(|| Error::Storage(format!("all {MAX_NODE_ID} node IDs are leased")))?;
        Ok(row.get::<_, i32>(0) as u16)
    }

    /// Extends the lease; false when `holder` no longer holds `node_id`.
    pub async fn renew_node_id(&self, node_id: u16, holder: &str, lease: std::time::Duration) -> Result<bool> {
        let client = self.client().await?;
        let renewed = client
            .execute(
                "UPDATE confab_nodes SET expires_at = now() + make_interval(secs => $3)
                  WHERE node_id = $1 AND holder = $2",
                &[&(node_id as i32), &holder, &lease.as_secs_f64()],
            )
            .await
            .map_err(pg)?;
        Ok(renewed == 1)
    }

    /// Gives the ID back at a clean stop, so a restarted node may reuse it at once.
    pub async fn release_node_id(&self, node_id: u16, holder: &str) -> Result<()> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM confab_nodes WHERE node_id = $1 AND holder = $2", &[&(node_id as i32), &holder])
            .await
            .map_err(pg)?;
        Ok(())
    }
}

pub(crate) fn pg(e: tokio_postgres::Error) -> Error {
    // The driver's own text is only "db error"; the server's message says what failed.
    match e.as_db_error() {
        Some(db) => Error::Storage(format!("postgres: {}: {}", db.code().code(), db.message())),
        None => Error::Storage(format!("postgres: {e}")),
    }
}

pub(crate) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

pub(crate) const APP_COLUMNS: &str =
    "id, uuid, org, name, client_id, client_secret, signing_key, created_ms, rate_limits, credentials";

pub(crate) fn app_row(row: &Row) -> Result<App> {
    let limits: String = row.get(8);
    Ok(App {
        id: AppId(row.get(0)),
        uuid: row.get(1),
        org: row.get(2),
        name: row.get(3),
        client_id: row.get(4),
        client_secret: row.get(5),
        signing_key: row.get(6),
        created_ms: row.get(7),
        rate_limits: serde_json::from_str(&limits).map_err(|e| Error::Storage(format!("bad rate limits: {e}")))?,
        credentials: serde_json::from_str(row.get::<_, &str>(9))
            .map_err(|e| Error::Storage(format!("bad credentials: {e}")))?,
    })
}

pub(crate) fn json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Storage(format!("cannot encode: {e}")))
}
