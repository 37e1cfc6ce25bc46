//! Groups, chat rooms and threads: their members, roles and lists, and
//! sending to them.
//!
//! Each is a conversation with membership rows, so a message is stored once
//! and every member's delivery and read state is one row per member, never
//! one per member per message. Sending checks the sender against a cached
//! copy of the group (members, roles, mutes, allow list) that is reloaded
//! whenever the group's version in storage moved, which is also how a node
//! learns of changes another node made. Fan-out goes to the cached member
//! list, from memory.
//!
//! The kinds differ in delivery: group and thread messages wait for offline
//! members (backlog on login); chat-room messages reach only members who are
//! connected, as the clouds describe, and stay queryable in history.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::deps::Deps;
use crate::error::{Error, Refusal, Refused, Result};
use crate::events::{GroupEvent, GroupEventKind, LiveEvent};
use crate::ids::MessageId;
use crate::model::{
    AppId, Audience, Body, ChatType, ConversationId, Delivery, Group, GroupList, GroupSettings, ListEntry, Member,
    Message, MessageState, NewGroup, NewMessage, Original, Role, RoomAttribute, SettingsPatch, Username,
};
use crate::storage::{GroupChange, GroupChanged, Page};

/// The clouds' documented limits.
pub mod limits {
    /// Default and largest `maxusers` of a group.
    pub const GROUP_DEFAULT_MAX_USERS: u32 = 200;
    pub const GROUP_MAX_USERS: u32 = 100_000;
    /// Default and largest `maxusers` of a chat room.
    pub const ROOM_DEFAULT_MAX_USERS: u32 = 1_000;
    pub const ROOM_MAX_USERS: u32 = 10_000;
    /// Members named when a group or room is created (owner not counted).
    pub const CREATE_MEMBERS: usize = 1_000;
    /// Users added or removed per call.
    pub const BATCH_USERS: usize = 60;
    /// Admins of one group or room.
    pub const ADMINS: usize = 99;
    /// Entries of a block, allow or mute list per call.
    pub const LIST_BATCH: usize = 60;
    /// Entries a block, allow or mute list may hold.
    pub const LIST_ENTRIES: usize = 500;
    pub const NAME_CHARS: usize = 128;
    pub const DESCRIPTION_CHARS: usize = 512;
    pub const CUSTOM_CHARS: usize = 1024;
    pub const ANNOUNCEMENT_CHARS: usize = 512;
    pub const AVATAR_CHARS: usize = 1024;
    /// Chat-room custom attributes.
    pub const ROOM_ATTRIBUTES: usize = 100;
    pub const ROOM_ATTRIBUTES_PER_CALL: usize = 10;
    pub const ROOM_ATTRIBUTE_KEY_CHARS: usize = 128;
    pub const ROOM_ATTRIBUTE_VALUE_CHARS: usize = 4096;
    /// Groups or rooms one send call may name.
    pub const SEND_GROUPS: usize = 3;
    pub const SEND_ROOMS: usize = 10;
    /// Threads: name length, users joined or removed per call, members.
    pub const THREAD_NAME_CHARS: usize = 64;
    pub const THREAD_BATCH_USERS: usize = 10;
    pub const THREAD_MAX_USERS: u32 = 100_000;
}

/// A send to groups, rooms or threads: one message per target.
#[derive(Debug, Clone)]
pub struct GroupSend {
    pub from: Username,
    /// The app itself speaks (a server-side send naming no sender): no
    /// membership or mute applies. Never true for a gateway user, whatever
    /// their name.
    pub by_app: bool,
    pub kind: ChatType,
    pub to: Vec<String>,
    pub body: Body,
    pub ext: Option<serde_json::Value>,
    pub delivery: Delivery,
    pub origin_device: Option<String>,
    pub original: Option<Original>,
    /// Only these members get it (the others see a gap in the order).
    pub receivers: Option<Vec<Username>>,
}

/// A group as the sender check and fan-out see it.
struct GroupState {
    group: Group,
    roles: HashMap<Username, Role>,
    recipients: Arc<[Username]>,
    muted_until: HashMap<Username, i64>,
    allowed: HashSet<Username>,
}

/// Groups kept in the cache before it is emptied.
const CACHE_LIMIT: usize = 10_000;

/// Groups' states by app and conversation, shared by the service's clones.
type StateCache = Arc<Mutex<HashMap<(AppId, ConversationId), Arc<GroupState>>>>;

#[derive(Clone)]
pub struct GroupService {
    deps: Arc<Deps>,
    cache: StateCache,
}

/// What a list change must respect: Easemob's rules by default.
#[derive(Debug, Clone, Copy)]
pub struct ListRules {
    /// Only members may be put on the list.
    pub members_only: bool,
    /// Entries the list may hold.
    pub cap: usize,
    /// Users one call may name.
    pub batch: usize,
}

impl Default for ListRules {
    fn default() -> Self {
        ListRules { members_only: true, cap: limits::LIST_ENTRIES, batch: limits::LIST_BATCH }
    }
}

/// How a caller names a group.
#[derive(Debug, Clone, Copy)]
pub struct GroupRef<'a> {
    pub kind: ChatType,
    pub id: &'a str,
}

impl GroupService {
    pub(crate) fn new(deps: Arc<Deps>) -> GroupService {
        GroupService { deps, cache: Arc::default() }
    }

    fn now(&self) -> i64 {
        self.deps.clock.now_ms()
    }

