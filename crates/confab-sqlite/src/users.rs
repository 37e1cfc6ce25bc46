//! Users in SQLite.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use confab_core::error::{Error, Result};
use confab_core::model::{AppId, ProfileChange, User, UserRecord, Username};
use confab_core::storage::{Page, UserData};

use crate::convert::{self, USER_COLUMNS};
use crate::{storage, SqliteStore};

fn user_by_name(conn: &Connection, app: AppId, username: &Username) -> Result<Option<UserRecord>> {
    conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = ?1 AND username = ?2"))
        .and_then(|mut s| s.query_row(params![app.0, username.as_str()], convert::user).optional())
        .map(|found| found.map(|(_, record)| record))
        .map_err(storage)
}

fn users_page(conn: &Connection, app: AppId, after: Option<i64>, limit: usize) -> Result<Page<User>> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE app_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"))
        .map_err(storage)?;
    // One extra row tells whether another page follows.
    let rows = stmt
        .query_map(params![app.0, after.unwrap_or(0), limit as i64 + 1], convert::user)
        .map_err(storage)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(storage)?;
    let more = rows.len() > limit;
    let items: Vec<(i64, UserRecord)> = rows.into_iter().take(limit).collect();
    let next = if more { items.last().map(|(pos, _)| *pos) } else { None };
    Ok(Page { items: items.into_iter().map(|(_, r)| r.user).collect(), next })
}

#[async_trait]
impl UserData for SqliteStore {
    async fn insert_users(&self, app: AppId, users: Vec<UserRecord>) -> Result<Vec<Result<User>>> {
        self.write(move |conn, _| {
            let mut stmt = conn
                .prepare_cached(
                    "INSERT INTO users (app_id, username, uuid, password_hash, nickname, activated, generation, created_ms, modified_ms, attributes) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (app_id, username) DO NOTHING",
                )
                .map_err(storage)?;
            let mut results = Vec::with_capacity(users.len());
            for record in users {
                let u = &record.user;
                let attributes = convert::json(&u.attributes)?;
                let inserted = stmt
                    .execute(params![
                        app.0,
                        u.username.as_str(),
                        u.uuid,
                        record.password_hash,
                        u.nickname,
                        u.activated,
                        u.credential_generation,
                        u.created_ms,
                        u.modified_ms,
                        attributes
                    ])
                    .map_err(storage)?;
                results.push(if inserted == 1 {
                    Ok(record.user)
                } else {
                    Err(Error::Duplicate(format!("the user {} already exists", u.username)))
                });
            }
            Ok(results)
        })
        .await
    }

    async fn user(&self, app: AppId, username: &Username) -> Result<Option<UserRecord>> {
        let username = username.clone();
        self.read(move |conn| user_by_name(conn, app, &username)).await
    }

    async fn record_login(&self, app: AppId, username: &Username, now_ms: i64) -> Result<()> {
        let username = username.clone();
        self.write(move |conn, _| {
            conn.prepare_cached("UPDATE users SET last_login_ms = ?3 WHERE app_id = ?1 AND username = ?2")
                .and_then(|mut s| s.execute(params![app.0, username.as_str(), now_ms]))
                .map_err(storage)?;
            Ok(())
        })
        .await
    }

    async fn active_since(&self, app: AppId, since_ms: i64) -> Result<u64> {
        self.read(move |conn| {
            conn.prepare_cached("SELECT COUNT(*) FROM users WHERE app_id = ?1 AND last_login_ms >= ?2")
                .and_then(|mut s| s.query_row(params![app.0, since_ms], |r| r.get::<_, i64>(0)))
                .map(|n| n as u64)
                .map_err(storage)
        })
        .await
    }

    async fn count_users(&self, app: AppId) -> Result<u64> {
        self.read(move |conn| {
            conn.prepare_cached("SELECT COUNT(*) FROM users WHERE app_id = ?1")
                .and_then(|mut s| s.query_row(params![app.0], |r| r.get::<_, i64>(0)))
                .map(|n| n as u64)
                .map_err(storage)
        })
        .await
    }

    async fn update_profile(
        &self,
        app: AppId,
        username: &Username,
        change: ProfileChange,
        now_ms: i64,
    ) -> Result<Option<User>> {
        let username = username.clone();
        self.write(move |conn, _| {
            let Some(record) = user_by_name(conn, app, &username)? else {
                return Ok(None);
            };
            let user = record.user;
            let nickname = change.nickname.unwrap_or(user.nickname);
            let attributes = match &change.attributes {
                Some(c) => c.apply(&user.attributes)?,
                None => user.attributes,
            };
            let push = change.push.unwrap_or(user.push);
            conn.execute(
                "UPDATE users SET nickname = ?3, attributes = ?4, push = ?5, modified_ms = ?6 \
                 WHERE app_id = ?1 AND username = ?2",
                params![app.0, username.as_str(), nickname, convert::json(&attributes)?, convert::json(&push)?, now_ms],
            )
            .map_err(storage)?;
            Ok(user_by_name(conn, app, &username)?.map(|r| r.user))
        })
        .await
    }

