//! Push tokens: each belongs to one device of one user, and names the
//! provider (the notifier) that reaches it.
//!
//! Kept in the app's settings (namespace `push.devices`, owner the user, key
//! the device ID), with a reverse entry per token (`push.tokens`, keyed by the
//! token's digest) so that a token moving to another user or device (a phone
//! changing hands, an app reinstalled) leaves its old binding, in the same
//! write: one token never reaches two users.

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use confab_core::error::{Error, Result};
use confab_core::model::{AppId, SettingKey, Username};
use confab_core::Core;

/// Longest device ID (Easemob's are UUIDs; LeanCloud's installation IDs shorter).
pub const MAX_DEVICE_ID_LEN: usize = 128;
/// Longest token (FCM's are about 160 characters, APNs's 64 hex digits).
pub const MAX_TOKEN_LEN: usize = 4096;
pub const MAX_NOTIFIER_LEN: usize = 128;
/// Most devices one user keeps bound; binding another drops the one bound longest ago.
pub const MAX_DEVICES_PER_USER: usize = 32;

const DEVICES: &str = "push.devices";
const TOKENS: &str = "push.tokens";

/// One device's binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub device_id: String,
    pub token: String,
    /// The provider's name in the app's push settings (Easemob's certificate name).
    pub notifier: String,
    pub bound_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct TokenOwner {
    user: String,
    device_id: String,
}

fn token_key(token: &str) -> SettingKey {
    SettingKey::new(TOKENS, "", &confab_core::auth::hex(&sha2::Sha256::digest(token.as_bytes())))
}

fn device_key(user: &Username, device_id: &str) -> SettingKey {
    SettingKey::new(DEVICES, user.as_str(), device_id)
}

/// What is wrong with a binding's fields, in words for the caller.
pub fn check(device_id: &str, token: &str, notifier: &str) -> std::result::Result<(), String> {
    if device_id.is_empty() || device_id.len() > MAX_DEVICE_ID_LEN {
        return Err(format!("device_id is 1 to {MAX_DEVICE_ID_LEN} characters"));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(format!("device_token is at most {MAX_TOKEN_LEN} characters"));
    }
    if notifier.is_empty() || notifier.len() > MAX_NOTIFIER_LEN {
        return Err(format!("notifier_name is 1 to {MAX_NOTIFIER_LEN} characters"));
    }
    Ok(())
}

/// A user's bound devices, by device ID.
pub async fn of(core: &Core, app: AppId, user: &Username) -> Result<Vec<Device>> {
    let stored = core.settings.of(app, DEVICES, user.as_str()).await?;
    Ok(stored.iter().filter_map(|s| serde_json::from_str(&s.value).ok()).collect())
}

/// The users with a bound device (an app-wide broadcast's receivers), as
/// far as one listing reaches ([`confab_core::settings::MAX_LISTED`] devices).
pub async fn users_with_devices(core: &Core, app: AppId) -> Result<Vec<Username>> {
    let mut users: Vec<Username> =
        core.settings.all(app, DEVICES).await?.iter().filter_map(|s| Username::parse(&s.owner).ok()).collect();
    users.dedup();
    Ok(users)
}

/// Binds `token` to one device of `user` (an empty token unbinds the
/// device); the user's devices afterwards.
pub async fn bind(
    core: &Core,
    app: AppId,
    user: &Username,
    device_id: &str,
    token: &str,
    notifier: &str,
) -> Result<Vec<Device>> {
    check(device_id, token, notifier).map_err(Error::InvalidArgument)?;
    let mine = of(core, app, user).await?;
    let mut removed = Vec::new();
    if let Some(old) = mine.iter().find(|d| d.device_id == device_id) {
        if old.token != token {
            removed.push(token_key(&old.token));
        }
    }
    if token.is_empty() {
        removed.push(device_key(user, device_id));
        core.settings.remove(app, removed).await?;
        return of(core, app, user).await;
    }
    // The token's earlier binding elsewhere ends.
    if let Some(owner) = core.settings.get(app, token_key(token)).await? {
        if let Ok(owner) = serde_json::from_str::<TokenOwner>(&owner.value) {
            if owner.user != user.as_str() || owner.device_id != device_id {
                removed.push(SettingKey::new(DEVICES, &owner.user, &owner.device_id));
            }
        }
    }
    // The oldest of too many goes.
    let others: Vec<&Device> = mine.iter().filter(|d| d.device_id != device_id).collect();
    if others.len() >= MAX_DEVICES_PER_USER {
        if let Some(oldest) = others.iter().min_by_key(|d| d.bound_ms) {
            removed.push(device_key(user, &oldest.device_id));
            removed.push(token_key(&oldest.token));
        }
    }
    if !removed.is_empty() {
        core.settings.remove(app, removed).await?;
    }
    let device =
        Device { device_id: device_id.into(), token: token.into(), notifier: notifier.into(), bound_ms: core.now_ms() };
    let owner = TokenOwner { user: user.to_string(), device_id: device_id.into() };
    core.settings
        .put(app, vec![(device_key(user, device_id), to_json(&device)), (token_key(token), to_json(&owner))])
        .await?;
    of(core, app, user).await
}

