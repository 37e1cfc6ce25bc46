//! Post-send callbacks: every stored message of an app with a post-send URL
//! is posted to it, after it is committed and without holding up any send.
//!
//! The queue is the message store itself, read in commit-time order from a
//! cursor kept with the app's settings: nothing is lost when the server
//! stops or the app's server is down, and nothing needs writing on the send
//! path. Each conversation's messages are posted one at a time, in order;
//! up to [`CONVERSATIONS_AT_ONCE`] conversations side by side. One that is not
//! taken (no 2xx) is retried with backoff (1 s doubling to a minute) and
//! holds its conversation's later ones until it is.
//! Delivery is at least once: after a restart the last few may come again,
//! with the same `callId` / `msgId` / `messageId` for the app to tell.
//!
//! A message is posted once it is [`SETTLE_MS`] old, so that one committed a
//! little after a newer one (sends are timed before their commit) is not
//! passed by the cursor. In a cluster the node with the lowest ID posts.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use confab_core::ids::MessageId;
use confab_core::model::{AppId, ConversationId};
use confab_core::storage::{MessageQuery, TimeBound};
use confab_core::Core;
use futures_util::StreamExt as _;
use tokio::sync::watch;

use super::{cursor_key, deliver, formats, settings, Stats, SETTINGS_FOR};
use crate::fetch::Fetcher;

/// How old a message must be before it is posted (see the module's doc).
pub const SETTLE_MS: i64 = 500;
/// How often apps are looked at when there is nothing to post.
const IDLE: Duration = Duration::from_millis(200);
/// Messages read per app per round.
const BATCH: usize = 500;
/// Conversations posted side by side (each in its own order).
const CONVERSATIONS_AT_ONCE: usize = 16;
/// Longest wait for the app's server to take one message.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// Where an app's posting stands.
struct Progress {
    /// The last message posted (time, ID).
    after: TimeBound,
    /// Not before this, after a failure; and how long the next pause is.
    retry_at: Option<Instant>,
    pause: Duration,
    /// Messages after `after` already posted (their conversation went on
    /// while another's failed), so a retry skips them.
    posted: HashSet<MessageId>,
}

/// Reads the stored cursor: `ms:id`, or a bare `ms` for "from this time".
pub(crate) fn parse_cursor(raw: &str) -> Option<TimeBound> {
    let (ms, id) = match raw.split_once(':') {
        Some((ms, id)) => (ms.parse().ok()?, Some(confab_core::ids::MessageId(id.parse().ok()?))),
        None => (raw.parse().ok()?, None),
    };
    Some(TimeBound { ms, id, inclusive: false })
}

pub(crate) fn format_cursor(bound: &TimeBound) -> String {
    match bound.id {
        Some(id) => format!("{}:{}", bound.ms, id.0),
        None => bound.ms.to_string(),
    }
}

/// One conversation's part of a round: the batch positions posted, or
/// those and the position that was not taken, with why.
type Posted = Result<Vec<usize>, (Vec<usize>, usize, String)>;

/// Whether this node is the one that posts (the lowest live node ID).
pub type Leader = Arc<dyn Fn() -> bool + Send + Sync>;

