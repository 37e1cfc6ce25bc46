//! The REST calls Easemob's client SDK makes for itself, with the user's
//! token: its conversation list (`getServerConversations`) and history
//! roaming (`getHistoryMessages`). Shapes are what `easemob-websdk` 4.21.1
//! parses; what a user sees is the core's view of their messages
//! (`MessageService::conversations_of` and `history_of`).

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use prost::Message as _;
use serde_json::{json, Value};

use confab_core::error::Error;
use confab_core::groups::GroupRef;
use confab_core::ids::MessageId;
use confab_core::messages::{ConversationSummary, Direction, HistoryRequest};
use confab_core::model::{direct_conversation_key, ChatType, ConversationId, Message, Username};

use super::history::{easemob_chat_type, payload};
use super::{
    decode_cursor_pair, encode_cursor_pair, page_limit, path_user, AnyAuth, EasemobError, JsonBody, Target,
    DEFAULT_BODY_LIMIT,
};
use crate::gateway::easemob_metas::{message_meta, GROUP_DOMAIN, USER_DOMAIN};

/// Most conversations and messages per page (the vendor's 50).
const MAX_PAGE: usize = 50;

#[derive(serde::Deserialize)]
pub struct UserPath {
    username: String,
}

/// `GET /sdk/user/{u}/user_channels/list`: the user's conversations,
/// newest message first, `limit` at a time after `cursor`. confab pins
/// nothing, so the pinned list (`is_top=true`) is empty.
pub async fn conversations(
    auth: AnyAuth,
    Path(path): Path<UserPath>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, EasemobError> {
    let user = path_user(&path.username)?;
    auth.require_self_or_app(&user)?;
    let target = &auth.0;
    let limit = page_limit(&query, "limit", 20, MAX_PAGE)?;
    let after = match query.get("cursor").filter(|c| !c.is_empty()) {
        Some(cursor) => Some(decode_cursor_pair(cursor)?),
        None => None,
    };
    let pinned_only = query.get("is_top").is_some_and(|v| v == "true");
    let all =
        if pinned_only { Vec::new() } else { target.core.messages.conversations_of(target.app.id, &user).await? };
    let page: Vec<&ConversationSummary> = all
        .iter()
        .filter(|s| after.is_none_or(|(ms, id)| (s.last.timestamp_ms, s.last.id) < (ms, id)))
        .take(limit)
        .collect();
    let cursor = match (page.len() == limit, page.last()) {
        (true, Some(last)) => encode_cursor_pair(last.last.timestamp_ms, last.last.id),
        _ => String::new(),
    };
    let app_key = app_key(target);
    let channel_infos: Vec<Value> = page.iter().map(|s| channel_info(&app_key, &user, s)).collect();
    let path = format!("/sdk/user/{user}/user_channels/list");
    let data = json!({"cursor": cursor, "channel_infos": channel_infos});
    Ok(target.envelope("get", &path).data(data).into_response())
}

fn app_key(target: &Target) -> String {
    format!("{}#{}", target.app.org, target.app.name)
}

/// One conversation as the SDK's list reads it: the peer, the kind, the
/// unread count and the newest message as a JSON meta.
fn channel_info(app_key: &str, user: &Username, summary: &ConversationSummary) -> Value {
    let peer = summary.peer(user);
    let (session_type, domain) = match summary.chat_type {
        ChatType::Chat => ("chat", USER_DOMAIN),
        _ => ("groupchat", GROUP_DOMAIN),
    };
    json!({
        "channel_id": format!("{app_key}_{peer}@{domain}"),
        "session_to": peer,
        "session_type": session_type,
        "unread_num": summary.unread,
        "meta": json_meta(app_key, &summary.last),
        "is_top": false,
        "update_top_status_time": 0,
        "marks": [],
    })
}

/// A message as the JSON meta of the conversation list: JIDs as strings,
/// and the payload (the REST message, with its type) as a JSON string.
fn json_meta(app_key: &str, message: &Message) -> Value {
    let domain = if message.chat_type == ChatType::Chat { USER_DOMAIN } else { GROUP_DOMAIN };
    let mut payload = payload(message);
    payload["type"] = json!(easemob_chat_type(message.chat_type));
    let mut from = format!("{app_key}_{}@{USER_DOMAIN}", message.from);
    if let Some(device) = &message.origin_device {
        from = format!("{from}/{device}");
    }
    json!({
        "id": message.id.to_string(),
        "from": from,
        "to": format!("{app_key}_{}@{domain}", message.to),
        "timestamp": message.timestamp_ms,
        "payload": payload.to_string(),
    })
}

/// The body the SDK sends for a page of roaming history. Fields of the wrong
/// type count as absent, except where a wrong value must be refused.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct RoamingRequest {
    /// `peer@easemob.com` or `group@conference.easemob.com`.
    #[schema(value_type = String)]
    queue: Option<Value>,
    /// Messages per page, 1 or more (default 20).
    #[schema(value_type = Option<u64>)]
    pull_number: Option<Value>,
    /// The message ID to start from (a number or its digits); -1 or absent for the newest.
    #[schema(value_type = Option<String>)]
    start: Option<Value>,
    /// Newer messages first when true.
    #[schema(value_type = Option<bool>)]
    is_positive: Option<Value>,
    /// Message types to keep, comma-separated.
    #[serde(rename = "msgType")]
    #[schema(value_type = Option<String>)]
    msg_type: Option<Value>,
    /// Sent at or after this time, in ms.
    #[serde(rename = "startTime")]
    #[schema(value_type = Option<i64>)]
    start_time: Option<Value>,
    /// Sent at or before this time, in ms.
    #[serde(rename = "endTime")]
    #[schema(value_type = Option<i64>)]
    end_time: Option<Value>,
    /// Only this sender's messages.
    #[serde(rename = "userId")]
    #[schema(value_type = Option<String>)]
    user_id: Option<Value>,
}

