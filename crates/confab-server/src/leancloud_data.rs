//! LeanCloud's message `data`, shared by its REST dialect and its client
//! protocol: the string a LeanCloud client reads for a core message, and
//! the core body other dialects see for a LeanCloud one.

use serde_json::{json, Value};

use confab_core::model::{Body, Message, MessageState, Original};
use confab_wire::CoordinateV1;

/// Largest message, in bytes (the vendor's 5 KB), for REST sends and the SDK's alike.
pub const MAX_MESSAGE_BYTES: usize = 5 * 1024;

/// What a message says, as the vendor's `data` string: LeanCloud's own
/// string when it was sent here, otherwise text, or its rich-media JSON.
pub fn data(message: &Message) -> String {
    if let MessageState::Recalled { .. } = message.state {
        return json!({"_lctype": -127, "_lctext": "[该消息已撤回]"}).to_string();
    }
    if let Some(Original::LeanCloud { data, .. }) = &message.original {
        return data.clone();
    }
    let file = |kind: i64, url: &str, name: &str| json!({"_lctype": kind, "_lcfile": {"url": url, "metaData": {"name": name}}});
    match &message.body {
        Body::Text { msg } => msg.clone(),
        Body::Image { url, filename, .. } => file(-2, url, filename).to_string(),
        Body::Audio { url, filename, .. } => file(-3, url, filename).to_string(),
        Body::Video { url, .. } => file(-4, url, "video").to_string(),
        Body::File { url, filename, .. } => file(-6, url, filename).to_string(),
        Body::Location { lat, lng, addr } => {
            let (lat, lng) = (CoordinateV1::from(lat), CoordinateV1::from(lng));
            json!({"_lctype": -5, "_lctext": addr, "_lcloc": {"latitude": lat, "longitude": lng}}).to_string()
        }
        other => json!({"_lctype": 1, "_lcattrs": confab_wire::body_json(other)}).to_string(),
    }
}

/// The bytes of a binary message a LeanCloud client sent (the SDK's
/// `binaryMsg`), `None` for any other message or a recalled one.
pub fn binary(message: &Message) -> Option<Vec<u8>> {
    use base64::Engine as _;
    match (&message.state, &message.original) {
        (MessageState::Recalled { .. }, _) => None,
        (_, Some(Original::LeanCloud { data, binary: true, .. })) => {
            base64::engine::general_purpose::STANDARD.decode(data).ok()
        }
        _ => None,
    }
}

/// A binary message as LeanCloud keeps it (`data` in base64, `bin` set)
/// and as other dialects see it: a custom message `leancloud_binary` whose
/// `base64` field holds the bytes.
pub fn binary_content(bytes: &[u8]) -> (String, Body) {
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    let exts = serde_json::Map::from_iter([("base64".to_owned(), Value::String(data.clone()))]);
    (data, Body::Custom { custom_event: Some(BINARY_EVENT.to_owned()), custom_exts: Some(exts) })
}

/// The custom event other dialects see a LeanCloud binary message as.
pub const BINARY_EVENT: &str = "leancloud_binary";

/// The text other dialects see for a LeanCloud message: a rich-media
/// message's `_lctext`, otherwise the string itself.
pub fn body_of(data: &str) -> Body {
    let text = match serde_json::from_str::<Value>(data) {
        Ok(Value::Object(rich)) if rich.contains_key("_lctype") => {
            rich.get("_lctext").and_then(Value::as_str).unwrap_or_default().to_owned()
        }
        _ => data.to_owned(),
    };
    Body::Text { msg: text }
}

/// A message's `push_data` (a JSON object, or its text, as the SDKs send
/// it) as the message's `ext`, where offline push reads it; `Err` when it is
/// not an object.
pub fn push_ext(push_data: Option<&Value>) -> Result<Option<Value>, &'static str> {
    let object = match push_data {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) if text.is_empty() => return Ok(None),
        Some(Value::String(text)) => {
            serde_json::from_str::<Value>(text).map_err(|_| "push_data must be a JSON object")?
        }
        Some(other) => other.clone(),
    };
    match object {
        Value::Object(_) => Ok(Some(serde_json::json!({ "push_data": object }))),
        _ => Err("push_data must be a JSON object"),
    }
}
