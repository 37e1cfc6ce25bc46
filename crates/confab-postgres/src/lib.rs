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
mod files;
mod groups;
mod relations;
mod settings;

use std::collections::BTreeMap;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use confab_core::error::{Error, Result};
use confab_core::ids::MessageId;
use confab_core::model::{
    App, AppId, Audience, Body, ChatType, ConversationId, Membership, Message, MessageState, NewMessage, ProfileChange,
    User, UserRecord, Username,
};
use confab_core::storage::{HiddenRange, MessageChange, MessageData, MessageQuery, Page, UserData};

const POOL_SIZE: usize = 32;

pub struct PostgresStore {
    pool: Pool,
    /// Appends wait here for a batcher (see [`run_batcher`]).
    appends: mpsc::Sender<AppendJob>,
    /// Delivery and read cursors wait here for [`run_cursor_writer`].
    cursors: mpsc::Sender<CursorMove>,
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
        let store = PostgresStore { pool: pool.clone(), appends, cursors };
        if if_empty == IfEmpty::Refuse {
            let client = store.client().await?;
            let row = client.query_one("SELECT to_regclass('confab_schema') IS NOT NULL", &[]).await.map_err(pg)?;
            if !row.get::<_, bool>(0) {
                return Err(Error::NotFound("no confab data in this database (or schema)".into()));
            }
        }
        store.migrate().await?;
        tokio::spawn(run_cursor_writer(pool.clone(), cursor_queue));
        tokio::spawn(run_batcher(pool.clone(), queue));
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

const USER_COLUMNS: &str =
    "id, app_id, username, uuid, password_hash, nickname, activated, generation, created_ms, modified_ms, attributes, push";

fn user_row(row: &Row) -> Result<(i64, UserRecord)> {
    let username: String = row.get(2);
    let record = UserRecord {
        password_hash: row.get(4),
        user: User {
            app: AppId(row.get(1)),
            username: Username::parse(&username)?,
            uuid: row.get(3),
            nickname: row.get(5),
            activated: row.get(6),
            credential_generation: row.get(7),
            created_ms: row.get(8),
            modified_ms: row.get(9),
            attributes: serde_json::from_str(row.get::<_, &str>(10))
                .map_err(|e| Error::Storage(format!("bad user attributes: {e}")))?,
            push: serde_json::from_str(row.get::<_, &str>(11))
                .map_err(|e| Error::Storage(format!("bad push settings: {e}")))?,
        },
    };
    Ok((row.get(0), record))
}

const MESSAGE_COLUMNS: &str = "id, app_id, conv_id, seq, chat_type, sender, target, body, ext, created_ms, \
     sync_sender, origin_device, original, receivers, state, state_by, state_ms";

fn message_row(row: &Row) -> Result<Message> {
    let sender: String = row.get(5);
    let body: String = row.get(7);
    let ext: Option<String> = row.get(8);
    let bad = |e: serde_json::Error| Error::Storage(format!("bad stored message: {e}"));
    let chat_type: i64 = row.get(4);
    Ok(Message {
        id: MessageId(row.get::<_, i64>(0) as u64),
        app: AppId(row.get(1)),
        conversation: ConversationId(row.get(2)),
        seq: row.get(3),
        chat_type: ChatType::from_code(chat_type)
            .ok_or_else(|| Error::Storage(format!("bad chat type {chat_type}")))?,
        from: Username::parse(&sender)?,
        to: row.get(6),
        body: serde_json::from_str(&body).map_err(bad)?,
        ext: ext.map(|e| serde_json::from_str(&e)).transpose().map_err(bad)?,
        timestamp_ms: row.get(9),
        sync_sender: row.get(10),
        origin_device: row.get(11),
        original: row.get::<_, Option<&str>>(12).map(serde_json::from_str).transpose().map_err(bad)?,
        receivers: row.get::<_, Option<serde_json::Value>>(13).map(serde_json::from_value).transpose().map_err(bad)?,
        state: {
            let code: i64 = row.get(14);
            let by = row.get::<_, Option<&str>>(15).map(Username::parse).transpose()?;
            MessageState::from_parts(code, by, row.get(16))
                .ok_or_else(|| Error::Storage(format!("bad message state {code}")))?
        },
    })
}

pub(crate) fn json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Storage(format!("cannot encode: {e}")))
}

async fn users_page(
    client: &impl deadpool_postgres::GenericClient,
    app: AppId,
    after: Option<i64>,
    limit: usize,
) -> Result<Page<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND id > $2 ORDER BY id LIMIT $3");
    let rows = client.query(&sql, &[&app.0, &after.unwrap_or(0), &(limit as i64 + 1)]).await.map_err(pg)?;
    let more = rows.len() > limit;
    let items = rows.iter().take(limit).map(user_row).collect::<Result<Vec<_>>>()?;
    let next = if more { items.last().map(|(pos, _)| *pos) } else { None };
    Ok(Page { items: items.into_iter().map(|(_, r)| r.user).collect(), next })
}

