//! Groups (E-grp-1 to E-grp-18) and chat rooms (E-room-1 to E-room-13).
//!
//! The two share most endpoints and shapes; [`Kind`] carries what differs
//! (path, the key that names the group in answers, the status for acting on
//! a non-member). Handlers are generic over it and registered once per kind.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use confab_core::error::{Error, Refusal, Refused};
use confab_core::groups::{limits, GroupRef};
use confab_core::model::{App, ChatType, Group, GroupList, GroupSettings, Member, Role, SettingsPatch, Username};
use confab_core::storage::GroupChanged;

use super::{
    decode_cursor, echo_params, encode_cursor, page_limit, param, AnyAuth, AppAuth, EasemobError, JsonBody, Target,
    DEFAULT_BODY_LIMIT,
};

mod callers;
mod lists;
mod members;
mod rooms;

pub use callers::*;
pub use lists::*;
use members::results;
pub use members::*;
pub use rooms::*;

/// What differs between groups and chat rooms on the wire.
pub trait Kind: Send + Sync + 'static {
    const CHAT_TYPE: ChatType;
    /// `/chatgroups` or `/chatrooms`.
    const PATH: &'static str;
    /// The key naming the group in single-result answers.
    const ID_KEY: &'static str;
    /// The key naming the group in block and allow list answers.
    const LIST_ID_KEY: &'static str;
    /// The status of a refusal to act on a non-member (the vendor uses 403
    /// for groups and 400 for chat rooms).
    const NON_MEMBER_STATUS: StatusCode;
    const DEFAULT_MAX_USERS: u32;
}

pub struct Groups;
pub struct Rooms;

impl Kind for Groups {
    const CHAT_TYPE: ChatType = ChatType::GroupChat;
    const PATH: &'static str = "/chatgroups";
    const ID_KEY: &'static str = "groupid";
    const LIST_ID_KEY: &'static str = "groupid";
    const NON_MEMBER_STATUS: StatusCode = StatusCode::FORBIDDEN;
    const DEFAULT_MAX_USERS: u32 = limits::GROUP_DEFAULT_MAX_USERS;
}

impl Kind for Rooms {
    const CHAT_TYPE: ChatType = ChatType::ChatRoom;
    const PATH: &'static str = "/chatrooms";
    const ID_KEY: &'static str = "id";
    const LIST_ID_KEY: &'static str = "chatroomid";
    const NON_MEMBER_STATUS: StatusCode = StatusCode::BAD_REQUEST;
    const DEFAULT_MAX_USERS: u32 = limits::ROOM_DEFAULT_MAX_USERS;
}

type Params = Path<HashMap<String, String>>;
type QueryMap = Query<HashMap<String, String>>;

/// Group endpoints answer a missing group with `resource_not_found` and the
/// vendor's text; everything else as the dialect always does.
pub fn group_error(e: Error) -> EasemobError {
    match e {
        Error::NotFound(m) => {
            EasemobError::new(StatusCode::NOT_FOUND, "resource_not_found", "ResourceNotFoundException", m)
        }
        other => other.into(),
    }
}

fn invalid_parameter(description: impl Into<String>) -> EasemobError {
    EasemobError::new(StatusCode::BAD_REQUEST, "invalid_parameter", "InvalidParameterException", description)
}

fn forbidden(status: StatusCode, description: impl Into<String>) -> EasemobError {
    EasemobError::new(status, "forbidden_op", "EasemobForbiddenOpException", description)
}

fn group_ref<K: Kind>(id: &str) -> GroupRef<'_> {
    GroupRef { kind: K::CHAT_TYPE, id }
}

/// The preamble every handler on one group or room shares: the app token
/// checked first (nothing is parsed for an unauthenticated caller), then
/// the group's `{id}` and the rest of the path.
pub struct OnGroup<K> {
    pub target: crate::easemob::Target,
    pub id: String,
    pub params: HashMap<String, String>,
    kind: std::marker::PhantomData<K>,
}

impl<K: Kind> axum::extract::FromRequestParts<crate::easemob::State> for OnGroup<K> {
    type Rejection = EasemobError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::easemob::State,
    ) -> Result<Self, Self::Rejection> {
        let AppAuth(target) = AppAuth::from_request_parts(parts, state).await?;
        let Path(params) =
            Params::from_request_parts(parts, state).await.map_err(|e| invalid_parameter(format!("bad path: {e}")))?;
        let id = param(&params, "id").to_owned();
        Ok(OnGroup { target, id, params, kind: std::marker::PhantomData })
    }
}

