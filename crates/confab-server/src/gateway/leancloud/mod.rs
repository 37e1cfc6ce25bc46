//! LeanCloud's real-time protocol (`lc.protobuf2.3`, and its base64 text
//! twin `lc.proto2base64.3`), as the vendor's SDK `leancloud-realtime`
//! speaks it: framing and mapping over the session core, nothing more.
//!
//! A connection is a WebSocket on `/` asking for one of the two
//! subprotocols (the SDK finds it through the dialect's `/v1/route`). Every
//! frame is one `GenericCommand`; a command the client waits for carries a
//! serial number `i` that the answer repeats. Here: framing, the command
//! switch and what the session core pushes (messages, edits and recalls,
//! membership events, kicks); `session.rs` opens sessions, `messages.rs`
//! sends, acknowledges, pages history, edits and marks read,
//! `conversations.rs` makes, finds and changes conversations, `errors.rs`
//! holds the vendor's error codes and the commands that carry them. A command not
//! served yet is answered with an `error` naming it, and the session goes
//! on (docs/protocol.md lists both).

mod conversations;
mod errors;
mod messages;
pub(super) mod proto;
mod session;

use conversations::{conv_type, find, membership, query, start};
use conversations::{count, max_read, notifications, update};
use errors::{code, error_command, rejected_by_app};
use messages::{logs, mentions_of, patch, read};
use session::{refusal_reason, session_closed};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{rejection::WebSocketUpgradeRejection, Message as WsMessage, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use prost::Message as _;

use confab_core::error::{AuthFailure, Error};
use confab_core::events::{GroupEvent, GroupEventKind, KickReason, MessageUpdate, Receipt, ReceiptKind, UpdateKind};
use confab_core::gateway::{LoginRequest, Session, Tell};
use confab_core::groups::GroupRef;
use confab_core::model::{App, ChatType, ConversationId, Group, Message, Original, Username};
use confab_core::storage::{MessageQuery, TimeBound};
use confab_core::Core;

use super::driver::{self, Budget, End, Io, Protocol};
use crate::leancloud_model::Notifications;
use proto::{
    AckCommand, CommandType, ConvCommand, DirectCommand, ErrorCommand, GenericCommand, JsonObjectMessage, OpType,
    SessionCommand,
};

/// The subprotocols, binary first as the SDK prefers it.
const BINARY: &str = "lc.protobuf2.3";
const BASE64: &str = "lc.proto2base64.3";

/// Largest client frame. The vendor's messages are at most 5 KB of content;
/// the command around one is small.
const MAX_FRAME: usize = 16 * 1024;

/// How long a session token (`st`) lets a client reopen its session after
/// losing its connection, in seconds (the vendor's default is two days).
const SESSION_TOKEN_TTL: i64 = 2 * 24 * 60 * 60;

/// Messages handed to the device and not yet acknowledged, by message ID,
/// kept at most: past this the oldest are forgotten (their acknowledgement
/// then moves no cursor; the next one's does, cursors being monotone).
const MAX_PENDING: usize = 4096;

/// Messages a client waits receipts for, kept at most: past this the oldest
/// are forgotten (the SDK then only misses their status change; its
/// `lastDeliveredAt`/`lastReadAt` still move with later receipts).
const MAX_AWAITED: usize = 1024;

/// Conversations an unread notification names at most, newest first.
const MAX_UNREAD_CONVERSATIONS: usize = 200;

/// How commands travel on this connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// `lc.protobuf2.3`: binary frames.
    Binary,
    /// `lc.proto2base64.3`: text frames holding base64.
    Base64,
}

