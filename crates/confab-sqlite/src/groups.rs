//! Groups, chat rooms and threads in SQLite.
//!
//! Every change runs on the writer thread, which serialises them: a change's
//! checks (member cap, block list) and its writes see the same state.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

use confab_core::error::{Error, Refusal, Refused, Result};
use confab_core::groups::{attributes_to_remove, attributes_to_set, members_to_add, validate_settings, RefusedKeys};
use confab_core::ids::MessageId;
use confab_core::model::{
    AppId, ChatType, ConversationId, Group, GroupList, ListEntry, Member, NewGroup, Role, RoomAttribute, Username,
};
use confab_core::storage::{GroupChange, GroupChanged, GroupData, Page};

use crate::appends::last_seq;
use crate::{convert, storage, SqliteStore};

const GROUP_COLUMNS: &str =
    "conv_id, app_id, kind, gid, owner, settings, mute_all, parent, parent_msg, created_ms, member_count, version";

fn group_row(row: &Row<'_>) -> rusqlite::Result<Group> {
    let bad =
        |column, e: Error| rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, e.into());
    let kind: i64 = row.get(2)?;
    let owner: String = row.get(4)?;
    let settings: String = row.get(5)?;
    Ok(Group {
        conversation: ConversationId(row.get(0)?),
        kind: ChatType::from_code(kind).ok_or_else(|| bad(2, Error::Storage(format!("bad group kind {kind}"))))?,
        id: row.get(3)?,
        owner: Username::parse(&owner).map_err(|e| bad(4, e))?,
        settings: serde_json::from_str(&settings)
            .map_err(|e| bad(5, Error::Storage(format!("bad group settings: {e}"))))?,
        mute_all: row.get(6)?,
        parent: row.get(7)?,
        parent_message: row.get::<_, Option<i64>>(8)?.map(|id| MessageId(id as u64)),
        created_ms: row.get(9)?,
        member_count: row.get::<_, i64>(10)? as u64,
        version: row.get(11)?,
    })
}

fn load_group(conn: &Connection, app: AppId, conversation: i64) -> Result<Option<Group>> {
    conn.prepare_cached(&format!("SELECT {GROUP_COLUMNS} FROM groups WHERE conv_id = ?1 AND app_id = ?2"))
        .and_then(|mut s| s.query_row(params![conversation, app.0], group_row).optional())
        .map_err(storage)
}

fn groups(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<Group>> {
    let mut stmt = conn.prepare_cached(sql).map_err(storage)?;
    let rows = stmt.query_map(params, group_row).map_err(storage)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(storage)
}

fn role_of(conn: &Connection, app: AppId, conversation: i64, user: &Username) -> Result<Option<Role>> {
    let code: Option<i64> = conn
        .prepare_cached("SELECT role FROM members WHERE app_id = ?1 AND username = ?2 AND conv_id = ?3")
        .and_then(|mut s| s.query_row(params![app.0, user.as_str(), conversation], |r| r.get(0)).optional())
        .map_err(storage)?;
    Ok(code.and_then(Role::from_code))
}

fn on_list(conn: &Connection, conversation: i64, list: GroupList, user: &Username) -> Result<bool> {
    conn.prepare_cached("SELECT EXISTS(SELECT 1 FROM group_lists WHERE conv_id = ?1 AND list = ?2 AND username = ?3)")
        .and_then(|mut s| s.query_row(params![conversation, list.code(), user.as_str()], |r| r.get(0)))
        .map_err(storage)
}

fn insert_member(
    conn: &Connection,
    app: AppId,
    conversation: i64,
    user: &Username,
    role: Role,
    seq: i64,
    now: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO members (app_id, username, conv_id, ack_seq, read_seq, joined_seq, role, joined_ms) \
         VALUES (?1, ?2, ?3, ?4, ?4, ?4, ?5, ?6)",
    )
    .and_then(|mut s| s.execute(params![app.0, user.as_str(), conversation, seq, role.code(), now]))
    .map_err(storage)?;
    Ok(())
}

