//! The session core of the real-time gateway, independent of any wire
//! protocol.
//!
//! A [`Session`] is one logged-in device. It replays what the device missed
//! (from storage), then passes on live events in per-conversation order with
//! no gaps and no duplicates. Wire protocols (confab's JSON one, later the
//! clouds' own SDK protocols) drive a session and only translate frames.
//!
//! How ordering works: every message has a per-conversation sequence number
//! and is published to every member of its conversation, sender included.
//! A session tracks, per conversation, the highest sequence it has
//! *processed* (handed over, or skipped because it was not meant for this
//! device). An event at or below that is a duplicate; one above the next
//! expected number waits briefly for the missing ones and, if they do not
//! come (events from different senders may overtake each other on their way
//! here), the gap is filled from storage. The bookkeeping is `order.rs`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::apps::AppService;
use crate::auth::{self, Principal};
use crate::deps::Deps;
use crate::error::{AuthFailure, Error, Refusal, Refused, Result};
use crate::events::MessageUpdate;
use crate::events::{GroupEvent, GroupEventKind};
use crate::events::{KickReason, LiveEvent, Receipt, ReceiptKind};
use crate::groups::{GroupSend, GroupService};
use crate::lasting::Joined;
use crate::messages::{DirectSend, MessageService};
use crate::model::{App, Body, ChatType, ConversationId, Delivery, Message, Original, Username};
use crate::moderation::{ModerationService, Screened};
use crate::order::{Offered, Order};
use crate::storage::HiddenRange;
use crate::users::UserService;

/// Messages read from storage per backlog page.
const BACKLOG_PAGE: usize = 200;
/// Longest device name a client may choose.
const MAX_DEVICE_LEN: usize = 64;

/// What a device presents to log in.
#[derive(Debug, Clone, Default)]
pub struct LoginRequest {
    /// A user token (E-auth-2).
    pub token: String,
    /// The device's own name; one is made up when absent. A second login
    /// with the same name replaces the first, as the clouds' SDKs expect.
    pub device: Option<String>,
    /// Per conversation, the highest sequence number this device already has.
    pub resume: HashMap<ConversationId, i64>,
}

/// The services a session works through.
#[derive(Clone)]
pub(crate) struct Services {
    pub apps: AppService,
    pub users: UserService,
    pub messages: MessageService,
    pub groups: GroupService,
    pub moderation: ModerationService,
}

#[derive(Clone)]
pub struct Gateway {
    deps: Arc<Deps>,
    apps: AppService,
    users: UserService,
    messages: MessageService,
    groups: GroupService,
    moderation: ModerationService,
}

impl Gateway {
    pub(crate) fn new(deps: Arc<Deps>, services: Services) -> Gateway {
        let Services { apps, users, messages, groups, moderation } = services;
        Gateway { deps, apps, users, messages, groups, moderation }
    }

    /// Authenticates a device and opens its session. The session is
    /// registered for live events before the backlog is read, so nothing
    /// committed in between can fall through the crack.
    #[tracing::instrument(level = "debug", skip_all, fields(device = request.device.as_deref()))]
    pub async fn login(&self, request: LoginRequest) -> Result<Session> {
        let app_uuid = auth::claimed_app(&request.token)?;
        let app = self.apps.by_uuid(&app_uuid).await?.ok_or(Error::Unauthenticated(AuthFailure::BadToken))?;
        let Principal::User { username, .. } = self.users.authenticate(&app, &request.token).await? else {
            return Err(Error::Unauthenticated(AuthFailure::WrongTokenKind));
        };
        let device = match request.device {
            Some(d) if d.is_empty() || d.len() > MAX_DEVICE_LEN || d.chars().any(char::is_control) => {
                return Err(Error::InvalidArgument("device must be 1 to 64 printable characters".into()));
            }
            Some(d) => d,
            None => format!("dev-{}", auth::random_token(6)),
        };

        let hub = &self.deps.hub;
        hub.kick_device(app.id, &username, &device, KickReason::Replaced);
        let registration = hub.register(app.id, &username, &device);
        let mut session = Session {
            deps: self.deps.clone(),
            messages: self.messages.clone(),
            groups: self.groups.clone(),
            moderation: self.moderation.clone(),
            app,
            user: username,
            device,
            id: registration.session_id,
            events: registration.events,
            overflowed: registration.overflowed,
            order: Order::default(),
            backlog: VecDeque::new(),
            resume: request.resume,
            hidden: Vec::new(),
        };
        // From here on, dropping `session` unregisters it.
        self.deps.fanout.session_opened(session.app.id, &session.user, &session.device).await?;
        session.hidden = self.deps.store.hidden_ranges(session.app.id, &session.user).await?;
        let now = self.deps.clock.now_ms();
        self.deps.store.record_login(session.app.id, &session.user, now).await?;
        let mut memberships = self.deps.store.memberships(session.app.id, &session.user).await?;
        // A user first seen after a broadcast that is still deliverable
        // joins its conversation now, before the backlog is planned.
        let joined = self.deps.lasting.join_missing(session.app.id, &session.user, &memberships).await?;
        if joined == Joined::Some {
            memberships = self.deps.store.memberships(session.app.id, &session.user).await?;
        }
        for m in memberships {
            // Chat rooms keep no offline queue: a device hears only what is
            // said while it is connected.
            if m.chat_type == ChatType::ChatRoom {
                session.order.start(m.conversation, m.last_seq);
                continue;
            }
            // Never before the user's joining point: a device's cursor from an
            // earlier membership must not replay what was said while they were out.
            let resumed = session.resume.get(&m.conversation).copied().unwrap_or(m.ack_seq);
            let from = resumed.max(m.joined_seq).clamp(0, m.last_seq);
            if from < m.last_seq {
                session.backlog.push_back((m.conversation, from, m.last_seq));
            }
            session.order.start(m.conversation, m.last_seq);
        }
        Ok(session)
    }
}

