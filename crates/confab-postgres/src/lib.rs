//! PostgreSQL implementation of confab's storage traits, selected with
//! `CONFAB_DATABASE_URL=postgres://…`. Several confab nodes may share one
//! database: PostgreSQL does the locking, confab keeps no authoritative
//! state in memory.
//!
//! Ordering: a message takes its sequence number with
//! `UPDATE conversations SET last_seq = last_seq + 1 … RETURNING`, which
//! locks the conversation's row until the commit, so sequence numbers are
//! committed in order. Conversations are locked in key order to rule out
//! deadlocks between multi-receiver sends.

use std::collections::BTreeMap;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::{NoTls, Row};

use confab_core::error::{Error, Result};
use confab_core::ids::MessageId;
use confab_core::model::{
    App, AppId, ChatType, ConversationId, Membership, Message, NewMessage, User, UserRecord, Username,
};
use confab_core::storage::{AppData, MessageData, NewApp, Page, UserData};

const POOL_SIZE: usize = 16;

pub struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Connects and brings the schema up to date. Nodes starting together
    /// take an advisory lock, so each migration runs once.
    pub async fn connect(url: &str) -> Result<PostgresStore> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| Error::Storage(format!("bad database url: {e}")))?;
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager).max_size(POOL_SIZE).build().map_err(|e| Error::Storage(e.to_string()))?;
        let store = PostgresStore { pool };
        store.migrate().await?;
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

const MIGRATIONS: &[&str] = &[include_str!("schema.sql")];

fn pg(e: tokio_postgres::Error) -> Error {
    Error::Storage(format!("postgres: {e}"))
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

const APP_COLUMNS: &str = "id, uuid, org, name, client_id, client_secret, signing_key, created_ms, rate_limits";

fn app_row(row: &Row) -> Result<App> {
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
    })
}

const USER_COLUMNS: &str =
    "id, app_id, username, uuid, password_hash, nickname, activated, generation, created_ms, modified_ms";

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
        },
    };
    Ok((row.get(0), record))
}

const MESSAGE_COLUMNS: &str =
    "id, app_id, conv_id, seq, chat_type, sender, target, body, ext, created_ms, sync_sender, origin_device";

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
    })
}

fn json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Storage(format!("cannot encode: {e}")))
}