    /// Creates a group or chat room owned by `owner` with `members`, under
    /// the ID given (WildfireChat lets the caller choose one) or a new one.
    pub async fn create(
        &self,
        app: AppId,
        kind: ChatType,
        id: Option<String>,
        owner: Username,
        settings: GroupSettings,
        members: Vec<Username>,
    ) -> Result<Group> {
        validate_settings(kind, &settings, 0)?;
        if let Some(id) = &id {
            let ok = !id.is_empty()
                && id.len() <= 64
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !ok {
                return Err(Error::InvalidArgument(format!("group id [{id}] must be 1 to 64 of a-z A-Z 0-9 _ - .")));
            }
        }
        if members.len() > limits::CREATE_MEMBERS {
            return Err(Error::InvalidArgument(format!(
                "members size must be at most {}, got {}",
                limits::CREATE_MEMBERS,
                members.len()
            )));
        }
        let mut unique = Vec::with_capacity(members.len());
        for member in members {
            if member != owner && !unique.contains(&member) {
                unique.push(member);
            }
        }
        if unique.len() as u64 + 1 > settings.max_users as u64 {
            return Err(Error::LimitExceeded("members size is greater than max user size !".into()));
        }
        // The app itself (the `admin` pseudo-user) may own what it creates,
        // such as chat rooms made over WildfireChat's admin API.
        if owner != Username::admin() {
            self.require_users(app, std::slice::from_ref(&owner)).await?;
        }
        self.require_users(app, &unique).await?;
        let now = self.now();
        let group = NewGroup {
            id: id.unwrap_or_else(|| self.new_id(now)),
            kind,
            owner,
            settings,
            parent: None,
            parent_message: None,
            members: unique,
            created_ms: now,
        };
        let group = self.deps.store.create_group(app, group).await?;
        self.notify(app, &group, GroupEventKind::Created, Vec::new(), &[]).await;
        Ok(group)
    }

    /// Group IDs come from the message ID generator: unique across nodes
    /// and time-ordered, like the vendors' numeric IDs.
    fn new_id(&self, now: i64) -> String {
        self.deps.ids.next(now).to_string()
    }

    async fn require_users(&self, app: AppId, users: &[Username]) -> Result<()> {
        for user in users {
            if self.deps.store.user(app, user).await?.is_none() {
                return Err(Error::NotFound(format!("username {user} doesn't exist!")));
            }
        }
        Ok(())
    }

    pub async fn get(&self, app: AppId, target: GroupRef<'_>) -> Result<Group> {
        self.deps.store.group(app, target.kind, target.id).await?.ok_or_else(|| not_found(target))
    }

    /// Groups of a kind in creation order, or newest first; `after` is the
    /// previous page's `next`. Pages stay stable while groups come and go.
    pub async fn list(
        &self,
        app: AppId,
        kind: ChatType,
        after: Option<i64>,
        limit: usize,
        newest_first: bool,
    ) -> Result<Page<Group>> {
        self.deps.store.list_groups(app, kind, after, limit, newest_first).await
    }

    /// Groups, rooms or threads of a kind that `user` belongs to.
    pub async fn joined(&self, app: AppId, kind: ChatType, user: &Username) -> Result<Vec<Group>> {
        self.deps.store.groups_of(app, kind, user).await
    }

    /// [`GroupService::joined`] with when `user` joined each, in two reads
    /// whatever the groups' sizes.
    pub async fn joined_at(&self, app: AppId, kind: ChatType, user: &Username) -> Result<Vec<(Group, i64)>> {
        let groups = self.deps.store.groups_of(app, kind, user).await?;
        let joined: HashMap<ConversationId, i64> =
            self.deps.store.memberships(app, user).await?.into_iter().map(|m| (m.conversation, m.joined_ms)).collect();
        Ok(groups.into_iter().filter_map(|g| joined.get(&g.conversation).copied().map(|at| (g, at))).collect())
    }

    pub async fn threads_of(&self, app: AppId, group: &str) -> Result<Vec<Group>> {
        self.deps.store.threads_of(app, group).await
    }

    /// Changes the settings the patch names; the others stay as they are,
    /// even when another change lands at the same time.
    pub async fn update(&self, app: AppId, target: GroupRef<'_>, patch: SettingsPatch) -> Result<Group> {
        let group = self.get(app, target).await?;
        // Checked here for a quick answer, and again by the engine under the
        // group's lock against the settings and members of that moment.
        let mut settings = group.settings.clone();
        patch.apply(&mut settings);
        validate_settings(target.kind, &settings, group.member_count)?;
        let changed = self.change(app, &group, GroupChange::Settings(patch)).await?;
        self.notify(app, &changed.group, GroupEventKind::Updated, Vec::new(), &[]).await;
        Ok(changed.group)
    }

    pub async fn transfer_owner(&self, app: AppId, target: GroupRef<'_>, to: Username) -> Result<Group> {
        let group = self.get(app, target).await?;
        if group.owner == to {
            return Err(Refused::of(Refusal::AlreadyOwner, &to).into());
        }
        self.require_users(app, std::slice::from_ref(&to)).await?;
        let state = self.state(app, group).await?;
        if !state.roles.contains_key(&to) {
            return Err(Refused::of(Refusal::NotMember, &to).at(target.id).into());
        }
        let changed = self.change(app, &state.group, GroupChange::TransferOwner { to: to.clone() }).await?;
        self.notify(app, &changed.group, GroupEventKind::OwnerChanged, vec![to], &[]).await;
        Ok(changed.group)
    }

    /// Deletes a group with its threads; members hear of it first.
    pub async fn delete(&self, app: AppId, target: GroupRef<'_>) -> Result<Group> {
        let group = self.get(app, target).await?;
        if group.kind == ChatType::GroupChat {
            for thread in self.deps.store.threads_of(app, &group.id).await? {
                self.destroy(app, thread).await?;
            }
        }
        self.destroy(app, group).await
    }

    async fn destroy(&self, app: AppId, group: Group) -> Result<Group> {
        let state = self.state(app, group).await?;
        let deleted = self.deps.store.delete_group(app, state.group.conversation).await?;
        let deleted = deleted.ok_or_else(|| Error::NotFound(format!("{} doesn't exist", state.group.id)))?;
        self.forget(app, deleted.conversation);
        self.publish(app, &state.recipients, event(&deleted, GroupEventKind::Destroyed, Vec::new(), self.now())).await;
        Ok(deleted)
    }

