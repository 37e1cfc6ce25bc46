//! Groups, chat rooms and threads in PostgreSQL, with the same behaviour as
//! the SQLite engine's (`confab-sqlite/src/groups.rs`).
//!
//! SQLite serialises every change on its writer thread; here several nodes
//! change groups at once, so each write is one transaction that first locks
//! the group's row. Changes to one group thus run one after another across
//! nodes, and a change's checks (member cap, block list) and its writes see
//! the same state. Under READ COMMITTED every statement after the lock sees
//! what the previous holder committed.
//!
//! Lists of users are handled with one statement each (`= ANY($n)`,
//! `UNNEST`), and the per-user outcome, which SQLite finds by running the
//! users one by one, is worked out here in the same order, so duplicates in
//! a request are answered alike.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use confab_core::error::{Error, Refusal, Refused, Result};
use confab_core::groups::{attributes_to_remove, attributes_to_set, members_to_add, validate_settings, RefusedKeys};
use confab_core::ids::MessageId;
use confab_core::model::{
    AppId, ChatType, ConversationId, Group, GroupList, ListEntry, Member, NewGroup, Role, RoomAttribute, Username,
};
use confab_core::storage::{GroupChange, GroupChanged, GroupData, Page};

use crate::{json, pg, PostgresStore};

const GROUP_COLUMNS: &str =
    "conv_id, app_id, kind, gid, owner, settings, mute_all, parent, parent_msg, created_ms, member_count, version";

/// [`GROUP_COLUMNS`] of `groups g`, for queries that join it.
const G_GROUP_COLUMNS: &str = "g.conv_id, g.app_id, g.kind, g.gid, g.owner, g.settings, g.mute_all, g.parent, \
     g.parent_msg, g.created_ms, g.member_count, g.version";

fn group_row(row: &Row) -> Result<Group> {
    let kind: i64 = row.get(2);
    let owner: String = row.get(4);
    let settings: String = row.get(5);
    Ok(Group {
        conversation: ConversationId(row.get(0)),
        kind: ChatType::from_code(kind).ok_or_else(|| Error::Storage(format!("bad group kind {kind}")))?,
        id: row.get(3),
        owner: Username::parse(&owner)?,
        settings: serde_json::from_str(&settings).map_err(|e| Error::Storage(format!("bad group settings: {e}")))?,
        mute_all: row.get(6),
        parent: row.get(7),
        parent_message: row.get::<_, Option<i64>>(8).map(|id| MessageId(id as u64)),
        created_ms: row.get(9),
        member_count: row.get::<_, i64>(10) as u64,
        version: row.get(11),
    })
}

/// Runs `sql` as a statement cached on the connection, so the frequent ones
/// cost one round trip instead of two.
async fn query(client: &impl GenericClient, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
    let statement = client.prepare_cached(sql).await.map_err(pg)?;
    client.query(&statement, params).await.map_err(pg)
}

async fn execute(client: &impl GenericClient, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
    let statement = client.prepare_cached(sql).await.map_err(pg)?;
    client.execute(&statement, params).await.map_err(pg)
}