#[async_trait]
impl AppData for PostgresStore {
    async fn create_app(&self, app: NewApp) -> Result<App> {
        let client = self.client().await?;
        let row = client
            .query_one(
                &format!(
                    "INSERT INTO apps (uuid, org, name, client_id, client_secret, signing_key, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {APP_COLUMNS}"
                ),
                &[
                    &app.uuid,
                    &app.org,
                    &app.name,
                    &app.client_id,
                    &app.client_secret,
                    &app.signing_key,
                    &app.created_ms,
                ],
            )
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::Duplicate(format!("app {}/{} or its client id already exists", app.org, app.name))
                } else {
                    pg(e)
                }
            })?;
        app_row(&row)
    }

    async fn apps(&self) -> Result<Vec<App>> {
        let client = self.client().await?;
        let rows = client.query(&format!("SELECT {APP_COLUMNS} FROM apps ORDER BY id"), &[]).await.map_err(pg)?;
        rows.iter().map(app_row).collect()
    }

    async fn app_by_name(&self, org: &str, name: &str) -> Result<Option<App>> {
        let client = self.client().await?;
        let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE org = $1 AND name = $2");
        client.query_opt(&sql, &[&org, &name]).await.map_err(pg)?.as_ref().map(app_row).transpose()
    }

    async fn app_by_uuid(&self, uuid: &str) -> Result<Option<App>> {
        let client = self.client().await?;
        let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE uuid = $1");
        client.query_opt(&sql, &[&uuid]).await.map_err(pg)?.as_ref().map(app_row).transpose()
    }

    async fn set_rate_limits(&self, app: AppId, limits: BTreeMap<String, u32>) -> Result<()> {
        let client = self.client().await?;
        client
            .execute("UPDATE apps SET rate_limits = $2 WHERE id = $1", &[&app.0, &json(&limits)?])
            .await
            .map_err(pg)?;
        Ok(())
    }
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
                "INSERT INTO users (app_id, username, uuid, password_hash, nickname, activated, generation, created_ms, modified_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (app_id, username) DO NOTHING",
            )
            .await
            .map_err(pg)?;
        let mut results = Vec::with_capacity(users.len());
        for record in users {
            let u = &record.user;
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

    async fn list_users(&self, app: AppId, after: Option<i64>, limit: usize) -> Result<Page<User>> {
        let client = self.client().await?;
        users_page(&client, app, after, limit).await
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

const MEMBERSHIP_SELECT: &str = "SELECT m.conv_id, m.ack_seq, m.read_seq, c.last_seq, m.joined_seq \
     FROM members m JOIN conversations c ON c.id = m.conv_id \
     WHERE m.app_id = $1 AND m.username = $2";

fn membership_row(row: &Row) -> Membership {
    Membership {
        conversation: ConversationId(row.get(0)),
        ack_seq: row.get(1),
        read_seq: row.get(2),
        last_seq: row.get(3),
        joined_seq: row.get(4),
    }
}

#[async_trait]
impl MessageData for PostgresStore {
    async fn append(&self, app: AppId, messages: Vec<NewMessage>) -> Result<Vec<Message>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        // Lock conversations in one global order (by key) so two sends that
        // share conversations cannot deadlock; answer in the caller's order.
        let mut order: Vec<usize> = (0..messages.len()).collect();
        order.sort_by(|a, b| {
            let (a, b) = (&messages[*a], &messages[*b]);
            (a.chat_type.code(), &a.conversation_key).cmp(&(b.chat_type.code(), &b.conversation_key))
        });
        let create = tx
            .prepare(
                "INSERT INTO conversations (app_id, kind, key, last_seq, created_ms) VALUES ($1, $2, $3, 0, $4) \
                 ON CONFLICT (app_id, kind, key) DO NOTHING RETURNING id",
            )
            .await
            .map_err(pg)?;
        let next = tx
            .prepare("UPDATE conversations SET last_seq = last_seq + 1 WHERE app_id = $1 AND kind = $2 AND key = $3 RETURNING id, last_seq")
            .await
            .map_err(pg)?;
        let join = tx
            .prepare("INSERT INTO members (app_id, username, conv_id, ack_seq, read_seq) VALUES ($1, $2, $3, 0, 0) ON CONFLICT DO NOTHING")
            .await
            .map_err(pg)?;
        let insert = tx
            .prepare(&format!(
                "INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            ))
            .await
            .map_err(pg)?;
        let mut stored: Vec<Option<Message>> = vec![None; messages.len()];
        for index in order {
            let m = &messages[index];
            let kind = m.chat_type.code();
            let created =
                tx.query_opt(&create, &[&app.0, &kind, &m.conversation_key, &m.timestamp_ms]).await.map_err(pg)?;
            let row = tx.query_one(&next, &[&app.0, &kind, &m.conversation_key]).await.map_err(pg)?;
            let (conv, seq): (i64, i64) = (row.get(0), row.get(1));
            if created.is_some() {
                for member in &m.members {
                    tx.execute(&join, &[&app.0, &member.as_str(), &conv]).await.map_err(pg)?;
                }
            }
            let ext = m.ext.as_ref().map(json).transpose()?;
            tx.execute(
                &insert,
                &[
                    &(m.id.0 as i64),
                    &app.0,
                    &conv,
                    &seq,
                    &kind,
                    &m.from.as_str(),
                    &m.to,
                    &json(&m.body)?,
                    &ext,
                    &m.timestamp_ms,
                    &m.sync_sender,
                    &m.origin_device,
                ],
            )
            .await
            .map_err(pg)?;
            stored[index] = Some(Message {
                id: m.id,
                app,
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
            });
        }
        tx.commit().await.map_err(pg)?;
        Ok(stored.into_iter().flatten().collect())
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
        let client = self.client().await?;
        client
            .execute(
                "UPDATE members SET ack_seq = GREATEST(ack_seq, LEAST($4, (SELECT last_seq FROM conversations WHERE id = $3))) \
                 WHERE app_id = $1 AND username = $2 AND conv_id = $3",
                &[&app.0, &user.as_str(), &conversation.0, &seq],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    async fn mark_read(&self, app: AppId, user: &Username, conversation: ConversationId, seq: i64) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE members SET \
                   read_seq = GREATEST(read_seq, LEAST($4, (SELECT last_seq FROM conversations WHERE id = $3))), \
                   ack_seq = GREATEST(ack_seq, LEAST($4, (SELECT last_seq FROM conversations WHERE id = $3))) \
                 WHERE app_id = $1 AND username = $2 AND conv_id = $3",
                &[&app.0, &user.as_str(), &conversation.0, &seq],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    async fn unacknowledged_count(&self, app: AppId, user: &Username) -> Result<u64> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT COUNT(*) FROM members m JOIN messages g ON g.conv_id = m.conv_id AND g.seq > m.ack_seq \
                 WHERE m.app_id = $1 AND m.username = $2 AND g.sender <> $2",
                &[&app.0, &user.as_str()],
            )
            .await
            .map_err(pg)?;
        Ok(row.get::<_, i64>(0) as u64)
    }
}
