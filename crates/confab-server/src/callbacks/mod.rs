//! Callbacks to the app's own server, in the app's vendor format:
//!
//! - **pre-send**: before a message is stored or handed out, the app's
//!   server may pass it, refuse it or replace its content ([`Gate`], the
//!   core's [`SendGate`]). The send waits at most the app's `timeout_ms`; a
//!   call that fails or times out is decided by its `on_failure` policy.
//! - **post-send**: after a message is stored, it is posted to the app's
//!   server ([`post`]), in order, retried until it is taken.
//!
//! An app's settings are stored with the app (`confab app callbacks`; for the
//! first app also `CONFAB_CALLBACK_*`). Every call goes through the
//! [`Fetcher`], so `CONFAB_FETCH_ALLOW_PRIVATE` must name the app server's
//! address when it is private. Every call with a secret carries
//! `X-Confab-Signature: t=<ms>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
//! besides the vendor's own signature.

pub mod formats;
pub mod hooks;
pub mod post;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde::{Deserialize, Serialize};

use confab_core::callbacks::{SendGate, Verdict};
use confab_core::error::Result;
use confab_core::model::{App, AppId, Message, MessageState, NewMessage, SettingKey};
use confab_core::Core;

use crate::fetch::{Fetcher, Http};

/// The vendor format an app's callbacks speak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Easemob's 发送前回调 / 发送后回调: `valid` / `code` / `payload`, signed with `security`.
    #[default]
    Easemob,
    /// LeanCloud's hooks `_messageReceived` / `_messageSent` under the
    /// engine's URL, with `X-LC-Hook-Key`.
    #[serde(rename = "leancloud")]
    LeanCloud,
    /// WildfireChat's remote censor (pre-send) and message forward (post-send).
    Wildfire,
}

impl Format {
    pub fn parse(raw: &str) -> Option<Format> {
        serde_json::from_value(serde_json::Value::String(raw.to_ascii_lowercase())).ok()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Easemob => "easemob",
            Format::LeanCloud => "leancloud",
            Format::Wildfire => "wildfire",
        }
    }
}

/// What a pre-send call that fails (no answer in time, an error status, an
/// answer that cannot be read) decides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// The message goes on (every vendor's default).
    #[default]
    Pass,
    /// The message is refused.
    Refuse,
}

/// Longest a send waits for the pre-send answer unless the app says otherwise.
pub const DEFAULT_TIMEOUT_MS: u64 = 1000;
/// The longest wait an app may choose.
pub const MAX_TIMEOUT_MS: u64 = 10_000;
/// Most bytes of a pre-send answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

/// An app's callback settings, as stored with the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_send_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_send_url: Option<String>,
    /// Signs every call (Easemob's `security`, LeanCloud's hook key, and
    /// confab's own `X-Confab-Signature`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default)]
    pub format: Format,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub on_failure: OnFailure,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            pre_send_url: None,
            post_send_url: None,
            secret: None,
            format: Format::default(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            on_failure: OnFailure::default(),
        }
    }
}

impl Settings {
    fn secret(&self) -> &str {
        self.secret.as_deref().unwrap_or_default()
    }
}

const NAMESPACE: &str = "callbacks";
const SETTINGS_KEY: &str = "settings";

fn settings_key() -> SettingKey {
    SettingKey::new(NAMESPACE, "", SETTINGS_KEY)
}

/// Where post-send stands (see [`post`]).
fn cursor_key() -> SettingKey {
    SettingKey::new(NAMESPACE, "", "post_send_cursor")
}

/// An app's callback settings (the defaults when it has none).
pub async fn settings(core: &Core, app: AppId) -> Result<Settings> {
    let stored = core.settings.get(app, settings_key()).await?;
    Ok(stored.and_then(|s| serde_json::from_str(&s.value).ok()).unwrap_or_default())
}

