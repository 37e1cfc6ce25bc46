//! The three vendors' callback wire formats: what confab posts to the app's
//! server before a message is sent (pre-send) and after it is stored
//! (post-send), and how it reads the pre-send answer. Field names are the
//! vendors' (docs/design/callbacks-research.md has the sources); the core only
//! ever sees a [`Verdict`].

use md5::{Digest, Md5};
use serde_json::{json, Value};

use confab_core::callbacks::Verdict;
use confab_core::model::{App, Message, Original};

use super::Format;

/// One call to the app's server.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Where, relative to the configured URL (LeanCloud's hooks are cloud
    /// functions under the engine's base URL).
    pub suffix: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
}

/// Why an answer could not be read; the app's failure policy decides.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreadable(pub String);

fn md5_hex(text: &str) -> String {
    confab_core::auth::hex(&Md5::digest(text.as_bytes()))
}

/// Easemob's app key, `org#app`.
fn app_key(app: &App) -> String {
    format!("{}#{}", app.org, app.name)
}

/// Easemob's name for a message's chat type in callbacks.
fn easemob_chat_type(message: &Message) -> &'static str {
    crate::easemob::history::easemob_chat_type(message.chat_type)
}

/// Easemob's `security`: MD5 of callId, secret and timestamp, in lower-case hex.
pub fn easemob_security(call_id: &str, secret: &str, timestamp: i64) -> String {
    md5_hex(&format!("{call_id}{secret}{timestamp}"))
}

/// LeanCloud's `X-LC-Sign` for a request made with the app key: `md5(ts + key),ts`.
fn leancloud_sign(app: &App, now_ms: i64) -> Option<String> {
    let key = app.credentials.get(crate::signed_login::APP_KEY)?;
    Some(format!("{},{now_ms}", crate::leancloud::sign_digest(&now_ms.to_string(), key)))
}

pub(super) fn leancloud_headers(app: &App, secret: &str, now_ms: i64) -> Vec<(&'static str, String)> {
    let mut headers = vec![("X-LC-Hook-Key", secret.to_owned()), ("X-LC-Prod", "1".to_owned())];
    if let Some(id) = app.credentials.get(crate::signed_login::APP_ID) {
        headers.push(("X-LC-Id", id.clone()));
    }
    if let Some(sign) = leancloud_sign(app, now_ms) {
        headers.push(("X-LC-Sign", sign));
    }
    headers
}

/// LeanCloud's `convId` of a message: the conversation's ID, or for a
/// one-to-one message the receiver (confab's LeanCloud conversations are groups).
pub(super) fn leancloud_conv(message: &Message) -> &str {
    &message.to
}

/// The fields Easemob's pre-send and post-send bodies share. The `callId` is
/// the message's, so a post retried is known as the same one.
fn easemob_message(app: &App, message: &Message, secret: &str) -> Value {
    let call_id = format!("{}_{}", app_key(app), message.id);
    let mut body = json!({
        "callId": call_id,
        "timestamp": message.timestamp_ms,
        "chat_type": easemob_chat_type(message),
        "from": message.from.as_str(),
        "to": message.to,
        "msg_id": message.id.to_string(),
        "payload": crate::easemob::history::payload(message),
        "security": easemob_security(&call_id, secret, message.timestamp_ms),
    });
    if message.chat_type != confab_core::model::ChatType::Chat {
        body["group_id"] = json!(message.to);
    }
    body
}

/// The pre-send call about `message` (its ID and time already assigned).
pub fn pre_send(format: Format, app: &App, message: &Message, secret: &str, now_ms: i64) -> Call {
    match format {
        Format::Easemob => Call { suffix: "", headers: Vec::new(), body: easemob_message(app, message, secret) },
        Format::LeanCloud => {
            let body = json!({
                "fromPeer": message.from.as_str(),
                "convId": leancloud_conv(message),
                "toPeers": message.receivers.as_ref().map(|r| r.iter().map(|u| u.as_str()).collect::<Vec<_>>()),
                "transient": message.seq == 0 && message.chat_type == confab_core::model::ChatType::ChatRoom,
                "bin": false,
                "content": crate::leancloud_data::data(message),
                "timestamp": message.timestamp_ms,
                "msgId": message.id.to_string(),
            });
            Call { suffix: "/1.1/functions/_messageReceived", headers: leancloud_headers(app, secret, now_ms), body }
        }
        Format::Wildfire => Call { suffix: "", headers: Vec::new(), body: wildfire_message(message) },
    }
}

