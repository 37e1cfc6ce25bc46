//! The vendor's friend and blacklist calls (`FriendRelationAction`,
//! `BlacklistAction`, `RelationGetAction` and their list calls), over the
//! same contacts and block lists the Easemob dialect shows: a friendship
//! made here is a contact there, a user blacklisted here is blocked there.

use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use confab_core::relations::Relation;

use super::error::WildfireError;
use super::{ok, user, Admin};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FriendStatusRequest {
    user_id: String,
    friend_uid: String,
    status: i64,
}

/// `/admin/friend/status`: 0 makes the two users friends, 1 ends it (the
/// vendor's SDK: "0 is a friend, 1 a friend deleted").
pub async fn friend_status(Admin { core, app, body }: Admin<FriendStatusRequest>) -> Result<Response, WildfireError> {
    let owner = user(&body.user_id, "userId")?;
    let friend = user(&body.friend_uid, "friendUid")?;
    match body.status {
        0 => core.relations.add_contact(app.id, &owner, &friend).await?,
        1 => core.relations.remove_contact(app.id, &owner, &friend).await?,
        _ => return Err(WildfireError::invalid("status must be 0 (friends) or 1 (not friends)")),
    }
    Ok(ok(Value::Null))
}

#[derive(Deserialize)]
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

#[derive(Deserialize)]
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

#[derive(Deserialize)]
pub struct PairRequest {
    first: String,
    second: String,
}

/// `/admin/relation/get`: what `first` has with `second`. confab keeps no
/// alias or extra for a friendship yet: both are absent.
pub async fn relation_get(Admin { core, app, body }: Admin<PairRequest>) -> Result<Response, WildfireError> {
    let owner = user(&body.first, "first")?;
    let target = user(&body.second, "second")?;
    let friends = core.relations.list(app.id, Relation::Contact, &owner).await?;
    let blocked = core.relations.list(app.id, Relation::Block, &owner).await?;
    Ok(ok(json!({
        "userId": owner.as_str(),
        "targetId": target.as_str(),
        "isFriend": friends.contains(&target),
        "isBlacked": blocked.contains(&target),
    })))
}
