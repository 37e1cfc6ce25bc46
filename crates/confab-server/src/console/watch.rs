//! Signing in and out, the live view, the cluster's nodes and the audit log.

use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use confab_core::operators::MAX_AUDIT_PAGE;

use super::session::{self, Secure, SignedIn};
use super::{audit, ApiError, Body, Console};

#[derive(Deserialize)]
pub struct Credentials {
    name: String,
    password: String,
}

/// Whether the session cookie must be `Secure`: when links say `https://`.
fn secure(parts: &Parts) -> Secure {
    if crate::links::origin(parts).starts_with("https://") {
        Secure::Yes
    } else {
        Secure::No
    }
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `POST /console/api/login` `{"name", "password"}`: a session cookie and
/// the CSRF token. Failures are counted per address, like every other
/// authentication, and refused for a while once there are too many.
pub async fn login(
    State(console): State<Console>,
    parts: Parts,
    Body(credentials): Body<Credentials>,
) -> Result<Response, ApiError> {
    let address = crate::peer_ip(&parts.extensions);
    let failures = &console.limits.failures;
    if failures.blocked(address) {
        return Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too many failed sign-ins; wait a minute"));
    }
    let signed_in = console.core.operators.sign_in(&credentials.name, credentials.password).await?;
    let Some(operator) = signed_in else {
        failures.record(address);
        tracing::info!(%address, "a console sign-in failed");
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "wrong name or password"));
    };
    let (cookie, csrf) = session::issue(&operator, console.core.now_ms());
    tracing::info!(operator = %operator.name, "an operator signed in to the console");
    audit(&console, &operator.name, None, "console.login", None, Some(address.to_string())).await;
    let body = Json(json!({ "operator": operator.name, "csrf": csrf })).into_response();
    Ok(with_cookie(body, &session::set_cookie(Some(&cookie), secure(&parts))))
}

/// `POST /console/api/logout`: ends the session (on every node once it
/// expires; on this one now).
pub async fn logout(State(console): State<Console>, parts: Parts, who: SignedIn) -> Response {
    console.signed_out.add(&who.session, console.core.now_ms());
    audit(&console, &who.operator.name, None, "console.logout", None, None).await;
    let body = Json(json!({ "signed_out": who.operator.name })).into_response();
    with_cookie(body, &session::set_cookie(None, secure(&parts)))
}

/// `GET /console/api/session`: who is signed in, and the CSRF token (the
/// page asks after a reload, when it has the cookie but not the token).
pub async fn session(who: SignedIn) -> Json<Value> {
    let csrf = session::csrf(&who.session, &who.operator);
    Json(json!({ "operator": who.operator.name, "csrf": csrf, "expires_ms": who.session.expires_ms }))
}

/// `GET /console/api/live`: totals since start (the page shows the rates
/// between two readings) and the time they were read.
pub async fn live(State(console): State<Console>, _: SignedIn) -> Json<Value> {
    let totals = console.metrics.live();
    Json(json!({ "at_ms": console.core.now_ms(), "node": console.node.node_id, "totals": totals }))
}

/// `GET /console/api/nodes`: this node and the live nodes it knows of.
pub async fn nodes(State(console): State<Console>, _: SignedIn) -> Json<Value> {
    Json(json!({ "this": console.node.view() }))
}

#[derive(Deserialize)]
pub struct AuditPage {
    before: Option<i64>,
    limit: Option<usize>,
}

/// `GET /console/api/audit?before=`: the audit log, newest first.
pub async fn audit_log(
    State(console): State<Console>,
    _: SignedIn,
    Query(page): Query<AuditPage>,
) -> Result<Json<Value>, ApiError> {
    let limit = page.limit.unwrap_or(50).clamp(1, MAX_AUDIT_PAGE);
    let entries = console.core.operators.audit_log(page.before, limit).await?;
    let next = (entries.len() == limit).then(|| entries.last().map(|e| e.id)).flatten();
    let entries: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "id": e.id, "at_ms": e.at_ms, "operator": e.operator, "app": e.app,
                "action": e.action, "target": e.target, "detail": e.detail,
            })
        })
        .collect();
    Ok(Json(json!({ "entries": entries, "next": next })))
}
