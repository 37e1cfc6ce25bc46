//! LeanCloud's real-time protocol (`lc.protobuf2.3`, and its base64 text
//! twin `lc.proto2base64.3`), as the vendor's SDK `leancloud-realtime`
//! speaks it: framing and mapping over the session core, nothing more.
//!
//! A connection is a WebSocket on `/` asking for one of the two
//! subprotocols (the SDK finds it through the dialect's `/v1/route`). Every
//! frame is one `GenericCommand`; a command the client waits for carries a
//! serial number `i` that the answer repeats. Served so far (issue 14 goes
//! on): `session open` (plain, signed with the app's master key as
//! `clients/sign` signs, or resumed with the session token `st`), `session
//! close`, messages to conversations both ways (`direct`, answered with
//! `ack`; the client's `ack` moves the delivery cursor), kicks as `session
//! closed` with the vendor's codes. Anything else is answered with an
//! `error` command naming it, and the connection stays open.

pub(super) mod proto;

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
use confab_core::events::{GroupEvent, GroupEventKind, KickReason, MessageUpdate, UpdateKind};
use confab_core::gateway::{LoginRequest, Session};
use confab_core::groups::GroupRef;
use confab_core::model::{App, ChatType, ConversationId, Message, Original, Username};
use confab_core::storage::{MessageQuery, TimeBound};
use confab_core::Core;

use super::driver::{self, Budget, End, Io, Protocol};
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