/// Removes a member with what belongs to their membership; true if they were one.
fn delete_member(conn: &Connection, app: AppId, conversation: i64, user: &Username) -> Result<bool> {
    let removed = conn
        .prepare_cached("DELETE FROM members WHERE app_id = ?1 AND username = ?2 AND conv_id = ?3")
        .and_then(|mut s| s.execute(params![app.0, user.as_str(), conversation]))
        .map_err(storage)?;
    if removed == 0 {
        return Ok(false);
    }
    conn.prepare_cached("DELETE FROM group_lists WHERE conv_id = ?1 AND list = ?2 AND username = ?3")
        .and_then(|mut s| s.execute(params![conversation, GroupList::Allow.code(), user.as_str()]))
        .map_err(storage)?;
    conn.prepare_cached("DELETE FROM room_attributes WHERE conv_id = ?1 AND owner = ?2 AND auto_delete = 1")
        .and_then(|mut s| s.execute(params![conversation, user.as_str()]))
        .map_err(storage)?;
    Ok(true)
}

fn not_member(user: &Username) -> (Username, Refusal) {
    (user.clone(), Refusal::NotMember)
}

/// Who a change changed, and who it refused and why.
#[derive(Default)]
struct Applied {
    changed: Vec<Username>,
    refused: Vec<(Username, Refusal)>,
}

/// Applies `change` to `group` (loaded under the writer) and returns what it did.
fn apply(
    conn: &Connection,
    cache: &mut crate::WriterCache,
    app: AppId,
    group: &Group,
    change: GroupChange,
) -> Result<Applied> {
    let conv = group.conversation.0;
    let mut changed = Vec::new();
    let mut refused = Vec::new();
    match change {
        GroupChange::AddMembers { users, role, max_users, now_ms } => {
            let mut members = HashSet::new();
            let mut blocked = HashSet::new();
            for user in &users {
                if role_of(conn, app, conv, user)?.is_some() {
                    members.insert(user.as_str().to_owned());
                }
                if on_list(conn, conv, GroupList::Block, user)? {
                    blocked.insert(user.as_str().to_owned());
                }
            }
            let (adding, turned_away) = members_to_add(group, users, &members, &blocked, max_users)?;
            refused = turned_away;
            // New members start at the conversation's end: what was said
            // before they joined is not theirs.
            let seq = last_seq(conn, cache, conv)?;
            for user in adding {
                insert_member(conn, app, conv, &user, role, seq, now_ms)?;
                changed.push(user);
            }
        }
        GroupChange::RemoveMembers { users } => {
            for user in users {
                if delete_member(conn, app, conv, &user)? {
                    changed.push(user);
                } else {
                    refused.push(not_member(&user));
                }
            }
        }
        GroupChange::SetRole { users, role } => {
            for user in users {
                match role_of(conn, app, conv, &user)? {
                    Some(Role::Owner) | None => refused.push(not_member(&user)),
                    Some(_) => {
                        conn.prepare_cached(
                            "UPDATE members SET role = ?4 WHERE app_id = ?1 AND username = ?2 AND conv_id = ?3",
                        )
                        .and_then(|mut s| s.execute(params![app.0, user.as_str(), conv, role.code()]))
                        .map_err(storage)?;
                        changed.push(user);
                    }
                }
            }
        }
        GroupChange::TransferOwner { to } => {
            if role_of(conn, app, conv, &to)?.is_none() {
                return Err(Refused::of(Refusal::NotMember, to).at(&group.id).into());
            }
            let mut set_role = conn
                .prepare_cached("UPDATE members SET role = ?4 WHERE app_id = ?1 AND username = ?2 AND conv_id = ?3")
                .map_err(storage)?;
            set_role.execute(params![app.0, group.owner.as_str(), conv, Role::Member.code()]).map_err(storage)?;
            set_role.execute(params![app.0, to.as_str(), conv, Role::Owner.code()]).map_err(storage)?;
            conn.execute("UPDATE groups SET owner = ?2 WHERE conv_id = ?1", params![conv, to.as_str()])
                .map_err(storage)?;
            changed.push(to);
        }
        GroupChange::Settings(patch) => {
            let mut settings = group.settings.clone();
            patch.apply(&mut settings);
            validate_settings(group.kind, &settings, group.member_count)?;
            conn.execute(
                "UPDATE groups SET settings = ?2 WHERE conv_id = ?1",
                params![conv, convert::json(&settings)?],
            )
            .map_err(storage)?;
        }
        GroupChange::MuteAll(muted) => {
            conn.execute("UPDATE groups SET mute_all = ?2 WHERE conv_id = ?1", params![conv, muted])
                .map_err(storage)?;
        }
        GroupChange::AddToList { list, users, until_ms, now_ms } => {
            for user in users {
                conn.prepare_cached(
                    "INSERT INTO group_lists (conv_id, list, username, until_ms, created_ms) VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (conv_id, list, username) DO UPDATE SET until_ms = excluded.until_ms",
                )
                .and_then(|mut s| s.execute(params![conv, list.code(), user.as_str(), until_ms, now_ms]))
                .map_err(storage)?;
                if list == GroupList::Block {
                    delete_member(conn, app, conv, &user)?;
                }
                changed.push(user);
            }
        }
        GroupChange::RemoveFromList { list, users } => {
            for user in users {
                let removed = conn
                    .prepare_cached("DELETE FROM group_lists WHERE conv_id = ?1 AND list = ?2 AND username = ?3")
                    .and_then(|mut s| s.execute(params![conv, list.code(), user.as_str()]))
                    .map_err(storage)?;
                if removed == 1 {
                    changed.push(user);
                } else {
                    refused.push((user.clone(), Refusal::NotOnList));
                }
            }
        }
    }
    conn.execute(
        "UPDATE groups SET version = version + 1, \
         member_count = (SELECT COUNT(*) FROM members WHERE conv_id = ?1) WHERE conv_id = ?1",
        params![conv],
    )
    .map_err(storage)?;
    Ok(Applied { changed, refused })
}

