//! Console sign-in: signed session cookies and CSRF tokens.
//!
//! A session is a cookie `name.expires.nonce.mac`, where `mac` is an
//! HMAC-SHA256 under a key derived from the operator's stored password hash
//! and the time it was set. Nothing is kept per session on the server, so any
//! node of a cluster accepts it, and a new password ends every session made
//! with the old one. Signing out forgets the nonce on this node (a list kept
//! until the sessions it names would have expired anyway).
//!
//! The cookie is `HttpOnly` (scripts cannot read it) and `SameSite=Strict`;
//! every call that changes something must also carry the session's CSRF
//! token in `X-CSRF-Token`, which only the console's own page learns (from
//! the sign-in answer), so another site cannot make a signed-in browser act.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use confab_core::model::Operator;

use super::{ApiError, Console};

/// The session cookie's name.
pub const COOKIE: &str = "confab_console";
/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts.
pub const LIFETIME_MS: i64 = 8 * 3600 * 1000;
/// Signed-out nonces remembered per node, at most (oldest dropped first).
const SIGNED_OUT_KEPT: usize = 10_000;

type HmacSha256 = Hmac<Sha256>;

/// A verified session's parts.
#[derive(Debug, Clone)]
pub struct Session {
    pub expires_ms: i64,
    nonce: String,
}

/// The key an operator's sessions are signed with.
fn key(operator: &Operator) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(b"confab console session v1\0");
    digest.update(operator.password_hash.as_bytes());
    digest.update(operator.changed_ms.to_be_bytes());
    digest.finalize().into()
}

fn mac(key: &[u8; 32], purpose: &str, parts: &[&str]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(purpose.as_bytes());
    for part in parts {
        mac.update(b"\0");
        mac.update(part.as_bytes());
    }
    confab_core::auth::hex(&mac.finalize().into_bytes())
}

/// A new session for `operator`: the cookie's value and the CSRF token.
pub fn issue(operator: &Operator, now_ms: i64) -> (String, String) {
    let nonce = confab_core::auth::random_key(16);
    let expires = (now_ms + LIFETIME_MS).to_string();
    let key = key(operator);
    let signature = mac(&key, "session", &[&operator.name, &expires, &nonce]);
    let csrf = mac(&key, "csrf", &[&nonce]);
    (format!("{}.{expires}.{nonce}.{signature}", operator.name), csrf)
}

/// The name a cookie claims, before it is verified.
pub fn claimed(cookie: &str) -> Option<&str> {
    cookie.split('.').next().filter(|n| !n.is_empty())
}

/// Checks a cookie against the operator it names; the session if it is
/// theirs, unexpired and not signed out.
pub fn verify(cookie: &str, operator: &Operator, now_ms: i64, signed_out: &SignedOut) -> Option<Session> {
    // Operator names hold no '.', so the split is unambiguous.
    let mut parts = cookie.split('.');
    let (name, expires, nonce, signature) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || name != operator.name {
        return None;
    }
    let expected = mac(&key(operator), "session", &[name, expires, nonce]);
    if !confab_core::auth::secrets_equal(&expected, signature) {
        return None;
    }
    let expires_ms: i64 = expires.parse().ok()?;
    if expires_ms <= now_ms || signed_out.contains(nonce) {
        return None;
    }
    Some(Session { expires_ms, nonce: nonce.to_owned() })
}

/// The CSRF token of a verified session.
pub fn csrf(session: &Session, operator: &Operator) -> String {
    mac(&key(operator), "csrf", &[&session.nonce])
}

/// Nonces of sessions signed out on this node, until they would have expired.
#[derive(Default)]
pub struct SignedOut(Mutex<HashMap<String, i64>>);

