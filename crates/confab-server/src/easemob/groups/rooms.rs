//! What only chat rooms have: the announcement and custom attributes (E-room-7/8).

use super::*;
use confab_core::error::KeyRefusal;
use confab_core::groups::RefusedKeys;

/// E-room-7: the announcement.
pub async fn announcement<K: Kind>(OnGroup { target, id, .. }: OnGroup<K>) -> Result<Response, EasemobError> {
    let id = id.as_str();
    let group = target.core.groups.get(target.app.id, group_ref::<K>(id)).await.map_err(group_error)?;
    let data = json!({"announcement": group.settings.announcement});
    Ok(target.envelope("get", &format!("{}/{id}/announcement", K::PATH)).data(data).into_response())
}

/// E-room-7's body.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct Announcement {
    /// At most 512 characters.
    #[schema(value_type = String)]
    announcement: Option<Value>,
}

/// E-room-7: replace the announcement (≤ 512 characters).
pub async fn set_announcement<K: Kind>(
    OnGroup { target, id, .. }: OnGroup<K>,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, Announcement>,
) -> Result<Response, EasemobError> {
    let id = id.as_str();
    let text = body
        .announcement
        .as_ref()
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_parameter("announcement must be provided"))?
        .to_owned();
    if text.chars().count() > limits::ANNOUNCEMENT_CHARS {
        return Err(forbidden(StatusCode::FORBIDDEN, "announce info length exceeds limit!"));
    }
    let patch = SettingsPatch { announcement: Some(text), ..SettingsPatch::default() };
    target.core.groups.update(target.app.id, group_ref::<K>(id), patch).await.map_err(group_error)?;
    let data = json!({"id": id, "result": true});
    Ok(target.envelope("post", &format!("{}/{id}/announcement", K::PATH)).data(data).into_response())
}

/// E-room-8: a room's custom attributes, all or the body's `keys`.
pub async fn room_attributes(
    AppAuth(target): AppAuth,
    Path(params): Params,
    body: axum::body::Bytes,
) -> Result<Response, EasemobError> {
    let id = param(&params, "id");
    // The body is optional here: none asks for every attribute.
    if body.len() > DEFAULT_BODY_LIMIT {
        return Err(EasemobError::too_large(body.len(), DEFAULT_BODY_LIMIT));
    }
    let body: AttributeFilter = match body.is_empty() {
        true => AttributeFilter { keys: None },
        false => serde_json::from_slice(&body).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => EasemobError::invalid_body(e),
            _ => EasemobError::json_parse(e),
        })?,
    };
    let keys = match &body.keys {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) if items.is_empty() => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|k| k.as_str().map(str::to_owned).ok_or_else(|| invalid_parameter("keys must be strings")))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(invalid_parameter("keys must be an array")),
    };
    let attributes =
        target.core.groups.room_attributes(target.app.id, id, keys.as_deref()).await.map_err(group_error)?;
    let data: Map<String, Value> = attributes.into_iter().map(|a| (a.key, Value::String(a.value))).collect();
    Ok(target
        .minimal("post")
        .with("uri", json!(format!("/metadata/chatroom/{id}")))
        .data(Value::Object(data))
        .into_response())
}

/// The vendor's words for a refused key of a `put` or `delete`.
fn key_refusal(why: KeyRefusal, action: &str) -> String {
    match why {
        KeyRefusal::HeldByOther if action == "delete" => "others are not allowed to be removed".into(),
        KeyRefusal::HeldByOther => "others are not allowed to be set".into(),
        KeyRefusal::RoomFull { max } => format!("the room already has {max} attributes"),
        KeyRefusal::Missing => "the key does not exist".into(),
    }
}

fn attribute_answer(
    target: &crate::easemob::Target,
    room: &str,
    action: &str,
    asked: Vec<String>,
    refused: RefusedKeys,
) -> Response {
    let success: Vec<&String> = asked.iter().filter(|k| !refused.iter().any(|(r, _)| r == *k)).collect();
    let errors: Map<String, Value> =
        refused.into_iter().map(|(k, why)| (k, Value::String(key_refusal(why, action)))).collect();
    let mut envelope = target
        .minimal(action)
        .with("uri", json!(format!("/metadata/chatroom/{room}")))
        .data(json!({"successKeys": success, "errorKeys": errors}));
    if action == "delete" {
        envelope = envelope.with("status", json!("ok"));
    }
    envelope.into_response()
}

