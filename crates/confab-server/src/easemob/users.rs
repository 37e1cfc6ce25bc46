//! User management (E-user-1 to E-user-8, E-user-12 to E-user-16).

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use confab_core::error::Error;
use confab_core::ids::MessageId;
use confab_core::messages::DeliveryState;
use confab_core::model::{ProfileChange, User, Username};
use confab_core::storage::Page;
use confab_core::users::{NewUser, MAX_NICKNAME_LEN};

use super::{
    decode_cursor, echo_params, encode_cursor, page_limit, path_user, user_entity, AnyAuth, AppAuth, EasemobError,
    Envelope, JsonBody, DEFAULT_BODY_LIMIT,
};

/// Most users one registration call may create, as the vendor documents.
const MAX_REGISTER_BATCH: usize = 60;
/// Most names one batch status query may ask about.
const MAX_STATUS_BATCH: usize = 100;
const DEFAULT_PAGE: usize = 10;
const MAX_PAGE: usize = 100;

#[derive(Deserialize)]
pub struct UserPath {
    username: String,
}

#[derive(Deserialize)]
pub struct MessagePath {
    username: String,
    msg_id: String,
}

/// One user to register (E-user-1 takes one, or an array of them).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Registration {
    /// Letters, digits and `_-.`, at most 64; compared without case.
    #[schema(value_type = String)]
    username: Option<Value>,
    /// A string; a number is taken as its digits.
    #[schema(value_type = String)]
    password: Option<Value>,
    #[serde(default)]
    nickname: Option<String>,
}

/// E-user-1's body: one user, or a batch of up to 60.
pub enum RegisterBody {
    One(Registration),
    Batch(Vec<Registration>),
}

impl<'de> Deserialize<'de> for RegisterBody {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        match Value::deserialize(d)? {
            Value::Array(items) => items
                .into_iter()
                .map(Registration::deserialize)
                .collect::<Result<Vec<_>, _>>()
                .map(RegisterBody::Batch)
                .map_err(D::Error::custom),
            single @ Value::Object(_) => {
                Registration::deserialize(single).map(RegisterBody::One).map_err(D::Error::custom)
            }
            _ => Err(D::Error::custom("expected a user object or an array of them")),
        }
    }
}

impl utoipa::PartialSchema for RegisterBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder};
        let one = || utoipa::openapi::Ref::from_schema_name("Registration");
        let batch = ArrayBuilder::new().items(one()).min_items(Some(1)).max_items(Some(MAX_REGISTER_BATCH));
        OneOfBuilder::new().item(one()).item(batch).into()
    }
}

impl utoipa::ToSchema for RegisterBody {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        schemas.push(("Registration".into(), <Registration as utoipa::PartialSchema>::schema()));
    }
}

/// E-user-1: one user (an object) or a batch (an array).
pub async fn register(
    AppAuth(target): AppAuth,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, RegisterBody>,
) -> Result<Response, EasemobError> {
    let (entries, batch) = match body {
        RegisterBody::Batch(items) => (items, true),
        RegisterBody::One(single) => (vec![single], false),
    };
    if entries.is_empty() {
        return Err(EasemobError::illegal_argument("the request body has no user"));
    }
    if entries.len() > MAX_REGISTER_BATCH {
        return Err(EasemobError::illegal_argument(format!(
            "Request body array size[{}] had almost reached or been greater than the upper range value[{MAX_REGISTER_BATCH}]",
            entries.len()
        )));
    }
    let mut new_users = Vec::with_capacity(entries.len());
    for r in entries {
        let username = match r.username {
            Some(Value::String(s)) => {
                Username::easemob(&s).map_err(|e| EasemobError::illegal_argument(e.to_string()))?
            }
            Some(other) => return Err(EasemobError::illegal_argument(format!("username [{other}] is not legal"))),
            None => return Err(EasemobError::illegal_argument("Entity user requires a property named username")),
        };
        let password = match r.password {
            Some(Value::String(s)) => s,
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(EasemobError::illegal_argument("password or pin must provided")),
        };
        // The vendor's word for it; the core checks the same limit in its own.
        if r.nickname.as_ref().is_some_and(|n| n.chars().count() > MAX_NICKNAME_LEN) {
            return Err(EasemobError::illegal_argument("NICKNAME_TOO_LONG"));
        }
        new_users.push(NewUser { username, password, nickname: r.nickname, attributes: Default::default() });
    }
    let names: Vec<String> = new_users.iter().map(|u| u.username.to_string()).collect();
    let results = target.core.users.register(target.app.id, new_users).await?;
    let mut created = Vec::new();
    let mut failed = Vec::new();
    for (name, result) in names.into_iter().zip(results) {
        match result {
            Ok(user) => created.push(user_entity(&user)),
            // A batch skips names that are taken and says which, as the vendor does.
            Err(Error::Duplicate(_)) if batch => failed.push(json!({
                "username": name,
                "registerUserFailReason": format!("the {name} already exists"),
            })),
            Err(Error::Duplicate(_)) => return Err(duplicate(&name, &target.app.uuid)),
            Err(e) => return Err(e.into()),
        }
    }
    let envelope = target.envelope("post", "/users").entities(created);
    if !batch {
        return Ok(envelope.into_response());
    }
    Ok(envelope.data(Value::Array(failed)).into_response())
}

