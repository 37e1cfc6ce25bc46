//! The console's apps, users, groups and messages: each call is one core
//! service call (the same the REST dialects make) and, for a change, one
//! audit log entry.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use confab_core::apps::AppCredentials;
use confab_core::groups::GroupRef;
use confab_core::ids::MessageId;
use confab_core::model::{
    direct_conversation_key, App, AttributeChange, ChatType, Group, GroupList, Message, MessageState, ProfileChange,
    User, Username,
};
use confab_core::storage::{CredentialChange, MessageQuery};

use super::session::SignedIn;
use super::{app_label, audit, ApiError, Body, Console};

/// Most messages one history page shows.
const MAX_PAGE: usize = 200;
/// Most JSON bytes of a user's attributes set from the console (Easemob's cap).
const MAX_ATTRIBUTE_BYTES: usize = 2 * 1024;

type Answer = Result<Json<Value>, ApiError>;

async fn app_named(console: &Console, org: &str, name: &str) -> Result<Arc<App>, ApiError> {
    console
        .core
        .apps
        .by_name(org, name)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no app {org}/{name}")))
}

fn username(raw: &str) -> Result<Username, ApiError> {
    Username::parse(raw).map_err(ApiError::from)
}

fn app_json(console: &Console, app: &App) -> Value {
    // Every limit the server knows, with this app's value and whether it is its own.
    let limits: BTreeMap<String, Value> = crate::limits::vendor_defaults()
        .into_keys()
        .map(|name| {
            let value = console.limits.value(app, &name);
            let own = app.rate_limits.contains_key(&name);
            (name, json!({ "value": value, "own": own }))
        })
        .collect();
    json!({
        "org": app.org,
        "name": app.name,
        "uuid": app.uuid,
        "client_id": app.client_id,
        "created_ms": app.created_ms,
        "limits": limits,
    })
}

/// `GET /console/api/apps`: every app, without secrets.
pub async fn list_apps(State(console): State<Console>, _: SignedIn) -> Answer {
    let apps = console.core.apps.list().await?;
    Ok(Json(json!({ "apps": apps.iter().map(|a| app_json(&console, a)).collect::<Vec<_>>() })))
}

#[derive(Deserialize)]
pub struct NewApp {
    org: String,
    name: String,
}

/// `POST /console/api/apps`: creates an app with credentials for every
/// dialect, answered once (they are not shown again).
pub async fn create_app(State(console): State<Console>, who: SignedIn, Body(new): Body<NewApp>) -> Answer {
    let apps = &console.core.apps;
    if apps.by_name(&new.org, &new.name).await?.is_some() {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("app {}/{} exists", new.org, new.name)));
    }
    apps.create(&new.org, &new.name, AppCredentials::default()).await?;
    let mut change = CredentialChange::default();
    for (name, _, _, bytes) in crate::FIRST_APP_CREDENTIALS.iter().skip(2) {
        change.replace.insert(name.to_string(), confab_core::auth::random_key(*bytes));
    }
    let app = apps.change_credentials(&new.org, &new.name, change).await?;
    audit(&console, &who.operator.name, app_label(&app.org, &app.name), "app.create", None, None).await;
    let mut credentials = json!({ "client_id": app.client_id, "client_secret": app.client_secret });
    for (name, value) in &app.credentials {
        credentials[name] = json!(value);
    }
    Ok(Json(json!({ "app": app_json(&console, &app), "credentials": credentials })))
}

#[derive(Deserialize)]
pub struct LimitValue {
    /// `null` goes back to the server's default.
    value: Option<u32>,
}

/// `PUT /console/api/apps/{org}/{app}/limits/{name}`: one of an app's
/// limits (rate limits and history retention).
pub async fn set_limit(
    State(console): State<Console>,
    who: SignedIn,
    Path((org, name, limit)): Path<(String, String, String)>,
    Body(body): Body<LimitValue>,
) -> Answer {
    if !crate::limits::vendor_defaults().contains_key(&limit) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, format!("no limit named {limit}")));
    }
    app_named(&console, &org, &name).await?;
    let app = console.core.apps.set_rate_limit(&org, &name, &limit, body.value).await?;
    let detail = body.value.map_or("server default".to_owned(), |v| v.to_string());
    audit(&console, &who.operator.name, app_label(&org, &name), "app.limit", Some(limit), Some(detail)).await;
    Ok(Json(app_json(&console, &app)))
}

