//! confab's JSON protocol over WebSocket (docs/protocol.md).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;

use confab_core::error::{AuthFailure, Error, Refusal};
use confab_core::events::{GroupEvent, KickReason, MessageUpdate, UpdateKind};
use confab_core::gateway::{LoginRequest, Session, Tell};
use confab_core::model::{Body, ChatType, ConversationId, Message, Username};
use confab_core::Core;
use confab_protocol::{ClientFrame, MessageFrame, ServerFrame, HEARTBEAT_SECS, MAX_CLIENT_FRAME};

use super::driver::{self, Budget, End, Io, Protocol};

/// How long a new connection has to send its login frame.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);

/// confab's JSON protocol: text frames, one JSON object each.
pub(super) struct Json;

/// Opens a JSON-protocol session (`/ws`).
pub async fn upgrade(State(state): State<super::State>, ws: WebSocketUpgrade) -> Response {
    driver::upgrade(state, ws, Json)
}

impl Protocol for Json {
    const NAME: &'static str = "json";
    const MAX_FRAME: usize = MAX_CLIENT_FRAME;
    /// Three missed heartbeats.
    const IDLE: Duration = Duration::from_secs(3 * HEARTBEAT_SECS);
    const LOGIN: Duration = LOGIN_TIMEOUT;

    async fn login(&mut self, core: &Arc<Core>, io: &mut Io) -> Option<Session> {
        login(core, io).await
    }

    async fn synced(&mut self, _: &Session) -> Vec<WsMessage> {
        vec![WsMessage::Text(encode(&ServerFrame::Synced))]
    }

    async fn frame(&mut self, session: &Session, budget: Budget<'_>, frame: WsMessage, io: &mut Io) -> Result<(), End> {
        match frame {
            WsMessage::Text(text) => Ok(handle_text(session, budget, io, &text).await?),
            _ => Ok(send(io, &error_frame(None, "bad_frame", "frames are JSON text")).await?),
        }
    }

    fn message(&mut self, _: &Session, message: &Arc<Message>) -> Option<WsMessage> {
        Some(WsMessage::Text(FRAMES.encoded(message)))
    }

    async fn group_event(&mut self, _: &Session, _: &Core, event: &GroupEvent) -> Option<WsMessage> {
        Some(WsMessage::Text(encode(&group_event_frame(event))))
    }

    fn update(&mut self, _: &Session, update: &MessageUpdate) -> Option<WsMessage> {
        Some(WsMessage::Text(encode(&update_frame(update))))
    }

    fn kicked(&mut self, reason: KickReason, detail: Option<&str>) -> Vec<WsMessage> {
        let kicked = ServerFrame::Kicked { reason: reason.as_str().into(), detail: detail.map(str::to_owned) };
        let close = CloseFrame { code: 4000, reason: Utf8Bytes::from(reason.as_str()) };
        vec![WsMessage::Text(encode(&kicked)), WsMessage::Close(Some(close))]
    }
}

/// Waits for the login frame and opens the session; answers errors itself.
async fn login(core: &Core, io: &mut Io) -> Option<Session> {
    let frame = match io.next_within(LOGIN_TIMEOUT).await {
        Ok(Some(WsMessage::Text(text))) => match serde_json::from_str::<ClientFrame>(&text) {
            Ok(frame) => frame,
            Err(e) => {
                let _ = send(io, &error_frame(None, "bad_frame", &e.to_string())).await;
                return None;
            }
        },
        Ok(Some(_)) => {
            let _ = send(io, &error_frame(None, "bad_frame", "frames are JSON text")).await;
            return None;
        }
        Ok(None) => return None,
        Err(_) => {
            let _ = send(io, &error_frame(None, "login_timeout", "no login frame within 10 seconds")).await;
            return None;
        }
    };
    let ClientFrame::Login { token, leancloud, device, resume } = frame else {
        let _ = send(io, &error_frame(None, "login_required", "the first frame must be a login")).await;
        return None;
    };
    let mut cursors = HashMap::with_capacity(resume.len());
    for (conv, seq) in resume {
        let Ok(id) = conv.parse() else {
            let _ =
                send(io, &error_frame(None, "bad_frame", &format!("resume key {conv} is not a conversation id"))).await;
            return None;
        };
        cursors.insert(ConversationId(id), seq);
    }
    // A LeanCloud-signed login stands for a user token (the signature is the credential).
    let token = match leancloud {
        Some(signed) => match crate::signed_login::token_for_signed_login(core, &signed).await {
            Ok(token) => token,
            Err(e) => {
                let (code, message) = login_error(&e);
                let _ = send(io, &error_frame(None, code, message)).await;
                return None;
            }
        },
        None => token,
    };
    match core.gateway.login(LoginRequest { token, device, resume: cursors }).await {
        Ok(session) => {
            // What an operator looks for first; never the token.
            tracing::info!(user = %session.user, device = %session.device, "gateway login");
            let ok = ServerFrame::LoginOk {
                user: session.user.to_string(),
                device: session.device.clone(),
                session: session.id.to_string(),
                heartbeat_secs: HEARTBEAT_SECS,
            };
            send(io, &ok).await.ok()?;
            Some(session)
        }
        Err(e) => {
            let (code, message) = login_error(&e);
            tracing::info!(why = code, "failed gateway login");
            let _ = send(io, &error_frame(None, code, message)).await;
            None
        }
    }
}