/// A user ID from a path or body; the vendor answers unknown shapes as missing users.
fn username(raw: &str) -> Result<Username, EasemobError> {
    Username::easemob(raw).map_err(|_| group_error(Error::NotFound(format!("username {raw} doesn't exist!"))))
}

/// Comma-separated user IDs from a path segment.
fn path_users(raw: &str) -> Result<Vec<Username>, EasemobError> {
    raw.split(',').filter(|s| !s.is_empty()).map(username).collect()
}

/// The `usernames` array of a batch body.
fn body_users(body: &Value) -> Result<Vec<Username>, EasemobError> {
    let Some(items) = body.get("usernames").and_then(Value::as_array) else {
        return Err(invalid_parameter("usernames must be provided as an array"));
    };
    items
        .iter()
        .map(|v| v.as_str().ok_or_else(|| invalid_parameter("usernames must be strings")).and_then(username))
        .collect()
}

fn check_count(what: &str, len: usize, cap: usize) -> Result<(), EasemobError> {
    if len == 0 {
        return Err(invalid_parameter(format!("{what} can't be empty")));
    }
    if len > cap {
        return Err(invalid_parameter(format!("{what} number more than maxSize : {cap}")));
    }
    Ok(())
}

/// The owner as list answers show it: `org#app_user`.
fn qualified(app: &App, user: &Username) -> String {
    format!("{}#{}_{user}", app.org, app.name)
}

/// `[{"owner": u}, {"member": u}, …]`: admins are members on this wire.
fn affiliations(members: &[Member]) -> Vec<Value> {
    members
        .iter()
        .map(|m| match m.role {
            Role::Owner => json!({"owner": m.username.as_str()}),
            Role::Admin | Role::Member => json!({"member": m.username.as_str()}),
        })
        .collect()
}

fn details(group: &Group, members: &[Member]) -> Value {
    let s = &group.settings;
    json!({
        "id": group.id,
        "name": s.name,
        "description": s.description,
        "avatar": s.avatar,
        "membersonly": s.members_only,
        "allowinvites": s.allow_invites,
        "invite_need_confirm": s.invite_need_confirm,
        "maxusers": s.max_users,
        "owner": group.owner.as_str(),
        "created": group.created_ms,
        "custom": s.custom,
        "mute": group.mute_all,
        "public": s.public,
        "disabled": false,
        "affiliations_count": group.member_count,
        "affiliations": affiliations(members),
    })
}

fn bool_field(body: &Map<String, Value>, key: &str) -> Result<Option<bool>, EasemobError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(invalid_parameter(format!("{key} must be true or false"))),
    }
}

fn text_field(body: &Map<String, Value>, key: &str) -> Result<Option<String>, EasemobError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid_parameter(format!("{key} must be a string"))),
    }
}

fn max_users_field(body: &Map<String, Value>) -> Result<Option<u32>, EasemobError> {
    match body.get("maxusers") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| invalid_parameter("maxusers must be a positive whole number")),
    }
}

fn object(body: Value) -> Result<Map<String, Value>, EasemobError> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(EasemobError::invalid_body("expected a JSON object")),
    }
}

