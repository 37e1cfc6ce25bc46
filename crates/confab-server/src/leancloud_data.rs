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
