//! Message content between the core's [`Body`] and msync's
//! `MessageBody.Content`, and a message's `ext` between JSON and msync's
//! typed `KeyValue` list. Only this module knows both shapes.

use serde_json::{Map, Number, Value};

use confab_core::model::{Body, Coordinate, ImageSize};

use super::proto::key_value::ValueType;
use super::proto::message_body::content::Size;
use super::proto::message_body::content::Type as ContentType;
use super::proto::message_body::Content;
use super::proto::KeyValue;

/// Most entries of a message's `ext` taken from a client.
const MAX_EXT_ENTRIES: usize = 64;

/// The content a client receives for a body.
pub fn content_of(body: &Body) -> Content {
    let mut content = Content::default();
    match body {
        Body::Text { msg } => {
            content.r#type = Some(ContentType::Text as i32);
            content.text = Some(msg.clone());
        }
        Body::Image { filename, secret, size, url, file_length } => {
            content.r#type = Some(ContentType::Image as i32);
            content.display_name = Some(filename.clone());
            content.remote_path = Some(url.clone());
            content.secret_key = secret.clone();
            content.size = Some(size_of(size));
            content.file_length = file_length.map(clamp_i32);
        }
        Body::Audio { filename, secret, length, url, file_length } => {
            content.r#type = Some(ContentType::Voice as i32);
            content.display_name = Some(filename.clone());
            content.remote_path = Some(url.clone());
            content.secret_key = secret.clone();
            content.duration = Some(clamp_i32(*length));
            content.file_length = file_length.map(clamp_i32);
        }
        Body::Video { thumb, length, secret, file_length, thumb_secret, url, filename, size } => {
            content.r#type = Some(ContentType::Video as i32);
            content.display_name = filename.clone();
            content.remote_path = Some(url.clone());
            content.secret_key = secret.clone();
            content.duration = Some(clamp_i32(*length));
            content.file_length = Some(clamp_i32(*file_length));
            content.thumbnail_remote_path = Some(thumb.clone());
            content.thumbnail_secret_key = thumb_secret.clone();
            content.thumbnail_size = size.as_ref().map(size_of);
        }
        Body::File { filename, secret, url, file_length } => {
            content.r#type = Some(ContentType::File as i32);
            content.display_name = Some(filename.clone());
            content.remote_path = Some(url.clone());
            content.secret_key = secret.clone();
            content.file_length = file_length.map(clamp_i32);
        }
        Body::Location { lat, lng, addr } => {
            content.r#type = Some(ContentType::Location as i32);
            content.latitude = Some(number_of(lat));
            content.longitude = Some(number_of(lng));
            content.address = Some(addr.clone());
        }
        Body::Command { action } => {
            content.r#type = Some(ContentType::Command as i32);
            content.action = Some(action.clone());
        }
        Body::Custom { custom_event, custom_exts } => {
            content.r#type = Some(ContentType::Custom as i32);
            content.custom_event = custom_event.clone();
            content.custom_exts = custom_exts.as_ref().map(key_values).unwrap_or_default();
        }
    }
    content
}

/// The body of a content a client sent; `Err` says what is wrong with it.
pub fn body_of(content: &Content) -> Result<Body, String> {
    let text = |field: &Option<String>| field.clone().unwrap_or_default();
    let length = |field: Option<i32>| field.and_then(|n| u64::try_from(n).ok());
    let kind = content.r#type.and_then(|t| ContentType::try_from(t).ok()).unwrap_or(ContentType::Text);
    let needs_url = || content.remote_path.clone().filter(|u| !u.is_empty()).ok_or("a file needs its remotePath");
    Ok(match kind {
        ContentType::Text => Body::Text { msg: text(&content.text) },
        ContentType::Image => Body::Image {
            filename: text(&content.display_name),
            secret: content.secret_key.clone(),
            size: image_size(content.size.as_ref()),
            url: needs_url()?,
            file_length: length(content.file_length),
        },
        ContentType::Voice => Body::Audio {
            filename: text(&content.display_name),
            secret: content.secret_key.clone(),
            length: length(content.duration).unwrap_or(0),
            url: needs_url()?,
            file_length: length(content.file_length),
        },
        ContentType::Video => Body::Video {
            thumb: text(&content.thumbnail_remote_path),
            length: length(content.duration).unwrap_or(0),
            secret: content.secret_key.clone(),
            file_length: length(content.file_length).unwrap_or(0),
            thumb_secret: content.thumbnail_secret_key.clone(),
            url: needs_url()?,
            filename: content.display_name.clone(),
            size: content.thumbnail_size.as_ref().map(|s| image_size(Some(s))),
        },
        ContentType::File => Body::File {
            filename: text(&content.display_name),
            secret: content.secret_key.clone(),
            url: needs_url()?,
            file_length: length(content.file_length),
        },
        ContentType::Location => Body::Location {
            lat: coordinate(content.latitude.unwrap_or(0.0))?,
            lng: coordinate(content.longitude.unwrap_or(0.0))?,
            addr: text(&content.address),
        },
        ContentType::Command => Body::Command { action: text(&content.action) },
        ContentType::Custom => {
            let exts = json_of(&content.custom_exts)?;
            Body::Custom { custom_event: content.custom_event.clone(), custom_exts: (!exts.is_empty()).then_some(exts) }
        }
        ContentType::Combine => return Err("combined messages are not served".into()),
    })
}

/// A message's `ext` as msync's typed list.
pub fn key_values(ext: &Map<String, Value>) -> Vec<KeyValue> {
    ext.iter().map(|(key, value)| key_value(key, value)).collect()
}