/// Who holds each of `keys` in a room now (key → owner).
fn attribute_holders(conn: &Connection, conversation: i64, keys: &[&str]) -> Result<HashMap<String, String>> {
    let mut stmt =
        conn.prepare_cached("SELECT owner FROM room_attributes WHERE conv_id = ?1 AND key = ?2").map_err(storage)?;
    let mut holders = HashMap::new();
    for key in keys {
        let holder: Option<String> =
            stmt.query_row(params![conversation, key], |r| r.get(0)).optional().map_err(storage)?;
        if let Some(owner) = holder {
            holders.insert((*key).to_owned(), owner);
        }
    }
    Ok(holders)
}

/// Moves a deleted group's conversation out of the way of its ID: a negative
/// kind no lookup asks for and a key made unique by the row's own ID.
const RETIRE_CONVERSATION: &str = "UPDATE conversations SET kind = -1 - kind, key = id || ':' || key WHERE id = ?1";

#[async_trait]
impl GroupData for SqliteStore {
    async fn create_group(&self, app: AppId, group: NewGroup) -> Result<Group> {
        self.write(move |conn, cache| {
            let kind = group.kind.code();
            let existing: Option<(i64, bool)> = conn
                .query_row(
                    "SELECT c.id, EXISTS(SELECT 1 FROM groups g WHERE g.conv_id = c.id) \
                     FROM conversations c WHERE c.app_id = ?1 AND c.kind = ?2 AND c.key = ?3",
                    params![app.0, kind, group.id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(storage)?;
            match existing {
                Some((_, true)) => return Err(Error::Duplicate(format!("group ID {} already exists!", group.id))),
                // A deleted group's conversation keeps its messages under a
                // retired key, so the ID can name a new group.
                Some((old, false)) => {
                    conn.execute(RETIRE_CONVERSATION, params![old]).map_err(storage)?;
                    cache.conversations.remove(&(app.0, kind, group.id.clone()));
                }
                None => {}
            }
            conn.execute(
                "INSERT INTO conversations (app_id, kind, key, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![app.0, kind, group.id, group.created_ms],
            )
            .map_err(storage)?;
            let conv = conn.last_insert_rowid();
            cache.conversations.insert((app.0, kind, group.id.clone()), conv);
            cache.last_seq.insert(conv, 0);
            cache.newest.insert(conv, crate::history::BEFORE_ALL);
            conn.execute(
                &format!("INSERT INTO groups ({GROUP_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8, ?9, ?10, 1)"),
                params![
                    conv,
                    app.0,
                    kind,
                    group.id,
                    group.owner.as_str(),
                    convert::json(&group.settings)?,
                    group.parent,
                    group.parent_message.map(|m| m.0 as i64),
                    group.created_ms,
                    group.members.len() as i64 + 1,
                ],
            )
            .map_err(storage)?;
            insert_member(conn, app, conv, &group.owner, Role::Owner, 0, group.created_ms)?;
            for member in &group.members {
                insert_member(conn, app, conv, member, Role::Member, 0, group.created_ms)?;
            }
            load_group(conn, app, conv)?.ok_or_else(|| Error::Storage("created group vanished".into()))
        })
        .await
    }

    async fn group(&self, app: AppId, kind: ChatType, id: &str) -> Result<Option<Group>> {
        let id = id.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {GROUP_COLUMNS} FROM groups WHERE app_id = ?1 AND kind = ?2 AND gid = ?3"
            ))
            .and_then(|mut s| s.query_row(params![app.0, kind.code(), id], group_row).optional())
            .map_err(storage)
        })
        .await
    }

    async fn list_groups(
        &self,
        app: AppId,
        kind: ChatType,
        after: Option<i64>,
        limit: usize,
        newest_first: bool,
    ) -> Result<Page<Group>> {
        let (past, order) = if newest_first { ("<", "DESC") } else { (">", "ASC") };
        let after = after.unwrap_or(if newest_first { i64::MAX } else { 0 });
        self.read(move |conn| {
            let mut items = groups(
                conn,
                &format!(
                    "SELECT {GROUP_COLUMNS} FROM groups WHERE app_id = ?1 AND kind = ?2 AND conv_id {past} ?3 \
                     ORDER BY conv_id {order} LIMIT ?4"
                ),
                params![app.0, kind.code(), after, limit as i64 + 1],
            )?;
            let more = items.len() > limit;
            items.truncate(limit);
            let next = if more { items.last().map(|g| g.conversation.0) } else { None };
            Ok(Page { items, next })
        })
        .await
    }

    async fn groups_of(&self, app: AppId, kind: ChatType, user: &Username) -> Result<Vec<Group>> {
        let user = user.clone();
        self.read(move |conn| {
            groups(
                conn,
                "SELECT g.conv_id, g.app_id, g.kind, g.gid, g.owner, g.settings, g.mute_all, g.parent, g.parent_msg, \
                        g.created_ms, g.member_count, g.version \
                 FROM members m JOIN groups g ON g.conv_id = m.conv_id \
                 WHERE m.app_id = ?1 AND m.username = ?2 AND g.kind = ?3 ORDER BY g.conv_id",
                params![app.0, user.as_str(), kind.code()],
            )
        })
        .await
    }

    async fn threads_of(&self, app: AppId, parent: &str) -> Result<Vec<Group>> {
        let parent = parent.to_owned();
        self.read(move |conn| {
            groups(
                conn,
                &format!("SELECT {GROUP_COLUMNS} FROM groups WHERE app_id = ?1 AND parent = ?2 ORDER BY conv_id"),
                params![app.0, parent],
            )
        })
        .await
    }

    async fn delete_group(&self, app: AppId, conversation: ConversationId) -> Result<Option<Group>> {
        self.write(move |conn, _| {
            let Some(group) = load_group(conn, app, conversation.0)? else {
                return Ok(None);
            };
            let conv = conversation.0;
            for sql in [
                "DELETE FROM members WHERE conv_id = ?1",
                "DELETE FROM group_lists WHERE conv_id = ?1",
                "DELETE FROM room_attributes WHERE conv_id = ?1",
                "DELETE FROM groups WHERE conv_id = ?1",
            ] {
                conn.execute(sql, params![conv]).map_err(storage)?;
            }
            Ok(Some(group))
        })
        .await
    }

    async fn members(&self, app: AppId, conversation: ConversationId) -> Result<Vec<Member>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT username, role, joined_ms FROM members WHERE conv_id = ?1 AND app_id = ?2 \
                     ORDER BY role = 2 DESC, joined_ms, username",
                )
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![conversation.0, app.0], |row| {
                    let name: String = row.get(0)?;
                    Ok((name, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
                })
                .map_err(storage)?;
            let mut members = Vec::new();
            for row in rows {
                let (name, role, joined_ms) = row.map_err(storage)?;
                members.push(Member {
                    username: Username::parse(&name)?,
                    role: Role::from_code(role).ok_or_else(|| Error::Storage(format!("bad role {role}")))?,
                    joined_ms,
                });
            }
            Ok(members)
        })
        .await
    }

    async fn change_group(
        &self,
        app: AppId,
        conversation: ConversationId,
        change: GroupChange,
    ) -> Result<GroupChanged> {
        self.write(move |conn, cache| {
            let group =
                load_group(conn, app, conversation.0)?.ok_or_else(|| Error::NotFound("group not found".into()))?;
            let Applied { changed, refused } = apply(conn, cache, app, &group, change)?;
            let group =
                load_group(conn, app, conversation.0)?.ok_or_else(|| Error::Storage("group vanished".into()))?;
            Ok(GroupChanged { group, changed, refused })
        })
        .await
    }

    async fn list_entries(&self, _app: AppId, conversation: ConversationId, list: GroupList) -> Result<Vec<ListEntry>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT username, until_ms, created_ms FROM group_lists WHERE conv_id = ?1 AND list = ?2 \
                     ORDER BY created_ms, username",
                )
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![conversation.0, list.code()], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
                })
                .map_err(storage)?;
            let mut entries = Vec::new();
            for row in rows {
                let (name, until_ms, created_ms) = row.map_err(storage)?;
                entries.push(ListEntry { username: Username::parse(&name)?, until_ms, created_ms });
            }
            Ok(entries)
        })
        .await
    }

    async fn room_attributes(&self, _app: AppId, conversation: ConversationId) -> Result<Vec<RoomAttribute>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT key, value, owner, auto_delete FROM room_attributes WHERE conv_id = ?1 ORDER BY key",
                )
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![conversation.0], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?, row.get(3)?))
                })
                .map_err(storage)?;
            let mut attributes = Vec::new();
            for row in rows {
                let (key, value, owner, auto_delete) = row.map_err(storage)?;
                attributes.push(RoomAttribute { key, value, owner: Username::parse(&owner)?, auto_delete });
            }
            Ok(attributes)
        })
        .await
    }

    async fn set_room_attributes(
        &self,
        _app: AppId,
        conversation: ConversationId,
        attributes: Vec<RoomAttribute>,
        force: bool,
        max_keys: usize,
    ) -> Result<RefusedKeys> {
        self.write(move |conn, _| {
            let conv = conversation.0;
            let count: i64 = conn
                .query_row("SELECT COUNT(*) FROM room_attributes WHERE conv_id = ?1", params![conv], |r| r.get(0))
                .map_err(storage)?;
            let keys: Vec<&str> = attributes.iter().map(|a| a.key.as_str()).collect();
            let holders = attribute_holders(conn, conv, &keys)?;
            let (writing, refused) = attributes_to_set(&holders, count as usize, attributes, force, max_keys);
            let mut upsert = conn
                .prepare_cached(
                    "INSERT INTO room_attributes (conv_id, key, value, owner, auto_delete) VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (conv_id, key) DO UPDATE SET value = excluded.value, owner = excluded.owner, \
                     auto_delete = excluded.auto_delete",
                )
                .map_err(storage)?;
            for a in writing {
                upsert.execute(params![conv, a.key, a.value, a.owner.as_str(), a.auto_delete]).map_err(storage)?;
            }
            Ok(refused)
        })
        .await
    }

    async fn remove_room_attributes(
        &self,
        _app: AppId,
        conversation: ConversationId,
        owner: &Username,
        keys: Vec<String>,
        force: bool,
    ) -> Result<RefusedKeys> {
        let owner = owner.clone();
        self.write(move |conn, _| {
            let conv = conversation.0;
            let named: Vec<&str> = keys.iter().map(String::as_str).collect();
            let holders = attribute_holders(conn, conv, &named)?;
            let (removing, refused) = attributes_to_remove(&holders, &owner, keys, force);
            let mut delete =
                conn.prepare_cached("DELETE FROM room_attributes WHERE conv_id = ?1 AND key = ?2").map_err(storage)?;
            for key in removing {
                delete.execute(params![conv, key]).map_err(storage)?;
            }
            Ok(refused)
        })
        .await
    }
}