/// Posts every app's messages until `stop` turns true.
pub async fn run(
    core: Arc<Core>,
    fetcher: Arc<Fetcher>,
    stats: Arc<Stats>,
    leader: Leader,
    mut stop: watch::Receiver<bool>,
) {
    let mut progress: HashMap<AppId, Progress> = HashMap::new();
    // Each app's settings, read again every few seconds (an idle server
    // would otherwise read them from storage five times a second).
    let mut known: HashMap<AppId, (Instant, Arc<super::Settings>)> = HashMap::new();
    loop {
        let mut busy = false;
        if leader() {
            match core.apps.all().await {
                Ok(apps) => {
                    for app in apps.iter() {
                        let settings = match known.get(&app.id) {
                            Some((at, settings)) if at.elapsed() < SETTINGS_FOR => settings.clone(),
                            _ => match settings(&core, app.id).await {
                                Ok(read) => {
                                    let read = Arc::new(read);
                                    known.insert(app.id, (Instant::now(), read.clone()));
                                    read
                                }
                                Err(e) => {
                                    tracing::warn!(app = app.id.0, error = %e, "cannot read the app's callback settings");
                                    continue;
                                }
                            },
                        };
                        busy |= round(&core, &fetcher, &stats, app, &settings, &mut progress).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "post-send callbacks cannot list the apps"),
            }
        } else {
            // Another node posts; start again from the stored cursor if this one takes over.
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

/// Posts what one app has waiting; whether there may be more right away.
async fn round(
    core: &Core,
    fetcher: &Fetcher,
    stats: &Stats,
    app: &confab_core::model::App,
    settings: &super::Settings,
    progress: &mut HashMap<AppId, Progress>,
) -> bool {
    let Some(url) = settings.post_send_url.as_deref() else {
        progress.remove(&app.id);
        return false;
    };
    let now = core.now_ms();
    let state = match progress.entry(app.id) {
        std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
        std::collections::hash_map::Entry::Vacant(new) => {
            let stored = core.settings.get(app.id, cursor_key()).await.ok().flatten();
            let after = match stored.and_then(|s| parse_cursor(&s.value)) {
                Some(after) => after,
                // Set when post-send was turned on; read again from now if it was lost.
                None => TimeBound { ms: now, id: None, inclusive: false },
            };
            new.insert(Progress { after, retry_at: None, pause: FIRST_PAUSE, posted: HashSet::new() })
        }
    };
    if state.retry_at.is_some_and(|at| Instant::now() < at) {
        return false;
    }
    let query = MessageQuery {
        conversation: None,
        from: None,
        after: Some(state.after),
        before: Some(TimeBound { ms: now - SETTLE_MS, id: None, inclusive: true }),
        newest_first: false,
        limit: BATCH,
    };
    let messages = match core.messages.query(app.id, query).await {
        Ok(messages) => messages,
        Err(e) => {
            tracing::warn!(app = app.id.0, error = %e, "post-send callbacks cannot read messages");
            return false;
        }
    };
    if messages.is_empty() {
        return false;
    }
    // Conversations are posted side by side, each in its order.
    let mut conversations: Vec<(ConversationId, Vec<usize>)> = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        if state.posted.contains(&message.id) {
            continue;
        }
        match conversations.iter_mut().find(|(c, _)| *c == message.conversation) {
            Some((_, indexes)) => indexes.push(index),
            None => conversations.push((message.conversation, vec![index])),
        }
    }
    let (format, secret) = (settings.format, settings.secret());
    let outcomes: Vec<Posted> = futures_util::stream::iter(conversations.into_iter().map(|(_, indexes)| {
        let messages = &messages;
        async move {
            let mut done = Vec::with_capacity(indexes.len());
            for index in indexes {
                let message = &messages[index];
                let now = core.now_ms();
                let call = formats::post_send(format, app, message, secret, now);
                match deliver(fetcher, url, &call, secret, now, POST_TIMEOUT).await {
                    Ok((status, _)) if (200..300).contains(&status) => done.push(index),
                    Ok((status, _)) => return Err((done, index, format!("answered {status}"))),
                    Err(e) => return Err((done, index, e)),
                }
            }
            Ok(done)
        }
    }))
    .buffer_unordered(CONVERSATIONS_AT_ONCE)
    .collect()
    .await;
    // Everything before the first message not taken is posted: the cursor
    // moves there; what was posted after it is remembered, not posted again.
    let mut first_failed: Option<usize> = None;
    for outcome in outcomes {
        let (done, failed) = match outcome {
            Ok(done) => (done, None),
            Err((done, index, why)) => {
                stats.count_post_send("failed");
                tracing::warn!(app = app.id.0, message = %messages[index].id, error = %why, retry_in_ms = state.pause.as_millis() as u64, "post-send callback not taken; it will be retried");
                (done, Some(index))
            }
        };
        for index in done {
            stats.count_post_send("delivered");
            state.posted.insert(messages[index].id);
        }
        first_failed = match (first_failed, failed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let settled = first_failed.unwrap_or(messages.len());
    if let Some(last) = settled.checked_sub(1).map(|i| &messages[i]) {
        state.after = TimeBound { ms: last.timestamp_ms, id: Some(last.id), inclusive: false };
        for message in &messages[..settled] {
            state.posted.remove(&message.id);
        }
        let _ = core.settings.put(app.id, vec![(cursor_key(), format_cursor(&state.after))]).await;
    }
    match first_failed {
        Some(_) => {
            state.retry_at = Some(Instant::now() + state.pause);
            state.pause = (state.pause * 2).min(MAX_PAUSE);
            false
        }
        None => {
            state.pause = FIRST_PAUSE;
            state.retry_at = None;
            messages.len() == BATCH
        }
    }
}