    pub async fn members(&self, app: AppId, target: GroupRef<'_>) -> Result<(Group, Vec<Member>)> {
        let group = self.get(app, target).await?;
        let members = self.deps.store.members(app, group.conversation).await?;
        Ok((group, members))
    }

    /// Adds members; returns who was added and who was refused (blocked).
    pub async fn add_members(&self, app: AppId, target: GroupRef<'_>, users: Vec<Username>) -> Result<GroupChanged> {
        self.add_members_up_to(app, target, users, batch_cap(target.kind)).await
    }

    /// [`GroupService::add_members`] with a dialect's own limit on users per
    /// call (LeanCloud has none but the conversation's size).
    pub async fn add_members_up_to(
        &self,
        app: AppId,
        target: GroupRef<'_>,
        users: Vec<Username>,
        per_call: usize,
    ) -> Result<GroupChanged> {
        check_batch("usernames", users.len(), per_call)?;
        let group = self.get(app, target).await?;
        if let Some(parent) = &group.parent {
            // Only members of a thread's group may join the thread.
            let parent_state =
                self.state(app, self.get(app, GroupRef { kind: ChatType::GroupChat, id: parent }).await?).await?;
            if let Some(outsider) = users.iter().find(|u| !parent_state.roles.contains_key(u)) {
                return Err(Refused::of(Refusal::NotMember, outsider).at(format!("group {parent}")).into());
            }
        }
        self.require_users(app, &users).await?;
        // A user may keep out of a conversation (LeanCloud's client blacklist).
        let mut admitted = Vec::with_capacity(users.len());
        let mut kept_out = Vec::new();
        for user in users {
            if crate::restrictions::keeps_out(&*self.deps.store, app, &user, &group.id).await? {
                kept_out.push((user.clone(), Refusal::KeepsOut));
            } else {
                admitted.push(user);
            }
        }
        let change = GroupChange::AddMembers {
            users: admitted,
            role: Role::Member,
            max_users: group.settings.max_users,
            now_ms: self.now(),
        };
        let mut changed = self.change(app, &group, change).await?;
        changed.refused.extend(kept_out);
        self.notify(app, &changed.group, GroupEventKind::MembersAdded, changed.changed.clone(), &[]).await;
        Ok(changed)
    }

    /// Removes members (never the owner); removed users hear of it too.
    pub async fn remove_members(&self, app: AppId, target: GroupRef<'_>, users: Vec<Username>) -> Result<GroupChanged> {
        self.remove_members_up_to(app, target, users, batch_cap(target.kind)).await
    }

    /// [`GroupService::remove_members`] with a dialect's own limit on users per call.
    pub async fn remove_members_up_to(
        &self,
        app: AppId,
        target: GroupRef<'_>,
        users: Vec<Username>,
        per_call: usize,
    ) -> Result<GroupChanged> {
        check_batch("usernames", users.len(), per_call)?;
        let group = self.get(app, target).await?;
        let (keep, refused) = split_owner(&group, users);
        let mut changed = self.change(app, &group, GroupChange::RemoveMembers { users: keep }).await?;
        changed.refused.extend(refused);
        if group.kind == ChatType::GroupChat && !changed.changed.is_empty() {
            // Leaving a group means leaving its threads.
            for thread in self.deps.store.threads_of(app, &group.id).await? {
                let change = GroupChange::RemoveMembers { users: changed.changed.clone() };
                let left = self.change(app, &thread, change).await?;
                self.notify(app, &left.group, GroupEventKind::MembersRemoved, left.changed.clone(), &left.changed)
                    .await;
            }
        }
        self.notify(app, &changed.group, GroupEventKind::MembersRemoved, changed.changed.clone(), &changed.changed)
            .await;
        Ok(changed)
    }

    /// A user enters a chat room by themselves (as the clouds' SDKs do);
    /// the room's cap and block list hold as for any other join. Joining a
    /// room one is in already is not an error.
    pub async fn join_room(&self, app: AppId, room: &str, user: &Username) -> Result<Group> {
        let target = GroupRef { kind: ChatType::ChatRoom, id: room };
        let changed = self.add_members(app, target, vec![user.clone()]).await?;
        match changed.refused.first() {
            Some((_, Refusal::Blocked)) => Err(Refused::of(Refusal::Blocked, user).at(room).into()),
            _ => Ok(changed.group),
        }
    }

    /// A user leaves a chat room (the owner cannot).
    pub async fn leave_room(&self, app: AppId, room: &str, user: &Username) -> Result<()> {
        let target = GroupRef { kind: ChatType::ChatRoom, id: room };
        let changed = self.remove_members(app, target, vec![user.clone()]).await?;
        match changed.refused.first() {
            Some((who, why)) => Err(Refused::of(*why, who).into()),
            None => Ok(()),
        }
    }

    pub async fn admins(&self, app: AppId, target: GroupRef<'_>) -> Result<Vec<Username>> {
        let (_, members) = self.members(app, target).await?;
        Ok(members.into_iter().filter(|m| m.role == Role::Admin).map(|m| m.username).collect())
    }

