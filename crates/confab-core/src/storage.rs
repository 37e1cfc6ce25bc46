//! What the core needs from a storage engine, one trait per domain.
//!
//! Every engine (SQLite now, PostgreSQL next) implements all of them; the
//! core holds an `Arc<dyn Storage>` and never sees SQL. Every method is
//! scoped by [`AppId`] where the data belongs to an app.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::error::{Refusal, Result};
use crate::ids::MessageId;
use crate::model::StoredFile;
use crate::model::{
    App, AppId, Body, ChatType, ConversationId, Group, GroupList, ListEntry, Member, Membership, Message, NewGroup,
    NewMessage, Operator, Original, ProfileChange, Role, RoomAttribute, Setting, SettingKey, SettingsPatch, User,
    UserRecord, Username,
};
use crate::model::{AuditEntry, GlobalMute, Relation};

/// An app to be created. Not `Debug`: it holds secrets.
#[derive(Clone)]
pub struct NewApp {
    pub uuid: String,
    pub org: String,
    pub name: String,
    pub client_id: String,
    pub client_secret: String,
    pub signing_key: Vec<u8>,
    pub created_ms: i64,
    /// Dialect credentials it starts with (such as `wildfire.secret`).
    pub credentials: BTreeMap<String, String>,
}

/// A change to an app's credentials. Engines apply it in one transaction
/// that first checks that no other app holds any of the new values: a
/// credential names its tenant (WildfireChat finds the app by its secret,
/// LeanCloud by its app ID), so two apps sharing one would let one act as
/// the other.
#[derive(Clone, Default)]
pub struct CredentialChange {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// A new token signing key: every token signed with the old one fails.
    pub signing_key: Option<Vec<u8>>,
    /// Dialect credentials to store, replacing what the app has.
    pub replace: BTreeMap<String, String>,
    /// Dialect credentials to store only where the app has none yet (values
    /// made up at first start, which must not overwrite another node's).
    pub fill: BTreeMap<String, String>,
}

impl CredentialChange {
    /// `app` as it is after the change.
    pub fn applied_to(&self, app: &App) -> App {
        let mut changed = app.clone();
        if let Some(id) = &self.client_id {
            changed.client_id = id.clone();
        }
        if let Some(secret) = &self.client_secret {
            changed.client_secret = secret.clone();
        }
        if let Some(key) = &self.signing_key {
            changed.signing_key = key.clone();
        }
        for (name, value) in &self.replace {
            changed.credentials.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.fill {
            changed.credentials.entry(name.clone()).or_insert_with(|| value.clone());
        }
        changed
    }
}

/// What provisioning found and left.
#[derive(Debug, Clone)]
pub struct Provisioned {
    /// The app as it was; `None` when this call created it.
    pub before: Option<App>,
    pub after: App,
}

/// One page of a listing. `next` is an engine-made position to continue from.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<i64>,
}

#[async_trait]
pub trait AppData: Send + Sync {
    /// Fails with `Duplicate` when the org/app name or client ID is taken.
    async fn create_app(&self, app: NewApp) -> Result<App>;
    async fn apps(&self) -> Result<Vec<App>>;
    async fn app_by_name(&self, org: &str, name: &str) -> Result<Option<App>>;
    async fn app_by_uuid(&self, uuid: &str) -> Result<Option<App>>;
    /// Replaces an app's rate-limit overrides.
    async fn set_rate_limits(&self, app: AppId, limits: BTreeMap<String, u32>) -> Result<()>;
    /// Applies `change` to the app `org/name` and answers it as stored.
    /// `NotFound` without such an app; `Duplicate` (changing nothing) when
    /// another app holds one of the new values.
    async fn change_credentials(&self, org: &str, name: &str, change: CredentialChange) -> Result<App>;
    /// Creates `new`, or, when its org/name exists, applies `change` to it:
    /// one transaction, one caller at a time across every process on the
    /// database, so nodes starting together provision the app once and all
    /// see the same credentials.
    async fn provision_app(&self, new: NewApp, change: CredentialChange) -> Result<Provisioned>;
}

