//! Easemob's client protocol, msync, as its web SDK (`easemob-websdk`
//! 4.21.1, and `agora-chat`) speaks it: `GET /websocket` upgraded, one
//! protobuf `MSync` envelope per binary frame. The protocol as observed is
//! in `shared/research/easemob-msync/NOTES.md`; what confab does with each
//! frame is in `docs/protocol.md`.
//!
//! msync delivers by pull: the server tells a client that a queue has
//! something (`NOTICE`), the client pulls it (`SYNC` with the queue), and
//! acknowledges what it got with the batch's key on its next pull. So this
//! module keeps, per connection, the messages the session core handed over
//! in per-peer queues ([`queues`]) and moves the core's delivery cursors
//! only when a key comes back: a message the client never acknowledged is
//! delivered again on its next login. Login, ordering and resume stay the
//! session core's.

mod content;
mod events;
pub mod proto;
mod queues;
mod uploads;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{rejection::WebSocketUpgradeRejection, Message as WsMessage, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prost::Message as _;

use confab_core::error::{AuthFailure, Error};
use confab_core::events::{GroupEvent, GroupEventKind, KickReason, MessageUpdate, Receipt, ReceiptKind, UpdateKind};
use confab_core::gateway::{LoginRequest, Session};
use confab_core::groups::GroupRef;
use confab_core::model::{ChatType, ConversationId, Message, Username};
use confab_core::Core;

use super::driver::{self, Budget, End, Io, Protocol};
use events::{edit_info, ThreadInfo};
use proto::message_body::Type as BodyType;
use proto::meta::NameSpace;
use proto::msync::Command;
use proto::statistics_body::Operation as KickOperation;
use proto::status::ErrorCode;
use proto::{CommSyncDL, CommUnreadDL, Jid, MSync, MessageBody, Meta, Provision, StatisticsBody, Status};
use queues::{Item, Queues};

/// Largest frame a client may send: a message's content and `ext` (the
/// vendor's limit for a message is 5 KB of text; `ext` adds to it).
const MAX_FRAME: usize = 64 * 1024;

/// The domain of users' JIDs, and of groups' and chat rooms' (the vendor's).
pub const USER_DOMAIN: &str = "easemob.com";
pub const GROUP_DOMAIN: &str = "conference.easemob.com";

/// A JID of the app `app_key` (`org#app`).
fn jid(app_key: &str, name: &str, domain: &str) -> Jid {
    Jid {
        app_key: Some(app_key.to_owned()),
        name: Some(name.to_owned()),
        domain: Some(domain.to_owned()),
        client_resource: None,
    }
}

/// A stored message as the `CHAT` meta the SDK decodes: what a live
/// delivery carries, and what history roaming (`messageroaming`) returns.
pub fn message_meta(app_key: &str, message: &Message) -> Meta {
    meta_with(app_key, message, None)
}

/// [`message_meta`] with the body's `meta` JSON (a thread message's thread).
fn meta_with(app_key: &str, message: &Message, body_meta: Option<String>) -> Meta {
    let (kind, domain) = body_type(message.chat_type);
    let ext = match &message.ext {
        Some(serde_json::Value::Object(map)) => content::key_values(map),
        _ => Vec::new(),
    };
    let body = MessageBody {
        r#type: Some(kind as i32),
        from: Some(Jid { name: Some(message.from.to_string()), ..Default::default() }),
        to: Some(Jid { name: Some(message.to.clone()), ..Default::default() }),
        contents: vec![content::content_of(&message.body)],
        ext,
        meta: body_meta,
        ..Default::default()
    };
    let mut from = jid(app_key, message.from.as_str(), USER_DOMAIN);
    from.client_resource = message.origin_device.clone();
    Meta {
        id: Some(message.id.0),
        from: Some(from),
        to: Some(jid(app_key, &message.to, domain)),
        timestamp: u64::try_from(message.timestamp_ms).ok(),
        ns: Some(NameSpace::Chat as i32),
        payload: Some(body.encode_to_vec()),
        ..Default::default()
    }
}

/// `GET /websocket` upgraded: msync. Anything else there is not found.
pub async fn upgrade(
    State(state): State<super::State>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(ws) = ws else {
        return StatusCode::NOT_FOUND.into_response();
    };
    driver::upgrade(state, ws, Msync::default())
}

/// One msync connection's state.
#[derive(Default)]
pub(super) struct Msync {
    /// The app key the client named (`org#app`), repeated in JIDs.
    app_key: String,
    /// What was handed over and not yet acknowledged, per peer.
    queues: Queues,
    /// IDs for what the server sends that is not a stored message
    /// (receipts, recalls): unique per connection, as the SDK de-duplicates
    /// by ID.
    next_id: u64,
    /// The user, once logged in (a kick's queue names them).
    user: String,
    /// Per peer (queue name), the conversation and the newest message
    /// handed over in it: what a conversation read ("channel ack") reads up to.
    seen: HashMap<String, (ConversationId, i64)>,
    /// The threads the user is in, by ID: a thread message names its group,
    /// the message it started from and its name (the SDK's `chatThread`),
    /// and delivery is not the place to read them from storage.
    threads: HashMap<String, ThreadInfo>,
}

/// Peers remembered for conversation reads, and threads for their
/// messages; past it the memory starts again.
const MAX_SEEN: usize = 4096;

impl Msync {
    fn jid(&self, name: &str, domain: &str) -> Jid {
        jid(&self.app_key, name, domain)
    }