/// The vendor's `OutputMessageData`.
fn wildfire_message(message: &Message) -> Value {
    json!({
        "messageId": message.id.0,
        "sender": message.from.as_str(),
        "conv": crate::wildfire::payload::Conversation::of(message),
        "payload": crate::wildfire::payload::of(message),
        "toUsers": message.receivers.as_ref().map(|r| r.iter().map(|u| u.as_str()).collect::<Vec<_>>()).unwrap_or_default(),
        "timestamp": message.timestamp_ms,
    })
}

/// Reads a pre-send answer (`status`, `body`) in the app's format.
pub fn pre_send_answer(format: Format, message: &Message, status: u16, body: &[u8]) -> Result<Verdict, Unreadable> {
    match format {
        Format::Easemob => easemob_answer(message, status, body),
        Format::LeanCloud => leancloud_answer(message, status, body),
        Format::Wildfire => wildfire_answer(message, status, body),
    }
}

pub(super) fn json_answer(status: u16, body: &[u8]) -> Result<Value, Unreadable> {
    if status != 200 {
        return Err(Unreadable(format!("the app's server answered {status}")));
    }
    serde_json::from_slice(body).map_err(|e| Unreadable(format!("the answer is not JSON: {e}")))
}

/// Easemob: `{"valid": bool, "code"?: string, "payload"?: {…}}`. The payload
/// is a body in the REST shape (`{"msg": "…", "type": "txt"}`), or the
/// history shape (`{"bodies": [..], "ext": {..}}`).
fn easemob_answer(message: &Message, status: u16, body: &[u8]) -> Result<Verdict, Unreadable> {
    let answer = json_answer(status, body)?;
    match answer.get("valid") {
        Some(Value::Bool(false)) => {
            let detail = answer.get("code").map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_owned));
            return Ok(Verdict::Refuse { detail });
        }
        Some(Value::Bool(true)) => {}
        _ => return Err(Unreadable("the answer has no boolean `valid`".into())),
    }
    let Some(payload) = answer.get("payload").filter(|p| !p.is_null()) else {
        return Ok(Verdict::Pass);
    };
    let (content, ext) = match payload.get("bodies").and_then(Value::as_array) {
        Some(bodies) => (bodies.first().cloned().unwrap_or(Value::Null), payload.get("ext").cloned()),
        None => (payload.clone(), message.ext.clone()),
    };
    let Value::Object(mut fields) = content else {
        return Err(Unreadable("the payload's body is not an object".into()));
    };
    let kind = match fields.remove("type") {
        Some(Value::String(kind)) => kind,
        _ => return Err(Unreadable("the payload's body has no type".into())),
    };
    let body = crate::easemob::messages::typed_body(&kind, fields)
        .map_err(|e| Unreadable(format!("the payload is not a message body: {}", e.description)))?;
    body.validate().map_err(|e| Unreadable(e.to_string()))?;
    let ext = ext.filter(|e| e.as_object().is_some_and(|o| !o.is_empty()));
    Ok(Verdict::Replace { body, ext, original: None, receivers: None })
}

/// LeanCloud: the cloud function's `{"result": {...}}` (a bare object is
/// taken too): `drop` refuses (with `code` and `detail`), `content` replaces.
pub(super) fn leancloud_answer(message: &Message, status: u16, body: &[u8]) -> Result<Verdict, Unreadable> {
    let answer = json_answer(status, body)?;
    let result = match answer.get("result") {
        Some(result) => result.clone(),
        None => answer,
    };
    let Value::Object(result) = result else {
        return Ok(Verdict::Pass);
    };
    let truthy = |v: Option<&Value>| match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Null) | None => false,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    };
    if truthy(result.get("drop")) {
        let detail = match (result.get("detail").and_then(Value::as_str), result.get("code")) {
            (Some(detail), _) => Some(detail.to_owned()),
            (None, Some(code)) if !code.is_null() => Some(code.to_string()),
            _ => None,
        };
        return Ok(Verdict::Refuse { detail });
    }
    // `toPeers`: only these of the conversation's members get it.
    let receivers = match result.get("toPeers") {
        None | Some(Value::Null) => None,
        Some(Value::Array(peers)) => Some(
            peers
                .iter()
                .map(|p| p.as_str().and_then(|p| confab_core::model::Username::parse(p).ok()))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| Unreadable("toPeers must be a list of client IDs".into()))?,
        ),
        Some(_) => return Err(Unreadable("toPeers must be a list".into())),
    };
    let content = match result.get("content") {
        None | Some(Value::Null) if receivers.is_none() => return Ok(Verdict::Pass),
        None | Some(Value::Null) => None,
        Some(Value::String(content)) => Some(content.as_str()),
        Some(_) => return Err(Unreadable("content must be a string".into())),
    };
    let Some(content) = content else {
        // The same message, to fewer receivers.
        return Ok(Verdict::Replace {
            body: message.body.clone(),
            ext: message.ext.clone(),
            original: message.original.clone(),
            receivers,
        });
    };
    if content.len() > crate::leancloud_data::MAX_MESSAGE_BYTES {
        return Err(Unreadable("the new content is larger than 5 KB".into()));
    }
    let (mention_all, mentions) = match &message.original {
        Some(Original::LeanCloud { mention_all, mentions, .. }) => (*mention_all, mentions.clone()),
        _ => (false, Vec::new()),
    };
    let original =
        Original::LeanCloud { data: content.to_owned(), binary: false, mention_all, mentions, valid_till: None };
    Ok(Verdict::Replace {
        body: crate::leancloud_data::body_of(content),
        ext: message.ext.clone(),
        original: Some(original),
        receivers,
    })
}

