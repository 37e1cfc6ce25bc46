//! Push bindings (绑定和解绑推送信息 / 查询推送绑定信息): a device's token
//! and the certificate (notifier) that reaches it, set by the app or by the
//! user's own SDK with their token; offline pushes go to them
//! ([`crate::push`]).

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use confab_core::error::Error;

use super::{path_user, AnyAuth, EasemobError, JsonBody, DEFAULT_BODY_LIMIT};
use crate::push::devices::{self, Device};

#[derive(Deserialize)]
pub struct UserPath {
    username: String,
}

/// The body of a binding: an empty `device_token` unbinds the device.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Binding {
    /// The SDK's ID of the device.
    device_id: Option<String>,
    /// The push provider's token for the app on this device; empty to unbind.
    device_token: Option<String>,
    /// The push certificate's name, as the app's push settings name a provider.
    notifier_name: Option<String>,
}

fn entity(device: &Device) -> Value {
    json!({"device_id": device.device_id, "device_token": device.token, "notifier_name": device.notifier})
}

/// `PUT /{org}/{app}/users/{username}/push/binding`: binds (or, with an
/// empty token, unbinds) one device; the binding made, or none.
pub async fn bind(
    auth: AnyAuth,
    Path(path): Path<UserPath>,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, Binding>,
) -> Result<Response, EasemobError> {
    let username = path_user(&path.username)?;
    auth.require_self_or_app(&username)?;
    let target = &auth.0;
    target.core.users.get(target.app.id, &username).await?;
    let device_id = body
        .device_id
        .filter(|d| !d.is_empty())
        .ok_or_else(|| EasemobError::illegal_argument("device_id is required"))?;
    let token = body.device_token.unwrap_or_default();
    let notifier = body.notifier_name.unwrap_or_default();
    if !token.is_empty() && notifier.is_empty() {
        return Err(EasemobError::illegal_argument("notifier_name is required"));
    }
    // Unbinding names no certificate the vendor checks; any name will do.
    let notifier = if notifier.is_empty() { "none".to_owned() } else { notifier };
    let bound = devices::bind(&target.core, target.app.id, &username, &device_id, &token, &notifier).await.map_err(
        |e| match e {
            Error::InvalidArgument(why) => EasemobError::illegal_argument(why),
            other => other.into(),
        },
    )?;
    let entities = bound.iter().filter(|d| d.device_id == device_id).map(entity).collect();
    Ok(target.envelope("put", "/users").entities(entities).into_response())
}

/// `GET /{org}/{app}/users/{username}/push/binding`: every device's binding.
pub async fn bindings(auth: AnyAuth, Path(path): Path<UserPath>) -> Result<Response, EasemobError> {
    let username = path_user(&path.username)?;
    auth.require_self_or_app(&username)?;
    let target = &auth.0;
    target.core.users.get(target.app.id, &username).await?;
    let bound = devices::of(&target.core, target.app.id, &username).await?;
    Ok(target.envelope("get", "/users").entities(bound.iter().map(entity).collect()).into_response())
}