/// `POST /users/{u}/messageroaming`: a page of one conversation's history
/// (`queue` names it: `peer@easemob.com` or `group@conference.easemob.com`),
/// older first from `start` (or newer first with `is_positive`), each
/// message the base64 of the msync meta the SDK decodes.
pub async fn roaming(
    auth: AnyAuth,
    Path(path): Path<UserPath>,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, RoamingRequest>,
) -> Result<Response, EasemobError> {
    let user = path_user(&path.username)?;
    auth.require_self_or_app(&user)?;
    let target = &auth.0;
    let queue = body.queue.as_ref().and_then(Value::as_str).unwrap_or_default();
    let (name, chat_type) = if let Some(peer) = queue.strip_suffix(&format!("@{GROUP_DOMAIN}")) {
        (peer, ChatType::GroupChat)
    } else if let Some(peer) = queue.strip_suffix(&format!("@{USER_DOMAIN}")) {
        (peer, ChatType::Chat)
    } else {
        return Err(EasemobError::illegal_argument(format!(
            "queue [{queue}] is not user@{USER_DOMAIN} or group@{GROUP_DOMAIN}"
        )));
    };
    let limit = match &body.pull_number {
        None | Some(Value::Null) => 20,
        Some(n) => match n.as_u64() {
            Some(n @ 1..) => (n as usize).min(MAX_PAGE),
            _ => return Err(EasemobError::illegal_argument("pull_number must be a positive number")),
        },
    };
    let start = match &body.start {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_i64() == Some(-1) => None,
        Some(Value::String(s)) if s == "-1" || s.is_empty() => None,
        Some(v) => {
            let raw = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
            let id = raw
                .parse::<u64>()
                .map_err(|_| EasemobError::illegal_argument(format!("start [{raw}] is not a message ID")))?;
            Some(MessageId(id))
        }
    };
    let direction = if body.is_positive.as_ref().and_then(Value::as_bool) == Some(true) {
        Direction::Newer
    } else {
        Direction::Older
    };
    let kinds = body.msg_type.as_ref().and_then(Value::as_str).unwrap_or_default();
    let kinds = kinds.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned).collect();
    let time = |value: &Option<Value>| value.as_ref().and_then(Value::as_i64).filter(|ms| *ms > 0);
    let from = match body.user_id.as_ref().and_then(Value::as_str).filter(|u| !u.is_empty()) {
        Some(u) => Some(Username::easemob(u).map_err(|e| EasemobError::illegal_argument(e.to_string()))?),
        None => None,
    };

    let empty = || json!({"msgs": [], "next_key": "", "is_last": true});
    let path = format!("/users/{user}/messageroaming");
    let Some(conversation) = conversation(target, &user, name, chat_type).await? else {
        return Ok(target.envelope("post", &path).data(empty()).into_response());
    };
    let request = HistoryRequest {
        conversation,
        start,
        direction,
        limit,
        sent_from_ms: time(&body.start_time),
        sent_until_ms: time(&body.end_time),
        from,
        kinds,
    };
    let Some(page) = target.core.messages.history_of(target.app.id, &user, &request).await? else {
        if chat_type == ChatType::Chat {
            return Ok(target.envelope("post", &path).data(empty()).into_response());
        }
        return Err(Error::Forbidden(format!("user {user} is not a member of group {name}")).into());
    };
    let app_key = app_key(target);
    let engine = base64::engine::general_purpose::STANDARD;
    let msgs: Vec<Value> = page
        .messages
        .iter()
        .map(|m| json!({"msg": engine.encode(message_meta(&app_key, m).encode_to_vec())}))
        .collect();
    let next_key = page.next.map(|id| id.to_string()).unwrap_or_default();
    let data = json!({"msgs": msgs, "next_key": next_key, "is_last": page.is_last});
    Ok(target.envelope("post", &path).data(data).into_response())
}

/// The conversation a roaming queue names, if anything was ever said in it.
async fn conversation(
    target: &Target,
    user: &Username,
    name: &str,
    chat_type: ChatType,
) -> Result<Option<ConversationId>, EasemobError> {
    let app = target.app.id;
    if chat_type == ChatType::Chat {
        let Ok(peer) = Username::easemob(name) else {
            return Ok(None);
        };
        return Ok(target.core.messages.conversation(app, chat_type, &direct_conversation_key(user, &peer)).await?);
    }
    match target.core.groups.get(app, GroupRef { kind: chat_type, id: name }).await {
        Ok(group) => Ok(Some(group.conversation)),
        Err(Error::NotFound(_)) => Err(EasemobError::not_found()),
        Err(e) => Err(e.into()),
    }
}
