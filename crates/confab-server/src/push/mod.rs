//! Offline push: a message that none of a receiver's devices acknowledged
//! within a short wait becomes one notification per push token the receiver
//! bound, sent through the app's providers (Apple APNs, Firebase Cloud
//! Messaging, or a webhook for the vendors confab does not speak).
//!
//! - [`devices`]: the tokens, bound per user and device (Easemob's push
//!   binding, LeanCloud's installations and its session `deviceToken`).
//! - [`notice`]: what one receiver's notification says, from the receiver's
//!   do-not-disturb hours and display style, conversation mutes, mentions and
//!   the message's own push fields.
//! - [`providers`]: the three providers' requests and answers.
//! - [`worker`]: the queue. Like post-send callbacks it reads the message store
//!   from a cursor; the pushes a round decides on are written to storage with
//!   the cursor, in one write, before any is sent, and each is removed once
//!   its provider has answered, so neither a restart nor a provider's outage
//!   loses or repeats one (see the module for the one narrow exception).
//!
//! An app's provider credentials are stored with the app (`confab app push`;
//! for the first app also `CONFAB_PUSH_*`). Calls go through the
//! [`Fetcher`](crate::fetch::Fetcher), so a provider endpoint on a private
//! address (a local stand-in) needs `CONFAB_FETCH_ALLOW_PRIVATE`.

pub mod devices;
pub(crate) mod notice;
pub(crate) mod providers;
pub mod worker;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde::{Deserialize, Serialize};

use confab_core::error::{Error, Result};
use confab_core::model::{AppId, SettingKey};
use confab_core::Core;

/// Apple's endpoints (HTTP/2 only).
pub const APNS_PRODUCTION: &str = "https://api.push.apple.com";
pub const APNS_SANDBOX: &str = "https://api.sandbox.push.apple.com";
/// Firebase Cloud Messaging's HTTP v1 endpoint.
pub const FCM_ENDPOINT: &str = "https://fcm.googleapis.com";
/// How long a receiver's devices have to acknowledge before a push, unless
/// the app says otherwise.
pub const DEFAULT_ACK_WAIT_MS: u64 = 2000;
/// The longest wait an app may choose.
pub const MAX_ACK_WAIT_MS: u64 = 60_000;

/// Which of Apple's two services a key pushes through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApnsEnvironment {
    #[default]
    Production,
    /// Development builds' tokens (LeanCloud's `_profile: "dev"` picks it per message).
    Sandbox,
}

/// Token-based APNs credentials: the .p8 key, its ID, the team, the app's bundle ID.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Apns {
    /// The name devices bind with (Easemob's certificate name, `notifier_name`).
    #[serde(default = "apns_name")]
    pub notifier: String,
    /// The .p8 key's PEM text.
    pub key: String,
    pub key_id: String,
    pub team_id: String,
    /// The app's bundle ID (`apns-topic`).
    pub topic: String,
    #[serde(default)]
    pub environment: ApnsEnvironment,
    /// Instead of Apple's hosts (a proxy, or a local stand-in in tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// FCM HTTP v1 credentials: the fields of a service account's JSON key that
/// pushing needs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fcm {
    #[serde(default = "fcm_name")]
    pub notifier: String,
    pub project_id: String,
    pub client_email: String,
    /// The service account's RSA key, PEM.
    pub private_key: String,
    /// Where the OAuth assertion is exchanged for an access token.
    pub token_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// A webhook that takes every push for a vendor confab does not speak
/// (Huawei, Xiaomi, OPPO, vivo, Honor…), signed like the callbacks.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    #[serde(default = "webhook_name")]
    pub notifier: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

