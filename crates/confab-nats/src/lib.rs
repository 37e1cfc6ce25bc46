//! NATS implementation of confab's [`Fanout`], selected with
//! `CONFAB_NATS_URL`: the nodes of a cluster reach each other's sessions
//! through one NATS server (or NATS cluster) and answer presence together.
//!
//! Routing is NATS's own interest routing. A node subscribes to a subject
//! per user it has sessions for (`<cluster>.user.<app>.<user>`), so an event
//! published for a user travels only to the nodes that hold one of the
//! user's sessions. A node delivers to its own sessions directly; every
//! event it publishes carries its node ID in a header, and a node ignores
//! its own events when NATS echoes them back.
//!
//! An event for many users (a message to a large group) goes out once
//! instead, on `<cluster>.fanout` with its list of recipients; every node
//! hands it to those of them it holds sessions for, from its own memory.
//!
//! Presence is asked, not replicated: `device_counts` sends one query to
//! every node and adds up the answers. Nodes announce themselves with a
//! heartbeat every second; a node that stops (crash, lost network) is
//! forgotten after [`PEER_EXPIRY`], and until then simply does not answer,
//! so its users stop counting as online at once.
//!
//! Every subject starts with the cluster's name (`CONFAB_CLUSTER`), so
//! several clusters (production and staging, say) may share one NATS.
//!
//! NATS delivers at most once. When this node's connection to NATS drops or
//! NATS reports it too slow, events may have been missed, so every session
//! here is closed as a slow consumer: its client reconnects and resumes
//! from storage, which has everything.
//!
//! What travels between nodes, and its golden tests, is `wire.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::{Client, ConnectOptions, Event, HeaderMap};
use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::OnceCell;
use tokio::task::AbortHandle;

use confab_core::activity::BusStats;
use confab_core::error::{Error, Result};
use confab_core::events::{KickReason, LiveEvent};
use confab_core::fanout::{Fanout, Hub};
use confab_core::model::{AppId, Username};

/// How often a node announces itself.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A node not heard from for this long is taken to be gone.
pub const PEER_EXPIRY: Duration = Duration::from_secs(3);
/// Longest wait for other nodes' presence answers.
const PRESENCE_TIMEOUT: Duration = Duration::from_millis(500);

mod wire;
use wire::{live_event, Broadcast, PresenceAnswer, PresenceQuery, WireEvent};

const ORIGIN: &str = "Confab-Origin";

/// Per user with sessions here: how many, and the task relaying their subject.
type Relays = HashMap<(AppId, Username), (usize, Arc<OnceCell<AbortHandle>>)>;

/// Above this many recipients an event is published once, to every node,
/// with its recipients, instead of once per recipient: a message to a group
/// of 10,000 is one NATS message rather than 10,000 copies of it.
const BROADCAST_ABOVE: usize = 16;

/// The fan-out of one node in a NATS-connected cluster.
pub struct NatsFanout {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    subjects: Subjects,
    hub: Arc<Hub>,
    node: u16,
    /// Users with sessions on this node: how many, and the task that reads
    /// their subject (set once the subscription exists).
    users: Mutex<Relays>,
    /// Other nodes, by ID, and when each was last heard from.
    peers: Mutex<HashMap<u16, Instant>>,
    /// Events published and received (metrics).
    bus: Arc<BusStats>,
}