fn login_error(e: &Error) -> (&'static str, &'static str) {
    match e {
        Error::Unauthenticated(AuthFailure::ExpiredToken) => ("token_expired", "the token has expired"),
        Error::Unauthenticated(AuthFailure::WrongTokenKind) => ("wrong_token_kind", "log in with a user token"),
        Error::Unauthenticated(_) => ("bad_token", "the token is not valid"),
        Error::Deactivated(_) => ("user_deactivated", "the user is deactivated"),
        Error::InvalidArgument(_) => ("bad_frame", "device must be 1 to 64 printable characters"),
        _ => ("internal", "login failed; try again"),
    }
}

async fn handle_text(session: &Session, budget: Budget<'_>, sink: &mut Io, text: &str) -> Result<(), axum::Error> {
    let frame = match serde_json::from_str::<ClientFrame>(text) {
        Ok(frame) => frame,
        Err(e) => return send(sink, &error_frame(None, "bad_frame", &e.to_string())).await,
    };
    match frame {
        ClientFrame::Login { .. } => {
            send(sink, &error_frame(None, "already_logged_in", "this connection is logged in")).await
        }
        ClientFrame::Ping => send(sink, &ServerFrame::Pong).await,
        ClientFrame::JoinRoom { reference, room } => {
            let reply = match session.join_room(&room).await {
                Ok(conv) => ServerFrame::Joined { reference, room, conv: conv.to_string() },
                Err(e) => {
                    let (code, message) = request_error(e);
                    error_frame(reference, code, &message)
                }
            };
            send(sink, &reply).await
        }
        ClientFrame::LeaveRoom { reference, room } => {
            let reply = match session.leave_room(&room).await {
                Ok(()) => ServerFrame::Left { reference, room },
                Err(e) => {
                    let (code, message) = request_error(e);
                    error_frame(reference, code, &message)
                }
            };
            send(sink, &reply).await
        }
        ClientFrame::PushToken { reference, token, notifier } => {
            let core = budget.core();
            let notifier = if notifier.is_empty() { "apns".to_owned() } else { notifier };
            let bound =
                crate::push::devices::bind(core, session.app.id, &session.user, &session.device, &token, &notifier)
                    .await;
            let reply = match bound {
                Ok(_) => ServerFrame::PushBound { reference, device: session.device.clone() },
                Err(e) => {
                    let (code, message) = request_error(e);
                    error_frame(reference, code, &message)
                }
            };
            send(sink, &reply).await
        }
        ClientFrame::Ack { conv, seq } => cursor_frame(session, sink, &conv, seq, false).await,
        ClientFrame::Read { conv, seq } => cursor_frame(session, sink, &conv, seq, true).await,
        ClientFrame::Send { reference, chat_type, to, body, ext } => {
            if let Some(refusal) = budget.charge_send(session).await {
                return send(sink, &error_frame(reference, "rate_limited", refusal)).await;
            }
            let reply = match send_message(session, chat_type.as_deref(), &to, body, ext).await {
                Ok(message) => ServerFrame::SendOk {
                    reference,
                    msg_id: message.id.to_string(),
                    conv: message.conversation.to_string(),
                    seq: message.seq,
                    timestamp: message.timestamp_ms,
                },
                Err((code, message)) => error_frame(reference, code, &message),
            };
            send(sink, &reply).await
        }
    }
}