    /// Makes members admins (`admin`) or plain members again.
    pub async fn set_admin(&self, app: AppId, target: GroupRef<'_>, user: Username, admin: bool) -> Result<Group> {
        let group = self.get(app, target).await?;
        let state = self.state(app, group).await?;
        match state.roles.get(&user) {
            None => return Err(Refused::of(Refusal::NotMember, &user).at(target.id).into()),
            Some(Role::Owner) => return Err(Refused::of(Refusal::IsOwner, &user).into()),
            Some(Role::Admin) if admin => return Err(Refused::of(Refusal::AlreadyAdmin, &user).into()),
            Some(Role::Member) if !admin => return Err(Refused::of(Refusal::NotAdmin, &user).into()),
            _ => {}
        }
        if admin && state.roles.values().filter(|r| **r == Role::Admin).count() >= limits::ADMINS {
            return Err(Error::LimitExceeded(format!("admins may be at most {}", limits::ADMINS)));
        }
        let role = if admin { Role::Admin } else { Role::Member };
        let changed = self.change(app, &state.group, GroupChange::SetRole { users: vec![user.clone()], role }).await?;
        let kind = if admin { GroupEventKind::AdminsAdded } else { GroupEventKind::AdminsRemoved };
        self.notify(app, &changed.group, kind, vec![user], &[]).await;
        Ok(changed.group)
    }

    /// A list's current entries (lapsed mutes left out).
    pub async fn list_entries(&self, app: AppId, target: GroupRef<'_>, list: GroupList) -> Result<Vec<ListEntry>> {
        let group = self.get(app, target).await?;
        let now = self.now();
        let entries = self.deps.store.list_entries(app, group.conversation, list).await?;
        Ok(entries.into_iter().filter(|e| e.until_ms > now).collect())
    }

    /// Adds members to a list; a mute lasts `duration_ms` (`None`: until
    /// lifted). Blocking also removes them. Non-members and the owner are refused.
    pub async fn add_to_list(
        &self,
        app: AppId,
        target: GroupRef<'_>,
        list: GroupList,
        users: Vec<Username>,
        duration_ms: Option<i64>,
    ) -> Result<GroupChanged> {
        self.add_to_list_with(app, target, list, users, duration_ms, ListRules::default()).await
    }

    /// [`GroupService::add_to_list`] with a dialect's own rules.
    pub async fn add_to_list_with(
        &self,
        app: AppId,
        target: GroupRef<'_>,
        list: GroupList,
        users: Vec<Username>,
        duration_ms: Option<i64>,
        rules: ListRules,
    ) -> Result<GroupChanged> {
        check_batch("usernames", users.len(), rules.batch)?;
        let group = self.get(app, target).await?;
        let state = self.state(app, group).await?;
        let (candidates, mut refused) = split_owner(&state.group, users);
        let mut users = Vec::with_capacity(candidates.len());
        for user in candidates {
            if rules.members_only && !state.roles.contains_key(&user) {
                refused.push((user.clone(), Refusal::NotMember));
            } else {
                users.push(user);
            }
        }
        let now = self.now();
        let present = self.deps.store.list_entries(app, state.group.conversation, list).await?;
        let live: HashSet<&Username> = present.iter().filter(|e| e.until_ms > now).map(|e| &e.username).collect();
        let new = users.iter().filter(|u| !live.contains(u)).count();
        if live.len() + new > rules.cap {
            return Err(Error::LimitExceeded(format!("the list may hold at most {} users", rules.cap)));
        }
        let until_ms = match duration_ms {
            Some(d) if d <= 0 => return Err(Error::InvalidArgument("mute_duration must be positive".into())),
            Some(d) => now.saturating_add(d),
            None => i64::MAX,
        };
        let change = GroupChange::AddToList { list, users, until_ms, now_ms: now };
        let mut changed = self.change(app, &state.group, change).await?;
        changed.refused.extend(refused);
        let kind = match list {
            GroupList::Block => GroupEventKind::Blocked,
            GroupList::Allow => GroupEventKind::AllowListed,
            GroupList::Mute => GroupEventKind::Muted,
        };
        let also = if list == GroupList::Block { changed.changed.clone() } else { Vec::new() };
        self.notify(app, &changed.group, kind, changed.changed.clone(), &also).await;
        Ok(changed)
    }

    pub async fn remove_from_list(
        &self,
        app: AppId,
        target: GroupRef<'_>,
        list: GroupList,
        users: Vec<Username>,
    ) -> Result<GroupChanged> {
        check_batch("usernames", users.len(), limits::LIST_BATCH)?;
        let group = self.get(app, target).await?;
        let changed = self.change(app, &group, GroupChange::RemoveFromList { list, users }).await?;
        let kind = match list {
            GroupList::Block => GroupEventKind::Unblocked,
            GroupList::Allow => GroupEventKind::AllowListRemoved,
            GroupList::Mute => GroupEventKind::Unmuted,
        };
        self.notify(app, &changed.group, kind, changed.changed.clone(), &[]).await;
        Ok(changed)
    }

    pub async fn set_mute_all(&self, app: AppId, target: GroupRef<'_>, muted: bool) -> Result<Group> {
        let group = self.get(app, target).await?;
        let changed = self.change(app, &group, GroupChange::MuteAll(muted)).await?;
        let kind = if muted { GroupEventKind::AllMuted } else { GroupEventKind::AllUnmuted };
        self.notify(app, &changed.group, kind, Vec::new(), &[]).await;
        Ok(changed.group)
    }

    /// A room's custom attributes, all or the named keys.
    pub async fn room_attributes(&self, app: AppId, room: &str, keys: Option<&[String]>) -> Result<Vec<RoomAttribute>> {
        let group = self.get(app, GroupRef { kind: ChatType::ChatRoom, id: room }).await?;
        let all = self.deps.store.room_attributes(app, group.conversation).await?;
        Ok(match keys {
            Some(keys) => all.into_iter().filter(|a| keys.contains(&a.key)).collect(),
            None => all,
        })
    }