    /// The queue a message of a conversation comes in: the other user's
    /// for one-to-one, the group's or room's otherwise.
    fn queue_of(&self, me: &Username, chat_type: ChatType, from: &Username, to: &str) -> Jid {
        match chat_type {
            ChatType::Chat | ChatType::Broadcast if from == me => self.jid(to, USER_DOMAIN),
            ChatType::Chat | ChatType::Broadcast => self.jid(from.as_str(), USER_DOMAIN),
            _ => self.jid(to, GROUP_DOMAIN),
        }
    }

    /// A meta that is not a stored message (a receipt, a recall), `body`
    /// from `from` to `to`.
    fn signal(&mut self, now_ms: i64, from: &str, to: &Jid, body: MessageBody) -> Meta {
        let from = self.jid(from, USER_DOMAIN);
        self.server_meta(now_ms, Some(from), to.clone(), NameSpace::Chat, body.encode_to_vec())
    }

    /// A meta the server makes (a signal, an event, a notification) at
    /// `at_ms`, with an ID unique on this connection, as the SDK
    /// de-duplicates by ID.
    fn server_meta(&mut self, at_ms: i64, from: Option<Jid>, to: Jid, ns: NameSpace, payload: Vec<u8>) -> Meta {
        self.next_id = self.next_id.max(confab_core::ids::MessageId::first_at(at_ms).0) + 1;
        Meta {
            id: Some(self.next_id),
            from,
            to: Some(to),
            timestamp: u64::try_from(at_ms).ok(),
            ns: Some(ns as i32),
            payload: Some(payload),
            ..Default::default()
        }
    }

