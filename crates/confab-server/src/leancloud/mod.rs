//! The LeanCloud RTM REST dialect (`/1.2/rtm/…`, and the `/1.1/rtm/…` calls
//! its server SDKs still make).
//!
//! Requests carry `X-LC-Id` and `X-LC-Key` (`<key>` or `<master key>,master`)
//! or `X-LC-Sign` (`md5(timestamp + key),timestamp[,master]`); answers are
//! bare JSON, errors `{code, error}` with an HTTP status. LeanCloud's clients
//! need no registration, so a client ID named here becomes a confab user
//! (without a password) when it is first used. Notes on the vendor:
//! docs/research/leancloud-rtm.md.

mod clients;
mod conversations;
mod error;
mod global;
mod history;
mod installations;
mod messages;
mod permissions;
pub mod requests;
mod service;
mod v11;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde_json::Value;

use confab_core::auth;
use confab_core::model::{App, Username};
use confab_core::Core;

pub use error::{ErrorBody, LcError};

use crate::limits::RateLimits;
use conversations::{Chatrooms, Conversations, Kind, Services};

pub use crate::signed_login::{APP_ID, APP_KEY, MASTER_KEY, SIGN_WINDOW_MS};
/// Largest request body: a message is at most 5 KB, but a list of 500
/// client IDs is larger.
const BODY_LIMIT: usize = 64 * 1024;

/// What every LeanCloud handler can reach: the server's one state.
pub(crate) type State = crate::state::AppState;

pub fn router(state: State) -> Router {
    Router::new()
        .merge(kind_routes::<Conversations>())
        .merge(kind_routes::<Chatrooms>())
        .merge(kind_routes::<Services>())
        .route(
            "/1.2/rtm/conversations/{id}/mutes",
            get(conversations::mutes).post(conversations::mute).delete(conversations::unmute),
        )
        .route("/1.2/rtm/chatrooms/{id}/members", get(conversations::online_members))
        .route("/1.2/rtm/chatrooms/{id}/members/online-count", get(conversations::online_count))
        .route("/1.2/rtm/service-conversations/{id}/subscribers", get(service::subscribers).post(service::subscribe))
        .route("/1.2/rtm/service-conversations/{id}/subscribers/count", get(service::subscriber_count))
        .route("/1.2/rtm/service-conversations/{id}/subscribers/{client}", delete(service::unsubscribe))
        .route("/1.2/rtm/service-conversations/{id}/broadcasts", post(service::broadcast))
        .route("/1.2/rtm/service-conversations/{id}/subscribers/{client}/messages", get(service::received))
        .route(
            "/1.2/rtm/service-conversations/{id}/subscribers/{client}/messages/{message}",
            delete(service::delete_for_subscriber),
        )
        .route("/1.2/rtm/clients/check-online", post(clients::check_online))
        .route("/1.2/rtm/clients/sign", get(clients::sign))
        .route("/1.2/rtm/clients/{client}/unread-count", get(clients::unread_count))
        .route("/1.2/rtm/clients/{client}/kick", post(clients::kick))
        .route("/1.2/rtm/clients/{client}/service-conversations", get(clients::subscriptions))
        .route("/1.2/rtm/clients/{client}/messages", get(clients::sent_messages))
        .route(
            "/1.2/rtm/clients/{client}/blacklists",
            get(clients::blacklists).post(clients::blacklist).delete(clients::unblacklist),
        )
        .route("/1.2/rtm/stats", get(global::stats))
        .route("/1.2/rtm/all-conversations", get(global::all_conversations))
        .route("/1.2/rtm/broadcasts", get(global::broadcasts).post(global::broadcast))
        .route("/1.2/rtm/broadcasts/{message}", delete(global::delete_broadcast))
        .route("/1.2/rtm/messages", get(global::history))
        .route("/v1/route", get(clients::route))
        .route("/1.1/rtm/messages", post(v11::send))
        .route("/1.1/installations", post(installations::create))
        .route("/1.1/rtm/broadcast", post(v11::broadcast))
        .route("/1.1/rtm/messages/history", get(v11::history))
        .method_not_allowed_fallback(|method: axum::http::Method, uri: axum::http::Uri| async move {
            LcError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                405,
                format!("{method} is not allowed on {}.", uri.path()),
            )
        })
        .fallback(|uri: axum::http::Uri| async move {
            LcError::new(axum::http::StatusCode::NOT_FOUND, 404, format!("Not Found: {}.", uri.path()))
        })
        .with_state(state)
}

