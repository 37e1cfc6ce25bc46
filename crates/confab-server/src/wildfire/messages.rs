//! W-1 to W-15: sending, changing and reading messages.

use std::sync::Arc;

use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use confab_core::groups::GroupSend;
use confab_core::ids::MessageId;
use confab_core::messages::{DirectSend, Multicast};
use confab_core::model::{
    direct_conversation_key_on_line, ChatType, ConversationId, Delivery, Message, MessageState, Username,
};

use super::error::WildfireError;
use super::payload::{self, Conversation};
use super::{ok, user, Admin};

fn users(raw: &[String], field: &str) -> Result<Vec<Username>, WildfireError> {
    raw.iter().map(|u| user(u, field)).collect()
}

/// A `messageUid` as a number or a numeric string: the vendor's JSON library
/// takes both, and JavaScript callers must send the string (the IDs pass
/// 2^53). Anything else is still refused.
pub(super) fn number_or_numeric_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize, utoipa::ToSchema)]
    #[serde(untagged)]
    enum Raw {
        Number(i64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Number(n) => Ok(n),
        Raw::Text(s) => {
            s.trim().parse().map_err(|_| serde::de::Error::custom(format!("messageUid {s:?} is not a number")))
        }
    }
}

fn uid(raw: i64) -> Result<MessageId, WildfireError> {
    if raw <= 0 {
        return Err(WildfireError::invalid("messageUid must be a positive number"));
    }
    Ok(MessageId(raw as u64))
}

pub(super) fn sent(message: &Message) -> Value {
    json!({"messageUid": message.id.0, "timestamp": message.timestamp_ms})
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendRequest {
    sender: String,
    conv: Conversation,
    payload: Value,
    #[serde(default)]
    to_users: Option<Vec<String>>,
}

/// Who a send speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Speaker {
    /// The admin API: the app itself; membership and mutes do not apply.
    App,
    /// A robot or channel through its service API: a user like any other.
    User,
}

/// W-1: one message to a user, group or chat room. The admin API speaks for
/// the app: membership and mutes do not apply, as with the vendor.
pub async fn send(Admin { core, app, body }: Admin<SendRequest>) -> Result<Response, WildfireError> {
    let message = deliver(&core, &app, body, Speaker::App).await?;
    Ok(ok(sent(&message)))
}