/// An `ack` or `read` frame: not answered unless malformed, since the client
/// does not wait for it.
async fn cursor_frame(session: &Session, sink: &mut Io, conv: &str, seq: i64, read: bool) -> Result<(), axum::Error> {
    let Ok(id) = conv.parse() else {
        return send(sink, &error_frame(None, "bad_frame", &format!("{conv} is not a conversation id"))).await;
    };
    let conversation = ConversationId(id);
    let stored = if read {
        session.mark_read(conversation, seq, Tell::Nobody).await
    } else {
        session.acknowledge(conversation, seq, Tell::Nobody).await
    };
    if let Err(e) = stored {
        tracing::warn!("storing a cursor failed: {e}");
    }
    Ok(())
}

async fn send_message(
    session: &Session,
    chat_type: Option<&str>,
    to: &str,
    body: serde_json::Value,
    ext: Option<serde_json::Value>,
) -> Result<Arc<Message>, (&'static str, String)> {
    let kind = match chat_type.unwrap_or("chat") {
        "chat" => ChatType::Chat,
        "groupchat" => ChatType::GroupChat,
        "chatroom" => ChatType::ChatRoom,
        "thread" => ChatType::Thread,
        "channel" => ChatType::Channel,
        other => {
            return Err(("bad_frame", format!("chat_type {other} is not chat, groupchat, chatroom, thread or channel")))
        }
    };
    if kind == ChatType::Chat {
        Username::parse(to).map_err(|e| ("bad_receiver", e.to_string()))?;
    }
    let body: Body = confab_wire::body_from_json(body).map_err(|e| ("bad_body", e.to_string()))?;
    if ext.as_ref().is_some_and(|e| !e.is_object()) {
        return Err(("bad_body", "ext must be a JSON object".into()));
    }
    session.send(kind, to, body, ext).await.map_err(|e| match e {
        Error::InvalidArgument(m) => ("bad_body", m),
        other => request_error(other),
    })
}

/// The error frame's code and message for a refused request.
fn request_error(e: Error) -> (&'static str, String) {
    match e {
        Error::InvalidArgument(m) => ("bad_frame", m),
        Error::NotFound(m) => ("not_found", m),
        Error::Forbidden(m) => ("forbidden", m),
        Error::Refused(r) if r.why == Refusal::SensitiveWords => ("sensitive_words", r.to_string()),
        Error::Refused(r) if r.why == Refusal::ByAppServer => ("refused_by_app", r.to_string()),
        Error::Refused(r) if r.why == Refusal::Full => ("limit_exceeded", r.to_string()),
        Error::Refused(r) => ("forbidden", r.to_string()),
        Error::LimitExceeded(m) => ("limit_exceeded", m),
        other => {
            tracing::warn!("gateway request failed: {other}");
            ("internal", "nothing was changed; try again".into())
        }
    }
}

/// Live messages encoded once for all their receivers: a group message is
/// the same frame for each of its members' devices, and encoding it per
/// device was a large share of fanning out to a big group.
///
/// Keyed by the event's allocation, not the message ID, so a later event for
/// the same message (an edit) is never served an older encoding; the cache
/// holds the `Arc`, so an address is not reused while it is cached.
struct FrameCache {
    recent: std::sync::Mutex<Recent>,
}

/// Encodings by event address (with the event, keeping the address taken),
/// and the addresses oldest first.
#[derive(Default)]
struct Recent {
    entries: HashMap<usize, (Arc<Message>, Utf8Bytes)>,
    order: std::collections::VecDeque<usize>,
}

/// Encodings kept: enough for every message of a burst still being fanned out.
const FRAME_CACHE: usize = 1024;

static FRAMES: std::sync::LazyLock<FrameCache> =
    std::sync::LazyLock::new(|| FrameCache { recent: std::sync::Mutex::default() });

