//! `POST /{org}/{app}/token`: app tokens (E-auth-1) and user tokens (E-auth-2):
//! by password, or by user ID alone with the app token (`grant_type: inherit`,
//! the vendor's way for backends that keep their own accounts).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use confab_core::apps::IssuedToken;
use confab_core::auth::Principal;
use confab_core::error::{AuthFailure, Error};
use confab_core::model::{User, Username};

use super::{user_entity, EasemobError, JsonBody, Target, DEFAULT_BODY_LIMIT};

/// E-auth-1's body: `client_credentials` with the app's client ID and secret,
/// `password` with a user's, or `inherit` (app token required) with a username.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    /// `client_credentials`, `password` or `inherit`.
    grant_type: String,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    /// With `inherit`: create the user, without a password, if missing.
    #[serde(default, rename = "autoCreateUser")]
    auto_create_user: bool,
    /// Seconds; the vendor's examples send it as a string, a number is taken too.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    ttl: Option<Value>,
}

pub async fn issue(
    target: Target,
    headers: axum::http::HeaderMap,
    JsonBody(request): JsonBody<DEFAULT_BODY_LIMIT, TokenRequest>,
) -> Result<Response, EasemobError> {
    let ttl = parse_ttl(request.ttl.as_ref())?;
    match request.grant_type.as_str() {
        "client_credentials" => {
            let issued = target.core.apps.issue_app_token(
                &target.app,
                request.client_id.as_deref().unwrap_or_default(),
                request.client_secret.as_deref().unwrap_or_default(),
                ttl,
            )?;
            Ok(Json(json!({
                "access_token": issued.token,
                "expires_in": issued.expires_in,
                "application": target.app.uuid,
            }))
            .into_response())
        }
        "password" => {
            let username = Username::easemob(request.username.as_deref().unwrap_or_default())?;
            let password = request.password.unwrap_or_default();
            let result =
                target.core.users.issue_user_token(&target.app, &username, &password, ttl, &target.core.apps).await;
            user_token_reply(result)
        }
        "inherit" => {
            // Only the app's backend may issue tokens without a password.
            let token = super::bearer(&headers)?;
            let Principal::App = target.core.users.authenticate(&target.app, token).await? else {
                return Err(Error::Unauthenticated(AuthFailure::WrongTokenKind).into());
            };
            let username = Username::easemob(request.username.as_deref().unwrap_or_default())?;
            let result = target
                .core
                .users
                .issue_token_by_id(&target.app, &username, request.auto_create_user, ttl, &target.core.apps)
                .await;
            user_token_reply(result)
        }
        other => Err(EasemobError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "UnsupportedGrantTypeException",
            format!("unsupported grant_type: {other}"),
        )),
    }
}

/// The answer to both user grants: the token and the user, or the vendor's
/// `invalid_grant` for a user who does not exist or is deactivated.
fn user_token_reply(result: confab_core::error::Result<(IssuedToken, User)>) -> Result<Response, EasemobError> {
    let (issued, user) = result.map_err(|e| match e {
        Error::NotFound(_) => {
            EasemobError::new(StatusCode::NOT_FOUND, "invalid_grant", "EntityNotFoundException", "user not found")
        }
        Error::Deactivated(_) => EasemobError::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "UserNotActivatedException",
            "user not activated",
        ),
        other => other.into(),
    })?;
    Ok(Json(json!({
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "user": user_entity(&user),
    }))
    .into_response())
}

fn parse_ttl(raw: Option<&Value>) -> Result<Option<i64>, EasemobError> {
    let bad = || EasemobError::illegal_argument("ttl must be a whole number of seconds");
    match raw {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}
