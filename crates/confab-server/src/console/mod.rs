//! The operators' web console at `/console`: a page and its JSON API.
//!
//! The page is three static files compiled into the binary (`console/` at
//! the crate's root: plain HTML, CSS and JavaScript modules, no build step,
//! no framework, nothing fetched from the internet; ARCHITECTURE.md says
//! why). The API under `/console/api/` acts through the core's services, as
//! the REST dialects do, and writes each change to the audit log.
//!
//! - `session.rs`: sign-in, signed session cookies, CSRF tokens.
//! - `apps.rs`: apps, users, groups and messages.
//! - `watch.rs`: the live view, cluster nodes and the audit log.

mod apps;
mod session;
mod watch;

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::json;

use confab_core::error::Error;
use confab_core::model::AuditEntry;
use confab_core::Core;

use crate::limits::RateLimits;
use crate::metrics::Metrics;
use crate::node::Node;
use session::SignedOut;

/// What the console's handlers share.
#[derive(Clone)]
pub struct Console {
    core: Arc<Core>,
    limits: Arc<RateLimits>,
    metrics: Arc<Metrics>,
    node: Arc<Node>,
    signed_out: Arc<SignedOut>,
}

/// The most a console API request body may hold.
const MAX_BODY: usize = 16 * 1024;

pub fn router(node: Arc<Node>, limits: Arc<RateLimits>, metrics: Arc<Metrics>) -> Router {
    let console =
        Console { core: node.core.clone(), limits, metrics, node, signed_out: Arc::new(SignedOut::default()) };
    let api = Router::new()
        .route("/session", get(watch::session))
        .route("/login", post(watch::login))
        .route("/logout", post(watch::logout))
        .route("/live", get(watch::live))
        .route("/nodes", get(watch::nodes))
        .route("/audit", get(watch::audit_log))
        .route("/apps", get(apps::list_apps).post(apps::create_app))
        .route("/apps/{org}/{app}/limits/{name}", put(apps::set_limit))
        .route("/apps/{org}/{app}/users", get(apps::search_users))
        .route("/apps/{org}/{app}/users/{user}", get(apps::user))
        .route("/apps/{org}/{app}/users/{user}/attributes", put(apps::set_attributes))
        .route("/apps/{org}/{app}/users/{user}/messages", get(apps::user_messages))
        .route("/apps/{org}/{app}/users/{user}/{action}", post(apps::act_on_user))
        .route("/apps/{org}/{app}/groups", get(apps::list_groups))
        .route("/apps/{org}/{app}/groups/{kind}/{id}", get(apps::group))
        .route("/apps/{org}/{app}/history", get(apps::history))
        .route("/apps/{org}/{app}/messages/{id}/{action}", post(apps::act_on_message))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such console call") })
        .with_state(console);
    Router::new()
        .route("/console", get(|| async { Redirect::permanent("/console/") }))
        .route("/console/", get(page))
        .route("/console/assets/{file}", get(asset))
        .nest("/console/api", api)
}

/// The page's files, compiled in.
const INDEX: &str = include_str!("../../console/index.html");
const SCRIPT: &str = include_str!("../../console/console.js");
const STYLE: &str = include_str!("../../console/console.css");

/// What the page may load and where it may connect: only this server.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                      connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

async fn page() -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "console.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "console.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// A console API error: a status and `{"error": "…"}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let status = match &e {
            Error::InvalidArgument(_) | Error::TooLarge(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Duplicate(_) | Error::Refused(_) | Error::LimitExceeded(_) => StatusCode::CONFLICT,
            Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) | Error::Deactivated(_) => StatusCode::FORBIDDEN,
            Error::ReceiverOffline(_) => StatusCode::CONFLICT,
            Error::Storage(_) | Error::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!("console call failed: {e}");
        }
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

/// A JSON body of at most [`MAX_BODY`], refused in the console's shape.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Body<T>, ApiError> {
        let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY)
            .await
            .map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("at most {MAX_BODY} bytes")))?;
        // No body reads as `{}`, so calls that need nothing may send nothing.
        let bytes: &[u8] = if bytes.is_empty() { b"{}" } else { &bytes };
        serde_json::from_slice(bytes)
            .map(Body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
    }
}

/// Writes what an operator did to the audit log. A change that was made but
/// could not be logged is answered as made (it was) and the failure logged.
async fn audit(
    console: &Console,
    operator: &str,
    app: Option<String>,
    action: &str,
    target: Option<String>,
    detail: Option<String>,
) {
    let entry =
        AuditEntry { id: 0, at_ms: 0, operator: operator.to_owned(), app, action: action.to_owned(), target, detail };
    if let Err(e) = console.core.operators.record(entry).await {
        tracing::error!(action, "cannot write the audit log: {e}");
    }
}

/// The audit log's name for an app.
fn app_label(org: &str, app: &str) -> Option<String> {
    Some(format!("{org}/{app}"))
}