/// What woke a session up. Returned by [`Session::wait`], which only waits
/// and so may be cancelled (raced against socket reads) without losing anything.
#[derive(Debug)]
pub enum Wake {
    Event(LiveEvent),
    GapTimeout,
    /// The hub dropped the session's queue, or it overflowed.
    Closed(KickReason),
}

/// What the wire protocol should do after processing a wake-up.
#[derive(Debug)]
pub enum Outcome {
    /// Hand these messages to the device, in order.
    Deliver(Vec<Arc<Message>>),
    /// Tell the device that a group it belongs to (or just left) changed.
    Notify(Arc<GroupEvent>),
    /// Tell the device that a message was edited, recalled or deleted.
    Update(Arc<MessageUpdate>),
    /// Tell the device why, then close the connection.
    Close(KickReason),
    /// The same, with the app's own words for why.
    CloseWith(KickReason, Arc<str>),
    /// Tell the device that a message it sent was received or read.
    Receipt(Arc<Receipt>),
}

/// Whether a delivery or read cursor's move is told to the sender of the
/// message it reached, as a receipt (protocols whose clients ask for them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tell {
    Sender,
    Nobody,
}

/// One logged-in device.
pub struct Session {
    deps: Arc<Deps>,
    messages: MessageService,
    groups: GroupService,
    moderation: ModerationService,
    pub app: Arc<App>,
    pub user: Username,
    pub device: String,
    pub id: u64,
    events: mpsc::Receiver<LiveEvent>,
    overflowed: Arc<AtomicBool>,
    order: Order,
    /// (conversation, after, up to) ranges still to replay.
    backlog: VecDeque<(ConversationId, i64, i64)>,
    resume: HashMap<ConversationId, i64>,
    /// Messages deleted or recalled for this user only.
    hidden: Vec<HiddenRange>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.deps.hub.unregister(self.app.id, &self.user, self.id);
        self.deps.fanout.session_closed(self.app.id, &self.user);
    }
}

impl Session {
    /// The next page of messages the device missed while away, or `None`
    /// when it is up to date. Drain this before [`Session::wait`].
    pub async fn next_backlog_page(&mut self) -> Result<Option<Vec<Arc<Message>>>> {
        while let Some((conversation, after, up_to)) = self.backlog.pop_front() {
            let page = self.deps.store.messages_between(self.app.id, conversation, after, up_to, BACKLOG_PAGE).await?;
            if let Some(last) = page.last() {
                if last.seq < up_to {
                    self.backlog.push_front((conversation, last.seq, up_to));
                }
            }
            let mine: Vec<Arc<Message>> = page.into_iter().filter(|m| self.wants(m)).map(Arc::new).collect();
            if !mine.is_empty() {
                return Ok(Some(mine));
            }
        }
        Ok(None)
    }

    /// Waits for a live event or a gap timeout. Cancel-safe.
    pub async fn wait(&mut self) -> Wake {
        if self.overflowed.load(Ordering::Acquire) {
            return Wake::Closed(KickReason::SlowConsumer);
        }
        let deadline = self.order.gap_deadline();
        tokio::select! {
            event = self.events.recv() => match event {
                Some(event) => Wake::Event(event),
                None => Wake::Closed(KickReason::Shutdown),
            },
            _ = sleep_until(deadline), if deadline.is_some() => Wake::GapTimeout,
        }
    }

    /// An event already queued, without waiting: after one wake-up, a wire
    /// protocol takes what else is there and writes it all at once.
    pub fn ready(&mut self) -> Option<Wake> {
        if self.overflowed.load(Ordering::Acquire) {
            return None;
        }
        self.events.try_recv().ok().map(Wake::Event)
    }

