//! What a send is checked against, held per app in memory: users' blocks and
//! app-wide mutes. Blocks and mutes are checked on every send, so they are
//! read again from storage at most every [`RESTRICTIONS_FRESH_FOR`]: a send
//! costs no read, a change made on this node applies at once (the services
//! that change them call `forget`), and one made on another node of a
//! cluster within that time.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::error::{Refusal, Refused, Result};
use crate::model::{AppId, ChatType, Relation, Username};
use crate::storage::Storage;

/// How long a copy of an app's blocks and mutes is used before it is read again.
pub const RESTRICTIONS_FRESH_FOR: Duration = Duration::from_secs(2);

/// The kind a global mute of `kind` is kept under.
pub(crate) fn mute_kind(kind: ChatType) -> ChatType {
    match kind {
        ChatType::Thread | ChatType::Channel => ChatType::GroupChat,
        ChatType::Broadcast => ChatType::Chat,
        other => other,
    }
}

/// An app's blocks and mutes as the send check sees them.
#[derive(Default)]
struct Restrictions {
    /// (blocker, blocked).
    blocks: HashSet<(Username, Username)>,
    muted_until: HashMap<(Username, ChatType), i64>,
}

/// Per app: its restrictions and when they were read.
pub(crate) struct RestrictionCache {
    store: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    apps: Mutex<HashMap<AppId, (Arc<Restrictions>, Instant)>>,
}

impl RestrictionCache {
    pub(crate) fn new(store: Arc<dyn Storage>, clock: Arc<dyn Clock>) -> RestrictionCache {
        RestrictionCache { store, clock, apps: Mutex::default() }
    }

    async fn get(&self, app: AppId) -> Result<Arc<Restrictions>> {
        if let Some((cached, at)) = self.apps.lock().unwrap_or_else(|e| e.into_inner()).get(&app) {
            if at.elapsed() < RESTRICTIONS_FRESH_FOR {
                return Ok(cached.clone());
            }
        }
        let blocks = self.store.all_blocks(app).await?;
        let mutes = self.store.global_mutes(app).await?;
        let loaded = Arc::new(Restrictions {
            blocks: blocks.into_iter().collect(),
            muted_until: mutes.into_iter().map(|m| ((m.username, m.kind), m.until_ms)).collect(),
        });
        self.apps.lock().unwrap_or_else(|e| e.into_inner()).insert(app, (loaded.clone(), Instant::now()));
        Ok(loaded)
    }

    pub(crate) fn forget(&self, app: AppId) {
        self.apps.lock().unwrap_or_else(|e| e.into_inner()).remove(&app);
    }

    /// Refuses a send by a user muted app-wide in this kind of conversation.
    pub(crate) async fn check_sender(&self, app: AppId, from: &Username, kind: ChatType) -> Result<()> {
        let restrictions = self.get(app).await?;
        let until = restrictions.muted_until.get(&(from.clone(), mute_kind(kind)));
        if until.is_some_and(|until| *until > self.clock.now_ms()) {
            return Err(Refused::of(Refusal::MutedGlobally, from).at(mute_kind(kind).as_str()).into());
        }
        Ok(())
    }

    /// Whether `receiver` blocked `from`.
    pub(crate) async fn blocked(&self, app: AppId, receiver: &Username, from: &Username) -> Result<bool> {
        let restrictions = self.get(app).await?;
        Ok(!restrictions.blocks.is_empty() && restrictions.blocks.contains(&(receiver.clone(), from.clone())))
    }
}

/// Whether `user` keeps out of the conversation `id`.
pub(crate) async fn keeps_out(store: &dyn Storage, app: AppId, user: &Username, id: &str) -> Result<bool> {
    let rows = store.relations(app, Relation::ConversationBlock, user).await?;
    Ok(rows.iter().any(|(other, _)| other.as_str().eq_ignore_ascii_case(id)))
}
