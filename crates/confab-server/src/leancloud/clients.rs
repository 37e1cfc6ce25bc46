//! Clients (L-cli-1 to L-cli-7): presence, unread counts, kicks, what a
//! client subscribed to and sent, conversations a client keeps out of, and
//! login signatures.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::response::{IntoResponse as _, Response};
use serde_json::{json, Value};

use confab_core::auth::{self, Principal};
use confab_core::model::ChatType;

use super::conversations::find_any;
use super::history::{self, HistoryParams};
use super::permissions::list_page;
use super::requests::{ClientIds, ConvId, KickReason};
use super::{client, clients, ok, required, AnyKey, LcError, Master};
use crate::signed_login::login_signature;

/// Most clients one presence check may name, and longest kick reason.
const MAX_CHECKED: usize = 20;
const MAX_REASON_CHARS: usize = 20;

/// L-cli-1: which of these clients are connected (unknown ones are not).
pub async fn check_online(target: Master, super::Body(body): super::Body<ClientIds>) -> Result<Response, LcError> {
    let users = clients(&body.client_ids, "client_ids", MAX_CHECKED)?;
    let online = target.core.users.online(target.app.id, &users).await;
    let results: Vec<&str> = users.iter().zip(online).filter(|(_, on)| *on).map(|(u, _)| u.as_str()).collect();
    Ok(ok(json!({"results": results})))
}

/// L-cli-2: messages the client has not read (the gateway's `read` receipts
/// move this), in one conversation or all. The app key is enough.
pub async fn unread_count(
    AnyKey(target): AnyKey,
    Path(user): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    let user = client(&user, "client_id")?;
    let conversation = match params.get("conv_id").filter(|c| !c.is_empty()) {
        Some(id) => Some(find_any(&target.core, target.app.id, id).await?.conversation),
        None => None,
    };
    let count = target.core.messages.unread_count(target.app.id, &user, conversation).await?;
    Ok(ok(json!({"count": count})))
}

/// L-cli-3: closes the client's sessions, telling them why (at most 20 characters).
pub async fn kick(
    target: Master,
    Path(user): Path<String>,
    super::Body(body): super::Body<KickReason>,
) -> Result<Response, LcError> {
    let user = client(&user, "client_id")?;
    let reason = match body.reason {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if s.chars().count() <= MAX_REASON_CHARS => s,
        Some(_) => {
            return Err(LcError::invalid(format!("reason must be a string of at most {MAX_REASON_CHARS} characters")))
        }
    };
    target.core.users.kick_by_app(target.app.id, &user, &reason).await;
    Ok(ok(json!({})))
}

/// L-cli-4: the service conversations a client subscribed to, with when,
/// `direction` new (oldest first, the default) or old, after `conv_id`+`timestamp`.
pub async fn subscriptions(
    target: Master,
    Path(user): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    let user = client(&user, "client_id")?;
    let limit = params.get("limit").and_then(|l| l.parse::<usize>().ok()).filter(|n| *n >= 1).unwrap_or(50);
    let newest_first = match params.get("direction").map(String::as_str) {
        None | Some("") | Some("new") => false,
        Some("old") => true,
        Some(other) => return Err(LcError::invalid(format!("direction must be old or new, not {other}"))),
    };
    let after_id = params.get("conv_id").filter(|c| !c.is_empty());
    let after_ts = params.get("timestamp").and_then(|t| t.parse::<i64>().ok());
    if after_id.is_some() && after_ts.is_none() {
        return Err(LcError::invalid("conv_id needs the timestamp of its subscription"));
    }
    let channels = target.core.groups.joined_at(target.app.id, ChatType::Channel, &user).await?;
    let mut subscribed: Vec<(i64, String)> = channels.into_iter().map(|(channel, at)| (at, channel.id)).collect();
    subscribed.sort();
    if newest_first {
        subscribed.reverse();
    }
    // After where the cursor is or would be: a subscription that ended
    // meanwhile neither restarts the list nor ends it.
    let start = match (after_id, after_ts) {
        (Some(id), Some(ts)) => {
            let cursor = (ts, id.as_str());
            if newest_first {
                subscribed.partition_point(|(at, c)| (*at, c.as_str()) >= cursor)
            } else {
                subscribed.partition_point(|(at, c)| (*at, c.as_str()) <= cursor)
            }
        }
        _ => 0,
    };
    let page: Vec<Value> = subscribed
        .iter()
        .skip(start)
        .take(limit)
        .map(|(at, id)| json!({"timestamp": at, "subscriber": user.as_str(), "conv_id": id}))
        .collect();
    Ok(ok(Value::Array(page)))
}