#[async_trait]
impl UserData for PostgresStore {
    async fn insert_users(&self, app: AppId, users: Vec<UserRecord>) -> Result<Vec<Result<User>>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let stmt = tx
            .prepare(
                "INSERT INTO users (app_id, username, uuid, password_hash, nickname, activated, generation, created_ms, modified_ms, attributes) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (app_id, username) DO NOTHING",
            )
            .await
            .map_err(pg)?;
        let mut results = Vec::with_capacity(users.len());
        for record in users {
            let u = &record.user;
            let attributes = json(&u.attributes)?;
            let inserted = tx
                .execute(
                    &stmt,
                    &[
                        &app.0,
                        &u.username.as_str(),
                        &u.uuid,
                        &record.password_hash,
                        &u.nickname,
                        &u.activated,
                        &u.credential_generation,
                        &u.created_ms,
                        &u.modified_ms,
                        &attributes,
                    ],
                )
                .await
                .map_err(pg)?;
            results.push(if inserted == 1 {
                Ok(record.user)
            } else {
                Err(Error::Duplicate(format!("the user {} already exists", u.username)))
            });
        }
        tx.commit().await.map_err(pg)?;
        Ok(results)
    }

    async fn user(&self, app: AppId, username: &Username) -> Result<Option<UserRecord>> {
        let client = self.client().await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND username = $2");
        let row = client.query_opt(&sql, &[&app.0, &username.as_str()]).await.map_err(pg)?;
        Ok(row.as_ref().map(user_row).transpose()?.map(|(_, r)| r))
    }

    async fn record_login(&self, app: AppId, username: &Username, now_ms: i64) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE users SET last_login_ms = $3 WHERE app_id = $1 AND username = $2",
                &[&app.0, &username.as_str(), &now_ms],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    async fn active_since(&self, app: AppId, since_ms: i64) -> Result<u64> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT COUNT(*) FROM users WHERE app_id = $1 AND last_login_ms >= $2", &[&app.0, &since_ms])
            .await
            .map_err(pg)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn count_users(&self, app: AppId) -> Result<u64> {
        let client = self.client().await?;
        let row = client.query_one("SELECT COUNT(*) FROM users WHERE app_id = $1", &[&app.0]).await.map_err(pg)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn update_profile(
        &self,
        app: AppId,
        username: &Username,
        change: ProfileChange,
        now_ms: i64,
    ) -> Result<Option<User>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND username = $2 FOR UPDATE");
        let Some(row) = tx.query_opt(&sql, &[&app.0, &username.as_str()]).await.map_err(pg)? else {
            return Ok(None);
        };
        let (_, record) = user_row(&row)?;
        let user = record.user;
        let nickname = change.nickname.unwrap_or(user.nickname);
        let attributes = match &change.attributes {
            Some(c) => c.apply(&user.attributes)?,
            None => user.attributes,
        };
        let push = change.push.unwrap_or(user.push);
        let sql = format!(
            "UPDATE users SET nickname = $3, attributes = $4, push = $5, modified_ms = $6 \
             WHERE app_id = $1 AND username = $2 RETURNING {USER_COLUMNS}"
        );
        let row = tx
            .query_one(&sql, &[&app.0, &username.as_str(), &nickname, &json(&attributes)?, &json(&push)?, &now_ms])
            .await
            .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(Some(user_row(&row)?.1.user))
    }

    async fn attributes_capacity(&self, app: AppId) -> Result<u64> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT COALESCE(SUM(OCTET_LENGTH(attributes)), 0)::BIGINT FROM users WHERE app_id = $1 AND attributes <> '{}'",
                &[&app.0],
            )
            .await
            .map_err(pg)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn list_users(&self, app: AppId, after: Option<i64>, limit: usize) -> Result<Page<User>> {
        let client = self.client().await?;
        users_page(&client, app, after, limit).await
    }

    async fn users_with_attribute(&self, app: AppId, key: &str, value: &str, limit: usize) -> Result<Vec<User>> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND attributes <> '{{}}' \
             AND (attributes::jsonb ->> $2) = $3 ORDER BY id LIMIT $4"
        );
        let rows = client.query(&sql, &[&app.0, &key, &value, &(limit as i64)]).await.map_err(pg)?;
        rows.iter().map(|row| user_row(row).map(|(_, r)| r.user)).collect()
    }

    async fn delete_user(&self, app: AppId, username: &Username) -> Result<Option<User>> {
        let client = self.client().await?;
        let sql = format!("DELETE FROM users WHERE app_id = $1 AND username = $2 RETURNING {USER_COLUMNS}");
        let row = client.query_opt(&sql, &[&app.0, &username.as_str()]).await.map_err(pg)?;
        Ok(row.as_ref().map(user_row).transpose()?.map(|(_, r)| r.user))
    }

    async fn delete_users(&self, app: AppId, after: Option<i64>, limit: usize) -> Result<Page<User>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let page = users_page(&tx, app, after, limit).await?;
        for user in &page.items {
            tx.execute("DELETE FROM users WHERE app_id = $1 AND username = $2", &[&app.0, &user.username.as_str()])
                .await
                .map_err(pg)?;
        }
        tx.commit().await.map_err(pg)?;
        Ok(page)
    }

    async fn set_password(&self, app: AppId, username: &Username, hash: String, now_ms: i64) -> Result<Option<User>> {
        let client = self.client().await?;
        let sql = format!(
            "UPDATE users SET password_hash = $3, generation = generation + 1, modified_ms = $4 \
             WHERE app_id = $1 AND username = $2 RETURNING {USER_COLUMNS}"
        );
        let row = client.query_opt(&sql, &[&app.0, &username.as_str(), &hash, &now_ms]).await.map_err(pg)?;
        Ok(row.as_ref().map(user_row).transpose()?.map(|(_, r)| r.user))
    }

    async fn set_activated(
        &self,
        app: AppId,
        username: &Username,
        activated: bool,
        now_ms: i64,
    ) -> Result<Option<User>> {
        let client = self.client().await?;
        let sql = format!(
            "UPDATE users SET activated = $3, modified_ms = $4 WHERE app_id = $1 AND username = $2 RETURNING {USER_COLUMNS}"
        );
        let row = client.query_opt(&sql, &[&app.0, &username.as_str(), &activated, &now_ms]).await.map_err(pg)?;
        Ok(row.as_ref().map(user_row).transpose()?.map(|(_, r)| r.user))
    }
}