#[async_trait]
pub trait UserData: Send + Sync {
    /// Inserts users in order; each result is the stored user or `Duplicate`.
    async fn insert_users(&self, app: AppId, users: Vec<UserRecord>) -> Result<Vec<Result<User>>>;
    async fn user(&self, app: AppId, username: &Username) -> Result<Option<UserRecord>>;
    async fn count_users(&self, app: AppId) -> Result<u64>;
    /// Notes that a user's device logged in now.
    async fn record_login(&self, app: AppId, username: &Username, now_ms: i64) -> Result<()>;
    /// Users whose devices logged in since `since_ms`.
    async fn active_since(&self, app: AppId, since_ms: i64) -> Result<u64>;
    /// Users whose profile attribute `key` is exactly `value`, oldest first,
    /// at most `limit` (WildfireChat finds users by name, mobile or e-mail).
    async fn users_with_attribute(&self, app: AppId, key: &str, value: &str, limit: usize) -> Result<Vec<User>>;
    /// Users in creation order, starting after `after`.
    async fn list_users(&self, app: AppId, after: Option<i64>, limit: usize) -> Result<Page<User>>;
    /// Users whose ID starts with `prefix` (byte for byte), in ID order, at most `limit`.
    async fn users_by_prefix(&self, app: AppId, prefix: &str, limit: usize) -> Result<Vec<User>>;
    /// Returns the deleted user, if there was one.
    async fn delete_user(&self, app: AppId, username: &Username) -> Result<Option<User>>;
    /// Deletes the `limit` oldest users after `after`, returning them.
    async fn delete_users(&self, app: AppId, after: Option<i64>, limit: usize) -> Result<Page<User>>;
    /// Replaces the password hash and bumps the credential generation.
    async fn set_password(&self, app: AppId, username: &Username, hash: String, now_ms: i64) -> Result<Option<User>>;
    /// Changes a user's profile under the user's lock (attributes merged into
    /// what is stored, see [`crate::model::AttributeChange::apply`]).
    async fn update_profile(
        &self,
        app: AppId,
        username: &Username,
        change: ProfileChange,
        now_ms: i64,
    ) -> Result<Option<User>>;
    /// Bytes all users' attributes take, counted as [`crate::model::attributes_size`] does.
    async fn attributes_capacity(&self, app: AppId) -> Result<u64>;
    async fn set_activated(
        &self,
        app: AppId,
        username: &Username,
        activated: bool,
        now_ms: i64,
    ) -> Result<Option<User>>;
}