pub(super) struct LeanCloud {
    format: Format,
    /// The app's LeanCloud ID, repeated in what the server sends.
    app_id: String,
    /// Messages handed over, awaiting the client's `ack`, by message ID.
    pending: HashMap<String, Pending>,
    /// Messages this client sent asking for receipts (`r`), oldest first.
    awaiting: Vec<Awaited>,
    /// The client's `will` message, sent for it if the connection ends
    /// without `session close`. Boxed: few clients leave one, and inline it
    /// was most of what every idle session's state weighs.
    will: Option<Box<Will>>,
    /// The client closed its session (`session close`): no `will`.
    closed: bool,
    /// What the app's conversation hooks are called with.
    hooks: Option<Arc<crate::fetch::Fetcher>>,
    /// Why the server closed the session, in `_clientOffline`'s words (3 a
    /// tag conflict, 4 kicked); none when the client went away.
    close_code: Option<i32>,
    /// The core, once logged in (for `_clientOffline` when the connection ends).
    core: Option<Arc<Core>>,
}

/// A `will` message, as it will be sent.
struct Will {
    kind: ChatType,
    cid: String,
    body: confab_core::model::Body,
    original: Original,
}

/// A message whose sender waits for its receipts.
struct Awaited {
    conversation: ConversationId,
    seq: i64,
    mid: String,
    /// Its delivery receipt went out; the read one has not yet.
    delivered: bool,
}

/// A message handed to the client and not yet acknowledged.
struct Pending {
    conversation: ConversationId,
    seq: i64,
    /// The conversation's LeanCloud ID and the message's timestamp: the SDK
    /// acknowledges a conversation's messages by time range (`fromts`..`tots`).
    cid: String,
    timestamp: i64,
}

/// `GET /` with a WebSocket upgrade asking for `lc.protobuf2.3` or
/// `lc.proto2base64.3`; anything else on `/` is not found.
pub async fn upgrade(
    State(state): State<super::State>,
    fetcher: Option<axum::Extension<Arc<crate::fetch::Fetcher>>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(ws) = ws else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let ws = ws.protocols([BINARY, BASE64]);
    let format = match ws.selected_protocol().and_then(|p| p.to_str().ok()) {
        Some(BINARY) => Format::Binary,
        Some(BASE64) => Format::Base64,
        _ => {
            let why = format!("ask for the subprotocol {BINARY} or {BASE64}");
            return (StatusCode::BAD_REQUEST, why).into_response();
        }
    };
    driver::upgrade(
        state,
        ws,
        LeanCloud {
            format,
            app_id: String::new(),
            pending: HashMap::new(),
            awaiting: Vec::new(),
            will: None,
            closed: false,
            hooks: fetcher.map(|e| e.0),
            close_code: None,
            core: None,
        },
    )
}

impl LeanCloud {
    fn encode(&self, command: &GenericCommand) -> WsMessage {
        let bytes = command.encode_to_vec();
        match self.format {
            Format::Binary => WsMessage::Binary(bytes.into()),
            Format::Base64 => WsMessage::Text(base64::engine::general_purpose::STANDARD.encode(bytes).into()),
        }
    }

    /// A frame as a command; `Err` is the `error` command to answer.
    fn decode(&self, frame: &WsMessage) -> Result<GenericCommand, GenericCommand> {
        let bytes = match (self.format, frame) {
            (Format::Binary, WsMessage::Binary(bytes)) => bytes.to_vec(),
            (Format::Base64, WsMessage::Text(text)) => base64::engine::general_purpose::STANDARD
                .decode(text.as_str().trim())
                .map_err(|e| error_command(None, code::INVALID_LOGIN, &format!("not base64: {e}")))?,
            _ => return Err(error_command(None, code::INVALID_LOGIN, "frames must match the subprotocol")),
        };
        GenericCommand::decode(bytes.as_slice())
            .map_err(|e| error_command(None, code::INVALID_LOGIN, &format!("not a command: {e}")))
    }

    async fn answer(&self, io: &mut Io, command: &GenericCommand) -> Result<(), End> {
        io.send(self.encode(command)).await.map_err(End::from)
    }
}

impl Protocol for LeanCloud {
    const NAME: &'static str = "leancloud";
    const MAX_FRAME: usize = MAX_FRAME;
    /// The SDK pings every three minutes and gives up after six and a bit.
    const IDLE: Duration = Duration::from_secs(6 * 60 + 30);
    const LOGIN: Duration = Duration::from_secs(20);