/// E-room-8's body for setting attributes.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct RoomAttributes {
    /// Keys and their text values.
    #[serde(rename = "metaData")]
    #[schema(value_type = HashMap<String, String>)]
    meta_data: Option<Value>,
    /// `DELETE` (the default): the keys go when their setter leaves; `NO_DELETE`: they stay.
    #[serde(rename = "autoDelete")]
    #[schema(value_type = Option<String>)]
    auto_delete: Option<Value>,
}

/// E-room-8's body for reading attributes; optional.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct AttributeFilter {
    /// The keys to read; all when absent or empty.
    #[schema(value_type = Option<Vec<String>>)]
    keys: Option<Value>,
}

/// E-room-8's body for removing attributes.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct AttributeKeys {
    /// The keys to remove.
    #[schema(value_type = Vec<String>)]
    keys: Option<Value>,
}

/// E-room-8: set attributes as a member (`/forced` overwrites others' keys).
pub async fn set_room_attributes(
    AppAuth(target): AppAuth,
    Path(params): Params,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, RoomAttributes>,
    force: bool,
) -> Result<Response, EasemobError> {
    let id = param(&params, "id");
    let user = username(param(&params, "username"))?;
    let Some(Value::Object(values)) = &body.meta_data else {
        return Err(invalid_parameter("metaData must be provided as an object"));
    };
    let auto_delete = match body.auto_delete.as_ref().and_then(Value::as_str) {
        None | Some("DELETE") => true,
        Some("NO_DELETE") => false,
        Some(other) => return Err(invalid_parameter(format!("autoDelete [{other}] must be DELETE or NO_DELETE"))),
    };
    let mut pairs = Vec::with_capacity(values.len());
    for (key, value) in values {
        let value = value.as_str().ok_or_else(|| invalid_parameter(format!("the value of {key} must be a string")))?;
        pairs.push((key.clone(), value.to_owned()));
    }
    let asked: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
    let refused = target
        .core
        .groups
        .set_room_attributes(target.app.id, id, &user, pairs, auto_delete, force)
        .await
        .map_err(attribute_error)?;
    Ok(attribute_answer(&target, id, "put", asked, refused))
}

/// E-room-8: remove the body's `keys` (`/forced` removes others' keys too).
pub async fn remove_room_attributes(
    AppAuth(target): AppAuth,
    Path(params): Params,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, AttributeKeys>,
    force: bool,
) -> Result<Response, EasemobError> {
    let id = param(&params, "id");
    let user = username(param(&params, "username"))?;
    let keys: Vec<String> = match &body.keys {
        Some(Value::Array(items)) => items
            .iter()
            .map(|k| k.as_str().map(str::to_owned).ok_or_else(|| invalid_parameter("keys must be strings")))
            .collect::<Result<_, _>>()?,
        _ => return Err(invalid_parameter("keys must be provided as an array")),
    };
    let refused = target
        .core
        .groups
        .remove_room_attributes(target.app.id, id, &user, keys.clone(), force)
        .await
        .map_err(attribute_error)?;
    Ok(attribute_answer(&target, id, "delete", keys, refused))
}

/// Attribute calls answer a non-member with 401 `MetadataException`, as documented.
fn attribute_error(e: Error) -> EasemobError {
    match e {
        Error::Refused(_) => EasemobError::new(
            StatusCode::UNAUTHORIZED,
            "metadata_error",
            "MetadataException",
            "user is not in chatroom",
        ),
        Error::InvalidArgument(m) if m.contains("size must be at most") => EasemobError::new(
            StatusCode::BAD_REQUEST,
            "metadata_error",
            "MetadataException",
            "exceed allowed batch size 10",
        ),
        other => group_error(other),
    }
}
