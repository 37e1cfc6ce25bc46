//! The vendor's friend and blacklist calls (`FriendRelationAction`,
//! `BlacklistAction`, `RelationGetAction` and their list calls), over the
//! same contacts and block lists the Easemob dialect shows: a friendship
//! made here is a contact there, a user blacklisted here is blocked there.

use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use confab_core::model::Relation;
use confab_core::model::{AppId, SettingKey, Username};
use confab_core::Core;

use super::error::{self, WildfireError};
use super::{ok, user, Admin};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FriendStatusRequest {
    user_id: String,
    friend_uid: String,
    status: i64,
    /// What the app keeps about the friendship (`friend/set_extra`'s).
    #[serde(default)]
    extra: Option<String>,
}

/// `/admin/friend/status`: 0 makes the two users friends, 1 ends it (the
/// vendor's SDK: "0 is a friend, 1 a friend deleted").
pub async fn friend_status(Admin { core, app, body }: Admin<FriendStatusRequest>) -> Result<Response, WildfireError> {
    let owner = user(&body.user_id, "userId")?;
    let friend = user(&body.friend_uid, "friendUid")?;
    match body.status {
        0 => {
            core.relations.add_contact(app.id, &owner, &friend).await?;
            accept_requests(&core, app.id, &owner, &friend).await?;
            if let Some(extra) = body.extra.filter(|e| !e.is_empty()) {
                annotate(&core, app.id, &owner, Annotation::Extra, &friend, Some(extra)).await?;
            }
        }
        1 => core.relations.remove_contact(app.id, &owner, &friend).await?,
        _ => return Err(WildfireError::invalid("status must be 0 (friends) or 1 (not friends)")),
    }
    Ok(ok(Value::Null))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlacklistRequest {
    user_id: String,
    target_uid: String,
    status: i64,
}

/// `/admin/blacklist/status`: 2 blacklists the target, 1 takes it off (the
/// vendor's SDK sends `isBlacklist ? 2 : 1`).
pub async fn blacklist_status(Admin { core, app, body }: Admin<BlacklistRequest>) -> Result<Response, WildfireError> {
    let owner = user(&body.user_id, "userId")?;
    let target = user(&body.target_uid, "targetUid")?;
    match body.status {
        2 => {
            core.relations.block(app.id, &owner, vec![target]).await?;
        }
        1 => core.relations.unblock(app.id, &owner, &target).await?,
        _ => return Err(WildfireError::invalid("status must be 2 (blacklisted) or 1 (not)")),
    }
    Ok(ok(Value::Null))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserIdRequest {
    user_id: String,
}

/// `/admin/friend/list`: oldest friendship first, as the vendor sorts them.
pub async fn friend_list(Admin { core, app, body }: Admin<UserIdRequest>) -> Result<Response, WildfireError> {
    list(core, app.id, &body.user_id, Relation::Contact).await
}

/// `/admin/blacklist/list`.
pub async fn blacklist_list(Admin { core, app, body }: Admin<UserIdRequest>) -> Result<Response, WildfireError> {
    list(core, app.id, &body.user_id, Relation::Block).await
}

async fn list(
    core: std::sync::Arc<confab_core::Core>,
    app: confab_core::model::AppId,
    raw: &str,
    relation: Relation,
) -> Result<Response, WildfireError> {
    let owner = user(raw, "userId")?;
    // The core lists newest first.
    let mut users = core.relations.list(app, relation, &owner).await?;
    users.reverse();
    Ok(ok(json!({"list": users.iter().map(|u| u.as_str()).collect::<Vec<_>>()})))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PairRequest {
    first: String,
    second: String,
}

/// `/admin/relation/get`: what `first` has with `second`, with the alias
/// and extra `first` gave them.
pub async fn relation_get(Admin { core, app, body }: Admin<PairRequest>) -> Result<Response, WildfireError> {
    let owner = user(&body.first, "first")?;
    let target = user(&body.second, "second")?;
    let friends = core.relations.list(app.id, Relation::Contact, &owner).await?;
    let blocked = core.relations.list(app.id, Relation::Block, &owner).await?;
    let alias = annotation(&core, app.id, &owner, Annotation::Alias, &target).await?;
    let extra = annotation(&core, app.id, &owner, Annotation::Extra, &target).await?;
    Ok(ok(json!({
        "userId": owner.as_str(),
        "targetId": target.as_str(),
        "isFriend": friends.contains(&target),
        "isBlacked": blocked.contains(&target),
        "alias": alias,
        "extra": extra,
    })))
}

/// Settings namespace of what a user writes about another (owner: the
/// user; key: `alias:<other>` or `extra:<other>`). The vendor keeps these
/// whether or not the two are friends.
const ANNOTATIONS: &str = "wildfire.friend";

#[derive(Debug, Clone, Copy)]
enum Annotation {
    Alias,
    Extra,
}

impl Annotation {
    fn key(self, other: &Username) -> String {
        match self {
            Annotation::Alias => format!("alias:{other}"),
            Annotation::Extra => format!("extra:{other}"),
        }
    }
}

async fn annotation(
    core: &Core,
    app: AppId,
    owner: &Username,
    which: Annotation,
    other: &Username,
) -> Result<Option<String>, WildfireError> {
    let key = SettingKey::new(ANNOTATIONS, owner.as_str(), &which.key(other));
    Ok(core.settings.get(app, key).await?.map(|s| s.value))
}

/// Sets (or, empty or absent, clears) what `owner` writes about `other`.
async fn annotate(
    core: &Core,
    app: AppId,
    owner: &Username,
    which: Annotation,
    other: &Username,
    value: Option<String>,
) -> Result<(), WildfireError> {
    core.users.get(app, owner).await?;
    core.users.get(app, other).await?;
    let key = SettingKey::new(ANNOTATIONS, owner.as_str(), &which.key(other));
    match value.filter(|v| !v.is_empty()) {
        Some(value) => core.settings.put(app, vec![(key, value)]).await?,
        None => {
            core.settings.remove(app, vec![key]).await?;
        }
    }
    Ok(())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnnotateRequest {
    operator: String,
    target_id: String,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    extra: Option<String>,
}

/// `/admin/friend/set_alias`: the name `operator` shows for `targetId`.
pub async fn set_alias(Admin { core, app, body }: Admin<AnnotateRequest>) -> Result<Response, WildfireError> {
    let owner = user(&body.operator, "operator")?;
    let other = user(&body.target_id, "targetId")?;
    annotate(&core, app.id, &owner, Annotation::Alias, &other, body.alias).await?;
    Ok(ok(Value::Null))
}

/// `/admin/friend/get_alias`: `{operator, targetId, alias}`, the alias
/// absent when there is none.
pub async fn get_alias(Admin { core, app, body }: Admin<AnnotateRequest>) -> Result<Response, WildfireError> {
    let owner = user(&body.operator, "operator")?;
    let other = user(&body.target_id, "targetId")?;
    let alias = annotation(&core, app.id, &owner, Annotation::Alias, &other).await?;
    Ok(ok(json!({"operator": owner.as_str(), "targetId": other.as_str(), "alias": alias})))
}

/// `/admin/friend/set_extra`: what the app keeps about the friendship.
pub async fn set_extra(Admin { core, app, body }: Admin<AnnotateRequest>) -> Result<Response, WildfireError> {
    let owner = user(&body.operator, "operator")?;
    let other = user(&body.target_id, "targetId")?;
    annotate(&core, app.id, &owner, Annotation::Extra, &other, body.extra).await?;
    Ok(ok(Value::Null))
}

/// Settings namespace of friend requests (owner: who is asked; key: who asks).
const REQUESTS: &str = "wildfire.friend_request";
/// The vendor's `FriendRequestStatus`.
const REQUEST_SENT: i64 = 0;
const REQUEST_ACCEPTED: i64 = 1;
/// Longest reason of a friend request, in bytes.
const MAX_REASON: usize = 1024;

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
struct StoredRequest {
    reason: String,
    status: i64,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FriendRequest {
    user_id: String,
    friend_uid: String,
    #[serde(default)]
    reason: Option<String>,
    /// The vendor's admin call skips its client-side checks (repeats,
    /// rejections) either way; kept for its SDKs, which send it.
    #[serde(default)]
    #[allow(dead_code)]
    force: bool,
}

/// `/admin/friend/send_request`: `userId` asks `friendUid` to be friends.
/// Refused with 23 when they already are, and with 246 when the asked user
/// blacklisted the asker; otherwise the request is kept (replacing an
/// earlier one) until `friend/status` makes them friends.
pub async fn send_request(Admin { core, app, body }: Admin<FriendRequest>) -> Result<Response, WildfireError> {
    let from = user(&body.user_id, "userId")?;
    let to = user(&body.friend_uid, "friendUid")?;
    let reason = body.reason.unwrap_or_default();
    if reason.len() > MAX_REASON {
        return Err(WildfireError::invalid(format!("reason is at most {MAX_REASON} bytes")));
    }
    core.users.get(app.id, &from).await?;
    core.users.get(app.id, &to).await?;
    if core.relations.list(app.id, Relation::Contact, &from).await?.contains(&to) {
        return Err(WildfireError::new(error::ALREADY_FRIENDS));
    }
    if core.relations.list(app.id, Relation::Block, &to).await?.contains(&from) {
        return Err(WildfireError::new(error::IN_BLACK_LIST));
    }
    let stored = StoredRequest { reason, status: REQUEST_SENT };
    let value = serde_json::to_string(&stored).map_err(|e| WildfireError::invalid(e.to_string()))?;
    core.settings.put(app.id, vec![(SettingKey::new(REQUESTS, to.as_str(), from.as_str()), value)]).await?;
    Ok(ok(Value::Null))
}

/// Marks the requests between two new friends accepted.
async fn accept_requests(core: &Core, app: AppId, a: &Username, b: &Username) -> Result<(), WildfireError> {
    for (to, from) in [(a, b), (b, a)] {
        let key = SettingKey::new(REQUESTS, to.as_str(), from.as_str());
        let Some(found) = core.settings.get(app, key.clone()).await? else { continue };
        let Ok(mut request) = serde_json::from_str::<StoredRequest>(&found.value) else { continue };
        request.status = REQUEST_ACCEPTED;
        let value = serde_json::to_string(&request).map_err(|e| WildfireError::invalid(e.to_string()))?;
        core.settings.put(app, vec![(key, value)]).await?;
    }
    Ok(())
}

/// `/admin/friend/get_requests`: the requests `userId` received, newest
/// first, in the shape of the vendor's `FriendRequest` (direction 1: received).
pub async fn get_requests(Admin { core, app, body }: Admin<UserIdRequest>) -> Result<Response, WildfireError> {
    let owner = user(&body.user_id, "userId")?;
    let mut stored = core.settings.of(app.id, REQUESTS, owner.as_str()).await?;
    stored.sort_by_key(|s| std::cmp::Reverse(s.updated_ms));
    let requests: Vec<Value> = stored
        .into_iter()
        .filter_map(|s| {
            let request: StoredRequest = serde_json::from_str(&s.value).ok()?;
            Some(json!({"direction": 1, "target": s.key, "reason": request.reason, "extra": "",
                        "status": request.status, "readStatus": 0, "timestamp": s.updated_ms}))
        })
        .collect();
    Ok(ok(json!({"requests": requests})))
}