    async fn login(&mut self, core: &Arc<Core>, io: &mut Io) -> Option<Session> {
        loop {
            let frame = match io.next_within(Self::LOGIN).await {
                Ok(Some(frame)) => frame,
                Ok(None) | Err(_) => return None,
            };
            let command = match self.decode(&frame) {
                Ok(command) => command,
                Err(error) => {
                    let _ = self.answer(io, &error).await;
                    return None;
                }
            };
            let is_open = command.cmd == Some(CommandType::Session as i32) && command.op == Some(OpType::Open as i32);
            if !is_open {
                let refusal = error_command(command.i, code::SESSION_REQUIRED, "open a session first");
                self.answer(io, &refusal).await.ok()?;
                continue;
            }
            match self.open(core, &command).await {
                Ok((session, opened)) => {
                    tracing::info!(user = %session.user, device = %session.device, "leancloud session opened");
                    self.answer(io, &opened).await.ok()?;
                    self.core = Some(core.clone());
                    if let Some(fetcher) = &self.hooks {
                        let online =
                            serde_json::json!({"peerId": session.user.as_str(), "tag": session.device, "reconnect": 0});
                        let hook = crate::callbacks::hooks::CLIENT_ONLINE;
                        crate::callbacks::tell_leancloud(core, fetcher, &session.app, hook, online).await;
                    }
                    return Some(session);
                }
                Err(code) => {
                    tracing::info!(code, "leancloud session refused");
                    let _ = self.answer(io, &session_closed(command.i, code, refusal_reason(code))).await;
                    return None;
                }
            }
        }
    }

    /// The SDK's unread notification: per conversation with messages from
    /// others not read, how many and the newest, after the missed messages
    /// themselves went out (the SDK then holds the server's counts).
    async fn synced(&mut self, session: &Session) -> Vec<WsMessage> {
        let unread = match session.unread(MAX_UNREAD_CONVERSATIONS).await {
            Ok(unread) => unread,
            Err(e) => {
                tracing::warn!("reading unread counts failed: {e}");
                return Vec::new();
            }
        };
        if unread.is_empty() {
            return Vec::new();
        }
        let newest = unread.iter().map(|u| u.last.timestamp_ms).max();
        let convs = unread
            .iter()
            .filter(|u| shown(&u.last))
            .map(|u| {
                let last = &u.last;
                let (mention_all, mentions) = mentions_of(last);
                let me = session.user.as_str();
                proto::UnreadTuple {
                    cid: last.to.clone(),
                    unread: i32::try_from(u.count).unwrap_or(i32::MAX),
                    mid: Some(last.id.to_string()),
                    timestamp: Some(last.timestamp_ms),
                    from: Some(last.from.to_string()),
                    data: wire_content(last).0,
                    binary_msg: wire_content(last).1,
                    patch_timestamp: Some(last.state.at_ms()).filter(|at| *at > 0),
                    mentioned: (mention_all || mentions.iter().any(|m| m == me)).then_some(true),
                    conv_type: Some(conv_type(last.chat_type, &last.to)),
                    ..Default::default()
                }
            })
            .collect();
        let command = GenericCommand {
            cmd: Some(CommandType::Unread as i32),
            peer_id: Some(session.user.to_string()),
            unread_message: Some(proto::UnreadCommand { convs, notif_time: newest }),
            ..Default::default()
        };
        vec![self.encode(&command)]
    }

