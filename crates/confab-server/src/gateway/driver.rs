//! What every gateway protocol shares, so that a protocol module adds
//! framing and mapping and nothing else: admission (a session permit taken
//! before the upgrade, so a refused client costs no WebSocket), the session
//! span, the login deadline, the backlog replay, the live loop (client
//! frames, session wake-ups written in batches with one flush, the idle
//! deadline), the send budget and the closing kick.
//!
//! Login, ordering, acknowledgements and resume are the session core's
//! (`confab_core::gateway::Session`); a protocol turns its frames into calls
//! on it and its outcomes into frames, by implementing [`Protocol`].

use crate::metrics::ProtocolLabels;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;

use confab_core::events::{GroupEvent, KickReason, MessageUpdate, Receipt};
use confab_core::gateway::{Outcome, Session};
use confab_core::model::Message;
use confab_core::Core;

use crate::limits::{Per, RateLimits, GATEWAY_APP_MESSAGES_PER_SECOND, GATEWAY_USER_MESSAGES_PER_SECOND};

/// Most frames written before a flush, so one busy session cannot hold its
/// socket's buffer (and its own task) for long.
const MAX_FRAMES_PER_FLUSH: usize = 64;

/// The socket read buffer. tungstenite zero-fills the free part of it on every
/// read attempt, and a session attempts one on every wake-up (each event it
/// is sent); at the default 128 KiB that zeroing was a third of the server's
/// CPU when fanning out to a large group. Every session holds it while idle:
/// at 4 KiB it was half an idle JSON session's heap. Client frames are small
/// (acks, pings, a text message); a larger one grows the buffer as it comes.
const READ_BUFFER: usize = 1024;

/// A wire protocol of the gateway: its framing and its mapping to the
/// session core. Implementations keep per-connection state in `self`.
pub(super) trait Protocol: Send + 'static {
    /// The protocol's name in the session span.
    const NAME: &'static str;
    /// Largest client frame, in bytes.
    const MAX_FRAME: usize;
    /// How long a connection may stay silent before it is closed.
    const IDLE: Duration;
    /// How long a new connection has to log in.
    const LOGIN: Duration;

    /// Reads frames until the client logs in, and answers it; answers a
    /// refusal, and a client too slow to log in within [`Protocol::LOGIN`]
    /// ([`Io::next_within`]), itself. `None` closes the connection without
    /// a session. (The driver closes a connection still not logged in at
    /// twice that, whatever the protocol does.)
    fn login(&mut self, core: &Arc<Core>, io: &mut Io) -> impl Future<Output = Option<Session>> + Send;

    /// Told after the backlog: the client is up to date, or what it has not
    /// read (as the protocol says so).
    fn synced(&mut self, session: &Session) -> impl Future<Output = Vec<WsMessage>> + Send;

    /// One client frame of a logged-in session. `Err` when the socket failed
    /// or the protocol ends the connection.
    fn frame(
        &mut self,
        session: &Session,
        budget: Budget<'_>,
        frame: WsMessage,
        io: &mut Io,
    ) -> impl Future<Output = Result<(), End>> + Send;

    /// A message for the device.
    fn message(&mut self, session: &Session, message: &Arc<Message>) -> Option<WsMessage>;

    /// A group, room or thread event for the device. Async because a
    /// protocol may read what changed (LeanCloud tells a conversation's new
    /// attributes); such events are rare beside messages.
    fn group_event(
        &mut self,
        session: &Session,
        core: &Core,
        event: &GroupEvent,
    ) -> impl Future<Output = Option<WsMessage>> + Send;

    /// An edit, recall or deletion for the device.
    fn update(&mut self, session: &Session, update: &MessageUpdate) -> Option<WsMessage>;

    /// A delivery or read receipt for a message the user sent; the frames
    /// to write (none, when the client did not ask for it).
    fn receipt(&mut self, session: &Session, receipt: &Receipt) -> Vec<WsMessage> {
        let _ = (session, receipt);
        Vec::new()
    }

    /// The client left (its socket closed or failed, or it went silent),
    /// or the protocol ended the connection; the session is still open.
    fn ended(&mut self, session: &Session) -> impl Future<Output = ()> + Send {
        let _ = session;
        async {}
    }

    /// What the client is told when the server ends its session.
    fn kicked(&mut self, reason: KickReason, detail: Option<&str>) -> Vec<WsMessage>;
}

/// The connection ends (the socket failed, or the protocol closes it after
/// a frame it does not survive, having told the client why).
#[derive(Debug)]
pub(super) struct End;

impl From<axum::Error> for End {
    fn from(_: axum::Error) -> End {
        End
    }
}

/// The two halves of one connection's WebSocket.
pub(super) struct Io {
    sink: SplitSink<WebSocket, WsMessage>,
    stream: SplitStream<WebSocket>,
}