#[async_trait]
pub trait MessageData: Send + Sync {
    /// Commits all messages or none. Conversations and memberships are
    /// created on first use; each message gets the next sequence number of
    /// its conversation. Returns once the commit is durable.
    async fn append(&self, app: AppId, messages: Vec<NewMessage>) -> Result<Vec<Message>>;
    /// The highest message ID ever stored, so IDs stay unique across restarts.
    async fn max_message_id(&self) -> Result<Option<MessageId>>;
    async fn message(&self, app: AppId, id: MessageId) -> Result<Option<Message>>;
    /// Every conversation the user belongs to, with their cursors.
    async fn memberships(&self, app: AppId, user: &Username) -> Result<Vec<Membership>>;
    async fn membership(&self, app: AppId, user: &Username, conversation: ConversationId)
        -> Result<Option<Membership>>;
    /// Messages of a conversation with `after < seq <= up_to`, ascending, at most `limit`.
    async fn messages_between(
        &self,
        app: AppId,
        conversation: ConversationId,
        after: i64,
        up_to: i64,
        limit: usize,
    ) -> Result<Vec<Message>>;
    /// Raises the user's acknowledged sequence in a conversation (never lowers it).
    async fn acknowledge(&self, app: AppId, user: &Username, conversation: ConversationId, seq: i64) -> Result<()>;
    /// Raises the user's read sequence (and the acknowledged one with it).
    async fn mark_read(&self, app: AppId, user: &Username, conversation: ConversationId, seq: i64) -> Result<()>;
    /// Messages from others that no device of the user has acknowledged
    /// (and that are still for them: not recalled, deleted or hidden).
    async fn unacknowledged_count(&self, app: AppId, user: &Username) -> Result<u64>;
    /// The conversation of a kind with a key, if anything was ever said in it.
    async fn conversation(&self, app: AppId, kind: ChatType, key: &str) -> Result<Option<ConversationId>>;
    async fn message_at(&self, app: AppId, conversation: ConversationId, seq: i64) -> Result<Option<Message>>;
    /// Edits, recalls or deletes a stored message; returns it as it is now.
    async fn change_message(&self, app: AppId, id: MessageId, change: MessageChange) -> Result<Option<Message>>;
    /// Hides messages of a conversation from one user only (their deletion,
    /// or a recall for some receivers): the others still have them.
    async fn hide_messages(&self, app: AppId, user: &Username, range: HiddenRange) -> Result<()>;
    /// Every range of messages hidden from a user.
    async fn hidden_ranges(&self, app: AppId, user: &Username) -> Result<Vec<HiddenRange>>;
    /// An app's messages sent within `sent` (Unix ms, half-open), in the
    /// order they were sent (ties by ID), continuing after `after` (the
    /// previous page's last message: its time and ID).
    async fn messages_sent(
        &self,
        app: AppId,
        sent: std::ops::Range<i64>,
        after: Option<(i64, MessageId)>,
        limit: usize,
    ) -> Result<Vec<Message>>;
    /// [`Storage::messages_sent`] without the contents: what an export's
    /// digest covers, at a fraction of the cost of reading whole messages.
    async fn message_marks(
        &self,
        app: AppId,
        sent: std::ops::Range<i64>,
        after: Option<(i64, MessageId)>,
        limit: usize,
    ) -> Result<Vec<crate::model::MessageMark>>;
    /// Messages by time (ties by ID), for history queries that page by time;
    /// deleted messages are left out.
    async fn query_messages(&self, app: AppId, query: MessageQuery) -> Result<Vec<Message>>;
    /// Messages from others a user has not read (all conversations, or one),
    /// leaving out what is not for them (recalled, deleted, hidden, addressed
    /// to others) and chat rooms.
    async fn unread_count(&self, app: AppId, user: &Username, conversation: Option<ConversationId>) -> Result<u64>;
    /// The same over all conversations, counting no further than `at_most`
    /// (a push's badge: the count costs what it counts, and a user with a
    /// long unread backlog should not make every push slow).
    async fn unread_count_up_to(&self, app: AppId, user: &Username, at_most: u64) -> Result<u64>;
    /// When the newest message that any device of the user acknowledged was
    /// sent, over all their conversations.
    async fn delivered_until(&self, app: AppId, user: &Username) -> Result<Option<i64>>;
    /// Makes users members of a conversation from the message at `seq` on
    /// (every cursor just before it), in one commit. A user who is already
    /// a member keeps the membership as it is, so nothing they acknowledged
    /// comes back.
    async fn join_from(
        &self,
        app: AppId,
        users: Vec<Username>,
        conversation: ConversationId,
        seq: i64,
        now_ms: i64,
    ) -> Result<()>;
    /// Broadcast-conversation messages to every member (no chosen receivers),
    /// not recalled or deleted, sent at or after `since_ms`, by conversation
    /// and sequence: the candidates for [`crate::lasting`].
    async fn app_wide_broadcasts(&self, app: AppId, since_ms: i64) -> Result<Vec<Message>>;
    /// What the engine's group commits do, when it counts them (for metrics).
    fn commit_stats(&self) -> Option<std::sync::Arc<crate::activity::CommitStats>> {
        None
    }
}

/// Which messages a history query wants, in (time, ID) order.
#[derive(Debug, Clone, Default)]
pub struct MessageQuery {
    pub conversation: Option<ConversationId>,
    pub from: Option<Username>,
    /// The earliest message (by time, and ID within the same millisecond).
    pub after: Option<TimeBound>,
    /// The latest message.
    pub before: Option<TimeBound>,
    pub newest_first: bool,
    pub limit: usize,
}

/// A point in a conversation's history: a time, and a message at that time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBound {
    pub ms: i64,
    /// Without an ID, the bound is the instant itself.
    pub id: Option<MessageId>,
    pub inclusive: bool,
}

/// A change to a stored message.
// One is made per edit, recall or delete and consumed at once; boxing the
// edit's body would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum MessageChange {
    /// New content; the message keeps its ID and place, and counts the edit.
    Edit {
        body: Body,
        /// A new `ext`, when it changes too.
        ext: Option<serde_json::Value>,
        original: Option<Original>,
        at_ms: i64,
        /// Refuse (`Refusal::EditLimit`) if the message was edited this many
        /// times already, checked in the same write as the edit, so that
        /// edits racing at the limit cannot both pass.
        max_edits: Option<u32>,
    },
    Recall {
        by: Username,
        at_ms: i64,
    },
    /// Erases the content; the message keeps its place in the order.
    Delete {
        at_ms: i64,
    },
}

/// Messages of one conversation, by ID (IDs grow with time), hidden from one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HiddenRange {
    pub conversation: ConversationId,
    pub from: MessageId,
    pub to: MessageId,
}