#[derive(Deserialize)]
pub struct Search {
    #[serde(default)]
    prefix: String,
    limit: Option<usize>,
}

fn user_json(user: &User, online: Option<bool>) -> Value {
    json!({
        "username": user.username.as_str(),
        "uuid": user.uuid,
        "nickname": user.nickname,
        "activated": user.activated,
        "created_ms": user.created_ms,
        "modified_ms": user.modified_ms,
        "online": online,
    })
}

/// `GET /console/api/apps/{org}/{app}/users?prefix=`: users by ID prefix.
pub async fn search_users(
    State(console): State<Console>,
    _: SignedIn,
    Path((org, name)): Path<(String, String)>,
    Query(search): Query<Search>,
) -> Answer {
    let app = app_named(&console, &org, &name).await?;
    let found = console.core.users.search(app.id, &search.prefix, search.limit.unwrap_or(50)).await?;
    let names: Vec<Username> = found.iter().map(|u| u.username.clone()).collect();
    let online = console.core.users.online(app.id, &names).await;
    let users: Vec<Value> = found.iter().zip(online).map(|(u, on)| user_json(u, Some(on))).collect();
    Ok(Json(json!({ "users": users })))
}

/// `GET /console/api/apps/{org}/{app}/users/{user}`: a user, their devices
/// online now, attributes, push settings and groups.
pub async fn user(
    State(console): State<Console>,
    _: SignedIn,
    Path((org, name, user)): Path<(String, String, String)>,
) -> Answer {
    let app = app_named(&console, &org, &name).await?;
    let user = console.core.users.get(app.id, &username(&user)?).await?;
    let devices = console.core.users.devices(app.id, &user.username).await;
    let mut answer = user_json(&user, Some(!devices.is_empty()));
    answer["devices"] = json!(devices);
    answer["attributes"] = json!(user.attributes);
    answer["push"] = json!({
        "display_style": user.push.display_style,
    });
    let mut groups = Vec::new();
    for kind in [ChatType::GroupChat, ChatType::ChatRoom] {
        for group in console.core.groups.joined(app.id, kind, &user.username).await? {
            groups.push(json!({ "kind": kind_name(kind), "id": group.id, "name": group.settings.name }));
        }
    }
    answer["groups"] = json!(groups);
    answer["unread"] = json!(console.core.messages.unread_count(app.id, &user.username, None).await?);
    Ok(Json(answer))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct UserAction {
    password: Option<String>,
}

/// `POST /console/api/apps/{org}/{app}/users/{user}/{action}`: `deactivate`,
/// `activate`, `kick` (every device offline now) or `password` (`{"password"}`).
pub async fn act_on_user(
    State(console): State<Console>,
    who: SignedIn,
    Path((org, name, user, action)): Path<(String, String, String, String)>,
    Body(body): Body<UserAction>,
) -> Answer {
    let app = app_named(&console, &org, &name).await?;
    let user = username(&user)?;
    let users = &console.core.users;
    match action.as_str() {
        "deactivate" => drop(users.deactivate(app.id, &user).await?),
        "activate" => drop(users.activate(app.id, &user).await?),
        "kick" => users.disconnect(app.id, &user).await?,
        "password" => {
            let password = body.password.ok_or_else(|| {
                ApiError::new(StatusCode::BAD_REQUEST, "a password reset needs {\"password\": \"…\"}")
            })?;
            users.set_password(app.id, &user, password).await?;
        }
        _ => return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no user action {action}"))),
    }
    audit(
        &console,
        &who.operator.name,
        app_label(&org, &name),
        &format!("user.{action}"),
        Some(user.to_string()),
        None,
    )
    .await;
    let now = users.get(app.id, &user).await?;
    let online = !users.devices(app.id, &user).await.is_empty();
    Ok(Json(user_json(&now, Some(online))))
}

/// `PUT /console/api/apps/{org}/{app}/users/{user}/attributes`: replaces the
/// user's attributes with the given object of strings.
pub async fn set_attributes(
    State(console): State<Console>,
    who: SignedIn,
    Path((org, name, user)): Path<(String, String, String)>,
    Body(set): Body<BTreeMap<String, String>>,
) -> Answer {
    let app = app_named(&console, &org, &name).await?;
    let user = username(&user)?;
    let keys = set.keys().cloned().collect::<Vec<_>>().join(",");
    let change = ProfileChange {
        attributes: Some(AttributeChange::Replace { set, max_bytes: MAX_ATTRIBUTE_BYTES }),
        ..ProfileChange::default()
    };
    let updated = console.core.users.update_profile(app.id, &user, change).await?;
    audit(&console, &who.operator.name, app_label(&org, &name), "user.attributes", Some(user.to_string()), Some(keys))
        .await;
    Ok(Json(json!({ "attributes": updated.attributes })))
}

#[derive(Deserialize)]
pub struct Page {
    limit: Option<usize>,
}

/// `GET /console/api/apps/{org}/{app}/users/{user}/messages`: what the user
/// sent most recently, newest first.
pub async fn user_messages(
    State(console): State<Console>,
    _: SignedIn,
    Path((org, name, user)): Path<(String, String, String)>,
    Query(page): Query<Page>,
) -> Answer {
    let app = app_named(&console, &org, &name).await?;
    let user = username(&user)?;
    let query = MessageQuery {
        from: Some(user),
        newest_first: true,
        limit: page.limit.unwrap_or(50).clamp(1, MAX_PAGE),
        ..MessageQuery::default()
    };
    let messages = console.core.messages.query(app.id, query).await?;
    Ok(Json(json!({ "messages": messages.iter().map(message_json).collect::<Vec<_>>() })))
}

#[derive(Deserialize)]
pub struct History {
    /// `chat` (with `user` and `peer`), `group`, `room` or `thread` (with `id`).
    kind: String,
    user: Option<String>,
    peer: Option<String>,
    id: Option<String>,
    limit: Option<usize>,
}

/// `GET /console/api/apps/{org}/{app}/history?kind=…`: one conversation's
/// newest messages, newest first, as stored (recalled and deleted ones say so).
pub async fn history(
    State(console): State<Console>,
    _: SignedIn,
    Path((org, name)): Path<(String, String)>,
    Query(history): Query<History>,
) -> Answer {
    let app = app_named(&console, &org, &name).await?;
    let missing = |what: &str| ApiError::new(StatusCode::BAD_REQUEST, format!("{what} is needed"));
    let (kind, key) = match history.kind.as_str() {
        "chat" => {
            let user = username(history.user.as_deref().ok_or_else(|| missing("user"))?)?;
            let peer = username(history.peer.as_deref().ok_or_else(|| missing("peer"))?)?;
            (ChatType::Chat, direct_conversation_key(&user, &peer))
        }
        other => (group_kind(other)?, history.id.clone().ok_or_else(|| missing("id"))?),
    };
    let limit = history.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let Some(conversation) = console.core.messages.conversation(app.id, kind, &key).await? else {
        return Ok(Json(json!({ "messages": [] })));
    };
    let query = MessageQuery { conversation: Some(conversation), newest_first: true, limit, ..MessageQuery::default() };
    let messages = console.core.messages.query(app.id, query).await?;
    Ok(Json(json!({ "messages": messages.iter().map(message_json).collect::<Vec<_>>() })))
}

/// `POST /console/api/apps/{org}/{app}/messages/{id}/{action}`: `recall`
/// (receivers are told, as for the vendor's recall) or `delete` (removed for
/// everyone).
pub async fn act_on_message(
    State(console): State<Console>,
    who: SignedIn,
    Path((org, name, id, action)): Path<(String, String, String, String)>,
) -> Answer {
    let app = app_named(&console, &org, &name).await?;
    let id = MessageId::parse(&id).ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "not a message ID"))?;
    let messages = &console.core.messages;
    let changed = match action.as_str() {
        "recall" => {
            let original = messages
                .get(app.id, id)
                .await?
                .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such message"))?;
            messages.recall(app.id, id, &original.from, None).await?
        }
        "delete" => messages.delete(app.id, id, None).await?,
        _ => return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no message action {action}"))),
    };
    audit(
        &console,
        &who.operator.name,
        app_label(&org, &name),
        &format!("message.{action}"),
        Some(id.to_string()),
        None,
    )
    .await;
    Ok(Json(message_json(&changed)))
}

