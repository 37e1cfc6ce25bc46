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
use crate::error::{Error, KeyRefusal, Refusal, Refused, Result};
use crate::events::{GroupEvent, GroupEventKind, LiveEvent};
use crate::ids::MessageId;
use crate::model::{
    AppId, Audience, Body, ChatType, ConversationId, Delivery, Group, GroupList, GroupSettings, ListEntry, Member,
    Message, MessageState, NewGroup, NewMessage, Original, Role, RoomAttribute, SettingsPatch, Username,
};
use crate::storage::{GroupChange, GroupChanged, Page};

mod rooms;
mod rules;
mod send;
mod threads;

pub use rules::{
    attributes_to_remove, attributes_to_set, members_to_add, validate_settings, RefusedKeys, RefusedUsers,
};
use rules::{batch_cap, check_batch, check_name, event, not_found, split_owner};
pub use send::GroupSend;

/// The clouds' documented limits.
pub mod limits;

/// A group as the sender check and fan-out see it.
pub(crate) struct GroupState {
    pub(crate) group: Group,
    pub(crate) roles: HashMap<Username, Role>,
    pub(crate) recipients: Arc<[Username]>,
    pub(crate) muted_until: HashMap<Username, i64>,
    pub(crate) allowed: HashSet<Username>,
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
    /// the ID given (WildfireChat lets the caller choose one; LeanCloud's
    /// temporary conversations are `_tmp:…`) or a new one.
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
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
            if !ok {
                return Err(Error::InvalidArgument(format!("group id [{id}] must be 1 to 64 of a-z A-Z 0-9 _ - . :")));
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
            return Err(Refused::new(Refusal::Full).into());
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
    /// even when another change lands at the same time. Members are told
    /// (`Updated`).
    pub async fn update(&self, app: AppId, target: GroupRef<'_>, patch: SettingsPatch) -> Result<Group> {
        let changed = self.update_unannounced(app, target, patch).await?;
        self.notify(app, &changed, GroupEventKind::Updated, Vec::new(), &[]).await;
        Ok(changed)
    }

    /// `update` for a dialect's bookkeeping that no member sees as a change
    /// of the group (one member's notification setting, a timer): members
    /// are not told, so a client hears of no change that is not one.
    pub async fn update_unannounced(&self, app: AppId, target: GroupRef<'_>, patch: SettingsPatch) -> Result<Group> {
        let group = self.get(app, target).await?;
        // Checked here for a quick answer, and again by the engine under the
        // group's lock against the settings and members of that moment.
        let mut settings = group.settings.clone();
        patch.apply(&mut settings);
        validate_settings(target.kind, &settings, group.member_count)?;
        let changed = self.change(app, &group, GroupChange::Settings(patch)).await?;
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