impl HiddenRange {
    pub fn contains(&self, message: &Message) -> bool {
        message.conversation == self.conversation && (self.from..=self.to).contains(&message.id)
    }
}

/// One change to a group, chat room or thread. The engine applies it in one
/// transaction, holding the group's row lock, and bumps the group's version.
/// Who may make a change is the core's business; what the engine enforces
/// is what must hold even when changes race (the member cap, the block list).
#[derive(Debug, Clone)]
pub enum GroupChange {
    /// Adds members with `role`. Each starts at the conversation's current
    /// sequence number, so nothing sent before they joined is theirs.
    /// Members already in are skipped; users on the block list are refused.
    /// If the members would then exceed `max_users`, nothing changes and
    /// the change fails with `LimitExceeded`.
    AddMembers {
        users: Vec<Username>,
        role: Role,
        max_users: u32,
        now_ms: i64,
    },
    /// Removes members, with their allow entries and their auto-deleted
    /// room attributes (a mute outlives leaving, as the vendor documents).
    RemoveMembers {
        users: Vec<Username>,
    },
    /// Sets the role of members (non-members are refused).
    SetRole {
        users: Vec<Username>,
        role: Role,
    },
    /// Makes a member the owner; the old owner stays as a member.
    TransferOwner {
        to: Username,
    },
    /// Applies the patch to the settings as they are now and checks the
    /// result with [`crate::groups::validate_settings`] before writing.
    Settings(SettingsPatch),
    MuteAll(bool),
    /// Adds or refreshes list entries. Adding to the block list also
    /// removes the users as members.
    AddToList {
        list: GroupList,
        users: Vec<Username>,
        until_ms: i64,
        now_ms: i64,
    },
    RemoveFromList {
        list: GroupList,
        users: Vec<Username>,
    },
}

/// What a [`GroupChange`] did: the group afterwards, the users it changed
/// and the users it refused with the reason.
#[derive(Debug, Clone)]
pub struct GroupChanged {
    pub group: Group,
    pub changed: Vec<Username>,
    pub refused: Vec<(Username, Refusal)>,
}

/// Groups, chat rooms and threads. Each is a conversation (`kind`, key = its
/// public ID) plus a group row; members are the conversation's membership rows.
#[async_trait]
pub trait GroupData: Send + Sync {
    /// Creates the conversation, the group and its members (the owner with
    /// `Role::Owner`). Fails with `Duplicate` when the ID is taken.
    async fn create_group(&self, app: AppId, group: NewGroup) -> Result<Group>;
    async fn group(&self, app: AppId, kind: ChatType, id: &str) -> Result<Option<Group>>;
    /// Groups of a kind in creation order (`newest_first`: the reverse),
    /// continuing past the position `after` (the previous page's `next`).
    async fn list_groups(
        &self,
        app: AppId,
        kind: ChatType,
        after: Option<i64>,
        limit: usize,
        newest_first: bool,
    ) -> Result<Page<Group>>;
    /// Groups of a kind that `user` is a member of, in creation order.
    async fn groups_of(&self, app: AppId, kind: ChatType, user: &Username) -> Result<Vec<Group>>;
    /// Threads of one group, in creation order.
    async fn threads_of(&self, app: AppId, parent: &str) -> Result<Vec<Group>>;
    /// Deletes the group, its members, lists and attributes. Its messages
    /// stay in history.
    async fn delete_group(&self, app: AppId, conversation: ConversationId) -> Result<Option<Group>>;
    /// Every member: the owner first, then everyone in joining order (so
    /// pages stay put when someone becomes an admin).
    async fn members(&self, app: AppId, conversation: ConversationId) -> Result<Vec<Member>>;
    /// Fails with `NotFound` when the group is gone.
    async fn change_group(&self, app: AppId, conversation: ConversationId, change: GroupChange)
        -> Result<GroupChanged>;
    /// A list's entries in the order they were added (expired mutes included;
    /// the core filters by time).
    async fn list_entries(&self, app: AppId, conversation: ConversationId, list: GroupList) -> Result<Vec<ListEntry>>;
    async fn room_attributes(&self, app: AppId, conversation: ConversationId) -> Result<Vec<RoomAttribute>>;
    /// Sets attributes under the room's lock, by the rules of
    /// [`crate::groups::attributes_to_set`]. Returns the refused keys with the reason.
    async fn set_room_attributes(
        &self,
        app: AppId,
        conversation: ConversationId,
        attributes: Vec<RoomAttribute>,
        force: bool,
        max_keys: usize,
    ) -> Result<crate::error::RefusedKeys>;
    /// Removes keys as `owner` under the room's lock, by the rules of
    /// [`crate::groups::attributes_to_remove`]. Returns the refused keys with the reason.
    async fn remove_room_attributes(
        &self,
        app: AppId,
        conversation: ConversationId,
        owner: &Username,
        keys: Vec<String>,
        force: bool,
    ) -> Result<crate::error::RefusedKeys>;
}

