//! W-16, chat rooms and channels: the conversations of types 2 and 3 must
//! exist before a backend can send to them.
//!
//! A chat room made here is owned by the app itself (`admin`), as the
//! vendor's rooms have no owner. A channel is a confab channel (a group whose
//! members are its subscribers and only its owner speaks).

use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use confab_core::auth;
use confab_core::error::Error;
use confab_core::groups::GroupRef;
use confab_core::model::{AppId, ChatType, Group, GroupSettings, SettingKey, SettingsPatch, Username};
use confab_core::Core;

use super::error::WildfireError;
use super::{ok, user, Admin};

/// Members a room or channel may have.
const MAX_ROOM_MEMBERS: u32 = 10_000;
const MAX_SUBSCRIBERS: u32 = 100_000;

fn settings(name: String, description: String, avatar: String, custom: String, max_users: u32) -> GroupSettings {
    GroupSettings { description, public: true, custom, avatar, ..GroupSettings::named(name, max_users) }
}

fn chosen_id(id: String) -> Option<String> {
    Some(id).filter(|id| !id.is_empty())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewRoom {
    #[serde(default)]
    chatroom_id: String,
    title: String,
    #[serde(default)]
    desc: String,
    #[serde(default)]
    portrait: String,
    #[serde(default)]
    extra: String,
}

/// Settings namespace of ended rooms and destroyed channels (owner `room`
/// or `channel`; key: the ID): what `info` and `get` answer afterwards,
/// as the vendor keeps them with an ended or deleted state.
const ENDED: &str = "wildfire.ended";
/// The vendor's `ChatroomState.Chatroom_State_End`.
const ROOM_ENDED: i64 = 2;
/// The vendor's `ChannelState.Channel_State_Mask_Deleted`.
const CHANNEL_DELETED: i64 = 0x40;

async fn ended(core: &Core, app: AppId, what: &str, id: &str) -> Result<Option<Value>, WildfireError> {
    let found = core.settings.get(app, SettingKey::new(ENDED, what, id)).await?;
    Ok(found.and_then(|s| serde_json::from_str(&s.value).ok()))
}

async fn set_ended(core: &Core, app: AppId, what: &str, id: &str, info: Option<&Value>) -> Result<(), WildfireError> {
    let key = SettingKey::new(ENDED, what, id);
    match info {
        Some(info) => core.settings.put(app, vec![(key, info.to_string())]).await?,
        None => {
            core.settings.remove(app, vec![key]).await?;
        }
    }
    Ok(())
}

/// `/admin/chatroom/create` → `{chatroomId}`. A room that exists gets the
/// new title and the rest, as the vendor's `createChatroom` does; an ended
/// room's ID may be used again.
pub async fn create_room(Admin { core, app, body }: Admin<NewRoom>) -> Result<Response, WildfireError> {
    if let Some(id) = chosen_id(body.chatroom_id.clone()) {
        if core.groups.get(app.id, room(&id)).await.is_ok() {
            let patch = SettingsPatch {
                name: Some(body.title),
                description: Some(body.desc),
                avatar: Some(body.portrait),
                custom: Some(body.extra),
                ..SettingsPatch::default()
            };
            core.groups.update(app.id, room(&id), patch).await?;
            return Ok(ok(json!({"chatroomId": id})));
        }
    }
    let settings = settings(body.title, body.desc, body.portrait, body.extra, MAX_ROOM_MEMBERS);
    let room = core
        .groups
        .create(app.id, ChatType::ChatRoom, chosen_id(body.chatroom_id), Username::admin(), settings, Vec::new())
        .await?;
    set_ended(&core, app.id, "room", &room.id, None).await?;
    Ok(ok(json!({"chatroomId": room.id})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomRequest {
    chatroom_id: String,
}

fn room(id: &str) -> GroupRef<'_> {
    GroupRef { kind: ChatType::ChatRoom, id }
}

fn room_json(room: &Group) -> Value {
    let s = &room.settings;
    // The app's own `admin` member is not one of the room's people.
    let people = room.member_count.saturating_sub(u64::from(room.owner == Username::admin()));
    json!({
        "chatroomId": room.id, "title": s.name, "desc": s.description, "portrait": s.avatar, "extra": s.custom,
        "memberCount": people, "createDt": room.created_ms, "updateDt": room.version, "state": 0,
    })
}

/// `/admin/chatroom/info`; a room that was destroyed answers with state 2
/// (ended), as the vendor's.
pub async fn room_info(Admin { core, app, body }: Admin<RoomRequest>) -> Result<Response, WildfireError> {
    match core.groups.get(app.id, room(&body.chatroom_id)).await {
        Ok(found) => Ok(ok(room_json(&found))),
        Err(Error::NotFound(m)) => match ended(&core, app.id, "room", &body.chatroom_id).await? {
            Some(info) => Ok(ok(info)),
            None => Err(Error::NotFound(m).into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// `/admin/chatroom/del`: everyone leaves; `info` answers "ended" afterwards.
pub async fn delete_room(Admin { core, app, body }: Admin<RoomRequest>) -> Result<Response, WildfireError> {
    let found = core.groups.get(app.id, room(&body.chatroom_id)).await?;
    core.groups.delete(app.id, room(&body.chatroom_id)).await?;
    let mut info = room_json(&found);
    info["state"] = json!(ROOM_ENDED);
    info["memberCount"] = json!(0);
    info["updateDt"] = json!(core.now_ms());
    set_ended(&core, app.id, "room", &found.id, Some(&info)).await?;
    Ok(ok(Value::Null))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewChannel {
    owner: String,
    name: String,
    #[serde(default)]
    target_id: String,
    #[serde(default)]
    portrait: String,
    #[serde(default)]
    desc: String,
    #[serde(default)]
    extra: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    callback: String,
    /// The vendor's `ChannelState` bits (0x08: the owner may message users
    /// who did not subscribe).
    #[serde(default)]
    state: i64,
}

/// `/admin/channel/create` → `{targetId, secret}` (a secret is made up when none is given).
pub async fn create_channel(Admin { core, app, body }: Admin<NewChannel>) -> Result<Response, WildfireError> {
    let owner = user(&body.owner, "owner")?;
    core.users.ensure_exist(app.id, std::slice::from_ref(&owner)).await?;
    let secret = if body.secret.is_empty() { auth::random_token(12) } else { body.secret };
    let mut settings = settings(body.name, body.desc, body.portrait, body.extra, MAX_SUBSCRIBERS);
    settings.dialect.insert("secret".into(), json!(secret));
    settings.dialect.insert("callback".into(), json!(body.callback));
    settings.dialect.insert("state".into(), json!(body.state & !CHANNEL_DELETED));
    let channel =
        core.groups.create(app.id, ChatType::Channel, chosen_id(body.target_id), owner, settings, Vec::new()).await?;
    set_ended(&core, app.id, "channel", &channel.id, None).await?;
    Ok(ok(json!({"targetId": channel.id, "secret": secret})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelRequest {
    channel_id: String,
}

fn channel(id: &str) -> GroupRef<'_> {
    GroupRef { kind: ChatType::Channel, id }
}

pub(super) fn channel_info(channel: &Group) -> Value {
    let s = &channel.settings;
    let dialect = |key: &str| s.dialect.get(key).cloned().unwrap_or(json!(""));
    json!({
        "targetId": channel.id, "name": s.name, "portrait": s.avatar, "owner": channel.owner.as_str(),
        "desc": s.description, "extra": s.custom, "secret": dialect("secret"), "callback": dialect("callback"),
        "subscriberCount": channel.member_count.saturating_sub(1), "updateDt": channel.version,
        "state": s.dialect.get("state").and_then(Value::as_i64).unwrap_or(0),
    })
}

/// `/admin/channel/get`; a destroyed channel answers with its deleted bit
/// (0x40) set, as the vendor's.
pub async fn get_channel(Admin { core, app, body }: Admin<ChannelRequest>) -> Result<Response, WildfireError> {
    match core.groups.get(app.id, channel(&body.channel_id)).await {
        Ok(found) => Ok(ok(channel_info(&found))),
        Err(Error::NotFound(m)) => match ended(&core, app.id, "channel", &body.channel_id).await? {
            Some(info) => Ok(ok(info)),
            None => Err(Error::NotFound(m).into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// `/admin/channel/destroy`: subscribers are let go; `get` answers with
/// the deleted bit afterwards (without the secret).
pub async fn destroy_channel(Admin { core, app, body }: Admin<ChannelRequest>) -> Result<Response, WildfireError> {
    let found = core.groups.get(app.id, channel(&body.channel_id)).await?;
    core.groups.delete(app.id, channel(&body.channel_id)).await?;
    let mut info = channel_info(&found);
    info["state"] = json!(info["state"].as_i64().unwrap_or(0) | CHANNEL_DELETED);
    info["secret"] = json!("");
    info["subscriberCount"] = json!(0);
    info["updateDt"] = json!(core.now_ms());
    set_ended(&core, app.id, "channel", &found.id, Some(&info)).await?;
    Ok(ok(Value::Null))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeRequest {
    channel_id: String,
    user_id: String,
    subscribe: i64,
}

/// `/admin/channel/subscribe` (`subscribe: 1`, or 0 to leave).
pub async fn subscribe(Admin { core, app, body }: Admin<SubscribeRequest>) -> Result<Response, WildfireError> {
    let subscriber = user(&body.user_id, "userId")?;
    let target = channel(&body.channel_id);
    match body.subscribe {
        1 => {
            core.users.ensure_exist(app.id, std::slice::from_ref(&subscriber)).await?;
            core.groups.add_members(app.id, target, vec![subscriber]).await?
        }
        0 => core.groups.remove_members(app.id, target, vec![subscriber]).await?,
        _ => return Err(WildfireError::invalid("subscribe must be 0 or 1")),
    };
    Ok(ok(Value::Null))
}
