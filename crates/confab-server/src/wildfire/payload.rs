//! The vendor's conversation `{type, target, line}` and message payload, and
//! how they map onto confab's conversations and typed bodies.
//!
//! A payload is kept whole beside the body (`Original::Wildfire`) and comes
//! back unchanged; the body is what the other dialects see: text for a text
//! message (and for anything else with searchable text), a typed media body
//! when there is a media URL, otherwise a custom message.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use confab_core::model::{Body, ChatType, Coordinate, ImageSize, Message, MessageState, Original, Username};
use confab_wire::CoordinateV1;

use super::error::{self, WildfireError};

/// Content types (the vendor's `MESSAGE_CONTENT_TYPE_*`).
const TEXT: i64 = 1;
const VOICE: i64 = 2;
const IMAGE: i64 = 3;
const LOCATION: i64 = 4;
const FILE: i64 = 5;
const VIDEO: i64 = 6;
const RECALL: i64 = 80;
const DELETE: i64 = 81;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConvType(pub i64);

impl ConvType {
    pub const SINGLE: ConvType = ConvType(0);
    pub const GROUP: ConvType = ConvType(1);
    pub const CHATROOM: ConvType = ConvType(2);
    pub const CHANNEL: ConvType = ConvType(3);
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Conversation {
    /// `conversationType` where the vendor's input flattens a conversation
    /// (`InputGetConvReadTime`, which its SDKs send to `message/conv_read`).
    #[serde(rename = "type", alias = "conversationType")]
    pub kind: ConvType,
    pub target: String,
    #[serde(default)]
    pub line: u32,
}

impl Conversation {
    /// The confab conversation kind this type maps to.
    pub fn chat_type(&self) -> Result<ChatType, WildfireError> {
        match self.kind {
            ConvType::SINGLE => Ok(ChatType::Chat),
            ConvType::GROUP => Ok(ChatType::GroupChat),
            ConvType::CHATROOM => Ok(ChatType::ChatRoom),
            ConvType::CHANNEL => Ok(ChatType::Channel),
            ConvType(other) => Err(WildfireError {
                code: error::NOT_IMPLEMENT,
                detail: Some(format!(
                    "conversation type {other} (0 single, 1 group, 2 chat room, 3 channel are served)"
                )),
            }),
        }
    }