impl NatsFanout {
    /// Whether the connection to NATS is up (what `/readyz` asks).
    pub fn connected(&self) -> bool {
        self.inner.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Connects to NATS as node `node`, starts answering other nodes, and
    /// waits briefly so the nodes already running have introduced themselves.
    pub async fn connect(url: &str, cluster: &str, node: u16, hub: Arc<Hub>) -> Result<NatsFanout> {
        let events_hub = hub.clone();
        let options = ConnectOptions::new()
            .name(format!("confab-node-{node}"))
            .connection_timeout(Duration::from_secs(5))
            .event_callback(move |event| {
                let hub = events_hub.clone();
                async move { on_connection_event(&hub, event) }
            });
        let client = options.connect(url).await.map_err(|e| Error::Storage(format!("nats: {e}")))?;
        let inner = Arc::new(Inner {
            client,
            subjects: Subjects { cluster: cluster.to_owned() },
            hub,
            node,
            users: Mutex::new(HashMap::new()),
            peers: Mutex::new(HashMap::new()),
            bus: Arc::new(BusStats::default()),
        });
        let subjects = &inner.subjects;
        let heartbeats = inner.client.subscribe(subjects.heartbeat()).await.map_err(nats)?;
        let leaves = inner.client.subscribe(subjects.leave()).await.map_err(nats)?;
        let queries = inner.client.subscribe(subjects.presence()).await.map_err(nats)?;
        let syncs = inner.client.subscribe(subjects.sync(node)).await.map_err(nats)?;
        let broadcasts = inner.client.subscribe(subjects.fanout()).await.map_err(nats)?;
        tokio::spawn(listen_to_peers(inner.clone(), heartbeats, leaves));
        tokio::spawn(answer_presence(inner.clone(), queries));
        tokio::spawn(answer_syncs(inner.clone(), syncs));
        tokio::spawn(inner.clone().relay_broadcasts(broadcasts));
        tokio::spawn(send_heartbeats(Arc::downgrade(&inner)));
        // Every node answers a newcomer's first heartbeat with its own.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(NatsFanout { inner })
    }

    /// Tells the other nodes this one is leaving, so they stop asking it.
    pub async fn leave(&self) {
        let inner = &self.inner;
        let _ = inner.client.publish_with_headers(inner.subjects.leave(), inner.origin(), Vec::new().into()).await;
        let _ = inner.client.flush().await;
    }

    /// Other nodes currently known to be alive.
    pub fn peer_count(&self) -> usize {
        self.inner.live_peers()
    }

    /// Other nodes currently known to be alive, by ID, with how long ago
    /// each was last heard from.
    pub fn peers(&self) -> Vec<(u16, Duration)> {
        let peers = self.inner.peers.lock().unwrap_or_else(|e| e.into_inner());
        let mut alive: Vec<(u16, Duration)> =
            peers.iter().map(|(node, seen)| (*node, seen.elapsed())).filter(|(_, ago)| *ago < PEER_EXPIRY).collect();
        alive.sort_unstable();
        alive
    }
}

impl Inner {
    fn origin(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, self.node.to_string().as_str());
        headers
    }

    fn is_own(&self, message: &async_nats::Message) -> bool {
        origin_node(message) == Some(self.node)
    }

    fn live_peers(&self) -> usize {
        // Counted, not removed: `listen_to_peers` forgets (and logs) the dead.
        let peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers.values().filter(|seen| seen.elapsed() < PEER_EXPIRY).count()
    }

    /// Asks every other node about users' devices; the answers that came in
    /// time (a node that does not answer has no devices to count).
    async fn ask_presence(&self, app: AppId, users: &[Username], devices: bool) -> Vec<PresenceAnswer> {
        let expected = self.live_peers();
        let mut heard: Vec<PresenceAnswer> = Vec::new();
        if expected == 0 {
            return heard;
        }
        let asked = async {
            let inbox = self.client.new_inbox();
            let mut answers = self.client.subscribe(inbox.clone()).await.map_err(nats)?;
            let query = serde_json::to_vec(&PresenceQuery { app, users: users.to_vec(), devices })
                .map_err(|e| Error::Storage(e.to_string()))?;
            self.client
                .publish_with_reply_and_headers(self.subjects.presence(), inbox, self.origin(), query.into())
                .await
                .map_err(nats)?;
            let deadline = tokio::time::sleep(PRESENCE_TIMEOUT);
            tokio::pin!(deadline);
            while heard.len() < expected {
                let answer = tokio::select! {
                    answer = answers.next() => answer,
                    _ = &mut deadline => break,
                };
                let Some(answer) = answer else { break };
                let Ok(answer) = serde_json::from_slice::<PresenceAnswer>(&answer.payload) else { continue };
                let complete = answer.counts.len() == users.len() && (!devices || answer.devices.len() == users.len());
                if !complete || heard.iter().any(|h| h.node == answer.node) {
                    continue;
                }
                heard.push(answer);
            }
            if heard.len() < expected {
                tracing::warn!(expected, answered = heard.len(), "some nodes did not answer a presence query");
            }
            Ok::<_, Error>(())
        };
        if let Err(e) = asked.await {
            tracing::warn!(error = %e, "presence query failed; counting this node only");
        }
        heard
    }

