//! Contacts, block lists and global mutes in SQLite.

use async_trait::async_trait;
use rusqlite::{params, Connection};

use confab_core::error::{Error, Result};
use confab_core::model::{AppId, ChatType, Username};
use confab_core::model::{GlobalMute, Relation};
use confab_core::storage::RelationData;

use crate::{storage, SqliteStore};

fn count(conn: &Connection, app: AppId, owner: &str, relation: Relation) -> Result<usize> {
    conn.prepare_cached("SELECT COUNT(*) FROM relations WHERE app_id = ?1 AND owner = ?2 AND kind = ?3")
        .and_then(|mut s| s.query_row(params![app.0, owner, relation.code()], |r| r.get::<_, i64>(0)))
        .map(|n| n as usize)
        .map_err(storage)
}

fn exists(conn: &Connection, app: AppId, owner: &str, relation: Relation, other: &str) -> Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS(SELECT 1 FROM relations WHERE app_id = ?1 AND owner = ?2 AND kind = ?3 AND other = ?4)",
    )
    .and_then(|mut s| s.query_row(params![app.0, owner, relation.code(), other], |r| r.get(0)))
    .map_err(storage)
}

#[async_trait]
impl RelationData for SqliteStore {
    async fn add_relations(
        &self,
        app: AppId,
        relation: Relation,
        owner: &Username,
        others: Vec<Username>,
        cap: usize,
        now_ms: i64,
    ) -> Result<bool> {
        let owner = owner.clone();
        // On the writer thread: the counts and the inserts see the same state.
        self.write(move |conn, _| {
            let mut new = Vec::new();
            for other in &others {
                if !exists(conn, app, owner.as_str(), relation, other.as_str())? {
                    new.push(other);
                }
            }
            if count(conn, app, owner.as_str(), relation)? + new.len() > cap {
                return Ok(false);
            }
            let mutual = relation == Relation::Contact;
            if mutual {
                for other in &new {
                    if count(conn, app, other.as_str(), relation)? + 1 > cap {
                        return Ok(false);
                    }
                }
            }
            let mut insert = conn
                .prepare_cached(
                    "INSERT INTO relations (app_id, owner, kind, other, created_ms) VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT DO NOTHING",
                )
                .map_err(storage)?;
            for other in new {
                insert
                    .execute(params![app.0, owner.as_str(), relation.code(), other.as_str(), now_ms])
                    .map_err(storage)?;
                if mutual {
                    insert
                        .execute(params![app.0, other.as_str(), relation.code(), owner.as_str(), now_ms])
                        .map_err(storage)?;
                }
            }
            Ok(true)
        })
        .await
    }

    async fn remove_relation(
        &self,
        app: AppId,
        relation: Relation,
        owner: &Username,
        other: &Username,
    ) -> Result<bool> {
        let (owner, other) = (owner.clone(), other.clone());
        self.write(move |conn, _| {
            let mut delete = conn
                .prepare_cached("DELETE FROM relations WHERE app_id = ?1 AND owner = ?2 AND kind = ?3 AND other = ?4")
                .map_err(storage)?;
            let removed =
                delete.execute(params![app.0, owner.as_str(), relation.code(), other.as_str()]).map_err(storage)?;
            if relation == Relation::Contact {
                delete.execute(params![app.0, other.as_str(), relation.code(), owner.as_str()]).map_err(storage)?;
            }
            Ok(removed > 0)
        })
        .await
    }

    async fn relations(&self, app: AppId, relation: Relation, owner: &Username) -> Result<Vec<(Username, i64)>> {
        let owner = owner.clone();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT other, created_ms FROM relations WHERE app_id = ?1 AND owner = ?2 AND kind = ?3 \
                     ORDER BY created_ms DESC, other",
                )
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![app.0, owner.as_str(), relation.code()], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })
                .map_err(storage)?;
            let mut out = Vec::new();
            for row in rows {
                let (name, at) = row.map_err(storage)?;
                out.push((Username::parse(&name)?, at));
            }
            Ok(out)
        })
        .await
    }

    async fn all_blocks(&self, app: AppId) -> Result<Vec<(Username, Username)>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT owner, other FROM relations WHERE app_id = ?1 AND kind = ?2")
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![app.0, Relation::Block.code()], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(storage)?;
            let mut out = Vec::new();
            for row in rows {
                let (owner, other) = row.map_err(storage)?;
                out.push((Username::parse(&owner)?, Username::parse(&other)?));
            }
            Ok(out)
        })
        .await
    }

    async fn set_global_mute(&self, app: AppId, user: &Username, kind: ChatType, until_ms: Option<i64>) -> Result<()> {
        let user = user.clone();
        self.write(move |conn, _| {
            match until_ms {
                Some(until) => conn.execute(
                    "INSERT INTO global_mutes (app_id, username, chat_type, until_ms) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (app_id, username, chat_type) DO UPDATE SET until_ms = excluded.until_ms",
                    params![app.0, user.as_str(), kind.code(), until],
                ),
                None => conn.execute(
                    "DELETE FROM global_mutes WHERE app_id = ?1 AND username = ?2 AND chat_type = ?3",
                    params![app.0, user.as_str(), kind.code()],
                ),
            }
            .map_err(storage)?;
            Ok(())
        })
        .await
    }

    async fn global_mutes(&self, app: AppId) -> Result<Vec<GlobalMute>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT username, chat_type, until_ms FROM global_mutes WHERE app_id = ?1 \
                     ORDER BY username, chat_type",
                )
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![app.0], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))
                .map_err(storage)?;
            let mut out = Vec::new();
            for row in rows {
                let (name, kind, until_ms) = row.map_err(storage)?;
                let kind = ChatType::from_code(kind).ok_or_else(|| Error::Storage(format!("bad chat type {kind}")))?;
                out.push(GlobalMute { username: Username::parse(&name)?, kind, until_ms });
            }
            Ok(out)
        })
        .await
    }
}