/// E-grp-4 / E-room-4: create.
/// A user's own token may create a group they own (the SDK's `createGroup`).
pub async fn create<K: Kind>(
    auth: AnyAuth,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT>,
) -> Result<Response, EasemobError> {
    let body = object(body)?;
    let owner = text_field(&body, "owner")?.ok_or_else(|| invalid_parameter("owner must be provided"))?;
    let owner = username(&owner)?;
    auth.require_self_or_app(&owner)?;
    let target = &auth.0;
    let (name_key, description_keys): (&str, &[&str]) = match K::CHAT_TYPE {
        ChatType::ChatRoom => ("name", &["description"]),
        _ => ("groupname", &["description", "desc"]),
    };
    let public = match K::CHAT_TYPE {
        ChatType::ChatRoom => bool_field(&body, "public")?.unwrap_or(true),
        _ => bool_field(&body, "public")?.ok_or_else(|| invalid_parameter("group must contain public field!"))?,
    };
    let mut description = String::new();
    for key in description_keys {
        if let Some(text) = text_field(&body, key)? {
            description = text;
            break;
        }
    }
    // A group's name is optional in the vendor's current documents (a chat
    // room's is not); one that is given must say something.
    let name = match (K::CHAT_TYPE, text_field(&body, name_key)?) {
        (_, Some(name)) if !name.trim().is_empty() => name,
        (ChatType::GroupChat, None) => String::new(),
        _ => return Err(invalid_parameter(format!("{name_key} must be provided"))),
    };
    let settings = GroupSettings {
        name,
        description,
        public,
        max_users: max_users_field(&body)?.unwrap_or(K::DEFAULT_MAX_USERS),
        // A public group's members may not invite, as the vendor forces.
        allow_invites: !public && bool_field(&body, "allowinvites")?.unwrap_or(false),
        members_only: bool_field(&body, "membersonly")?.unwrap_or(false),
        invite_need_confirm: bool_field(&body, "invite_need_confirm")?.unwrap_or(true),
        custom: text_field(&body, "custom")?.unwrap_or_default(),
        announcement: String::new(),
        avatar: text_field(&body, "avatar")?.unwrap_or_default(),
        dialect: Default::default(),
    };
    let members = match body.get("members") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().ok_or_else(|| invalid_parameter("members must be strings")).and_then(username))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid_parameter("members must be an array")),
    };
    let group = target
        .core
        .groups
        .create(target.app.id, K::CHAT_TYPE, None, owner, settings, members)
        .await
        .map_err(group_error)?;
    let data = json!({ K::ID_KEY: group.id });
    Ok(target.envelope("post", K::PATH).data(data).into_response())
}

/// E-grp-1 / E-room-1: every group of the app, newest first, `limit` at a time.
pub async fn list<K: Kind>(AppAuth(target): AppAuth, Query(query): QueryMap) -> Result<Response, EasemobError> {
    let after = query.get("cursor").map(|c| decode_cursor(c)).transpose()?;
    let limit = page_limit(&query, "limit", 10, 1000)?;
    let page = target.core.groups.list(target.app.id, K::CHAT_TYPE, after, limit, true).await?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|g| match K::CHAT_TYPE {
            ChatType::ChatRoom => json!({
                "id": g.id,
                "name": g.settings.name,
                "owner": g.owner.as_str(),
                "affiliations_count": g.member_count,
            }),
            _ => json!({
                "groupid": g.id,
                "groupname": g.settings.name,
                "owner": qualified(&target.app, &g.owner),
                "affiliations": g.member_count,
                "type": "group",
                "lastModified": g.version.max(g.created_ms).to_string(),
            }),
        })
        .collect();
    let mut envelope = target
        .envelope("get", K::PATH)
        .with("params", echo_params(&query))
        .with("entities", json!([]))
        .with("count", json!(items.len()))
        .data(Value::Array(items));
    if let Some(next) = page.next {
        envelope = envelope.with("cursor", json!(encode_cursor(next)));
    }
    Ok(envelope.into_response())
}

/// E-grp-2 / E-room-2: the groups a user belongs to, newest first. The
/// user's own token may ask too (the SDK's `getJoinedGroups`, which adds
/// `version=v3`: pages from 0, and each group's `id`, `name`, `disabled`
/// and the user's `permission`).
pub async fn joined<K: Kind>(
    auth: AnyAuth,
    Path(params): Params,
    Query(query): QueryMap,
) -> Result<Response, EasemobError> {
    let user = username(param(&params, "username"))?;
    auth.require_self_or_app(&user)?;
    let target = &auth.0;
    let v3 = query.get("version").is_some_and(|v| v == "v3");
    let mut groups = target.core.groups.joined(target.app.id, K::CHAT_TYPE, &user).await?;
    groups.reverse();
    let paged = query.contains_key("pagesize") || query.contains_key("pagenum");
    let groups: Vec<Group> = if paged {
        let size = page_limit(&query, "pagesize", 10, 1000)?;
        // The REST API counts pages from 1; the SDK's v3 form from 0. Older
        // SDKs (agora-chat 1.4) send 0 without v3: the first page too.
        let skip = match (v3, query.get("pagenum").map(String::as_str)) {
            (true, _) => page_from_zero(&query)?,
            (false, Some("0")) => 0,
            (false, _) => page_limit(&query, "pagenum", 1, usize::MAX)? - 1,
        };
        groups.into_iter().skip(size.saturating_mul(skip)).take(size).collect()
    } else {
        groups.into_iter().take(500).collect()
    };
    let mut items = Vec::with_capacity(groups.len());
    for g in &groups {
        items.push(match K::CHAT_TYPE {
            ChatType::ChatRoom => json!({"id": g.id, "name": g.settings.name, "disabled": "false"}),
            _ if v3 => json!({"groupid": g.id, "groupname": g.settings.name, "id": g.id, "name": g.settings.name,
                              "disabled": false, "permission": permission(target, g, &user).await?}),
            _ => json!({"groupid": g.id, "groupname": g.settings.name}),
        });
    }
    let path = format!("/users/{user}/joined_{}", &K::PATH[1..]);
    Ok(target
        .envelope("get", &path)
        .with("params", echo_params(&query))
        .with("entities", json!([]))
        .with("count", json!(items.len()))
        .data(Value::Array(items))
        .into_response())
}