async fn groups(client: &impl GenericClient, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Group>> {
    query(client, sql, params).await?.iter().map(group_row).collect()
}

fn names(users: &[Username]) -> Vec<String> {
    users.iter().map(|u| u.as_str().to_owned()).collect()
}

/// The first column of every row, as a set of names.
fn name_set(rows: Vec<Row>) -> HashSet<String> {
    rows.iter().map(|r| r.get(0)).collect()
}

/// Locks the group's row for the rest of the transaction and returns it.
async fn lock_group(client: &impl GenericClient, app: AppId, conversation: i64) -> Result<Option<Group>> {
    let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE conv_id = $1 AND app_id = $2 FOR UPDATE");
    query(client, &sql, &[&conversation, &app.0]).await?.first().map(group_row).transpose()
}

/// Removes members with what belongs to their membership (their allow
/// entries and auto-deleted room attributes, but not their mutes, which
/// outlive leaving); returns the users that were members.
async fn delete_members(
    client: &impl GenericClient,
    app: AppId,
    conversation: i64,
    users: &[String],
) -> Result<HashSet<String>> {
    let removed = name_set(
        query(
            client,
            "DELETE FROM members WHERE app_id = $1 AND conv_id = $2 AND username = ANY($3) RETURNING username",
            &[&app.0, &conversation, &users],
        )
        .await?,
    );
    if removed.is_empty() {
        return Ok(removed);
    }
    let gone: Vec<&str> = removed.iter().map(String::as_str).collect();
    execute(
        client,
        "DELETE FROM group_lists WHERE conv_id = $1 AND list = $2 AND username = ANY($3)",
        &[&conversation, &GroupList::Allow.code(), &gone],
    )
    .await?;
    execute(
        client,
        "DELETE FROM room_attributes WHERE conv_id = $1 AND owner = ANY($2) AND auto_delete",
        &[&conversation, &gone],
    )
    .await?;
    Ok(removed)
}

/// Splits `users` into those a statement touched (`hit`) and the rest, in
/// request order. Each hit counts once, so a repeated user is refused the
/// second time, as when SQLite runs the statement per user.
fn take_hits(
    users: Vec<Username>,
    mut hit: HashSet<String>,
    refusal: Refusal,
) -> (Vec<Username>, Vec<(Username, Refusal)>) {
    let (mut changed, mut refused) = (Vec::new(), Vec::new());
    for user in users {
        if hit.remove(user.as_str()) {
            changed.push(user);
        } else {
            refused.push((user, refusal));
        }
    }
    (changed, refused)
}

/// Applies `change` to `group`, whose row the transaction holds locked, and
/// returns what it did.
async fn apply(
    client: &impl GenericClient,
    app: AppId,
    group: &Group,
    change: GroupChange,
) -> Result<(Vec<Username>, Vec<(Username, Refusal)>)> {
    let conv = group.conversation.0;
    let mut changed = Vec::new();
    let mut refused = Vec::new();
    match change {
        GroupChange::AddMembers { users, role, max_users, now_ms } => {
            let asked = names(&users);
            let members = name_set(
                query(
                    client,
                    "SELECT username FROM members WHERE app_id = $1 AND conv_id = $2 AND username = ANY($3)",
                    &[&app.0, &conv, &asked],
                )
                .await?,
            );
            let blocked = name_set(
                query(
                    client,
                    "SELECT username FROM group_lists WHERE conv_id = $1 AND list = $2 AND username = ANY($3)",
                    &[&conv, &GroupList::Block.code(), &asked],
                )
                .await?,
            );
            let (adding, turned_away) = members_to_add(group, users, &members, &blocked, max_users)?;
            refused = turned_away;
            if !adding.is_empty() {
                // New members start at the conversation's end: what was said
                // before they joined is not theirs. FOR SHARE waits for an
                // append batch that holds the row and reads its outcome, so a
                // message committed before the join is never counted after
                // it. No deadlock: batches lock conversations, never groups.
                let seq: i64 = query(client, "SELECT last_seq FROM conversations WHERE id = $1 FOR SHARE", &[&conv])
                    .await?
                    .first()
                    .map(|r| r.get(0))
                    .ok_or_else(|| Error::Storage(format!("conversation {conv} of group {} is missing", group.id)))?;
                execute(
                    client,
                    "INSERT INTO members (app_id, username, conv_id, ack_seq, read_seq, joined_seq, role, joined_ms) \
                     SELECT $1, u, $2, $3, $3, $3, $4, $5 FROM UNNEST($6::TEXT[]) AS u",
                    &[&app.0, &conv, &seq, &role.code(), &now_ms, &names(&adding)],
                )
                .await?;
            }
            changed = adding;
        }
        GroupChange::RemoveMembers { users } => {
            let removed = delete_members(client, app, conv, &names(&users)).await?;
            (changed, refused) = take_hits(users, removed, Refusal::NotMember);
        }
        GroupChange::SetRole { users, role } => {
            let rows = query(
                client,
                "SELECT username, role FROM members WHERE app_id = $1 AND conv_id = $2 AND username = ANY($3)",
                &[&app.0, &conv, &names(&users)],
            )
            .await?;
            let mut roles: HashMap<String, Option<Role>> =
                rows.iter().map(|r| (r.get(0), Role::from_code(r.get(1)))).collect();
            let mut setting: Vec<String> = Vec::new();
            for user in users {
                match roles.get(user.as_str()).copied().flatten() {
                    Some(Role::Member | Role::Admin) => {
                        // A repeat of this user sees the role just set, as
                        // SQLite's next per-user lookup would.
                        roles.insert(user.as_str().to_owned(), Some(role));
                        setting.push(user.as_str().to_owned());
                        changed.push(user);
                    }
                    // The owner changes only by a transfer, so a group
                    // always has exactly one.
                    Some(Role::Owner) | None => {
                        refused.push((user, Refusal::NotMember));
                    }
                }
            }
            if !setting.is_empty() {
                execute(
                    client,
                    "UPDATE members SET role = $4 WHERE app_id = $1 AND conv_id = $2 AND username = ANY($3)",
                    &[&app.0, &conv, &setting, &role.code()],
                )
                .await?;
            }
        }
        GroupChange::TransferOwner { to } => {
            let is_member = !query(
                client,
                "SELECT 1 FROM members WHERE app_id = $1 AND conv_id = $2 AND username = $3",
                &[&app.0, &conv, &to.as_str()],
            )
            .await?
            .is_empty();
            if !is_member {
                return Err(Refused::of(Refusal::NotMember, to).at(&group.id).into());
            }
            // One statement demotes the old owner and promotes the new one;
            // the new owner's case comes first, so a transfer to the current
            // owner leaves them owner.
            execute(
                client,
                "UPDATE members SET role = CASE WHEN username = $4 THEN $6::BIGINT ELSE $5::BIGINT END \
                 WHERE app_id = $1 AND conv_id = $2 AND username IN ($3, $4)",
                &[&app.0, &conv, &group.owner.as_str(), &to.as_str(), &Role::Member.code(), &Role::Owner.code()],
            )
            .await?;
            execute(client, "UPDATE groups SET owner = $2 WHERE conv_id = $1", &[&conv, &to.as_str()]).await?;
            changed.push(to);
        }
        GroupChange::Settings(patch) => {
            let mut settings = group.settings.clone();
            patch.apply(&mut settings);
            validate_settings(group.kind, &settings, group.member_count)?;
            execute(client, "UPDATE groups SET settings = $2 WHERE conv_id = $1", &[&conv, &json(&settings)?]).await?;
        }
        GroupChange::MuteAll(muted) => {
            execute(client, "UPDATE groups SET mute_all = $2 WHERE conv_id = $1", &[&conv, &muted]).await?;
        }
        GroupChange::AddToList { list, users, until_ms, now_ms } => {
            // One upsert may touch a row only once, so repeats are dropped;
            // they would write the same values anyway.
            let mut distinct: Vec<String> = Vec::new();
            for user in &users {
                if !distinct.iter().any(|d| d == user.as_str()) {
                    distinct.push(user.as_str().to_owned());
                }
            }
            execute(
                client,
                "INSERT INTO group_lists (conv_id, list, username, until_ms, created_ms) \
                 SELECT $1, $2, u, $3, $4 FROM UNNEST($5::TEXT[]) AS u \
                 ON CONFLICT (conv_id, list, username) DO UPDATE SET until_ms = EXCLUDED.until_ms",
                &[&conv, &list.code(), &until_ms, &now_ms, &distinct],
            )
            .await?;
            if list == GroupList::Block {
                delete_members(client, app, conv, &distinct).await?;
            }
            changed = users;
        }
        GroupChange::RemoveFromList { list, users } => {
            let removed = name_set(
                query(
                    client,
                    "DELETE FROM group_lists WHERE conv_id = $1 AND list = $2 AND username = ANY($3) \
                     RETURNING username",
                    &[&conv, &list.code(), &names(&users)],
                )
                .await?,
            );
            (changed, refused) = take_hits(users, removed, Refusal::NotOnList);
        }
    }
    Ok((changed, refused))
}

#[async_trait]
impl GroupData for PostgresStore {
    async fn create_group(&self, app: AppId, group: NewGroup) -> Result<Group> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let kind = group.kind.code();
        // A deleted group's conversation keeps its messages under a retired
        // key (a negative kind no lookup asks for, a key made unique by the
        // row's ID), so the ID can name a new group.
        execute(
            &tx,
            "UPDATE conversations c SET kind = -1 - c.kind, key = c.id || ':' || c.key \
             WHERE c.app_id = $1 AND c.kind = $2 AND c.key = $3 \
             AND NOT EXISTS (SELECT 1 FROM groups g WHERE g.conv_id = c.id)",
            &[&app.0, &kind, &group.id],
        )
        .await?;
        // DO NOTHING rather than a check first: a concurrent create of the
        // same ID waits for the other to commit and then finds it taken,
        // without aborting this transaction with a unique violation.
        let conv: i64 = query(
            &tx,
            "INSERT INTO conversations (app_id, kind, key, last_seq, created_ms) VALUES ($1, $2, $3, 0, $4) \
             ON CONFLICT (app_id, kind, key) DO NOTHING RETURNING id",
            &[&app.0, &kind, &group.id, &group.created_ms],
        )
        .await?
        .first()
        .map(|r| r.get(0))
        .ok_or_else(|| Error::Duplicate(format!("group ID {} already exists!", group.id)))?;
        let sql = format!(
            "INSERT INTO groups ({GROUP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7, $8, $9, $10, 1) \
             RETURNING {GROUP_COLUMNS}"
        );
        let rows = query(
            &tx,
            &sql,
            &[
                &conv,
                &app.0,
                &kind,
                &group.id,
                &group.owner.as_str(),
                &json(&group.settings)?,
                &group.parent,
                &group.parent_message.map(|m| m.0 as i64),
                &group.created_ms,
                &(group.members.len() as i64 + 1),
            ],
        )
        .await?;
        let created =
            rows.first().map(group_row).transpose()?.ok_or_else(|| Error::Storage("group not stored".into()))?;
        let mut usernames = vec![group.owner.as_str().to_owned()];
        usernames.extend(names(&group.members));
        let mut roles = vec![Role::Owner.code()];
        roles.extend(group.members.iter().map(|_| Role::Member.code()));
        execute(
            &tx,
            "INSERT INTO members (app_id, username, conv_id, ack_seq, read_seq, joined_seq, role, joined_ms) \
             SELECT $1, u.username, $2, 0, 0, 0, u.role, $3 FROM UNNEST($4::TEXT[], $5::BIGINT[]) AS u(username, role)",
            &[&app.0, &conv, &group.created_ms, &usernames, &roles],
        )
        .await?;
        tx.commit().await.map_err(pg)?;
        Ok(created)
    }

    async fn group(&self, app: AppId, kind: ChatType, id: &str) -> Result<Option<Group>> {
        let client = self.client().await?;
        let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE app_id = $1 AND kind = $2 AND gid = $3");
        Ok(groups(&client, &sql, &[&app.0, &kind.code(), &id]).await?.pop())
    }

    async fn list_groups(
        &self,
        app: AppId,
        kind: ChatType,
        after: Option<i64>,
        limit: usize,
        newest_first: bool,
    ) -> Result<Page<Group>> {
        let client = self.client().await?;
        let (past, order) = if newest_first { ("<", "DESC") } else { (">", "ASC") };
        let after = after.unwrap_or(if newest_first { i64::MAX } else { 0 });
        let sql = format!(
            "SELECT {GROUP_COLUMNS} FROM groups WHERE app_id = $1 AND kind = $2 AND conv_id {past} $3 \
             ORDER BY conv_id {order} LIMIT $4"
        );
        let mut items = groups(&client, &sql, &[&app.0, &kind.code(), &after, &(limit as i64 + 1)]).await?;
        let more = items.len() > limit;
        items.truncate(limit);
        let next = if more { items.last().map(|g| g.conversation.0) } else { None };
        Ok(Page { items, next })
    }

    async fn groups_of(&self, app: AppId, kind: ChatType, user: &Username) -> Result<Vec<Group>> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {G_GROUP_COLUMNS} FROM members m JOIN groups g ON g.conv_id = m.conv_id \
             WHERE m.app_id = $1 AND m.username = $2 AND g.kind = $3 ORDER BY g.conv_id"
        );
        groups(&client, &sql, &[&app.0, &user.as_str(), &kind.code()]).await
    }

    async fn threads_of(&self, app: AppId, parent: &str) -> Result<Vec<Group>> {
        let client = self.client().await?;
        let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE app_id = $1 AND parent = $2 ORDER BY conv_id");
        groups(&client, &sql, &[&app.0, &parent]).await
    }

    async fn delete_group(&self, app: AppId, conversation: ConversationId) -> Result<Option<Group>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        // Deleting the group's row first takes its lock: a change waiting for
        // it then finds the group gone instead of adding to a deleted group.
        let sql = format!("DELETE FROM groups WHERE conv_id = $1 AND app_id = $2 RETURNING {GROUP_COLUMNS}");
        let Some(group) = groups(&tx, &sql, &[&conversation.0, &app.0]).await?.pop() else {
            return Ok(None);
        };
        for sql in [
            "DELETE FROM members WHERE conv_id = $1",
            "DELETE FROM group_lists WHERE conv_id = $1",
            "DELETE FROM room_attributes WHERE conv_id = $1",
        ] {
            execute(&tx, sql, &[&conversation.0]).await?;
        }
        tx.commit().await.map_err(pg)?;
        Ok(Some(group))
    }

    async fn members(&self, app: AppId, conversation: ConversationId) -> Result<Vec<Member>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT username, role, joined_ms FROM members WHERE conv_id = $1 AND app_id = $2 \
             ORDER BY role = 2 DESC, joined_ms, username",
            &[&conversation.0, &app.0],
        )
        .await?;
        rows.iter()
            .map(|row| {
                let role: i64 = row.get(1);
                Ok(Member {
                    username: Username::parse(row.get(0))?,
                    role: Role::from_code(role).ok_or_else(|| Error::Storage(format!("bad role {role}")))?,
                    joined_ms: row.get(2),
                })
            })
            .collect()
    }

    async fn change_group(
        &self,
        app: AppId,
        conversation: ConversationId,
        change: GroupChange,
    ) -> Result<GroupChanged> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let group =
            lock_group(&tx, app, conversation.0).await?.ok_or_else(|| Error::NotFound("group not found".into()))?;
        let (changed, refused) = apply(&tx, app, &group, change).await?;
        let sql = format!(
            "UPDATE groups SET version = version + 1, \
             member_count = (SELECT COUNT(*) FROM members WHERE conv_id = $1) WHERE conv_id = $1 \
             RETURNING {GROUP_COLUMNS}"
        );
        let group = groups(&tx, &sql, &[&conversation.0])
            .await?
            .pop()
            .ok_or_else(|| Error::Storage("group vanished".into()))?;
        tx.commit().await.map_err(pg)?;
        Ok(GroupChanged { group, changed, refused })
    }

    async fn list_entries(&self, _app: AppId, conversation: ConversationId, list: GroupList) -> Result<Vec<ListEntry>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT username, until_ms, created_ms FROM group_lists WHERE conv_id = $1 AND list = $2 \
             ORDER BY created_ms, username",
            &[&conversation.0, &list.code()],
        )
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ListEntry { username: Username::parse(row.get(0))?, until_ms: row.get(1), created_ms: row.get(2) })
            })
            .collect()
    }

    async fn room_attributes(&self, _app: AppId, conversation: ConversationId) -> Result<Vec<RoomAttribute>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT key, value, owner, auto_delete FROM room_attributes WHERE conv_id = $1 ORDER BY key",
            &[&conversation.0],
        )
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RoomAttribute {
                    key: row.get(0),
                    value: row.get(1),
                    owner: Username::parse(row.get(2))?,
                    auto_delete: row.get(3),
                })
            })
            .collect()
    }

    async fn set_room_attributes(
        &self,
        _app: AppId,
        conversation: ConversationId,
        attributes: Vec<RoomAttribute>,
        force: bool,
        max_keys: usize,
    ) -> Result<RefusedKeys> {
        let conv = conversation.0;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        // Concurrent calls for one room take turns, so the key limit and the
        // holders seen below stay true until the commit.
        execute(&tx, "SELECT 1 FROM groups WHERE conv_id = $1 FOR UPDATE", &[&conv]).await?;
        let count: i64 =
            query(&tx, "SELECT COUNT(*) FROM room_attributes WHERE conv_id = $1", &[&conv]).await?[0].get(0);
        let keys: Vec<&str> = attributes.iter().map(|a| a.key.as_str()).collect();
        let holders: HashMap<String, String> =
            query(&tx, "SELECT key, owner FROM room_attributes WHERE conv_id = $1 AND key = ANY($2)", &[&conv, &keys])
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
        let (writing, refused) = attributes_to_set(&holders, count as usize, attributes, force, max_keys);
        if !writing.is_empty() {
            let keys: Vec<&str> = writing.iter().map(|a| a.key.as_str()).collect();
            let values: Vec<&str> = writing.iter().map(|a| a.value.as_str()).collect();
            let owners: Vec<&str> = writing.iter().map(|a| a.owner.as_str()).collect();
            let auto_delete: Vec<bool> = writing.iter().map(|a| a.auto_delete).collect();
            execute(
                &tx,
                "INSERT INTO room_attributes (conv_id, key, value, owner, auto_delete) \
                 SELECT $1, a.key, a.value, a.owner, a.auto_delete \
                 FROM UNNEST($2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BOOLEAN[]) AS a(key, value, owner, auto_delete) \
                 ON CONFLICT (conv_id, key) DO UPDATE SET value = EXCLUDED.value, owner = EXCLUDED.owner, \
                 auto_delete = EXCLUDED.auto_delete",
                &[&conv, &keys, &values, &owners, &auto_delete],
            )
            .await?;
        }
        tx.commit().await.map_err(pg)?;
        Ok(refused)
    }

    async fn remove_room_attributes(
        &self,
        _app: AppId,
        conversation: ConversationId,
        owner: &Username,
        keys: Vec<String>,
        force: bool,
    ) -> Result<RefusedKeys> {
        let conv = conversation.0;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        // Taking turns with setters keeps each key's holder as seen below.
        execute(&tx, "SELECT 1 FROM groups WHERE conv_id = $1 FOR UPDATE", &[&conv]).await?;
        let holders: HashMap<String, String> =
            query(&tx, "SELECT key, owner FROM room_attributes WHERE conv_id = $1 AND key = ANY($2)", &[&conv, &keys])
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
        let (removing, refused) = attributes_to_remove(&holders, owner, keys, force);
        if !removing.is_empty() {
            execute(&tx, "DELETE FROM room_attributes WHERE conv_id = $1 AND key = ANY($2)", &[&conv, &removing])
                .await?;
        }
        tx.commit().await.map_err(pg)?;
        Ok(refused)
    }
}