impl FrameCache {
    fn encoded(&self, message: &Arc<Message>) -> Utf8Bytes {
        let key = Arc::as_ptr(message) as usize;
        if let Some((_, text)) = self.recent.lock().unwrap_or_else(|e| e.into_inner()).entries.get(&key) {
            return text.clone();
        }
        let text = Utf8Bytes::from(serde_json::to_string(&message_frame(message)).expect("frames serialize"));
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let Recent { entries, order } = &mut *recent;
        if entries.insert(key, (message.clone(), text.clone())).is_none() {
            order.push_back(key);
        }
        while order.len() > FRAME_CACHE {
            if let Some(old) = order.pop_front() {
                entries.remove(&old);
            }
        }
        text
    }
}

fn message_frame(message: &Message) -> ServerFrame {
    ServerFrame::Msg(message_fields(message))
}

fn message_fields(message: &Message) -> MessageFrame {
    MessageFrame {
        msg_id: message.id.to_string(),
        conv: message.conversation.to_string(),
        seq: message.seq,
        chat_type: message.chat_type.as_str().into(),
        from: message.from.to_string(),
        to: message.to.clone(),
        body: confab_wire::body_json(&message.body),
        ext: message.ext.clone(),
        timestamp: message.timestamp_ms,
        original: message.original.as_ref().and_then(|o| serde_json::to_value(confab_wire::OriginalV1::from(o)).ok()),
        transient: message.seq == 0,
    }
}

fn update_frame(update: &MessageUpdate) -> ServerFrame {
    let m = &update.message;
    let edited = update.change == UpdateKind::Edited;
    ServerFrame::MsgUpdate {
        change: update.change.as_str().into(),
        msg_id: m.id.to_string(),
        conv: m.conversation.to_string(),
        seq: m.seq,
        by: update.by.as_ref().map(|u| u.to_string()),
        msg: edited.then(|| message_fields(m)),
    }
}

fn error_frame(reference: Option<String>, code: &str, message: &str) -> ServerFrame {
    ServerFrame::Error { reference, code: code.into(), message: message.into() }
}

async fn send(io: &mut Io, frame: &ServerFrame) -> Result<(), axum::Error> {
    io.send(WsMessage::Text(encode(frame))).await
}

fn encode(frame: &ServerFrame) -> Utf8Bytes {
    serde_json::to_string(frame).expect("frames serialize").into()
}

fn group_event_frame(event: &GroupEvent) -> ServerFrame {
    ServerFrame::GroupEvent {
        chat_type: event.kind.as_str().into(),
        group: event.group.clone(),
        conv: event.conversation.to_string(),
        event: event.event.as_str().into(),
        users: event.users.iter().map(|u| u.to_string()).collect(),
        timestamp: event.timestamp_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_core::ids::MessageId;
    use confab_core::model::{AppId, MessageState, Original};
    use serde_json::json;

    /// What a device receives, pinned: a change here breaks deployed clients.
    #[test]
    fn messages_and_updates_reach_devices_in_the_golden_shape() {
        let ann = Username::parse("Ann").unwrap();
        let message = Message {
            id: MessageId(77),
            app: AppId(1),
            conversation: ConversationId(5),
            seq: 2,
            chat_type: ChatType::Chat,
            from: ann.clone(),
            to: "bob".into(),
            body: Body::Text { msg: "hi".into() },
            ext: None,
            timestamp_ms: 1_700_000_000_000,
            sync_sender: false,
            origin_device: None,
            original: Some(Original::Wildfire { payload: json!({"type": 1}), line: 0 }),
            receivers: None,
            state: MessageState::Normal,
        };
        let frame: serde_json::Value = serde_json::from_str(&encode(&message_frame(&message))).unwrap();
        assert_eq!(
            frame,
            json!({"op": "msg", "msg_id": "77", "conv": "5", "seq": 2, "chat_type": "chat", "from": "Ann", "to": "bob",
                   "body": {"type": "txt", "msg": "hi"}, "timestamp": 1_700_000_000_000i64,
                   "original": {"wildfire": {"payload": {"type": 1}, "line": 0}}})
        );
        let update = MessageUpdate { message, change: UpdateKind::Recalled, by: Some(ann), only: None };
        let frame: serde_json::Value = serde_json::from_str(&encode(&update_frame(&update))).unwrap();
        assert_eq!(
            frame,
            json!({"op": "msg_update", "change": "recalled", "msg_id": "77", "conv": "5", "seq": 2, "by": "Ann"})
        );
    }
}
