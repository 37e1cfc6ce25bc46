//! App-wide calls (L-glob-1 to L-glob-4): stats, every conversation,
//! app-wide broadcasts that expire, and the whole app's history.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::response::Response;
use serde_json::{json, Value};

use confab_core::groups::GroupSend;
use confab_core::messages::{Channel, Multicast};
use confab_core::model::{ChatType, Delivery, Original, Username};
use confab_core::storage::MessageQuery;

use super::conversations::keys::broadcast_key;
use super::conversations::{find, find_documents, Services};
use super::history::{self, HistoryParams};
use super::messages::{body_of, message_field};
use super::requests::Broadcast;
use super::{client, ensure_clients, ok, required, LcError, Master};
use crate::limits::{Per, LEANCLOUD_BROADCASTS_PER_DAY, LEANCLOUD_BROADCASTS_PER_MINUTE};

const DAY_MS: i64 = 24 * 3600 * 1000;
/// How long a broadcast may stay deliverable, and its default (one month).
const MAX_VALID_MS: i64 = confab_core::lasting::LONGEST_DELIVERABLE_MS;

/// L-glob-1: clients connected now, and clients that logged in today (UTC).
pub async fn stats(target: Master) -> Result<Response, LcError> {
    let online = target.core.users.online_count(target.app.id).await?;
    let today = target.core.now_ms() / DAY_MS * DAY_MS;
    let active = target.core.users.active_since(target.app.id, today).await?;
    Ok(ok(json!({"result": {"online_user_count": online, "user_count_today": active}})))
}

/// L-glob-2: conversations of every kind, with `where`, `order`, `skip`, `limit`.
pub async fn all_conversations(
    target: Master,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    let kinds = [ChatType::GroupChat, ChatType::ChatRoom, ChatType::Channel];
    let results = find_documents(&target.core, target.app.id, &kinds, &params).await?;
    Ok(ok(json!({"results": results})))
}

/// L-glob-3: a message to every client of the app, under a service
/// conversation, deliverable until `valid_till` (at most a month; a month
/// by default) to clients that come online before then. `transient` ones
/// reach only clients connected now.
pub async fn broadcast(target: Master, super::Body(body): super::Body<Broadcast>) -> Result<Response, LcError> {
    let per_minute = target.limits.allow(&target.app, LEANCLOUD_BROADCASTS_PER_MINUTE, Per::Minute, 1);
    if !per_minute || !target.limits.allow(&target.app, LEANCLOUD_BROADCASTS_PER_DAY, Per::Day, 1) {
        return Err(LcError::too_many_requests());
    }
    let from = client(required(&body.from_client, "from_client")?, "from_client")?;
    let content = &body.content;
    let conv_id = required(&content.conv_id, "conv_id")?.to_owned();
    let data = message_field(&content.message)?;
    let now = target.core.now_ms();
    let valid_till = match &content.valid_till {
        None | Some(Value::Null) => now + MAX_VALID_MS,
        Some(v) => v
            .as_i64()
            .filter(|t| *t > now && *t <= now + MAX_VALID_MS)
            .ok_or_else(|| LcError::invalid("valid_till must be a time in ms within the next month"))?,
    };
    let transient = content.transient.as_ref().and_then(Value::as_bool).unwrap_or(false);
    let ext = crate::leancloud_data::push_ext(content.push.as_ref()).map_err(LcError::invalid)?;
    let message = app_broadcast(&target, from, &conv_id, data, valid_till, transient, ext).await?;
    Ok(ok(json!({"msg-id": message.id.to_string(), "timestamp": message.timestamp_ms})))
}

