//! What the core needs from a storage engine, one trait per domain.
//!
//! Every engine (SQLite now, PostgreSQL next) implements all of them; the
//! core holds an `Arc<dyn Storage>` and never sees SQL. Every method is
//! scoped by [`AppId`] where the data belongs to an app.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::error::Result;
use crate::ids::MessageId;
use crate::model::{App, AppId, ConversationId, Membership, Message, NewMessage, User, UserRecord, Username};

/// An app to be created.
#[derive(Debug, Clone)]
pub struct NewApp {
    pub uuid: String,
    pub org: String,
    pub name: String,
    pub client_id: String,
    pub client_secret: String,
    pub signing_key: Vec<u8>,
    pub created_ms: i64,
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
}

#[async_trait]
pub trait UserData: Send + Sync {
    /// Inserts users in order; each result is the stored user or `Duplicate`.
    async fn insert_users(&self, app: AppId, users: Vec<UserRecord>) -> Result<Vec<Result<User>>>;
    async fn user(&self, app: AppId, username: &Username) -> Result<Option<UserRecord>>;
    /// Users in creation order, starting after `after`.
    async fn list_users(&self, app: AppId, after: Option<i64>, limit: usize) -> Result<Page<User>>;
    /// Returns the deleted user, if there was one.
    async fn delete_user(&self, app: AppId, username: &Username) -> Result<Option<User>>;
    /// Deletes the `limit` oldest users after `after`, returning them.
    async fn delete_users(&self, app: AppId, after: Option<i64>, limit: usize) -> Result<Page<User>>;
    /// Replaces the password hash and bumps the credential generation.
    async fn set_password(&self, app: AppId, username: &Username, hash: String, now_ms: i64) -> Result<Option<User>>;
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
    /// Messages from others that no device of the user has acknowledged.
    async fn unacknowledged_count(&self, app: AppId, user: &Username) -> Result<u64>;
}

/// Everything a storage engine provides.
pub trait Storage: AppData + UserData + MessageData {}

impl<T: AppData + UserData + MessageData> Storage for T {}
