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
mod settings;

pub use callers::*;
pub use lists::*;
use members::results;
pub use members::*;
pub use rooms::*;
pub use settings::*;

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

/// A body naming users: adding members, inviting, and the block, allow and
/// mute lists.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct UsersBody {
    /// The usernames.
    #[schema(value_type = Vec<String>)]
    usernames: Option<Value>,
}

/// The `usernames` of a batch body, as users.
fn body_users(usernames: &Option<Value>) -> Result<Vec<Username>, EasemobError> {
    let Some(items) = usernames.as_ref().and_then(Value::as_array) else {
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

/// E-grp-6 / E-room-6; with a user's token, the owner's (`destroyGroup`).
pub async fn delete<K: Kind>(call: UserOnGroup<K>) -> Result<Response, EasemobError> {
    call.allow(Role::Owner).await?;
    let UserOnGroup { target, id, .. } = call;
    let id = id.as_str();
    let group = target.core.groups.delete(target.app.id, group_ref::<K>(id)).await.map_err(group_error)?;
    let data = json!({"success": true, K::ID_KEY: group.id});
    Ok(target.envelope("delete", &format!("{}/{id}", K::PATH)).data(data).into_response())
}
