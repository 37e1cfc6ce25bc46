//! The vendor's robot API (`/robot/…`) and channel API (`/channel/…`), which
//! its server SDKs' `RobotService` and `ChannelServiceApi` call on the
//! public port, signed like the admin API but with a robot's or a channel's
//! own secret (headers `rid` or `cid`).
//!
//! A robot acts as the user it is: its sends are a user's (membership,
//! mutes and sensitive words apply), and it may change a group only as its
//! role there allows. A channel sends as its owner to its subscribers. Each
//! call reuses the admin call that does the same, with the caller filled in.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use confab_core::groups::GroupRef;
use confab_core::model::{App, ChatType, Group, Role, SettingsPatch, Username};
use confab_core::moderation::Screened;
use confab_core::Core;

use super::error::{self, WildfireError};
use super::messages::{self, Speaker};
use super::robots::{self, Robot};
use super::{auth, group_admin, groups, ok, parse, users, Admin, State, BODY_LIMIT};
use crate::limits::{Per, WILDFIRE_REQUESTS_PER_SECOND};

/// Who signed a service call.
pub enum Caller {
    Robot { id: Username, robot: Robot },
    Channel { channel: Group },
}

/// A signed robot or channel call: the app, the caller and the parsed body.
pub struct Service<T> {
    pub core: Arc<Core>,
    pub app: Arc<App>,
    pub caller: Caller,
    pub body: T,
}

impl<T: DeserializeOwned> FromRequest<State> for Service<T> {
    type Rejection = WildfireError;

    async fn from_request(request: Request, state: &State) -> Result<Self, Self::Rejection> {
        let peer = crate::peer_ip(request.extensions());
        if state.limits.failures.blocked(peer) {
            return Err(WildfireError::new(error::OVER_FREQUENCY));
        }
        let core = state.core.clone();
        let robot_call = request.uri().path().starts_with("/robot/");
        let (app, caller) = match identify(&core, &state.nonces, request.headers(), robot_call).await {
            Ok(found) => found,
            Err(e) => {
                if e.code == error::AUTH_FAILURE {
                    state.limits.failures.record(peer);
                }
                return Err(e);
            }
        };
        if !state.limits.allow(&app, WILDFIRE_REQUESTS_PER_SECOND, Per::Second, 1) {
            return Err(WildfireError::new(error::OVER_FREQUENCY));
        }
        let bytes = axum::body::to_bytes(request.into_body(), BODY_LIMIT)
            .await
            .map_err(|_| WildfireError::invalid(format!("the body must be at most {BODY_LIMIT} bytes, in time")))?;
        Ok(Service { core, app, caller, body: parse(&bytes)? })
    }
}

/// Finds the app whose robot (`rid`) or channel (`cid`) signed the call.
/// Every app with one of that ID is tried, in constant time per secret.
async fn identify(
    core: &Core,
    nonces: &crate::replay::NonceCache,
    headers: &axum::http::HeaderMap,
    robot_call: bool,
) -> Result<(Arc<App>, Caller), WildfireError> {
    let id_header = if robot_call { "rid" } else { "cid" };
    let signed = auth::signed(core, headers)?;
    let Some(id) = auth::header(headers, id_header) else {
        return Err(WildfireError::new(error::API_NOT_SIGNED));
    };
    let mut known = false;
    let mut found = None;
    for app in core.apps.all().await?.iter() {
        let (secret, caller) = match robot_call {
            true => {
                let Ok(username) = Username::parse(id) else { continue };
                let Some(robot) = robots::robot(core, app.id, id).await? else { continue };
                (robot.secret.clone(), Caller::Robot { id: username, robot })
            }
            false => {
                let Ok(channel) = core.groups.get(app.id, GroupRef { kind: ChatType::Channel, id }).await else {
                    continue;
                };
                let secret = channel.settings.dialect.get("secret").and_then(Value::as_str).unwrap_or("").to_owned();
                (secret, Caller::Channel { channel })
            }
        };
        known = true;
        if !secret.is_empty() && signed.by(&secret) && found.is_none() {
            found = Some((app.clone(), caller));
        }
    }
    let Some((app, caller)) = found else {
        let what = if robot_call { "robot" } else { "channel" };
        return Err(match known {
            true => WildfireError::new(error::AUTH_FAILURE),
            false => WildfireError::not_exist(format!("{what} {id}")),
        });
    };
    auth::first_use(nonces, &app, signed.nonce, signed.sent_ms, core.now_ms())?;
    Ok((app, caller))
}

