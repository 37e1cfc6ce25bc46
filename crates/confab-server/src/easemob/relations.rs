//! E-rel-1 to E-rel-6 (contacts and block lists) and E-user-9 to E-user-11
//! (global mutes). Shapes: docs/research/easemob-relations-and-mutes.md.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use confab_core::model::Relation;
use confab_core::model::{ChatType, Username};
use confab_core::relations::MUTABLE_KINDS;

use super::{
    decode_cursor, encode_cursor, page_limit, path_user, user_entity, AnyAuth, AppAuth, EasemobError, JsonBody,
    DEFAULT_BODY_LIMIT,
};

#[derive(Deserialize)]
pub struct PairPath {
    owner: String,
    other: String,
}

#[derive(Deserialize)]
pub struct OwnerPath {
    owner: String,
}

/// E-rel-1: makes two users each other's contact; answers with the friend.
pub async fn add_contact(auth: AnyAuth, Path(path): Path<PairPath>) -> Result<Response, EasemobError> {
    let (owner, friend) = (path_user(&path.owner)?, path_user(&path.other)?);
    auth.require_self_or_app(&owner)?;
    let target = &auth.0;
    target.core.relations.add_contact(target.app.id, &owner, &friend).await?;
    let user = target.core.users.get(target.app.id, &friend).await?;
    let path = format!("/users/{}/contacts", owner);
    Ok(target.envelope("post", &path).entities(vec![user_entity(&user)]).into_response())
}

/// E-rel-2: ends a contact, both ways.
pub async fn remove_contact(auth: AnyAuth, Path(path): Path<PairPath>) -> Result<Response, EasemobError> {
    let (owner, friend) = (path_user(&path.owner)?, path_user(&path.other)?);
    auth.require_self_or_app(&owner)?;
    let target = &auth.0;
    target.core.relations.remove_contact(target.app.id, &owner, &friend).await?;
    let user = target.core.users.get(target.app.id, &friend).await?;
    let path = format!("/users/{}/contacts", owner);
    Ok(target.envelope("delete", &path).entities(vec![user_entity(&user)]).into_response())
}

/// E-rel-3: every contact (at most 3000), newest first.
pub async fn contacts(auth: AnyAuth, Path(path): Path<OwnerPath>) -> Result<Response, EasemobError> {
    let owner = path_user(&path.owner)?;
    auth.require_self_or_app(&owner)?;
    let target = &auth.0;
    let names = target.core.relations.list(target.app.id, Relation::Contact, &owner).await?;
    let count = names.len();
    let data: Vec<&str> = names.iter().map(Username::as_str).collect();
    let envelope = target.query(&format!("/users/{owner}/contacts/users"));
    Ok(envelope.data(json!(data)).with("count", json!(count)).into_response())
}

/// E-rel-4: the block list, newest first; with `pageSize` a page at a time.
pub async fn blocks(
    auth: AnyAuth,
    Path(path): Path<OwnerPath>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, EasemobError> {
    let owner = path_user(&path.owner)?;
    auth.require_self_or_app(&owner)?;
    let target = &auth.0;
    let names = target.core.relations.list(target.app.id, Relation::Block, &owner).await?;
    let paged = query.contains_key("pageSize") || query.contains_key("cursor");
    let (page, next) = if paged {
        let size = page_limit(&query, "pageSize", 50, 50)?;
        let start = match query.get("cursor").filter(|c| !c.is_empty()) {
            Some(cursor) => usize::try_from(decode_cursor(cursor)?).unwrap_or(usize::MAX),
            None => 0,
        };
        let end = (start + size).min(names.len());
        let page = names.get(start.min(names.len())..end).unwrap_or_default().to_vec();
        (page, (end < names.len()).then(|| encode_cursor(end as i64)))
    } else {
        (names, None)
    };
    let data: Vec<&str> = page.iter().map(Username::as_str).collect();
    let mut envelope =
        target.query(&format!("/users/{owner}/blocks/users")).data(json!(data)).with("count", json!(page.len()));
    if let Some(cursor) = next {
        envelope = envelope.with("cursor", json!(cursor));
    }
    Ok(envelope.into_response())
}

/// E-rel-5's body.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct BlockRequest {
    /// The users to block.
    usernames: Vec<String>,
}

