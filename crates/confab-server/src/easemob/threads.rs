//! Threads (E-thr-1 to E-thr-9): conversations started from a group message,
//! with their own members. The vendor answers thread errors as `group_error`.
//!
//! The client SDK calls some of these with the user's own token (creating,
//! destroying and reading a thread's members), and two of its own (a user
//! joining and quitting a thread); a user may do so for themselves only.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use confab_core::error::{Error, Refusal};
use confab_core::groups::{limits, GroupRef};
use confab_core::ids::MessageId;
use confab_core::model::{ChatType, Group, Username};

use super::{
    decode_cursor, echo_params, encode_cursor, page_limit, param, AnyAuth, AppAuth, EasemobError, JsonBody,
    DEFAULT_BODY_LIMIT,
};
use confab_core::auth::Principal;

type Params = Path<HashMap<String, String>>;
type QueryMap = Query<HashMap<String, String>>;

/// Most threads or members per page, and the default.
const MAX_PAGE: usize = 50;

fn thread_error(e: Error) -> EasemobError {
    let (status, text) = match e {
        Error::NotFound(m) => (StatusCode::NOT_FOUND, m),
        Error::Forbidden(m) | Error::LimitExceeded(m) => (StatusCode::FORBIDDEN, m),
        Error::Refused(refused) => (StatusCode::FORBIDDEN, refused.to_string()),
        Error::InvalidArgument(m) => (StatusCode::BAD_REQUEST, m),
        other => return other.into(),
    };
    EasemobError::new(status, "group_error", "GroupException", text)
}

fn bad(text: &str) -> EasemobError {
    EasemobError::new(StatusCode::BAD_REQUEST, "group_error", "GroupException", text)
}

fn thread(id: &str) -> GroupRef<'_> {
    GroupRef { kind: ChatType::Thread, id }
}

fn username(raw: &str) -> Result<Username, EasemobError> {
    Username::easemob(raw).map_err(|_| thread_error(Error::NotFound(format!("username {raw} doesn't exist!"))))
}

