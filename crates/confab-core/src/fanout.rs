//! Getting committed events to the connections that want them.
//!
//! [`Hub`] is this node's registry of live gateway sessions. [`Fanout`] is
//! how the core reaches sessions anywhere: the in-process implementation
//! hands events straight to the local hub; a cluster implementation (NATS)
//! routes them to the node that holds the connection and answers presence
//! for the whole cluster.

use async_trait::async_trait;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;

use crate::error::Result;
use crate::events::{KickReason, LiveEvent};
use crate::model::{AppId, Username};

/// How many live events a session may have queued before it is closed as
/// too slow. Nothing is lost when that happens: the client resumes from
/// storage when it reconnects.
pub const SESSION_QUEUE: usize = 4096;

const SHARDS: usize = 32;

type SessionKey = (AppId, Username);

struct Slot {
    session_id: u64,
    device: String,
    tx: mpsc::Sender<LiveEvent>,
    /// Set when an event could not be queued; the session then closes
    /// itself, since it has missed something it must not skip.
    overflowed: Arc<AtomicBool>,
}

/// What a session holds of its registration.
pub struct Registration {
    pub session_id: u64,
    pub events: mpsc::Receiver<LiveEvent>,
    pub overflowed: Arc<AtomicBool>,
}

/// This node's live sessions, by app and user.
pub struct Hub {
    shards: Vec<RwLock<HashMap<SessionKey, Vec<Slot>>>>,
    next_session: AtomicU64,
}

impl Default for Hub {
    fn default() -> Self {
        Hub { shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(), next_session: AtomicU64::new(1) }
    }
}

impl Hub {
    fn shard(&self, app: AppId, user: &Username) -> &RwLock<HashMap<SessionKey, Vec<Slot>>> {
        let mut h = DefaultHasher::new();
        app.hash(&mut h);
        user.hash(&mut h);
        &self.shards[(h.finish() as usize) % SHARDS]
    }

    /// Adds a session and returns its ID and the queue it will read from.
    pub fn register(&self, app: AppId, user: &Username, device: &str) -> Registration {
        let (tx, events) = mpsc::channel(SESSION_QUEUE);
        let session_id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let overflowed = Arc::new(AtomicBool::new(false));
        let slot = Slot { session_id, device: device.to_owned(), tx, overflowed: overflowed.clone() };
        let mut shard = self.shard(app, user).write().unwrap_or_else(|e| e.into_inner());
        shard.entry((app, user.clone())).or_default().push(slot);
        Registration { session_id, events, overflowed }
    }

    pub fn unregister(&self, app: AppId, user: &Username, session_id: u64) {
        let mut shard = self.shard(app, user).write().unwrap_or_else(|e| e.into_inner());
        let key = (app, user.clone());
        if let Some(slots) = shard.get_mut(&key) {
            slots.retain(|s| s.session_id != session_id);
            if slots.is_empty() {
                shard.remove(&key);
            }
        }
    }

    /// Hands `event` to every session of `user` on this node, never waiting:
    /// a session whose queue is full is told to close instead.
    pub fn deliver(&self, app: AppId, user: &Username, event: &LiveEvent) {
        let shard = self.shard(app, user).read().unwrap_or_else(|e| e.into_inner());
        let Some(slots) = shard.get(&(app, user.clone())) else {
            return;
        };
        for slot in slots {
            if let Err(mpsc::error::TrySendError::Full(_)) = slot.tx.try_send(event.clone()) {
                tracing::debug!(session = slot.session_id, "session queue full, closing it");
                slot.overflowed.store(true, Ordering::Release);
            }
        }
    }

    /// Tells the sessions of one device of a user (on this node) to close.
    pub fn kick_device(&self, app: AppId, user: &Username, device: &str, reason: KickReason) {
        let shard = self.shard(app, user).read().unwrap_or_else(|e| e.into_inner());
        for slot in shard.get(&(app, user.clone())).into_iter().flatten().filter(|s| s.device == device) {
            let _ = slot.tx.try_send(LiveEvent::Kick(reason));
        }
    }

