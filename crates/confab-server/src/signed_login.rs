//! LeanCloud's signed client login (`_rtmClientSign`): a client proves who it
//! is with `HMAC-SHA1(master key, appid:clientid::timestamp:nonce)` made by
//! the app's backend. The LeanCloud dialect signs (`clients/sign`) and every
//! gateway protocol accepts such logins, so this lives beside both rather
//! than in either.

use hmac::{Hmac, Mac};
use sha1::Sha1;

use confab_core::auth;
use confab_core::error::{AuthFailure, Error, Result};
use confab_core::model::{App, Username};
use confab_core::Core;

/// LeanCloud's app credentials, by their name among an app's dialect credentials.
pub const APP_ID: &str = "leancloud.app_id";
pub const APP_KEY: &str = "leancloud.app_key";
pub const MASTER_KEY: &str = "leancloud.master_key";
/// How far a signature's timestamp may be from now (the vendor documents none).
pub const SIGN_WINDOW_MS: i64 = 60 * 60 * 1000;

/// Whether an app's LeanCloud clients may open a session without a login
/// signature: the vendor's console switch, off by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoginSignatures {
    /// A client opens a session by its ID alone (the vendor's default).
    #[default]
    Optional,
    /// A session opens only with a signature made with the master key
    /// (or, on reconnection, with the session token such a login got).
    Required,
}

impl LoginSignatures {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginSignatures::Optional => "optional",
            LoginSignatures::Required => "required",
        }
    }

    pub fn parse(name: &str) -> Option<LoginSignatures> {
        [LoginSignatures::Optional, LoginSignatures::Required].into_iter().find(|s| s.as_str() == name)
    }
}

fn signatures_key() -> confab_core::model::SettingKey {
    confab_core::model::SettingKey::new("leancloud", "", "login_signatures")
}

/// The app's rule for LeanCloud session opens.
pub async fn login_signatures(core: &Core, app: confab_core::model::AppId) -> Result<LoginSignatures> {
    let stored = core.settings.get(app, signatures_key()).await?;
    Ok(stored.and_then(|s| LoginSignatures::parse(&s.value)).unwrap_or_default())
}

pub async fn set_login_signatures(core: &Core, app: confab_core::model::AppId, rule: LoginSignatures) -> Result<()> {
    core.settings.put(app, vec![(signatures_key(), rule.as_str().to_owned())]).await
}

/// `HMAC-SHA1(master key, appid:clientid::timestamp:nonce)`, hex; `None`
/// when the app has no LeanCloud keys.
pub fn login_signature(app: &App, user: &Username, timestamp: i64, nonce: &str) -> Option<String> {
    let (app_id, key) = (app.credentials.get(APP_ID)?, app.credentials.get(MASTER_KEY)?);
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("{app_id}:{user}::{timestamp}:{nonce}").as_bytes());
    Some(auth::hex(&mac.finalize().into_bytes()))
}

/// The app whose LeanCloud app ID this is (compared in constant time).
pub async fn app_by_leancloud_id(core: &Core, app_id: &str) -> Result<Option<std::sync::Arc<App>>> {
    let apps = core.apps.all().await?;
    Ok(apps.iter().find(|a| a.credentials.get(APP_ID).is_some_and(|id| auth::secrets_equal(id, app_id))).cloned())
}

/// A user token for a signed login (the client is created if it is new, as
/// the vendor's clients need no registration). The signature must match the
/// app's master key and be at most [`SIGN_WINDOW_MS`] old.
pub async fn token_for_signed_login(core: &Core, signed: &confab_protocol::SignedLogin) -> Result<String> {
    let bad = || Error::Unauthenticated(AuthFailure::BadToken);
    let app = app_by_leancloud_id(core, &signed.app_id).await?.ok_or_else(bad)?;
    if (core.now_ms() - signed.timestamp).abs() > SIGN_WINDOW_MS {
        return Err(Error::Unauthenticated(AuthFailure::ExpiredToken));
    }
    let user = Username::parse(&signed.client_id).map_err(|_| bad())?;
    let expected = login_signature(&app, &user, signed.timestamp, &signed.nonce).ok_or_else(bad)?;
    if !auth::secrets_equal(&expected, &signed.signature.to_ascii_lowercase()) {
        return Err(bad());
    }
    // Good for this login only.
    let (token, _) = core.users.issue_token_by_id(&app, &user, true, Some(60), &core.apps).await?;
    Ok(token.token)
}
