//! The Easemob (环信 / Agora Chat) REST dialect.
//!
//! A thin adapter: each handler parses the vendor's request, authenticates
//! it, calls the core and renders the vendor's envelope or error. Paths are
//! `/{org}/{app}/…`; results are wrapped in `{action, application, path, uri,
//! entities|data, timestamp, duration, organization, applicationName}`.

mod error;
mod files;
pub(crate) mod groups;
pub(crate) mod history;
pub(crate) mod message_admin;
pub(crate) mod messages;
pub(crate) mod metadata;
pub(crate) mod push;
pub(crate) mod relations;
pub(crate) mod sdk;
pub(crate) mod threads;
pub(crate) mod token;
pub(crate) mod users;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use confab_core::auth::Principal;
use confab_core::model::{App, User, Username};
use confab_core::Core;

pub use error::{EasemobError, ErrorBody};

use groups::{Groups, Kind, Rooms};
pub use history::run_exports;

use crate::limits::{Per, RateLimits, EASEMOB_REQUESTS_PER_SECOND};

/// What every Easemob handler can reach: the server's one state.
pub(crate) type State = crate::state::AppState;

pub fn router(state: State) -> Router {
    Router::new()
        .route(
            "/{org}/{app}/token",
            post(token::issue).layer(axum::middleware::from_fn_with_state(state.clone(), self_checked)),
        )
        .route("/{org}/{app}/users", post(users::register).get(users::list).delete(users::delete_batch))
        // The seed shows GET with a body (E-user-8); the current docs POST.
        .route("/{org}/{app}/users/batch/status", post(users::batch_status).get(users::batch_status))
        .route("/{org}/{app}/users/{username}", get(users::get_one).put(users::update).delete(users::delete_one))
        .route("/{org}/{app}/users/{username}/password", put(users::set_password))
        .route("/{org}/{app}/users/{username}/push/binding", get(push::bindings).put(push::bind))
        .route("/{org}/{app}/users/{username}/status", get(users::status))
        .route("/{org}/{app}/users/{username}/offline_msg_count", get(users::offline_count))
        .route("/{org}/{app}/users/{username}/offline_msg_status/{msg_id}", get(users::offline_status))
        .route("/{org}/{app}/users/{username}/deactivate", post(users::deactivate))
        .route("/{org}/{app}/users/{username}/activate", post(users::activate))
        .route("/{org}/{app}/users/{username}/disconnect", get(users::disconnect))
        .route(
            "/{org}/{app}/users/{owner}/contacts/users/{other}",
            post(relations::add_contact).delete(relations::remove_contact),
        )
        .route("/{org}/{app}/users/{owner}/contacts/users", get(relations::contacts))
        .route("/{org}/{app}/users/{username}/messageroaming", post(sdk::roaming))
        .route("/{org}/{app}/sdk/user/{username}/user_channels/list", get(sdk::conversations))
        .route("/{org}/{app}/users/{owner}/blocks/users", get(relations::blocks).post(relations::block))
        .route("/{org}/{app}/users/{owner}/blocks/users/{other}", delete(relations::unblock))
        .route("/{org}/{app}/metadata/user/capacity", get(metadata::capacity))
        .route("/{org}/{app}/metadata/user/get", post(metadata::get_many))
        .route(
            "/{org}/{app}/metadata/user/{username}",
            put(metadata::set).get(metadata::get_one).delete(metadata::clear),
        )
        .route("/{org}/{app}/mutes", post(relations::set_mute).get(relations::all_mutes))
        .route("/{org}/{app}/mutes/{owner}", get(relations::mutes_of))
        .route(
            "/{org}/{app}/chatfiles",
            post(files::upload).layer(axum::extract::DefaultBodyLimit::max(files::UPLOAD_BODY_LIMIT)),
        )
        .route("/{org}/{app}/chatfiles/{uuid}", get(files::download))
        .route("/{org}/{app}/chatmessages", get(history::query))
        .route("/{org}/{app}/chatmessages/{time}", get(history::export_link))
        .route(
            "/{org}/{app}/chatmessages/{time}/file",
            get(history::export_file).layer(axum::middleware::from_fn_with_state(state.clone(), self_checked)),
        )
        .route("/{org}/{app}/messages/users", post(messages::send_to_users))
        .route("/{org}/{app}/messages/msg_recall", post(message_admin::recall))
        .route("/{org}/{app}/messages/users/import", post(message_admin::import_to_user))
        .route("/{org}/{app}/messages/chatgroups/import", post(message_admin::import_to_group))
        .route("/{org}/{app}/users/{username}/user_channel", delete(message_admin::delete_conversation))
        .route("/{org}/{app}/messages/chatgroups", post(messages::send_to_groups))
        .route("/{org}/{app}/messages/chatrooms", post(messages::send_to_rooms))
        .merge(group_routes::<Groups>())
        .route("/{org}/{app}/chatgroups/user/{username}", get(groups::joined_entities))
        .merge(group_routes::<Rooms>())
        .route("/{org}/{app}/metadata/chatroom/{id}", post(groups::room_attributes))
        .route(
            "/{org}/{app}/metadata/chatroom/{id}/user/{username}",
            put(|a, p, b| groups::set_room_attributes(a, p, b, false))
                .delete(|a, p, b| groups::remove_room_attributes(a, p, b, false)),
        )
        .route(
            "/{org}/{app}/metadata/chatroom/{id}/user/{username}/forced",
            put(|a, p, b| groups::set_room_attributes(a, p, b, true))
                .delete(|a, p, b| groups::remove_room_attributes(a, p, b, true)),
        )
        .route("/{org}/{app}/thread", get(threads::list).post(threads::create))
        .route("/{org}/{app}/thread/{id}", put(threads::rename).delete(threads::delete))
        .route("/{org}/{app}/thread/{id}/users", get(threads::members).post(threads::join).delete(threads::kick))
        .route("/{org}/{app}/thread/{id}/user/{username}/join", post(threads::join_one))
        .route("/{org}/{app}/thread/{id}/user/{username}/quit", delete(threads::quit_one))
        .route("/{org}/{app}/threads/{id}/users", post(threads::join).delete(threads::kick))
        .route("/{org}/{app}/threads/user/{username}", get(threads::of_user))
        .route("/{org}/{app}/threads/chatgroups/{group}/user/{username}", get(threads::of_user_in_group))
        .route("/{org}/{app}/threads/chatgroups/{group}", get(threads::of_group))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(state)
        .layer(crate::cors::any_origin())
}