    async fn publish_event(&self, app: AppId, user: &Username, payload: &bytes::Bytes) {
        let subject = self.subjects.user(app, user);
        match self.client.publish_with_headers(subject, self.origin(), payload.clone()).await {
            Ok(()) => self.bus.published(1),
            Err(e) => tracing::warn!(error = %e, "cannot publish an event to NATS"),
        }
    }

    /// Forwards the events of one user's subject to this node's sessions.
    async fn relay(self: Arc<Self>, app: AppId, user: Username, mut subscription: async_nats::Subscriber) {
        while let Some(message) = subscription.next().await {
            if self.is_own(&message) {
                continue;
            }
            self.bus.received(1);
            match serde_json::from_slice::<WireEvent>(&message.payload) {
                // A kick for one device is the one event that is not for every session of the user.
                Ok(WireEvent::Kick { reason, device: Some(device) }) => match KickReason::parse(&reason) {
                    Some(reason) => self.hub.kick_device(app, &user, &device, reason),
                    None => tracing::warn!(reason, "unknown kick reason from another node"),
                },
                Ok(wire) => {
                    if let Some(event) = live_event(wire) {
                        self.hub.deliver(app, &user, &event);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "undecodable event from another node"),
            }
        }
    }

    /// Hands events published for many users to those this node holds.
    async fn relay_broadcasts(self: Arc<Self>, mut subscription: async_nats::Subscriber) {
        while let Some(message) = subscription.next().await {
            if self.is_own(&message) {
                continue;
            }
            self.bus.received(1);
            let broadcast = match serde_json::from_slice::<Broadcast>(&message.payload) {
                Ok(broadcast) => broadcast,
                Err(e) => {
                    tracing::warn!(error = %e, "undecodable broadcast from another node");
                    continue;
                }
            };
            let Some(event) = live_event(broadcast.event) else { continue };
            for user in &broadcast.recipients {
                self.hub.deliver(broadcast.app, user, &event);
            }
        }
    }
}

#[async_trait]
impl Fanout for NatsFanout {
    fn bus_stats(&self) -> Option<Arc<BusStats>> {
        Some(self.inner.bus.clone())
    }

    async fn publish(&self, app: AppId, recipients: &[Username], event: LiveEvent) {
        let inner = &self.inner;
        for user in recipients {
            inner.hub.deliver(app, user, &event);
        }
        let wire = WireEvent::of(&event);
        if recipients.len() > BROADCAST_ABOVE {
            let broadcast = Broadcast { app, recipients: recipients.to_vec(), event: wire };
            let payload: bytes::Bytes = match serde_json::to_vec(&broadcast) {
                Ok(bytes) => bytes.into(),
                Err(e) => return tracing::error!(error = %e, "cannot encode an event"),
            };
            let subject = inner.subjects.fanout();
            match inner.client.publish_with_headers(subject, inner.origin(), payload).await {
                Ok(()) => inner.bus.published(1),
                Err(e) => tracing::warn!(error = %e, "cannot publish an event to NATS"),
            }
            return;
        }
        let payload: bytes::Bytes = match serde_json::to_vec(&wire) {
            Ok(bytes) => bytes.into(),
            Err(e) => return tracing::error!(error = %e, "cannot encode an event"),
        };
        for user in recipients {
            inner.publish_event(app, user, &payload).await;
        }
    }