    /// Devices connected on this node for each user, in order.
    pub fn device_counts(&self, app: AppId, users: &[Username]) -> Vec<usize> {
        users
            .iter()
            .map(|u| {
                let shard = self.shard(app, u).read().unwrap_or_else(|e| e.into_inner());
                shard.get(&(app, u.clone())).map_or(0, Vec::len)
            })
            .collect()
    }

    /// Devices of one user on this node.
    pub fn devices(&self, app: AppId, user: &Username) -> Vec<String> {
        let shard = self.shard(app, user).read().unwrap_or_else(|e| e.into_inner());
        shard.get(&(app, user.clone())).map_or_else(Vec::new, |s| s.iter().map(|s| s.device.clone()).collect())
    }

    /// Devices on this node for each user, in order.
    pub fn devices_of(&self, app: AppId, users: &[Username]) -> Vec<Vec<String>> {
        users.iter().map(|u| self.devices(app, u)).collect()
    }

    /// Number of sessions on this node.
    pub fn session_count(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).values().map(Vec::len).sum::<usize>())
            .sum()
    }

    /// Tells every session on this node to close.
    pub fn kick_all(&self, reason: KickReason) {
        for shard in &self.shards {
            let shard = shard.read().unwrap_or_else(|e| e.into_inner());
            for slot in shard.values().flatten() {
                let _ = slot.tx.try_send(LiveEvent::Kick(reason));
            }
        }
    }
}

/// Routes events to sessions wherever they are connected, and answers who is online.
///
/// Every implementation delivers to this node's sessions through the [`Hub`];
/// what differs is how events reach sessions on other nodes.
#[async_trait]
pub trait Fanout: Send + Sync {
    /// Delivers an event to every connected device of each recipient.
    async fn publish(&self, app: AppId, recipients: &[Username], event: LiveEvent);
    /// Connected devices per user, across the whole deployment.
    async fn device_counts(&self, app: AppId, users: &[Username]) -> Vec<usize>;
    /// The names of each user's connected devices, across the whole deployment.
    async fn devices(&self, app: AppId, users: &[Username]) -> Vec<Vec<String>>;
    /// Closes one device's sessions wherever they are connected.
    async fn kick_device(&self, app: AppId, user: &Username, device: &str, reason: KickReason);
    /// A session of `user` is now in this node's hub and has not yet read its
    /// backlog. Once this returns, events published on any node reach it, so
    /// nothing committed after the backlog snapshot can be missed. Sessions of
    /// the same device on other nodes are told to close ([`KickReason::Replaced`]).
    async fn session_opened(&self, app: AppId, user: &Username, device: &str) -> Result<()>;
    /// A session that [`Fanout::session_opened`] announced has left the hub.
    /// Called from `Drop`, so it must not wait.
    fn session_closed(&self, app: AppId, user: &Username);
    /// What the bus between nodes carries, for a fan-out that has one.
    fn bus_stats(&self) -> Option<std::sync::Arc<crate::activity::BusStats>> {
        None
    }
}

/// The single-node fan-out: everything is in this process.
pub struct LocalFanout {
    hub: Arc<Hub>,
}

impl LocalFanout {
    pub fn new(hub: Arc<Hub>) -> LocalFanout {
        LocalFanout { hub }
    }
}

#[async_trait]
impl Fanout for LocalFanout {
    async fn publish(&self, app: AppId, recipients: &[Username], event: LiveEvent) {
        for user in recipients {
            self.hub.deliver(app, user, &event);
        }
    }

    async fn device_counts(&self, app: AppId, users: &[Username]) -> Vec<usize> {
        self.hub.device_counts(app, users)
    }

    async fn devices(&self, app: AppId, users: &[Username]) -> Vec<Vec<String>> {
        self.hub.devices_of(app, users)
    }

    async fn kick_device(&self, app: AppId, user: &Username, device: &str, reason: KickReason) {
        self.hub.kick_device(app, user, device, reason);
    }

    async fn session_opened(&self, _app: AppId, _user: &Username, _device: &str) -> Result<()> {
        // The gateway has already closed this node's older session of the device.
        Ok(())
    }

    fn session_closed(&self, _app: AppId, _user: &Username) {}
}