/// An unknown path under `/{org}/{app}/`: the vendor's 404 for a resource it does not have.
async fn not_found(uri: axum::http::Uri) -> EasemobError {
    let mut e = EasemobError::not_found();
    e.description = format!("Service resource not found: {}", uri.path());
    e
}

/// A known path with a method it does not take.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> EasemobError {
    EasemobError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "unsupported_service_operation",
        "org.apache.usergrid.services.exceptions.UnsupportedServiceOperationException",
        format!("{method} is not supported on {}", uri.path()),
    )
}

/// For the calls whose handlers check their own credentials (a token request's
/// client secret or password, a signed download link): an address that failed
/// too often is refused before the check, a refusal counts against the
/// address, and only a success is charged to the app.
async fn self_checked(
    axum::extract::State(state): axum::extract::State<State>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let peer = crate::peer_ip(request.extensions());
    if state.limits.failures.blocked(peer) {
        return reach_limit().into_response();
    }
    let mut segments = request.uri().path().split('/').skip(1);
    let (org, app) = (segments.next().unwrap_or_default().to_owned(), segments.next().unwrap_or_default().to_owned());
    let response = next.run(request).await;
    let status = response.status();
    if status.is_client_error() && status != axum::http::StatusCode::TOO_MANY_REQUESTS {
        state.limits.failures.record(peer);
        return response;
    }
    if !status.is_success() {
        return response;
    }
    let app = match state.core.apps.by_name(&org, &app).await {
        Ok(Some(app)) => app,
        _ => return response,
    };
    if !state.limits.allow(&app, EASEMOB_REQUESTS_PER_SECOND, Per::Second, 1) {
        return reach_limit().into_response();
    }
    response
}

