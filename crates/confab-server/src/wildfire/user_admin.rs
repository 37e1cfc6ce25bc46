//! The vendor's user administration beyond W-16: block status, listing,
//! finding users by profile fields, and online counts, as its community
//! server's admin actions define them (`BlockUserAction`,
//! `GetUserBlockStatusAction`, `GetAllUserAction`, `GetUsersByEmailAction`,
//! `GetUserOnlineCountAction`).
//!
//! The vendor's user status maps onto the core's own states, so every
//! dialect and protocol sees the same thing: *forbidden* (2) is a
//! deactivated user (sessions closed, logins refused), *muted* (1) is a
//! global mute of every chat kind for ever.

use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use confab_core::error::Error;
use confab_core::model::{AppId, ChatType, Username};
use confab_core::relations::GlobalMute;
use confab_core::Core;

use super::error::WildfireError;
use super::users::info;
use super::{ok, user, Admin};

/// The vendor's `ProtoConstants.UserStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UserStatus {
    Normal,
    Muted,
    Forbidden,
}

impl UserStatus {
    fn from_code(code: i64) -> Option<UserStatus> {
        match code {
            0 => Some(UserStatus::Normal),
            1 => Some(UserStatus::Muted),
            2 => Some(UserStatus::Forbidden),
            _ => None,
        }
    }

    fn code(self) -> i64 {
        match self {
            UserStatus::Normal => 0,
            UserStatus::Muted => 1,
            UserStatus::Forbidden => 2,
        }
    }
}

const ALL_KINDS: [ChatType; 3] = [ChatType::Chat, ChatType::GroupChat, ChatType::ChatRoom];

/// A global mute that covers every kind for ever is the vendor's "muted".
fn muted_for_ever(mutes: &[GlobalMute], user: &Username) -> bool {
    ALL_KINDS.iter().all(|kind| mutes.iter().any(|m| m.username == *user && m.kind == *kind && m.until_ms == i64::MAX))
}

async fn status_of(core: &Core, app: AppId, username: &Username) -> Result<UserStatus, WildfireError> {
    let user = match core.users.get(app, username).await {
        Ok(user) => user,
        // The vendor answers 0 for users it does not know.
        Err(Error::NotFound(_)) => return Ok(UserStatus::Normal),
        Err(e) => return Err(e.into()),
    };
    if !user.activated {
        return Ok(UserStatus::Forbidden);
    }
    let mutes = core.relations.global_mutes_of(app, username).await?;
    Ok(if muted_for_ever(&mutes, username) { UserStatus::Muted } else { UserStatus::Normal })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStatusRequest {
    user_id: String,
    status: i64,
}

/// `/admin/user/update_block_status`: 0 normal, 1 muted, 2 forbidden (kicked
/// from every session and refused at login in every protocol).
pub async fn update_block_status(
    Admin { core, app, body }: Admin<BlockStatusRequest>,
) -> Result<Response, WildfireError> {
    let username = user(&body.user_id, "userId")?;
    let status = UserStatus::from_code(body.status)
        .ok_or_else(|| WildfireError::invalid("status must be 0 (normal), 1 (muted) or 2 (forbidden)"))?;
    let mute = match status {
        UserStatus::Muted => Some(-1),
        UserStatus::Normal | UserStatus::Forbidden => Some(0),
    };
    match status {
        UserStatus::Forbidden => core.users.deactivate(app.id, &username).await?,
        UserStatus::Normal | UserStatus::Muted => core.users.activate(app.id, &username).await?,
    };
    core.relations.set_global_mute(app.id, &username, ALL_KINDS.map(|kind| (kind, mute))).await?;
    Ok(ok(Value::Null))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdRequest {
    user_id: String,
}

/// `/admin/user/check_block_status`.
pub async fn check_block_status(Admin { core, app, body }: Admin<UserIdRequest>) -> Result<Response, WildfireError> {
    let username = user(&body.user_id, "userId")?;
    let status = status_of(&core, app.id, &username).await?;
    Ok(ok(json!({"status": status.code()})))
}

/// `/admin/user/get_blocked_list`: every user who is muted or forbidden.
pub async fn get_blocked_list(Admin { core, app, .. }: Admin<Value>) -> Result<Response, WildfireError> {
    let mut list = Vec::new();
    // Deactivated users: the core keeps no separate list, so page through users.
    let mut after = None;
    loop {
        let page = core.users.list(app.id, after, 500).await?;
        list.extend(
            page.items
                .iter()
                .filter(|u| !u.activated)
                .map(|u| json!({"userId": u.username.as_str(), "status": UserStatus::Forbidden.code()})),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mutes = core.relations.active_mutes(app.id).await?;
    let mut muted: Vec<&Username> = mutes.iter().map(|m| &m.username).filter(|u| muted_for_ever(&mutes, u)).collect();
    muted.sort();
    muted.dedup();
    for username in muted {
        if list.iter().any(|e| e["userId"] == username.as_str()) {
            continue;
        }
        list.push(json!({"userId": username.as_str(), "status": UserStatus::Muted.code()}));
    }
    Ok(ok(json!({"statusList": list})))
}

#[derive(Deserialize)]
pub struct AllRequest {
    count: i64,
    offset: i64,
}

/// Most users one `/admin/user/all` call returns.
const MAX_ALL_COUNT: i64 = 1000;

/// `/admin/user/all`: `count` users from `offset`, oldest first.
pub async fn all(Admin { core, app, body }: Admin<AllRequest>) -> Result<Response, WildfireError> {
    if body.count <= 0 || body.offset < 0 {
        return Err(WildfireError::invalid("count must be positive and offset not negative"));
    }
    let count = body.count.min(MAX_ALL_COUNT) as usize;
    let mut skip = body.offset as usize;
    let mut out = Vec::with_capacity(count);
    let mut after = None;
    while out.len() < count {
        let page = core.users.list(app.id, after, 500).await?;
        for user in &page.items {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            if out.len() < count {
                out.push(info(user));
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(ok(json!({"userInfoList": out})))
}

/// `/admin/user/get_info_by_email`: the body is the address itself, a JSON
/// string; every user with that e-mail.
pub async fn get_info_by_email(Admin { core, app, body }: Admin<String>) -> Result<Response, WildfireError> {
    if body.is_empty() {
        return Err(WildfireError::invalid("the body must be an e-mail address"));
    }
    let users = core.users.with_attribute(app.id, "mail", &body, MAX_ALL_COUNT as usize).await?;
    if users.is_empty() {
        return Err(WildfireError::not_exist(format!("user with e-mail {body}")));
    }
    Ok(ok(json!({"userInfos": users.iter().map(info).collect::<Vec<_>>()})))
}

/// `/admin/user/online_count`: one entry per node, as the vendor answers;
/// confab counts the whole cluster as one.
pub async fn online_count(Admin { core, app, .. }: Admin<Value>) -> Result<Response, WildfireError> {
    let count = core.users.online_count(app.id).await?;
    Ok(ok(json!([{"node": 1, "count": count}])))
}