    /// Turns a wake-up into what the device should get.
    pub async fn process(&mut self, wake: Wake) -> Result<Outcome> {
        match wake {
            Wake::Closed(reason) => Ok(Outcome::Close(reason)),
            Wake::Event(LiveEvent::Kick(reason)) => Ok(Outcome::Close(reason)),
            Wake::Event(LiveEvent::KickedByApp(why)) => Ok(Outcome::CloseWith(KickReason::KickedByApp, why)),
            Wake::Event(LiveEvent::Receipt(receipt)) => Ok(Outcome::Receipt(receipt)),
            Wake::Event(LiveEvent::Transient(message)) => {
                let mine = self.wants(&message);
                Ok(Outcome::Deliver(if mine { vec![message] } else { Vec::new() }))
            }
            Wake::Event(LiveEvent::Group(event)) => {
                self.forget_if_left(&event);
                Ok(Outcome::Notify(event))
            }
            Wake::Event(LiveEvent::Update(update)) => {
                if let Some(only) = &update.only {
                    if !only.contains(&self.user) {
                        return Ok(Outcome::Deliver(Vec::new()));
                    }
                    let m = &update.message;
                    self.hidden.push(HiddenRange { conversation: m.conversation, from: m.id, to: m.id });
                }
                Ok(Outcome::Update(update))
            }
            Wake::Event(LiveEvent::Message(message)) => {
                if self.overflowed.load(Ordering::Acquire) {
                    return Ok(Outcome::Close(KickReason::SlowConsumer));
                }
                self.accept(message).await.map(Outcome::Deliver)
            }
            Wake::GapTimeout => self.fill_gaps().await.map(Outcome::Deliver),
        }
    }

    async fn accept(&mut self, message: Arc<Message>) -> Result<Vec<Arc<Message>>> {
        let conversation = message.conversation;
        if self.order.position(conversation).is_none() {
            // The user joined this conversation after login, so all of it
            // since joining is new to this device. Not `ack_seq`: another
            // device may already have acknowledged what this one has not seen.
            let membership = self.deps.store.membership(self.app.id, &self.user, conversation).await?;
            // A message can race the user's removal from a group (it was
            // fanned out to the member list of a moment before): not theirs.
            let Some(membership) = membership else {
                return Ok(Vec::new());
            };
            let joined = membership.joined_seq;
            let start = self.resume.get(&conversation).map_or(joined, |seq| (*seq).max(joined));
            self.order.start(conversation, start);
        }
        match self.order.offer(message, Instant::now()) {
            Offered::Ready(ready) => Ok(ready.into_iter().filter(|m| self.wants(m)).collect()),
            Offered::Duplicate | Offered::Waiting => Ok(Vec::new()),
        }
    }

    /// Reads from storage whatever the waiting events are still missing.
    async fn fill_gaps(&mut self) -> Result<Vec<Arc<Message>>> {
        let mut out = Vec::new();
        for (conversation, mut after, up_to) in self.order.take_gaps() {
            while after < up_to {
                let page =
                    self.deps.store.messages_between(self.app.id, conversation, after, up_to, BACKLOG_PAGE).await?;
                let Some(last) = page.last().map(|m| m.seq) else {
                    break;
                };
                out.extend(page.into_iter().map(Arc::new).filter(|m| self.wants(m)));
                after = last;
            }
            self.order.start(conversation, after);
        }
        Ok(out)
    }

    /// Once the user is out of a conversation, this device's place in it is
    /// void: should they rejoin, they start at their new joining point, not
    /// where they left (which would replay what was said in between).
    fn forget_if_left(&mut self, event: &GroupEvent) {
        let left = match event.event {
            GroupEventKind::Destroyed => true,
            GroupEventKind::MembersRemoved | GroupEventKind::Blocked => event.users.contains(&self.user),
            _ => false,
        };
        if left {
            self.order.forget(event.conversation);
            self.resume.remove(&event.conversation);
        }
    }

    /// Whether to hand the device a message it does not have: one for it,
    /// neither recalled nor deleted (for everyone or for this user).
    fn wants(&self, message: &Message) -> bool {
        message.is_for(&self.user, &self.device)
            && message.state.is_visible()
            && !message.expired(self.deps.clock.now_ms())
            && !self.hidden.iter().any(|range| range.contains(message))
    }

    /// Sends a message as this device's user to a user (`Chat`) or to a
    /// group, chat room or thread by ID. Returns once it is committed; the
    /// device's other sessions and the receivers get it live.
    #[tracing::instrument(level = "debug", skip_all, fields(app = self.app.id.0, user = %self.user, device = %self.device, to))]
    pub async fn send(
        &self,
        kind: ChatType,
        to: &str,
        body: Body,
        ext: Option<serde_json::Value>,
    ) -> Result<Arc<Message>> {
        self.send_original(kind, to, body, ext, None).await
    }