/// Drops a token its provider says is no longer valid, if it is still the
/// one bound to that device.
pub async fn drop_token(core: &Core, app: AppId, user: &Username, device: &Device) -> Result<()> {
    let still =
        of(core, app, user).await?.into_iter().any(|d| d.device_id == device.device_id && d.token == device.token);
    if !still {
        return Ok(());
    }
    core.settings.remove(app, vec![device_key(user, &device.device_id), token_key(&device.token)]).await.map(|_| ())
}

/// Every binding of a user ends (the user was deleted, or logged out everywhere).
pub async fn unbind_all(core: &Core, app: AppId, user: &Username) -> Result<()> {
    let mine = of(core, app, user).await?;
    let keys = mine.iter().flat_map(|d| [device_key(user, &d.device_id), token_key(&d.token)]).collect();
    core.settings.remove(app, keys).await.map(|_| ())
}

/// LeanCloud's `_Installation`: a device's token and type, registered
/// before any client logs in on it; the session that opens with that
/// `deviceToken` binds it to its client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installation {
    pub object_id: String,
    /// `ios` or `android`.
    pub device_type: String,
    pub token: String,
    pub created_ms: i64,
}

const INSTALLATIONS: &str = "push.installations";

/// Registers (or updates) an installation by its token.
pub async fn install(core: &Core, app: AppId, installation: &Installation) -> Result<()> {
    let key = SettingKey::new(INSTALLATIONS, "", &token_key(&installation.token).key);
    core.settings.put(app, vec![(key, to_json(installation))]).await
}

pub async fn installation(core: &Core, app: AppId, token: &str) -> Result<Option<Installation>> {
    let key = SettingKey::new(INSTALLATIONS, "", &token_key(token).key);
    Ok(core.settings.get(app, key).await?.and_then(|s| serde_json::from_str(&s.value).ok()))
}

/// The notifier a LeanCloud device token reaches: its installation's type
/// (`android` → FCM, otherwise APNs, as the vendor's iOS SDK is the one that
/// sends `deviceToken` when it opens a session).
pub async fn leancloud_notifier(core: &Core, app: AppId, token: &str) -> Result<&'static str> {
    Ok(match installation(core, app, token).await? {
        Some(i) if i.device_type.eq_ignore_ascii_case("android") => "fcm",
        _ => "apns",
    })
}

/// Binds the `deviceToken` a LeanCloud session opened with to its client:
/// the device is the SDK's device ID, else one made from the token.
pub async fn bind_leancloud(
    core: &Core,
    app: AppId,
    user: &Username,
    device_id: Option<&str>,
    token: &str,
) -> Result<()> {
    let made;
    let device_id = match device_id.filter(|d| d.len() <= MAX_DEVICE_ID_LEN) {
        Some(id) => id,
        None => {
            made = format!("token-{}", &token_key(token).key[..32]);
            &made
        }
    };
    if of(core, app, user).await?.iter().any(|d| d.device_id == device_id && d.token == token) {
        return Ok(());
    }
    let notifier = leancloud_notifier(core, app, token).await?;
    bind(core, app, user, device_id, token, notifier).await.map(|_| ())
}

/// A binding record as stored (strings and numbers only, so this cannot fail).
fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