impl Io {
    /// Writes one frame now.
    pub async fn send(&mut self, frame: WsMessage) -> Result<(), axum::Error> {
        self.sink.send(frame).await
    }

    /// The next data frame within `limit`: `Err` when none came in time.
    pub async fn next_within(&mut self, limit: Duration) -> Result<Option<WsMessage>, tokio::time::error::Elapsed> {
        tokio::time::timeout(limit, self.next()).await
    }

    /// The next data frame (text or binary), skipping pings; `None` when the
    /// client closed or the socket failed.
    pub async fn next(&mut self) -> Option<WsMessage> {
        loop {
            match self.stream.next().await? {
                Ok(WsMessage::Ping(_) | WsMessage::Pong(_)) => continue,
                Ok(WsMessage::Close(_)) | Err(_) => return None,
                Ok(frame) => return Some(frame),
            }
        }
    }
}

/// What a session's sends are charged to.
#[derive(Clone, Copy)]
pub(super) struct Budget<'a> {
    core: &'a Core,
    limits: &'a RateLimits,
    /// The protocol's counters in `/metrics`.
    counters: &'a Counters,
}

/// A protocol's counters, resolved once per session.
pub(super) struct Counters {
    sends: prometheus_client::metrics::counter::Counter,
    deliveries: prometheus_client::metrics::counter::Counter,
}

impl Budget<'_> {
    /// The core the session runs on.
    pub fn core(&self) -> &Core {
        self.core
    }

    /// The server's limits (an app's own, else the defaults).
    pub fn limits(&self) -> &RateLimits {
        self.limits
    }

    /// Charges a send to its user's budget, then to the app's; says which is
    /// spent. (A send refused by the user's limit does not spend the app's.)
    /// The app is read again (from the apps' cache) so that `confab app
    /// limit` reaches sessions opened before it.
    pub async fn charge_send(&self, session: &Session) -> Option<&'static str> {
        let current = self.core.apps.by_name(&session.app.org, &session.app.name).await.ok().flatten();
        let app = current.as_ref().unwrap_or(&session.app);
        let spent = self.charge(app, session);
        if spent.is_none() {
            self.counters.sends.inc();
        }
        spent
    }

    fn charge(&self, app: &confab_core::model::App, session: &Session) -> Option<&'static str> {
        if !self.limits.allow_user(app, GATEWAY_USER_MESSAGES_PER_SECOND, Per::Second, &session.user) {
            return Some("this user sends too many messages a second; nothing was sent");
        }
        if !self.limits.allow(app, GATEWAY_APP_MESSAGES_PER_SECOND, Per::Second, 1) {
            return Some("this app's users send too many messages a second; nothing was sent");
        }
        None
    }
}

/// Opens a session speaking `protocol`, or answers 503 when `max_sessions`
/// are open.
pub(super) fn upgrade<P: Protocol>(state: super::State, ws: WebSocketUpgrade, protocol: P) -> Response {
    let Ok(permit) = state.sessions.clone().try_acquire_owned() else {
        let headers = [(axum::http::header::RETRY_AFTER, "5")];
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, headers, "too many sessions; try again later")
            .into_response();
    };
    // The session's log lines carry the upgrade request's ID.
    let request = tracing::Span::current();
    // What the session keeps, moved once into one allocation. Captured by
    // value instead, the protocol's state and the server's would be in the
    // connection's task three times over (axum's task keeps the upgrade's
    // callback after calling it, and an async block keeps what it passed
    // on), and an idle session pays for every copy.
    let parts = Box::new((state, protocol, permit));
    ws.max_message_size(P::MAX_FRAME).max_frame_size(P::MAX_FRAME).read_buffer_size(READ_BUFFER).on_upgrade(
        move |socket| {
            // The session's span outlives the upgrade request's: every log
            // line of the connection names it, and login fills in who it is.
            let span = tracing::info_span!(
                parent: &request,
                "session",
                protocol = P::NAME,
                app = tracing::field::Empty,
                user = tracing::field::Empty,
                device = tracing::field::Empty
            );
            tracing::Instrument::instrument(Box::pin(serve(parts, Box::new(socket))), span)
        },
    )
}

