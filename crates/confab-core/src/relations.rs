//! A user's surroundings: contacts, the users they block, and app-wide
//! ("global") mutes per kind of conversation.
//!
//! Blocks and mutes are checked on every send through the per-app copy in
//! [`crate::restrictions`].

use std::sync::Arc;

use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::model::{AppId, ChatType, GlobalMute, Relation, Username};

/// The vendor's caps: contacts per user (its one-shot contact list returns
/// at most this many) and block-list entries per user.
pub const MAX_CONTACTS: usize = 3000;
pub const MAX_BLOCKS: usize = 500;
/// Longest global mute, in seconds (the vendor's Int maximum).
pub const MAX_MUTE_SECS: i64 = i32::MAX as i64;

/// The kinds of conversation a global mute names: one-to-one, groups
/// (threads included) and chat rooms.
pub const MUTABLE_KINDS: [ChatType; 3] = [ChatType::Chat, ChatType::GroupChat, ChatType::ChatRoom];

#[derive(Clone)]
pub struct RelationService {
    deps: Arc<Deps>,
}

impl RelationService {
    pub(crate) fn new(deps: Arc<Deps>) -> RelationService {
        RelationService { deps }
    }

    async fn require_user(&self, app: AppId, user: &Username) -> Result<()> {
        match self.deps.store.user(app, user).await? {
            Some(_) => Ok(()),
            None => Err(Error::NotFound(format!("user {user} not found"))),
        }
    }

    /// Makes two users each other's contact.
    pub async fn add_contact(&self, app: AppId, owner: &Username, friend: &Username) -> Result<()> {
        if owner == friend {
            return Err(Error::InvalidArgument("a user cannot be their own contact".into()));
        }
        self.require_user(app, owner).await?;
        self.require_user(app, friend).await?;
        let now = self.deps.clock.now_ms();
        let added = self
            .deps
            .store
            .add_relations(app, Relation::Contact, owner, vec![friend.clone()], MAX_CONTACTS, now)
            .await?;
        if !added {
            return Err(Error::LimitExceeded("user contact number exceed limit".into()));
        }
        Ok(())
    }

    pub async fn remove_contact(&self, app: AppId, owner: &Username, friend: &Username) -> Result<()> {
        self.require_user(app, owner).await?;
        self.require_user(app, friend).await?;
        self.deps.store.remove_relation(app, Relation::Contact, owner, friend).await?;
        Ok(())
    }

    /// The user's contacts or blocked users, newest first.
    pub async fn list(&self, app: AppId, relation: Relation, owner: &Username) -> Result<Vec<Username>> {
        self.require_user(app, owner).await?;
        Ok(self.deps.store.relations(app, relation, owner).await?.into_iter().map(|(u, _)| u).collect())
    }

    /// Blocks users: their messages to `owner` are refused from now on.
    pub async fn block(&self, app: AppId, owner: &Username, users: Vec<Username>) -> Result<Vec<Username>> {
        self.require_user(app, owner).await?;
        let mut unique: Vec<Username> = Vec::with_capacity(users.len());
        for user in users {
            if user != *owner && !unique.contains(&user) {
                unique.push(user);
            }
        }
        if unique.is_empty() {
            return Err(Error::InvalidArgument("usernames must name at least one other user".into()));
        }
        let now = self.deps.clock.now_ms();
        let added = self.deps.store.add_relations(app, Relation::Block, owner, unique.clone(), MAX_BLOCKS, now).await?;
        self.deps.restrictions.forget(app);
        if !added {
            return Err(Error::LimitExceeded(format!("a block list holds at most {MAX_BLOCKS} users")));
        }
        Ok(unique)
    }

    pub async fn unblock(&self, app: AppId, owner: &Username, user: &Username) -> Result<()> {
        self.require_user(app, owner).await?;
        self.deps.store.remove_relation(app, Relation::Block, owner, user).await?;
        self.deps.restrictions.forget(app);
        Ok(())
    }

    /// Mutes (`Some(secs)`, -1 for ever) or unmutes (`Some(0)`) a user
    /// app-wide, per kind; kinds left `None` stay as they are.
    pub async fn set_global_mute(&self, app: AppId, user: &Username, secs: [(ChatType, Option<i64>); 3]) -> Result<()> {
        for (_, value) in &secs {
            if let Some(v) = value {
                if *v < -1 || *v > MAX_MUTE_SECS {
                    return Err(Error::InvalidArgument(format!("mute durations are -1, 0 or 1 to {MAX_MUTE_SECS}")));
                }
            }
        }
        self.require_user(app, user).await?;
        let now = self.deps.clock.now_ms();
        for (kind, value) in secs {
            let until = match value {
                None => continue,
                Some(0) => None,
                Some(-1) => Some(i64::MAX),
                Some(s) => Some(now + s * 1000),
            };
            self.deps.store.set_global_mute(app, user, kind, until).await?;
        }
        self.deps.restrictions.forget(app);
        Ok(())
    }

    /// The user's global mutes still in force.
    pub async fn global_mutes_of(&self, app: AppId, user: &Username) -> Result<Vec<GlobalMute>> {
        self.require_user(app, user).await?;
        Ok(self.active_mutes(app).await?.into_iter().filter(|m| m.username == *user).collect())
    }

    /// Every global mute still in force, oldest user first.
    pub async fn active_mutes(&self, app: AppId) -> Result<Vec<GlobalMute>> {
        let now = self.deps.clock.now_ms();
        Ok(self.deps.store.global_mutes(app).await?.into_iter().filter(|m| m.until_ms > now).collect())
    }

    /// Keeps `user` out of a conversation: nobody may add them to it.
    pub async fn block_conversation(&self, app: AppId, user: &Username, conversation: &str) -> Result<()> {
        let id = conversation_key(conversation)?;
        let now = self.deps.clock.now_ms();
        let added =
            self.deps.store.add_relations(app, Relation::ConversationBlock, user, vec![id], MAX_BLOCKS, now).await?;
        if !added {
            return Err(Error::LimitExceeded(format!("a client may block at most {MAX_BLOCKS} conversations")));
        }
        Ok(())
    }

    pub async fn unblock_conversation(&self, app: AppId, user: &Username, conversation: &str) -> Result<()> {
        let id = conversation_key(conversation)?;
        self.deps.store.remove_relation(app, Relation::ConversationBlock, user, &id).await?;
        Ok(())
    }

    /// The conversations `user` keeps out of, newest first.
    pub async fn blocked_conversations(&self, app: AppId, user: &Username) -> Result<Vec<String>> {
        let rows = self.deps.store.relations(app, Relation::ConversationBlock, user).await?;
        Ok(rows.into_iter().map(|(id, _)| id.to_string()).collect())
    }

    pub fn now_ms(&self) -> i64 {
        self.deps.clock.now_ms()
    }
}

/// A conversation ID as a relation's other side.
fn conversation_key(id: &str) -> Result<Username> {
    Username::parse(id).map_err(|_| Error::InvalidArgument(format!("conversation {id} cannot be blocked")))
}