/// A page number counted from 0 (`pagenum`, default 0).
fn page_from_zero(query: &HashMap<String, String>) -> Result<usize, EasemobError> {
    match query.get("pagenum") {
        None => Ok(0),
        Some(raw) => raw
            .parse::<usize>()
            .map_err(|_| EasemobError::illegal_argument(format!("pagenum [{raw}] must be a whole number from 0"))),
    }
}

/// The user's standing in a group, in the vendor's words.
async fn permission(target: &Target, group: &Group, user: &Username) -> Result<&'static str, EasemobError> {
    if group.owner == *user {
        return Ok("owner");
    }
    let (_, members) = target.core.groups.members(target.app.id, GroupRef { kind: group.kind, id: &group.id }).await?;
    let role = members.iter().find(|m| m.username == *user).map(|m| m.role);
    Ok(match role {
        Some(Role::Owner) => "owner",
        Some(Role::Admin) => "admin",
        _ => "member",
    })
}

/// E-grp-2, the current docs' form: `GET /chatgroups/user/{username}`, newest
/// first, `pagesize` (1-20, default 5) from page `pagenum` (from 0), in
/// `entities` with the `total`; `needRole` adds the user's `permission` and
/// `needAffiliations` the member count (`affiliations_count`). The user's
/// own token may ask too (the SDK's `getJoinedGroups` with those options).
pub async fn joined_entities(
    auth: AnyAuth,
    Path(params): Params,
    Query(query): QueryMap,
) -> Result<Response, EasemobError> {
    let user = username(param(&params, "username"))?;
    auth.require_self_or_app(&user)?;
    let target = &auth.0;
    let size = page_limit(&query, "pagesize", 5, 20)?;
    let number = page_from_zero(&query)?;
    let need_role = query.get("needRole").is_some_and(|v| v == "true");
    let need_count = query.get("needAffiliations").is_some_and(|v| v == "true");
    let mut groups = target.core.groups.joined(target.app.id, ChatType::GroupChat, &user).await?;
    groups.reverse();
    let total = groups.len();
    let mut entities = Vec::new();
    for g in groups.iter().skip(size.saturating_mul(number)).take(size) {
        let mut entity = json!({
            "groupId": g.id,
            "id": g.id,
            "name": g.settings.name,
            "avatar": g.settings.avatar,
            "owner": g.owner.as_str(),
            "description": g.settings.description,
            "disabled": false,
            "public": g.settings.public,
            "allowinvites": g.settings.allow_invites,
            "membersonly": g.settings.members_only,
            "maxusers": g.settings.max_users,
            "created": g.created_ms,
        });
        if need_role {
            entity["permission"] = json!(permission(target, g, &user).await?);
        }
        if need_count {
            entity["affiliations_count"] = json!(g.member_count);
        }
        entities.push(entity);
    }
    Ok(target
        .envelope("get", &format!("/chatgroups/user/{user}"))
        .with("params", echo_params(&query))
        .with("total", json!(total))
        .entities(entities)
        .into_response())
}