const MEMBERSHIP_SELECT: &str =
    "SELECT m.conv_id, m.ack_seq, m.read_seq, c.last_seq, m.joined_seq, c.kind, m.joined_ms \
     FROM members m JOIN conversations c ON c.id = m.conv_id \
     WHERE m.app_id = $1 AND m.username = $2";

fn membership_row(row: &Row) -> Membership {
    Membership {
        conversation: ConversationId(row.get(0)),
        ack_seq: row.get(1),
        read_seq: row.get(2),
        last_seq: row.get(3),
        joined_seq: row.get(4),
        chat_type: ChatType::from_code(row.get(5)).unwrap_or(ChatType::Chat),
        joined_ms: row.get(6),
    }
}

#[async_trait]
impl MessageData for PostgresStore {
    async fn append(&self, app: AppId, messages: Vec<NewMessage>) -> Result<Vec<Message>> {
        let (reply, answer) = oneshot::channel();
        self.appends.send(AppendJob { app, messages, reply }).await.map_err(|_| Error::Unavailable)?;
        answer.await.map_err(|_| Error::Unavailable)?
    }

    async fn max_message_id(&self) -> Result<Option<MessageId>> {
        let client = self.client().await?;
        let row = client.query_one("SELECT MAX(id) FROM messages", &[]).await.map_err(pg)?;
        Ok(row.get::<_, Option<i64>>(0).map(|id| MessageId(id as u64)))
    }

    async fn message(&self, app: AppId, id: MessageId) -> Result<Option<Message>> {
        let client = self.client().await?;
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND app_id = $2");
        client.query_opt(&sql, &[&(id.0 as i64), &app.0]).await.map_err(pg)?.as_ref().map(message_row).transpose()
    }

    async fn memberships(&self, app: AppId, user: &Username) -> Result<Vec<Membership>> {
        let client = self.client().await?;
        let rows = client.query(MEMBERSHIP_SELECT, &[&app.0, &user.as_str()]).await.map_err(pg)?;
        Ok(rows.iter().map(membership_row).collect())
    }

    async fn membership(
        &self,
        app: AppId,
        user: &Username,
        conversation: ConversationId,
    ) -> Result<Option<Membership>> {
        let client = self.client().await?;
        let sql = format!("{MEMBERSHIP_SELECT} AND m.conv_id = $3");
        Ok(client
            .query_opt(&sql, &[&app.0, &user.as_str(), &conversation.0])
            .await
            .map_err(pg)?
            .as_ref()
            .map(membership_row))
    }

