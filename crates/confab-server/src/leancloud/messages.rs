//! Messages of conversations, chat rooms and service conversations
//! (L-msg, L-room-4, and the service conversations' edits and recalls):
//! parsing a send once for every endpoint that sends, history, and the
//! changes to a sent message, generic over a [`Kind`].

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::response::Response;
use serde_json::{json, Value};

use confab_core::error::Error;
use confab_core::groups::GroupSend;
use confab_core::ids::MessageId;
use confab_core::model::{ChatType, ConversationId, Delivery, Group, Message, MessageState, Original, Username};
use confab_core::Core;

use super::conversations::{find, Kind};
use super::error::{self, LcError};
use super::history::{self, HistoryParams};
use super::requests::{EditMessage, MessageRef, RecallMessage, SendMessage};
use super::{client, clients, ensure_clients, ok, required, Master};
use crate::limits::{Per, LEANCLOUD_MESSAGES_PER_MINUTE};

/// Most clients one message may mention.
const MAX_MENTIONS: usize = 20;
pub use crate::leancloud_data::MAX_MESSAGE_BYTES;

pub use crate::leancloud_data::body_of;

/// The `message` field: a string of at most 5 KB.
pub fn message_field(value: &Option<Value>) -> Result<String, LcError> {
    let message = match value {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        // The vendor's SDKs send an object when given one: kept as its JSON text.
        Some(value @ Value::Object(_)) => value.to_string(),
        _ => return Err(LcError::invalid("message is required")),
    };
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(LcError::new(axum::http::StatusCode::BAD_REQUEST, 4109, "message is larger than 5 KB"));
    }
    Ok(message)
}

fn flag(value: &Option<Value>, key: &str) -> Result<bool, LcError> {
    match value {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(LcError::invalid(format!("{key} must be true or false"))),
    }
}

/// What a send asks for, parsed once for every endpoint that sends.
pub struct Outgoing {
    pub from: Username,
    pub data: String,
    pub transient: bool,
    pub no_sync: bool,
    pub mention_all: bool,
    pub mentions: Vec<Username>,
    /// The message's `ext`: its `push_data`, for offline push.
    pub ext: Option<Value>,
}

pub fn outgoing(body: &SendMessage) -> Result<Outgoing, LcError> {
    let from = client(required(&body.from_client, "from_client")?, "from_client")?;
    let options = &body.options;
    let data = message_field(&options.message)?;
    let mentions = match &options.mention_client_ids {
        Some(_) => clients(&options.mention_client_ids, "mention_client_ids", MAX_MENTIONS)?,
        None => Vec::new(),
    };
    if let Some(priority) = options.priority.as_ref().and_then(Value::as_str) {
        if !["high", "normal", "low"].contains(&priority.to_ascii_lowercase().as_str()) {
            return Err(LcError::invalid("priority must be high, normal or low"));
        }
    }
    Ok(Outgoing {
        from,
        data,
        transient: flag(&options.transient, "transient")?,
        no_sync: flag(&options.no_sync, "no_sync")?,
        mention_all: flag(&options.mention_all, "mention_all")?,
        mentions,
        ext: crate::leancloud_data::push_ext(options.push_data.as_ref()).map_err(LcError::invalid)?,
    })
}