    /// Sets attributes as `user` (a member); returns refused keys with reasons.
    pub async fn set_room_attributes(
        &self,
        app: AppId,
        room: &str,
        user: &Username,
        values: Vec<(String, String)>,
        auto_delete: bool,
        force: bool,
    ) -> Result<Vec<(String, String)>> {
        if values.is_empty() {
            return Err(Error::InvalidArgument("metaData can't be empty".into()));
        }
        check_batch("metaData", values.len(), limits::ROOM_ATTRIBUTES_PER_CALL)?;
        for (key, value) in &values {
            if key.is_empty() || key.chars().count() > limits::ROOM_ATTRIBUTE_KEY_CHARS {
                return Err(Error::InvalidArgument(format!(
                    "key [{key}] must be 1 to {} characters",
                    limits::ROOM_ATTRIBUTE_KEY_CHARS
                )));
            }
            if value.chars().count() > limits::ROOM_ATTRIBUTE_VALUE_CHARS {
                return Err(Error::InvalidArgument(format!(
                    "the value of {key} is longer than {} characters",
                    limits::ROOM_ATTRIBUTE_VALUE_CHARS
                )));
            }
        }
        let group = self.get(app, GroupRef { kind: ChatType::ChatRoom, id: room }).await?;
        let state = self.state(app, group).await?;
        if !state.roles.contains_key(user) {
            return Err(Refused::of(Refusal::NotMember, user).at(format!("chat room {room}")).into());
        }
        let attributes = values
            .into_iter()
            .map(|(key, value)| RoomAttribute { key, value, owner: user.clone(), auto_delete })
            .collect::<Vec<_>>();
        let refused = self
            .deps
            .store
            .set_room_attributes(app, state.group.conversation, attributes, force, limits::ROOM_ATTRIBUTES)
            .await?;
        self.notify(app, &state.group, GroupEventKind::AttributesChanged, vec![user.clone()], &[]).await;
        Ok(refused)
    }

    pub async fn remove_room_attributes(
        &self,
        app: AppId,
        room: &str,
        user: &Username,
        keys: Vec<String>,
        force: bool,
    ) -> Result<Vec<(String, String)>> {
        if keys.is_empty() {
            return Err(Error::InvalidArgument("keys can't be empty".into()));
        }
        check_batch("keys", keys.len(), limits::ROOM_ATTRIBUTES_PER_CALL)?;
        let group = self.get(app, GroupRef { kind: ChatType::ChatRoom, id: room }).await?;
        let state = self.state(app, group).await?;
        if !state.roles.contains_key(user) {
            return Err(Refused::of(Refusal::NotMember, user).at(format!("chat room {room}")).into());
        }
        let group = &state.group;
        let refused = self.deps.store.remove_room_attributes(app, group.conversation, user, keys, force).await?;
        self.notify(app, group, GroupEventKind::AttributesRemoved, vec![user.clone()], &[]).await;
        Ok(refused)
    }

    pub async fn rename_thread(&self, app: AppId, id: &str, name: String) -> Result<Group> {
        check_name(&name, limits::THREAD_NAME_CHARS)?;
        let patch = SettingsPatch { name: Some(name), ..SettingsPatch::default() };
        self.update(app, GroupRef { kind: ChatType::Thread, id }, patch).await
    }

    /// Starts a thread under a message of a group; `owner` must be a member.
    pub async fn create_thread(
        &self,
        app: AppId,
        group_id: &str,
        name: String,
        owner: Username,
        message: MessageId,
    ) -> Result<Group> {
        check_name(&name, limits::THREAD_NAME_CHARS)?;
        let group = self.get(app, GroupRef { kind: ChatType::GroupChat, id: group_id }).await?;
        let state = self.state(app, group).await?;
        if !state.roles.contains_key(&owner) {
            return Err(Refused::of(Refusal::NotMember, owner).at(format!("group {group_id}")).into());
        }
        let parent = self.deps.store.message(app, message).await?;
        let parent = parent.ok_or_else(|| Error::NotFound("msg not exist.".into()))?;
        if parent.conversation != state.group.conversation {
            return Err(Error::InvalidArgument("msg not belong to group .".into()));
        }
        let threads = self.deps.store.threads_of(app, group_id).await?;
        if threads.iter().any(|t| t.parent_message == Some(message)) {
            return Err(Error::Duplicate("msg already create thread.not allow to create.".into()));
        }
        let now = self.now();
        let settings = GroupSettings { allow_invites: true, ..GroupSettings::named(name, limits::THREAD_MAX_USERS) };
        let thread = NewGroup {
            id: self.new_id(now),
            kind: ChatType::Thread,
            owner,
            settings,
            parent: Some(group_id.to_owned()),
            parent_message: Some(message),
            members: Vec::new(),
            created_ms: now,
        };
        let thread = self.deps.store.create_group(app, thread).await?;
        // Everyone in the group hears of a new thread, not only its members.
        self.publish(app, &state.recipients, event(&thread, GroupEventKind::Created, Vec::new(), now)).await;
        Ok(thread)
    }