/// WildfireChat's remote censor: 403 refuses; 200 with an empty body passes;
/// 200 with a `MessagePayload` whose `type` is positive replaces it. Any
/// other status is a failure.
fn wildfire_answer(message: &Message, status: u16, body: &[u8]) -> Result<Verdict, Unreadable> {
    match status {
        403 => return Ok(Verdict::Refuse { detail: None }),
        200 => {}
        other => return Err(Unreadable(format!("the app's server answered {other}"))),
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Verdict::Pass);
    }
    let payload: Value = serde_json::from_slice(body).map_err(|e| Unreadable(format!("not JSON: {e}")))?;
    if payload.get("type").and_then(Value::as_i64).unwrap_or(0) <= 0 {
        return Ok(Verdict::Pass);
    }
    let (body, original) = crate::wildfire::payload::parse(payload, message.line())
        .map_err(|e| Unreadable(format!("not a message payload: {e:?}")))?;
    Ok(Verdict::Replace { body, ext: message.ext.clone(), original: Some(original), receivers: None })
}

/// The post-send call about a stored message.
pub fn post_send(format: Format, app: &App, message: &Message, secret: &str, now_ms: i64) -> Call {
    match format {
        Format::Easemob => {
            let kind = match message.chat_type {
                confab_core::model::ChatType::Chat | confab_core::model::ChatType::Broadcast => "user",
                confab_core::model::ChatType::ChatRoom => "room",
                _ => "group",
            };
            let mut body = easemob_message(app, message, secret);
            body["eventType"] = json!("chat");
            body["securityVersion"] = json!("1.0.0");
            body["appkey"] = json!(app_key(app));
            body["host"] = json!("confab");
            body["content_type"] = json!(format!("chat:{kind}:{}", content_word(message)));
            Call { suffix: "", headers: Vec::new(), body }
        }
        Format::LeanCloud => {
            let body = json!({
                "fromPeer": message.from.as_str(),
                "convId": leancloud_conv(message),
                "msgId": message.id.to_string(),
                "transient": false,
                "bin": false,
                "content": crate::leancloud_data::data(message),
                "timestamp": message.timestamp_ms,
            });
            Call { suffix: "/1.1/functions/_messageSent", headers: leancloud_headers(app, secret, now_ms), body }
        }
        Format::Wildfire => Call { suffix: "", headers: Vec::new(), body: wildfire_message(message) },
    }
}

/// Easemob's word for a message's kind in `content_type`.
fn content_word(message: &Message) -> &'static str {
    use confab_core::model::Body;
    match &message.body {
        Body::Text { .. } => "text",
        Body::Image { .. } => "image",
        Body::Audio { .. } => "voice",
        Body::Location { .. } => "location",
        Body::Video { .. } => "video",
        Body::File { .. } => "file",
        Body::Command { .. } => "command",
        Body::Custom { .. } => "custom",
    }
}