/// Sends what a `SendMessageData` describes.
pub(super) async fn deliver(
    core: &confab_core::Core,
    app: &confab_core::model::App,
    body: SendRequest,
    speaker: Speaker,
) -> Result<Arc<Message>, WildfireError> {
    let by_app = speaker == Speaker::App;
    let from = user(&body.sender, "sender")?;
    let kind = body.conv.chat_type()?;
    let (content, original) = payload::parse(body.payload, body.conv.line)?;
    let delivery = Delivery { sync_sender: true, online_only: false, sent_at: None };
    let message = if kind == ChatType::Chat {
        let to = user(&body.conv.target, "conv.target")?;
        // The vendor's server sends between users it never heard of.
        core.users.ensure_exist(app.id, &[from.clone(), to.clone()]).await?;
        let send = DirectSend {
            from,
            to: vec![to],
            body: content,
            ext: None,
            delivery,
            origin_device: None,
            line: body.conv.line,
            original: Some(original),
        };
        core.messages.send_direct(app.id, send).await?.pop().map(|(_, m)| m)
    } else {
        let receivers = body.to_users.as_deref().map(|u| users(u, "toUsers")).transpose()?;
        let send = GroupSend {
            from,
            by_app,
            kind,
            to: vec![body.conv.target],
            body: content,
            ext: None,
            delivery,
            origin_device: None,
            original: Some(original),
            receivers: receivers.filter(|r| !r.is_empty()),
        };
        core.groups.send(app.id, send).await?.pop().map(|(_, m)| m)
    };
    message.ok_or_else(|| WildfireError::new(super::error::SERVER_ERROR))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRequest {
    #[serde(deserialize_with = "number_or_numeric_string")]
    message_uid: i64,
    payload: Value,
    #[serde(default)]
    distribute: i64,
}

/// W-2: new content for a sent message; with `distribute: 1` connected
/// receivers get it at once.
pub async fn update(Admin { core, app, body }: Admin<UpdateRequest>) -> Result<Response, WildfireError> {
    let id = uid(body.message_uid)?;
    let message = core.messages.get(app.id, id).await?.ok_or_else(|| WildfireError::not_exist("message"))?;
    let (content, original) = payload::parse(body.payload, message.line())?;
    core.messages.edit(app.id, id, content, Some(original), body.distribute != 0).await?;
    Ok(ok(Value::Null))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecallRequest {
    operator: String,
    #[serde(deserialize_with = "number_or_numeric_string")]
    message_uid: i64,
    #[serde(default)]
    receivers: Option<Vec<String>>,
}

/// W-3: recalls a message at any age. Recalling it again changes nothing.
pub async fn recall(Admin { core, app, body }: Admin<RecallRequest>) -> Result<Response, WildfireError> {
    let operator = user(&body.operator, "operator")?;
    let message = visible(&core, &app, body.message_uid).await?;
    if !matches!(message.state, MessageState::Recalled { .. }) {
        core.messages.recall(app.id, message.id, &operator, None).await?;
    }
    Ok(ok(Value::Null))
}

/// A stored message that was not deleted.
async fn visible(core: &confab_core::Core, app: &confab_core::model::App, raw: i64) -> Result<Message, WildfireError> {
    let id = uid(raw)?;
    match core.messages.get(app.id, id).await? {
        Some(m) if !matches!(m.state, MessageState::Deleted { .. }) => Ok(m),
        _ => Err(WildfireError::not_exist(format!("message {id}"))),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MulticastRequest {
    sender: String,
    targets: Vec<String>,
    #[serde(default)]
    line: u32,
    payload: Value,
}

/// W-4: one message to many users, stored once.
pub async fn multicast(Admin { core, app, body }: Admin<MulticastRequest>) -> Result<Response, WildfireError> {
    let from = user(&body.sender, "sender")?;
    let to = users(&body.targets, "targets")?;
    let (content, original) = payload::parse(body.payload, body.line)?;
    core.users.ensure_exist(app.id, &to).await?;
    let send = Multicast {
        from,
        channel: None,
        to: Some(to),
        line: body.line,
        body: content,
        ext: None,
        original: Some(original),
    };
    let (message, _) = core.messages.multicast(app.id, send).await?;
    Ok(ok(sent(&message)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BroadcastRequest {
    sender: String,
    #[serde(default)]
    line: u32,
    payload: Value,
}

/// W-5: one message to every user of the app, stored once; users offline
/// now get it when they connect.
pub async fn broadcast(Admin { core, app, body }: Admin<BroadcastRequest>) -> Result<Response, WildfireError> {
    let from = user(&body.sender, "sender")?;
    let (content, original) = payload::parse(body.payload, body.line)?;
    let send = Multicast {
        from,
        channel: None,
        to: None,
        line: body.line,
        body: content,
        ext: None,
        original: Some(original),
    };
    let (message, count) = core.messages.multicast(app.id, send).await?;
    Ok(ok(json!({"messageUid": message.id.0, "count": count})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UidRequest {
    #[serde(deserialize_with = "number_or_numeric_string")]
    message_uid: i64,
}

/// W-6: deletes a message for everyone.
pub async fn delete(Admin { core, app, body }: Admin<UidRequest>) -> Result<Response, WildfireError> {
    let message = visible(&core, &app, body.message_uid).await?;
    core.messages.delete(app.id, message.id, None).await?;
    Ok(ok(Value::Null))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClearRequest {
    user_id: String,
    conversation: Conversation,
    start_time: i64,
    end_time: i64,
}

/// The confab conversation a user's vendor conversation names, if anything
/// was ever said in it.
async fn conversation_of(
    core: &confab_core::Core,
    app: &confab_core::model::App,
    who: &Username,
    conv: &Conversation,
) -> Result<Option<ConversationId>, WildfireError> {
    let kind = conv.chat_type()?;
    let key = match kind {
        ChatType::Chat => direct_conversation_key_on_line(who, &user(&conv.target, "target")?, conv.line),
        _ => conv.target.clone(),
    };
    Ok(core.messages.conversation(app.id, kind, &key).await?)
}

/// W-7: deletes a user's messages of one conversation between two instants,
/// for that user only.
pub async fn clear_by_user(Admin { core, app, body }: Admin<ClearRequest>) -> Result<Response, WildfireError> {
    let who = user(&body.user_id, "userId")?;
    if body.start_time > body.end_time {
        return Err(WildfireError::invalid("startTime must not be after endTime"));
    }
    if let Some(conversation) = conversation_of(&core, &app, &who, &body.conversation).await? {
        core.messages.clear_for_user(app.id, &who, conversation, body.start_time, body.end_time).await?;
    }
    Ok(ok(Value::Null))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationRequest {
    user_id: String,
    conversation: Conversation,
}

/// W-8: deletes a conversation for one user; the other members keep theirs.
pub async fn delete_conversation(
    Admin { core, app, body }: Admin<ConversationRequest>,
) -> Result<Response, WildfireError> {
    let who = user(&body.user_id, "userId")?;
    if let Some(conversation) = conversation_of(&core, &app, &who, &body.conversation).await? {
        core.messages.delete_conversation_for_user(app.id, &who, conversation).await?;
    }
    Ok(ok(Value::Null))
}

/// W-9: a message with its payload as sent (or as edited, or the vendor's
/// recall notification once recalled).
pub async fn get_one(Admin { core, app, body }: Admin<UidRequest>) -> Result<Response, WildfireError> {
    let message = visible(&core, &app, body.message_uid).await?;
    let mut result = json!({
        "messageId": message.id.0,
        "sender": message.from.as_str(),
        "conv": Conversation::of(&message),
        "payload": payload::of(&message),
        "timestamp": message.timestamp_ms,
    });
    if let Some(receivers) = &message.receivers {
        result["toUsers"] = json!(receivers);
    }
    Ok(ok(result))
}

/// The multicast (`receivers` named when sent) or broadcast a call names.
async fn cast(
    core: &confab_core::Core,
    app: &confab_core::model::App,
    raw: i64,
    multi: bool,
) -> Result<Message, WildfireError> {
    let message = visible(core, app, raw).await?;
    let is_cast = message.chat_type == ChatType::Broadcast && message.receivers.is_some() == multi;
    if !is_cast {
        let what = if multi { "multicast" } else { "broadcast" };
        return Err(WildfireError::not_exist(format!("{what} message {}", message.id)));
    }
    Ok(message)
}

/// W-10: recalls a broadcast, for everyone or for `receivers`.
pub async fn recall_broadcast(Admin { core, app, body }: Admin<RecallRequest>) -> Result<Response, WildfireError> {
    recall_cast(core, app, body, false).await
}

/// W-11: recalls a multicast, for everyone or for `receivers`.
pub async fn recall_multicast(Admin { core, app, body }: Admin<RecallRequest>) -> Result<Response, WildfireError> {
    recall_cast(core, app, body, true).await
}

async fn recall_cast(
    core: std::sync::Arc<confab_core::Core>,
    app: std::sync::Arc<confab_core::model::App>,
    body: RecallRequest,
    multi: bool,
) -> Result<Response, WildfireError> {
    let operator = user(&body.operator, "operator")?;
    let message = cast(&core, &app, body.message_uid, multi).await?;
    let only = body.receivers.as_deref().map(|r| users(r, "receivers")).transpose()?;
    if matches!(message.state, MessageState::Recalled { .. }) {
        return Ok(ok(Value::Null));
    }
    core.messages.recall(app.id, message.id, &operator, only).await?;
    Ok(ok(Value::Null))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteCastRequest {
    /// Who deletes it (the seed's field, as for recalls): receivers are told.
    operator: String,
    #[serde(deserialize_with = "number_or_numeric_string")]
    message_uid: i64,
    #[serde(default)]
    receivers: Option<Vec<String>>,
}

/// W-12: deletes a broadcast, for everyone or for `receivers`.
pub async fn delete_broadcast(Admin { core, app, body }: Admin<DeleteCastRequest>) -> Result<Response, WildfireError> {
    delete_cast(core, app, body, false).await
}

/// W-13: deletes a multicast, for everyone or for `receivers`.
pub async fn delete_multicast(Admin { core, app, body }: Admin<DeleteCastRequest>) -> Result<Response, WildfireError> {
    delete_cast(core, app, body, true).await
}

async fn delete_cast(
    core: std::sync::Arc<confab_core::Core>,
    app: std::sync::Arc<confab_core::model::App>,
    body: DeleteCastRequest,
    multi: bool,
) -> Result<Response, WildfireError> {
    let operator = user(&body.operator, "operator")?;
    let message = cast(&core, &app, body.message_uid, multi).await?;
    let only = body.receivers.as_deref().map(|r| users(r, "receivers")).transpose()?;
    core.messages.delete_by(app.id, message.id, &operator, only).await?;
    Ok(ok(Value::Null))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConvReadRequest {
    user_id: String,
    #[serde(flatten)]
    conversation: Conversation,
}

/// W-14: when the newest message the user read in a conversation was sent
/// (from the gateway's read receipts); 0 when none.
pub async fn conv_read(Admin { core, app, body }: Admin<ConvReadRequest>) -> Result<Response, WildfireError> {
    let who = user(&body.user_id, "userId")?;
    let timestamp = match conversation_of(&core, &app, &who, &body.conversation).await? {
        Some(conversation) => core.messages.read_until(app.id, &who, conversation).await?,
        None => 0,
    };
    Ok(ok(json!({"timestamp": timestamp})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserRequest {
    user_id: String,
}

/// W-15: when the newest message any of the user's devices acknowledged was sent; 0 when none.
pub async fn delivery(Admin { core, app, body }: Admin<UserRequest>) -> Result<Response, WildfireError> {
    let who = user(&body.user_id, "userId")?;
    let timestamp = core.messages.delivered_until(app.id, &who).await?;
    Ok(ok(json!({"timestamp": timestamp})))
}