    async fn frame(&mut self, session: &Session, budget: Budget<'_>, frame: WsMessage, io: &mut Io) -> Result<(), End> {
        let command = match self.decode(&frame) {
            Ok(command) => command,
            Err(error) => {
                // A broken frame ends only this connection.
                let _ = self.answer(io, &error).await;
                return Err(End);
            }
        };
        let cmd = command.cmd.and_then(|c| CommandType::try_from(c).ok());
        let op = command.op.and_then(|o| OpType::try_from(o).ok());
        match (cmd, op) {
            (Some(CommandType::Session), Some(OpType::Close)) => {
                self.closed = true;
                let closed = GenericCommand {
                    cmd: Some(CommandType::Session as i32),
                    op: Some(OpType::Closed as i32),
                    i: command.i,
                    ..Default::default()
                };
                let _ = self.answer(io, &closed).await;
                Err(End)
            }
            (Some(CommandType::Session), Some(OpType::Open)) => {
                self.answer(io, &error_command(command.i, code::SESSION_CONFLICT, "this session is open")).await
            }
            (Some(CommandType::Direct), _) => {
                let answer = self.direct(session, budget, &command).await;
                self.answer(io, &answer).await
            }
            (Some(CommandType::Ack), _) => {
                self.acknowledged(session, &command).await;
                Ok(())
            }
            (Some(CommandType::Conv), Some(OpType::Start)) => {
                let answer = start(session, budget, self.hooks.as_ref(), &command).await;
                self.answer(io, &answer).await
            }
            (Some(CommandType::Patch), Some(OpType::Modify)) => {
                let answer = patch(session, budget, self.hooks.as_deref(), &command).await;
                self.answer(io, &answer).await
            }
            (Some(CommandType::Read), _) => {
                read(session, budget, &command).await;
                let done = GenericCommand { cmd: Some(CommandType::Read as i32), i: command.i, ..Default::default() };
                self.answer(io, &done).await
            }
            (Some(CommandType::Logs), _) => {
                let answer = logs(session, budget, &command).await;
                self.answer(io, &answer).await
            }
            (Some(CommandType::Conv), Some(op @ (OpType::Add | OpType::Remove))) => {
                let answer = membership(session, budget, self.hooks.as_ref(), &command, op).await;
                self.answer(io, &answer).await
            }
            (Some(CommandType::Echo), _) => {
                // The SDK's heartbeat, every three minutes.
                let echo = GenericCommand { cmd: Some(CommandType::Echo as i32), i: command.i, ..Default::default() };
                self.answer(io, &echo).await
            }
            (Some(CommandType::Conv), Some(OpType::Count)) => {
                let answer = count(session, budget, &command).await;
                self.answer(io, &answer).await
            }
            (Some(CommandType::Conv), Some(op @ (OpType::Mute | OpType::Unmute))) => {
                let to = if op == OpType::Mute { Notifications::Off } else { Notifications::On };
                let answer = notifications(session, budget, self.hooks.as_deref(), &command, to).await;
                self.answer(io, &answer).await
            }
            (Some(CommandType::Conv), Some(OpType::Update)) => {
                let answer = update(session, budget, self.hooks.as_deref(), &command).await;
                self.answer(io, &answer).await
            }
            (Some(CommandType::Conv), Some(OpType::MaxRead)) => {
                let answer = max_read(session, budget, &command).await;
                self.answer(io, &answer).await
            }
            (Some(CommandType::Conv), Some(OpType::Query)) => {
                let answer = query(session, budget, &command).await;
                self.answer(io, &answer).await
            }
            (None, _) => {
                // Not a command of the protocol: a broken client, whose
                // connection ends like one sending broken frames.
                let what = format!("command {:?} does not exist", command.cmd);
                let _ = self.answer(io, &error_command(command.i, code::INVALID_LOGIN, &what)).await;
                Err(End)
            }
            _ => {
                let what = format!("command {:?} {:?} is not served", command.cmd, command.op);
                self.answer(io, &error_command(command.i, code::UNSUPPORTED, &what)).await
            }
        }
    }

    fn message(&mut self, session: &Session, message: &Arc<Message>) -> Option<WsMessage> {
        if !shown(message) {
            return None;
        }
        let mid = message.id.to_string();
        if message.seq > 0 {
            if self.pending.len() >= MAX_PENDING {
                self.pending.clear();
            }
            let pending = Pending {
                conversation: message.conversation,
                seq: message.seq,
                cid: message.to.clone(),
                timestamp: message.timestamp_ms,
            };
            self.pending.insert(mid.clone(), pending);
        }
        let (mention_all, mentions) = mentions_of(message);
        let (msg, binary_msg) = wire_content(message);
        let direct = DirectCommand {
            msg,
            binary_msg,
            cid: Some(message.to.clone()),
            id: Some(mid),
            from_peer_id: Some(message.from.to_string()),
            timestamp: Some(message.timestamp_ms),
            transient: (message.seq == 0).then_some(true),
            mention_all: mention_all.then_some(true),
            mention_pids: mentions,
            conv_type: Some(conv_type(message.chat_type, &message.to)),
            ..Default::default()
        };
        let command = GenericCommand {
            cmd: Some(CommandType::Direct as i32),
            peer_id: Some(session.user.to_string()),
            app_id: Some(self.app_id.clone()),
            direct_message: Some(direct),
            ..Default::default()
        };
        Some(self.encode(&command))
    }