    /// A message to a group, room or channel for whoever of it is connected
    /// now, never stored (LeanCloud's transient messages; `seq` 0).
    pub async fn send_transient(
        &self,
        kind: ChatType,
        to: &str,
        body: Body,
        original: Option<Original>,
    ) -> Result<Arc<Message>> {
        let body = self.screen(body).await?;
        if kind == ChatType::Chat {
            return Err(Error::InvalidArgument("a transient message goes to a group, room or channel".into()));
        }
        self.groups.send_transient(self.app.id, self.group_send(kind, to, body, None, original)).await
    }

    fn group_send(
        &self,
        kind: ChatType,
        to: &str,
        body: Body,
        ext: Option<serde_json::Value>,
        original: Option<Original>,
    ) -> GroupSend {
        GroupSend {
            from: self.user.clone(),
            by_app: false,
            kind,
            to: vec![to.to_owned()],
            body,
            ext,
            delivery: Delivery { sync_sender: true, online_only: false, sent_at: None },
            origin_device: Some(self.device.clone()),
            original,
            receivers: None,
        }
    }

    /// [`Session::send`], keeping the content as the protocol received it
    /// (a LeanCloud client's `data` and mentions) beside the typed body.
    pub async fn send_original(
        &self,
        kind: ChatType,
        to: &str,
        body: Body,
        ext: Option<serde_json::Value>,
        original: Option<Original>,
    ) -> Result<Arc<Message>> {
        let body = self.screen(body).await?;
        if kind != ChatType::Chat {
            let send = self.group_send(kind, to, body, ext, original);
            let mut sent = self.groups.send(self.app.id, send).await?;
            let (_, message) = sent.pop().ok_or_else(|| Error::Storage("send stored nothing".into()))?;
            return Ok(message);
        }
        let to = Username::parse(to)?;
        let send = DirectSend {
            from: self.user.clone(),
            to: vec![to],
            body,
            ext,
            delivery: Delivery { sync_sender: true, online_only: false, sent_at: None },
            origin_device: Some(self.device.clone()),
            line: 0,
            original,
        };
        let mut sent = self.messages.send_direct(self.app.id, send).await?;
        let (_, message) = sent.pop().ok_or_else(|| Error::Storage("send stored nothing".into()))?;
        Ok(message)
    }

    /// Applies the app's sensitive words to a text the user sends. This
    /// protocol acknowledges only what it stored, so a dropped message is
    /// refused here like a refused one.
    async fn screen(&self, body: Body) -> Result<Body> {
        let Body::Text { msg } = &body else {
            return Ok(body);
        };
        match self.moderation.screen(self.app.id, msg).await? {
            Screened::Clean => Ok(body),
            Screened::Refused | Screened::Dropped => Err(Refused::new(Refusal::SensitiveWords).into()),
            Screened::Replaced(msg) => Ok(Body::Text { msg }),
        }
    }

    /// Enters a chat room as this device's user; returns its conversation.
    pub async fn join_room(&self, room: &str) -> Result<ConversationId> {
        Ok(self.groups.join_room(self.app.id, room, &self.user).await?.conversation)
    }

    /// Leaves a chat room as this device's user.
    pub async fn leave_room(&self, room: &str) -> Result<()> {
        self.groups.leave_room(self.app.id, room, &self.user).await
    }

    /// The user's conversations with unread messages, newest first, at most `limit`.
    pub async fn unread(&self, limit: usize) -> Result<Vec<crate::messages::Unread>> {
        self.messages.unread_by_conversation(self.app.id, &self.user, limit).await
    }

    /// Records that the device has everything up to `seq` in `conversation`.
    pub async fn acknowledge(&self, conversation: ConversationId, seq: i64, tell: Tell) -> Result<()> {
        self.messages.acknowledge(self.app.id, &self.user, conversation, seq).await?;
        self.deps.activity.add_ack();
        self.tell(conversation, seq, ReceiptKind::Delivered, tell).await
    }

    /// Records that the user has read everything up to `seq` in `conversation`.
    pub async fn mark_read(&self, conversation: ConversationId, seq: i64, tell: Tell) -> Result<()> {
        self.messages.mark_read(self.app.id, &self.user, conversation, seq).await?;
        self.tell(conversation, seq, ReceiptKind::Read, tell).await
    }

    async fn tell(&self, conversation: ConversationId, seq: i64, kind: ReceiptKind, tell: Tell) -> Result<()> {
        match tell {
            Tell::Nobody => Ok(()),
            Tell::Sender => self.messages.tell_receipt(self.app.id, &self.user, conversation, seq, kind).await,
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
