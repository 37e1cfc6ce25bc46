//! E-meta-1 to E-meta-5: user attributes. The vendor answers these with only
//! `{data, timestamp, duration}` and takes `PUT` bodies form-encoded.
//! Shapes: docs/research/easemob-files-history-recall.md, section 6.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use confab_core::error::Error;
use confab_core::model::{AttributeChange, ProfileChange, Username};

use super::{path_user, AnyAuth, AppAuth, EasemobError, JsonBody, DEFAULT_BODY_LIMIT};

/// Most bytes one user's attributes may take (their JSON text).
pub const MAX_USER_BYTES: usize = 2 * 1024;
/// Largest form body of a `PUT`.
const MAX_FORM_BYTES: usize = 4 * 1024;
/// Most users one batch read may name.
const MAX_TARGETS: usize = 100;

#[derive(Deserialize)]
pub struct UserPath {
    username: String,
}

fn forbidden(description: String) -> EasemobError {
    EasemobError::new(StatusCode::FORBIDDEN, "FORBIDDEN", "MetadataForbiddenException", description)
}

/// E-meta-1: sets attributes (others are kept); answers with those set.
pub async fn set(
    auth: AnyAuth,
    Path(path): Path<UserPath>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, EasemobError> {
    let username = path_user(&path.username)?;
    auth.require_self_or_app(&username)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(EasemobError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "HttpMediaTypeNotSupportedException",
            format!("Content-Type '{content_type}' is not supported."),
        ));
    }
    if body.len() > MAX_FORM_BYTES {
        return Err(EasemobError::too_large(body.len(), MAX_FORM_BYTES));
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&body).map_err(|e| EasemobError::illegal_argument(e.to_string()))?;
    if pairs.is_empty() || pairs.iter().any(|(k, _)| k.is_empty()) {
        return Err(EasemobError::illegal_argument("give at least one attribute, each with a name"));
    }
    let set: BTreeMap<String, String> = pairs.into_iter().collect();
    let change = ProfileChange {
        attributes: Some(AttributeChange::Merge { set: set.clone(), max_bytes: MAX_USER_BYTES }),
        ..ProfileChange::default()
    };
    let target = &auth.0;
    match target.core.users.update_profile(target.app.id, &username, change).await {
        Ok(_) => Ok(target.bare().data(json!(set)).into_response()),
        Err(Error::LimitExceeded(m)) => Err(forbidden(m)),
        Err(e) => Err(e.into()),
    }
}

/// E-meta-2: a user's attributes (`{}` for a user with none, or no such user).
pub async fn get_one(auth: AnyAuth, Path(path): Path<UserPath>) -> Result<Response, EasemobError> {
    let username = path_user(&path.username)?;
    auth.require_self_or_app(&username)?;
    let target = &auth.0;
    let attributes = match target.core.users.get(target.app.id, &username).await {
        Ok(user) => user.attributes,
        Err(Error::NotFound(_)) => BTreeMap::new(),
        Err(e) => return Err(e.into()),
    };
    Ok(target.bare().data(json!(attributes)).into_response())
}

/// E-meta-3's body.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct BatchRequest {
    /// At most 100 usernames.
    targets: Vec<String>,
    /// The attribute names to return; all when empty.
    #[serde(default)]
    properties: Vec<String>,
}

/// E-meta-3: chosen attributes (all without `properties`) of up to 100 users.
pub async fn get_many(
    AppAuth(target): AppAuth,
    JsonBody(request): JsonBody<DEFAULT_BODY_LIMIT, BatchRequest>,
) -> Result<Response, EasemobError> {
    if request.targets.len() > MAX_TARGETS {
        return Err(EasemobError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "MetadataBadRequestException",
            format!("exceed allowed batch size {MAX_TARGETS}"),
        ));
    }
    let mut data = Map::new();
    for raw in &request.targets {
        let Ok(username) = Username::easemob(raw) else { continue };
        let user = match target.core.users.get(target.app.id, &username).await {
            Ok(user) => user,
            Err(Error::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let chosen: HashMap<&String, &String> = user
            .attributes
            .iter()
            .filter(|(k, _)| request.properties.is_empty() || request.properties.contains(k))
            .collect();
        data.insert(username.to_string(), json!(chosen));
    }
    Ok(target.bare().data(Value::Object(data)).into_response())
}

/// E-meta-4: removes all of a user's attributes (no error if there were none).
pub async fn clear(auth: AnyAuth, Path(path): Path<UserPath>) -> Result<Response, EasemobError> {
    let username = path_user(&path.username)?;
    auth.require_self_or_app(&username)?;
    let target = &auth.0;
    let change = ProfileChange { attributes: Some(AttributeChange::Clear), ..ProfileChange::default() };
    match target.core.users.update_profile(target.app.id, &username, change).await {
        Ok(_) | Err(Error::NotFound(_)) => Ok(target.bare().data(json!(true)).into_response()),
        Err(e) => Err(e.into()),
    }
}

/// E-meta-5: bytes all users' attributes take.
pub async fn capacity(AppAuth(target): AppAuth) -> Result<Response, EasemobError> {
    let bytes = target.core.users.attributes_capacity(target.app.id).await?;
    Ok(target.bare().data(json!(bytes)).into_response())
}