/// Sends an app-wide broadcast (shared with the v1.1 call).
pub async fn app_broadcast(
    target: &Master,
    from: Username,
    conv_id: &str,
    data: String,
    valid_till: i64,
    transient: bool,
    ext: Option<Value>,
) -> Result<std::sync::Arc<confab_core::model::Message>, LcError> {
    find::<Services>(&target.core, target.app.id, conv_id).await?;
    ensure_clients(&target.core, &target.app, std::slice::from_ref(&from)).await?;
    let original = Original::LeanCloud {
        data: data.clone(),
        binary: false,
        mention_all: false,
        mentions: Vec::new(),
        valid_till: Some(valid_till),
    };
    if transient {
        // Everyone connected now: the service conversation's subscribers and
        // every other user, told live and never stored.
        let send = GroupSend {
            from,
            by_app: true,
            kind: ChatType::Channel,
            to: vec![conv_id.to_owned()],
            body: body_of(&data),
            ext: None,
            delivery: Delivery { sync_sender: false, online_only: false, sent_at: None },
            origin_device: None,
            original: Some(original),
            receivers: Some(all_users(target).await?),
        };
        return Ok(target.core.groups.send_transient(target.app.id, send).await?);
    }
    let send = Multicast {
        from,
        channel: Some(Channel { key: broadcast_key(conv_id), name: conv_id.to_owned() }),
        to: None,
        line: 0,
        body: body_of(&data),
        ext,
        original: Some(original),
    };
    Ok(target.core.messages.multicast(target.app.id, send).await?.0)
}

async fn all_users(target: &Master) -> Result<Vec<Username>, LcError> {
    let mut users = Vec::new();
    let mut after = None;
    loop {
        let page = target.core.users.list(target.app.id, after, 1000).await?;
        users.extend(page.items.into_iter().map(|u| u.username));
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(users),
        }
    }
}

/// L-glob-3: deletes a broadcast: clients that have not received it never will.
pub async fn delete_broadcast(target: Master, Path(message_id): Path<String>) -> Result<Response, LcError> {
    let not_found = || LcError::message_not_found(&message_id);
    let id = confab_core::ids::MessageId::parse(&message_id).ok_or_else(not_found)?;
    let message = target.core.messages.get(target.app.id, id).await?.ok_or_else(not_found)?;
    let is_broadcast = matches!(&message.original, Some(Original::LeanCloud { valid_till: Some(_), .. }));
    if message.chat_type != ChatType::Broadcast || !is_broadcast {
        return Err(not_found());
    }
    target.core.messages.delete_on_server(target.app.id, id).await?;
    Ok(ok(json!({})))
}

/// L-glob-3: broadcasts under a service conversation that may still be
/// delivered, newest first, `limit` and `skip`.
pub async fn broadcasts(target: Master, Query(params): Query<HashMap<String, String>>) -> Result<Response, LcError> {
    let conv_id =
        params.get("conv_id").filter(|c| !c.is_empty()).ok_or_else(|| LcError::invalid("conv_id is required"))?;
    let limit = params.get("limit").and_then(|l| l.parse::<usize>().ok()).filter(|n| *n >= 1).unwrap_or(100).min(1000);
    let skip = params.get("skip").and_then(|s| s.parse::<usize>().ok()).unwrap_or(0);
    let conversation =
        target.core.messages.conversation(target.app.id, ChatType::Broadcast, &broadcast_key(conv_id)).await?;
    let Some(conversation) = conversation else {
        return Ok(ok(json!([])));
    };
    let now = target.core.now_ms();
    let query = MessageQuery {
        conversation: Some(conversation),
        newest_first: true,
        limit: skip + limit,
        ..MessageQuery::default()
    };
    let messages = target.core.messages.query(target.app.id, query).await?;
    let live: Vec<Value> = messages
        .iter()
        .filter(|m| !m.expired(now))
        .skip(skip)
        .take(limit)
        .map(|m| {
            let valid_till = match &m.original {
                Some(Original::LeanCloud { valid_till, .. }) => *valid_till,
                _ => None,
            };
            json!({"msg-id": m.id.to_string(), "from": m.from.as_str(), "conv-id": conv_id, "data": history::data(m),
                   "timestamp": m.timestamp_ms, "valid_till": valid_till})
        })
        .collect();
    Ok(ok(Value::Array(live)))
}

/// L-glob-4: the whole app's history; history parameters.
pub async fn history(target: Master, Query(params): Query<HashMap<String, String>>) -> Result<Response, LcError> {
    let params = HistoryParams::parse(&params, target.core.now_ms())?;
    let messages = history::read(&target.core, target.app.id, &[], None, &params).await?;
    Ok(ok(Value::Array(messages.iter().map(history::record).collect())))
}