/// Keeps the object form of a JSON value (for tests and logs).
#[cfg(test)]
fn object(value: &Value) -> &serde_json::Map<String, Value> {
    value.as_object().expect("an object")
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use confab_core::ids::MessageId;
    use confab_core::model::{AppId, Body, ChatType, ConversationId, MessageState, Username};

    pub(crate) fn app() -> App {
        App {
            id: AppId(1),
            org: "acme".into(),
            name: "chat".into(),
            uuid: "u".into(),
            client_id: "c".into(),
            client_secret: String::new(),
            signing_key: Vec::new(),
            rate_limits: Default::default(),
            credentials: Default::default(),
            created_ms: 0,
        }
    }

    pub(crate) fn message(text: &str) -> Message {
        Message {
            id: MessageId(42),
            app: AppId(1),
            conversation: ConversationId(0),
            seq: 0,
            chat_type: ChatType::Chat,
            from: Username::parse("alice").unwrap(),
            to: "bob".into(),
            body: Body::Text { msg: text.into() },
            ext: None,
            timestamp_ms: 1_717_000_000_123,
            sync_sender: false,
            origin_device: None,
            original: None,
            receivers: None,
            state: MessageState::Normal,
        }
    }

    #[test]
    fn easemob_pre_send_is_signed_as_the_vendor_signs() {
        let call = pre_send(Format::Easemob, &app(), &message("hi"), "s3cret", 0);
        let body = object(&call.body);
        assert_eq!(body["callId"], "acme#chat_42");
        assert_eq!(body["chat_type"], "chat");
        assert_eq!(body["payload"]["bodies"][0]["msg"], "hi");
        assert_eq!(body["security"], easemob_security("acme#chat_42", "s3cret", 1_717_000_000_123).as_str());
        assert_eq!(easemob_security("a", "b", 1), md5_hex("ab1"));
    }

    #[test]
    fn easemob_answers_pass_refuse_and_replace() {
        let m = message("hi");
        let read = |text: &str| pre_send_answer(Format::Easemob, &m, 200, text.as_bytes());
        assert_eq!(read(r#"{"valid": true}"#), Ok(Verdict::Pass));
        assert_eq!(read(r#"{"valid": false, "code": "no"}"#), Ok(Verdict::Refuse { detail: Some("no".into()) }));
        let Ok(Verdict::Replace { body, .. }) = read(r#"{"valid": true, "payload": {"msg": "h*", "type": "txt"}}"#)
        else {
            panic!("a replacement")
        };
        assert_eq!(body, Body::Text { msg: "h*".into() });
        let Ok(Verdict::Replace { body, ext, .. }) =
            read(r#"{"valid": true, "payload": {"bodies": [{"msg": "x", "type": "txt"}], "ext": {"k": 1}}}"#)
        else {
            panic!("a replacement")
        };
        assert_eq!((body, ext), (Body::Text { msg: "x".into() }, Some(json!({"k": 1}))));
        assert!(read(r#"{"ok": true}"#).is_err());
        assert!(read("not json").is_err());
        assert!(pre_send_answer(Format::Easemob, &m, 500, b"{}").is_err());
    }

    #[test]
    fn leancloud_answers_drop_and_replace_content() {
        let m = message("hi");
        let read = |text: &str| pre_send_answer(Format::LeanCloud, &m, 200, text.as_bytes());
        assert_eq!(read(r#"{"result": {}}"#), Ok(Verdict::Pass));
        assert_eq!(
            read(r#"{"result": {"drop": true, "code": 123, "detail": "nope"}}"#),
            Ok(Verdict::Refuse { detail: Some("nope".into()) })
        );
        let Ok(Verdict::Replace { body, original, .. }) = read(r#"{"content": "h*"}"#) else { panic!("a replacement") };
        assert_eq!(body, Body::Text { msg: "h*".into() });
        assert!(matches!(original, Some(Original::LeanCloud { data, .. }) if data == "h*"));
    }

    #[test]
    fn wildfire_answers_by_status_and_payload() {
        let m = message("hi");
        let read = |status: u16, text: &str| pre_send_answer(Format::Wildfire, &m, status, text.as_bytes());
        assert_eq!(read(200, ""), Ok(Verdict::Pass));
        assert_eq!(read(403, ""), Ok(Verdict::Refuse { detail: None }));
        assert!(read(500, "").is_err());
        let Ok(Verdict::Replace { body, .. }) = read(200, r#"{"type": 1, "searchableContent": "h*"}"#) else {
            panic!("a replacement")
        };
        assert_eq!(body, Body::Text { msg: "h*".into() });
    }

    #[test]
    fn leancloud_hooks_are_cloud_functions() {
        let call = pre_send(Format::LeanCloud, &app(), &message("hi"), "hook-key", 5);
        assert_eq!(call.suffix, "/1.1/functions/_messageReceived");
        assert!(call.headers.contains(&("X-LC-Hook-Key", "hook-key".to_owned())));
        assert_eq!(call.body["content"], "hi");
        let call = post_send(Format::LeanCloud, &app(), &message("hi"), "hook-key", 5);
        assert_eq!(call.suffix, "/1.1/functions/_messageSent");
    }
}
