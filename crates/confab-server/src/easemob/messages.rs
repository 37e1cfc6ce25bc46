//! Sending messages (E-msg-1).

use std::collections::HashSet;

use axum::response::{IntoResponse, Response};

use crate::limits::{
    Per, EASEMOB_GROUP_MESSAGES_PER_SECOND, EASEMOB_MESSAGE_RECEIVERS_PER_MINUTE, EASEMOB_ROOM_MESSAGES_PER_SECOND,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use confab_core::groups::{limits, GroupSend};
use confab_core::messages::DirectSend;
use confab_core::model::{Body, ChatType, Delivery, Username};

use super::{AppAuth, EasemobError, JsonBody, MESSAGE_BODY_LIMIT};

/// Most receivers of one one-to-one send call.
pub const MAX_USER_RECEIVERS: usize = 600;
/// Largest `body` plus `ext`, serialized, in bytes.
pub const MAX_CONTENT_BYTES: usize = crate::limits::EASEMOB_MAX_CONTENT_BYTES;

/// The parts of a send request that every target kind shares.
pub struct ParsedSend {
    pub from: Username,
    pub to: Vec<String>,
    pub body: Body,
    pub ext: Option<Value>,
    pub delivery: Delivery,
}

/// The body of a send (E-msg-1 to E-msg-3). The fields are read one by one
/// in `parse_send`, for the vendor's own error for each.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SendRequest {
    /// The sender's username; `admin` (the app) when absent.
    #[schema(value_type = Option<String>)]
    from: Option<Value>,
    /// Usernames, group IDs or chat room IDs, by the path.
    #[schema(value_type = Vec<String>)]
    to: Option<Value>,
    /// `txt`, `img`, `audio`, `video`, `file`, `loc`, `cmd` or `custom`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    kind: Option<Value>,
    /// The message body for its type, e.g. `{"msg": "hi"}` for `txt`.
    #[schema(value_type = Object)]
    body: Option<Value>,
    /// The app's own extension fields.
    #[schema(value_type = Option<Object>)]
    ext: Option<Value>,
    /// Also deliver to the sender's other devices.
    #[schema(value_type = Option<bool>)]
    sync_device: Option<Value>,
    /// `ROUTE_ONLINE`: only to receivers connected now.
    #[schema(value_type = Option<String>)]
    routetype: Option<Value>,
}

/// Reads the common send body: `from`, `to`, `type`, `body`, `ext`,
/// `sync_device`, `routetype`, with the vendor's errors and codes.
pub fn parse_send(request: SendRequest, max_receivers: usize) -> Result<ParsedSend, EasemobError> {
    let from = match request.from {
        None | Some(Value::Null) => Username::admin(),
        Some(Value::String(s)) if s.is_empty() => {
            return Err(EasemobError::send("param from can't be empty", Some(14001)))
        }
        Some(Value::String(s)) => Username::easemob(&s)
            .map_err(|_| EasemobError::send(format!("param from [{s}] is not a legal username"), None))?,
        Some(_) => return Err(EasemobError::invalid_body("from must be a string")),
    };
    let to = match request.to {
        None | Some(Value::Null) => return Err(EasemobError::send("param to can't be empty", Some(14002))),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(EasemobError::invalid_body("to must be an array of strings")),
            })
            .collect::<Result<Vec<String>, _>>()?,
        Some(_) => return Err(EasemobError::invalid_body("to must be an array")),
    };
    if to.is_empty() {
        return Err(EasemobError::send("param to can't be empty", Some(14002)));
    }
    if to.len() > max_receivers {
        return Err(EasemobError::send(format!("params to's size can't exceed limit {max_receivers}"), None));
    }
    let kind = match request.kind {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(EasemobError::send("param type can't be empty", None))
        }
        Some(_) => return Err(EasemobError::invalid_body("type must be a string")),
    };
    let body = match request.body {
        Some(Value::Object(map)) if !map.is_empty() => map,
        Some(Value::Object(_)) | None | Some(Value::Null) => {
            return Err(EasemobError::send("param body can't be empty", Some(14005)))
        }
        Some(_) => return Err(EasemobError::invalid_body("body must be a JSON object")),
    };
    let ext = match request.ext {
        None | Some(Value::Null) => None,
        Some(ext @ Value::Object(_)) => Some(ext),
        Some(_) => return Err(EasemobError::send("param ext must be JSONObject", None)),
    };
    let content_size =
        serde_json::to_vec(&body).map_or(0, |b| b.len()) + ext.as_ref().map_or(0, |e| e.to_string().len());
    if content_size > MAX_CONTENT_BYTES {
        return Err(EasemobError::send("message is too large", Some(14007)));
    }
    let sync_sender = match request.sync_device {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(EasemobError::invalid_body("sync_device must be true or false")),
    };
    let online_only = match request.routetype {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) if s == "ROUTE_ONLINE" => true,
        Some(other) => {
            return Err(EasemobError::invalid_body(format!("routetype {other} is not supported; use ROUTE_ONLINE")))
        }
    };
    let body = typed_body(&kind, body)?;
    body.validate().map_err(|e| EasemobError::send(e.to_string(), None))?;
    Ok(ParsedSend { from, to, body, ext, delivery: Delivery { sync_sender, online_only, sent_at: None } })
}