/// Contacts, blocks and global mutes (see [`crate::relations`]).
#[async_trait]
pub trait RelationData: Send + Sync {
    /// Adds `owner`'s relations to `others` (contacts both ways), keeping
    /// those that exist. If that would give `owner` (or, for contacts, any
    /// of the others) more than `cap`, nothing is added and the answer is false.
    async fn add_relations(
        &self,
        app: AppId,
        relation: Relation,
        owner: &Username,
        others: Vec<Username>,
        cap: usize,
        now_ms: i64,
    ) -> Result<bool>;
    /// Removes one relation (a contact both ways); false if there was none.
    async fn remove_relation(&self, app: AppId, relation: Relation, owner: &Username, other: &Username)
        -> Result<bool>;
    /// `owner`'s relations of a kind with when each began, newest first.
    async fn relations(&self, app: AppId, relation: Relation, owner: &Username) -> Result<Vec<(Username, i64)>>;
    /// Every (blocker, blocked) pair of the app.
    async fn all_blocks(&self, app: AppId) -> Result<Vec<(Username, Username)>>;
    /// Mutes a user in one kind of conversation until `until_ms`, or (`None`) unmutes.
    async fn set_global_mute(&self, app: AppId, user: &Username, kind: ChatType, until_ms: Option<i64>) -> Result<()>;
    /// Every global mute of the app (lapsed ones included), by user.
    async fn global_mutes(&self, app: AppId) -> Result<Vec<GlobalMute>>;
}

/// What is known about stored files (their bytes are in a [`crate::files::BlobStore`]).
#[async_trait]
pub trait FileData: Send + Sync {
    async fn insert_file(&self, app: AppId, file: StoredFile) -> Result<()>;
    async fn file(&self, app: AppId, uuid: &str) -> Result<Option<StoredFile>>;
}

/// An app's key-value settings (see [`crate::settings`]).
#[async_trait]
pub trait SettingData: Send + Sync {
    /// Writes every setting (replacing those with the same key) in one transaction.
    async fn put_settings(&self, app: AppId, settings: Vec<Setting>) -> Result<()>;
    /// Removes settings; how many there were.
    async fn remove_settings(&self, app: AppId, keys: Vec<SettingKey>) -> Result<u64>;
    async fn setting(&self, app: AppId, key: SettingKey) -> Result<Option<Setting>>;
    /// A namespace's settings, of one owner or (`None`) of all, by owner and
    /// key, at most `limit`.
    async fn settings(&self, app: AppId, namespace: &str, owner: Option<&str>, limit: usize) -> Result<Vec<Setting>>;
}

/// The server's operators and what they did (the console's sign-in and
/// audit log). Not scoped by app: operators act on every app.
#[async_trait]
pub trait OperatorData: Send + Sync {
    /// Creates the operator, or gives them a new password.
    async fn put_operator(&self, name: &str, password_hash: String, now_ms: i64) -> Result<()>;
    /// Creates the operator only if there is no operator at all yet; whether it did.
    /// (Nodes starting together make one first operator, not one each.)
    async fn add_first_operator(&self, name: &str, password_hash: String, now_ms: i64) -> Result<bool>;
    async fn operator(&self, name: &str) -> Result<Option<Operator>>;
    /// Appends to the audit log; the entry's `id` is ignored and assigned.
    async fn append_audit(&self, entry: AuditEntry) -> Result<()>;
    /// The audit log, newest first, older than the entry `before`, at most `limit`.
    async fn audit_log(&self, before: Option<i64>, limit: usize) -> Result<Vec<AuditEntry>>;
}

/// Everything a storage engine provides.
pub trait Storage:
    AppData + UserData + MessageData + GroupData + RelationData + FileData + SettingData + OperatorData
{
}

impl<T: AppData + UserData + MessageData + GroupData + RelationData + FileData + SettingData + OperatorData> Storage
    for T
{
}