// Keys and secrets are never printed, not even by `{:?}`.
impl std::fmt::Debug for Apns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Apns")
            .field("notifier", &self.notifier)
            .field("key", &"***")
            .field("key_id", &self.key_id)
            .field("team_id", &self.team_id)
            .field("topic", &self.topic)
            .field("environment", &self.environment)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl std::fmt::Debug for Fcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fcm")
            .field("notifier", &self.notifier)
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .field("private_key", &"***")
            .field("token_uri", &self.token_uri)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = self.secret.as_ref().map(|_| "***");
        f.debug_struct("Webhook")
            .field("notifier", &self.notifier)
            .field("url", &self.url)
            .field("secret", &secret)
            .finish()
    }
}

fn apns_name() -> String {
    "apns".into()
}
fn fcm_name() -> String {
    "fcm".into()
}
fn webhook_name() -> String {
    "webhook".into()
}
fn default_ack_wait() -> u64 {
    DEFAULT_ACK_WAIT_MS
}

/// An app's push settings, as stored with the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apns: Option<Apns>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fcm: Option<Fcm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
    #[serde(default = "default_ack_wait")]
    pub ack_wait_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { apns: None, fcm: None, webhook: None, ack_wait_ms: DEFAULT_ACK_WAIT_MS }
    }
}

/// A provider an app has, as a device's binding names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Apns,
    Fcm,
    Webhook,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Apns => "apns",
            ProviderKind::Fcm => "fcm",
            ProviderKind::Webhook => "webhook",
        }
    }
}

impl Settings {
    pub fn any(&self) -> bool {
        self.apns.is_some() || self.fcm.is_some() || self.webhook.is_some()
    }

    /// The provider a binding's notifier names: by the name the app gave it,
    /// else by kind (`apns`, `fcm`, `webhook`).
    pub fn provider_for(&self, notifier: &str) -> Option<ProviderKind> {
        let named = [
            (self.apns.as_ref().map(|p| p.notifier.as_str()), ProviderKind::Apns),
            (self.fcm.as_ref().map(|p| p.notifier.as_str()), ProviderKind::Fcm),
            (self.webhook.as_ref().map(|p| p.notifier.as_str()), ProviderKind::Webhook),
        ];
        if let Some((_, kind)) = named.iter().find(|(name, _)| *name == Some(notifier)) {
            return Some(*kind);
        }
        named.iter().find(|(name, kind)| name.is_some() && kind.as_str() == notifier).map(|(_, kind)| *kind)
    }

    /// The settings as `confab app push` shows them: names, IDs and
    /// endpoints, never a key or a secret.
    pub fn shown(&self) -> serde_json::Value {
        serde_json::json!({
            "apns": self.apns.as_ref().map(|p| serde_json::json!({
                "notifier": p.notifier, "key_id": p.key_id, "team_id": p.team_id, "topic": p.topic,
                "environment": p.environment, "endpoint": p.endpoint,
            })),
            "fcm": self.fcm.as_ref().map(|p| serde_json::json!({
                "notifier": p.notifier, "project_id": p.project_id, "client_email": p.client_email,
                "token_uri": p.token_uri, "endpoint": p.endpoint,
            })),
            "webhook": self.webhook.as_ref().map(|p| serde_json::json!({
                "notifier": p.notifier, "url": p.url, "signed": p.secret.is_some(),
            })),
            "ack_wait_ms": self.ack_wait_ms,
        })
    }
}

const NAMESPACE: &str = "push";

fn settings_key() -> SettingKey {
    SettingKey::new(NAMESPACE, "", "settings")
}

/// An app's push settings (none when it has none).
pub async fn settings(core: &Core, app: AppId) -> Result<Settings> {
    let stored = core.settings.get(app, settings_key()).await?;
    Ok(stored.and_then(|s| serde_json::from_str(&s.value).ok()).unwrap_or_default())
}