/// A string or a number (the vendor's examples send IDs as numbers).
fn id_field(value: &Option<Value>) -> Option<String> {
    match value.as_ref()? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn entity(t: &Group) -> Value {
    json!({
        "id": t.id,
        "name": t.settings.name,
        "owner": t.owner.as_str(),
        "msgId": t.parent_message.map(|m| m.to_string()),
        "groupId": t.parent,
        "created": t.created_ms,
    })
}

/// A listing's `cursor`, `limit` (≤ 50) and `sort` (`desc`, the default, is
/// newest first). The cursor is a thread's storage position, so pages stay
/// stable while threads come and go.
struct PageRequest {
    after: Option<i64>,
    limit: usize,
    newest_first: bool,
}

fn page_request(query: &HashMap<String, String>) -> Result<PageRequest, EasemobError> {
    let limit = page_limit(query, "limit", MAX_PAGE, usize::MAX)?;
    if limit > MAX_PAGE {
        return Err(bad("query param reaches limit."));
    }
    let after = query.get("cursor").filter(|c| !c.is_empty()).map(|c| decode_cursor(c)).transpose()?;
    let newest_first = match query.get("sort").map(String::as_str) {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(other) => return Err(bad(&format!("sort [{other}] must be asc or desc"))),
    };
    Ok(PageRequest { after, limit, newest_first })
}

/// One page of `threads` (in creation order) as `request` asks.
fn page(mut threads: Vec<Group>, request: &PageRequest) -> (Vec<Group>, Option<String>) {
    if request.newest_first {
        threads.reverse();
    }
    let rest: Vec<Group> = threads
        .into_iter()
        .filter(|t| match request.after {
            None => true,
            Some(pos) if request.newest_first => t.conversation.0 < pos,
            Some(pos) => t.conversation.0 > pos,
        })
        .collect();
    let more = rest.len() > request.limit;
    let items: Vec<Group> = rest.into_iter().take(request.limit).collect();
    let cursor = if more { items.last().map(|t| encode_cursor(t.conversation.0)) } else { None };
    (items, cursor)
}

fn listing(
    target: &super::Target,
    path: &str,
    items: &[Group],
    cursor: Option<String>,
    query: &HashMap<String, String>,
) -> Response {
    target
        .envelope("get", path)
        .with("params", echo_params(query))
        .with("entities", Value::Array(items.iter().map(entity).collect()))
        .with("properties", json!({ "cursor": cursor }))
        .into_response()
}

/// E-thr-1: every thread of the app.
pub async fn list(AppAuth(target): AppAuth, Query(query): QueryMap) -> Result<Response, EasemobError> {
    let request = page_request(&query)?;
    let groups = &target.core.groups;
    let page = groups.list(target.app.id, ChatType::Thread, request.after, request.limit, request.newest_first).await?;
    let cursor = page.next.map(encode_cursor);
    Ok(listing(&target, "/thread", &page.items, cursor, &query))
}

/// E-thr-2: the threads a user is in (the SDK's `getJoinedChatThreads`).
pub async fn of_user(auth: AnyAuth, Path(params): Params, Query(query): QueryMap) -> Result<Response, EasemobError> {
    let user = username(param(&params, "username"))?;
    auth.require_self_or_app(&user)?;
    let target = &auth.0;
    let request = page_request(&query)?;
    let threads = target.core.groups.joined(target.app.id, ChatType::Thread, &user).await?;
    let (items, cursor) = page(threads, &request);
    Ok(listing(target, &format!("/threads/user/{user}"), &items, cursor, &query))
}

/// E-thr-3: the threads a user is in under one group (the SDK's
/// `getJoinedChatThreads` with a `parentId`).
pub async fn of_user_in_group(
    auth: AnyAuth,
    Path(params): Params,
    Query(query): QueryMap,
) -> Result<Response, EasemobError> {
    let user = username(param(&params, "username"))?;
    auth.require_self_or_app(&user)?;
    let target = &auth.0;
    let group = param(&params, "group");
    let threads = target.core.groups.joined(target.app.id, ChatType::Thread, &user).await?;
    let threads: Vec<Group> = threads.into_iter().filter(|t| t.parent.as_deref() == Some(group)).collect();
    let (items, cursor) = page(threads, &page_request(&query)?);
    Ok(listing(target, &format!("/threads/chatgroups/{group}/user/{user}"), &items, cursor, &query))
}

/// Every thread of a group (the SDK's `getChatThreads`), for its members.
pub async fn of_group(auth: AnyAuth, Path(params): Params, Query(query): QueryMap) -> Result<Response, EasemobError> {
    let group = param(&params, "group");
    let target = &auth.0;
    let parent = GroupRef { kind: ChatType::GroupChat, id: group };
    let (_, members) = target.core.groups.members(target.app.id, parent).await.map_err(thread_error)?;
    if let Principal::User { username: me, .. } = &auth.1 {
        if !members.iter().any(|m| m.username == *me) {
            return Err(thread_error(Error::Forbidden(format!("user {me} is not in group {group}"))));
        }
    }
    let threads = target.core.groups.threads_of(target.app.id, group).await?;
    let (items, cursor) = page(threads, &page_request(&query)?);
    Ok(listing(target, &format!("/threads/chatgroups/{group}"), &items, cursor, &query))
}

/// E-thr-4's body.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct NewThread {
    /// The group's ID (a string, or a number).
    #[schema(value_type = String)]
    group_id: Option<Value>,
    /// At most 64 characters.
    #[schema(value_type = String)]
    name: Option<Value>,
    /// The owner's username.
    #[schema(value_type = String)]
    owner: Option<Value>,
    /// The group message the thread starts from.
    #[schema(value_type = String)]
    msg_id: Option<Value>,
}

