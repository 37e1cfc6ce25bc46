//! A message body: `{"type": "txt", "msg": "hi"}` and its seven siblings.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use confab_core::model::{Body, Coordinate, ImageSize};

/// A body as written and read. Fields a body does not have are refused
/// rather than dropped, so what an export wrote imports again unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum BodyV1 {
    #[serde(rename = "txt")]
    Text { msg: String },
    #[serde(rename = "img")]
    Image {
        filename: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
        size: SizeV1,
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_length: Option<u64>,
    },
    #[serde(rename = "audio")]
    Audio {
        filename: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
        length: u64,
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_length: Option<u64>,
    },
    #[serde(rename = "video")]
    Video {
        thumb: String,
        length: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
        file_length: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thumb_secret: Option<String>,
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<SizeV1>,
    },
    #[serde(rename = "file")]
    File {
        filename: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_length: Option<u64>,
    },
    #[serde(rename = "loc")]
    Location { lat: CoordinateV1, lng: CoordinateV1, addr: String },
    #[serde(rename = "cmd")]
    Command { action: String },
    #[serde(rename = "custom")]
    Custom {
        #[serde(rename = "customEvent", default, skip_serializing_if = "Option::is_none")]
        custom_event: Option<String>,
        #[serde(rename = "customExts", default, skip_serializing_if = "Option::is_none")]
        custom_exts: Option<Map<String, Value>>,
    },
}

/// A latitude or longitude, a string or a number as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CoordinateV1 {
    Text(String),
    Number(Number),
}

/// An image's or thumbnail's size; numbers kept as written (480 stays 480).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeV1 {
    pub width: Number,
    pub height: Number,
}

impl From<&Coordinate> for CoordinateV1 {
    fn from(c: &Coordinate) -> Self {
        match c {
            Coordinate::Text(t) => CoordinateV1::Text(t.clone()),
            Coordinate::Number(n) => CoordinateV1::Number(n.clone()),
        }
    }
}

impl From<CoordinateV1> for Coordinate {
    fn from(c: CoordinateV1) -> Self {
        match c {
            CoordinateV1::Text(t) => Coordinate::Text(t),
            CoordinateV1::Number(n) => Coordinate::Number(n),
        }
    }
}

impl From<&ImageSize> for SizeV1 {
    fn from(s: &ImageSize) -> Self {
        SizeV1 { width: s.width.clone(), height: s.height.clone() }
    }
}

impl From<SizeV1> for ImageSize {
    fn from(s: SizeV1) -> Self {
        ImageSize { width: s.width, height: s.height }
    }
}

impl From<&Body> for BodyV1 {
    fn from(body: &Body) -> Self {
        match body.clone() {
            Body::Text { msg } => BodyV1::Text { msg },
            Body::Image { filename, secret, size, url, file_length } => {
                BodyV1::Image { filename, secret, size: (&size).into(), url, file_length }
            }
            Body::Audio { filename, secret, length, url, file_length } => {
                BodyV1::Audio { filename, secret, length, url, file_length }
            }
            Body::Video { thumb, length, secret, file_length, thumb_secret, url, filename, size } => BodyV1::Video {
                thumb,
                length,
                secret,
                file_length,
                thumb_secret,
                url,
                filename,
                size: size.as_ref().map(SizeV1::from),
            },
            Body::File { filename, secret, url, file_length } => BodyV1::File { filename, secret, url, file_length },
            Body::Location { lat, lng, addr } => BodyV1::Location { lat: (&lat).into(), lng: (&lng).into(), addr },
            Body::Command { action } => BodyV1::Command { action },
            Body::Custom { custom_event, custom_exts } => BodyV1::Custom { custom_event, custom_exts },
        }
    }
}

impl From<BodyV1> for Body {
    fn from(body: BodyV1) -> Self {
        match body {
            BodyV1::Text { msg } => Body::Text { msg },
            BodyV1::Image { filename, secret, size, url, file_length } => {
                Body::Image { filename, secret, size: size.into(), url, file_length }
            }
            BodyV1::Audio { filename, secret, length, url, file_length } => {
                Body::Audio { filename, secret, length, url, file_length }
            }
            BodyV1::Video { thumb, length, secret, file_length, thumb_secret, url, filename, size } => Body::Video {
                thumb,
                length,
                secret,
                file_length,
                thumb_secret,
                url,
                filename,
                size: size.map(ImageSize::from),
            },
            BodyV1::File { filename, secret, url, file_length } => Body::File { filename, secret, url, file_length },
            BodyV1::Location { lat, lng, addr } => Body::Location { lat: lat.into(), lng: lng.into(), addr },
            BodyV1::Command { action } => Body::Command { action },
            BodyV1::Custom { custom_event, custom_exts } => Body::Custom { custom_event, custom_exts },
        }
    }
}

/// The body as a JSON value.
pub fn body_json(body: &Body) -> Value {
    // A BodyV1 is strings, numbers and maps: it always serializes.
    serde_json::to_value(BodyV1::from(body)).unwrap_or_default()
}

/// The body as JSON text.
pub fn body_string(body: &Body) -> String {
    serde_json::to_string(&BodyV1::from(body)).unwrap_or_default()
}

/// A body from a JSON value; the error names what is wrong with it.
pub fn body_from_json(value: Value) -> Result<Body, serde_json::Error> {
    serde_json::from_value::<BodyV1>(value).map(Body::from)
}

/// A body from JSON text.
pub fn body_from_str(text: &str) -> Result<Body, serde_json::Error> {
    serde_json::from_str::<BodyV1>(text).map(Body::from)
}