/// L-cli-5: what the client sent, in any conversation; history parameters.
pub async fn sent_messages(
    target: Master,
    Path(user): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    let user = client(&user, "client_id")?;
    let params = HistoryParams::parse(&params, target.core.now_ms())?;
    let messages = history::read(&target.core, target.app.id, &[], Some(user), &params).await?;
    Ok(ok(Value::Array(messages.iter().map(history::record).collect())))
}

/// L-cli-6: the client keeps out of a conversation: nobody may add them to it.
pub async fn blacklist(
    target: Master,
    Path(user): Path<String>,
    super::Body(body): super::Body<ConvId>,
) -> Result<Response, LcError> {
    let user = client(&user, "client_id")?;
    let conversation = required(&body.conv_id, "conv_id")?;
    find_any(&target.core, target.app.id, conversation).await?;
    target.core.relations.block_conversation(target.app.id, &user, conversation).await?;
    Ok(ok(json!({})))
}

pub async fn unblacklist(
    target: Master,
    Path(user): Path<String>,
    super::Body(body): super::Body<ConvId>,
) -> Result<Response, LcError> {
    let user = client(&user, "client_id")?;
    target.core.relations.unblock_conversation(target.app.id, &user, required(&body.conv_id, "conv_id")?).await?;
    Ok(ok(json!({})))
}

pub async fn blacklists(
    target: Master,
    Path(user): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    let user = client(&user, "client_id")?;
    let all = target.core.relations.blocked_conversations(target.app.id, &user).await?;
    list_page(all, &params, "conv_ids")
}

/// L-cli-7: a login signature for a user, given their session token. In
/// confab the session token is the user's token (the Easemob dialect's
/// user token, or one issued to the app for them); the signature is the
/// vendor's `HMAC-SHA1(master key, appid:clientid::timestamp:nonce)`, which
/// confab's gateway accepts as a login (docs/protocol.md).
///
/// An app whose callbacks speak LeanCloud's hooks is asked first
/// (`_rtmClientSign`); its refusal is the vendor's 142.
pub async fn sign(
    AnyKey(target): AnyKey,
    axum::Extension(fetcher): axum::Extension<std::sync::Arc<crate::fetch::Fetcher>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    let token = params
        .get("session_token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| LcError::invalid("session_token is required"))?;
    let user = match target.core.users.authenticate(&target.app, token).await {
        Ok(Principal::User { username, .. }) => username,
        _ => return Err(LcError::new(axum::http::StatusCode::BAD_REQUEST, 211, "Could not find user.")),
    };
    let record = target.core.users.get(target.app.id, &user).await?;
    if let Err(why) = crate::callbacks::may_sign(&target.core, &fetcher, &target.app, &record, token).await {
        return Err(LcError::new(axum::http::StatusCode::BAD_REQUEST, 142, why));
    }
    let timestamp = target.core.now_ms();
    let nonce = auth::random_key(8);
    let signature = login_signature(&target.app, &user, timestamp, &nonce).ok_or_else(LcError::unauthorized)?;
    Ok(ok(json!({"signature": signature, "nonce": nonce, "client_id": user.as_str(), "timestamp": timestamp})))
}

/// How long the SDK may keep a route answer, in seconds.
const ROUTE_TTL_SECS: u64 = 3600;

/// `GET /v1/route?appId=…`: where the SDK (`leancloud-realtime`, given this
/// server as its `server` option) opens its real-time connection: this
/// server's own WebSocket address, `ws://` or `wss://` as its public URL is
/// `http://` or `https://`. Asked before any key is shown, as the vendor's
/// router is, so it says no more than that an app ID is known.
pub async fn route(
    axum::extract::State(state): axum::extract::State<super::State>,
    crate::links::Origin(origin): crate::links::Origin,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    let app_id = params.get("appId").map(String::as_str).unwrap_or_default();
    if crate::signed_login::app_by_leancloud_id(&state.core, app_id).await?.is_none() {
        return Err(LcError::new(axum::http::StatusCode::NOT_FOUND, 404, format!("app {app_id} not found")));
    }
    let socket = match origin.strip_prefix("https://") {
        Some(rest) => format!("wss://{rest}/"),
        None => format!("ws://{}/", origin.trim_start_matches("http://")),
    };
    Ok(axum::Json(json!({
        "groupId": "confab",
        "groupUrl": origin,
        "server": socket,
        "secondary": socket,
        "ttl": ROUTE_TTL_SECS,
    }))
    .into_response())
}