/// The endpoints groups and chat rooms share, under `/chatgroups` or `/chatrooms`.
fn group_routes<K: Kind>() -> Router<State> {
    let base = format!("/{{org}}/{{app}}{}", K::PATH);
    Router::new()
        .route(&base, get(groups::list::<K>).post(groups::create::<K>))
        .route(
            &format!("{base}/{{id}}"),
            get(groups::details_of::<K>).put(groups::modify::<K>).delete(groups::delete::<K>),
        )
        .route(&format!("{base}/{{id}}/users"), get(groups::members::<K>).post(groups::add_members::<K>))
        .route(
            &format!("{base}/{{id}}/users/{{username}}"),
            post(groups::add_member::<K>).delete(groups::remove_members::<K>),
        )
        .route(&format!("{base}/{{id}}/quit"), delete(groups::quit::<K>))
        .route(&format!("{base}/{{id}}/invite"), post(groups::invite::<K>))
        .route(&format!("{base}/{{id}}/admin"), get(groups::admins::<K>).post(groups::add_admin::<K>))
        .route(&format!("{base}/{{id}}/admin/{{username}}"), delete(groups::remove_admin::<K>))
        .route(&format!("{base}/{{id}}/{{list}}/users"), get(groups::list_users::<K>).post(groups::list_add_body::<K>))
        .route(
            &format!("{base}/{{id}}/{{list}}/users/{{username}}"),
            post(groups::list_add_path::<K>).delete(groups::list_remove::<K>),
        )
        .route(&format!("{base}/{{id}}/mute"), get(groups::mutes::<K>).post(groups::mute::<K>))
        .route(&format!("{base}/{{id}}/mute/{{username}}"), unmute_route::<K>())
        .route(
            &format!("{base}/{{id}}/ban"),
            post(groups::mute_all::<K>).put(groups::unmute_all::<K>).delete(groups::unmute_all::<K>),
        )
        .route(
            &format!("{base}/{{id}}/announcement"),
            get(groups::announcement::<K>).post(groups::set_announcement::<K>).put(groups::set_announcement::<K>),
        )
        .route(&format!("/{{org}}/{{app}}/users/{{username}}/joined_{}", &K::PATH[1..]), get(groups::joined::<K>))
}

/// Unmuting one member: DELETE, and for groups also the seed's POST (E-grp-17);
/// chat rooms have no POST there.
fn unmute_route<K: groups::Kind>() -> axum::routing::MethodRouter<State> {
    let route = delete(groups::unmute::<K>);
    if K::CHAT_TYPE == confab_core::model::ChatType::GroupChat {
        return route.post(groups::unmute::<K>);
    }
    route
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The app a request addresses, found from its path, before authentication.
/// Nothing is charged to the app here: its budget is spent only by calls
/// that authenticated (`AppAuth`, `AnyAuth`, [`Target::authenticated`]).
pub struct Target {
    pub core: Arc<Core>,
    pub limits: Arc<RateLimits>,
    pub app: Arc<App>,
    started: Instant,
    /// `http://host/org/app`, the prefix of the envelope's `uri`.
    base_uri: String,
    /// Where the request came from: failed authentications are counted by it.
    peer: IpAddr,
}

impl FromRequestParts<State> for Target {
    type Rejection = EasemobError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Self::Rejection> {
        let started = Instant::now();
        let core = &state.core;
        let params = RawPathParams::from_request_parts(parts, state).await.map_err(|_| EasemobError::not_found())?;
        let mut org = "";
        let mut app_name = "";
        for (key, value) in &params {
            match key {
                "org" => org = value,
                "app" => app_name = value,
                _ => {}
            }
        }
        let app = core.apps.by_name(org, app_name).await?.ok_or_else(|| EasemobError::app_not_found(org, app_name))?;
        let base_uri = format!("{}/{org}/{app_name}", crate::links::origin(parts));
        let peer = crate::peer_ip(&parts.extensions);
        Ok(Target { core: core.clone(), limits: state.limits.clone(), app, started, base_uri, peer })
    }
}

/// The vendor's answer to a call over the rate limit.
pub fn reach_limit() -> EasemobError {
    EasemobError::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "reach_limit",
        "ReachLimitException",
        "This request has reached api limit",
    )
}