/// How a kind's messages are sent: a service conversation's go to chosen
/// subscribers, through its own module.
fn message_send<K: Kind>() -> axum::routing::MethodRouter<State> {
    match K::CHAT_TYPE {
        confab_core::model::ChatType::Channel => post(service::send),
        _ => post(messages::send::<K>),
    }
}

/// The endpoints conversations, chat rooms and service conversations share.
fn kind_routes<K: Kind>() -> Router<State> {
    let base = format!("/1.2/rtm/{}", K::PATH);
    let mut router = Router::new()
        .route(&base, get(conversations::query::<K>).post(conversations::create::<K>))
        .route(&format!("{base}/{{id}}"), put(conversations::update::<K>).delete(conversations::remove::<K>))
        .route(&format!("{base}/{{id}}/messages"), get(messages::history::<K>).merge(message_send::<K>()))
        .route(
            &format!("{base}/{{id}}/messages/{{message}}"),
            put(messages::edit::<K>).delete(messages::delete_message::<K>),
        )
        .route(&format!("{base}/{{id}}/messages/{{message}}/recall"), put(messages::recall::<K>))
        .route(
            &format!("{base}/{{id}}/blacklists"),
            get(permissions::blacklist::<K>)
                .post(permissions::add_blacklist::<K>)
                .delete(permissions::remove_blacklist::<K>),
        );
    if K::MEMBER_LIST {
        router = router.route(
            &format!("{base}/{{id}}/members"),
            get(conversations::members::<K>)
                .post(conversations::add_members::<K>)
                .delete(conversations::remove_members::<K>),
        );
    }
    if K::ROLES {
        router = router
            .route(
                &format!("{base}/{{id}}/temporary-silenceds"),
                post(permissions::silence::<K>).delete(permissions::unsilence::<K>),
            )
            .route(
                &format!("{base}/{{id}}/permanent-silenceds"),
                get(permissions::silenced::<K>)
                    .post(permissions::silence_for_ever::<K>)
                    .delete(permissions::unsilence_for_ever::<K>),
            )
            .route(
                &format!("{base}/{{id}}/member-infos"),
                get(permissions::member_infos::<K>).post(permissions::set_role::<K>),
            )
            .route(
                &format!("{base}/{{id}}/member-infos/{{info}}"),
                put(permissions::update_role::<K>).delete(permissions::clear_role::<K>),
            );
    }
    router
}

/// Which key a request was signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    App,
    Master,
}

/// A request authenticated with the app's master key (the vendor's rule for
/// almost every RTM call).
pub struct Master {
    pub core: Arc<Core>,
    pub limits: Arc<RateLimits>,
    pub app: Arc<App>,
}

/// A request authenticated with the app key or the master key.
pub struct AnyKey(pub Master);

impl FromRequestParts<State> for AnyKey {
    type Rejection = LcError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Self::Rejection> {
        let (app, _) = authenticate_counted(state, parts).await?;
        Ok(AnyKey(Master { core: state.core.clone(), limits: state.limits.clone(), app }))
    }
}

impl FromRequestParts<State> for Master {
    type Rejection = LcError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Self::Rejection> {
        let (app, kind) = authenticate_counted(state, parts).await?;
        if kind != KeyKind::Master {
            return Err(LcError::forbidden("This operation needs the master key."));
        }
        Ok(Master { core: state.core.clone(), limits: state.limits.clone(), app })
    }
}

/// Authenticates a request; an address that failed too often gets the
/// vendor's 429 before its keys are looked at, and each failure counts
/// against it. (The app's own quotas are charged by the handlers, after this.)
async fn authenticate_counted(state: &State, parts: &Parts) -> Result<(Arc<App>, KeyKind), LcError> {
    let peer = crate::peer_ip(&parts.extensions);
    if state.limits.failures.blocked(peer) {
        return Err(LcError::too_many_requests());
    }
    let authenticated = authenticate(&state.core, &parts.headers).await;
    if authenticated.is_err() {
        state.limits.failures.record(peer);
    }
    authenticated
}

