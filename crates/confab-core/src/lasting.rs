//! Broadcasts that stay deliverable until a time (LeanCloud's app-wide
//! broadcasts with `valid_till`), for users first seen after them.
//!
//! Sending one makes every user of the app a member of its conversation in
//! the same commit. A user created (or, for LeanCloud, a client ID first
//! used) later must still get it when they log in before it lapses, so each
//! login and each user creation joins the user to every such conversation
//! from its oldest message still deliverable. Logins are hot, so the list
//! is held per app in memory and read from storage only when it is missing,
//! when a broadcast is sent, edited or deleted on this node, when its
//! earliest entry lapses, and at most every [`LASTING_FRESH_FOR`] (for
//! broadcasts sent on other nodes). A login with nothing deliverable costs
//! no storage read while the copy is fresh.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::error::Result;
use crate::model::{AppId, ConversationId, Membership, Message, Username};
use crate::storage::Storage;

/// Longest time a broadcast may stay deliverable: older messages are never
/// candidates (LeanCloud allows a month; 31 days covers every month).
pub const LONGEST_DELIVERABLE_MS: i64 = 31 * 24 * 3600 * 1000;
/// How long an app's list is used before it is read again, so broadcasts
/// sent on another node reach new users here soon after.
pub const LASTING_FRESH_FOR: Duration = Duration::from_secs(2);

/// A conversation holding at least one broadcast deliverable now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lasting {
    pub conversation: ConversationId,
    /// The sequence number of its oldest message still deliverable.
    pub seq: i64,
    /// When that message lapses.
    pub until_ms: i64,
}

/// One app's list and when it must be read again.
struct Loaded {
    entries: Arc<Vec<Lasting>>,
    read_at: Instant,
    /// The earliest `until_ms` of the entries (never, without any).
    lapses_at: i64,
}

/// Per app: the conversations with broadcasts deliverable now.
pub(crate) struct LastingCache {
    store: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    apps: Mutex<HashMap<AppId, Loaded>>,
}

impl LastingCache {
    pub(crate) fn new(store: Arc<dyn Storage>, clock: Arc<dyn Clock>) -> LastingCache {
        LastingCache { store, clock, apps: Mutex::default() }
    }

    /// The app's list as of now.
    pub(crate) async fn get(&self, app: AppId) -> Result<Arc<Vec<Lasting>>> {
        let now = self.clock.now_ms();
        if let Some(loaded) = self.apps.lock().unwrap_or_else(|e| e.into_inner()).get(&app) {
            if loaded.read_at.elapsed() < LASTING_FRESH_FOR && now < loaded.lapses_at {
                return Ok(loaded.entries.clone());
            }
        }
        let candidates = self.store.app_wide_broadcasts(app, now - LONGEST_DELIVERABLE_MS).await?;
        let entries = Arc::new(oldest_deliverable(&candidates, now));
        let lapses_at = entries.iter().map(|e| e.until_ms).min().unwrap_or(i64::MAX);
        let loaded = Loaded { entries: entries.clone(), read_at: Instant::now(), lapses_at };
        self.apps.lock().unwrap_or_else(|e| e.into_inner()).insert(app, loaded);
        Ok(entries)
    }

    /// Drops the app's list: a broadcast was sent, edited or deleted.
    pub(crate) fn forget(&self, app: AppId) {
        self.apps.lock().unwrap_or_else(|e| e.into_inner()).remove(&app);
    }

    /// Makes new users members of every conversation with a broadcast
    /// deliverable now, from its oldest such message on.
    pub(crate) async fn join_new(&self, app: AppId, users: &[Username]) -> Result<()> {
        if users.is_empty() {
            return Ok(());
        }
        let entries = self.get(app).await?;
        let now = self.clock.now_ms();
        for entry in entries.iter() {
            self.store.join_from(app, users.to_vec(), entry.conversation, entry.seq, now).await?;
        }
        Ok(())
    }

    /// Joins a user logging in to the conversations of `entries` they are not
    /// a member of, and answers whether any was joined (their memberships
    /// must then be read again). Members are left as they are.
    pub(crate) async fn join_missing(&self, app: AppId, user: &Username, memberships: &[Membership]) -> Result<Joined> {
        let entries = self.get(app).await?;
        let missing = entries.iter().filter(|e| !memberships.iter().any(|m| m.conversation == e.conversation));
        let now = self.clock.now_ms();
        let mut joined = Joined::Nothing;
        for entry in missing {
            self.store.join_from(app, vec![user.clone()], entry.conversation, entry.seq, now).await?;
            joined = Joined::Some;
        }
        Ok(joined)
    }
}

/// Whether a login joined the user to any conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Joined {
    Nothing,
    Some,
}

/// Per conversation, its oldest message deliverable at `now` (candidates
/// come by conversation and sequence).
fn oldest_deliverable(candidates: &[Message], now: i64) -> Vec<Lasting> {
    let mut entries: Vec<Lasting> = Vec::new();
    for message in candidates {
        let Some(until_ms) = message.deliverable_until().filter(|till| *till > now) else {
            continue;
        };
        if entries.iter().any(|e| e.conversation == message.conversation) {
            continue;
        }
        entries.push(Lasting { conversation: message.conversation, seq: message.seq, until_ms });
    }
    entries
}