/// The vendor's error codes (`src/error.js` of the SDK).
mod code {
    pub const APP_NOT_AVAILABLE: i32 = 4100;
    pub const SIGNATURE_FAILED: i32 = 4102;
    pub const INVALID_LOGIN: i32 = 4103;
    pub const SESSION_REQUIRED: i32 = 4105;
    pub const SESSION_CONFLICT: i32 = 4111;
    pub const SESSION_TOKEN_EXPIRED: i32 = 4112;
    pub const MESSAGE_SENT_QUOTA_EXCEEDED: i32 = 4116;
    pub const INTERNAL_ERROR: i32 = 4200;
    pub const CONVERSATION_API_FAILED: i32 = 4301;
    pub const CONVERSATION_NOT_FOUND: i32 = 4303;
    pub const CONVERSATION_FULL: i32 = 4304;
    pub const CONVERSATION_UPDATE_REJECTED: i32 = 4309;
    pub const CONVERSATION_QUERY_FAILED: i32 = 4310;
    pub const CONVERSATION_LOG_REJECTED: i32 = 4312;
    pub const INVALID_MESSAGING_TARGET: i32 = 4401;
    pub const MESSAGE_OWNERSHIP_REQUIRED: i32 = 4403;
    pub const MESSAGE_NOT_FOUND: i32 = 4404;
    pub const MESSAGE_REJECTED_BY_APP: i32 = 4402;
    /// A frame or message over the size limit (the SDK's FRAME_TOO_LONG).
    pub const MESSAGE_TOO_LONG: i32 = 4109;
    /// An operator or the app closed the session (the vendor's KICKED_BY_APP).
    pub const KICKED_BY_APP: i32 = 4115;
    /// The client sent a command this server does not serve.
    pub const UNSUPPORTED: i32 = 4200;
}

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
    driver::upgrade(state, ws, LeanCloud { format, app_id: String::new(), pending: HashMap::new() })
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

    /// The session opened (or refused) for a `session open`.
    async fn open(&mut self, core: &Arc<Core>, command: &GenericCommand) -> Result<(Session, GenericCommand), i32> {
        let asked = command.session_message.clone().unwrap_or_default();
        let app_id = command.app_id.clone().unwrap_or_default();
        let app = crate::signed_login::app_by_leancloud_id(core, &app_id)
            .await
            .map_err(|_| code::INTERNAL_ERROR)?
            .ok_or(code::APP_NOT_AVAILABLE)?;
        let peer = command.peer_id.clone().unwrap_or_default();
        let user = Username::parse(&peer).map_err(|_| code::INVALID_LOGIN)?;
        let token = match (&asked.s, &asked.st) {
            (Some(signature), _) => {
                let signed = confab_protocol::SignedLogin {
                    app_id: app_id.clone(),
                    client_id: peer.clone(),
                    timestamp: asked.t.unwrap_or_default(),
                    nonce: asked.n.clone().unwrap_or_default(),
                    signature: signature.clone(),
                };
                crate::signed_login::token_for_signed_login(core, &signed).await.map_err(|_| code::SIGNATURE_FAILED)?
            }
            (None, Some(st)) => st.clone(),
            // The vendor's default: an app that has not turned on login
            // signatures lets a client open a session by its ID.
            (None, None) => issue(core, &app, &user, 60).await?,
        };
        // The device: a tag names one (a second login with it replaces the
        // first, as the vendor's tags do); otherwise the SDK's device ID.
        let device = asked.tag.clone().filter(|t| !t.is_empty()).or(asked.device_id.clone());
        let session = match core.gateway.login(LoginRequest { token, device, resume: HashMap::new() }).await {
            Ok(session) if session.user == user => session,
            Ok(_) => return Err(code::INVALID_LOGIN),
            Err(Error::Unauthenticated(AuthFailure::ExpiredToken)) => return Err(code::SESSION_TOKEN_EXPIRED),
            Err(Error::Unauthenticated(_)) if asked.st.is_some() => return Err(code::SESSION_TOKEN_EXPIRED),
            Err(Error::Unauthenticated(_)) => return Err(code::SIGNATURE_FAILED),
            Err(Error::Deactivated(_)) => return Err(code::KICKED_BY_APP),
            Err(_) => return Err(code::INTERNAL_ERROR),
        };
        let st = issue(core, &app, &user, SESSION_TOKEN_TTL).await?;
        self.app_id = app_id;
        let opened = GenericCommand {
            cmd: Some(CommandType::Session as i32),
            op: Some(OpType::Opened as i32),
            i: command.i,
            app_id: Some(self.app_id.clone()),
            peer_id: Some(peer),
            server_ts: Some(core.now_ms()),
            session_message: Some(SessionCommand {
                st: Some(st),
                st_ttl: Some(SESSION_TOKEN_TTL as i32),
                ..Default::default()
            }),
            ..Default::default()
        };
        Ok((session, opened))
    }

    /// A client's message to a conversation: stored, then acknowledged with
    /// its server ID (`uid`) and timestamp (`t`); a refusal is an `ack`
    /// with `code` and `reason`, which the SDK turns into its error.
    async fn direct(&mut self, session: &Session, budget: Budget<'_>, command: &GenericCommand) -> GenericCommand {
        let direct = command.direct_message.clone().unwrap_or_default();
        let refused = |code: i32, reason: &str| refused_ack(command.i, code, reason);
        if let Some(why) = budget.charge_send(session).await {
            return refused(code::MESSAGE_SENT_QUOTA_EXCEEDED, why);
        }
        let Some(cid) = direct.cid.clone().filter(|c| !c.is_empty()) else {
            return refused(code::INVALID_MESSAGING_TARGET, "a message needs its conversation (cid)");
        };
        let data = direct.msg.clone().unwrap_or_default();
        if data.len() > crate::leancloud_data::MAX_MESSAGE_BYTES {
            return refused(code::MESSAGE_TOO_LONG, "a message may be at most 5 KB");
        }
        let Some(kind) = kind_of(&budget, session, &cid).await else {
            return refused(code::CONVERSATION_NOT_FOUND, &format!("conversation {cid} not found"));
        };
        let mentions: Vec<Username> = direct.mention_pids.iter().filter_map(|p| Username::parse(p).ok()).collect();
        let original = Original::LeanCloud {
            data: data.clone(),
            mention_all: direct.mention_all.unwrap_or(false),
            mentions,
            valid_till: None,
        };
        let body = crate::leancloud_data::body_of(&data);
        match session.send_original(kind, &cid, body, None, Some(original)).await {
            Ok(message) => GenericCommand {
                cmd: Some(CommandType::Ack as i32),
                i: command.i,
                peer_id: Some(session.user.to_string()),
                server_ts: Some(message.timestamp_ms),
                ack_message: Some(AckCommand {
                    uid: Some(message.id.to_string()),
                    cid: Some(cid),
                    t: Some(message.timestamp_ms),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Err(Error::Refused(r)) => refused(code::MESSAGE_REJECTED_BY_APP, &r.to_string()),
            Err(Error::NotFound(m)) => refused(code::CONVERSATION_NOT_FOUND, &m),
            Err(e @ (Error::InvalidArgument(_) | Error::TooLarge(_) | Error::Forbidden(_))) => {
                refused(code::INVALID_MESSAGING_TARGET, &e.to_string())
            }
            Err(e) => {
                tracing::warn!("leancloud send failed: {e}");
                refused(code::INTERNAL_ERROR, "nothing was sent; try again")
            }
        }
    }

    /// The client has messages: their conversations' delivery cursors move.
    /// The SDK acknowledges a conversation's messages up to a time (`cid`,
    /// `tots`); by message ID (`mid`, `ids`) works too.
    async fn acknowledged(&mut self, session: &Session, command: &GenericCommand) {
        let Some(ack) = &command.ack_message else { return };
        let mut done: Vec<String> = ack.mid.iter().chain(ack.ids.iter()).cloned().collect();
        if let (Some(cid), Some(until)) = (&ack.cid, ack.tots) {
            done.extend(
                self.pending.iter().filter(|(_, p)| &p.cid == cid && p.timestamp <= until).map(|(id, _)| id.clone()),
            );
        }
        let mut highest: HashMap<ConversationId, i64> = HashMap::new();
        for id in done {
            if let Some(Pending { conversation, seq, .. }) = self.pending.remove(&id) {
                let top = highest.entry(conversation).or_insert(seq);
                *top = (*top).max(seq);
            }
        }
        for (conversation, seq) in highest {
            if let Err(e) = session.acknowledge(conversation, seq).await {
                tracing::warn!("storing a cursor failed: {e}");
            }
        }
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

    fn synced(&mut self, _: &Session) -> Option<WsMessage> {
        None
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
                let answer = start(session, budget, &command).await;
                self.answer(io, &answer).await
            }
            (Some(CommandType::Patch), Some(OpType::Modify)) => {
                let answer = patch(session, budget, &command).await;
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
                let answer = membership(session, budget, &command, op == OpType::Add).await;
                self.answer(io, &answer).await
            }
            (Some(CommandType::Conv), Some(OpType::Query)) => {
                let answer = query(session, budget, &command).await;
                self.answer(io, &answer).await
            }
            _ => {
                let what = format!("command {:?} {:?} is not served", command.cmd, command.op);
                self.answer(io, &error_command(command.i, code::UNSUPPORTED, &what)).await
            }
        }
    }

    fn message(&mut self, session: &Session, message: &Arc<Message>) -> Option<WsMessage> {
        // LeanCloud has conversations only: a one-to-one message of another
        // dialect has no conversation ID a LeanCloud client knows.
        if message.chat_type == ChatType::Chat || message.chat_type == ChatType::Broadcast {
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
        let direct = DirectCommand {
            msg: Some(crate::leancloud_data::data(message)),
            cid: Some(message.to.clone()),
            id: Some(mid),
            from_peer_id: Some(message.from.to_string()),
            timestamp: Some(message.timestamp_ms),
            transient: (message.seq == 0).then_some(true),
            mention_all: mention_all.then_some(true),
            mention_pids: mentions,
            conv_type: Some(conv_type(message.chat_type)),
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

    /// Members joining and leaving, as the SDK's INVITED / KICKED (about
    /// this client) and MEMBERS_JOINED / MEMBERS_LEFT (about others). Other
    /// group events have no LeanCloud command yet.
    fn group_event(&mut self, session: &Session, event: &GroupEvent) -> Option<WsMessage> {
        let me = event.users.contains(&session.user);
        let op = match (event.event, me) {
            (GroupEventKind::MembersAdded, true) => OpType::Joined,
            (GroupEventKind::MembersAdded, false) => OpType::MembersJoined,
            (GroupEventKind::MembersRemoved, true) => OpType::Left,
            (GroupEventKind::MembersRemoved, false) => OpType::MembersLeft,
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
        if matches!(message.chat_type, ChatType::Chat | ChatType::Broadcast) {
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
            data: Some(crate::leancloud_data::data(message)),
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

    fn kicked(&mut self, reason: KickReason, detail: Option<&str>) -> Vec<WsMessage> {
        let code = match reason {
            KickReason::Replaced => code::SESSION_CONFLICT,
            KickReason::CredentialsChanged => code::SESSION_TOKEN_EXPIRED,
            KickReason::SlowConsumer | KickReason::Shutdown => code::INTERNAL_ERROR,
            KickReason::Deactivated | KickReason::Disconnected | KickReason::KickedByApp => code::KICKED_BY_APP,
        };
        let reason_text = detail.unwrap_or(reason.as_str());
        vec![self.encode(&session_closed(None, code, reason_text))]
    }
}

/// `conv start`: makes a conversation (`transient`: a chat room) with the
/// client as its creator and `m` as its members, its `attr` (name and the
/// app's own fields) kept as the REST API keeps them; `unique` (the SDK's
/// default) finds the one these members made before. Answered `conv
/// started` with `cid` and `cdate`.
async fn start(session: &Session, budget: Budget<'_>, command: &GenericCommand) -> GenericCommand {
    let asked = command.conv_message.clone().unwrap_or_default();
    let failed = |why: &str| error_command(command.i, code::CONVERSATION_API_FAILED, why);
    if asked.temp_conv == Some(true) {
        return failed("temporary conversations are not served");
    }
    let kind = if asked.transient == Some(true) { ChatType::ChatRoom } else { ChatType::GroupChat };
    let attributes = match asked.attr.map(|a| a.data) {
        None => serde_json::Map::new(),
        Some(text) => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => return failed("attr must be a JSON object"),
        },
    };
    let name = match attributes.get("name") {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(name)) => name.clone(),
        Some(_) => return failed("name must be a string"),
    };
    let mut members = Vec::new();
    if kind == ChatType::GroupChat {
        for raw in &asked.m {
            match Username::parse(raw) {
                Ok(user) if user != session.user && !members.contains(&user) => members.push(user),
                Ok(_) => {}
                Err(_) => return failed(&format!("{raw} is not a client ID")),
            }
        }
    }
    if members.len() as u32 + 1 > crate::leancloud_model::max_members(kind) {
        return error_command(command.i, code::CONVERSATION_FULL, "too many members");
    }
    // The app's own fields; the built-in ones are the server's to set.
    let fields = attributes
        .into_iter()
        .filter(|(key, _)| {
            !crate::leancloud_model::BUILT_IN.contains(&key.as_str())
                && !key.starts_with(crate::leancloud_model::PRIVATE)
        })
        .collect();
    let new = crate::leancloud_model::NewConversation {
        kind,
        name,
        creator: session.user.clone(),
        members,
        fields,
        unique: asked.unique == Some(true),
    };
    match crate::leancloud_model::create(budget.core(), session.app.id, new).await {
        Ok(group) => GenericCommand {
            cmd: Some(CommandType::Conv as i32),
            op: Some(OpType::Started as i32),
            i: command.i,
            conv_message: Some(ConvCommand {
                cid: Some(group.id.clone()),
                cdate: Some(crate::leancloud_model::iso(group.created_ms)),
                ..Default::default()
            }),
            ..Default::default()
        },
        Err(Error::Refused(r)) => error_command(command.i, code::CONVERSATION_FULL, &r.to_string()),
        Err(Error::InvalidArgument(m)) => failed(&m),
        Err(e) => {
            tracing::warn!("leancloud conversation start failed: {e}");
            error_command(command.i, code::INTERNAL_ERROR, "no conversation was made; try again")
        }
    }
}

/// `patch modify` from a client: edits or recalls its own messages (the
/// SDK's `conversation.update` and `recall`), which every receiver hears
/// as for an edit made anywhere else. Answered `patch modified`.
async fn patch(session: &Session, budget: Budget<'_>, command: &GenericCommand) -> GenericCommand {
    let core = budget.core();
    let patches = command.patch_message.clone().unwrap_or_default().patches;
    for item in patches {
        let mid = item.mid.clone().unwrap_or_default();
        let not_found = || error_command(command.i, code::MESSAGE_NOT_FOUND, &format!("message {mid} not found"));
        let Some(id) = confab_core::ids::MessageId::parse(&mid) else { return not_found() };
        let message = match core.messages.get(session.app.id, id).await {
            Ok(Some(message)) => message,
            Ok(None) => return not_found(),
            Err(e) => {
                tracing::warn!("leancloud patch failed: {e}");
                return error_command(command.i, code::INTERNAL_ERROR, "nothing was changed; try again");
            }
        };
        let same_place = item.cid.as_deref() == Some(message.to.as_str())
            && item.timestamp.is_none_or(|t| t == message.timestamp_ms);
        if !same_place || matches!(message.chat_type, ChatType::Chat | ChatType::Broadcast) {
            return not_found();
        }
        if message.from != session.user {
            return error_command(command.i, code::MESSAGE_OWNERSHIP_REQUIRED, "only its sender changes a message");
        }
        let changed = if item.recall == Some(true) {
            core.messages.recall(session.app.id, id, &session.user, None).await
        } else {
            let data = item.data.clone().unwrap_or_default();
            if data.len() > crate::leancloud_data::MAX_MESSAGE_BYTES {
                return error_command(command.i, code::MESSAGE_TOO_LONG, "a message may be at most 5 KB");
            }
            let original = Original::LeanCloud {
                data: data.clone(),
                mention_all: item.mention_all.unwrap_or(false),
                mentions: item.mention_pids.iter().filter_map(|p| Username::parse(p).ok()).collect(),
                valid_till: None,
            };
            core.messages.edit(session.app.id, id, crate::leancloud_data::body_of(&data), Some(original), true).await
        };
        match changed {
            Ok(_) => {}
            Err(Error::InvalidArgument(m)) => return error_command(command.i, code::MESSAGE_NOT_FOUND, &m),
            Err(e) => {
                tracing::warn!("leancloud patch failed: {e}");
                return error_command(command.i, code::INTERNAL_ERROR, "nothing was changed; try again");
            }
        }
    }
    GenericCommand {
        cmd: Some(CommandType::Patch as i32),
        op: Some(OpType::Modified as i32),
        i: command.i,
        patch_message: Some(proto::PatchCommand { last_patch_time: Some(core.now_ms()), ..Default::default() }),
        ..Default::default()
    }
}

/// `read`: the client has read each named conversation up to a message
/// (`mid`) or a time (`timestamp`), as the SDK's `conversation.read()`
/// says; the user's read cursor moves, and with it the unread counts every
/// dialect reports.
async fn read(session: &Session, budget: Budget<'_>, command: &GenericCommand) {
    let core = budget.core();
    let asked = command.read_message.clone().unwrap_or_default();
    let mut tuples = asked.convs;
    tuples.extend(asked.cid.into_iter().chain(asked.cids).map(|cid| proto::ReadTuple { cid, ..Default::default() }));
    for tuple in tuples {
        let Some(kind) = kind_of(&budget, session, &tuple.cid).await else { continue };
        let Ok(group) = core.groups.get(session.app.id, GroupRef { kind, id: &tuple.cid }).await else { continue };
        let by_id = match tuple.mid.as_deref().and_then(confab_core::ids::MessageId::parse) {
            Some(id) => core.messages.get(session.app.id, id).await.ok().flatten(),
            None => None,
        };
        let upto = match by_id {
            Some(message) if message.conversation == group.conversation => Some(message.seq),
            _ => {
                // The newest message at or before the time (now, without one).
                let at = tuple.timestamp.unwrap_or_else(|| core.now_ms());
                let query = MessageQuery {
                    conversation: Some(group.conversation),
                    from: None,
                    after: None,
                    before: Some(TimeBound { ms: at, id: None, inclusive: true }),
                    newest_first: true,
                    limit: 1,
                };
                core.messages.query(session.app.id, query).await.ok().and_then(|m| m.first().map(|m| m.seq))
            }
        };
        if let Some(seq) = upto {
            if let Err(e) = session.mark_read(group.conversation, seq).await {
                tracing::warn!("storing a read cursor failed: {e}");
            }
        }
    }
}

/// Messages a `logs` command returns at most (and by default, the vendor's 20).
const MAX_LOGS: usize = 100;
const DEFAULT_LOGS: usize = 20;

/// `logs`: a page of a conversation's history, oldest first, as the SDK's
/// `queryMessages` asks for it: from `t` (and `mid`) back in time, or, with
/// the direction NEW, forward, until `tt` (and `tmid`). Only members read a
/// conversation's history; anyone in the app reads a chat room's.
async fn logs(session: &Session, budget: Budget<'_>, command: &GenericCommand) -> GenericCommand {
    let asked = command.logs_message.clone().unwrap_or_default();
    let cid = asked.cid.clone().unwrap_or_default();
    let core = budget.core();
    let Some(kind) = kind_of(&budget, session, &cid).await else {
        return error_command(command.i, code::CONVERSATION_NOT_FOUND, &format!("conversation {cid} not found"));
    };
    let group = match core.groups.members(session.app.id, GroupRef { kind, id: &cid }).await {
        Ok((group, members)) => {
            if kind == ChatType::GroupChat && !members.iter().any(|m| m.username == session.user) {
                return error_command(command.i, code::CONVERSATION_LOG_REJECTED, "only members read its messages");
            }
            group
        }
        Err(e) => {
            tracing::warn!("leancloud logs failed: {e}");
            return error_command(command.i, code::INTERNAL_ERROR, "the query failed; try again");
        }
    };
    let limit = asked.limit.or(asked.l).map_or(DEFAULT_LOGS, |l| (l.max(1) as usize).min(MAX_LOGS));
    let id = |raw: &Option<String>| raw.as_deref().and_then(confab_core::ids::MessageId::parse);
    let newer = asked.direction == Some(proto::QueryDirection::New as i32);
    let now = core.now_ms();
    let start = TimeBound {
        ms: asked.t.unwrap_or(if newer { 0 } else { now }),
        id: id(&asked.mid),
        inclusive: asked.t.is_none() || asked.t_included == Some(true),
    };
    let stop = TimeBound {
        ms: asked.tt.unwrap_or(if newer { now } else { 0 }),
        id: id(&asked.tmid),
        inclusive: asked.tt.is_none() || asked.tt_included == Some(true),
    };
    let (after, before) = if newer { (start, stop) } else { (stop, start) };
    let query = MessageQuery {
        conversation: Some(group.conversation),
        from: None,
        after: Some(after),
        before: Some(before),
        newest_first: !newer,
        limit,
    };
    let mut found = match core.messages.query(session.app.id, query).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!("leancloud logs failed: {e}");
            return error_command(command.i, code::INTERNAL_ERROR, "the query failed; try again");
        }
    };
    found.sort_by_key(|m| (m.timestamp_ms, m.id));
    let logs = found.iter().map(|m| log_item(m, kind)).collect();
    GenericCommand {
        cmd: Some(CommandType::Logs as i32),
        i: command.i,
        logs_message: Some(proto::LogsCommand { logs, ..Default::default() }),
        ..Default::default()
    }
}

/// Whom a message mentions, when a LeanCloud client sent it.
fn mentions_of(message: &Message) -> (bool, Vec<String>) {
    match &message.original {
        Some(Original::LeanCloud { mention_all, mentions, .. }) => {
            (*mention_all, mentions.iter().map(Username::to_string).collect())
        }
        _ => (false, Vec::new()),
    }
}

fn log_item(message: &Message, kind: ChatType) -> proto::LogItem {
    let (mention_all, mentions) = mentions_of(message);
    let patched = match message.state {
        confab_core::model::MessageState::Normal => None,
        ref state => Some(state.at_ms()),
    };
    proto::LogItem {
        from: Some(message.from.to_string()),
        data: Some(crate::leancloud_data::data(message)),
        timestamp: Some(message.timestamp_ms),
        msg_id: Some(message.id.to_string()),
        patch_timestamp: patched,
        mention_all: mention_all.then_some(true),
        mention_pids: mentions,
        conv_type: Some(conv_type(kind)),
        ..Default::default()
    }
}

/// `conv add` / `conv remove` (the SDK's `add`, `remove`, `join`, `quit`):
/// members of the conversation add or remove others; anyone joins or quits
/// by naming themselves. Answered `added` / `removed` with `allowedPids`
/// and, per refused client, `failedPids`.
async fn membership(session: &Session, budget: Budget<'_>, command: &GenericCommand, add: bool) -> GenericCommand {
    let core = budget.core();
    let asked = command.conv_message.clone().unwrap_or_default();
    let cid = asked.cid.clone().unwrap_or_default();
    let Some(kind) = kind_of(&budget, session, &cid).await else {
        return error_command(command.i, code::CONVERSATION_NOT_FOUND, &format!("conversation {cid} not found"));
    };
    let target = GroupRef { kind, id: &cid };
    let mut users = Vec::with_capacity(asked.m.len());
    for raw in &asked.m {
        match Username::parse(raw) {
            Ok(user) => users.push(user),
            Err(_) => {
                return error_command(command.i, code::CONVERSATION_API_FAILED, &format!("{raw} is not a client ID"))
            }
        }
    }
    let only_self = users.iter().all(|u| *u == session.user);
    if !only_self {
        let member = match core.groups.members(session.app.id, target).await {
            Ok((_, members)) => members.iter().any(|m| m.username == session.user),
            Err(_) => false,
        };
        if !member {
            return error_command(command.i, code::CONVERSATION_UPDATE_REJECTED, "only members change the members");
        }
    }
    let max = crate::leancloud_model::max_members(kind) as usize;
    let changed = if add {
        if let Err(e) = core.users.ensure_exist(session.app.id, &users).await {
            tracing::warn!("leancloud add failed: {e}");
            return error_command(command.i, code::INTERNAL_ERROR, "nobody was added; try again");
        }
        core.groups.add_members_up_to(session.app.id, target, users, max).await
    } else {
        core.groups.remove_members_up_to(session.app.id, target, users, max).await
    };
    match changed {
        Ok(changed) => {
            let failed = changed
                .refused
                .iter()
                .map(|(user, why)| ErrorCommand {
                    code: code::CONVERSATION_UPDATE_REJECTED,
                    reason: confab_core::error::Refused::of(*why, user).to_string(),
                    pids: vec![user.to_string()],
                    ..Default::default()
                })
                .collect();
            GenericCommand {
                cmd: Some(CommandType::Conv as i32),
                op: Some(if add { OpType::Added } else { OpType::Removed } as i32),
                i: command.i,
                conv_message: Some(ConvCommand {
                    cid: Some(cid.clone()),
                    allowed_pids: changed.changed.iter().map(Username::to_string).collect(),
                    failed_pids: failed,
                    ..Default::default()
                }),
                ..Default::default()
            }
        }
        Err(Error::Refused(r)) if r.why == confab_core::error::Refusal::Full => {
            error_command(command.i, code::CONVERSATION_FULL, &r.to_string())
        }
        Err(e @ (Error::InvalidArgument(_) | Error::LimitExceeded(_) | Error::Refused(_))) => {
            error_command(command.i, code::CONVERSATION_UPDATE_REJECTED, &e.to_string())
        }
        Err(e) => {
            tracing::warn!("leancloud membership change failed: {e}");
            error_command(command.i, code::INTERNAL_ERROR, "nothing was changed; try again")
        }
    }
}

/// `conv query`: the conversations, chat rooms and service conversations
/// matching the SDK's `where` (its `getConversation` asks by `objectId`), as
/// `_Conversation` documents, the same the REST API returns.
async fn query(session: &Session, budget: Budget<'_>, command: &GenericCommand) -> GenericCommand {
    let asked = command.conv_message.clone().unwrap_or_default();
    if !asked.temp_conv_ids.is_empty() {
        // Temporary conversations are not served: none of them exists.
        return query_results(command.i, Vec::new());
    }
    let mut params = HashMap::new();
    if let Some(filter) = asked.r#where.map(|w| w.data) {
        params.insert("where".to_owned(), filter);
    }
    if let Some(order) = asked.sort {
        params.insert("order".to_owned(), order);
    }
    if let Some(limit) = asked.limit {
        params.insert("limit".to_owned(), limit.to_string());
    }
    if let Some(skip) = asked.skip {
        params.insert("skip".to_owned(), skip.max(0).to_string());
    }
    let kinds = [ChatType::GroupChat, ChatType::ChatRoom, ChatType::Channel];
    match crate::leancloud_model::find_documents(budget.core(), session.app.id, &kinds, &params).await {
        Ok(found) => query_results(command.i, found),
        Err(crate::leancloud_model::FindError::Where(why)) => {
            error_command(command.i, code::CONVERSATION_QUERY_FAILED, &format!("where: {why}"))
        }
        Err(crate::leancloud_model::FindError::Skip) => {
            error_command(command.i, code::CONVERSATION_QUERY_FAILED, "skip must be a number")
        }
        Err(crate::leancloud_model::FindError::Core(e)) => {
            tracing::warn!("leancloud query failed: {e}");
            error_command(command.i, code::INTERNAL_ERROR, "the query failed; try again")
        }
    }
}

fn query_results(i: Option<i32>, found: Vec<serde_json::Value>) -> GenericCommand {
    GenericCommand {
        cmd: Some(CommandType::Conv as i32),
        op: Some(OpType::Results as i32),
        i,
        conv_message: Some(ConvCommand {
            results: Some(JsonObjectMessage { data: serde_json::Value::Array(found).to_string() }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A user token for `user` that lasts `ttl_secs`, the client created if new
/// (the vendor's clients need no registration).
async fn issue(core: &Core, app: &App, user: &Username, ttl_secs: i64) -> Result<String, i32> {
    match core.users.issue_token_by_id(app, user, true, Some(ttl_secs), &core.apps).await {
        Ok((token, _)) => Ok(token.token),
        Err(Error::Deactivated(_)) => Err(code::KICKED_BY_APP),
        Err(Error::InvalidArgument(_)) => Err(code::INVALID_LOGIN),
        Err(_) => Err(code::INTERNAL_ERROR),
    }
}

/// Which kind of conversation an ID names: a conversation, a chat room or a
/// service conversation.
async fn kind_of(budget: &Budget<'_>, session: &Session, cid: &str) -> Option<ChatType> {
    for kind in [ChatType::GroupChat, ChatType::ChatRoom, ChatType::Channel] {
        if budget.core().groups.get(session.app.id, GroupRef { kind, id: cid }).await.is_ok() {
            return Some(kind);
        }
    }
    None
}

/// The vendor's `convType`: 1 conversation, 2 chat room, 3 service, 4 temporary.
fn conv_type(kind: ChatType) -> i32 {
    match kind {
        ChatType::ChatRoom => 2,
        ChatType::Channel => 3,
        _ => 1,
    }
}

fn error_command(i: Option<i32>, code: i32, reason: &str) -> GenericCommand {
    GenericCommand {
        cmd: Some(CommandType::Error as i32),
        i,
        error_message: Some(ErrorCommand { code, reason: reason.to_owned(), ..Default::default() }),
        ..Default::default()
    }
}

/// A refused message: an `ack` with the code and reason.
fn refused_ack(i: Option<i32>, code: i32, reason: &str) -> GenericCommand {
    GenericCommand {
        cmd: Some(CommandType::Ack as i32),
        i,
        ack_message: Some(AckCommand { code: Some(code), reason: Some(reason.to_owned()), ..Default::default() }),
        ..Default::default()
    }
}

fn session_closed(i: Option<i32>, code: i32, reason: &str) -> GenericCommand {
    GenericCommand {
        cmd: Some(CommandType::Session as i32),
        op: Some(OpType::Closed as i32),
        i,
        session_message: Some(SessionCommand {
            code: Some(code),
            reason: Some(reason.to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn refusal_reason(code: i32) -> &'static str {
    match code {
        code::APP_NOT_AVAILABLE => "App not exists or realtime message service is disabled.",
        code::SIGNATURE_FAILED => "Login signature mismatch.",
        code::INVALID_LOGIN => "Malformed clientId.",
        code::SESSION_TOKEN_EXPIRED => "Session token expired.",
        code::KICKED_BY_APP => "The client is not allowed to log in.",
        _ => "Internal error.",
    }
}