    async fn device_counts(&self, app: AppId, users: &[Username]) -> Vec<usize> {
        let mut counts = self.inner.hub.device_counts(app, users);
        for answer in self.inner.ask_presence(app, users, false).await {
            for (total, n) in counts.iter_mut().zip(answer.counts) {
                *total += n;
            }
        }
        counts
    }

    async fn devices(&self, app: AppId, users: &[Username]) -> Vec<Vec<String>> {
        let mut devices = self.inner.hub.devices_of(app, users);
        for answer in self.inner.ask_presence(app, users, true).await {
            for (all, theirs) in devices.iter_mut().zip(answer.devices) {
                all.extend(theirs);
            }
        }
        devices
    }

    async fn kick_device(&self, app: AppId, user: &Username, device: &str, reason: KickReason) {
        self.inner.hub.kick_device(app, user, device, reason);
        let kick = WireEvent::Kick { reason: reason.as_str().to_owned(), device: Some(device.to_owned()) };
        match serde_json::to_vec(&kick) {
            Ok(payload) => self.inner.publish_event(app, user, &payload.into()).await,
            Err(e) => tracing::error!(error = %e, "cannot encode a kick"),
        }
    }

    async fn session_opened(&self, app: AppId, user: &Username, device: &str) -> Result<()> {
        let inner = &self.inner;
        let relay = {
            let mut users = inner.users.lock().unwrap_or_else(|e| e.into_inner());
            let entry = users.entry((app, user.clone())).or_insert_with(|| (0, Arc::new(OnceCell::new())));
            entry.0 += 1;
            entry.1.clone()
        };
        relay
            .get_or_try_init(|| async {
                let subscription = inner.client.subscribe(inner.subjects.user(app, user)).await.map_err(nats)?;
                let task = tokio::spawn(inner.clone().relay(app, user.clone(), subscription));
                Ok::<_, Error>(task.abort_handle())
            })
            .await?;
        let kick =
            WireEvent::Kick { reason: KickReason::Replaced.as_str().to_owned(), device: Some(device.to_owned()) };
        let payload = serde_json::to_vec(&kick).map_err(|e| Error::Storage(e.to_string()))?.into();
        inner.publish_event(app, user, &payload).await;
        // NATS handles one connection's commands in order, so once our own
        // sync request comes back, the subscription above is in force.
        inner.client.request(inner.subjects.sync(inner.node), Vec::new().into()).await.map_err(nats)?;
        Ok(())
    }

    fn session_closed(&self, app: AppId, user: &Username) {
        let mut users = self.inner.users.lock().unwrap_or_else(|e| e.into_inner());
        let key = (app, user.clone());
        let Some(entry) = users.get_mut(&key) else {
            return;
        };
        entry.0 -= 1;
        if entry.0 == 0 {
            if let Some(task) = entry.1.get() {
                task.abort();
            }
            users.remove(&key);
        }
    }
}

impl Drop for NatsFanout {
    fn drop(&mut self) {
        let users = self.inner.users.lock().unwrap_or_else(|e| e.into_inner());
        for (_, relay) in users.values() {
            if let Some(task) = relay.get() {
                task.abort();
            }
        }
    }
}

fn on_connection_event(hub: &Hub, event: Event) {
    match event {
        Event::Connected => tracing::info!("connected to NATS"),
        Event::Disconnected => {
            // Events published while we are away are lost to our sessions.
            tracing::warn!("lost the connection to NATS; closing sessions so they resume from storage");
            hub.kick_all(KickReason::SlowConsumer);
        }
        Event::SlowConsumer(_) => {
            tracing::warn!("NATS dropped events for this node; closing sessions so they resume from storage");
            hub.kick_all(KickReason::SlowConsumer);
        }
        other => tracing::info!(event = %other, "NATS connection event"),
    }
}

async fn listen_to_peers(
    inner: Arc<Inner>,
    mut heartbeats: async_nats::Subscriber,
    mut leaves: async_nats::Subscriber,
) {
    // A node that died sends no goodbye: it is logged as gone once its
    // heartbeats stop for PEER_EXPIRY.
    let mut check = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = check.tick() => {
                let mut peers = inner.peers.lock().unwrap_or_else(|e| e.into_inner());
                peers.retain(|node, seen| {
                    let alive = seen.elapsed() < PEER_EXPIRY;
                    if !alive {
                        tracing::warn!(node, "a node is gone (no heartbeat for {PEER_EXPIRY:?})");
                    }
                    alive
                });
            }
            Some(beat) = heartbeats.next() => {
                let Some(node) = origin_node(&beat) else { continue };
                if node == inner.node {
                    continue;
                }
                let new = inner.peers.lock().unwrap_or_else(|e| e.into_inner()).insert(node, Instant::now()).is_none();
                if new {
                    tracing::info!(node, "a node joined the cluster");
                    let _ = inner.client.publish_with_headers(inner.subjects.heartbeat(), inner.origin(), Vec::new().into()).await;
                }
            }
            Some(leave) = leaves.next() => {
                if let Some(node) = origin_node(&leave).filter(|&node| node != inner.node) {
                    inner.peers.lock().unwrap_or_else(|e| e.into_inner()).remove(&node);
                    tracing::info!(node, "a node left the cluster");
                }
            }
            else => return,
        }
    }
}