/// A session's task is as large as the largest future it may hold at any
/// await, and an idle session holds all of it: a protocol's login, frame and
/// event handlers (which reach deep into the core: 6 KiB for a JSON frame,
/// 40 KiB for a LeanCloud one) are boxed for the time they run, so that an
/// idle session costs what it keeps, not what it might do.
///
/// `parts` holds the server's handles, the protocol's state and the
/// session's place under `max_sessions` (held to the end). They and the
/// socket come boxed: an async fn keeps each argument twice (as passed, and
/// as the body's variable), which for the protocol's state and the socket
/// would be several hundred bytes more per idle session.
async fn serve<P: Protocol>(
    mut parts: Box<(super::State, P, tokio::sync::OwnedSemaphorePermit)>,
    socket: Box<WebSocket>,
) {
    let (state, protocol, _permit) = &mut *parts;
    let (sink, stream) = (*socket).split();
    let mut io = Io { sink, stream };
    let login = tokio::time::timeout(P::LOGIN * 2, Box::pin(protocol.login(&state.core, &mut io))).await;
    let Ok(Some(session)) = login else {
        let _ = io.sink.close().await;
        return;
    };
    let span = tracing::Span::current();
    span.record("app", session.app.id.0);
    span.record("user", tracing::field::display(&session.user));
    span.record("device", session.device.as_str());
    debug_assert!(crate::metrics::PROTOCOLS.contains(&P::NAME), "the console's live view sums PROTOCOLS");
    let labels = ProtocolLabels { protocol: P::NAME.to_owned() };
    let counters = Counters {
        sends: state.metrics.sends.get_or_create(&labels).clone(),
        deliveries: state.metrics.deliveries.get_or_create(&labels).clone(),
    };
    let open = state.metrics.sessions.get_or_create(&labels).clone();
    open.inc();
    let budget = Budget { core: &state.core, limits: &state.limits, counters: &counters };
    let mut session = session;
    match run(&mut session, budget, protocol, &mut io).await {
        Some((reason, detail)) => {
            for frame in protocol.kicked(reason, detail.as_deref()) {
                if io.sink.send(frame).await.is_err() {
                    break;
                }
            }
        }
        None => Box::pin(protocol.ended(&session)).await,
    }
    // The session ends now (unregistered, no longer listed as online); only
    // the socket lingers.
    drop(session);
    open.dec();
    let _ = io.sink.close().await;
    // Read what the client still sends until it answers the close: a socket
    // dropped with unread data is reset, and a reset makes the client's
    // kernel discard what it had not read yet, the kick and the close
    // frame among it.
    let drained = async { while let Some(Ok(_)) = io.stream.next().await {} };
    let _ = tokio::time::timeout(CLOSE_LINGER, drained).await;
}

/// How long a closing connection waits for the client's close.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// Replays the backlog, then serves live traffic. Returns why the server
/// ended the session, or `None` if the client left.
async fn run<P: Protocol>(
    session: &mut Session,
    budget: Budget<'_>,
    protocol: &mut P,
    io: &mut Io,
) -> Option<(KickReason, Option<Arc<str>>)> {
    loop {
        match session.next_backlog_page().await {
            Ok(Some(page)) => {
                for message in page {
                    if let Some(frame) = protocol.message(session, &message) {
                        io.sink.feed(frame).await.ok()?;
                        budget.counters.deliveries.inc();
                    }
                }
                io.sink.flush().await.ok()?;
            }
            Ok(None) => break,
            Err(e) => {
                tracing::warn!("backlog read failed: {e}");
                return Some((KickReason::Shutdown, None));
            }
        }
    }
    for frame in Box::pin(protocol.synced(session)).await {
        io.send(frame).await.ok()?;
    }

    // One timer for the connection's life, moved on by client frames: a new
    // timer per loop would cost a timer-wheel insert and removal per event.
    let idle = tokio::time::sleep(P::IDLE);
    tokio::pin!(idle);
    loop {
        tokio::select! {
            incoming = io.stream.next() => {
                idle.as_mut().reset(Instant::now() + P::IDLE);
                match incoming {
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                    Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
                    Some(Ok(frame)) => Box::pin(protocol.frame(session, budget, frame, io)).await.ok()?,
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
                            for message in &messages {
                                if let Some(frame) = protocol.message(session, message) {
                                    io.sink.feed(frame).await.ok()?;
                                    budget.counters.deliveries.inc();
                                    written += 1;
                                }
                            }
                        }
                        Ok(Outcome::Notify(event)) => {
                            if let Some(frame) = Box::pin(protocol.group_event(session, budget.core(), &event)).await {
                                io.sink.feed(frame).await.ok()?;
                                written += 1;
                            }
                        }
                        Ok(Outcome::Update(update)) => {
                            if let Some(frame) = protocol.update(session, &update) {
                                io.sink.feed(frame).await.ok()?;
                                written += 1;
                            }
                        }
                        Ok(Outcome::Receipt(receipt)) => {
                            for frame in protocol.receipt(session, &receipt) {
                                io.sink.feed(frame).await.ok()?;
                                written += 1;
                            }
                        }
                        Ok(Outcome::Close(reason)) => {
                            io.sink.flush().await.ok()?;
                            return Some((reason, None));
                        }
                        Ok(Outcome::CloseWith(reason, detail)) => {
                            io.sink.flush().await.ok()?;
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
                    io.sink.flush().await.ok()?;
                }
            }
            _ = &mut idle => return None,
        }
    }
}