    /// Puts an item in its queue; the `NOTICE` to write, when the client
    /// has not been told of that queue yet.
    fn enqueue(&mut self, queue: Jid, item: Item) -> Option<WsMessage> {
        match self.queues.push(queue, item) {
            queues::Pushed::Notice(queue) => {
                let notice = proto::CommNotice { queue: Some(queue) };
                Some(frame(Command::Notice, notice.encode_to_vec()))
            }
            queues::Pushed::Quiet => None,
        }
    }
}

/// The msync type and JID domain of a conversation kind.
fn body_type(chat_type: ChatType) -> (BodyType, &'static str) {
    match chat_type {
        ChatType::Chat | ChatType::Broadcast => (BodyType::Chat, USER_DOMAIN),
        ChatType::ChatRoom => (BodyType::Chatroom, GROUP_DOMAIN),
        ChatType::GroupChat | ChatType::Thread | ChatType::Channel => (BodyType::Groupchat, GROUP_DOMAIN),
    }
}

/// One envelope as a frame.
fn frame(command: Command, payload: Vec<u8>) -> WsMessage {
    let envelope = MSync { command: Some(command as i32), payload: Some(payload), ..Default::default() };
    WsMessage::Binary(envelope.encode_to_vec().into())
}

fn ok() -> Status {
    Status { error_code: Some(ErrorCode::Ok as i32), ..Default::default() }
}

fn status(code: ErrorCode, reason: &str) -> Status {
    Status { error_code: Some(code as i32), reason: Some(reason.to_owned()), ..Default::default() }
}

/// A frame as an envelope; `Err` is the frame that tells the client why not.
fn decode(frame: &WsMessage) -> Result<MSync, WsMessage> {
    let WsMessage::Binary(bytes) = frame else {
        return Err(broken("msync frames are binary"));
    };
    MSync::decode(bytes.as_ref()).map_err(|e| broken(&format!("not an msync envelope: {e}")))
}

/// What a broken frame gets before its connection closes: a sync answer
/// whose status is the protocol's parser error.
fn broken(why: &str) -> WsMessage {
    let answer = CommSyncDL { status: Some(status(ErrorCode::PbParserError, why)), ..Default::default() };
    frame(Command::Sync, answer.encode_to_vec())
}

/// A login's refusal as the SDK maps it (an expired token is FAIL with the
/// vendor's words; a bad one UNAUTHORIZED).
fn refused_login(error: &Error) -> Status {
    match error {
        Error::Unauthenticated(AuthFailure::ExpiredToken) => status(ErrorCode::Fail, "Sorry, token expired"),
        Error::Unauthenticated(_) => {
            status(ErrorCode::Unauthorized, "Sorry, token or password does not match login info")
        }
        Error::Deactivated(_) => status(ErrorCode::Unauthorized, "Sorry, user is deactivated"),
        Error::InvalidArgument(why) => status(ErrorCode::WrongParameter, why),
        _ => status(ErrorCode::Fail, "the server could not log you in; try again"),
    }
}

impl Protocol for Msync {
    const NAME: &'static str = "easemob";
    const MAX_FRAME: usize = MAX_FRAME;
    /// The SDK sends `UNREAD` after 30 s without a frame from the server.
    const IDLE: Duration = Duration::from_secs(120);
    /// The SDK gives up on its `PROVISION` after 10 s.
    const LOGIN: Duration = Duration::from_secs(15);

    async fn login(&mut self, core: &Arc<Core>, io: &mut Io) -> Option<Session> {
        let frame_in = io.next_within(Self::LOGIN).await.ok()??;
        let envelope = match decode(&frame_in) {
            Ok(envelope) => envelope,
            Err(answer) => {
                let _ = io.send(answer).await;
                return None;
            }
        };
        let provision = match envelope.command {
            Some(c) if c == Command::Provision as i32 => {
                Provision::decode(envelope.payload.as_deref().unwrap_or_default()).unwrap_or_default()
            }
            _ => {
                let refusal = Provision {
                    status: Some(status(ErrorCode::MissingParameter, "log in first")),
                    ..Default::default()
                };
                let _ = io.send(frame(Command::Provision, refusal.encode_to_vec())).await;
                return None;
            }
        };
        let guid = envelope.guid.unwrap_or_default();
        self.app_key = guid.app_key.clone().unwrap_or_default();
        let token = envelope.auth.as_deref().or(provision.auth.as_deref()).unwrap_or_default();
        let token = token.strip_prefix("$t$").unwrap_or(token).to_owned();
        let resource = provision.resource.clone().filter(|r| !r.is_empty());
        let request = LoginRequest { token, device: resource.clone(), resume: Default::default() };
        let session = match core.gateway.login(request).await {
            Ok(session) => session,
            Err(e) => {
                tracing::info!("easemob login refused: {e}");
                let refusal = Provision { status: Some(refused_login(&e)), ..Default::default() };
                let _ = io.send(frame(Command::Provision, refusal.encode_to_vec())).await;
                return None;
            }
        };
        // The token names the user; a client naming another (or another
        // app) is refused as a token that does not match its login.
        let named = guid.name.as_deref().unwrap_or_default();
        let app_key = format!("{}#{}", session.app.org, session.app.name);
        let same_app = self.app_key.is_empty() || self.app_key.eq_ignore_ascii_case(&app_key);
        if !named.eq_ignore_ascii_case(session.user.as_str()) || !same_app {
            let mismatch = Error::Unauthenticated(AuthFailure::BadToken);
            let refusal = Provision { status: Some(refused_login(&mismatch)), ..Default::default() };
            let _ = io.send(frame(Command::Provision, refusal.encode_to_vec())).await;
            return None;
        }
        self.app_key = app_key;
        self.user = session.user.to_string();
        // Before the backlog: its thread messages name their threads.
        match core.groups.joined(session.app.id, ChatType::Thread, &session.user).await {
            Ok(threads) => {
                for thread in threads.iter().take(MAX_SEEN) {
                    self.threads.insert(thread.id.clone(), ThreadInfo::of(thread));
                }
            }
            Err(e) => tracing::warn!("cannot read the user's threads: {e}"),
        }
        let welcome = Provision { status: Some(ok()), resource: Some(session.device.clone()), ..Default::default() };
        io.send(frame(Command::Provision, welcome.encode_to_vec())).await.ok()?;
        tracing::info!(user = %session.user, device = %session.device, "easemob session opened");
        Some(session)
    }

