//! confab's JSON protocol over WebSocket (docs/protocol.md).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;

use confab_core::error::{AuthFailure, Error, Refusal};
use confab_core::events::GroupEvent;
use confab_core::events::KickReason;
use confab_core::events::{MessageUpdate, UpdateKind};
use confab_core::gateway::{LoginRequest, Outcome, Session};
use confab_core::model::{Body, ChatType, ConversationId, Message, Username};
use confab_core::Core;
use confab_protocol::{ClientFrame, MessageFrame, ServerFrame, HEARTBEAT_SECS, MAX_CLIENT_FRAME};

use crate::limits::{Per, RateLimits, GATEWAY_APP_MESSAGES_PER_SECOND, GATEWAY_USER_MESSAGES_PER_SECOND};

/// Most frames written before a flush, so one busy session cannot hold its
/// socket's buffer (and its own task) for long.
const MAX_FRAMES_PER_FLUSH: usize = 64;
/// How long a new connection has to send its login frame.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection silent for this long is considered dead.
const IDLE_TIMEOUT: Duration = Duration::from_secs(3 * HEARTBEAT_SECS);

/// The socket read buffer. tungstenite zero-fills the free part of it on every
/// read attempt, and a session attempts one on every wake-up (each event it
/// is sent); at the default 128 KiB that zeroing was a third of the server's
/// CPU when fanning out to a large group. Client frames are at most 8 KiB.
const READ_BUFFER: usize = 4 * 1024;

/// Opens a session, or answers 503 when `max_sessions` are open (before the
/// upgrade: a refused client costs no WebSocket).
pub async fn upgrade(State(state): State<super::State>, ws: WebSocketUpgrade) -> Response {
    let Ok(permit) = state.sessions.clone().try_acquire_owned() else {
        let headers = [(axum::http::header::RETRY_AFTER, "5")];
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, headers, "too many sessions; try again later")
            .into_response();
    };
    let limits = state.limits.clone();
    ws.max_message_size(MAX_CLIENT_FRAME).max_frame_size(MAX_CLIENT_FRAME).read_buffer_size(READ_BUFFER).on_upgrade(
        move |socket| {
            // The session's span outlives the upgrade request's: every log
            // line of the connection names it, and login fills in who it is.
            let span = tracing::info_span!(
                "session",
                protocol = "json",
                app = tracing::field::Empty,
                user = tracing::field::Empty,
                device = tracing::field::Empty
            );
            tracing::Instrument::instrument(
                async move {
                    serve(state.core, limits, socket).await;
                    drop(permit);
                },
                span,
            )
        },
    )
}

type Sink = SplitSink<WebSocket, WsMessage>;
type Stream = SplitStream<WebSocket>;

async fn serve(core: Arc<Core>, limits: Arc<RateLimits>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let Some(session) = login(&core, &mut sink, &mut stream).await else {
        let _ = sink.close().await;
        return;
    };
    let span = tracing::Span::current();
    span.record("app", session.app.id.0);
    span.record("user", tracing::field::display(&session.user));
    span.record("device", session.device.as_str());
    let reason = run(session, Budget { core: &core, limits: &limits }, &mut sink, &mut stream).await;
    if let Some((reason, detail)) = reason {
        let detail = detail.map(|d| d.to_string());
        let _ = send(&mut sink, &ServerFrame::Kicked { reason: reason.as_str().into(), detail }).await;
        let _ = sink
            .send(WsMessage::Close(Some(CloseFrame { code: 4000, reason: Utf8Bytes::from(reason.as_str()) })))
            .await;
    }
    let _ = sink.close().await;
}