async fn answer_presence(inner: Arc<Inner>, mut queries: async_nats::Subscriber) {
    while let Some(query) = queries.next().await {
        if inner.is_own(&query) {
            continue;
        }
        let (Some(reply), Ok(asked)) = (query.reply, serde_json::from_slice::<PresenceQuery>(&query.payload)) else {
            continue;
        };
        let devices = match asked.devices {
            true => inner.hub.devices_of(asked.app, &asked.users),
            false => Vec::new(),
        };
        let answer =
            PresenceAnswer { node: inner.node, counts: inner.hub.device_counts(asked.app, &asked.users), devices };
        let Ok(payload) = serde_json::to_vec(&answer) else { continue };
        let _ = inner.client.publish(reply, payload.into()).await;
    }
}

async fn answer_syncs(inner: Arc<Inner>, mut syncs: async_nats::Subscriber) {
    while let Some(sync) = syncs.next().await {
        if let Some(reply) = sync.reply {
            let _ = inner.client.publish(reply, Vec::new().into()).await;
        }
    }
}

/// Holds only a weak reference, so the task ends with the fan-out.
async fn send_heartbeats(inner: std::sync::Weak<Inner>) {
    let mut ticks = tokio::time::interval(HEARTBEAT);
    loop {
        ticks.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let _ = inner.client.publish_with_headers(inner.subjects.heartbeat(), inner.origin(), Vec::new().into()).await;
    }
}

fn origin_node(message: &async_nats::Message) -> Option<u16> {
    message.headers.as_ref()?.get(ORIGIN)?.as_str().parse().ok()
}

/// The subjects of one cluster.
struct Subjects {
    cluster: String,
}

impl Subjects {
    fn heartbeat(&self) -> String {
        format!("{}.node.heartbeat", self.cluster)
    }

    fn leave(&self) -> String {
        format!("{}.node.leave", self.cluster)
    }

    /// Events for many users, which every node reads.
    fn fanout(&self) -> String {
        format!("{}.fanout", self.cluster)
    }

    fn presence(&self) -> String {
        format!("{}.presence.query", self.cluster)
    }

    fn sync(&self, node: u16) -> String {
        format!("{}.node.{node}.sync", self.cluster)
    }

    /// The subject of one user's events. Subject tokens cannot hold `.`,
    /// `*`, `>` or spaces, so everything but `[A-Za-z0-9_-]` is escaped as `~xx`.
    fn user(&self, app: AppId, user: &Username) -> String {
        let mut subject = format!("{}.user.{}.", self.cluster, app.0);
        for byte in user.as_str().bytes() {
            if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' {
                subject.push(byte as char);
            } else {
                subject.push_str(&format!("~{byte:02x}"));
            }
        }
        subject
    }
}

fn nats(e: impl std::fmt::Display) -> Error {
    Error::Storage(format!("nats: {e}"))
}