#[derive(Deserialize)]
pub struct Groups {
    kind: String,
    after: Option<i64>,
}

fn group_json(group: &Group) -> Value {
    json!({
        "id": group.id,
        "kind": kind_name(group.kind),
        "name": group.settings.name,
        "owner": group.owner.as_str(),
        "members": group.member_count,
        "max_users": group.settings.max_users,
        "mute_all": group.mute_all,
        "created_ms": group.created_ms,
    })
}

/// `GET /console/api/apps/{org}/{app}/groups?kind=group|room`: newest first.
pub async fn list_groups(
    State(console): State<Console>,
    _: SignedIn,
    Path((org, name)): Path<(String, String)>,
    Query(query): Query<Groups>,
) -> Answer {
    let app = app_named(&console, &org, &name).await?;
    let kind = group_kind(&query.kind)?;
    let page = console.core.groups.list(app.id, kind, query.after, 50, true).await?;
    Ok(Json(json!({ "groups": page.items.iter().map(group_json).collect::<Vec<_>>(), "next": page.next })))
}

/// `GET /console/api/apps/{org}/{app}/groups/{kind}/{id}`: a group or room,
/// its members with roles and whether each is online now, and its lists.
pub async fn group(
    State(console): State<Console>,
    _: SignedIn,
    Path((org, name, kind, id)): Path<(String, String, String, String)>,
) -> Answer {
    let app = app_named(&console, &org, &name).await?;
    let target = GroupRef { kind: group_kind(&kind)?, id: &id };
    let groups = &console.core.groups;
    let (group, members) = groups.members(app.id, target).await?;
    let names: Vec<Username> = members.iter().map(|m| m.username.clone()).collect();
    let online = console.core.users.online(app.id, &names).await;
    let members: Vec<Value> = members
        .iter()
        .zip(online)
        .map(|(m, on)| {
            json!({ "username": m.username.as_str(), "role": format!("{:?}", m.role).to_lowercase(), "joined_ms": m.joined_ms, "online": on })
        })
        .collect();
    let mut answer = group_json(&group);
    answer["members_list"] = json!(members);
    for (field, list) in [("muted", GroupList::Mute), ("blocked", GroupList::Block), ("allowed", GroupList::Allow)] {
        let entries = groups.list_entries(app.id, target, list).await?;
        let entries: Vec<Value> = entries
            .iter()
            .map(|e| json!({ "username": e.username.as_str(), "until_ms": (e.until_ms != i64::MAX).then_some(e.until_ms) }))
            .collect();
        answer[field] = json!(entries);
    }
    Ok(Json(answer))
}