    async fn messages_between(
        &self,
        app: AppId,
        conversation: ConversationId,
        after: i64,
        up_to: i64,
        limit: usize,
    ) -> Result<Vec<Message>> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages \
             WHERE conv_id = $1 AND app_id = $2 AND seq > $3 AND seq <= $4 ORDER BY seq LIMIT $5"
        );
        let rows = client.query(&sql, &[&conversation.0, &app.0, &after, &up_to, &(limit as i64)]).await.map_err(pg)?;
        rows.iter().map(message_row).collect()
    }

    async fn acknowledge(&self, app: AppId, user: &Username, conversation: ConversationId, seq: i64) -> Result<()> {
        let key = (app.0, user.as_str().to_owned(), conversation.0);
        self.cursors.send(CursorMove { key, ack: seq, read: 0 }).await.map_err(|_| Error::Unavailable)
    }

    async fn mark_read(&self, app: AppId, user: &Username, conversation: ConversationId, seq: i64) -> Result<()> {
        let key = (app.0, user.as_str().to_owned(), conversation.0);
        self.cursors.send(CursorMove { key, ack: seq, read: seq }).await.map_err(|_| Error::Unavailable)
    }

    async fn unacknowledged_count(&self, app: AppId, user: &Username) -> Result<u64> {
        let client = self.client().await?;
        let row = client
            .query_one(
                // Chat rooms keep no backlog for their members, so their messages
                // never wait for anyone.
                "SELECT COUNT(*) FROM members m JOIN conversations c ON c.id = m.conv_id \
                 JOIN messages g ON g.conv_id = m.conv_id AND g.seq > m.ack_seq \
                 WHERE m.app_id = $1 AND m.username = $2 AND g.sender <> $2 AND c.kind <> 2 AND g.state < 2 \
                 AND (g.receivers IS NULL OR g.receivers ? $2) \
                 AND NOT EXISTS (SELECT 1 FROM hidden h WHERE h.app_id = $1 AND h.username = $2 \
                     AND h.conv_id = g.conv_id AND g.id BETWEEN h.from_id AND h.to_id)",
                &[&app.0, &user.as_str()],
            )
            .await
            .map_err(pg)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn conversation(&self, app: AppId, kind: ChatType, key: &str) -> Result<Option<ConversationId>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT id FROM conversations WHERE app_id = $1 AND kind = $2 AND key = $3",
                &[&app.0, &kind.code(), &key],
            )
            .await
            .map_err(pg)?;
        Ok(row.map(|r| ConversationId(r.get(0))))
    }

    async fn message_at(&self, app: AppId, conversation: ConversationId, seq: i64) -> Result<Option<Message>> {
        let client = self.client().await?;
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE conv_id = $1 AND app_id = $2 AND seq = $3");
        client
            .query_opt(&sql, &[&conversation.0, &app.0, &seq])
            .await
            .map_err(pg)?
            .as_ref()
            .map(message_row)
            .transpose()
    }

    async fn change_message(&self, app: AppId, id: MessageId, change: MessageChange) -> Result<Option<Message>> {
        let client = self.client().await?;
        let id = id.0 as i64;
        let row = match change {
            MessageChange::Edit { body, original, at_ms } => {
                let sql = format!(
                    "UPDATE messages SET body = $3, original = $4, state = 1, state_ms = $5 \
                     WHERE id = $1 AND app_id = $2 RETURNING {MESSAGE_COLUMNS}"
                );
                let original = original.as_ref().map(json).transpose()?;
                client.query_opt(&sql, &[&id, &app.0, &json(&body)?, &original, &at_ms]).await
            }
            MessageChange::Recall { by, at_ms } => {
                let sql = format!(
                    "UPDATE messages SET state = 2, state_by = $3, state_ms = $4 \
                     WHERE id = $1 AND app_id = $2 RETURNING {MESSAGE_COLUMNS}"
                );
                client.query_opt(&sql, &[&id, &app.0, &by.as_str(), &at_ms]).await
            }
            MessageChange::Delete { at_ms } => {
                let sql = format!(
                    "UPDATE messages SET body = $3, ext = NULL, original = NULL, state = 3, state_ms = $4 \
                     WHERE id = $1 AND app_id = $2 RETURNING {MESSAGE_COLUMNS}"
                );
                let empty = json(&Body::Text { msg: String::new() })?;
                client.query_opt(&sql, &[&id, &app.0, &empty, &at_ms]).await
            }
        };
        row.map_err(pg)?.as_ref().map(message_row).transpose()
    }

    async fn hide_messages(&self, app: AppId, user: &Username, range: HiddenRange) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO hidden (app_id, username, conv_id, from_id, to_id) VALUES ($1, $2, $3, $4, $5)",
                &[&app.0, &user.as_str(), &range.conversation.0, &(range.from.0 as i64), &(range.to.0 as i64)],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    async fn hidden_ranges(&self, app: AppId, user: &Username) -> Result<Vec<HiddenRange>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT conv_id, from_id, to_id FROM hidden WHERE app_id = $1 AND username = $2",
                &[&app.0, &user.as_str()],
            )
            .await
            .map_err(pg)?;
        Ok(rows
            .iter()
            .map(|r| HiddenRange {
                conversation: ConversationId(r.get(0)),
                from: MessageId(r.get::<_, i64>(1) as u64),
                to: MessageId(r.get::<_, i64>(2) as u64),
            })
            .collect())
    }

    async fn messages_sent(
        &self,
        app: AppId,
        sent: std::ops::Range<i64>,
        after: Option<(i64, MessageId)>,
        limit: usize,
    ) -> Result<Vec<Message>> {
        let (after_ms, after_id) = after.map_or((i64::MIN, 0), |(ms, id)| (ms, id.0 as i64));
        let client = self.client().await?;
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE app_id = $1 AND created_ms >= $2 AND created_ms < $3 \
             AND (created_ms, id) > ($4, $5) ORDER BY created_ms, id LIMIT $6"
        );
        let rows = client
            .query(&sql, &[&app.0, &sent.start, &sent.end, &after_ms, &after_id, &(limit as i64)])
            .await
            .map_err(pg)?;
        rows.iter().map(message_row).collect()
    }

    async fn query_messages(&self, app: AppId, query: MessageQuery) -> Result<Vec<Message>> {
        let client = self.client().await?;
        let mut sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE app_id = $1 AND state <> 3");
        let mut values: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(app.0)];
        // Adds a value and names its placeholder.
        fn bind(values: &mut Vec<Box<dyn ToSql + Sync + Send>>, value: Box<dyn ToSql + Sync + Send>) -> String {
            values.push(value);
            format!("${}", values.len())
        }
        if let Some(conversation) = query.conversation {
            let p = bind(&mut values, Box::new(conversation.0));
            sql.push_str(&format!(" AND conv_id = {p}"));
        }
        if let Some(from) = &query.from {
            let p = bind(&mut values, Box::new(from.as_str().to_owned()));
            sql.push_str(&format!(" AND sender = {p}"));
        }
        for (bound, greater) in [(query.after, true), (query.before, false)] {
            let Some(bound) = bound else { continue };
            let op = match (greater, bound.inclusive) {
                (true, true) => ">=",
                (true, false) => ">",
                (false, true) => "<=",
                (false, false) => "<",
            };
            let ms = bind(&mut values, Box::new(bound.ms));
            match bound.id {
                Some(id) => {
                    let id = bind(&mut values, Box::new(id.0 as i64));
                    sql.push_str(&format!(" AND (created_ms, id) {op} ({ms}, {id})"));
                }
                None => sql.push_str(&format!(" AND created_ms {op} {ms}")),
            }
        }
        let order = if query.newest_first { "DESC" } else { "ASC" };
        let limit = bind(&mut values, Box::new(query.limit as i64));
        sql.push_str(&format!(" ORDER BY created_ms {order}, id {order} LIMIT {limit}"));
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref() as &(dyn ToSql + Sync)).collect();
        let rows = client.query(&sql, &params).await.map_err(pg)?;
        rows.iter().map(message_row).collect()
    }

    async fn unread_count(&self, app: AppId, user: &Username, conversation: Option<ConversationId>) -> Result<u64> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT COUNT(*) FROM members m JOIN conversations c ON c.id = m.conv_id \
                 JOIN messages g ON g.conv_id = m.conv_id AND g.seq > m.read_seq \
                 WHERE m.app_id = $1 AND m.username = $2 AND ($3::BIGINT IS NULL OR m.conv_id = $3) \
                 AND g.sender <> $2 AND c.kind <> 2 AND g.state < 2 \
                 AND (g.receivers IS NULL OR g.receivers ? $2) \
                 AND NOT EXISTS (SELECT 1 FROM hidden h WHERE h.app_id = $1 AND h.username = $2 \
                     AND h.conv_id = g.conv_id AND g.id BETWEEN h.from_id AND h.to_id)",
                &[&app.0, &user.as_str(), &conversation.map(|c| c.0)],
            )
            .await
            .map_err(pg)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn delivered_until(&self, app: AppId, user: &Username) -> Result<Option<i64>> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT MAX(g.created_ms) FROM members m \
                 JOIN messages g ON g.conv_id = m.conv_id AND g.seq = m.ack_seq \
                 WHERE m.app_id = $1 AND m.username = $2",
                &[&app.0, &user.as_str()],
            )
            .await
            .map_err(pg)?;
        Ok(row.get(0))
    }

    async fn join_from(
        &self,
        app: AppId,
        users: Vec<Username>,
        conversation: ConversationId,
        seq: i64,
        now_ms: i64,
    ) -> Result<()> {
        let client = self.client().await?;
        let names: Vec<&str> = users.iter().map(Username::as_str).collect();
        client
            .execute(
                "INSERT INTO members (app_id, username, conv_id, ack_seq, read_seq, joined_seq, joined_ms) \
                 SELECT $1, username, $3, $4, $4, $4, $5 FROM UNNEST($2::TEXT[]) AS u(username) \
                 ON CONFLICT DO NOTHING",
                &[&app.0, &names, &conversation.0, &(seq - 1), &now_ms],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    // `chat_type = 4` (broadcast) is written out, not bound, so the
    // partial index `app_wide_broadcasts` applies.
    async fn app_wide_broadcasts(&self, app: AppId, since_ms: i64) -> Result<Vec<Message>> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE app_id = $1 AND created_ms >= $2 \
             AND chat_type = 4 AND receivers IS NULL AND state < 2 ORDER BY conv_id, seq"
        );
        let rows = client.query(&sql, &[&app.0, &since_ms]).await.map_err(pg)?;
        rows.iter().map(message_row).collect()
    }
}