/// Stores an app's callback settings; URLs must be http(s), the wait within bounds.
pub async fn set_settings(core: &Core, app: AppId, settings: &Settings) -> Result<()> {
    check(settings).map_err(confab_core::error::Error::InvalidArgument)?;
    let value = serde_json::to_string(settings).map_err(|e| confab_core::error::Error::Storage(e.to_string()))?;
    core.settings.put(app, vec![(settings_key(), value)]).await?;
    // Post-send starts with the messages sent from now on, and starts over
    // (from then) when it is turned off and on again.
    match settings.post_send_url {
        Some(_) if core.settings.get(app, cursor_key()).await?.is_none() => {
            core.settings.put(app, vec![(cursor_key(), core.now_ms().to_string())]).await
        }
        Some(_) => Ok(()),
        None => core.settings.remove(app, vec![cursor_key()]).await.map(|_| ()),
    }
}

/// What is wrong with settings, if anything.
pub fn check(settings: &Settings) -> std::result::Result<(), String> {
    for url in [&settings.pre_send_url, &settings.post_send_url].into_iter().flatten() {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("{url}: callbacks are http or https"));
        }
    }
    if !(1..=MAX_TIMEOUT_MS).contains(&settings.timeout_ms) {
        return Err(format!("the wait must be 1 to {MAX_TIMEOUT_MS} ms"));
    }
    Ok(())
}

/// A message about to be sent, as the formats render it.
fn draft_message(app: AppId, draft: &NewMessage) -> Message {
    Message {
        id: draft.id,
        app,
        conversation: confab_core::model::ConversationId(0),
        seq: 0,
        chat_type: draft.chat_type,
        from: draft.from.clone(),
        to: draft.to.clone(),
        body: draft.body.clone(),
        ext: draft.ext.clone(),
        timestamp_ms: draft.timestamp_ms,
        sync_sender: draft.sync_sender,
        origin_device: draft.origin_device.clone(),
        original: draft.original.clone(),
        receivers: match &draft.audience {
            confab_core::model::Audience::Only(users) => Some(users.clone()),
            _ => None,
        },
        state: MessageState::Normal,
    }
}

/// confab's own signature header: `t=<ms>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, now_ms: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{now_ms}.").as_bytes());
    mac.update(body);
    format!("t={now_ms},v1={}", confab_core::auth::hex(&mac.finalize().into_bytes()))
}

/// Posts one call; the status and (at most `MAX_ANSWER_BYTES` of) the body.
async fn deliver(
    fetcher: &Fetcher,
    base: &str,
    call: &formats::Call,
    secret: &str,
    now_ms: i64,
    timeout: Duration,
) -> std::result::Result<(u16, Vec<u8>), String> {
    let url = format!("{}{}", base.trim_end_matches('/'), call.suffix);
    let body = serde_json::to_vec(&call.body).map_err(|e| e.to_string())?;
    let mut headers = call.headers.clone();
    if !secret.is_empty() {
        headers.push(("X-Confab-Signature", signature(secret, now_ms, &body)));
    }
    let answer = async {
        let mut response =
            fetcher.post(&url, Http::Any, "application/json", body, &headers).await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let mut read = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            read.extend_from_slice(&chunk);
            if read.len() > MAX_ANSWER_BYTES {
                return Err(format!("the answer is longer than {MAX_ANSWER_BYTES} bytes"));
            }
        }
        Ok((status, read))
    };
    match tokio::time::timeout(timeout, answer).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

/// What a LeanCloud hook call came to.
enum Hooked<T> {
    /// The app's callbacks do not speak LeanCloud's hooks, or have no URL.
    NotAsked,
    Answered(T),
    /// No usable answer; the app's failure policy decides.
    Failed(OnFailure),
}