    async fn attributes_capacity(&self, app: AppId) -> Result<u64> {
        self.read(move |conn| {
            conn.prepare_cached("SELECT COALESCE(SUM(LENGTH(CAST(attributes AS BLOB))), 0) FROM users WHERE app_id = ?1 AND attributes <> '{}'")
                .and_then(|mut s| s.query_row(params![app.0], |r| r.get::<_, i64>(0)))
                .map(|n| n as u64)
                .map_err(storage)
        })
        .await
    }

    async fn list_users(&self, app: AppId, after: Option<i64>, limit: usize) -> Result<Page<User>> {
        self.read(move |conn| users_page(conn, app, after, limit)).await
    }

    async fn users_by_prefix(&self, app: AppId, prefix: &str, limit: usize) -> Result<Vec<User>> {
        let prefix = prefix.to_owned();
        self.read(move |conn| {
            // SQLite compares text byte for byte: every ID with the prefix
            // sorts from the prefix on, before the first that lacks it.
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE app_id = ?1 AND username >= ?2 ORDER BY username LIMIT ?3"
                ))
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![app.0, prefix, limit as i64], convert::user)
                .map_err(storage)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(storage)?;
            Ok(rows
                .into_iter()
                .map(|(_, r)| r.user)
                .take_while(|u| u.username.as_str().starts_with(prefix.as_str()))
                .collect())
        })
        .await
    }

    async fn users_with_attribute(&self, app: AppId, key: &str, value: &str, limit: usize) -> Result<Vec<User>> {
        // A JSON path with the key quoted, so no key can change the path's meaning.
        let path = format!("$.{}", serde_json::Value::String(key.to_owned()));
        let value = value.to_owned();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE app_id = ?1 AND attributes <> '{{}}' \
                     AND json_extract(attributes, ?2) = ?3 ORDER BY id LIMIT ?4"
                ))
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![app.0, path, value, limit as i64], convert::user)
                .map_err(storage)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(storage)?;
            Ok(rows.into_iter().map(|(_, r)| r.user).collect())
        })
        .await
    }

    async fn delete_user(&self, app: AppId, username: &Username) -> Result<Option<User>> {
        let username = username.clone();
        self.write(move |conn, _| {
            let Some(record) = user_by_name(conn, app, &username)? else {
                return Ok(None);
            };
            conn.execute("DELETE FROM users WHERE app_id = ?1 AND username = ?2", params![app.0, username.as_str()])
                .map_err(storage)?;
            Ok(Some(record.user))
        })
        .await
    }

    async fn delete_users(&self, app: AppId, after: Option<i64>, limit: usize) -> Result<Page<User>> {
        self.write(move |conn, _| {
            let page = users_page(conn, app, after, limit)?;
            let mut stmt =
                conn.prepare_cached("DELETE FROM users WHERE app_id = ?1 AND username = ?2").map_err(storage)?;
            for user in &page.items {
                stmt.execute(params![app.0, user.username.as_str()]).map_err(storage)?;
            }
            Ok(page)
        })
        .await
    }

    async fn set_password(&self, app: AppId, username: &Username, hash: String, now_ms: i64) -> Result<Option<User>> {
        let username = username.clone();
        self.write(move |conn, _| {
            conn.execute(
                "UPDATE users SET password_hash = ?3, generation = generation + 1, modified_ms = ?4 \
                 WHERE app_id = ?1 AND username = ?2",
                params![app.0, username.as_str(), hash, now_ms],
            )
            .map_err(storage)?;
            Ok(user_by_name(conn, app, &username)?.map(|r| r.user))
        })
        .await
    }

    async fn set_activated(
        &self,
        app: AppId,
        username: &Username,
        activated: bool,
        now_ms: i64,
    ) -> Result<Option<User>> {
        let username = username.clone();
        self.write(move |conn, _| {
            conn.execute(
                "UPDATE users SET activated = ?3, modified_ms = ?4 WHERE app_id = ?1 AND username = ?2",
                params![app.0, username.as_str(), activated, now_ms],
            )
            .map_err(storage)?;
            Ok(user_by_name(conn, app, &username)?.map(|r| r.user))
        })
        .await
    }
}