    /// Nothing: the SDK asks (`UNREAD`) right after its login.
    async fn synced(&mut self, _: &Session) -> Vec<WsMessage> {
        Vec::new()
    }

    async fn frame(
        &mut self,
        session: &Session,
        budget: Budget<'_>,
        frame_in: WsMessage,
        io: &mut Io,
    ) -> Result<(), End> {
        let envelope = match decode(&frame_in) {
            Ok(envelope) => envelope,
            Err(answer) => {
                let _ = io.send(answer).await;
                return Err(End);
            }
        };
        let payload = envelope.payload.unwrap_or_default();
        let command = envelope.command.and_then(|c| Command::try_from(c).ok());
        match command {
            Some(Command::Unread) => {
                let now = budget.core().now_ms();
                let unread = CommUnreadDL {
                    status: Some(ok()),
                    unread: self.queues.summary(),
                    timestamp: u64::try_from(now).ok(),
                };
                io.send(frame(Command::Unread, unread.encode_to_vec())).await.map_err(End::from)
            }
            Some(Command::Sync) => {
                let Ok(sync) = proto::CommSyncUL::decode(payload.as_slice()) else {
                    let _ = io.send(broken("not a sync request")).await;
                    return Err(End);
                };
                let answer = match (sync.meta, sync.queue) {
                    (Some(meta), _) => self.upload(session, budget, meta).await,
                    (None, Some(queue)) => self.pull(session, budget, queue, sync.key).await,
                    (None, None) => CommSyncDL {
                        status: Some(status(ErrorCode::MissingParameter, "sync what?")),
                        ..Default::default()
                    },
                };
                io.send(frame(Command::Sync, answer.encode_to_vec())).await.map_err(End::from)?;
                if self.queues.drained_after_overflow() {
                    // It held back what did not fit; a new login gets it.
                    return Err(End);
                }
                Ok(())
            }
            Some(Command::Logout) => {
                let bye = proto::Logout { status: Some(ok()), ..Default::default() };
                let _ = io.send(frame(Command::Logout, bye.encode_to_vec())).await;
                Err(End)
            }
            Some(Command::Provision) => {
                let again =
                    Provision { status: Some(ok()), resource: Some(session.device.clone()), ..Default::default() };
                io.send(frame(Command::Provision, again.encode_to_vec())).await.map_err(End::from)
            }
            Some(Command::Notice) => Ok(()),
            None => {
                let _ = io.send(broken("unknown command")).await;
                Err(End)
            }
        }
    }

    fn message(&mut self, session: &Session, message: &Arc<Message>) -> Option<WsMessage> {
        if !message.state.is_visible() {
            return None;
        }
        let queue = self.queue_of(&session.user, message.chat_type, &message.from, &message.to);
        let thread = match message.chat_type {
            ChatType::Thread => self.threads.get(&message.to).map(ThreadInfo::body_meta),
            _ => None,
        };
        let meta = meta_with(&self.app_key, message, thread);
        let ack = (message.seq > 0).then_some((message.conversation, message.seq));
        if let Some(at) = ack {
            if self.seen.len() >= MAX_SEEN {
                self.seen.clear();
            }
            self.seen.insert(queue.name.clone().unwrap_or_default(), at);
        }
        self.enqueue(queue, Item { meta, ack })
    }