fn group_kind(name: &str) -> Result<ChatType, ApiError> {
    match name {
        "group" => Ok(ChatType::GroupChat),
        "room" => Ok(ChatType::ChatRoom),
        "thread" => Ok(ChatType::Thread),
        "channel" => Ok(ChatType::Channel),
        _ => Err(ApiError::new(StatusCode::BAD_REQUEST, "kind is chat, group, room, thread or channel")),
    }
}

fn kind_name(kind: ChatType) -> &'static str {
    match kind {
        ChatType::Chat => "chat",
        ChatType::GroupChat => "group",
        ChatType::ChatRoom => "room",
        ChatType::Thread => "thread",
        ChatType::Broadcast => "broadcast",
        ChatType::Channel => "channel",
    }
}

/// A message as the console shows it: its body in confab's own JSON form.
fn message_json(message: &Message) -> Value {
    let state = match &message.state {
        MessageState::Normal => "sent",
        MessageState::Edited { .. } => "edited",
        MessageState::Recalled { .. } => "recalled",
        MessageState::Deleted { .. } => "deleted",
    };
    json!({
        "id": message.id.to_string(),
        "seq": message.seq,
        "kind": kind_name(message.chat_type),
        "from": message.from.as_str(),
        "to": message.to,
        "time_ms": message.timestamp_ms,
        "state": state,
        "body": confab_wire::body_json(&message.body),
    })
}
