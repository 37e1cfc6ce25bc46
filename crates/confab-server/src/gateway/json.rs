//! confab's JSON protocol over WebSocket (docs/protocol.md).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;

use confab_core::error::{AuthFailure, Error};
use confab_core::fanout::KickReason;
use confab_core::gateway::{LoginRequest, Outcome, Session};
use confab_core::model::{Body, ConversationId, Message, Username};
use confab_core::Core;
use confab_protocol::{ClientFrame, MessageFrame, ServerFrame, HEARTBEAT_SECS, MAX_CLIENT_FRAME};

/// How long a new connection has to send its login frame.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection silent for this long is considered dead.
const IDLE_TIMEOUT: Duration = Duration::from_secs(3 * HEARTBEAT_SECS);

pub async fn upgrade(State(core): State<Arc<Core>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_CLIENT_FRAME).max_frame_size(MAX_CLIENT_FRAME).on_upgrade(move |socket| serve(core, socket))
}

type Sink = SplitSink<WebSocket, WsMessage>;
type Stream = SplitStream<WebSocket>;

async fn serve(core: Arc<Core>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let Some(session) = login(&core, &mut sink, &mut stream).await else {
        let _ = sink.close().await;
        return;
    };
    let reason = run(session, &mut sink, &mut stream).await;
    if let Some(reason) = reason {
        let _ = send(&mut sink, &ServerFrame::Kicked { reason: reason.as_str().into() }).await;
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
    let ClientFrame::Login { token, device, resume } = frame else {
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
    match core.gateway.login(LoginRequest { token, device, resume: cursors }).await {
        Ok(session) => {
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
async fn run(mut session: Session, sink: &mut Sink, stream: &mut Stream) -> Option<KickReason> {
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
                return Some(KickReason::Shutdown);
            }
        }
    }
    send(sink, &ServerFrame::Synced).await.ok()?;

    let mut idle_deadline = Instant::now() + IDLE_TIMEOUT;
    loop {
        tokio::select! {
            incoming = stream.next() => {
                idle_deadline = Instant::now() + IDLE_TIMEOUT;
                match incoming {
                    Some(Ok(WsMessage::Text(text))) => handle_text(&session, sink, &text).await.ok()?,
                    Some(Ok(WsMessage::Binary(_))) => {
                        send(sink, &error_frame(None, "bad_frame", "frames are JSON text")).await.ok()?;
                    }
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                    Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
                }
            }
            wake = session.wait() => {
                match session.process(wake).await {
                    Ok(Outcome::Deliver(messages)) => {
                        for message in messages {
                            send(sink, &message_frame(&message)).await.ok()?;
                        }
                    }
                    Ok(Outcome::Close(reason)) => return Some(reason),
                    Err(e) => {
                        tracing::warn!("session failed: {e}");
                        return Some(KickReason::Shutdown);
                    }
                }
            }
            _ = tokio::time::sleep_until(idle_deadline) => return None,
        }
    }
}

async fn handle_text(session: &Session, sink: &mut Sink, text: &str) -> Result<(), axum::Error> {
    let frame = match serde_json::from_str::<ClientFrame>(text) {
        Ok(frame) => frame,
        Err(e) => return send(sink, &error_frame(None, "bad_frame", &e.to_string())).await,
    };
    match frame {
        ClientFrame::Login { .. } => {
            send(sink, &error_frame(None, "already_logged_in", "this connection is logged in")).await
        }
        ClientFrame::Ping => send(sink, &ServerFrame::Pong).await,
        ClientFrame::Ack { conv, seq } => cursor_frame(session, sink, &conv, seq, false).await,
        ClientFrame::Read { conv, seq } => cursor_frame(session, sink, &conv, seq, true).await,
        ClientFrame::Send { reference, to, body, ext } => {
            let reply = match send_message(session, to, body, ext).await {
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

async fn send_message(
    session: &Session,
    to: String,
    body: serde_json::Value,
    ext: Option<serde_json::Value>,
) -> Result<Arc<Message>, (&'static str, String)> {
    let to = Username::parse(&to).map_err(|e| ("bad_receiver", e.to_string()))?;
    let body: Body = serde_json::from_value(body).map_err(|e| ("bad_body", e.to_string()))?;
    if ext.as_ref().is_some_and(|e| !e.is_object()) {
        return Err(("bad_body", "ext must be a JSON object".into()));
    }
    session.send(to, body, ext).await.map_err(|e| match e {
        Error::InvalidArgument(m) => ("bad_body", m),
        other => {
            tracing::warn!("gateway send failed: {other}");
            ("internal", "the message was not stored; try again".into())
        }
    })
}

fn message_frame(message: &Message) -> ServerFrame {
    ServerFrame::Msg(MessageFrame {
        msg_id: message.id.to_string(),
        conv: message.conversation.to_string(),
        seq: message.seq,
        chat_type: message.chat_type.as_str().into(),
        from: message.from.to_string(),
        to: message.to.clone(),
        body: serde_json::to_value(&message.body).unwrap_or_default(),
        ext: message.ext.clone(),
        timestamp: message.timestamp_ms,
    })
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
    let text = serde_json::to_string(frame).expect("frames serialize");
    sink.send(WsMessage::Text(text.into())).await
}