    /// Sends one message to each target, all or none: every target is
    /// checked first (it exists; the sender is a member who may speak now),
    /// then every message is committed together, then fanned out. Returns
    /// `(target, message)` pairs in the order of `to`.
    pub async fn send(&self, app: AppId, send: GroupSend) -> Result<Vec<(String, Arc<Message>)>> {
        send.body.validate()?;
        let cap = if send.kind == ChatType::ChatRoom { limits::SEND_ROOMS } else { limits::SEND_GROUPS };
        if send.to.is_empty() {
            return Err(Error::InvalidArgument("param to can't be empty".into()));
        }
        if send.to.len() > cap {
            return Err(Error::InvalidArgument(format!("params to's size can't exceed limit {cap}")));
        }
        let now = self.now();
        if !send.by_app && send.delivery.sent_at.is_none() {
            self.deps.restrictions.check_sender(app, &send.from, send.kind).await?;
        }
        let mut states = Vec::with_capacity(send.to.len());
        for target in &send.to {
            let target = GroupRef { kind: send.kind, id: target };
            let state = self.state(app, self.get(app, target).await?).await?;
            if !send.by_app {
                check_sender(&state, &send.from, now)?;
            }
            if let (false, Some(parent)) = (send.by_app, &state.group.parent) {
                // A member muted in the group is muted in its threads too.
                let parent = GroupRef { kind: ChatType::GroupChat, id: parent };
                let parent = self.state(app, self.get(app, parent).await?).await?;
                if parent.muted_until.get(&send.from).is_some_and(|until| *until > now) {
                    return Err(Refused::of(Refusal::Muted, &send.from).at(&parent.group.id).into());
                }
            }
            if let Some(outsider) = send.receivers.iter().flatten().find(|u| !state.roles.contains_key(*u)) {
                return Err(Error::InvalidArgument(format!("{outsider} is not a member of {}", state.group.id)));
            }
            states.push(state);
        }
        // Who each message is for: the named receivers, or, for an online-only
        // send to groups (Easemob's `ROUTE_ONLINE`), each group's members
        // connected now, found before anything is stored so that the whole
        // send stays one commit.
        let mut receivers = Vec::with_capacity(states.len());
        for state in &states {
            let chosen = match &send.receivers {
                Some(users) => Some(users.clone()),
                None if send.delivery.online_only && send.kind != ChatType::ChatRoom => {
                    let others: Vec<Username> = state.recipients.iter().filter(|u| **u != send.from).cloned().collect();
                    let devices = self.deps.fanout.device_counts(app, &others).await;
                    Some(others.into_iter().zip(devices).filter(|(_, n)| *n > 0).map(|(u, _)| u).collect())
                }
                None => None,
            };
            receivers.push(chosen);
        }
        let drafts = states
            .iter()
            .zip(&receivers)
            .map(|(state, chosen)| NewMessage {
                id: self.deps.ids.next(now),
                chat_type: send.kind,
                conversation_key: state.group.id.clone(),
                members: Vec::new(),
                from: send.from.clone(),
                to: state.group.id.clone(),
                body: send.body.clone(),
                ext: send.ext.clone(),
                timestamp_ms: send.delivery.sent_at.unwrap_or(now),
                sync_sender: send.delivery.sync_sender,
                origin_device: send.origin_device.clone(),
                original: send.original.clone(),
                audience: match chosen {
                    Some(users) => Audience::Only(users.clone()),
                    None => Audience::Members,
                },
            })
            .collect();
        let stored = self.deps.store.append(app, drafts).await?;
        let mut sent = Vec::with_capacity(stored.len());
        for ((state, message), chosen) in states.into_iter().zip(stored).zip(receivers) {
            let message = Arc::new(message);
            let event = LiveEvent::Message(message.clone());
            match &chosen {
                Some(users) => {
                    let mut chosen = users.clone();
                    chosen.push(send.from.clone());
                    self.deps.fanout.publish(app, &chosen, event).await;
                }
                None => self.deps.fanout.publish(app, &state.recipients, event).await,
            }
            sent.push((state.group.id.clone(), message));
        }
        Ok(sent)
    }

    /// A message to one group, room or channel for whoever is connected
    /// now: checked like [`GroupService::send`], never stored.
    pub async fn send_transient(&self, app: AppId, send: GroupSend) -> Result<Arc<Message>> {
        send.body.validate()?;
        let [target] = send.to.as_slice() else {
            return Err(Error::InvalidArgument("a transient message goes to one conversation".into()));
        };
        let now = self.now();
        if !send.by_app {
            self.deps.restrictions.check_sender(app, &send.from, send.kind).await?;
        }
        let state = self.state(app, self.get(app, GroupRef { kind: send.kind, id: target }).await?).await?;
        if !send.by_app {
            check_sender(&state, &send.from, now)?;
        }
        let message = Arc::new(Message {
            id: self.deps.ids.next(now),
            app,
            conversation: state.group.conversation,
            seq: 0,
            chat_type: send.kind,
            from: send.from.clone(),
            to: state.group.id.clone(),
            body: send.body,
            ext: send.ext,
            timestamp_ms: now,
            sync_sender: send.delivery.sync_sender,
            origin_device: send.origin_device,
            original: send.original,
            receivers: send.receivers.clone(),
            state: MessageState::Normal,
        });
        let recipients: Vec<Username> = match send.receivers {
            Some(mut users) => {
                users.push(send.from);
                users
            }
            None => state.recipients.to_vec(),
        };
        self.deps.fanout.publish(app, &recipients, LiveEvent::Transient(message.clone())).await;
        Ok(message)
    }

    /// The group's state as of its current version: from the cache, or
    /// loaded from storage when the cache is missing or stale.
    async fn state(&self, app: AppId, group: Group) -> Result<Arc<GroupState>> {
        let key = (app, group.conversation);
        if let Some(cached) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            if cached.group.version == group.version {
                return Ok(cached.clone());
            }
        }
        let members = self.deps.store.members(app, group.conversation).await?;
        let muted = self.deps.store.list_entries(app, group.conversation, GroupList::Mute).await?;
        let allowed = self.deps.store.list_entries(app, group.conversation, GroupList::Allow).await?;
        let state = Arc::new(GroupState {
            recipients: members.iter().map(|m| m.username.clone()).collect(),
            roles: members.into_iter().map(|m| (m.username, m.role)).collect(),
            muted_until: muted.into_iter().map(|e| (e.username, e.until_ms)).collect(),
            allowed: allowed.into_iter().map(|e| e.username).collect(),
            group,
        });
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        // A concurrent load may have cached a newer version; keep the newest.
        let newest = match cache.get(&key) {
            Some(other) if other.group.version > state.group.version => other.clone(),
            _ => state,
        };
        cache.insert(key, newest.clone());
        Ok(newest)
    }

    fn forget(&self, app: AppId, conversation: ConversationId) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).remove(&(app, conversation));
    }

    async fn change(&self, app: AppId, group: &Group, change: GroupChange) -> Result<GroupChanged> {
        let changed = self.deps.store.change_group(app, group.conversation, change).await?;
        self.forget(app, group.conversation);
        Ok(changed)
    }

    /// Tells the group's members (and `also`, users who just left) of an event.
    async fn notify(&self, app: AppId, group: &Group, kind: GroupEventKind, users: Vec<Username>, also: &[Username]) {
        let recipients = match self.state(app, group.clone()).await {
            Ok(state) => state.recipients.clone(),
            Err(e) => {
                tracing::warn!("cannot load group {} to notify its members: {e}", group.id);
                return;
            }
        };
        let event = event(group, kind, users, self.now());
        if also.is_empty() {
            self.publish(app, &recipients, event).await;
        } else {
            let mut all: Vec<Username> = recipients.to_vec();
            all.extend(also.iter().cloned());
            self.publish(app, &all, event).await;
        }
    }

    async fn publish(&self, app: AppId, recipients: &[Username], event: GroupEvent) {
        self.deps.fanout.publish(app, recipients, LiveEvent::Group(Arc::new(event))).await;
    }
}

