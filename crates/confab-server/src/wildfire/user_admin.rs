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
use confab_core::model::GlobalMute;
use confab_core::model::{AppId, ChatType, SettingKey, Username};
use confab_core::Core;

use super::error::WildfireError;
use super::profile::info;
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

#[derive(Deserialize, utoipa::ToSchema)]
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

#[derive(Deserialize, utoipa::ToSchema)]
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

#[derive(Deserialize, utoipa::ToSchema)]
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

/// The vendor's platform for a device confab cannot place (its clients
/// speak confab's own protocols, which do not say).
const PLATFORM_UNSET: i64 = 0;

/// `/admin/user/onlinestatus`: each connected device (`clientId`) of the
/// user, with status 0 (online). confab keeps no record of devices that are
/// gone, so there are no status-1 entries.
pub async fn online_status(Admin { core, app, body }: Admin<UserIdRequest>) -> Result<Response, WildfireError> {
    let username = user(&body.user_id, "userId")?;
    let now = core.now_ms();
    let sessions: Vec<Value> = core
        .users
        .devices(app.id, &username)
        .await
        .into_iter()
        .map(|device| {
            json!({"clientId": device, "userId": username.as_str(), "platform": PLATFORM_UNSET, "status": 0,
                   "lastSeen": now, "packageName": ""})
        })
        .collect();
    Ok(ok(json!({"sessions": sessions})))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct KickoffRequest {
    first: String,
    #[serde(default)]
    second: Option<String>,
}

/// `/admin/user/kickoff_client`: `first` is the user, `second` the device
/// (`clientId`); without one, every device of the user.
pub async fn kickoff_client(Admin { core, app, body }: Admin<KickoffRequest>) -> Result<Response, WildfireError> {
    let username = user(&body.first, "first")?;
    match body.second.as_deref().filter(|d| !d.is_empty()) {
        Some(device) => {
            core.users.disconnect_device(app.id, &username, device).await?;
        }
        None => core.users.disconnect(app.id, &username).await?,
    }
    Ok(ok(Value::Null))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OnlineListRequest {
    node_id: i64,
    #[serde(default)]
    offset: i64,
    count: i64,
}

/// `/admin/user/online_list`: connected devices of node 1 (confab answers
/// for the whole cluster as node 1, as `online_count` does), `count` from `offset`.
pub async fn online_list(Admin { core, app, body }: Admin<OnlineListRequest>) -> Result<Response, WildfireError> {
    if body.node_id != 1 {
        return Err(WildfireError::invalid("nodeId must be 1 (confab answers for its whole cluster as node 1)"));
    }
    if body.count <= 0 || body.offset < 0 {
        return Err(WildfireError::invalid("count must be positive and offset not negative"));
    }
    let count = body.count.min(MAX_ALL_COUNT) as usize;
    let (page, total) = core.users.online_devices(app.id, body.offset as usize, count).await?;
    let clients: Vec<Value> = page
        .into_iter()
        .map(|(user, device)| json!({"userId": user.as_str(), "clientId": device, "platform": PLATFORM_UNSET}))
        .collect();
    Ok(ok(json!({"userClients": clients, "totalCount": total})))
}

/// `/admin/user/session_list`: the user's sessions (none for a user that
/// does not exist, as the vendor answers). confab's sessions are its
/// connected devices; push tokens are not kept yet, so they are empty.
pub async fn session_list(Admin { core, app, body }: Admin<UserIdRequest>) -> Result<Response, WildfireError> {
    let username = user(&body.user_id, "userId")?;
    let sessions: Vec<Value> = core
        .users
        .devices(app.id, &username)
        .await
        .into_iter()
        .map(|device| {
            json!({"userId": username.as_str(), "clientId": device, "platform": PLATFORM_UNSET, "pushType": 0,
                   "deviceToken": "", "deviceVoipToken": "", "isOnline": true})
        })
        .collect();
    Ok(ok(json!({"userSessions": sessions})))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct BatchRequest {
    list: Vec<String>,
}

/// Most users one `batch_get_infos` call names.
const MAX_BATCH: usize = 500;

/// `/admin/user/batch_get_infos`: the profiles of the users named in
/// `list` that exist, in the order asked.
pub async fn batch_get_infos(Admin { core, app, body }: Admin<BatchRequest>) -> Result<Response, WildfireError> {
    if body.list.len() > MAX_BATCH {
        return Err(WildfireError::invalid(format!("list names at most {MAX_BATCH} users")));
    }
    let mut infos = Vec::with_capacity(body.list.len());
    for id in &body.list {
        let Ok(username) = Username::parse(id) else { continue };
        match core.users.get(app.id, &username).await {
            Ok(found) => infos.push(info(&found)),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ok(json!({"userInfos": infos})))
}

/// Settings namespace of users' settings; the owner is the user, the key
/// `<scope>:<key>`.
const USER_SETTINGS: &str = "wildfire.user";

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserSettingRequest {
    user_id: String,
    scope: i64,
    key: String,
    #[serde(default)]
    value: Option<String>,
}

fn setting_key(username: &Username, scope: i64, key: &str) -> SettingKey {
    SettingKey::new(USER_SETTINGS, username.as_str(), &format!("{scope}:{key}"))
}

/// `/admin/user/put_setting`: one of the user's settings (conversation top,
/// group remarks, favourites…: the scope says which). Kept as given; the
/// vendor's clients read them back through their own protocol.
pub async fn put_setting(Admin { core, app, body }: Admin<UserSettingRequest>) -> Result<Response, WildfireError> {
    let username = user(&body.user_id, "userId")?;
    core.users.get(app.id, &username).await?;
    let value = body.value.unwrap_or_default();
    core.settings.put(app.id, vec![(setting_key(&username, body.scope, &body.key), value)]).await?;
    Ok(ok(Value::Null))
}

/// `/admin/user/get_setting`: one setting, 253 when it was never set.
pub async fn get_setting(Admin { core, app, body }: Admin<UserSettingRequest>) -> Result<Response, WildfireError> {
    let username = user(&body.user_id, "userId")?;
    let stored = core.settings.get(app.id, setting_key(&username, body.scope, &body.key)).await?;
    let Some(stored) = stored else {
        return Err(WildfireError::not_exist(format!("setting {}:{} of {username}", body.scope, body.key)));
    };
    Ok(ok(json!({
        "userId": username.as_str(),
        "scope": body.scope,
        "key": body.key,
        "value": stored.value,
        "updateDt": stored.updated_ms,
    })))
}