/// E-thr-4: start a thread from a group message.
pub async fn create(
    auth: AnyAuth,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, NewThread>,
) -> Result<Response, EasemobError> {
    let group = id_field(&body.group_id).ok_or_else(|| bad("group_id must be provided"))?;
    let name = body.name.as_ref().and_then(Value::as_str).ok_or_else(|| bad("name must be provided"))?;
    let owner = body.owner.as_ref().and_then(Value::as_str).ok_or_else(|| bad("owner must be provided"))?;
    let message = id_field(&body.msg_id).ok_or_else(|| bad("msg_id must be provided"))?;
    let message = MessageId::parse(&message).ok_or_else(|| thread_error(Error::NotFound("msg not exist.".into())))?;
    if name.chars().count() > limits::THREAD_NAME_CHARS {
        return Err(bad("thread name limit reached."));
    }
    let owner = username(owner)?;
    auth.require_self_or_app(&owner)?;
    let target = &auth.0;
    let created = target.core.groups.create_thread(target.app.id, &group, name.to_owned(), owner, message).await;
    let thread = created.map_err(|e| match e {
        Error::NotFound(m) if m.starts_with("grpID") => thread_error(Error::NotFound("group not found.".into())),
        Error::Refused(_) => thread_error(Error::NotFound("user not in group.".into())),
        // A second thread from one message: the vendor refuses it as forbidden.
        Error::Duplicate(m) => thread_error(Error::Forbidden(m)),
        other => thread_error(other),
    })?;
    Ok(target.envelope("post", "/thread").data(json!({"thread_id": thread.id})).into_response())
}

/// E-thr-5's body.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct ThreadName {
    /// At most 64 characters.
    #[schema(value_type = String)]
    name: Option<Value>,
}

/// E-thr-5: rename.
pub async fn rename(
    AppAuth(target): AppAuth,
    Path(params): Params,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, ThreadName>,
) -> Result<Response, EasemobError> {
    let id = param(&params, "id");
    let name = body.name.as_ref().and_then(Value::as_str).ok_or_else(|| bad("name must be provided"))?;
    if name.chars().count() > limits::THREAD_NAME_CHARS {
        return Err(bad("thread name limit reached."));
    }
    let thread = target.core.groups.rename_thread(target.app.id, id, name.to_owned()).await.map_err(thread_error)?;
    Ok(target.envelope("put", &format!("/thread/{id}")).data(json!({"name": thread.settings.name})).into_response())
}

/// E-thr-6; with a user's token, only the thread's owner may.
pub async fn delete(auth: AnyAuth, Path(params): Params) -> Result<Response, EasemobError> {
    let id = param(&params, "id");
    let target = &auth.0;
    if let Principal::User { username: me, .. } = &auth.1 {
        let found = target.core.groups.get(target.app.id, thread(id)).await.map_err(thread_error)?;
        if found.owner != *me {
            return Err(thread_error(Error::Forbidden(format!("user {me} is not the owner of thread {id}"))));
        }
    }
    target.core.groups.delete(target.app.id, thread(id)).await.map_err(thread_error)?;
    Ok(target.envelope("delete", &format!("/thread/{id}")).data(json!({"status": "ok"})).into_response())
}

/// E-thr-7: members, `limit` (≤ 50) at a time in joining order; with a
/// user's token, for the thread's members only.
pub async fn members(auth: AnyAuth, Path(params): Params, Query(query): QueryMap) -> Result<Response, EasemobError> {
    let id = param(&params, "id");
    let target = &auth.0;
    let limit = page_limit(&query, "limit", MAX_PAGE, usize::MAX)?;
    if limit > MAX_PAGE {
        return Err(bad("query param reaches limit."));
    }
    let offset = match query.get("cursor") {
        Some(c) => usize::try_from(decode_cursor(c)?).map_err(|_| bad("cursor is not valid"))?,
        None => 0,
    };
    let (_, members) = target.core.groups.members(target.app.id, thread(id)).await.map_err(thread_error)?;
    if let Principal::User { username: me, .. } = &auth.1 {
        if !members.iter().any(|m| m.username == *me) {
            return Err(thread_error(Error::Forbidden(format!("user {me} is not in thread {id}"))));
        }
    }
    let names: Vec<&str> = members.iter().skip(offset).take(limit).map(|m| m.username.as_str()).collect();
    let next = offset + names.len();
    let cursor = (next < members.len()).then(|| encode_cursor(next as i64));
    Ok(target
        .envelope("get", &format!("/thread/{id}/users"))
        .with("params", echo_params(&query))
        .data(json!({"affiliations": names}))
        .with("properties", json!({ "cursor": cursor }))
        .into_response())
}