fn duplicate(name: &str, app_uuid: &str) -> EasemobError {
    EasemobError::from(Error::Duplicate(format!(
        "Application {app_uuid} Entity user requires that property named username be unique, value of {name} exists"
    )))
}

/// E-user-2: one user.
pub async fn get_one(auth: AnyAuth, Path(path): Path<UserPath>) -> Result<Response, EasemobError> {
    let username = path_user(&path.username)?;
    auth.require_self_or_app(&username)?;
    let user = auth.0.core.users.get(auth.0.app.id, &username).await?;
    let mut envelope = auth.0.minimal("get");
    envelope = envelope
        .with("path", json!("/users"))
        .with("uri", json!(format!("{}/users/{}", auth.0.base_uri, username)))
        .entities(vec![user_entity(&user)])
        .with("count", json!(1));
    Ok(envelope.into_response())
}

/// E-user-3: users in creation order, `limit` (1 to 100, default 10) at a time.
pub async fn list(
    AppAuth(target): AppAuth,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, EasemobError> {
    let (after, limit) = page_request(&query)?;
    let page = target.core.users.list(target.app.id, after, limit).await?;
    let count = page.items.len();
    let envelope = target.envelope("get", "/users").with("count", json!(count));
    Ok(paged(envelope, &page, &query).into_response())
}

/// E-user-4: delete one user.
pub async fn delete_one(AppAuth(target): AppAuth, Path(path): Path<UserPath>) -> Result<Response, EasemobError> {
    let username = path_user(&path.username)?;
    let user = target.core.users.delete(target.app.id, &username).await?;
    Ok(target.envelope("delete", "/users").entities(vec![user_entity(&user)]).into_response())
}

/// E-user-5: delete the `limit` oldest users.
pub async fn delete_batch(
    AppAuth(target): AppAuth,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, EasemobError> {
    let (after, limit) = page_request(&query)?;
    let page = target.core.users.delete_oldest(target.app.id, after, limit).await?;
    Ok(paged(target.envelope("delete", "/users"), &page, &query).into_response())
}

/// E-user-6's body.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewPassword {
    /// A string; a number is taken as its digits.
    #[schema(value_type = String)]
    newpassword: Option<Value>,
}

/// E-user-6: set a new password (no old password needed with the app token).
pub async fn set_password(
    auth: AnyAuth,
    Path(path): Path<UserPath>,
    JsonBody(request): JsonBody<DEFAULT_BODY_LIMIT, NewPassword>,
) -> Result<Response, EasemobError> {
    let not_found = || {
        EasemobError::new(
            StatusCode::NOT_FOUND,
            "entity_not_found",
            "org.apache.usergrid.persistence.exceptions.EntityNotFoundException",
            "User null not found",
        )
    };
    let username = Username::easemob(&path.username).map_err(|_| not_found())?;
    auth.require_self_or_app(&username)?;
    let password = match request.newpassword {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(EasemobError::illegal_argument("newpassword is required")),
    };
    match auth.0.core.users.set_password(auth.0.app.id, &username, password).await {
        Ok(_) => Ok(auth.0.minimal("set user password").into_response()),
        Err(Error::NotFound(_)) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

/// E-user-7: online or offline.
pub async fn status(AppAuth(target): AppAuth, Path(path): Path<UserPath>) -> Result<Response, EasemobError> {
    let username = path_user(&path.username)?;
    target.core.users.get(target.app.id, &username).await?;
    let online = target.core.users.online(target.app.id, std::slice::from_ref(&username)).await.first() == Some(&true);
    let mut data = serde_json::Map::new();
    data.insert(username.to_string(), json!(presence_word(online)));
    Ok(target.query(&format!("/users/{username}/status")).data(Value::Object(data)).into_response())
}

/// E-user-8's body.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct StatusBatch {
    /// At most 100 usernames.
    usernames: Vec<String>,
}

/// E-user-8: status of up to 100 users; unknown names are offline.
pub async fn batch_status(
    AppAuth(target): AppAuth,
    JsonBody(request): JsonBody<DEFAULT_BODY_LIMIT, StatusBatch>,
) -> Result<Response, EasemobError> {
    if request.usernames.len() > MAX_STATUS_BATCH {
        return Err(EasemobError::illegal_argument(format!(
            "request body exceeds maximum limit, maximum limit is {MAX_STATUS_BATCH}"
        )));
    }
    // Names that cannot be users are reported offline, as the vendor does.
    let parsed: Vec<Option<Username>> = request.usernames.iter().map(|n| Username::easemob(n).ok()).collect();
    let valid: Vec<Username> = parsed.iter().flatten().cloned().collect();
    let mut online = target.core.users.online(target.app.id, &valid).await.into_iter();
    let data: Vec<Value> = request
        .usernames
        .iter()
        .zip(&parsed)
        .map(|(raw, name)| {
            let is_online = name.is_some() && online.next().unwrap_or(false);
            let mut entry = serde_json::Map::new();
            entry.insert(raw.clone(), json!(presence_word(is_online)));
            Value::Object(entry)
        })
        .collect();
    Ok(target.minimal("get batch user status").data(Value::Array(data)).into_response())
}

fn presence_word(online: bool) -> &'static str {
    if online {
        "online"
    } else {
        "offline"
    }
}

/// E-user-12: messages waiting for the user.
pub async fn offline_count(AppAuth(target): AppAuth, Path(path): Path<UserPath>) -> Result<Response, EasemobError> {
    let username = path_user(&path.username)?;
    target.core.users.get(target.app.id, &username).await?;
    let count = target.core.messages.offline_count(target.app.id, &username).await?;
    let mut data = serde_json::Map::new();
    data.insert(username.to_string(), json!(count));
    Ok(target.query(&format!("/users/{username}/offline_msg_count")).data(Value::Object(data)).into_response())
}

/// E-user-13: whether one message reached the user.
pub async fn offline_status(AppAuth(target): AppAuth, Path(path): Path<MessagePath>) -> Result<Response, EasemobError> {
    let username = path_user(&path.username)?;
    let id = MessageId::parse(&path.msg_id).ok_or_else(EasemobError::not_found)?;
    let state = target.core.messages.delivery_state(target.app.id, &username, id).await?;
    let word = match state {
        DeliveryState::Delivered => "delivered",
        DeliveryState::Undelivered => "undelivered",
    };
    let mut data = serde_json::Map::new();
    data.insert(path.msg_id.clone(), json!(word));
    Ok(target
        .query(&format!("/users/{username}/offline_msg_status/{}", path.msg_id))
        .data(Value::Object(data))
        .into_response())
}

/// E-user-14: ban; the user's devices are disconnected at once.
pub async fn deactivate(AppAuth(target): AppAuth, Path(path): Path<UserPath>) -> Result<Response, EasemobError> {
    let username = path_user(&path.username)?;
    let user = target.core.users.deactivate(target.app.id, &username).await?;
    Ok(target.minimal("Deactivate user").entities(vec![user_entity(&user)]).into_response())
}

/// E-user-15: lift a ban.
pub async fn activate(AppAuth(target): AppAuth, Path(path): Path<UserPath>) -> Result<Response, EasemobError> {
    let username = path_user(&path.username)?;
    target.core.users.activate(target.app.id, &username).await?;
    Ok(target.minimal("activate user").into_response())
}

/// E-user-16: force every device of the user offline.
pub async fn disconnect(AppAuth(target): AppAuth, Path(path): Path<UserPath>) -> Result<Response, EasemobError> {
    let username = path_user(&path.username)?;
    target.core.users.disconnect(target.app.id, &username).await?;
    Ok(target.query(&format!("/users/{username}/disconnect")).data(json!({"result": true})).into_response())
}

/// Reads `cursor` and `limit` (1 to 100, default 10) from a listing's query.
fn page_request(query: &HashMap<String, String>) -> Result<(Option<i64>, usize), EasemobError> {
    let after = query.get("cursor").map(|c| decode_cursor(c)).transpose()?;
    Ok((after, page_limit(query, "limit", DEFAULT_PAGE, MAX_PAGE)?))
}

/// Adds a page of users to an envelope: the entities, the echoed
/// parameters and, when more follow, the cursor to continue from.
fn paged(envelope: Envelope, page: &Page<User>, query: &HashMap<String, String>) -> Envelope {
    let envelope = envelope.entities(page.items.iter().map(user_entity).collect()).with("params", echo_params(query));
    match page.next {
        Some(next) => envelope.with("cursor", json!(encode_cursor(next))),
        None => envelope,
    }
}

/// A whole hour of the day, sent as a number or a string ("8").
fn hour(value: Option<&Value>, key: &str) -> Result<Option<u8>, EasemobError> {
    let raw = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(v) => v.as_i64(),
    };
    match raw {
        Some(h @ 0..=24) => Ok(Some(h as u8)),
        _ => Err(EasemobError::illegal_argument(format!("{key} must be an hour from 0 to 24"))),
    }
}