/// Runs an admin call with a body the service call made.
async fn as_admin<T, F, Fut>(core: Arc<Core>, app: Arc<App>, body: Value, call: F) -> Result<Response, WildfireError>
where
    T: DeserializeOwned,
    F: FnOnce(Admin<T>) -> Fut,
    Fut: Future<Output = Result<Response, WildfireError>>,
{
    let body = serde_json::from_value(body).map_err(|e| WildfireError::invalid(e.to_string()))?;
    call(Admin { core, app, body }).await
}

fn robot_of(caller: &Caller) -> Result<(&Username, &Robot), WildfireError> {
    match caller {
        Caller::Robot { id, robot } => Ok((id, robot)),
        Caller::Channel { .. } => Err(WildfireError::new(error::NOT_RIGHT)),
    }
}

fn channel_of(caller: &Caller) -> Result<&Group, WildfireError> {
    match caller {
        Caller::Channel { channel } => Ok(channel),
        Caller::Robot { .. } => Err(WildfireError::new(error::NOT_RIGHT)),
    }
}

/// Applies the app's sensitive words to a payload's text; `None`: drop it.
async fn screen(core: &Core, app: &App, payload: &mut Value) -> Result<Option<()>, WildfireError> {
    let Some(text) = payload.get("searchableContent").and_then(Value::as_str) else {
        return Ok(Some(()));
    };
    match core.moderation.screen(app.id, text).await? {
        Screened::Clean => Ok(Some(())),
        Screened::Refused => Err(WildfireError::new(error::SENSITIVE_MATCHED)),
        Screened::Dropped => Ok(None),
        Screened::Replaced(text) => {
            payload["searchableContent"] = json!(text);
            Ok(Some(()))
        }
    }
}