/// Users a group change refused, with the reason.
pub type RefusedUsers = Vec<(Username, Refusal)>;

/// The rules of a join, for the storage engines to apply under the group's
/// lock, given which of the named users are members already and which are
/// on the block list: who is added (each once) and who is refused. Fails as
/// a whole, changing nothing, when the group would pass `max_users`.
pub fn members_to_add(
    group: &Group,
    users: Vec<Username>,
    members: &HashSet<String>,
    blocked: &HashSet<String>,
    max_users: u32,
) -> Result<(Vec<Username>, RefusedUsers)> {
    let mut adding: Vec<Username> = Vec::new();
    let mut refused = Vec::new();
    for user in users {
        if adding.contains(&user) || members.contains(user.as_str()) {
            refused.push((user.clone(), Refusal::AlreadyMember));
        } else if blocked.contains(user.as_str()) {
            refused.push((user.clone(), Refusal::Blocked));
        } else {
            adding.push(user);
        }
    }
    if group.member_count + adding.len() as u64 > max_users as u64 {
        return Err(Error::LimitExceeded("members size is greater than max user size !".into()));
    }
    Ok((adding, refused))
}

/// Keys refused by a change of room attributes, with the reason.
pub type RefusedKeys = Vec<(String, String)>;

/// The rules of setting room attributes, for the storage engines to apply
/// under the room's lock: given who holds which key now (`holders`, key →
/// owner) and how many keys the room has, the attributes to write (one per
/// key, the last accepted one) and the refused keys. A key another user set
/// is refused unless `force`; new keys beyond `max_keys` are refused.
pub fn attributes_to_set(
    holders: &HashMap<String, String>,
    mut count: usize,
    attributes: Vec<RoomAttribute>,
    force: bool,
    max_keys: usize,
) -> (Vec<RoomAttribute>, RefusedKeys) {
    let mut holders = holders.clone();
    let mut refused = Vec::new();
    let mut writing: Vec<RoomAttribute> = Vec::new();
    for attribute in attributes {
        match holders.get(&attribute.key) {
            Some(owner) if owner != attribute.owner.as_str() && !force => {
                refused.push((attribute.key, "others are not allowed to be set".into()));
                continue;
            }
            None if count >= max_keys => {
                refused.push((attribute.key, format!("the room already has {max_keys} attributes")));
                continue;
            }
            None => count += 1,
            Some(_) => {}
        }
        holders.insert(attribute.key.clone(), attribute.owner.as_str().to_owned());
        match writing.iter_mut().find(|w| w.key == attribute.key) {
            Some(earlier) => *earlier = attribute,
            None => writing.push(attribute),
        }
    }
    (writing, refused)
}

/// The rules of removing room attributes as `owner`: the keys to delete and
/// the refused ones (missing, or another user's without `force`).
pub fn attributes_to_remove(
    holders: &HashMap<String, String>,
    owner: &Username,
    keys: Vec<String>,
    force: bool,
) -> (Vec<String>, RefusedKeys) {
    let mut removing: Vec<String> = Vec::new();
    let mut refused = Vec::new();
    for key in keys {
        // A key named twice is gone by its second mention.
        match holders.get(&key).filter(|_| !removing.contains(&key)) {
            None => refused.push((key, "the key does not exist".into())),
            Some(holder) if holder != owner.as_str() && !force => {
                refused.push((key, "others are not allowed to be removed".into()))
            }
            Some(_) => removing.push(key),
        }
    }
    (removing, refused)
}

fn event(group: &Group, kind: GroupEventKind, users: Vec<Username>, now: i64) -> GroupEvent {
    GroupEvent {
        kind: group.kind,
        group: group.id.clone(),
        conversation: group.conversation,
        event: kind,
        users,
        timestamp_ms: now,
    }
}

/// The vendor's words for a group, room or thread that does not exist.
fn not_found(target: GroupRef<'_>) -> Error {
    match target.kind {
        ChatType::Thread => Error::NotFound("thread not found.".into()),
        _ => Error::NotFound(format!("grpID {} does not exist!", target.id)),
    }
}

/// Whether `from` may speak in the group now.
fn check_sender(state: &GroupState, from: &Username, now: i64) -> Result<()> {
    let id = &state.group.id;
    let Some(role) = state.roles.get(from) else {
        return Err(Refused::of(Refusal::NotMember, from).at(id).into());
    };
    if state.muted_until.get(from).is_some_and(|until| *until > now) {
        return Err(Refused::of(Refusal::Muted, from).at(id).into());
    }
    if state.group.mute_all && *role == Role::Member && !state.allowed.contains(from) {
        return Err(Refused::new(Refusal::AllMuted).at(id).into());
    }
    if state.group.kind == ChatType::Channel && *role == Role::Member {
        return Err(Refused::new(Refusal::OwnerSpeaksOnly).at(id).into());
    }
    Ok(())
}

