//! Temporary conversations (the SDK's `createTemporaryConversation`): a
//! conversation of fixed members that lives for a time to live and is then
//! gone. The vendor keeps them apart from `_Conversation`: their IDs start
//! `_tmp:`, no `where` query finds them (the SDK asks for them by ID), and
//! a send to one that has expired is "conversation not found", which the
//! SDK reports as TEMPORARY_CONVERSATION_EXPIRED.
//!
//! Here each is a core group (so messages, members, receipts and histories
//! work as in any conversation) whose expiry is a private setting.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use confab_core::model::{AppId, ChatType, Group, GroupSettings, Username};
use confab_core::Core;

use super::PRIVATE;

/// What every temporary conversation's ID starts with (the vendor's).
pub const PREFIX: &str = "_tmp:";
/// Time to live when the client names none: one day (the vendor's).
pub const DEFAULT_TTL_SECS: i64 = 24 * 60 * 60;
/// Longest time to live: 30 days (the vendor's).
pub const MAX_TTL_SECS: i64 = 30 * 24 * 60 * 60;

/// The private setting holding when the conversation expires (ms).
fn expires_key() -> String {
    format!("{PRIVATE}expires_ms")
}

pub fn is_temporary(id: &str) -> bool {
    id.starts_with(PREFIX)
}

/// When a temporary conversation expires; `None` for any other.
pub fn expires_ms(group: &Group) -> Option<i64> {
    if !is_temporary(&group.id) {
        return None;
    }
    group.settings.dialect.get(&expires_key()).and_then(Value::as_i64)
}

/// Whether the conversation is a temporary one past its time.
pub fn expired(group: &Group, now_ms: i64) -> bool {
    expires_ms(group).is_some_and(|at| at <= now_ms)
}

/// The time to live a client asked for, in seconds, within the vendor's
/// bounds: none or a non-positive one is a day, more than 30 days is 30.
pub fn ttl_secs(asked: Option<i32>) -> i64 {
    match asked {
        Some(secs) if secs > 0 => i64::from(secs).min(MAX_TTL_SECS),
        _ => DEFAULT_TTL_SECS,
    }
}

/// Makes a temporary conversation of `creator` and `members` living
/// `ttl_secs` from now.
pub async fn create(
    core: &Core,
    app: AppId,
    creator: Username,
    members: Vec<Username>,
    ttl_secs: i64,
) -> confab_core::error::Result<Group> {
    let mut everyone = members.clone();
    everyone.push(creator.clone());
    core.users.ensure_exist(app, &everyone).await?;
    let id = format!("{PREFIX}{}", confab_core::auth::random_key(16));
    let mut dialect = BTreeMap::new();
    dialect.insert(expires_key(), json!(core.now_ms() + ttl_secs * 1000));
    let settings = GroupSettings {
        public: false,
        allow_invites: true,
        dialect,
        ..GroupSettings::named(String::new(), super::max_members(ChatType::GroupChat))
    };
    core.groups.create(app, ChatType::GroupChat, Some(id), creator, settings, members).await
}

/// The conversation as a `conv query` by `tempConvIds` returns it: its
/// members and the seconds it has left (`ttl`), from which the SDK sets
/// `expiredAt`.
pub fn document(group: &Group, members: &[Username], now_ms: i64) -> Value {
    let left_ms = expires_ms(group).unwrap_or(now_ms) - now_ms;
    json!({
        "objectId": group.id,
        "m": members.iter().map(Username::as_str).collect::<Vec<_>>(),
        "c": group.owner.as_str(),
        "createdAt": super::iso(group.created_ms),
        "updatedAt": super::iso(group.created_ms),
        "temp": true,
        "ttl": (left_ms / 1000).max(0),
    })
}
