//! `_Installation`, as much of it as offline push needs: a device registers
//! its push token and type (`POST /1.1/installations`, with the app key);
//! a client session that opens with that `deviceToken` binds it to the
//! client ([`crate::push::devices`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::requests::NewInstallation;
use super::{AnyKey, Body, LcError};
use crate::leancloud_model::iso;
use crate::push::devices::{self, Installation, MAX_TOKEN_LEN};

fn text(value: &Option<Value>, key: &str) -> Result<Option<String>, LcError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(LcError::invalid(format!("{key} must be a string"))),
    }
}

/// `POST /1.1/installations`: 201 with the new installation's `objectId`, or
/// 200 with `updatedAt` when the token was registered before.
pub async fn create(AnyKey(target): AnyKey, Body(body): Body<NewInstallation>) -> Result<Response, LcError> {
    let device_type = text(&body.device_type, "deviceType")?
        .map(|t| t.to_ascii_lowercase())
        .ok_or_else(|| LcError::invalid("deviceType is required"))?;
    if !matches!(device_type.as_str(), "ios" | "android") {
        return Err(LcError::invalid("deviceType must be ios or android"));
    }
    let token = match (text(&body.device_token, "deviceToken")?, text(&body.registration_id, "registrationId")?) {
        (Some(token), _) | (None, Some(token)) => token,
        (None, None) => return Err(LcError::invalid("deviceToken (iOS) or registrationId (Android) is required")),
    };
    if token.len() > MAX_TOKEN_LEN {
        return Err(LcError::invalid(format!("the token is at most {MAX_TOKEN_LEN} characters")));
    }
    let (core, app) = (&target.core, target.app.id);
    let now = core.now_ms();
    let before = devices::installation(core, app, &token).await?;
    let installation = Installation {
        object_id: before
            .as_ref()
            .map(|i| i.object_id.clone())
            .unwrap_or_else(|| confab_core::auth::hex(&rand::random::<[u8; 12]>())),
        device_type,
        token,
        created_ms: before.as_ref().map_or(now, |i| i.created_ms),
    };
    devices::install(core, app, &installation).await?;
    Ok(match before {
        Some(_) => (StatusCode::OK, axum::Json(json!({"objectId": installation.object_id, "updatedAt": iso(now)})))
            .into_response(),
        None => (StatusCode::CREATED, axum::Json(json!({"objectId": installation.object_id, "createdAt": iso(now)})))
            .into_response(),
    })
}