/// Waits for the login frame and opens the session; answers errors itself.
async fn login(core: &Core, sink: &mut Sink, stream: &mut Stream) -> Option<Session> {
    let frame = match tokio::time::timeout(LOGIN_TIMEOUT, next_frame(stream)).await {
        Ok(Some(Ok(frame))) => frame,
        Ok(Some(Err(message))) => {
            let _ = send(sink, &error_frame(None, "bad_frame", &message)).await;
            return None;
        }
        Ok(None) => return None,
        Err(_) => {
            let _ = send(sink, &error_frame(None, "login_timeout", "no login frame within 10 seconds")).await;
            return None;
        }
    };
    let ClientFrame::Login { token, leancloud, device, resume } = frame else {
        let _ = send(sink, &error_frame(None, "login_required", "the first frame must be a login")).await;
        return None;
    };
    let mut cursors = HashMap::with_capacity(resume.len());
    for (conv, seq) in resume {
        let Ok(id) = conv.parse() else {
            let _ = send(sink, &error_frame(None, "bad_frame", &format!("resume key {conv} is not a conversation id")))
                .await;
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
                let _ = send(sink, &error_frame(None, code, message)).await;
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
            send(sink, &ok).await.ok()?;
            Some(session)
        }
        Err(e) => {
            let (code, message) = login_error(&e);
            tracing::info!(why = code, "failed gateway login");
            let _ = send(sink, &error_frame(None, code, message)).await;
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

/// Replays the backlog, then serves live traffic. Returns why the server
/// ended the session, or `None` if the client left.
/// What a session's sends are charged to.
#[derive(Clone, Copy)]
struct Budget<'a> {
    core: &'a Core,
    limits: &'a RateLimits,
}

async fn run(
    mut session: Session,
    budget: Budget<'_>,
    sink: &mut Sink,
    stream: &mut Stream,
) -> Option<(KickReason, Option<Arc<str>>)> {
    loop {
        match session.next_backlog_page().await {
            Ok(Some(page)) => {
                for message in page {
                    send(sink, &message_frame(&message)).await.ok()?;
                }
            }
            Ok(None) => break,
            Err(e) => {
                tracing::warn!("backlog read failed: {e}");
                return Some((KickReason::Shutdown, None));
            }
        }
    }
    send(sink, &ServerFrame::Synced).await.ok()?;

    // One timer for the connection's life, moved on by client frames: a new
    // timer per loop would cost a timer-wheel insert and removal per event.
    let idle = tokio::time::sleep(IDLE_TIMEOUT);
    tokio::pin!(idle);
    loop {
        tokio::select! {
            incoming = stream.next() => {
                idle.as_mut().reset(Instant::now() + IDLE_TIMEOUT);
                match incoming {
                    Some(Ok(WsMessage::Text(text))) => handle_text(&session, budget, sink, &text).await.ok()?,
                    Some(Ok(WsMessage::Binary(_))) => {
                        send(sink, &error_frame(None, "bad_frame", "frames are JSON text")).await.ok()?;
                    }
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                    Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
                }
            }
            wake = session.wait() => {
                // This wake-up and whatever else is queued now go out with one
                // flush: under a burst that is one socket write for many frames.
                let mut next = Some(wake);
                let mut written = 0usize;
                while let Some(wake) = next.take() {
                    match session.process(wake).await {
                        Ok(Outcome::Deliver(messages)) => {
                            for message in messages {
                                sink.feed(WsMessage::Text(FRAMES.encoded(&message))).await.ok()?;
                                written += 1;
                            }
                        }
                        Ok(Outcome::Notify(event)) => {
                            sink.feed(WsMessage::Text(encode(&group_event_frame(&event)))).await.ok()?;
                            written += 1;
                        }
                        Ok(Outcome::Update(update)) => {
                            sink.feed(WsMessage::Text(encode(&update_frame(&update)))).await.ok()?;
                            written += 1;
                        }
                        Ok(Outcome::Close(reason)) => {
                            sink.flush().await.ok()?;
                            return Some((reason, None));
                        }
                        Ok(Outcome::CloseWith(reason, detail)) => {
                            sink.flush().await.ok()?;
                            return Some((reason, Some(detail)));
                        }
                        Err(e) => {
                            tracing::warn!("session failed: {e}");
                            return Some((KickReason::Shutdown, None));
                        }
                    }
                    if written < MAX_FRAMES_PER_FLUSH {
                        next = session.ready();
                    }
                }
                if written > 0 {
                    sink.flush().await.ok()?;
                }
            }
            _ = &mut idle => return None,
        }
    }
}

async fn handle_text(session: &Session, budget: Budget<'_>, sink: &mut Sink, text: &str) -> Result<(), axum::Error> {
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
        ClientFrame::Ack { conv, seq } => cursor_frame(session, sink, &conv, seq, false).await,
        ClientFrame::Read { conv, seq } => cursor_frame(session, sink, &conv, seq, true).await,
        ClientFrame::Send { reference, chat_type, to, body, ext } => {
            if let Some(refusal) = over_send_limit(session, budget).await {
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
async fn cursor_frame(session: &Session, sink: &mut Sink, conv: &str, seq: i64, read: bool) -> Result<(), axum::Error> {
    let Ok(id) = conv.parse() else {
        return send(sink, &error_frame(None, "bad_frame", &format!("{conv} is not a conversation id"))).await;
    };
    let conversation = ConversationId(id);
    let stored =
        if read { session.mark_read(conversation, seq).await } else { session.acknowledge(conversation, seq).await };
    if let Err(e) = stored {
        tracing::warn!("storing a cursor failed: {e}");
    }
    Ok(())
}

/// Charges a send to its user's budget, then to the app's; says which is spent.
/// (A send refused by the user's limit does not spend the app's.) The app is
/// read again (from the apps' cache) so that `confab app limit` reaches
/// sessions opened before it.
async fn over_send_limit(session: &Session, budget: Budget<'_>) -> Option<&'static str> {
    let current = budget.core.apps.by_name(&session.app.org, &session.app.name).await.ok().flatten();
    let app = current.as_ref().unwrap_or(&session.app);
    if !budget.limits.allow_user(app, GATEWAY_USER_MESSAGES_PER_SECOND, Per::Second, &session.user) {
        return Some("this user sends too many messages a second; nothing was sent");
    }
    if !budget.limits.allow(app, GATEWAY_APP_MESSAGES_PER_SECOND, Per::Second, 1) {
        return Some("this app's users send too many messages a second; nothing was sent");
    }
    None
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

async fn next_frame(stream: &mut Stream) -> Option<Result<ClientFrame, String>> {
    loop {
        match stream.next().await? {
            Ok(WsMessage::Text(text)) => return Some(serde_json::from_str(&text).map_err(|e| e.to_string())),
            Ok(WsMessage::Ping(_) | WsMessage::Pong(_)) => continue,
            Ok(WsMessage::Binary(_)) => return Some(Err("frames are JSON text".into())),
            Ok(WsMessage::Close(_)) | Err(_) => return None,
        }
    }
}

async fn send(sink: &mut Sink, frame: &ServerFrame) -> Result<(), axum::Error> {
    sink.send(WsMessage::Text(encode(frame))).await
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