impl Target {
    /// The full Easemob envelope.
    pub fn envelope(&self, action: &str, path: &str) -> Envelope {
        let mut fields = Map::new();
        fields.insert("action".into(), json!(action));
        fields.insert("application".into(), json!(self.app.uuid));
        fields.insert("path".into(), json!(path));
        fields.insert("uri".into(), json!(format!("{}{path}", self.base_uri)));
        fields.insert("organization".into(), json!(self.app.org));
        fields.insert("applicationName".into(), json!(self.app.name));
        Envelope { fields, started: self.started }
    }

    /// Only `{data, timestamp, duration}`: the user-attribute endpoints' shape.
    pub fn bare(&self) -> Envelope {
        Envelope { fields: Map::new(), started: self.started }
    }

    /// The short form some endpoints use: `{action, timestamp, duration}`.
    pub fn minimal(&self, action: &str) -> Envelope {
        let mut fields = Map::new();
        fields.insert("action".into(), json!(action));
        Envelope { fields, started: self.started }
    }

    /// `uri` plus `action`, `entities: []` and `count: 0`: the shape of the
    /// status and offline-message queries.
    pub fn query(&self, path: &str) -> Envelope {
        let mut fields = Map::new();
        fields.insert("action".into(), json!("get"));
        fields.insert("uri".into(), json!(format!("{}{path}", self.base_uri)));
        fields.insert("entities".into(), json!([]));
        fields.insert("count".into(), json!(0));
        Envelope { fields, started: self.started }
    }

    /// Checks the bearer token and returns who it speaks for, then charges the app for the call.
    async fn principal(&self, headers: &axum::http::HeaderMap) -> Result<Principal, EasemobError> {
        let checked = self
            .authenticated(async {
                let token = bearer_token(headers)?;
                self.core.users.authenticate(&self.app, token).await
            })
            .await?;
        Ok(checked?)
    }

    /// Runs an authentication: refused at once (outer error) for an address
    /// that failed too often; a failure is counted against the address; a
    /// success charges the app's request budget (outer error when it is
    /// spent). The order matters: a stranger's failures must never spend the
    /// app's budget. The inner result is the check's own.
    pub async fn authenticated<T>(
        &self,
        check: impl std::future::Future<Output = confab_core::error::Result<T>>,
    ) -> Result<confab_core::error::Result<T>, EasemobError> {
        if self.limits.failures.blocked(self.peer) {
            return Err(reach_limit());
        }
        let checked = check.await;
        match &checked {
            Ok(_) if !self.limits.allow(&self.app, EASEMOB_REQUESTS_PER_SECOND, Per::Second, 1) => {
                return Err(reach_limit())
            }
            Ok(_) => {}
            Err(confab_core::error::Error::Unauthenticated(_)) => {
                self.limits.failures.record(self.peer);
            }
            Err(_) => {}
        }
        Ok(checked)
    }
}

/// The bearer token of a request, or the vendor's 401.
pub fn bearer(headers: &axum::http::HeaderMap) -> Result<&str, EasemobError> {
    Ok(bearer_token(headers)?)
}

/// The bearer token of a request.
fn bearer_token(headers: &axum::http::HeaderMap) -> confab_core::error::Result<&str> {
    let missing = || confab_core::error::Error::Unauthenticated(confab_core::error::AuthFailure::MissingToken);
    let value = headers.get(header::AUTHORIZATION).ok_or_else(missing)?;
    let value = value.to_str().map_err(|_| missing())?;
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).ok_or_else(missing)?;
    Ok(token.trim())
}