/// `/robot/message/send`: sends as the robot (whatever `sender` says), as a
/// user: the robot must be allowed to speak where it sends.
pub async fn robot_send(
    Service { core, app, caller, mut body }: Service<Map<String, Value>>,
) -> Result<Response, WildfireError> {
    let (id, _) = robot_of(&caller)?;
    body.insert("sender".into(), json!(id.as_str()));
    let mut payload = body.remove("payload").unwrap_or(Value::Null);
    if screen(&core, &app, &mut payload).await?.is_none() {
        // The vendor's "swallow" strategy: accepted, never delivered.
        return Ok(ok(json!({"messageUid": 0, "timestamp": core.now_ms()})));
    }
    body.insert("payload".into(), payload);
    let request = serde_json::from_value(Value::Object(body)).map_err(|e| WildfireError::invalid(e.to_string()))?;
    let message = messages::deliver(&core, &app, request, Speaker::User).await?;
    Ok(ok(messages::sent(&message)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UidRequest {
    #[serde(deserialize_with = "super::messages::number_or_numeric_string")]
    message_uid: i64,
}

/// The robot's own message, or 248.
async fn own_message(core: &Core, app: &App, id: &Username, uid: i64) -> Result<(), WildfireError> {
    let found = core.messages.get(app.id, confab_core::ids::MessageId(uid.max(0) as u64)).await?;
    match found {
        Some(message) if message.from == *id => Ok(()),
        Some(_) => Err(WildfireError { code: error::NOT_RIGHT, detail: Some("not the robot's message".into()) }),
        None => Err(WildfireError::not_exist(format!("message {uid}"))),
    }
}

/// `/robot/message/recall`: the robot's own messages only.
pub async fn robot_recall(service: Service<Value>) -> Result<Response, WildfireError> {
    on_own_message(service, messages::recall).await
}

/// `/robot/message/update`: the robot's own messages only.
pub async fn robot_update(service: Service<Value>) -> Result<Response, WildfireError> {
    on_own_message(service, messages::update).await
}

/// Runs an admin call on one of the robot's own messages, as the robot.
async fn on_own_message<T, F, Fut>(service: Service<Value>, call: F) -> Result<Response, WildfireError>
where
    T: DeserializeOwned,
    F: FnOnce(Admin<T>) -> Fut,
    Fut: Future<Output = Result<Response, WildfireError>>,
{
    let Service { core, app, caller, mut body } = service;
    let (id, _) = robot_of(&caller)?;
    let uid: UidRequest = serde_json::from_value(body.clone()).map_err(|e| WildfireError::invalid(e.to_string()))?;
    own_message(&core, &app, id, uid.message_uid).await?;
    body["operator"] = json!(id.as_str());
    as_admin(core, app, body, call).await
}

/// `/robot/user_info` and `/channel/user_info`: a user by ID, name or mobile.
pub async fn user_info(Service { core, app, body, .. }: Service<Value>) -> Result<Response, WildfireError> {
    as_admin(core, app, body, users::get_info).await
}

/// `/robot/profile`: the robot's `OutputRobot`, without its secret (as the vendor's).
pub async fn robot_profile(Service { core, app, caller, .. }: Service<Value>) -> Result<Response, WildfireError> {
    let (id, robot) = robot_of(&caller)?;
    let profile = core.users.get(app.id, id).await?;
    let mut out = robots::output(&profile, robot);
    if let Some(fields) = out.as_object_mut() {
        fields.remove("secret");
    }
    Ok(ok(out))
}

/// The vendor's `MyInfoType`s: the profile field each names and its bit of
/// `user/update`'s flag.
const MY_INFO: [(&str, u32); 9] = [
    ("displayName", 0x01),
    ("portrait", 0x02),
    ("gender", 0x04),
    ("mobile", 0x08),
    ("email", 0x10),
    ("address", 0x20),
    ("company", 0x40),
    ("social", 0x80),
    ("extra", 0x100),
];

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntStringPair {
    int_value: i64,
    #[serde(default)]
    str_value: String,
}

/// `/robot/update_profile`: `{intValue: MyInfoType, strValue}`.
pub async fn robot_update_profile(
    Service { core, app, caller, body }: Service<IntStringPair>,
) -> Result<Response, WildfireError> {
    let (id, _) = robot_of(&caller)?;
    let Some((field, flag)) = usize::try_from(body.int_value).ok().and_then(|i| MY_INFO.get(i)) else {
        return Err(WildfireError::invalid("intValue must be a profile field type, 0 to 8"));
    };
    let value = match *field {
        "gender" => {
            json!(body.str_value.parse::<i64>().map_err(|_| WildfireError::invalid("gender must be a number"))?)
        }
        _ => json!(body.str_value),
    };
    let update = json!({"flag": flag, "userInfo": {"userId": id.as_str(), *field: value}});
    as_admin(core, app, update, users::update).await
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CallbackRequest {
    url: String,
}

/// `/robot/set_callback`: `{url}`; messages to the robot go there from now on.
pub async fn robot_set_callback(
    axum::Extension(relays): axum::Extension<Arc<robots::Relays>>,
    Service { core, app, caller, body }: Service<CallbackRequest>,
) -> Result<Response, WildfireError> {
    let (id, robot) = robot_of(&caller)?;
    if body.url.is_empty() {
        return Err(WildfireError::invalid("url must not be empty"));
    }
    let robot = Robot { callback: body.url, ..robot.clone() };
    robots::save(&core, app.id, id, &robot).await?;
    relays.restart(&core, &app, id, &robot);
    Ok(ok(Value::Null))
}

/// `/robot/get_callback`: `{url}` (empty when there is none).
pub async fn robot_get_callback(Service { caller, .. }: Service<Value>) -> Result<Response, WildfireError> {
    let (_, robot) = robot_of(&caller)?;
    Ok(ok(json!({"url": robot.callback})))
}

/// `/robot/delete_callback`: the robot's messages are no longer posted.
pub async fn robot_delete_callback(
    axum::Extension(relays): axum::Extension<Arc<robots::Relays>>,
    Service { core, app, caller, .. }: Service<Value>,
) -> Result<Response, WildfireError> {
    let (id, robot) = robot_of(&caller)?;
    let robot = Robot { callback: String::new(), ..robot.clone() };
    robots::save(&core, app.id, id, &robot).await?;
    relays.restart(&core, &app, id, &robot);
    Ok(ok(Value::Null))
}

/// What a robot needs to be in a group to make a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    Member,
    /// The owner or a manager.
    Manager,
    Owner,
}

/// The group a robot's call names (`group_id`, or `groupId` in the read
/// calls), refused unless the robot has the role the call needs.
async fn check_role(core: &Core, app: &App, robot: &Username, body: &Value, needs: Needs) -> Result<(), WildfireError> {
    let group_id = body
        .get("group_id")
        .or_else(|| body.get("groupId"))
        .and_then(Value::as_str)
        .ok_or_else(|| WildfireError::invalid("group_id must be given"))?;
    let (_, members) = core.groups.members(app.id, groups::group_ref(group_id)).await?;
    let role = members.iter().find(|m| m.username == *robot).map(|m| m.role);
    let allowed = match (needs, role) {
        (_, None) => false,
        (Needs::Member, Some(_)) => true,
        (Needs::Manager, Some(role)) => role != Role::Member,
        (Needs::Owner, Some(role)) => role == Role::Owner,
    };
    match allowed {
        true => Ok(()),
        false => Err(WildfireError {
            code: error::NOT_RIGHT,
            detail: Some(format!("the robot may not do this in group {group_id}")),
        }),
    }
}

/// `/robot/group/create`: a group the robot owns.
pub async fn robot_group_create(
    Service { core, app, caller, mut body }: Service<Value>,
) -> Result<Response, WildfireError> {
    let (id, _) = robot_of(&caller)?;
    body["operator"] = json!(id.as_str());
    if let Some(info) = body.get_mut("group").and_then(|g| g.get_mut("group_info")).and_then(Value::as_object_mut) {
        info.insert("owner".into(), json!(id.as_str()));
    }
    as_admin(core, app, body, groups::create).await
}

macro_rules! robot_group_call {
    ($name:ident, $needs:expr, $handler:path) => {
        pub async fn $name(Service { core, app, caller, mut body }: Service<Value>) -> Result<Response, WildfireError> {
            let (id, _) = robot_of(&caller)?;
            check_role(&core, &app, id, &body, $needs).await?;
            body["operator"] = json!(id.as_str());
            as_admin(core, app, body, $handler).await
        }
    };
}

robot_group_call!(robot_group_dismiss, Needs::Owner, groups::dismiss);
robot_group_call!(robot_group_info, Needs::Member, groups::get_info);
robot_group_call!(robot_group_members, Needs::Member, groups::members);
robot_group_call!(robot_group_member, Needs::Member, group_admin::member);
robot_group_call!(robot_group_add, Needs::Member, groups::add_members);
robot_group_call!(robot_group_kick, Needs::Manager, groups::remove_members);
robot_group_call!(robot_group_modify, Needs::Manager, group_admin::modify);
robot_group_call!(robot_group_transfer, Needs::Owner, group_admin::transfer);
robot_group_call!(robot_group_set_manager, Needs::Owner, group_admin::set_manager);
robot_group_call!(robot_group_mute, Needs::Manager, group_admin::mute);
robot_group_call!(robot_group_allow, Needs::Manager, group_admin::allow);
robot_group_call!(robot_group_quit, Needs::Member, group_admin::quit);

/// `/robot/group/member/set_alias` and `set_extra`: the robot's own, or
/// anyone's when it manages the group.
async fn robot_member_note<F, Fut>(service: Service<Value>, call: F) -> Result<Response, WildfireError>
where
    F: FnOnce(Admin<group_admin::MemberNoteRequest>) -> Fut,
    Fut: Future<Output = Result<Response, WildfireError>>,
{
    let Service { core, app, caller, mut body } = service;
    let (id, _) = robot_of(&caller)?;
    let own = body.get("memberId").and_then(Value::as_str) == Some(id.as_str());
    let needs = if own { Needs::Member } else { Needs::Manager };
    check_role(&core, &app, id, &body, needs).await?;
    body["operator"] = json!(id.as_str());
    as_admin(core, app, body, call).await
}

pub async fn robot_group_member_alias(service: Service<Value>) -> Result<Response, WildfireError> {
    robot_member_note(service, group_admin::set_member_alias).await
}

pub async fn robot_group_member_extra(service: Service<Value>) -> Result<Response, WildfireError> {
    robot_member_note(service, group_admin::set_member_extra).await
}

/// `/channel/get_profile`: the channel as `channel/get` shows it.
pub async fn channel_profile(Service { caller, .. }: Service<Value>) -> Result<Response, WildfireError> {
    Ok(ok(super::channels::channel_info(channel_of(&caller)?)))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ModifyChannel {
    #[serde(rename = "type")]
    kind: i64,
    #[serde(default)]
    value: String,
}

/// `/channel/update_profile`: by the vendor's `ModifyChannelInfoType`
/// (0 name, 1 portrait, 2 description, 3 extra, 4 secret, 5 callback; 6 and
/// 7, the callback-only flag and the menu, are kept as given).
pub async fn channel_update(
    Service { core, app, caller, body }: Service<ModifyChannel>,
) -> Result<Response, WildfireError> {
    let channel = channel_of(&caller)?;
    let mut patch = SettingsPatch::default();
    let dialect = |key: &str, value: String| Some(BTreeMap::from([(key.to_owned(), json!(value))]));
    match body.kind {
        0 => patch.name = Some(body.value),
        1 => patch.avatar = Some(body.value),
        2 => patch.description = Some(body.value),
        3 => patch.custom = Some(body.value),
        4 if body.value.is_empty() => return Err(WildfireError::invalid("the secret must not be empty")),
        4 => patch.dialect = dialect("secret", body.value),
        5 => patch.dialect = dialect("callback", body.value),
        6 => patch.dialect = dialect("only_callback", body.value),
        7 => patch.dialect = dialect("menu", body.value),
        _ => return Err(WildfireError::invalid("type must be 0 to 7")),
    }
    let target = GroupRef { kind: ChatType::Channel, id: &channel.id };
    core.groups.update(app.id, target, patch).await?;
    Ok(ok(Value::Null))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ChannelSend {
    #[serde(default)]
    targets: Option<Vec<String>>,
    #[serde(default)]
    line: u32,
    payload: Value,
}

/// `/channel/message/send`: as the channel's owner, to every subscriber or
/// to `targets`, who must be subscribers.
pub async fn channel_send(
    Service { core, app, caller, body }: Service<ChannelSend>,
) -> Result<Response, WildfireError> {
    let channel = channel_of(&caller)?;
    let targets = body.targets.unwrap_or_default();
    // A confab channel's messages live in the channel's conversation, which
    // only subscribers have: one to a user who did not subscribe is refused
    // as the vendor refuses it without `Channel_State_Mask_Message_Unsubscribed`,
    // whatever the channel's state says.
    if !targets.is_empty() {
        let (_, members) = core.groups.members(app.id, GroupRef { kind: ChatType::Channel, id: &channel.id }).await?;
        if let Some(stranger) = targets.iter().find(|t| !members.iter().any(|m| m.username.as_str() == t.as_str())) {
            return Err(WildfireError {
                code: error::NOT_RIGHT,
                detail: Some(format!("User {stranger} not in channel")),
            });
        }
    }
    let request = json!({
        "sender": channel.owner.as_str(),
        "conv": {"type": 3, "target": channel.id, "line": body.line},
        "payload": body.payload,
        "toUsers": targets,
    });
    let request = serde_json::from_value(request).map_err(|e| WildfireError::invalid(e.to_string()))?;
    let message = messages::deliver(&core, &app, request, Speaker::App).await?;
    Ok(ok(messages::sent(&message)))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ChannelSubscribe {
    target: String,
    subscribe: i64,
}

/// `/channel/subscribe`: `{target, subscribe: 1 | 0}`.
pub async fn channel_subscribe(
    Service { core, app, caller, body }: Service<ChannelSubscribe>,
) -> Result<Response, WildfireError> {
    let channel = channel_of(&caller)?;
    let request = json!({"channelId": channel.id, "userId": body.target, "subscribe": body.subscribe});
    as_admin(core, app, request, super::channels::subscribe).await
}

/// `/channel/subscriber_list`: `{list}` of subscribers (not the owner).
pub async fn channel_subscribers(Service { core, app, caller, .. }: Service<Value>) -> Result<Response, WildfireError> {
    let channel = channel_of(&caller)?;
    let (_, members) = core.groups.members(app.id, GroupRef { kind: ChatType::Channel, id: &channel.id }).await?;
    let list: Vec<&str> = members.iter().filter(|m| m.role != Role::Owner).map(|m| m.username.as_str()).collect();
    Ok(ok(json!({"list": list})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserIdRequest {
    user_id: String,
}

/// `/channel/is_subscriber`: the result is the bare boolean, as the vendor's.
pub async fn channel_is_subscriber(
    Service { core, app, caller, body }: Service<UserIdRequest>,
) -> Result<Response, WildfireError> {
    let channel = channel_of(&caller)?;
    let (_, members) = core.groups.members(app.id, GroupRef { kind: ChatType::Channel, id: &channel.id }).await?;
    let subscribed = members.iter().any(|m| m.username.as_str() == body.user_id && m.role != Role::Owner);
    Ok(ok(json!(subscribed)))
}