/// Keeps the owner out of a batch that must not touch them.
fn split_owner(group: &Group, users: Vec<Username>) -> (Vec<Username>, RefusedUsers) {
    let (owner, rest): (Vec<Username>, Vec<Username>) = users.into_iter().partition(|u| *u == group.owner);
    let refused = owner.into_iter().map(|u| (u.clone(), Refusal::IsOwner)).collect();
    (rest, refused)
}

/// Users one call may add or remove.
fn batch_cap(kind: ChatType) -> usize {
    if kind == ChatType::Thread {
        limits::THREAD_BATCH_USERS
    } else {
        limits::BATCH_USERS
    }
}

fn check_batch(what: &str, len: usize, cap: usize) -> Result<()> {
    if len == 0 {
        return Err(Error::InvalidArgument(format!("{what} can't be empty")));
    }
    if len > cap {
        return Err(Error::InvalidArgument(format!("{what} size must be at most {cap}, got {len}")));
    }
    Ok(())
}

fn check_name(name: &str, cap: usize) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::InvalidArgument("name can't be empty".into()));
    }
    if name.chars().count() > cap {
        return Err(Error::InvalidArgument(format!("name must be at most {cap} characters")));
    }
    Ok(())
}

/// The rules every group's settings keep: lengths, and a member cap within
/// the kind's range and not below the `members` it has.
pub fn validate_settings(kind: ChatType, s: &GroupSettings, members: u64) -> Result<()> {
    // A group may go unnamed (LeanCloud's and WildfireChat's may); a dialect
    // that requires a name says so itself.
    if s.name.chars().count() > limits::NAME_CHARS {
        return Err(Error::InvalidArgument(format!("name must be at most {} characters", limits::NAME_CHARS)));
    }
    let texts = [
        ("description", &s.description, limits::DESCRIPTION_CHARS),
        ("custom", &s.custom, limits::CUSTOM_CHARS),
        ("announcement", &s.announcement, limits::ANNOUNCEMENT_CHARS),
        ("avatar", &s.avatar, limits::AVATAR_CHARS),
    ];
    for (what, text, cap) in texts {
        if text.chars().count() > cap {
            return Err(Error::InvalidArgument(format!("{what} must be at most {cap} characters")));
        }
    }
    let cap = if kind == ChatType::ChatRoom { limits::ROOM_MAX_USERS } else { limits::GROUP_MAX_USERS };
    if s.max_users < 1 || s.max_users > cap {
        return Err(Error::InvalidArgument(format!("maxusers must be between 1 and {cap}")));
    }
    if (s.max_users as u64) < members {
        return Err(Error::InvalidArgument(format!("maxusers {} is less than the {members} members", s.max_users)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(mute_all: bool) -> GroupState {
        let user = |n: &str| Username::parse(n).unwrap();
        let group = Group {
            id: "1".into(),
            kind: ChatType::GroupChat,
            conversation: ConversationId(1),
            owner: user("o"),
            settings: GroupSettings { public: true, ..GroupSettings::named("g".into(), 10) },
            mute_all,
            parent: None,
            parent_message: None,
            created_ms: 0,
            member_count: 4,
            version: 1,
        };
        GroupState {
            group,
            roles: HashMap::from([
                (user("o"), Role::Owner),
                (user("a"), Role::Admin),
                (user("m"), Role::Member),
                (user("w"), Role::Member),
            ]),
            recipients: Arc::from(vec![]),
            muted_until: HashMap::from([(user("m"), 100)]),
            allowed: HashSet::from([user("w")]),
        }
    }

    #[test]
    fn attribute_rules() {
        let user = |n: &str| Username::parse(n).unwrap();
        let attribute = |key: &str, owner: &str| RoomAttribute {
            key: key.into(),
            value: "v".into(),
            owner: user(owner),
            auto_delete: true,
        };
        let holders = HashMap::from([("mine".to_owned(), "a".to_owned()), ("theirs".to_owned(), "b".to_owned())]);
        let asked =
            vec![attribute("mine", "a"), attribute("theirs", "a"), attribute("new1", "a"), attribute("new2", "a")];
        let (writing, refused) = attributes_to_set(&holders, 2, asked.clone(), false, 3);
        assert_eq!(writing.iter().map(|a| a.key.as_str()).collect::<Vec<_>>(), ["mine", "new1"]);
        assert_eq!(refused.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["theirs", "new2"]);
        let (writing, _) = attributes_to_set(&holders, 2, asked, true, 4);
        assert_eq!(writing.len(), 4, "forced, and room for both new keys");

        let keys = vec!["mine".to_owned(), "theirs".to_owned(), "mine".to_owned(), "none".to_owned()];
        let (removing, refused) = attributes_to_remove(&holders, &user("a"), keys.clone(), false);
        assert_eq!(removing, ["mine"]);
        assert_eq!(refused.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["theirs", "mine", "none"]);
        let (removing, _) = attributes_to_remove(&holders, &user("a"), keys, true);
        assert_eq!(removing, ["mine", "theirs"]);
    }

    #[test]
    fn sender_rules() {
        let user = |n: &str| Username::parse(n).unwrap();
        let open = state(false);
        assert!(check_sender(&open, &user("m"), 50).is_err(), "muted until 100");
        assert!(check_sender(&open, &user("m"), 100).is_ok(), "mute lapsed");
        assert!(check_sender(&open, &user("x"), 0).is_err(), "not a member");
        let muted = state(true);
        assert!(check_sender(&muted, &user("m"), 200).is_err());
        assert!(check_sender(&muted, &user("w"), 0).is_ok(), "allow-listed");
        assert!(check_sender(&muted, &user("a"), 0).is_ok(), "admins speak");
        assert!(check_sender(&muted, &user("o"), 0).is_ok(), "the owner speaks");
    }
}
