//! The push queue.
//!
//! Messages are read from the store in commit-time order from a cursor kept
//! with the app, once they are the app's acknowledgement wait old (default
//! 2 s): by then a receiver with a connected device has acknowledged it, and
//! one whose devices have not is pushed to. That covers a receiver with no
//! session, one whose phone slept with the socket open, and every node of a
//! cluster alike, since acknowledgements are in storage.
//!
//! A round plans at most [`MAX_PUSHES_PER_ROUND`] pushes (group messages
//! reach their members in bounded batches this way), then writes them to the
//! queue in storage (namespace `push.queue`: message, user, device, attempts,
//! when due) together with the moved cursor, in one write, before sending any.
//! Each push leaves the queue when its provider has answered: taken, refused
//! for good, or the token gone (its binding is dropped too). One the provider
//! asks to try again (429, 5xx, no answer) stays, due after a backoff of 2 s
//! doubling to 10 minutes, at most [`MAX_ATTEMPTS`] times. A push sent just
//! before the server stops, and not yet removed, is sent again after a
//! minute; it carries the same collapse ID, so the phone still shows one.
//! In a cluster the node with the lowest ID pushes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use confab_core::groups::GroupRef;
use confab_core::ids::MessageId;
use confab_core::model::{App, AppId, ChatType, ConversationId, Message, PushSettings, SettingKey, Username};
use confab_core::storage::{MessageQuery, TimeBound};
use confab_core::Core;

use super::devices::{self, Device};
use super::notice::{self, Decision, Notice, Overrides, Receiver};
use super::providers::{self, Outcome, Tokens};
use super::{ProviderKind, Settings, Stats};
use crate::callbacks::post::{format_cursor, parse_cursor, Leader};
use crate::fetch::Fetcher;

mod planning;

/// How often apps are looked at when there is nothing to push.
const IDLE: Duration = Duration::from_millis(200);
/// Messages read per app per round.
const BATCH: usize = 2000;
/// Most pushes one round plans.
pub const MAX_PUSHES_PER_ROUND: usize = 2000;
/// Pushes in flight at once.
const PUSHES_AT_ONCE: usize = 64;
/// Group members looked up at once.
const LOOKUPS_AT_ONCE: usize = 16;
/// How long a planned push is held for its sender before another round may take it.
const LEASE_MS: i64 = 60_000;
pub const MAX_ATTEMPTS: u32 = 8;
const FIRST_BACKOFF_MS: i64 = 2_000;
const MAX_BACKOFF_MS: i64 = 600_000;
/// How long an app's settings are used before being read again.
const SETTINGS_FOR: Duration = Duration::from_secs(2);

const QUEUE: &str = "push.queue";

/// Where pushing stands (see the module's doc).
pub fn cursor_key() -> SettingKey {
    SettingKey::new(super::NAMESPACE, "", "cursor")
}

/// A push in the queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Queued {
    message: u64,
    user: String,
    device_id: String,
    attempts: u32,
    due_ms: i64,
    /// What the app's server said about the push (`_receiversOffline`), kept for retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    push: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    force: bool,
}

impl Queued {
    fn key(&self) -> SettingKey {
        SettingKey::new(QUEUE, &self.user, &format!("{}/{}", self.message, self.device_id))
    }
}

/// One push, planned.
struct Job {
    queued: Queued,
    user: Username,
    device: Device,
    provider: ProviderKind,
    notice: Notice,
}

/// An app's progress, kept between rounds by the node that pushes.
struct Progress {
    after: TimeBound,
    /// When the earliest queued push is due (0: read the queue to find out).
    next_due_ms: i64,
}

/// Everything a round needs.
pub struct Pusher {
    core: Arc<Core>,
    fetcher: Arc<Fetcher>,
    stats: Arc<Stats>,
    tokens: Tokens,
}