/// A request made with the app token (the server-side credential).
pub struct AppAuth(pub Target);

impl FromRequestParts<State> for AppAuth {
    type Rejection = EasemobError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Self::Rejection> {
        let target = Target::from_request_parts(parts, state).await?;
        match target.principal(&parts.headers).await? {
            Principal::App => Ok(AppAuth(target)),
            Principal::User { .. } => {
                Err(confab_core::error::Error::Unauthenticated(confab_core::error::AuthFailure::WrongTokenKind).into())
            }
        }
    }
}

/// A request made with the app token or a user token.
pub struct AnyAuth(pub Target, pub Principal);

impl FromRequestParts<State> for AnyAuth {
    type Rejection = EasemobError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Self::Rejection> {
        let target = Target::from_request_parts(parts, state).await?;
        let principal = target.principal(&parts.headers).await?;
        Ok(AnyAuth(target, principal))
    }
}

impl AnyAuth {
    /// Allows the app, or the user acting on their own account.
    pub(crate) fn require_self_or_app(&self, username: &Username) -> Result<(), EasemobError> {
        match &self.1 {
            Principal::App => Ok(()),
            Principal::User { username: me, .. } if me == username => Ok(()),
            Principal::User { .. } => {
                Err(confab_core::error::Error::Unauthenticated(confab_core::error::AuthFailure::WrongTokenKind).into())
            }
        }
    }
}

/// A JSON request body read with a size limit into the handler's own request
/// type (the OpenAPI document's request schema is derived from the same type).
/// Larger bodies get the vendor's 413 and are never parsed; bodies that are not
/// JSON get its `json_parse`, and JSON of the wrong shape its
/// `invalid_request_body`.
pub struct JsonBody<const LIMIT: usize, T = Value>(pub T);

/// The vendor's documented cap for message requests.
pub const MESSAGE_BODY_LIMIT: usize = 5 * 1024;
/// Cap for other requests (a 60-user registration fits comfortably).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

impl<S: Send + Sync, const LIMIT: usize, T: serde::de::DeserializeOwned> FromRequest<S> for JsonBody<LIMIT, T> {
    type Rejection = EasemobError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if let Some(len) = declared.filter(|len| *len > LIMIT) {
            return Err(EasemobError::too_large(len, LIMIT));
        }
        let bytes: Bytes =
            axum::body::to_bytes(req.into_body(), LIMIT).await.map_err(|e| match crate::body_timed_out(&e) {
                true => EasemobError::new(
                    axum::http::StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    "RequestTimeoutException",
                    "the request body did not arrive in time",
                ),
                false => EasemobError::too_large(LIMIT + 1, LIMIT),
            })?;
        if bytes.is_empty() {
            return Err(EasemobError::invalid_body("the request body is empty"));
        }
        let value = serde_json::from_slice(&bytes).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => EasemobError::invalid_body(e),
            _ => EasemobError::json_parse(e),
        })?;
        Ok(JsonBody(value))
    }
}

/// An envelope being filled in.
pub struct Envelope {
    fields: Map<String, Value>,
    started: Instant,
}

impl Envelope {
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.fields.insert(key.into(), value);
        self
    }

    pub fn entities(self, entities: Vec<Value>) -> Self {
        self.with("entities", Value::Array(entities))
    }

    pub fn data(self, data: Value) -> Self {
        self.with("data", data)
    }
}

impl IntoResponse for Envelope {
    fn into_response(self) -> Response {
        let body = EnvelopeBody {
            fields: self.fields,
            timestamp: now_ms(),
            duration: self.started.elapsed().as_millis() as u64,
        };
        Json(body).into_response()
    }
}