/// E-rel-5: blocks users (at most 500 on the list).
pub async fn block(
    auth: AnyAuth,
    Path(path): Path<OwnerPath>,
    JsonBody(request): JsonBody<DEFAULT_BODY_LIMIT, BlockRequest>,
) -> Result<Response, EasemobError> {
    let owner = path_user(&path.owner)?;
    auth.require_self_or_app(&owner)?;
    let users = request
        .usernames
        .iter()
        .map(|u| Username::easemob(u).map_err(|e| EasemobError::illegal_argument(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let target = &auth.0;
    let blocked = target.core.relations.block(target.app.id, &owner, users).await?;
    let data: Vec<&str> = blocked.iter().map(Username::as_str).collect();
    Ok(target
        .envelope("post", &format!("/users/{owner}/blocks"))
        .entities(Vec::new())
        .data(json!(data))
        .into_response())
}

/// E-rel-6: unblocks one user; answers with that user.
pub async fn unblock(auth: AnyAuth, Path(path): Path<PairPath>) -> Result<Response, EasemobError> {
    let (owner, other) = (path_user(&path.owner)?, path_user(&path.other)?);
    auth.require_self_or_app(&owner)?;
    let target = &auth.0;
    target.core.relations.unblock(target.app.id, &owner, &other).await?;
    let user = target.core.users.get(target.app.id, &other).await?;
    Ok(target.envelope("delete", &format!("/users/{owner}/blocks")).entities(vec![user_entity(&user)]).into_response())
}

fn mute_field(kind: ChatType) -> &'static str {
    kind.as_str()
}

/// The vendor's answer for a user who does not exist (400, not 404).
fn no_such_user() -> EasemobError {
    EasemobError::new(
        StatusCode::BAD_REQUEST,
        "required_property_not_found",
        "org.apache.usergrid.persistence.exceptions.RequiredPropertyNotFoundException",
        "Entity user requires a property named username",
    )
}

fn user_error(e: confab_core::error::Error) -> EasemobError {
    match e {
        confab_core::error::Error::NotFound(_) => no_such_user(),
        other => other.into(),
    }
}

/// E-user-9's body: the user, and per kind of conversation the seconds to
/// mute (-1 for ever, 0 to unmute); kinds left out are unchanged.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct GlobalMute {
    #[schema(value_type = String)]
    username: Option<Value>,
    /// One-to-one messages.
    #[schema(value_type = Option<i64>)]
    chat: Option<Value>,
    /// Group messages.
    #[schema(value_type = Option<i64>)]
    groupchat: Option<Value>,
    /// Chat room messages.
    #[schema(value_type = Option<i64>)]
    chatroom: Option<Value>,
}

impl GlobalMute {
    fn seconds(&self, kind: ChatType) -> Option<&Value> {
        match kind {
            ChatType::Chat => self.chat.as_ref(),
            ChatType::GroupChat => self.groupchat.as_ref(),
            ChatType::ChatRoom => self.chatroom.as_ref(),
            _ => None,
        }
    }
}

/// E-user-9: mutes (seconds; -1 for ever) or unmutes (0) a user app-wide,
/// per kind of conversation.
pub async fn set_mute(
    AppAuth(target): AppAuth,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, GlobalMute>,
) -> Result<Response, EasemobError> {
    let name = body.username.as_ref().and_then(Value::as_str).ok_or_else(no_such_user)?;
    let user = Username::easemob(name).map_err(|_| no_such_user())?;
    let mut durations = MUTABLE_KINDS.map(|kind| (kind, None));
    for (kind, value) in durations.iter_mut() {
        *value = match body.seconds(*kind) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_i64().ok_or_else(|| {
                EasemobError::illegal_argument(format!("{} must be a whole number of seconds", mute_field(*kind)))
            })?),
        };
    }
    target.core.relations.set_global_mute(target.app.id, &user, durations).await.map_err(user_error)?;
    Ok(target.envelope("post", "/mutes").data(json!({"result": "ok"})).into_response())
}

/// E-user-10: a user's remaining mute per kind, in seconds (0 none, -1 for ever).
pub async fn mutes_of(AppAuth(target): AppAuth, Path(path): Path<OwnerPath>) -> Result<Response, EasemobError> {
    let user = Username::easemob(&path.owner).map_err(|_| no_such_user())?;
    let mutes = target.core.relations.global_mutes_of(target.app.id, &user).await.map_err(user_error)?;
    let now = target.core.relations.now_ms();
    let mut data = json!({"userid": format!("{}#{}_{}", target.app.org, target.app.name, user)});
    for kind in MUTABLE_KINDS {
        let left = mutes.iter().find(|m| m.kind == kind).map_or(0, |m| remaining_secs(m.until_ms, now));
        data[mute_field(kind)] = json!(left);
    }
    data["unixtime"] = json!(now / 1000);
    Ok(target.envelope("get", "/mutes").data(data).into_response())
}

fn remaining_secs(until_ms: i64, now: i64) -> i64 {
    if until_ms == i64::MAX {
        -1
    } else {
        ((until_ms - now) + 999) / 1000
    }
}

/// E-user-11: every mute in force, one row per user and kind, `pageNum`/`pageSize` (at most 50).
pub async fn all_mutes(
    AppAuth(target): AppAuth,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, EasemobError> {
    let size = page_limit(&query, "pageSize", 50, 50)?;
    let page = page_limit(&query, "pageNum", 1, usize::MAX)?;
    let mutes = target.core.relations.active_mutes(target.app.id).await?;
    let now = target.core.relations.now_ms();
    let rows: Vec<Value> = mutes
        .iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .map(|m| json!({"username": m.username.as_str(), mute_field(m.kind): remaining_secs(m.until_ms, now)}))
        .collect();
    Ok(target.envelope("get", "/mutes").data(json!({"data": rows, "unixtime": now / 1000})).into_response())
}