/// Takes every append that is waiting (up to [`MAX_BATCH`]) and commits them
/// in one transaction: one commit, one sequence update per conversation and
/// one multi-row insert, however many callers. If the transaction fails,
/// every caller in it gets the error and nothing of the batch is stored.
///
/// A node has one batcher, so one append transaction in flight: appends that
/// arrive during a commit wait and form the next, larger batch. Measured
/// against four batchers per node (docs/benchmarks.md), one gave more sends
/// per second and lower latency, alone and in a cluster, where the database's
/// concurrent transactions add up over the nodes.
async fn run_batcher(pool: Pool, mut queue: mpsc::Receiver<AppendJob>) {
    loop {
        let Some(first) = queue.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let jobs: Vec<(AppId, &[NewMessage])> = batch.iter().map(|j| (j.app, j.messages.as_slice())).collect();
        match commit_batch(&pool, &jobs).await {
            Ok(mut stored) => {
                for job in batch.into_iter().rev() {
                    let mine = stored.split_off(stored.len() - job.messages.len());
                    let _ = job.reply.send(Ok(mine));
                }
            }
            Err(e) => {
                tracing::warn!("postgres append batch of {} failed: {e}", batch.len());
                for job in batch {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Commits the messages of several appends; returns them stored, in order.
async fn commit_batch(pool: &Pool, jobs: &[(AppId, &[NewMessage])]) -> Result<Vec<Message>> {
    let all: Vec<(AppId, &NewMessage)> =
        jobs.iter().flat_map(|(app, messages)| messages.iter().map(move |m| (*app, m))).collect();
    // Conversations in one global order, so concurrent batches take their
    // row locks in the same order and cannot deadlock.
    let mut conversations: BTreeMap<(i64, i64, &str), Vec<usize>> = BTreeMap::new();
    for (index, (app, m)) in all.iter().enumerate() {
        conversations.entry((app.0, m.chat_type.code(), m.conversation_key.as_str())).or_default().push(index);
    }

    // Column arrays of the batch's conversations, in lock order.
    let mut apps = Vec::with_capacity(conversations.len());
    let mut kinds = Vec::with_capacity(conversations.len());
    let mut keys = Vec::with_capacity(conversations.len());
    let mut counts = Vec::with_capacity(conversations.len());
    let mut created_at = Vec::with_capacity(conversations.len());
    for ((app, kind, key), indexes) in &conversations {
        apps.push(*app);
        kinds.push(*kind);
        keys.push(key.to_string());
        counts.push(indexes.len() as i64);
        created_at.push(all[indexes[0]].1.timestamp_ms);
    }

    let mut client = pool.get().await.map_err(|e| Error::Storage(format!("postgres: {e}")))?;
    let tx = client.transaction().await.map_err(pg)?;
    // One statement creates the new conversations and reserves every
    // conversation's sequence numbers. Rows are upserted in key order, so
    // concurrent batches take their row locks in the same order and cannot
    // deadlock; the locks are held until the commit. A row inserted here has
    // xmax = 0, which tells new conversations (their members join) apart.
    let reserve = tx
        .prepare_cached(
            "INSERT INTO conversations AS c (app_id, kind, key, last_seq, created_ms) \
             SELECT app_id, kind, key, n, created_ms \
             FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[]) \
                  AS v(app_id, kind, key, n, created_ms) \
             ORDER BY app_id, kind, key \
             ON CONFLICT (app_id, kind, key) DO UPDATE SET last_seq = c.last_seq + EXCLUDED.last_seq \
             RETURNING c.app_id, c.kind, c.key, c.id, c.last_seq, (c.xmax = 0) AS created",
        )
        .await
        .map_err(pg)?;
    let mut reserved: BTreeMap<(i64, i64, String), (i64, i64)> = BTreeMap::new();
    let mut created = std::collections::BTreeSet::new();
    for row in tx.query(&reserve, &[&apps, &kinds, &keys, &counts, &created_at]).await.map_err(pg)? {
        let key: (i64, i64, String) = (row.get(0), row.get(1), row.get(2));
        if row.get::<_, bool>(5) {
            created.insert(key.clone());
        }
        reserved.insert(key, (row.get(3), row.get(4)));
    }

    // Conversation and sequence number of every message, by position in `all`.
    let mut placed = vec![(0i64, 0i64); all.len()];
    let (mut member_apps, mut member_names, mut member_convs) = (Vec::new(), Vec::new(), Vec::new());
    for ((app, kind, key), indexes) in &conversations {
        let owned = (*app, *kind, key.to_string());
        let (conv, last) =
            *reserved.get(&owned).ok_or_else(|| Error::Storage(format!("conversation {key} was not reserved")))?;
        if created.contains(&owned) {
            for member in &all[indexes[0]].1.members {
                member_apps.push(*app);
                member_names.push(member.as_str().to_owned());
                member_convs.push(conv);
            }
        }
        let start = last - indexes.len() as i64;
        for (offset, index) in indexes.iter().enumerate() {
            placed[*index] = (conv, start + 1 + offset as i64);
        }
    }
    if !member_apps.is_empty() {
        let join = tx
            .prepare_cached(
                "INSERT INTO members (app_id, username, conv_id, ack_seq, read_seq) \
                 SELECT app_id, username, conv_id, 0, 0 \
                 FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[]) AS m(app_id, username, conv_id) \
                 ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(pg)?;
        tx.execute(&join, &[&member_apps, &member_names, &member_convs]).await.map_err(pg)?;
    }

    // A multicast's receivers, or a broadcast's every user, become members
    // from just before their message: in message order, so the first wins.
    for ((app, m), (conv, seq)) in all.iter().zip(&placed) {
        match &m.audience {
            Audience::Members | Audience::Only(_) => {}
            Audience::Join(users) => {
                let names: Vec<&str> = users.iter().map(Username::as_str).collect();
                tx.execute(
                    "INSERT INTO members (app_id, username, conv_id, ack_seq, read_seq, joined_seq, joined_ms) \
                     SELECT $1, username, $3, $4, $4, $4, $5 FROM UNNEST($2::TEXT[]) AS u(username) \
                     ON CONFLICT DO NOTHING",
                    &[&app.0, &names, conv, &(seq - 1), &m.timestamp_ms],
                )
                .await
                .map_err(pg)?;
            }
            Audience::AllUsers => {
                tx.execute(
                    "INSERT INTO members (app_id, username, conv_id, ack_seq, read_seq, joined_seq, joined_ms) \
                     SELECT $1, username, $2, $3, $3, $3, $4 FROM users WHERE app_id = $1 ON CONFLICT DO NOTHING",
                    &[&app.0, conv, &(seq - 1), &m.timestamp_ms],
                )
                .await
                .map_err(pg)?;
            }
        }
    }

    let mut columns = MessageColumns::default();
    for ((app, m), (conv, seq)) in all.iter().zip(&placed) {
        columns.push(*app, m, *conv, *seq)?;
    }
    let insert = tx
        .prepare_cached(&format!(
            "INSERT INTO messages ({MESSAGE_COLUMNS}) SELECT * FROM UNNEST(\
             $1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[], $6::TEXT[], $7::TEXT[], \
             $8::TEXT[], $9::TEXT[], $10::BIGINT[], $11::BOOLEAN[], $12::TEXT[], $13::TEXT[], $14::JSONB[], \
             $15::BIGINT[], $16::TEXT[], $17::BIGINT[])"
        ))
        .await
        .map_err(pg)?;
    let c = &columns;
    tx.execute(
        &insert,
        &[
            &c.id,
            &c.app,
            &c.conv,
            &c.seq,
            &c.kind,
            &c.sender,
            &c.target,
            &c.body,
            &c.ext,
            &c.created,
            &c.sync,
            &c.device,
            &c.original,
            &c.receivers,
            &c.state,
            &c.state_by,
            &c.state_ms,
        ],
    )
    .await
    .map_err(pg)?;
    tx.commit().await.map_err(pg)?;

    Ok(all
        .iter()
        .zip(placed)
        .map(|((app, m), (conv, seq))| Message {
            id: m.id,
            app: *app,
            conversation: ConversationId(conv),
            seq,
            chat_type: m.chat_type,
            from: m.from.clone(),
            to: m.to.clone(),
            body: m.body.clone(),
            ext: m.ext.clone(),
            timestamp_ms: m.timestamp_ms,
            sync_sender: m.sync_sender,
            origin_device: m.origin_device.clone(),
            original: m.original.clone(),
            receivers: m.audience.receivers(),
            state: MessageState::Normal,
        })
        .collect())
}

/// Message rows as column arrays, for one `INSERT … SELECT * FROM UNNEST(…)`.
#[derive(Default)]
struct MessageColumns {
    id: Vec<i64>,
    app: Vec<i64>,
    conv: Vec<i64>,
    seq: Vec<i64>,
    kind: Vec<i64>,
    sender: Vec<String>,
    target: Vec<String>,
    body: Vec<String>,
    ext: Vec<Option<String>>,
    created: Vec<i64>,
    sync: Vec<bool>,
    device: Vec<Option<String>>,
    original: Vec<Option<String>>,
    receivers: Vec<Option<serde_json::Value>>,
    state: Vec<i64>,
    state_by: Vec<Option<String>>,
    state_ms: Vec<i64>,
}

impl MessageColumns {
    fn push(&mut self, app: AppId, m: &NewMessage, conv: i64, seq: i64) -> Result<()> {
        self.id.push(m.id.0 as i64);
        self.app.push(app.0);
        self.conv.push(conv);
        self.seq.push(seq);
        self.kind.push(m.chat_type.code());
        self.sender.push(m.from.as_str().to_owned());
        self.target.push(m.to.clone());
        self.body.push(json(&m.body)?);
        self.ext.push(m.ext.as_ref().map(json).transpose()?);
        self.created.push(m.timestamp_ms);
        self.sync.push(m.sync_sender);
        self.device.push(m.origin_device.clone());
        self.original.push(m.original.as_ref().map(json).transpose()?);
        let receivers = m.audience.receivers().map(serde_json::to_value).transpose();
        self.receivers.push(receivers.map_err(|e| Error::Storage(format!("cannot encode: {e}")))?);
        self.state.push(0);
        self.state_by.push(None);
        self.state_ms.push(0);
        Ok(())
    }
}

/// Writes delivery and read cursors in batches: every move waiting is folded
/// into one `UPDATE` (the highest value per user and conversation wins).
///
/// Acknowledgements are the most frequent write there is, so they are
/// answered once queued and committed without waiting for the disk
/// (`synchronous_commit` off). That is safe because cursors only move
/// forward and a lost move only means a message is offered again, which the
/// device recognises by its sequence number.
async fn run_cursor_writer(pool: Pool, mut queue: mpsc::Receiver<CursorMove>) {
    while let Some(first) = queue.recv().await {
        let mut latest: BTreeMap<(i64, String, i64), (i64, i64)> = BTreeMap::new();
        let mut next = Some(first);
        while let Some(CursorMove { key, ack, read }) = next.take() {
            let entry = latest.entry(key).or_insert((0, 0));
            *entry = (entry.0.max(ack), entry.1.max(read));
            if latest.len() < 4096 {
                next = queue.try_recv().ok();
            }
        }
        if let Err(e) = write_cursors(&pool, latest).await {
            tracing::warn!("writing delivery cursors failed: {e}");
        }
    }
}

async fn write_cursors(pool: &Pool, latest: BTreeMap<(i64, String, i64), (i64, i64)>) -> Result<()> {
    let (mut apps, mut users, mut convs, mut acks, mut reads) = (vec![], vec![], vec![], vec![], vec![]);
    for ((app, user, conv), (ack, read)) in latest {
        apps.push(app);
        users.push(user);
        convs.push(conv);
        acks.push(ack);
        reads.push(read);
    }
    let mut client = pool.get().await.map_err(|e| Error::Storage(format!("postgres: {e}")))?;
    let tx = client.transaction().await.map_err(pg)?;
    tx.batch_execute("SET LOCAL synchronous_commit TO OFF").await.map_err(pg)?;
    // Never past a conversation's end, so no future message counts as delivered.
    let update = tx
        .prepare_cached(
            "UPDATE members m SET \
               ack_seq = GREATEST(m.ack_seq, LEAST(v.ack, c.last_seq)), \
               read_seq = GREATEST(m.read_seq, LEAST(v.read, c.last_seq)) \
             FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[]) \
               AS v(app_id, username, conv_id, ack, read) \
             JOIN conversations c ON c.id = v.conv_id \
             WHERE m.app_id = v.app_id AND m.username = v.username AND m.conv_id = v.conv_id",
        )
        .await
        .map_err(pg)?;
    tx.execute(&update, &[&apps, &users, &convs, &acks, &reads]).await.map_err(pg)?;
    tx.commit().await.map_err(pg)
}