/// A 0/1 or true/false flag, sent as a number, a boolean or a string.
fn flag(value: Option<&Value>, key: &str) -> Result<Option<bool>, EasemobError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => match v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())) {
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            _ => Err(EasemobError::illegal_argument(format!("{key} must be 0 or 1"))),
        },
    }
}

/// The body of E-push-1 to E-push-3: the push nickname, the notification
/// style and do-not-disturb hours; any of them.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PushSettings {
    /// The name pushes show for the user.
    nickname: Option<String>,
    /// 0: "you have a new message"; 1: the message's details. 0/1, true/false, or "0"/"1".
    #[schema(value_type = Option<u8>)]
    notification_display_style: Option<Value>,
    /// Do-not-disturb on (1) or off (0). 0/1, true/false, or "0"/"1".
    #[schema(value_type = Option<u8>)]
    notification_no_disturbing: Option<Value>,
    /// The hour (0 to 24) do-not-disturb starts; a number or a string.
    #[schema(value_type = Option<u8>)]
    notification_no_disturbing_start: Option<Value>,
    /// The hour (0 to 24) do-not-disturb ends; a number or a string.
    #[schema(value_type = Option<u8>)]
    notification_no_disturbing_end: Option<Value>,
}

/// E-push-1 to E-push-3: `PUT /users/{username}` sets the nickname shown in
/// pushes, the notification style and do-not-disturb hours, which offline
/// pushes ([`crate::push`]) follow; returned in the user entity.
pub async fn update(
    auth: AnyAuth,
    Path(path): Path<UserPath>,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, PushSettings>,
) -> Result<Response, EasemobError> {
    let username = path_user(&path.username)?;
    auth.require_self_or_app(&username)?;
    let target = &auth.0;
    let current = target.core.users.get(target.app.id, &username).await?;
    let nickname = body.nickname.map(Some);
    let mut push = current.push.clone();
    if let Some(style) = flag(body.notification_display_style.as_ref(), "notification_display_style")? {
        push.display_style = Some(u8::from(style));
    }
    if let Some(on) = flag(body.notification_no_disturbing.as_ref(), "notification_no_disturbing")? {
        push.no_disturb = Some(on);
        if on {
            let (start, end) = (
                hour(body.notification_no_disturbing_start.as_ref(), "notification_no_disturbing_start")?,
                hour(body.notification_no_disturbing_end.as_ref(), "notification_no_disturbing_end")?,
            );
            push.no_disturb_start = start.or(push.no_disturb_start);
            push.no_disturb_end = end.or(push.no_disturb_end);
        }
    }
    let change = ProfileChange { nickname, attributes: None, push: Some(push) };
    let user = target.core.users.update_profile(target.app.id, &username, change).await?;
    Ok(target.envelope("put", "/users").entities(vec![user_entity(&user)]).into_response())
}