    /// A group or chat-room event as the SDK's MUC meta (its onGroupEvent
    /// and onChatroomEvent), in the group's queue.
    async fn group_event(&mut self, session: &Session, core: &Core, event: &GroupEvent) -> Option<WsMessage> {
        if event.kind == ChatType::Thread {
            return self.thread_event(session, core, event).await;
        }
        let muc = self.muc_of(session, event)?;
        let queue = self.jid(&event.group, GROUP_DOMAIN);
        let now = event.timestamp_ms;
        let to = self.jid(session.user.as_str(), USER_DOMAIN);
        let meta = self.server_meta(now, muc.from.clone(), to, NameSpace::Muc, muc.encode_to_vec());
        self.enqueue(queue, Item { meta, ack: None })
    }

    /// A recall, as the SDK's RECALL message naming the recalled one; an
    /// edit, as its EDIT message with the new content and the edit's count.
    fn update(&mut self, session: &Session, update: &MessageUpdate) -> Option<WsMessage> {
        match update.change {
            UpdateKind::Recalled => self.recalled(session, update),
            UpdateKind::Edited => self.edited(session, update),
            _ => None,
        }
    }

    /// A receipt, as the SDK's DELIVER_ACK or READ_ACK naming the message.
    fn receipt(&mut self, session: &Session, receipt: &Receipt) -> Vec<WsMessage> {
        let kind = match receipt.kind {
            ReceiptKind::Delivered => BodyType::DeliverAck,
            ReceiptKind::Read => BodyType::ReadAck,
        };
        let me = session.user.to_string();
        let queue = self.queue_of(&session.user, receipt.chat_type, &receipt.by, &me);
        let to = self.jid(&me, USER_DOMAIN);
        let body = MessageBody {
            r#type: Some(kind as i32),
            from: Some(Jid { name: Some(receipt.by.to_string()), ..Default::default() }),
            to: Some(Jid { name: Some(me.clone()), ..Default::default() }),
            ack_message_id: Some(receipt.message.0),
            ..Default::default()
        };
        let meta = self.signal(receipt.at_ms, receipt.by.as_str(), &to, body);
        self.enqueue(queue, Item { meta, ack: None }).into_iter().collect()
    }

    /// A kick the SDK should not come back from is a STATISTIC meta with
    /// the vendor's operation, pushed unasked; the connection then closes
    /// and the SDK does not reconnect. A session that fell behind, or a
    /// server stopping, just closes: the SDK reconnects and resumes.
    fn kicked(&mut self, reason: KickReason, detail: Option<&str>) -> Vec<WsMessage> {
        let operation = match reason {
            KickReason::Replaced => KickOperation::UserLoginAnotherDevice,
            KickReason::CredentialsChanged => KickOperation::UserKickedByChangePassword,
            KickReason::Deactivated => KickOperation::UserRemoved,
            KickReason::Disconnected | KickReason::KickedByApp => KickOperation::UserKickedByOtherDevice,
            KickReason::Shutdown | KickReason::SlowConsumer => return Vec::new(),
        };
        let kick = StatisticsBody {
            operation: Some(operation as i32),
            reason: detail.map(str::to_owned),
            ..Default::default()
        };
        // Every meta names a sender: agora-chat 1.4 reads `from.name` unchecked.
        let me = self.jid(&self.user, USER_DOMAIN);
        let meta = Meta {
            id: Some(self.next_id.wrapping_add(1)),
            from: Some(me.clone()),
            to: Some(me),
            ns: Some(NameSpace::Statistic as i32),
            payload: Some(kick.encode_to_vec()),
            ..Default::default()
        };
        let queue = self.jid(&self.user, USER_DOMAIN);
        let push = CommSyncDL { status: Some(ok()), queue: Some(queue), metas: vec![meta], ..Default::default() };
        vec![frame(Command::Sync, push.encode_to_vec())]
    }
}