    /// How the vendor names a stored message's conversation, as its sender sees it.
    pub fn of(message: &Message) -> Conversation {
        let kind = match message.chat_type {
            ChatType::GroupChat | ChatType::Thread => ConvType::GROUP,
            ChatType::ChatRoom => ConvType::CHATROOM,
            ChatType::Channel => ConvType::CHANNEL,
            // A multicast is a one-to-one conversation with its sender (`to`).
            ChatType::Chat | ChatType::Broadcast => ConvType::SINGLE,
        };
        Conversation { kind, target: message.to.clone(), line: message.line() }
    }
}

/// A payload as sent: an object with an integer `type`; kept whole.
pub fn parse(payload: Value, line: u32) -> Result<(Body, Original), WildfireError> {
    let Value::Object(fields) = &payload else {
        return Err(WildfireError::invalid("payload must be an object"));
    };
    let Some(kind) = fields.get("type").and_then(Value::as_i64) else {
        return Err(WildfireError::invalid("payload.type must be an integer"));
    };
    if kind == RECALL || kind == DELETE {
        let detail = "recall and delete notifications are made by the server".to_owned();
        return Err(WildfireError { code: error::INVALID_MESSAGE, detail: Some(detail) });
    }
    let body = body_of(kind, fields);
    Ok((body, Original::Wildfire { payload, line }))
}

fn body_of(kind: i64, fields: &Map<String, Value>) -> Body {
    let text = |key: &str| fields.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let searchable = text("searchableContent");
    let url = text("remoteMediaUrl");
    let content: Map<String, Value> =
        serde_json::from_str(&text("content")).ok().and_then(|v: Value| v.as_object().cloned()).unwrap_or_default();
    let number = |key: &str| content.get(key).and_then(Value::as_u64).unwrap_or(0);
    let or = |name: &str, fallback: &str| if name.is_empty() { fallback.to_owned() } else { name.to_owned() };
    match kind {
        TEXT => Body::Text { msg: searchable },
        IMAGE if !url.is_empty() => Body::Image {
            filename: or(&searchable, "image"),
            secret: None,
            size: ImageSize { width: 0.into(), height: 0.into() },
            url,
            file_length: None,
        },
        VOICE if !url.is_empty() => Body::Audio {
            filename: or(&searchable, "voice"),
            secret: None,
            length: number("duration"),
            url,
            file_length: None,
        },
        VIDEO if !url.is_empty() => Body::Video {
            thumb: String::new(),
            length: number("duration"),
            secret: None,
            file_length: 0,
            thumb_secret: None,
            url,
            filename: None,
            size: None,
        },
        FILE if !url.is_empty() => {
            Body::File { filename: or(&searchable, "file"), secret: None, url, file_length: None }
        }
        LOCATION => match (content.get("lat"), content.get("long")) {
            (Some(Value::Number(lat)), Some(Value::Number(lng))) => Body::Location {
                lat: Coordinate::Number(lat.clone()),
                lng: Coordinate::Number(lng.clone()),
                addr: searchable,
            },
            _ => Body::Text { msg: searchable },
        },
        _ if !searchable.is_empty() => Body::Text { msg: searchable },
        other => Body::Custom {
            custom_event: Some(format!("wildfire.{other}")),
            custom_exts: Some(fields.iter().filter(|(k, _)| k.as_str() != "type").take(16).map(clone_entry).collect()),
        },
    }
}

fn clone_entry((k, v): (&String, &Value)) -> (String, Value) {
    (k.clone(), v.clone())
}

/// The payload the vendor shows for a stored message: the one it was sent
/// with, one made from its body when another dialect sent it, or the
/// vendor's recall notification once it is recalled.
pub fn of(message: &Message) -> Value {
    if let MessageState::Recalled { by, .. } = &message.state {
        return recall_notification(message, by);
    }
    if let Some(Original::Wildfire { payload, .. }) = &message.original {
        return payload.clone();
    }
    from_body(&message.body)
}

fn recall_notification(message: &Message, by: &Username) -> Value {
    let uid = message.id.0.to_string();
    json!({
        "type": RECALL,
        "content": by.as_str(),
        "base64edData": base64::engine::general_purpose::STANDARD.encode(uid.as_bytes()),
        "pushData": json!({"messageUid": message.id.0}).to_string(),
        "persistFlag": 1,
    })
}

fn from_body(body: &Body) -> Value {
    match body {
        Body::Text { msg } => json!({"type": TEXT, "searchableContent": msg}),
        Body::Image { filename, url, .. } => {
            json!({"type": IMAGE, "mediaType": 1, "searchableContent": filename, "remoteMediaUrl": url})
        }
        Body::Audio { length, url, .. } => json!({
            "type": VOICE, "mediaType": 2, "remoteMediaUrl": url,
            "content": json!({"duration": length}).to_string(),
        }),
        Body::Video { length, url, .. } => json!({
            "type": VIDEO, "mediaType": 3, "remoteMediaUrl": url,
            "content": json!({"duration": length}).to_string(),
        }),
        Body::File { filename, url, .. } => {
            json!({"type": FILE, "mediaType": 4, "searchableContent": filename, "remoteMediaUrl": url})
        }
        Body::Location { lat, lng, addr } => json!({
            "type": LOCATION, "searchableContent": addr,
            "content": json!({"lat": CoordinateV1::from(lat), "long": CoordinateV1::from(lng)}).to_string(),
        }),
        // No vendor type for these: an unknown-type payload carrying the body.
        Body::Command { .. } | Body::Custom { .. } => {
            json!({"type": 0, "content": confab_wire::body_string(body)})
        }
    }
}