/// Every success body of the Easemob dialect but a token's and a file's: the
/// envelope's fields for the call (`action`, `application`, `uri`,
/// `entities` or `data`, …) and when it was answered (the type rendered, and
/// the OpenAPI document's schema).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = EasemobEnvelope)]
pub struct EnvelopeBody {
    /// The call's own fields: `action`, `application`, `applicationName`,
    /// `organization`, `path`, `uri`, and `entities` or `data` (some calls
    /// answer only `data`, or only `action`).
    #[serde(flatten)]
    #[schema(value_type = std::collections::HashMap<String, serde_json::Value>)]
    pub fields: Map<String, Value>,
    /// Unix milliseconds.
    pub timestamp: i64,
    /// Milliseconds the call took.
    pub duration: u64,
}

/// A user as the vendor renders it.
pub fn user_entity(user: &User) -> Value {
    let mut entity = json!({
        "uuid": user.uuid,
        "type": "user",
        "created": user.created_ms,
        "modified": user.modified_ms,
        "username": user.username.as_str(),
        "activated": user.activated,
    });
    if let Some(nickname) = &user.nickname {
        entity["nickname"] = json!(nickname);
    }
    // Push settings appear once they have been set, as the vendor shows them.
    let push = &user.push;
    if let Some(style) = push.display_style {
        entity["notification_display_style"] = json!(style);
    }
    if let Some(on) = push.no_disturb {
        entity["notification_no_disturbing"] = json!(on);
    }
    if let Some(hour) = push.no_disturb_start {
        entity["notification_no_disturbing_start"] = json!(hour);
    }
    if let Some(hour) = push.no_disturb_end {
        entity["notification_no_disturbing_end"] = json!(hour);
    }
    entity
}

/// Parses a user ID from a path, answering 404 for names that cannot exist.
pub fn path_user(raw: &str) -> Result<Username, EasemobError> {
    Username::easemob(raw).map_err(|_| EasemobError::not_found())
}

/// A positive page size from the query parameter `name`, `default` when
/// absent and at most `max` (larger values are clamped, as the vendor does).
pub fn page_limit(
    query: &std::collections::HashMap<String, String>,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, EasemobError> {
    match query.get(name) {
        None => Ok(default),
        Some(raw) => match raw.parse::<usize>() {
            Ok(0) | Err(_) => {
                Err(EasemobError::illegal_argument(format!("{name} [{raw}] must be a whole number from 1")))
            }
            Ok(n) => Ok(n.min(max)),
        },
    }
}

/// The vendor echoes query parameters as arrays of strings.
pub fn echo_params(query: &std::collections::HashMap<String, String>) -> Value {
    let mut params = Map::new();
    for (key, value) in query {
        params.insert(key.clone(), json!([value]));
    }
    Value::Object(params)
}

/// Listing cursors are opaque to clients; inside they are a storage position.
pub fn encode_cursor(position: i64) -> String {
    format!("cf{position:x}")
}

/// A cursor of two positions (a time and a message ID).
pub fn encode_cursor_pair(ms: i64, id: confab_core::ids::MessageId) -> String {
    format!("cf{ms:x}.{:x}", id.0)
}

pub fn decode_cursor_pair(raw: &str) -> Result<(i64, confab_core::ids::MessageId), EasemobError> {
    let bad = || EasemobError::illegal_argument(format!("cursor [{raw}] is not valid"));
    let (ms, id) = raw.strip_prefix("cf").and_then(|rest| rest.split_once('.')).ok_or_else(bad)?;
    let ms = i64::from_str_radix(ms, 16).map_err(|_| bad())?;
    let id = u64::from_str_radix(id, 16).map_err(|_| bad())?;
    Ok((ms, confab_core::ids::MessageId(id)))
}

pub fn decode_cursor(raw: &str) -> Result<i64, EasemobError> {
    raw.strip_prefix("cf")
        .and_then(|hex| i64::from_str_radix(hex, 16).ok())
        .ok_or_else(|| EasemobError::illegal_argument(format!("cursor [{raw}] is not valid")))
}

/// A path parameter by name (handlers shared by several routes read theirs this way).
pub fn param<'a>(params: &'a std::collections::HashMap<String, String>, name: &str) -> &'a str {
    params.get(name).map(String::as_str).unwrap_or_default()
}