/// The body of E-thr-8 and E-thr-9.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct ThreadUsers {
    /// 1 to 10 usernames.
    #[schema(value_type = Vec<String>)]
    usernames: Option<Value>,
}

fn body_users(body: &ThreadUsers) -> Result<Vec<Username>, EasemobError> {
    let items = body.usernames.as_ref().and_then(Value::as_array).ok_or_else(|| bad("usernames must be provided"))?;
    if items.is_empty() {
        return Err(bad("usernames can't be empty"));
    }
    if items.len() > limits::THREAD_BATCH_USERS {
        return Err(bad("request body reaches limit."));
    }
    items.iter().map(|v| v.as_str().ok_or_else(|| bad("usernames must be strings")).and_then(username)).collect()
}

/// E-thr-8: members of the thread's group join it.
pub async fn join(
    AppAuth(target): AppAuth,
    Path(params): Params,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, ThreadUsers>,
) -> Result<Response, EasemobError> {
    let id = param(&params, "id");
    let users = body_users(&body)?;
    let added = target.core.groups.add_members(target.app.id, thread(id), users).await;
    added.map_err(|e| match e {
        Error::Refused(_) => thread_error(Error::NotFound("user not in group.".into())),
        other => thread_error(other),
    })?;
    Ok(target.envelope("post", &format!("/thread/{id}/joined_thread")).data(json!({"status": "ok"})).into_response())
}

/// E-thr-9: remove members.
pub async fn kick(
    AppAuth(target): AppAuth,
    Path(params): Params,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, ThreadUsers>,
) -> Result<Response, EasemobError> {
    let id = param(&params, "id");
    let users = body_users(&body)?;
    let changed = target.core.groups.remove_members(target.app.id, thread(id), users).await.map_err(thread_error)?;
    let mut entities: Vec<Value> =
        changed.changed.iter().map(|u| json!({"result": true, "user": u.as_str()})).collect();
    entities.extend(changed.refused.iter().map(|(u, _)| json!({"result": false, "user": u.as_str()})));
    Ok(target.envelope("delete", &format!("/thread/{id}/users")).entities(entities).into_response())
}

/// The SDK's `joinChatThread`: the user joins a thread of a group they are
/// in, and gets the thread's details.
pub async fn join_one(auth: AnyAuth, Path(params): Params) -> Result<Response, EasemobError> {
    let id = param(&params, "id");
    let user = username(param(&params, "username"))?;
    auth.require_self_or_app(&user)?;
    let target = &auth.0;
    let added = target.core.groups.add_members(target.app.id, thread(id), vec![user.clone()]).await;
    let added = added.map_err(|e| match e {
        Error::Refused(_) => thread_error(Error::NotFound("user not in group.".into())),
        other => thread_error(other),
    })?;
    if added.refused.iter().any(|(_, why)| *why != Refusal::AlreadyMember) {
        return Err(thread_error(Error::NotFound("user not in group.".into())));
    }
    let mut detail = entity(&added.group);
    detail["affiliationsCount"] = json!(added.group.member_count);
    let path = format!("/thread/{id}/user/{user}/join");
    Ok(target.envelope("post", &path).data(json!({"detail": detail})).into_response())
}

/// The SDK's `leaveChatThread`: the user leaves a thread.
pub async fn quit_one(auth: AnyAuth, Path(params): Params) -> Result<Response, EasemobError> {
    let id = param(&params, "id");
    let user = username(param(&params, "username"))?;
    auth.require_self_or_app(&user)?;
    let target = &auth.0;
    target.core.groups.remove_members(target.app.id, thread(id), vec![user.clone()]).await.map_err(thread_error)?;
    let path = format!("/thread/{id}/user/{user}/quit");
    Ok(target.envelope("delete", &path).data(json!({"result": true})).into_response())
}
