//! The vendor's request signature: headers `nonce`, `timestamp` (Unix ms)
//! and `sign` = lower-case hex SHA-1 of `nonce|secret|timestamp`.
//!
//! The vendor refuses timestamps more than two hours old and never looks at
//! nonces again. confab also refuses timestamps more than two hours ahead
//! and a request whose exact signature (nonce and timestamp) it has seen
//! within that window: a captured request cannot be replayed. The nonce
//! alone cannot be the key, because the vendor's SDK draws it from only
//! 100,000 values.

use std::sync::Arc;

use axum::http::HeaderMap;
use sha1::{Digest, Sha1};

use confab_core::auth::secrets_equal;
use confab_core::model::App;
use confab_core::Core;

use super::error::{self, WildfireError};
use crate::replay::{NonceCache, Replay};

/// The app credential that holds the admin secret.
pub const SECRET_CREDENTIAL: &str = "wildfire.secret";
/// How far a request's timestamp may be from now, either way.
const WINDOW_MS: i64 = 2 * 60 * 60 * 1000;
/// Signatures remembered at most. Past this, requests are refused as too
/// frequent until older ones leave the window: about 550 signed calls a
/// second, sustained for two hours, and some 100 MB.
const MAX_REMEMBERED: usize = 4_000_000;

/// A request's signature headers, present and within the time window.
pub struct Signed<'a> {
    pub nonce: &'a str,
    pub timestamp: &'a str,
    pub sign: &'a str,
    pub sent_ms: i64,
}

impl Signed<'_> {
    /// Whether `secret` made this signature (in constant time).
    pub fn by(&self, secret: &str) -> bool {
        secrets_equal(&signature(self.nonce, secret, self.timestamp), self.sign)
    }
}

/// A header's text, if present and not empty.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty())
}

/// Reads the signature headers and checks their time.
pub fn signed<'a>(core: &Core, headers: &'a HeaderMap) -> Result<Signed<'a>, WildfireError> {
    let (Some(nonce), Some(timestamp), Some(sign)) =
        (header(headers, "nonce"), header(headers, "timestamp"), header(headers, "sign"))
    else {
        return Err(WildfireError::new(error::API_NOT_SIGNED));
    };
    let Ok(sent_ms) = timestamp.parse::<i64>() else {
        return Err(WildfireError::new(error::API_NOT_SIGNED));
    };
    if (core.now_ms() - sent_ms).abs() > WINDOW_MS {
        return Err(WildfireError::new(error::SIGN_EXPIRED));
    }
    Ok(Signed { nonce, timestamp, sign, sent_ms })
}

/// Finds the app whose admin secret signed the request.
pub async fn authenticate(core: &Core, nonces: &NonceCache, headers: &HeaderMap) -> Result<Arc<App>, WildfireError> {
    let Signed { nonce, timestamp, sign, sent_ms } = signed(core, headers)?;
    let now = core.now_ms();
    let apps = core.apps.all().await?;
    // Every app's signature is computed and compared, so the time taken
    // tells nothing about which app, if any, matched.
    let mut found = None;
    for app in apps.iter() {
        let Some(secret) = app.credentials.get(SECRET_CREDENTIAL) else { continue };
        if secrets_equal(&signature(nonce, secret, timestamp), sign) && found.is_none() {
            found = Some(app.clone());
        }
    }
    let app = found.ok_or(WildfireError::new(error::AUTH_FAILURE))?;
    first_use(nonces, &app, nonce, sent_ms, now)?;
    Ok(app)
}

/// `sha1_hex(nonce|secret|timestamp)`.
pub fn signature(nonce: &str, secret: &str, timestamp: &str) -> String {
    let digest = Sha1::digest(format!("{nonce}|{secret}|{timestamp}").as_bytes());
    confab_core::auth::hex(&digest)
}

/// Records a request's signature; refuses one seen before within the
/// window, or any while too many are remembered.
pub fn first_use(nonces: &NonceCache, app: &App, nonce: &str, sent_ms: i64, now: i64) -> Result<(), WildfireError> {
    nonces.first_use(app.id, nonce, sent_ms, sent_ms + WINDOW_MS, MAX_REMEMBERED, now).map_err(|why| match why {
        Replay::Full => WildfireError::new(error::OVER_FREQUENCY),
        Replay::Seen => {
            WildfireError { code: error::AUTH_FAILURE, detail: Some("this request was already used".into()) }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_vendors_documented_examples() {
        assert_eq!(signature("76616", "123456", "1558350862502"), "b98f9b0717f59febccf1440067a7f50d9b31bdde");
        assert_eq!(signature("14723", "123456", "1539698981861"), "9e9f98672f466a81e6dd61570689528cf38e6418");
    }
}