/// Asks one of LeanCloud's hooks (`{pre-send URL}/1.1/functions/_…`) for an
/// app whose callbacks speak them: `make` builds the call (from the secret
/// and the time), `read` reads the answer. Failures are logged here.
async fn leancloud_hook<T>(
    fetcher: &Fetcher,
    app: &App,
    settings: &Settings,
    now_ms: i64,
    make: impl FnOnce(&str, i64) -> formats::Call,
    read: impl FnOnce(u16, &[u8]) -> std::result::Result<T, formats::Unreadable>,
) -> Hooked<T> {
    let (Format::LeanCloud, Some(url)) = (settings.format, settings.pre_send_url.as_deref()) else {
        return Hooked::NotAsked;
    };
    let call = make(settings.secret(), now_ms);
    let timeout = Duration::from_millis(settings.timeout_ms);
    let answer = deliver(fetcher, url, &call, settings.secret(), now_ms, timeout)
        .await
        .and_then(|(status, body)| read(status, &body).map_err(|e| e.0));
    match answer {
        Ok(answer) => Hooked::Answered(answer),
        Err(why) => {
            tracing::warn!(app = app.id.0, hook = call.suffix, error = %why, policy = ?settings.on_failure, "a LeanCloud hook failed");
            Hooked::Failed(settings.on_failure)
        }
    }
}

/// The settings a hook is asked with, read for one call.
async fn hook_settings(core: &Core, app: AppId) -> std::result::Result<Settings, String> {
    settings(core, app).await.map_err(|e| format!("cannot read the app's callback settings: {e}"))
}

/// LeanCloud's `_rtmClientSign` hook: before `/1.2/rtm/clients/sign` signs a
/// login for `user`, an app whose callbacks speak LeanCloud's hooks is asked
/// (`{pre-send URL}/1.1/functions/_rtmClientSign`, with the user as the
/// vendor's `_User`); `{"result": false, "error": …}` refuses. Other apps,
/// and apps without a pre-send URL, sign as before. A failed call follows the
/// app's failure policy.
pub async fn may_sign(
    core: &Core,
    fetcher: &Fetcher,
    app: &App,
    user: &confab_core::model::User,
    token: &str,
) -> std::result::Result<(), String> {
    let settings = hook_settings(core, app.id).await?;
    let make = |secret: &str, now| hooks::sign_hook(app, user, token, secret, now);
    match leancloud_hook(fetcher, app, &settings, core.now_ms(), make, hooks::sign_answer).await {
        Hooked::NotAsked | Hooked::Answered(None) | Hooked::Failed(OnFailure::Pass) => Ok(()),
        Hooked::Answered(Some(refused)) => Err(refused),
        Hooked::Failed(OnFailure::Refuse) => Err("the app's server did not answer".into()),
    }
}

/// LeanCloud's `_messageUpdate` hook: may a client edit `message` to
/// `content` (or recall it, `None`)? Others go on. A failed call follows the
/// app's failure policy.
pub async fn may_update_message(
    core: &Core,
    fetcher: &Fetcher,
    app: &App,
    message: &Message,
    content: Option<&str>,
) -> hooks::UpdateVerdict {
    let settings = hook_settings(core, app.id).await.map_err(Some)?;
    let make = |secret: &str, now| hooks::message_update(app, message, content, secret, now);
    let read = |status, body: &[u8]| hooks::message_update_answer(message, status, body);
    match leancloud_hook(fetcher, app, &settings, core.now_ms(), make, read).await {
        Hooked::NotAsked | Hooked::Failed(OnFailure::Pass) => Ok(None),
        Hooked::Answered(verdict) => verdict,
        Hooked::Failed(OnFailure::Refuse) => Err(Some("the app's server did not answer".into())),
    }
}