/// E-grp-3 / E-room-3: details of up to 100 comma-separated groups.
pub async fn details_of<K: Kind>(AppAuth(target): AppAuth, Path(params): Params) -> Result<Response, EasemobError> {
    let ids: Vec<&str> = param(&params, "id").split(',').filter(|s| !s.is_empty()).collect();
    if ids.len() > 100 {
        return Err(invalid_parameter("at most 100 ids may be asked for at once"));
    }
    let mut data = Vec::with_capacity(ids.len());
    let mut first_error = None;
    for id in &ids {
        match target.core.groups.members(target.app.id, group_ref::<K>(id)).await {
            Ok((group, members)) => data.push(details(&group, &members)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let (true, Some(e)) = (data.is_empty(), first_error) {
        return Err(group_error(e));
    }
    let path = format!("{}/{}", K::PATH, ids.join(","));
    Ok(target.envelope("get", &path).with("count", json!(data.len())).data(Value::Array(data)).into_response())
}

/// E-grp-5 / E-grp-14 / E-room-5: change settings, or transfer ownership with `newowner`.
pub async fn modify<K: Kind>(
    OnGroup { target, id, .. }: OnGroup<K>,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT>,
) -> Result<Response, EasemobError> {
    let id = id.as_str();
    let body = object(body)?;
    let path = format!("{}/{id}", K::PATH);
    if let Some(owner) = text_field(&body, "newowner")? {
        let owner = username(&owner)?;
        match target.core.groups.transfer_owner(target.app.id, group_ref::<K>(id), owner).await {
            Ok(_) => {}
            Err(Error::Refused(r)) if r.why == Refusal::AlreadyOwner => {
                return Err(forbidden(StatusCode::FORBIDDEN, "new owner and old owner are the same"))
            }
            Err(e) => return Err(group_error(e)),
        }
        return Ok(target.envelope("put", &path).data(json!({"newowner": true})).into_response());
    }
    let allowed: &[&str] = match K::CHAT_TYPE {
        ChatType::ChatRoom => &["name", "description", "maxusers"],
        _ => &[
            "groupname",
            "description",
            "maxusers",
            "membersonly",
            "allowinvites",
            "invite_need_confirm",
            "public",
            "custom",
            "avatar",
        ],
    };
    if let Some(bad) = body.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(invalid_parameter(format!("some of [{bad}] are not valid fields")));
    }
    let name_key = if K::CHAT_TYPE == ChatType::ChatRoom { "name" } else { "groupname" };
    let name = text_field(&body, name_key)?;
    if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(invalid_parameter(format!("{name_key} can't be empty")));
    }
    let description = text_field(&body, "description")?;
    if K::CHAT_TYPE == ChatType::ChatRoom {
        room_limits(name.as_deref(), description.as_deref(), max_users_field(&body)?)?;
    }
    let patch = SettingsPatch {
        name,
        description,
        custom: text_field(&body, "custom")?,
        avatar: text_field(&body, "avatar")?,
        max_users: max_users_field(&body)?,
        members_only: bool_field(&body, "membersonly")?,
        allow_invites: bool_field(&body, "allowinvites")?,
        invite_need_confirm: bool_field(&body, "invite_need_confirm")?,
        public: bool_field(&body, "public")?,
        announcement: None,
        dialect: None,
    };
    target.core.groups.update(target.app.id, group_ref::<K>(id), patch).await.map_err(group_error)?;
    // The vendor answers each field it was sent with `true`; a room's name
    // is reported as `groupname`.
    let mut data = Map::new();
    for key in body.keys() {
        let key = if key == "name" { "groupname" } else { key.as_str() };
        data.insert(key.to_owned(), json!(true));
    }
    Ok(target.envelope("put", &path).data(Value::Object(data)).into_response())
}

/// A room's documented limits, refused with the vendor's `exceed_limit` words.
fn room_limits(name: Option<&str>, description: Option<&str>, max_users: Option<u32>) -> Result<(), EasemobError> {
    let exceed = |m: String| EasemobError::from(Error::LimitExceeded(m));
    if name.is_some_and(|n| n.chars().count() > limits::NAME_CHARS) {
        return Err(exceed(format!("title cannot exceed to {}", limits::NAME_CHARS)));
    }
    if description.is_some_and(|d| d.chars().count() > limits::DESCRIPTION_CHARS) {
        return Err(exceed(format!("desc cannot exceed to {}", limits::DESCRIPTION_CHARS)));
    }
    if max_users.is_some_and(|m| m > limits::ROOM_MAX_USERS) {
        return Err(exceed(format!("maxUsers cannot exceed {}", limits::ROOM_MAX_USERS)));
    }
    Ok(())
}

/// E-grp-6 / E-room-6; with a user's token, the owner's (`destroyGroup`).
pub async fn delete<K: Kind>(call: UserOnGroup<K>) -> Result<Response, EasemobError> {
    call.allow(Role::Owner).await?;
    let UserOnGroup { target, id, .. } = call;
    let id = id.as_str();
    let group = target.core.groups.delete(target.app.id, group_ref::<K>(id)).await.map_err(group_error)?;
    let data = json!({"success": true, K::ID_KEY: group.id});
    Ok(target.envelope("delete", &format!("{}/{id}", K::PATH)).data(data).into_response())
}