/// Stores an app's push settings after checking them (keys that parse, URLs
/// that are http(s), a wait within bounds). Pushing starts with the messages
/// sent from now on.
pub async fn set_settings(core: &Core, app: AppId, settings: &Settings) -> Result<()> {
    check(settings).map_err(Error::InvalidArgument)?;
    let value = serde_json::to_string(settings).map_err(|e| Error::Storage(e.to_string()))?;
    let mut entries = vec![(settings_key(), value)];
    if settings.any() && core.settings.get(app, worker::cursor_key()).await?.is_none() {
        entries.push((worker::cursor_key(), core.now_ms().to_string()));
    }
    core.settings.put(app, entries).await?;
    if !settings.any() {
        core.settings.remove(app, vec![worker::cursor_key()]).await?;
    }
    Ok(())
}

/// What is wrong with settings, if anything.
pub fn check(settings: &Settings) -> std::result::Result<(), String> {
    let url = |url: &str| -> std::result::Result<(), String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url} is not a URL: {e}"))?;
        match parsed.scheme() {
            "http" | "https" => Ok(()),
            _ => Err(format!("{url}: push endpoints are http or https")),
        }
    };
    if let Some(apns) = &settings.apns {
        jsonwebtoken::EncodingKey::from_ec_pem(apns.key.as_bytes())
            .map_err(|e| format!("the APNs key is not a .p8 (PKCS#8 P-256) key: {e}"))?;
        for (what, value) in [("key ID", &apns.key_id), ("team ID", &apns.team_id), ("topic", &apns.topic)] {
            if value.trim().is_empty() {
                return Err(format!("APNs needs its {what}"));
            }
        }
        apns.endpoint.as_deref().map(url).transpose()?;
    }
    if let Some(fcm) = &settings.fcm {
        jsonwebtoken::EncodingKey::from_rsa_pem(fcm.private_key.as_bytes())
            .map_err(|e| format!("the FCM service account's private_key is not an RSA key: {e}"))?;
        if fcm.project_id.trim().is_empty() || fcm.client_email.trim().is_empty() {
            return Err("FCM needs the service account's project_id and client_email".into());
        }
        url(&fcm.token_uri)?;
        fcm.endpoint.as_deref().map(url).transpose()?;
    }
    if let Some(webhook) = &settings.webhook {
        url(&webhook.url)?;
    }
    let names: Vec<&str> = [
        settings.apns.as_ref().map(|p| p.notifier.as_str()),
        settings.fcm.as_ref().map(|p| p.notifier.as_str()),
        settings.webhook.as_ref().map(|p| p.notifier.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect();
    if names.iter().any(|n| n.is_empty() || n.len() > devices::MAX_NOTIFIER_LEN) {
        return Err(format!("a notifier name is 1 to {} characters", devices::MAX_NOTIFIER_LEN));
    }
    if names.iter().enumerate().any(|(i, n)| names[..i].contains(n)) {
        return Err("two providers have the same notifier name".into());
    }
    if !(1..=MAX_ACK_WAIT_MS).contains(&settings.ack_wait_ms) {
        return Err(format!("the acknowledgement wait must be 1 to {MAX_ACK_WAIT_MS} ms"));
    }
    Ok(())
}

/// Reads a service account's JSON key file, as Google hands it out.
pub fn fcm_from_service_account(json: &str) -> std::result::Result<Fcm, String> {
    #[derive(Deserialize)]
    struct Account {
        project_id: String,
        client_email: String,
        private_key: String,
        #[serde(default = "google_token_uri")]
        token_uri: String,
    }
    fn google_token_uri() -> String {
        "https://oauth2.googleapis.com/token".into()
    }
    let account: Account = serde_json::from_str(json).map_err(|e| format!("not a service account's JSON key: {e}"))?;
    Ok(Fcm {
        notifier: fcm_name(),
        project_id: account.project_id,
        client_email: account.client_email,
        private_key: account.private_key,
        token_uri: account.token_uri,
        endpoint: None,
    })
}

/// What pushing did, for `/metrics`: `confab_push_total{provider, outcome}`
/// with outcome `sent`, `retry` (the provider asked to try again later),
/// `gone` (the token is no longer valid and was removed), `failed` (refused
/// for good), `gave_up` (still failing after the last retry), and
/// `confab_push_skipped_total{reason}` for receivers not pushed to.
#[derive(Debug, Default)]
pub struct Stats {
    pub pushes: Family<PushLabels, Counter>,
    pub skipped: Family<ReasonLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PushLabels {
    pub provider: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

impl Stats {
    pub(crate) fn count(&self, provider: ProviderKind, outcome: &str) {
        self.pushes.get_or_create(&PushLabels { provider: provider.as_str().into(), outcome: outcome.into() }).inc();
    }

    pub(crate) fn skip(&self, reason: &str) {
        self.skipped.get_or_create(&ReasonLabels { reason: reason.into() }).inc();
    }
}

/// A change to an app's push settings, as `confab app push` and the first
/// app's `CONFAB_PUSH_*` give it: only what is named changes; an empty key
/// file, service-account file or webhook URL removes that provider.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Change {
    pub apns_key_file: Option<std::path::PathBuf>,
    pub apns_key_id: Option<String>,
    pub apns_team_id: Option<String>,
    pub apns_topic: Option<String>,
    /// `production` or `sandbox`.
    pub apns_environment: Option<String>,
    pub apns_endpoint: Option<String>,
    pub apns_notifier: Option<String>,
    pub fcm_service_account_file: Option<std::path::PathBuf>,
    pub fcm_endpoint: Option<String>,
    pub fcm_notifier: Option<String>,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<crate::secret::Secret>,
    pub webhook_notifier: Option<String>,
    pub ack_wait_ms: Option<u64>,
}

impl Change {
    pub fn any(&self) -> bool {
        self.apns_key_file.is_some()
            || self.apns_key_id.is_some()
            || self.apns_team_id.is_some()
            || self.apns_topic.is_some()
            || self.apns_environment.is_some()
            || self.apns_endpoint.is_some()
            || self.apns_notifier.is_some()
            || self.fcm_service_account_file.is_some()
            || self.fcm_endpoint.is_some()
            || self.fcm_notifier.is_some()
            || self.webhook_url.is_some()
            || self.webhook_secret.is_some()
            || self.webhook_notifier.is_some()
            || self.ack_wait_ms.is_some()
    }

    /// Applies the change (reading the key files it names), then checks the result.
    pub fn apply(&self, settings: &mut Settings) -> std::result::Result<(), String> {
        let read = |path: &std::path::Path| {
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        };
        let empty = |path: &Option<std::path::PathBuf>| path.as_ref().is_some_and(|p| p.as_os_str().is_empty());
        let endpoint = |given: &Option<String>, kept: Option<String>| match given {
            Some(url) if url.is_empty() => None,
            Some(url) => Some(url.clone()),
            None => kept,
        };
        // APNs: a new key needs its ID, team and topic, given now or kept.
        if empty(&self.apns_key_file) {
            settings.apns = None;
        } else if self.apns_key_file.is_some() || settings.apns.is_some() {
            let kept = settings.apns.take();
            let key = match &self.apns_key_file {
                Some(path) => read(path)?,
                None => kept.as_ref().map(|k| k.key.clone()).unwrap_or_default(),
            };
            let pick = |given: &Option<String>, kept: Option<&String>, what: &str| {
                given.clone().or_else(|| kept.cloned()).ok_or_else(|| format!("APNs needs --apns-{what}"))
            };
            settings.apns = Some(Apns {
                notifier: pick(&self.apns_notifier, kept.as_ref().map(|k| &k.notifier), "notifier")
                    .unwrap_or_else(|_| apns_name()),
                key,
                key_id: pick(&self.apns_key_id, kept.as_ref().map(|k| &k.key_id), "key-id")?,
                team_id: pick(&self.apns_team_id, kept.as_ref().map(|k| &k.team_id), "team-id")?,
                topic: pick(&self.apns_topic, kept.as_ref().map(|k| &k.topic), "topic")?,
                environment: match self.apns_environment.as_deref() {
                    Some("production") => ApnsEnvironment::Production,
                    Some("sandbox") => ApnsEnvironment::Sandbox,
                    Some(other) => return Err(format!("APNs environment {other}: production or sandbox")),
                    None => kept.as_ref().map(|k| k.environment).unwrap_or_default(),
                },
                endpoint: endpoint(&self.apns_endpoint, kept.as_ref().and_then(|k| k.endpoint.clone())),
            });
        } else if self.apns_key_id.is_some() || self.apns_team_id.is_some() || self.apns_topic.is_some() {
            return Err("APNs needs its .p8 key file (--apns-key-file)".into());
        }
        if empty(&self.fcm_service_account_file) {
            settings.fcm = None;
        } else if let Some(path) = &self.fcm_service_account_file {
            let kept = settings.fcm.take();
            let mut fcm = fcm_from_service_account(&read(path)?)?;
            fcm.notifier =
                self.fcm_notifier.clone().or(kept.as_ref().map(|k| k.notifier.clone())).unwrap_or_else(fcm_name);
            fcm.endpoint = endpoint(&self.fcm_endpoint, kept.and_then(|k| k.endpoint));
            settings.fcm = Some(fcm);
        } else if let Some(fcm) = &mut settings.fcm {
            fcm.endpoint = endpoint(&self.fcm_endpoint, fcm.endpoint.take());
            if let Some(name) = &self.fcm_notifier {
                fcm.notifier = name.clone();
            }
        } else if self.fcm_endpoint.is_some() || self.fcm_notifier.is_some() {
            return Err("FCM needs its service account's JSON key file (--fcm-service-account-file)".into());
        }
        match (&self.webhook_url, &mut settings.webhook) {
            (Some(url), _) if url.is_empty() => settings.webhook = None,
            (Some(url), kept) => {
                let kept = kept.take();
                settings.webhook = Some(Webhook {
                    notifier: self
                        .webhook_notifier
                        .clone()
                        .or(kept.as_ref().map(|k| k.notifier.clone()))
                        .unwrap_or_else(webhook_name),
                    url: url.clone(),
                    secret: self.webhook_secret.as_ref().map(|s| s.0.clone()).or(kept.and_then(|k| k.secret)),
                });
            }
            (None, Some(hook)) => {
                if let Some(secret) = &self.webhook_secret {
                    hook.secret = Some(secret.0.clone()).filter(|s| !s.is_empty());
                }
                if let Some(name) = &self.webhook_notifier {
                    hook.notifier = name.clone();
                }
            }
            (None, None) if self.webhook_secret.is_some() || self.webhook_notifier.is_some() => {
                return Err("the webhook needs its URL (--webhook-url)".into());
            }
            (None, None) => {}
        }
        if let Some(ms) = self.ack_wait_ms {
            settings.ack_wait_ms = ms;
        }
        check(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_secrets_are_never_printed() {
        let settings = Settings {
            apns: Some(Apns {
                notifier: apns_name(),
                key: "-----BEGIN PRIVATE KEY-----\nSECRET-P8\n".into(),
                key_id: "K".into(),
                team_id: "T".into(),
                topic: "com.x".into(),
                environment: ApnsEnvironment::Production,
                endpoint: None,
            }),
            fcm: Some(Fcm {
                notifier: fcm_name(),
                project_id: "p".into(),
                client_email: "e".into(),
                private_key: "SECRET-RSA".into(),
                token_uri: "https://oauth2.googleapis.com/token".into(),
                endpoint: None,
            }),
            webhook: Some(Webhook {
                notifier: webhook_name(),
                url: "https://x".into(),
                secret: Some("SECRET-HOOK".into()),
            }),
            ack_wait_ms: DEFAULT_ACK_WAIT_MS,
        };
        let printed = format!("{settings:?} {}", settings.shown());
        for secret in ["SECRET-P8", "SECRET-RSA", "SECRET-HOOK"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert!(printed.contains("com.x"));
    }
}