/// LeanCloud's `_conversationStart` / `_conversationAdd` /
/// `_conversationRemove` hooks: may `init_by` make this conversation, add
/// or remove these members? `Err((code, detail))` when the app's server
/// rejects it (or, under a refusing failure policy, does not answer). Other
/// apps go on.
pub async fn may_change_conversation(
    core: &Core,
    fetcher: &Fetcher,
    app: &App,
    init_by: &str,
    change: &hooks::ConversationChange<'_>,
) -> std::result::Result<(), (Option<i32>, String)> {
    let settings = hook_settings(core, app.id).await.map_err(|e| (None, e))?;
    let make = |secret: &str, now| hooks::conversation_hook(app, init_by, change, secret, now);
    match leancloud_hook(fetcher, app, &settings, core.now_ms(), make, hooks::conversation_answer).await {
        Hooked::NotAsked | Hooked::Answered(None) | Hooked::Failed(OnFailure::Pass) => Ok(()),
        Hooked::Answered(Some(rejected)) => Err(rejected),
        Hooked::Failed(OnFailure::Refuse) => Err((None, "the app's server did not answer".into())),
    }
}

/// LeanCloud's `_conversationUpdate` hook: may `init_by` change these
/// attributes, or this mute? `Ok` with what to apply instead, if the app's
/// server says; `Err((code, detail))` when it rejects.
pub async fn may_update_conversation(
    core: &Core,
    fetcher: &Fetcher,
    app: &App,
    init_by: &str,
    change: &hooks::ConversationChange<'_>,
) -> std::result::Result<hooks::UpdateInstead, (Option<i32>, String)> {
    let settings = hook_settings(core, app.id).await.map_err(|e| (None, e))?;
    let make = |secret: &str, now| hooks::conversation_hook(app, init_by, change, secret, now);
    match leancloud_hook(fetcher, app, &settings, core.now_ms(), make, hooks::conversation_update_answer).await {
        Hooked::NotAsked | Hooked::Failed(OnFailure::Pass) => Ok(hooks::UpdateInstead::default()),
        Hooked::Answered(decided) => decided,
        Hooked::Failed(OnFailure::Refuse) => Err((None, "the app's server did not answer".into())),
    }
}

/// One of LeanCloud's after-the-fact hooks (`_clientOnline`,
/// `_clientOffline`, `_conversationStarted`, `_conversationAdded`,
/// `_conversationRemoved`; `suffix` from [`formats`]), for apps whose
/// callbacks speak them: posted in the background, its answer ignored, as
/// the vendor ignores it. Like the vendor's, they are not ordered.
pub async fn tell_leancloud(
    core: &Core,
    fetcher: &Arc<Fetcher>,
    app: &App,
    suffix: &'static str,
    body: serde_json::Value,
) {
    let Ok(settings) = settings(core, app.id).await else { return };
    let (Format::LeanCloud, Some(url)) = (settings.format, settings.pre_send_url.clone()) else {
        return;
    };
    let now = core.now_ms();
    let call = hooks::after_the_fact(app, suffix, body, settings.secret(), now);
    let (fetcher, secret, app_id) = (fetcher.clone(), settings.secret().to_owned(), app.id);
    let timeout = Duration::from_millis(settings.timeout_ms);
    tokio::spawn(async move {
        if let Err(why) = deliver(&fetcher, &url, &call, &secret, now, timeout).await {
            tracing::debug!(app = app_id.0, hook = call.suffix, error = %why, "a LeanCloud notice hook failed");
        }
    });
}

/// LeanCloud's `_receiversOffline` hook: what the app's server says about
/// pushing `message` to `offline`. `None` when the app has no such hook, or
/// it failed (the push goes out as it would without one).
pub async fn receivers_offline(
    fetcher: &Fetcher,
    app: &App,
    settings: &Settings,
    message: &Message,
    offline: &[&str],
    mentioned: &[&str],
    now_ms: i64,
) -> Option<hooks::OfflineAnswer> {
    let make = |secret: &str, now| hooks::receivers_offline(app, message, offline, mentioned, secret, now);
    match leancloud_hook(fetcher, app, settings, now_ms, make, hooks::receivers_offline_answer).await {
        Hooked::Answered(answer) => Some(answer),
        Hooked::NotAsked | Hooked::Failed(_) => None,
    }
}

/// How long settings read from storage are used before being read again.
const SETTINGS_FOR: Duration = Duration::from_secs(2);