fn key_value(key: &str, value: &Value) -> KeyValue {
    let mut kv = KeyValue { key: Some(key.to_owned()), ..Default::default() };
    match value {
        Value::Bool(b) => {
            kv.r#type = Some(ValueType::Bool as i32);
            kv.varint_value = Some(i64::from(*b));
        }
        Value::Number(n) if n.is_i64() => {
            kv.r#type = Some(ValueType::Int as i32);
            kv.varint_value = n.as_i64();
        }
        Value::Number(n) => {
            kv.r#type = Some(ValueType::Double as i32);
            kv.double_value = n.as_f64();
        }
        Value::String(s) => {
            kv.r#type = Some(ValueType::String as i32);
            kv.string_value = Some(s.clone());
        }
        other => {
            kv.r#type = Some(ValueType::JsonString as i32);
            kv.string_value = Some(other.to_string());
        }
    }
    kv
}

/// A client's typed list as JSON; `Err` for an entry it cannot be.
pub fn json_of(list: &[KeyValue]) -> Result<Map<String, Value>, String> {
    if list.len() > MAX_EXT_ENTRIES {
        return Err(format!("ext may have at most {MAX_EXT_ENTRIES} entries"));
    }
    let mut map = Map::new();
    for kv in list {
        let Some(key) = kv.key.clone().filter(|k| !k.is_empty()) else {
            return Err("an ext entry needs its key".into());
        };
        let kind = kv.r#type.and_then(|t| ValueType::try_from(t).ok()).unwrap_or(ValueType::String);
        let value = match kind {
            ValueType::Bool => Value::Bool(kv.varint_value.unwrap_or(0) != 0),
            ValueType::Int | ValueType::Uint | ValueType::Llint => Value::from(kv.varint_value.unwrap_or(0)),
            ValueType::Float => float(f64::from(kv.float_value.unwrap_or(0.0)))?,
            ValueType::Double => float(kv.double_value.unwrap_or(0.0))?,
            ValueType::String => Value::String(kv.string_value.clone().unwrap_or_default()),
            ValueType::JsonString => {
                let text = kv.string_value.clone().unwrap_or_default();
                serde_json::from_str(&text).map_err(|_| format!("ext {key} is not JSON"))?
            }
        };
        map.insert(key, value);
    }
    Ok(map)
}

fn float(x: f64) -> Result<Value, String> {
    Number::from_f64(x).map(Value::Number).ok_or_else(|| "a number must be finite".to_owned())
}

fn coordinate(x: f64) -> Result<Coordinate, String> {
    match float(x)? {
        Value::Number(n) => Ok(Coordinate::Number(n)),
        _ => Err("a coordinate must be a number".into()),
    }
}

fn number_of(coordinate: &Coordinate) -> f64 {
    match coordinate {
        Coordinate::Number(n) => n.as_f64().unwrap_or(0.0),
        Coordinate::Text(text) => text.trim().parse().unwrap_or(0.0),
    }
}

fn size_of(size: &ImageSize) -> Size {
    Size { width: size.width.as_f64(), height: size.height.as_f64() }
}

fn image_size(size: Option<&Size>) -> ImageSize {
    let number = |x: Option<f64>| {
        let x = x.unwrap_or(0.0);
        // Whole sizes stay whole (480, not 480.0), as the REST dialect keeps them.
        if x.fract() == 0.0 && x.abs() < 1e15 {
            Number::from(x as i64)
        } else {
            Number::from_f64(x).unwrap_or_else(|| Number::from(0))
        }
    };
    let size = size.cloned().unwrap_or_default();
    ImageSize { width: number(size.width), height: number(size.height) }
}

fn clamp_i32(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every body survives the trip to msync's content and back.
    #[test]
    fn bodies_round_trip() {
        let bodies = vec![
            Body::Text { msg: "hi".into() },
            Body::Image {
                filename: "a.png".into(),
                secret: Some("s".into()),
                size: ImageSize { width: 480.into(), height: 320.into() },
                url: "http://x/chatfiles/1".into(),
                file_length: Some(10),
            },
            Body::Audio {
                filename: "a.amr".into(),
                secret: None,
                length: 3,
                url: "http://x/chatfiles/2".into(),
                file_length: Some(5),
            },
            Body::File {
                filename: "f.txt".into(),
                secret: None,
                url: "http://x/chatfiles/3".into(),
                file_length: None,
            },
            Body::Location {
                lat: Coordinate::Number(Number::from_f64(39.9).unwrap()),
                lng: Coordinate::Number(Number::from_f64(116.3).unwrap()),
                addr: "Beijing".into(),
            },
            Body::Command { action: "typing".into() },
            Body::Custom {
                custom_event: Some("gift".into()),
                custom_exts: Some(json!({"n": 2, "ok": true, "name": "rose"}).as_object().unwrap().clone()),
            },
        ];
        for body in bodies {
            assert_eq!(body_of(&content_of(&body)).unwrap(), body);
        }
    }

    #[test]
    fn ext_round_trips_with_its_types() {
        let ext = json!({"b": true, "i": -3, "d": 1.5, "s": "x", "j": {"k": [1, 2]}});
        let ext = ext.as_object().unwrap();
        assert_eq!(&json_of(&key_values(ext)).unwrap(), ext);
    }

    #[test]
    fn bad_content_is_refused() {
        let image = Content { r#type: Some(ContentType::Image as i32), ..Default::default() };
        assert!(body_of(&image).is_err(), "an image without its file");
        let kv = KeyValue { key: Some("j".into()), r#type: Some(ValueType::JsonString as i32), ..Default::default() };
        assert!(json_of(&[kv]).is_err(), "JSON that is not JSON");
        assert!(json_of(&vec![KeyValue::default(); 65]).is_err());
    }
}
