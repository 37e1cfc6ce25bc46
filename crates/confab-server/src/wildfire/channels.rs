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
use confab_core::groups::GroupRef;
use confab_core::model::{ChatType, Group, GroupSettings, Username};

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

#[derive(Deserialize)]
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

/// `/admin/chatroom/create` → `{chatroomId}`.
pub async fn create_room(Admin { core, app, body }: Admin<NewRoom>) -> Result<Response, WildfireError> {
    let settings = settings(body.title, body.desc, body.portrait, body.extra, MAX_ROOM_MEMBERS);
    let room = core
        .groups
        .create(app.id, ChatType::ChatRoom, chosen_id(body.chatroom_id), Username::admin(), settings, Vec::new())
        .await?;
    Ok(ok(json!({"chatroomId": room.id})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomRequest {
    chatroom_id: String,
}

fn room(id: &str) -> GroupRef<'_> {
    GroupRef { kind: ChatType::ChatRoom, id }
}

/// `/admin/chatroom/info`.
pub async fn room_info(Admin { core, app, body }: Admin<RoomRequest>) -> Result<Response, WildfireError> {
    let room = core.groups.get(app.id, room(&body.chatroom_id)).await?;
    let s = &room.settings;
    // The app's own `admin` member is not one of the room's people.
    let people = room.member_count.saturating_sub(u64::from(room.owner == Username::admin()));
    Ok(ok(json!({
        "chatroomId": room.id, "title": s.name, "desc": s.description, "portrait": s.avatar, "extra": s.custom,
        "memberCount": people, "createDt": room.created_ms, "updateDt": room.version, "state": 0,
    })))
}

/// `/admin/chatroom/del`.
pub async fn delete_room(Admin { core, app, body }: Admin<RoomRequest>) -> Result<Response, WildfireError> {
    core.groups.delete(app.id, room(&body.chatroom_id)).await?;
    Ok(ok(Value::Null))
}

#[derive(Deserialize)]
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
}

/// `/admin/channel/create` → `{targetId, secret}` (a secret is made up when none is given).
pub async fn create_channel(Admin { core, app, body }: Admin<NewChannel>) -> Result<Response, WildfireError> {
    let owner = user(&body.owner, "owner")?;
    let secret = if body.secret.is_empty() { auth::random_token(12) } else { body.secret };
    let mut settings = settings(body.name, body.desc, body.portrait, body.extra, MAX_SUBSCRIBERS);
    settings.dialect.insert("secret".into(), json!(secret));
    settings.dialect.insert("callback".into(), json!(body.callback));
    let channel =
        core.groups.create(app.id, ChatType::Channel, chosen_id(body.target_id), owner, settings, Vec::new()).await?;
    Ok(ok(json!({"targetId": channel.id, "secret": secret})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelRequest {
    channel_id: String,
}

fn channel(id: &str) -> GroupRef<'_> {
    GroupRef { kind: ChatType::Channel, id }
}

fn channel_info(channel: &Group) -> Value {
    let s = &channel.settings;
    let dialect = |key: &str| s.dialect.get(key).cloned().unwrap_or(json!(""));
    json!({
        "targetId": channel.id, "name": s.name, "portrait": s.avatar, "owner": channel.owner.as_str(),
        "desc": s.description, "extra": s.custom, "secret": dialect("secret"), "callback": dialect("callback"),
        "subscriberCount": channel.member_count.saturating_sub(1), "updateDt": channel.version, "state": 0,
    })
}

/// `/admin/channel/get`.
pub async fn get_channel(Admin { core, app, body }: Admin<ChannelRequest>) -> Result<Response, WildfireError> {
    let found = core.groups.get(app.id, channel(&body.channel_id)).await?;
    Ok(ok(channel_info(&found)))
}

/// `/admin/channel/destroy`.
pub async fn destroy_channel(Admin { core, app, body }: Admin<ChannelRequest>) -> Result<Response, WildfireError> {
    core.groups.delete(app.id, channel(&body.channel_id)).await?;
    Ok(ok(Value::Null))
}

#[derive(Deserialize)]
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
        1 => core.groups.add_members(app.id, target, vec![subscriber]).await?,
        0 => core.groups.remove_members(app.id, target, vec![subscriber]).await?,
        _ => return Err(WildfireError::invalid("subscribe must be 0 or 1")),
    };
    Ok(ok(Value::Null))
}