/// The core's [`SendGate`]: asks the app's server, in its format, about each
/// message before it is sent.
pub struct Gate {
    /// Weak: the core holds the gate.
    core: Weak<Core>,
    fetcher: Arc<Fetcher>,
    cache: Mutex<HashMap<AppId, (Instant, Arc<Settings>)>>,
    pub stats: Arc<Stats>,
}

/// What the callbacks did, for `/metrics`: pre-send verdicts (`pass`,
/// `refuse`, `replace`, `failure`) and post-send deliveries (`delivered`,
/// `failed`).
#[derive(Debug, Default)]
pub struct Stats {
    pub pre_send: Family<OutcomeLabels, Counter>,
    pub post_send: Family<OutcomeLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

impl Stats {
    fn count(family: &Family<OutcomeLabels, Counter>, outcome: &str) {
        family.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc();
    }

    fn count_pre_send(&self, verdict: &std::result::Result<Verdict, String>) {
        let outcome = match verdict {
            Ok(Verdict::Pass) => "pass",
            Ok(Verdict::Refuse { .. }) => "refuse",
            Ok(Verdict::Replace { .. }) => "replace",
            Err(_) => "failure",
        };
        Self::count(&self.pre_send, outcome);
    }

    pub(crate) fn count_post_send(&self, outcome: &str) {
        Self::count(&self.post_send, outcome);
    }
}

impl Gate {
    pub fn new(core: &Arc<Core>, fetcher: Arc<Fetcher>, stats: Arc<Stats>) -> Gate {
        Gate { core: Arc::downgrade(core), fetcher, cache: Mutex::default(), stats }
    }

    async fn settings(&self, core: &Core, app: AppId) -> Arc<Settings> {
        if let Some((at, settings)) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&app) {
            if at.elapsed() < SETTINGS_FOR {
                return settings.clone();
            }
        }
        let read = match settings(core, app).await {
            Ok(read) => Arc::new(read),
            Err(e) => {
                tracing::warn!(app = app.0, error = %e, "cannot read the app's callback settings");
                Arc::new(Settings::default())
            }
        };
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(app, (Instant::now(), read.clone()));
        read
    }

    async fn ask(
        &self,
        core: &Core,
        app: &App,
        settings: &Settings,
        url: &str,
        draft: &NewMessage,
    ) -> std::result::Result<Verdict, String> {
        let message = draft_message(app.id, draft);
        let now = core.now_ms();
        let call = formats::pre_send(settings.format, app, &message, settings.secret(), now);
        let timeout = Duration::from_millis(settings.timeout_ms);
        let (status, body) = deliver(&self.fetcher, url, &call, settings.secret(), now, timeout).await?;
        formats::pre_send_answer(settings.format, &message, status, &body).map_err(|e| e.0)
    }
}

#[async_trait]
impl SendGate for Gate {
    async fn check(&self, app: AppId, draft: &NewMessage) -> Verdict {
        let Some(core) = self.core.upgrade() else {
            return Verdict::Pass;
        };
        let settings = self.settings(&core, app).await;
        let Some(url) = settings.pre_send_url.as_deref() else {
            return Verdict::Pass;
        };
        let found = core.apps.all().await.ok().and_then(|apps| apps.iter().find(|a| a.id == app).cloned());
        let Some(found) = found else {
            return Verdict::Pass;
        };
        let verdict = self.ask(&core, &found, &settings, url, draft).await;
        self.stats.count_pre_send(&verdict);
        match verdict {
            Ok(verdict) => verdict,
            Err(why) => {
                tracing::warn!(app = app.0, message = %draft.id, error = %why, policy = ?settings.on_failure, "pre-send callback failed");
                match settings.on_failure {
                    OnFailure::Pass => Verdict::Pass,
                    // Easemob's words for a failed callback under a refusing policy.
                    OnFailure::Refuse => Verdict::Refuse { detail: Some("custom internal error".into()) },
                }
            }
        }
    }
}