    /// Members joining and leaving, blocked and muted, as the SDK's INVITED,
    /// KICKED, BLOCKED, UNBLOCKED, MUTED, UNMUTED (about this client) and
    /// MEMBERS_JOINED, MEMBERS_LEFT, MEMBERS_BLOCKED, MEMBERS_UNBLOCKED,
    /// MEMBERS_MUTED, MEMBERS_UNMUTED (about others); a change of the
    /// conversation's name or fields as its INFO_UPDATED. Other group events
    /// have no LeanCloud command.
    async fn group_event(&mut self, session: &Session, core: &Core, event: &GroupEvent) -> Option<WsMessage> {
        if event.event == GroupEventKind::Updated {
            return self.info_updated(session, core, event).await;
        }
        let me = event.users.contains(&session.user);
        let op = match (event.event, me) {
            (GroupEventKind::MembersAdded, true) => OpType::Joined,
            (GroupEventKind::MembersAdded, false) => OpType::MembersJoined,
            (GroupEventKind::MembersRemoved, true) => OpType::Left,
            (GroupEventKind::MembersRemoved, false) => OpType::MembersLeft,
            (GroupEventKind::Blocked, true) => OpType::Blocked,
            (GroupEventKind::Blocked, false) => OpType::MembersBlocked,
            (GroupEventKind::Unblocked, true) => OpType::Unblocked,
            (GroupEventKind::Unblocked, false) => OpType::MembersUnblocked,
            (GroupEventKind::Muted, true) => OpType::Shutuped,
            (GroupEventKind::Muted, false) => OpType::MembersShutuped,
            (GroupEventKind::Unmuted, true) => OpType::Unshutuped,
            (GroupEventKind::Unmuted, false) => OpType::MembersUnshutuped,
            _ => return None,
        };
        let command = GenericCommand {
            cmd: Some(CommandType::Conv as i32),
            op: Some(op as i32),
            peer_id: Some(session.user.to_string()),
            conv_message: Some(ConvCommand {
                cid: Some(event.group.clone()),
                m: event.users.iter().map(Username::to_string).collect(),
                ..Default::default()
            }),
            ..Default::default()
        };
        Some(self.encode(&command))
    }

    /// An edit or recall, as the SDK's `patch modify` (its MESSAGE_UPDATE
    /// and MESSAGE_RECALL events). LeanCloud has no deletion to tell.
    fn update(&mut self, session: &Session, update: &MessageUpdate) -> Option<WsMessage> {
        let message = &update.message;
        if !shown(message) {
            return None;
        }
        let recall = match update.change {
            UpdateKind::Edited => false,
            UpdateKind::Recalled => true,
            UpdateKind::Deleted => return None,
        };
        let (mention_all, mentions) = mentions_of(message);
        let patch = proto::PatchItem {
            cid: Some(message.to.clone()),
            mid: Some(message.id.to_string()),
            timestamp: Some(message.timestamp_ms),
            recall: Some(recall),
            data: wire_content(message).0,
            binary_msg: wire_content(message).1,
            patch_timestamp: Some(message.state.at_ms()),
            from: Some(message.from.to_string()),
            mention_all: mention_all.then_some(true),
            mention_pids: mentions,
            ..Default::default()
        };
        let command = GenericCommand {
            cmd: Some(CommandType::Patch as i32),
            op: Some(OpType::Modify as i32),
            peer_id: Some(session.user.to_string()),
            patch_message: Some(proto::PatchCommand { patches: vec![patch], ..Default::default() }),
            ..Default::default()
        };
        Some(self.encode(&command))
    }

