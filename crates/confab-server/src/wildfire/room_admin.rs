//! The vendor's chat-room calls beyond W-16 and `channel/is_subscribed`.
//!
//! The community server serves `chatroom/members` and `user_chatroom`; its
//! SDK's `ChatroomAdmin` also calls the black status, manager and mute-all
//! paths, which confab serves over the core's room lists (a room's block
//! list, mute list, admins and mute-all), so the other dialects and every
//! protocol enforce what is set here.

use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use confab_core::groups::{GroupRef, ListRules};
use confab_core::model::{ChatType, GroupList, Role, SettingKey, Username};

use super::error::WildfireError;
use super::{ok, user, Admin};

fn room(id: &str) -> GroupRef<'_> {
    GroupRef { kind: ChatType::ChatRoom, id }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomRequest {
    chatroom_id: String,
}

/// The room's people: its members less the app's own `admin` owner.
fn people(members: &[confab_core::model::Member]) -> Vec<&str> {
    members.iter().filter(|m| m.username != Username::admin()).map(|m| m.username.as_str()).collect()
}

/// `/admin/chatroom/members`: who is in the room now; none is 253, as the vendor answers.
pub async fn members(Admin { core, app, body }: Admin<RoomRequest>) -> Result<Response, WildfireError> {
    let (_, members) = core.groups.members(app.id, room(&body.chatroom_id)).await?;
    let list = people(&members);
    if list.is_empty() {
        return Err(WildfireError::not_exist(format!("members of chat room {}", body.chatroom_id)));
    }
    Ok(ok(json!({"list": list})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserIdRequest {
    user_id: String,
}

/// `/admin/chatroom/user_chatroom`: the room the user is in (a user is in
/// at most one at a time with the vendor; confab names the latest joined).
pub async fn user_chatroom(Admin { core, app, body }: Admin<UserIdRequest>) -> Result<Response, WildfireError> {
    let member = user(&body.user_id, "userId")?;
    let joined = core.groups.joined_at(app.id, ChatType::ChatRoom, &member).await?;
    let (room, _) = joined
        .iter()
        .max_by_key(|(_, at)| *at)
        .ok_or_else(|| WildfireError::not_exist(format!("a chat room of {member}")))?;
    let devices = core.hub().devices(app.id, &member);
    Ok(ok(
        json!({"userId": member.as_str(), "chatroomId": room.id, "clientId": devices.first().cloned().unwrap_or_default()}),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlackStatusRequest {
    chatroom_id: String,
    user_id: String,
    status: i64,
    /// Milliseconds since the epoch; 0 for ever.
    #[serde(default)]
    expired_time: i64,
}

/// `/admin/chatroom/set_black_status`: 1 mutes the user in the room, 2 bans
/// (removed, cannot rejoin), 0 lifts both; `expiredTime` ends a mute.
pub async fn set_black_status(Admin { core, app, body }: Admin<BlackStatusRequest>) -> Result<Response, WildfireError> {
    let member = user(&body.user_id, "userId")?;
    let target = room(&body.chatroom_id);
    let now = core.relations.now_ms();
    match body.status {
        0 => {
            core.groups.remove_from_list(app.id, target, GroupList::Mute, vec![member.clone()]).await?;
            core.groups.remove_from_list(app.id, target, GroupList::Block, vec![member]).await?;
        }
        1 => {
            let duration = match body.expired_time {
                0 => None,
                t if t > now => Some(t - now),
                _ => return Err(WildfireError::invalid("expiredTime must be 0 or in the future")),
            };
            core.groups.add_to_list_with(app.id, target, GroupList::Mute, vec![member], duration, anyone()).await?;
        }
        2 => {
            core.groups.add_to_list_with(app.id, target, GroupList::Block, vec![member], None, anyone()).await?;
        }
        _ => return Err(WildfireError::invalid("status must be 0, 1 (muted) or 2 (banned)")),
    }
    Ok(ok(Value::Null))
}

/// The vendor's room blacklist names anyone, in the room now or not.
fn anyone() -> ListRules {
    ListRules { members_only: false, ..ListRules::default() }
}

/// `/admin/chatroom/get_black_status`: `{infos: [{userId, state, expiredTime}]}`.
pub async fn get_black_status(Admin { core, app, body }: Admin<RoomRequest>) -> Result<Response, WildfireError> {
    let target = room(&body.chatroom_id);
    let now = core.relations.now_ms();
    let mut infos = Vec::new();
    for (list, state) in [(GroupList::Mute, 1), (GroupList::Block, 2)] {
        for entry in core.groups.list_entries(app.id, target, list).await? {
            if entry.until_ms <= now {
                continue;
            }
            let expired = if entry.until_ms == i64::MAX { 0 } else { entry.until_ms };
            infos.push(json!({"userId": entry.username.as_str(), "state": state, "expiredTime": expired}));
        }
    }
    Ok(ok(json!({"infos": infos})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagerRequest {
    chatroom_id: String,
    user_id: String,
    status: i64,
}

/// Settings namespace of room managers named while not in the room (owner:
/// the room; key: the user). The vendor keeps its room managers apart from
/// who is present; confab's managers are members, so these wait here.
const NAMED_MANAGERS: &str = "wildfire.room_manager";

/// `/admin/chatroom/set_manager`: 1 makes the user a manager, 0 undoes it.
/// A member becomes the room's admin in every dialect; a user not in the
/// room is listed as the vendor lists them, and gets a manager's rights when
/// named again once in the room.
pub async fn set_manager(Admin { core, app, body }: Admin<ManagerRequest>) -> Result<Response, WildfireError> {
    let member = user(&body.user_id, "userId")?;
    let manager = match body.status {
        1 => true,
        0 => false,
        _ => return Err(WildfireError::invalid("status must be 0 or 1")),
    };
    let target = room(&body.chatroom_id);
    let (found, members) = core.groups.members(app.id, target).await?;
    let key = SettingKey::new(NAMED_MANAGERS, &found.id, member.as_str());
    if members.iter().any(|m| m.username == member) {
        core.groups.set_admin(app.id, target, member, manager).await?;
        core.settings.remove(app.id, vec![key]).await?;
        return Ok(ok(Value::Null));
    }
    match manager {
        true => core.settings.put(app.id, vec![(key, String::new())]).await?,
        false => {
            core.settings.remove(app.id, vec![key]).await?;
        }
    }
    Ok(ok(Value::Null))
}

/// `/admin/chatroom/get_manager_list`: the room's admins and the managers
/// named while not in it.
pub async fn get_manager_list(Admin { core, app, body }: Admin<RoomRequest>) -> Result<Response, WildfireError> {
    let (found, members) = core.groups.members(app.id, room(&body.chatroom_id)).await?;
    let mut list: Vec<String> =
        members.iter().filter(|m| m.role == Role::Admin).map(|m| m.username.as_str().to_owned()).collect();
    for named in core.settings.of(app.id, NAMED_MANAGERS, &found.id).await? {
        if !list.contains(&named.key) {
            list.push(named.key);
        }
    }
    Ok(ok(json!({"list": list})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MuteAllRequest {
    chatroom_id: String,
    status: i64,
}

/// `/admin/chatroom/mute_all`: 1 mutes everyone but managers and the allow list.
pub async fn mute_all(Admin { core, app, body }: Admin<MuteAllRequest>) -> Result<Response, WildfireError> {
    let muted = match body.status {
        1 => true,
        0 => false,
        _ => return Err(WildfireError::invalid("status must be 0 or 1")),
    };
    core.groups.set_mute_all(app.id, room(&body.chatroom_id), muted).await?;
    Ok(ok(Value::Null))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscribedRequest {
    channel_id: String,
    user_id: String,
}

/// `/admin/channel/is_subscribed`: `{value}`, as the vendor's
/// `CheckUserSubscribeChannelAction` answers.
pub async fn is_subscribed(Admin { core, app, body }: Admin<SubscribedRequest>) -> Result<Response, WildfireError> {
    let member = user(&body.user_id, "userId")?;
    let target = GroupRef { kind: ChatType::Channel, id: &body.channel_id };
    let (_, members) = core.groups.members(app.id, target).await?;
    Ok(ok(json!({"value": members.iter().any(|m| m.username == member)})))
}