impl SignedOut {
    pub fn add(&self, session: &Session, now_ms: i64) {
        let mut nonces = self.0.lock().unwrap_or_else(|e| e.into_inner());
        nonces.retain(|_, expires| *expires > now_ms);
        if nonces.len() >= SIGNED_OUT_KEPT {
            if let Some(oldest) = nonces.iter().min_by_key(|(_, e)| **e).map(|(n, _)| n.clone()) {
                nonces.remove(&oldest);
            }
        }
        nonces.insert(session.nonce.clone(), session.expires_ms);
    }

    fn contains(&self, nonce: &str) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).contains_key(nonce)
    }
}

/// The cookie's value in a request, if it has one.
pub fn cookie(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value: the session, or (`None`) one that ends it.
pub fn set_cookie(value: Option<&str>, secure: Secure) -> String {
    let secure = match secure {
        Secure::Yes => "; Secure",
        Secure::No => "",
    };
    match value {
        Some(value) => format!(
            "{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            LIFETIME_MS / 1000
        ),
        None => format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// Whether a cookie may travel over plain HTTP (it may not when the server's
/// public URL is `https://`).
#[derive(Debug, Clone, Copy)]
pub enum Secure {
    Yes,
    No,
}

/// A signed-in operator, as an extractor: 401 without a valid session, 403
/// for a change without the session's CSRF token.
pub struct SignedIn {
    pub operator: Operator,
    pub session: Session,
}

impl FromRequestParts<Console> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<SignedIn, ApiError> {
        let unauthenticated = || ApiError::new(StatusCode::UNAUTHORIZED, "sign in first");
        let value = cookie(parts).ok_or_else(unauthenticated)?;
        let name = claimed(value).ok_or_else(unauthenticated)?;
        let operator = console.core.operators.get(name).await?.ok_or_else(unauthenticated)?;
        let now = console.core.now_ms();
        let session = verify(value, &operator, now, &console.signed_out).ok_or_else(unauthenticated)?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD);
        if !safe {
            let given = parts.headers.get(CSRF_HEADER).and_then(|h| h.to_str().ok()).unwrap_or_default();
            if !confab_core::auth::secrets_equal(given, &csrf(&session, &operator)) {
                return Err(ApiError::new(StatusCode::FORBIDDEN, "missing or wrong X-CSRF-Token"));
            }
        }
        Ok(SignedIn { operator, session })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operator() -> Operator {
        Operator { name: "admin".into(), password_hash: "$argon2id$x".into(), created_ms: 1, changed_ms: 1 }
    }

    #[test]
    fn a_session_verifies_until_it_expires() {
        let (cookie, _) = issue(&operator(), 1_000);
        let out = SignedOut::default();
        assert!(verify(&cookie, &operator(), 1_001, &out).is_some());
        assert!(verify(&cookie, &operator(), 1_000 + LIFETIME_MS, &out).is_none());
    }

    #[test]
    fn a_new_password_ends_sessions() {
        let (cookie, _) = issue(&operator(), 1_000);
        let changed = Operator { changed_ms: 2, ..operator() };
        assert!(verify(&cookie, &changed, 1_001, &SignedOut::default()).is_none());
    }

    #[test]
    fn a_tampered_cookie_fails() {
        let (cookie, _) = issue(&operator(), 1_000);
        let later = cookie.replacen(&(1_000 + LIFETIME_MS).to_string(), &(9_000 + LIFETIME_MS).to_string(), 1);
        assert!(verify(&later, &operator(), 1_001, &SignedOut::default()).is_none());
        let other = Operator { name: "eve".into(), ..operator() };
        assert!(verify(&cookie, &other, 1_001, &SignedOut::default()).is_none());
    }

    #[test]
    fn signing_out_ends_a_session() {
        let (cookie, csrf_token) = issue(&operator(), 1_000);
        let out = SignedOut::default();
        let session = verify(&cookie, &operator(), 1_001, &out).unwrap();
        assert_eq!(csrf(&session, &operator()), csrf_token);
        out.add(&session, 1_001);
        assert!(verify(&cookie, &operator(), 1_002, &out).is_none());
    }
}