    /// The client's `will` message goes out when its connection ended
    /// without `session close` (it lost its network, or went silent).
    async fn ended(&mut self, session: &Session) {
        if let (Some(fetcher), Some(core)) = (&self.hooks, &self.core) {
            // 1 the client closed its session, 2 its connection was lost, or why the server closed it.
            let code = self.close_code.unwrap_or(if self.closed { 1 } else { 2 });
            let offline =
                serde_json::json!({"peerId": session.user.as_str(), "closeCode": code, "tag": session.device});
            let hook = crate::callbacks::hooks::CLIENT_OFFLINE;
            crate::callbacks::tell_leancloud(core, fetcher, &session.app, hook, offline).await;
        }
        let Some(will) = self.will.take().filter(|_| !self.closed) else { return };
        let Will { kind, cid, body, original } = *will;
        let sent = session.send_original(kind, &cid, body, None, Some(original)).await;
        if let Err(e) = sent {
            tracing::info!("the will message was not sent: {e}");
        }
    }

    /// Receipts as the SDK's `rcp`: one per message it asked them for
    /// (delivered), and one for the newest it read up to (read).
    fn receipt(&mut self, session: &Session, receipt: &Receipt) -> Vec<WsMessage> {
        self.receipts(session, receipt).iter().map(|command| self.encode(command)).collect()
    }

    /// A kick the client should not come back from is `session closed`
    /// with the vendor's code. A session that fell behind gets `goaway`, on
    /// which the SDK asks the router again and reopens the session with its
    /// token; when the server stops, the connection just closes, which the
    /// SDK takes as a network loss and retries (the router may be gone
    /// too, and 5.x's `goaway` handler does not survive an unreachable one).
    /// Either way nothing is lost: the session resumes from storage.
    fn kicked(&mut self, reason: KickReason, detail: Option<&str>) -> Vec<WsMessage> {
        let code = match reason {
            KickReason::Replaced => code::SESSION_CONFLICT,
            KickReason::CredentialsChanged => code::SESSION_TOKEN_EXPIRED,
            KickReason::Shutdown => return Vec::new(),
            KickReason::SlowConsumer => {
                let goaway = GenericCommand { cmd: Some(CommandType::Goaway as i32), ..Default::default() };
                return vec![self.encode(&goaway)];
            }
            KickReason::Deactivated | KickReason::Disconnected | KickReason::KickedByApp => code::KICKED_BY_APP,
        };
        self.close_code = Some(if reason == KickReason::Replaced { 3 } else { 4 });
        let reason_text = detail.unwrap_or(reason.as_str());
        vec![self.encode(&session_closed(None, code, reason_text))]
    }
}

/// Whether a LeanCloud client sees a message. LeanCloud has conversations
/// only: a one-to-one message or a broadcast of another dialect has no
/// conversation ID a LeanCloud client knows. A LeanCloud broadcast (a
/// service conversation's message to chosen subscribers, or to everyone)
/// is shown in its service conversation.
fn shown(message: &Message) -> bool {
    match message.chat_type {
        ChatType::Chat => false,
        ChatType::Broadcast => matches!(message.original, Some(Original::LeanCloud { .. })),
        _ => true,
    }
}

/// A message's content as a client receives it: its `data` string, or the
/// bytes of a binary message (`binaryMsg`), never both.
fn wire_content(message: &Message) -> (Option<String>, Option<Vec<u8>>) {
    match crate::leancloud_data::binary(message) {
        Some(bytes) => (None, Some(bytes)),
        None => (Some(crate::leancloud_data::data(message)), None),
    }
}

#[cfg(test)]
mod tests {
    /// Every idle LeanCloud session keeps this state (docs/benchmarks.md,
    /// idle sessions): what only some sessions use stays behind a pointer.
    #[test]
    fn an_idle_sessions_state_stays_small() {
        let size = std::mem::size_of::<super::LeanCloud>();
        assert!(size <= 160, "the LeanCloud session state grew to {size} bytes");
    }
}