const TYPES: [&str; 8] = ["txt", "img", "audio", "video", "file", "loc", "cmd", "custom"];

pub fn typed_body(kind: &str, mut body: Map<String, Value>) -> Result<Body, EasemobError> {
    if !TYPES.contains(&kind) {
        return Err(EasemobError::send(format!("param type [{kind}] is not one of {}", TYPES.join(", ")), None));
    }
    // The body's own `type`, if a client repeats it, must agree.
    if let Some(inner) = body.get("type") {
        if inner != kind {
            return Err(EasemobError::invalid_body("body.type does not match type"));
        }
    }
    body.insert("type".into(), Value::String(kind.to_owned()));
    confab_wire::body_from_json(Value::Object(body))
        .map_err(|e| EasemobError::invalid_body(format!("{kind} body: {e}")))
}

/// E-msg-1: `POST /messages/users`; one message per receiver.
pub async fn send_to_users(
    AppAuth(target): AppAuth,
    JsonBody(request): JsonBody<MESSAGE_BODY_LIMIT, SendRequest>,
) -> Result<Response, EasemobError> {
    let parsed = parse_send(request, MAX_USER_RECEIVERS)?;
    let mut receivers = Vec::with_capacity(parsed.to.len());
    let mut seen = HashSet::with_capacity(parsed.to.len());
    for name in &parsed.to {
        let user = Username::easemob(name)
            .map_err(|_| EasemobError::send(format!("param to [{name}] is not a legal username"), None))?;
        if seen.insert(user.clone()) {
            receivers.push(user);
        }
    }
    let limits = &target.limits;
    if !limits.allow(&target.app, EASEMOB_MESSAGE_RECEIVERS_PER_MINUTE, Per::Minute, receivers.len() as u32) {
        return Err(EasemobError {
            status: axum::http::StatusCode::FORBIDDEN,
            ..EasemobError::send("message send reach limit", None)
        });
    }
    let send = DirectSend {
        from: parsed.from,
        to: receivers,
        body: parsed.body,
        ext: parsed.ext,
        delivery: parsed.delivery,
        origin_device: None,
        line: 0,
        original: None,
    };
    let sent = target.core.messages.send_direct(target.app.id, send).await?;
    let mut data = Map::new();
    for (to, message) in sent {
        data.insert(to.to_string(), Value::String(message.id.to_string()));
    }
    Ok(target.envelope("post", "/messages/users").data(Value::Object(data)).into_response())
}

/// E-msg-2: `POST /messages/chatgroups`; one message per group (at most 3).
pub async fn send_to_groups(
    AppAuth(target): AppAuth,
    JsonBody(request): JsonBody<MESSAGE_BODY_LIMIT, SendRequest>,
) -> Result<Response, EasemobError> {
    send_to_many(target, request, ChatType::GroupChat).await
}

/// E-msg-3: `POST /messages/chatrooms`; one message per room (at most 10).
pub async fn send_to_rooms(
    AppAuth(target): AppAuth,
    JsonBody(request): JsonBody<MESSAGE_BODY_LIMIT, SendRequest>,
) -> Result<Response, EasemobError> {
    send_to_many(target, request, ChatType::ChatRoom).await
}

/// Groups and rooms: every target is checked before anything is stored
/// (it exists; the sender may speak there), so a refusal stores nothing.
async fn send_to_many(target: super::Target, request: SendRequest, kind: ChatType) -> Result<Response, EasemobError> {
    let (cap, limit, path) = match kind {
        ChatType::ChatRoom => (limits::SEND_ROOMS, EASEMOB_ROOM_MESSAGES_PER_SECOND, "/messages/chatrooms"),
        _ => (limits::SEND_GROUPS, EASEMOB_GROUP_MESSAGES_PER_SECOND, "/messages/chatgroups"),
    };
    let parsed = parse_send(request, cap)?;
    let mut to: Vec<String> = Vec::with_capacity(parsed.to.len());
    for id in parsed.to {
        if !to.contains(&id) {
            to.push(id);
        }
    }
    if !target.limits.allow(&target.app, limit, Per::Second, to.len() as u32) {
        return Err(EasemobError {
            status: axum::http::StatusCode::FORBIDDEN,
            ..EasemobError::send("message send reach limit", None)
        });
    }
    let send = GroupSend {
        by_app: parsed.from == Username::admin(),
        from: parsed.from,
        kind,
        to,
        body: parsed.body,
        ext: parsed.ext,
        delivery: parsed.delivery,
        origin_device: None,
        original: None,
        receivers: None,
    };
    // `routetype: ROUTE_ONLINE` reaches only the members connected now and
    // queues nothing for the others; the core does it within the one commit.
    let sent = target.core.groups.send(target.app.id, send).await.map_err(super::groups::group_error)?;
    let mut data = Map::new();
    for (id, message) in sent {
        data.insert(id, Value::String(message.id.to_string()));
    }
    Ok(target.envelope("post", path).data(Value::Object(data)).into_response())
}
