//! The v1.1 calls LeanCloud's server SDKs still make (`/1.1/rtm/messages`,
//! `/1.1/rtm/broadcast`, `/1.1/rtm/messages/history`), mapped onto the same
//! core as v1.2. Their differences: `from_peer` for the sender, `to_peers`
//! for a service conversation's chosen receivers, `transient` true by
//! default for a send, and the older `max_ts`.

use std::collections::HashMap;

use axum::extract::Query;
use axum::response::Response;
use serde_json::Value;

use confab_core::model::ChatType;

use super::conversations::{find, find_any, Chatrooms, Conversations, Services};
use super::history::{self, HistoryParams};
use super::messages::{message_quota, outgoing, send_as_app, sent};
use super::requests::{Broadcast, SendToClients, V11Broadcast, V11Send};
use super::{client, ok, required, LcError, Master};

/// `POST /1.1/rtm/messages`.
pub async fn send(target: Master, super::Body(mut body): super::Body<V11Send>) -> Result<Response, LcError> {
    message_quota(&target)?;
    let conv_id = required(&body.conv_id, "conv_id")?.to_owned();
    let kind = find_any(&target.core, target.app.id, &conv_id).await?.kind;
    if let Some(peers) = body.to_peers.take() {
        if kind != ChatType::Channel {
            return Err(LcError::invalid("to_peers is only for service conversations"));
        }
        let body = SendToClients { message: body.into_v12(), to_clients: Some(peers) };
        return super::service::send_to_some(target, conv_id, body).await;
    }
    // In v1.1 a message is transient unless it says otherwise.
    let out = outgoing(&body.into_v12())?;
    let message = match kind {
        ChatType::ChatRoom => send_as_app::<Chatrooms>(&target.core, &target.app, &conv_id, out, None).await?,
        ChatType::Channel => send_as_app::<Services>(&target.core, &target.app, &conv_id, out, None).await?,
        _ => send_as_app::<Conversations>(&target.core, &target.app, &conv_id, out, None).await?,
    };
    Ok(sent(&message))
}

/// `POST /1.1/rtm/broadcast`.
pub async fn broadcast(target: Master, super::Body(body): super::Body<V11Broadcast>) -> Result<Response, LcError> {
    let from = client(required(&body.from_peer, "from_peer")?, "from_peer")?;
    let conv_id = required(&body.content.conv_id, "conv_id")?.to_owned();
    find::<Services>(&target.core, target.app.id, &conv_id).await?;
    let v12 = Broadcast { from_client: Some(Value::String(from.as_str().to_owned())), content: body.content };
    super::global::broadcast(target, super::Body(v12)).await
}

/// `GET /1.1/rtm/messages/history`: by conversation (`convid`), by sender
/// (`from`), or the whole app.
pub async fn history(target: Master, Query(params): Query<HashMap<String, String>>) -> Result<Response, LcError> {
    let parsed = HistoryParams::parse(&params, target.core.now_ms())?;
    let from = params.get("from").filter(|f| !f.is_empty()).map(|f| client(f, "from")).transpose()?;
    let conversations = match params.get("convid").filter(|c| !c.is_empty()) {
        Some(id) => vec![find_any(&target.core, target.app.id, id).await?.conversation],
        None => Vec::new(),
    };
    let messages = history::read(&target.core, target.app.id, &conversations, from, &parsed).await?;
    Ok(ok(Value::Array(messages.iter().map(history::record).collect())))
}