/// Sends to a conversation of this kind as the app (membership is not
/// checked, as the vendor does); returns the message.
pub async fn send_as_app<K: Kind>(
    core: &Core,
    app: &confab_core::model::App,
    id: &str,
    out: Outgoing,
    receivers: Option<Vec<Username>>,
) -> Result<std::sync::Arc<Message>, LcError> {
    ensure_clients(core, app, std::slice::from_ref(&out.from)).await?;
    let original = Original::LeanCloud {
        data: out.data.clone(),
        binary: false,
        mention_all: out.mention_all,
        mentions: out.mentions,
        valid_till: None,
    };
    let send = GroupSend {
        from: out.from,
        by_app: true,
        kind: K::CHAT_TYPE,
        to: vec![id.to_owned()],
        body: body_of(&out.data),
        ext: out.ext,
        delivery: Delivery { sync_sender: K::SYNC_SENDER && !out.no_sync, online_only: false, sent_at: None },
        origin_device: None,
        original: Some(original),
        receivers,
    };
    let sent = if out.transient {
        core.groups.send_transient(app.id, send).await
    } else {
        core.groups.send(app.id, send).await.and_then(|mut sent| {
            sent.pop().map(|(_, m)| m).ok_or_else(|| Error::Storage("a send stored nothing".into()))
        })
    };
    match sent {
        Ok(message) => Ok(message),
        Err(Error::NotFound(_)) => Err(LcError::new(
            axum::http::StatusCode::NOT_FOUND,
            error::INVALID_MESSAGING_TARGET,
            format!("Conversation {id} not found."),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Counts one call against the app's per-minute quota of message calls (sends, edits, recalls).
pub fn message_quota(target: &Master) -> Result<(), LcError> {
    if !target.limits.allow(&target.app, LEANCLOUD_MESSAGES_PER_MINUTE, Per::Minute, 1) {
        return Err(LcError::too_many_requests());
    }
    Ok(())
}

pub fn sent(message: &Message) -> Response {
    ok(json!({"msg-id": message.id.to_string(), "timestamp": message.timestamp_ms}))
}

/// L-msg-1 (and L-room-4): sends a message; `transient` ones reach only who is connected.
pub async fn send<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body<SendMessage>,
) -> Result<Response, LcError> {
    message_quota(&target)?;
    let out = outgoing(&body)?;
    let message = send_as_app::<K>(&target.core, &target.app, &id, out, None).await?;
    Ok(sent(&message))
}

/// The conversations whose messages a conversation's history holds: its
/// own, and for a service conversation, what it sent to chosen subscribers.
pub async fn history_conversations<K: Kind>(
    core: &Core,
    app: confab_core::model::AppId,
    group: &Group,
) -> Result<Vec<ConversationId>, LcError> {
    let mut conversations = vec![group.conversation];
    if K::CHAT_TYPE == ChatType::Channel {
        if let Some(private) = core
            .messages
            .conversation(app, ChatType::Broadcast, &super::conversations::keys::private_key(&group.id))
            .await?
        {
            conversations.push(private);
        }
    }
    Ok(conversations)
}

/// L-msg-2: history, by the seed's rules for `timestamp`/`msgid`,
/// `till_timestamp`/`till_msgid`, `include_start`/`include_stop`, `reversed`, `limit`.
pub async fn history<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    let group = find::<K>(&target.core, target.app.id, &id).await?;
    let params = HistoryParams::parse(&params, target.core.now_ms())?;
    let conversations = history_conversations::<K>(&target.core, target.app.id, &group).await?;
    let messages = history::read(&target.core, target.app.id, &conversations, None, &params).await?;
    Ok(ok(Value::Array(messages.iter().map(history::record).collect())))
}

/// Whether a service conversation's app-wide broadcasts are among the
/// messages a path may name: they are edited and recalled under the service
/// conversation (the seed's "修改广播消息"), but deleted only at `/broadcasts/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broadcasts {
    Included,
    Excluded,
}

/// The message a path names, checked against the conversation, sender and time given.
pub async fn owned_message<K: Kind>(
    target: &Master,
    id: &str,
    message_id: &str,
    by: &MessageRef,
    broadcasts: Broadcasts,
) -> Result<Message, LcError> {
    let group = find::<K>(&target.core, target.app.id, id).await?;
    let not_found = || LcError::message_not_found(message_id);
    let parsed = MessageId::parse(message_id).ok_or_else(not_found)?;
    let message = target.core.messages.get(target.app.id, parsed).await?.ok_or_else(not_found)?;
    let mut conversations = history_conversations::<K>(&target.core, target.app.id, &group).await?;
    if K::CHAT_TYPE == ChatType::Channel && broadcasts == Broadcasts::Included {
        let key = super::conversations::keys::broadcast_key(&group.id);
        if let Some(broadcasts) = target.core.messages.conversation(target.app.id, ChatType::Broadcast, &key).await? {
            conversations.push(broadcasts);
        }
    }
    if !conversations.contains(&message.conversation) || matches!(message.state, MessageState::Deleted { .. }) {
        return Err(not_found());
    }
    let from = client(required(&by.from_client, "from_client")?, "from_client")?;
    let timestamp = by.timestamp.as_ref().and_then(|t| t.as_i64().or_else(|| t.as_str().and_then(|s| s.parse().ok())));
    let Some(timestamp) = timestamp else {
        return Err(LcError::invalid("timestamp is required"));
    };
    if message.from != from || message.timestamp_ms != timestamp {
        return Err(not_found());
    }
    Ok(message)
}

/// `to_clients` of an edit or recall of a service conversation's message:
/// the subscribers it is for (at most 20).
fn chosen_clients<K: Kind>(to_clients: &Option<Value>) -> Result<Option<Vec<Username>>, LcError> {
    if K::CHAT_TYPE != ChatType::Channel || to_clients.is_none() {
        return Ok(None);
    }
    let to = clients(to_clients, "to_clients", super::conversations::keys::MAX_TO_CLIENTS)?;
    if to.is_empty() {
        return Err(LcError::invalid("to_clients must name at least one client"));
    }
    Ok(Some(to))
}

/// L-msg-3: new content; connected receivers are told. With `to_clients`
/// (service conversations) only those are told. An app-wide broadcast keeps
/// its expiry and, as the vendor's, reaches only devices that have not
/// received it yet.
pub async fn edit<K: Kind>(
    target: Master,
    Path((id, message_id)): Path<(String, String)>,
    super::Body(body): super::Body<EditMessage>,
) -> Result<Response, LcError> {
    message_quota(&target)?;
    let message = owned_message::<K>(&target, &id, &message_id, &body.message_ref, Broadcasts::Included).await?;
    let data = message_field(&body.message)?;
    let to = chosen_clients::<K>(&body.to_clients)?;
    let valid_till = match &message.original {
        Some(Original::LeanCloud { valid_till, .. }) => *valid_till,
        _ => None,
    };
    let original =
        Original::LeanCloud { data: data.clone(), binary: false, mention_all: false, mentions: Vec::new(), valid_till };
    let (app, messages, content) = (target.app.id, &target.core.messages, body_of(&data));
    match (to, valid_till) {
        (Some(to), _) => messages.edit_telling(app, message.id, content, Some(original), to).await?,
        (None, Some(_)) => messages.edit(app, message.id, content, Some(original), false).await?,
        (None, None) => messages.edit(app, message.id, content, Some(original), true).await?,
    };
    Ok(ok(json!({})))
}

/// L-msg-4: recalls a message (the vendor sets no time limit here); with
/// `to_clients` (service conversations), for those clients only.
pub async fn recall<K: Kind>(
    target: Master,
    Path((id, message_id)): Path<(String, String)>,
    super::Body(body): super::Body<RecallMessage>,
) -> Result<Response, LcError> {
    message_quota(&target)?;
    let message = owned_message::<K>(&target, &id, &message_id, &body.message_ref, Broadcasts::Included).await?;
    let to = chosen_clients::<K>(&body.to_clients)?;
    if !matches!(message.state, MessageState::Recalled { .. }) {
        target.core.messages.recall(target.app.id, message.id, &message.from, to).await?;
    }
    Ok(ok(json!({})))
}

/// L-msg-5: deletes a message on the server only (devices keep their copy).
pub async fn delete_message<K: Kind>(
    target: Master,
    Path((id, message_id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    let by = MessageRef::from_query(&params);
    let message = owned_message::<K>(&target, &id, &message_id, &by, Broadcasts::Excluded).await?;
    target.core.messages.delete_on_server(target.app.id, message.id).await?;
    Ok(ok(json!({})))
}