/// Pushes every app's messages until `stop` turns true.
pub async fn run(
    core: Arc<Core>,
    fetcher: Arc<Fetcher>,
    stats: Arc<Stats>,
    leader: Leader,
    mut stop: watch::Receiver<bool>,
) {
    let pusher = Pusher { core, fetcher, stats, tokens: Tokens::default() };
    let mut progress: HashMap<AppId, Progress> = HashMap::new();
    let mut known: HashMap<AppId, (Instant, Arc<Settings>)> = HashMap::new();
    loop {
        let mut busy = false;
        if leader() {
            match pusher.core.apps.all().await {
                Ok(apps) => {
                    for app in apps.iter() {
                        let settings = match known.get(&app.id) {
                            Some((at, settings)) if at.elapsed() < SETTINGS_FOR => settings.clone(),
                            _ => match super::settings(&pusher.core, app.id).await {
                                Ok(read) => {
                                    let read = Arc::new(read);
                                    known.insert(app.id, (Instant::now(), read.clone()));
                                    read
                                }
                                Err(e) => {
                                    tracing::warn!(app = app.id.0, error = %e, "cannot read the app's push settings");
                                    continue;
                                }
                            },
                        };
                        if !settings.any() {
                            progress.remove(&app.id);
                            continue;
                        }
                        match pusher.round(app, &settings, &mut progress).await {
                            Ok(more) => busy |= more,
                            Err(e) => tracing::warn!(app = app.id.0, error = %e, "offline push round failed"),
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "offline push cannot list the apps"),
            }
        } else {
            progress.clear();
        }
        if !busy {
            tokio::select! {
                _ = tokio::time::sleep(IDLE) => {}
                _ = stop.changed() => {}
            }
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// What one round has looked up already (many messages go to the same people).
#[derive(Default)]
struct Memo {
    devices: HashMap<Username, Arc<Vec<Device>>>,
    users: HashMap<Username, Option<(PushSettings, String)>>,
    unread: HashMap<Username, u64>,
    muted: HashMap<String, Arc<Vec<String>>>,
    /// How far each receiver acknowledged each conversation, when the round began.
    acked: HashMap<(Username, ConversationId), i64>,
    /// The app's callback settings (for LeanCloud's `_receiversOffline`), once read.
    hooks: Option<Arc<crate::callbacks::Settings>>,
}

impl Pusher {
    /// Pushes what is due for one app; whether there may be more right away.
    async fn round(
        &self,
        app: &App,
        settings: &Settings,
        progress: &mut HashMap<AppId, Progress>,
    ) -> confab_core::error::Result<bool> {
        let core = &self.core;
        let now = core.now_ms();
        let state = match progress.entry(app.id) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(new) => {
                let stored = core.settings.get(app.id, cursor_key()).await?;
                let after = stored.and_then(|s| parse_cursor(&s.value)).unwrap_or(TimeBound {
                    ms: now,
                    id: None,
                    inclusive: false,
                });
                new.insert(Progress { after, next_due_ms: 0 })
            }
        };
        let mut memo = Memo::default();
        if state.next_due_ms <= now {
            state.next_due_ms = self.retry_due(app, settings, &mut memo).await?;
        }
        let query = MessageQuery {
            conversation: None,
            from: None,
            after: Some(state.after),
            // Never younger than post-send's settling time: a message committed a
            // little after a newer one must not be passed by the cursor.
            before: Some(TimeBound {
                ms: now - (settings.ack_wait_ms as i64).max(crate::callbacks::post::SETTLE_MS),
                id: None,
                inclusive: true,
            }),
            newest_first: false,
            limit: BATCH,
        };
        let messages = core.messages.query(app.id, query).await?;
        let Some(_) = messages.last() else {
            return Ok(false);
        };
        let started = Instant::now();
        let mut jobs = Vec::new();
        let mut planned = 0;
        for message in &messages {
            if jobs.len() >= MAX_PUSHES_PER_ROUND {
                break;
            }
            jobs.extend(self.plan(app, settings, message, &mut memo).await?);
            planned += 1;
        }
        let last = &messages[planned - 1];
        state.after = TimeBound { ms: last.timestamp_ms, id: Some(last.id), inclusive: false };
        // The pushes and the cursor in one write: after a restart a push is
        // either in the queue or was never planned.
        let mut entries: Vec<(SettingKey, String)> = jobs
            .iter_mut()
            .map(|job| {
                job.queued.due_ms = now + LEASE_MS;
                (job.queued.key(), serde_json::to_string(&job.queued).unwrap_or_default())
            })
            .collect();
        entries.push((cursor_key(), format_cursor(&state.after)));
        let (count, planning) = (jobs.len(), started.elapsed());
        core.settings.put(app.id, entries).await?;
        let queued = started.elapsed();
        if let Some(due) = self.send(app, settings, jobs).await? {
            state.next_due_ms = state.next_due_ms.min(due);
        }
        tracing::debug!(
            app = app.id.0,
            messages = planned,
            pushes = count,
            planning_ms = planning.as_millis() as u64,
            queueing_ms = (queued - planning).as_millis() as u64,
            sending_ms = (started.elapsed() - queued).as_millis() as u64,
            "push round"
        );
        // More is waiting when the batch was full or the round stopped at its push limit.
        Ok(planned == BATCH || planned < messages.len())
    }

    /// Sends the queued pushes that are due; when the next one will be.
    async fn retry_due(&self, app: &App, settings: &Settings, memo: &mut Memo) -> confab_core::error::Result<i64> {
        let now = self.core.now_ms();
        let queued: Vec<Queued> = self
            .core
            .settings
            .all(app.id, QUEUE)
            .await?
            .iter()
            .filter_map(|s| serde_json::from_str(&s.value).ok())
            .collect();
        let mut next = i64::MAX;
        let mut jobs = Vec::new();
        let mut dropped = Vec::new();
        for q in queued {
            if q.due_ms > now {
                next = next.min(q.due_ms);
                continue;
            }
            if jobs.len() >= MAX_PUSHES_PER_ROUND {
                next = now;
                continue;
            }
            match self.replan(app, settings, &q, memo).await? {
                Some(job) => jobs.push(job),
                None => dropped.push(q.key()),
            }
        }
        if !dropped.is_empty() {
            self.core.settings.remove(app.id, dropped).await?;
        }
        if let Some(due) = self.send(app, settings, jobs).await? {
            next = next.min(due);
        }
        Ok(next)
    }

    /// Sends planned pushes, then settles the queue: taken, gone and refused
    /// ones leave it, the others are due again later. When the earliest retry is due.
    async fn send(&self, app: &App, settings: &Settings, jobs: Vec<Job>) -> confab_core::error::Result<Option<i64>> {
        if jobs.is_empty() {
            return Ok(None);
        }
        let now_secs = self.core.now_ms() / 1000;
        let outcomes: Vec<(Job, Outcome)> = futures_util::stream::iter(jobs)
            .map(|job| async move {
                let outcome = match job.provider {
                    ProviderKind::Apns => match &settings.apns {
                        Some(apns) => {
                            providers::apns(&self.fetcher, &self.tokens, apns, &job.device, &job.notice, now_secs).await
                        }
                        None => Outcome::Failed("no APNs credentials".into()),
                    },
                    ProviderKind::Fcm => match &settings.fcm {
                        Some(fcm) => {
                            providers::fcm(&self.fetcher, &self.tokens, fcm, &job.device, &job.notice, now_secs).await
                        }
                        None => Outcome::Failed("no FCM credentials".into()),
                    },
                    ProviderKind::Webhook => match &settings.webhook {
                        Some(hook) => {
                            let body = providers::webhook_body(&app.name, job.user.as_str(), &job.device, &job.notice);
                            providers::webhook(&self.fetcher, hook, &body, self.core.now_ms()).await
                        }
                        None => Outcome::Failed("no webhook".into()),
                    },
                };
                (job, outcome)
            })
            .buffer_unordered(PUSHES_AT_ONCE)
            .collect()
            .await;
        let now = self.core.now_ms();
        let (mut done, mut again, mut next) = (Vec::new(), Vec::new(), None::<i64>);
        for (mut job, outcome) in outcomes {
            let provider = job.provider;
            match outcome {
                Outcome::Sent => self.stats.count(provider, "sent"),
                Outcome::Gone(why) => {
                    self.stats.count(provider, "gone");
                    tracing::info!(app = app.id.0, user = %job.user, device = %job.device.device_id, reason = %why, "push token no longer valid; its binding is dropped");
                    devices::drop_token(&self.core, app.id, &job.user, &job.device).await?;
                }
                Outcome::Failed(why) => {
                    self.stats.count(provider, "failed");
                    tracing::warn!(app = app.id.0, provider = provider.as_str(), reason = %why, "push refused");
                }
                Outcome::Retry(why) if job.queued.attempts + 1 >= MAX_ATTEMPTS => {
                    self.stats.count(provider, "gave_up");
                    tracing::warn!(app = app.id.0, provider = provider.as_str(), reason = %why, "push still failing after its last attempt");
                }
                Outcome::Retry(why) => {
                    self.stats.count(provider, "retry");
                    let backoff = (FIRST_BACKOFF_MS << job.queued.attempts.min(20)).min(MAX_BACKOFF_MS);
                    job.queued.attempts += 1;
                    job.queued.due_ms = now + backoff;
                    next = Some(next.map_or(job.queued.due_ms, |n| n.min(job.queued.due_ms)));
                    tracing::info!(app = app.id.0, provider = provider.as_str(), reason = %why, retry_in_ms = backoff, "push will be tried again");
                    again.push((job.queued.key(), serde_json::to_string(&job.queued).unwrap_or_default()));
                    continue;
                }
            }
            done.push(job.queued.key());
        }
        if !again.is_empty() {
            self.core.settings.put(app.id, again).await?;
        }
        if !done.is_empty() {
            self.core.settings.remove(app.id, done).await?;
        }
        Ok(next)
    }
}
