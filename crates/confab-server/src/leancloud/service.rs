//! Service conversations (L-svc): a confab channel whose members are its
//! subscribers. A broadcast to all subscribers is a channel message; a
//! message to chosen subscribers goes out under the service conversation
//! as a multicast (stored once, receivers recorded), so it reaches whoever
//! it names, subscribed or not, and nobody else.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::response::Response;
use serde_json::{json, Value};

use confab_core::messages::{Channel, Multicast};
use confab_core::model::{ConversationId, Original, Username};

use super::conversations::keys::{private_key, MAX_TO_CLIENTS};
use super::conversations::{find, group_ref, Services};
use super::history::{self, HistoryParams};
use super::messages::{body_of, history_conversations, outgoing, owned_message, send_as_app, sent, Broadcasts};
use super::requests::{ClientId, MessageRef, SendMessage, SendToClients};
use super::{client, clients, ensure_clients, ok, required, LcError, Master};
use crate::limits::{Per, LEANCLOUD_SUBSCRIPTION_MESSAGES_PER_DAY, LEANCLOUD_SUBSCRIPTION_MESSAGES_PER_MINUTE};

const MAX_SUBSCRIBER_PAGE: usize = 50;

/// L-svc-2: subscribes a client.
pub async fn subscribe(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body<ClientId>,
) -> Result<Response, LcError> {
    let user = client(required(&body.client_id, "client_id")?, "client_id")?;
    find::<Services>(&target.core, target.app.id, &id).await?;
    ensure_clients(&target.core, &target.app, std::slice::from_ref(&user)).await?;
    target.core.groups.add_members(target.app.id, group_ref::<Services>(&id), vec![user]).await?;
    Ok(ok(json!({})))
}

pub async fn unsubscribe(target: Master, Path((id, user)): Path<(String, String)>) -> Result<Response, LcError> {
    let user = client(&user, "client_id")?;
    find::<Services>(&target.core, target.app.id, &id).await?;
    target.core.groups.remove_members(target.app.id, group_ref::<Services>(&id), vec![user]).await?;
    Ok(ok(json!({})))
}

/// Subscribers with when they subscribed, by client ID (byte order).
async fn subscriber_list(target: &Master, id: &str) -> Result<Vec<(Username, i64)>, LcError> {
    find::<Services>(&target.core, target.app.id, id).await?;
    let (_, members) = target.core.groups.members(target.app.id, group_ref::<Services>(id)).await?;
    let mut all: Vec<(Username, i64)> =
        members.into_iter().filter(|m| m.username != Username::admin()).map(|m| (m.username, m.joined_ms)).collect();
    all.sort_unstable_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    Ok(all)
}

/// L-svc-2: subscribers a page at a time (`limit` ≤ 50), after `client_id`.
/// Paged by client ID, so a page continues after where `client_id` is or
/// would be, even if that client unsubscribed meanwhile.
pub async fn subscribers(
    target: Master,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    let limit = params
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(MAX_SUBSCRIBER_PAGE)
        .min(MAX_SUBSCRIBER_PAGE);
    let all = subscriber_list(&target, &id).await?;
    let start = match params.get("client_id").filter(|c| !c.is_empty()) {
        Some(after) => all.partition_point(|(u, _)| u.as_str() <= after.as_str()),
        None => 0,
    };
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(limit)
        .map(|(user, at)| json!({"timestamp": at, "subscriber": user.as_str(), "conv_id": id}))
        .collect();
    Ok(ok(Value::Array(page)))
}

pub async fn subscriber_count(target: Master, Path(id): Path<String>) -> Result<Response, LcError> {
    Ok(ok(json!({"count": subscriber_list(&target, &id).await?.len()})))
}

/// L-svc-3: a message to every subscriber (the vendor's subscription-message limits apply).
pub async fn broadcast(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body<SendMessage>,
) -> Result<Response, LcError> {
    let per_minute = target.limits.allow(&target.app, LEANCLOUD_SUBSCRIPTION_MESSAGES_PER_MINUTE, Per::Minute, 1);
    if !per_minute || !target.limits.allow(&target.app, LEANCLOUD_SUBSCRIPTION_MESSAGES_PER_DAY, Per::Day, 1) {
        return Err(LcError::too_many_requests());
    }
    find::<Services>(&target.core, target.app.id, &id).await?;
    let out = outgoing(&body)?;
    let message = send_as_app::<Services>(&target.core, &target.app, &id, out, None).await?;
    Ok(sent(&message))
}

/// L-svc-4: a message to chosen clients (at most 20), stored once.
/// L-svc-4: a service conversation's message to chosen subscribers
/// (`to_clients`), which only they see.
pub async fn send(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body<SendToClients>,
) -> Result<Response, LcError> {
    super::messages::message_quota(&target)?;
    send_to_some(target, id, body).await
}

pub async fn send_to_some(target: Master, id: String, body: SendToClients) -> Result<Response, LcError> {
    let group = find::<Services>(&target.core, target.app.id, &id).await?;
    let to = clients(&body.to_clients, "to_clients", MAX_TO_CLIENTS)?;
    if to.is_empty() {
        return Err(LcError::invalid("to_clients must name at least one client"));
    }
    let out = outgoing(&body.message)?;
    let mut everyone = to.clone();
    everyone.push(out.from.clone());
    ensure_clients(&target.core, &target.app, &everyone).await?;
    let original = Original::LeanCloud {
        data: out.data.clone(),
        binary: false,
        mention_all: out.mention_all,
        mentions: out.mentions.clone(),
        valid_till: None,
    };
    let send = Multicast {
        from: out.from,
        channel: Some(Channel { key: private_key(&group.id), name: group.id.clone() }),
        to: Some(to),
        line: 0,
        body: body_of(&out.data),
        ext: out.ext,
        original: Some(original),
    };
    let (message, _) = target.core.messages.multicast(target.app.id, send).await?;
    Ok(sent(&message))
}

/// L-svc-4: what a client got from the service conversation (broadcasts and
/// messages to them), without what was deleted for them; history parameters.
pub async fn received(
    target: Master,
    Path((id, user)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    let user = client(&user, "client_id")?;
    let group = find::<Services>(&target.core, target.app.id, &id).await?;
    let params = HistoryParams::parse(&params, target.core.now_ms())?;
    let conversations: Vec<ConversationId> =
        history_conversations::<Services>(&target.core, target.app.id, &group).await?;
    let hidden = target.core.messages.hidden_from(target.app.id, &user).await?;
    let messages = history::read(&target.core, target.app.id, &conversations, None, &params).await?;
    let mine: Vec<Value> = messages
        .iter()
        .filter(|m| m.is_addressed_to(&user) && !hidden.iter().any(|h| h.contains(m)))
        .map(history::record)
        .collect();
    Ok(ok(Value::Array(mine)))
}

/// L-svc-4: deletes, for one subscriber only, a message sent to them.
pub async fn delete_for_subscriber(
    target: Master,
    Path((id, user, message_id)): Path<(String, String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    let user = client(&user, "client_id")?;
    // The seed: app-wide broadcasts are deleted at `/broadcasts/{id}`, never here.
    let by = MessageRef::from_query(&params);
    let message = owned_message::<Services>(&target, &id, &message_id, &by, Broadcasts::Excluded).await?;
    target.core.messages.delete(target.app.id, message.id, Some(vec![user])).await?;
    Ok(ok(json!({})))
}