/// Finds the app by `X-LC-Id` and checks `X-LC-Key` or `X-LC-Sign`, in constant time.
async fn authenticate(core: &Core, headers: &HeaderMap) -> Result<(Arc<App>, KeyKind), LcError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let app_id = header("x-lc-id").ok_or_else(LcError::unauthorized)?;
    let app = crate::signed_login::app_by_leancloud_id(core, app_id).await?.ok_or_else(LcError::unauthorized)?;
    let key_of = |kind: KeyKind| {
        let name = if kind == KeyKind::Master { MASTER_KEY } else { APP_KEY };
        app.credentials.get(name).cloned().unwrap_or_default()
    };
    if let Some(given) = header("x-lc-key") {
        let (key, kind) = match given.strip_suffix(",master") {
            Some(key) => (key, KeyKind::Master),
            None => (given, KeyKind::App),
        };
        let expected = key_of(kind);
        if expected.is_empty() || !auth::secrets_equal(key, &expected) {
            return Err(LcError::unauthorized());
        }
        return Ok((app, kind));
    }
    let sign = header("x-lc-sign").ok_or_else(LcError::unauthorized)?;
    let mut parts = sign.split(',');
    let (Some(digest), Some(timestamp)) = (parts.next(), parts.next()) else {
        return Err(LcError::unauthorized());
    };
    let kind = match parts.next() {
        None => KeyKind::App,
        Some("master") => KeyKind::Master,
        Some(_) => return Err(LcError::unauthorized()),
    };
    let sent_ms: i64 = timestamp.parse().map_err(|_| LcError::unauthorized())?;
    if (core.now_ms() - sent_ms).abs() > SIGN_WINDOW_MS {
        return Err(LcError::unauthorized());
    }
    let expected = key_of(kind);
    if expected.is_empty() || !auth::secrets_equal(digest, &sign_digest(timestamp, &expected)) {
        return Err(LcError::unauthorized());
    }
    Ok((app, kind))
}

/// `md5(timestamp + key)` in lower-case hex, as `X-LC-Sign` carries it.
pub fn sign_digest(timestamp: &str, key: &str) -> String {
    use md5::{Digest, Md5};
    confab_core::auth::hex(&Md5::digest(format!("{timestamp}{key}").as_bytes()))
}

/// A JSON body read with a size limit into the handler's request type (see
/// `requests`); the vendor's 107 when it is not a JSON object. An empty body
/// is an empty object.
pub struct Body<T = serde_json::Map<String, Value>>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = LcError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes: Bytes =
            axum::body::to_bytes(req.into_body(), BODY_LIMIT).await.map_err(|e| match crate::body_timed_out(&e) {
                true => LcError::new(axum::http::StatusCode::REQUEST_TIMEOUT, 124, "Request timed out."),
                false => LcError::new(axum::http::StatusCode::PAYLOAD_TOO_LARGE, 413, "Payload Too Large."),
            })?;
        let map = match bytes.is_empty() {
            true => serde_json::Map::new(),
            false => match serde_json::from_slice(&bytes) {
                Ok(Value::Object(map)) => map,
                _ => return Err(LcError::malformed()),
            },
        };
        T::deserialize(Value::Object(map)).map(Body).map_err(|e| LcError::invalid(e.to_string()))
    }
}

pub use crate::leancloud_model::iso;

/// A client ID, exactly as given: LeanCloud's are case-sensitive strings of
/// up to 64 characters, which is the core's own rule.
pub fn client(raw: &str, field: &str) -> Result<Username, LcError> {
    Username::parse(raw).map_err(|e| LcError::invalid(format!("{field}: {e}")))
}

/// A text field that must be present.
pub fn required<'a>(value: &'a Option<Value>, key: &str) -> Result<&'a str, LcError> {
    match value {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(LcError::invalid(format!("{key} is required"))),
    }
}

/// A list of client IDs from the field `key`, at most `cap`.
pub fn clients(value: &Option<Value>, key: &str, cap: usize) -> Result<Vec<Username>, LcError> {
    let Some(Value::Array(items)) = value else {
        return Err(LcError::invalid(format!("{key} must be an array of client IDs")));
    };
    if items.len() > cap {
        return Err(LcError::invalid(format!("{key} may name at most {cap} clients")));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let name = item.as_str().ok_or_else(|| LcError::invalid(format!("{key} must hold strings")))?;
        let user = client(name, key)?;
        if !out.contains(&user) {
            out.push(user);
        }
    }
    Ok(out)
}

/// Makes sure these clients exist as confab users (created without a
/// password, as LeanCloud's clients need no registration).
pub async fn ensure_clients(core: &Core, app: &App, users: &[Username]) -> Result<(), LcError> {
    Ok(core.users.ensure_exist(app.id, users).await?)
}

pub fn ok(value: Value) -> Response {
    Json(value).into_response()
}
