//! Client library for confab: a token helper over REST and a WebSocket
//! connection speaking confab's JSON gateway protocol (docs/protocol.md).
//!
//! The CLI (`confab client …`), the integration tests and the load
//! generator all use it, so the protocol is exercised the way an app would.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message as WsMessage;

pub use confab_protocol::{ClientFrame, MessageFrame, ServerFrame};

/// Where a confab server is and which app to use.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `host:port` of the HTTP listener.
    pub addr: String,
    pub org: String,
    pub app: String,
}

impl Endpoint {
    pub fn http_base(&self) -> String {
        format!("http://{}/{}/{}", self.addr, self.org, self.app)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}{}", self.addr, confab_protocol::PATH)
    }

    /// Gets a user token with the password grant (E-auth-2).
    pub async fn user_token(&self, http: &reqwest::Client, username: &str, password: &str) -> anyhow::Result<String> {
        let body = json!({"grant_type": "password", "username": username, "password": password});
        self.token(http, body).await
    }

    /// Gets an app token with the client-credentials grant (E-auth-1).
    pub async fn app_token(
        &self,
        http: &reqwest::Client,
        client_id: &str,
        client_secret: &str,
    ) -> anyhow::Result<String> {
        let body = json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret});
        self.token(http, body).await
    }

    /// Gets a user token by user ID with the app token (`grant_type: inherit`),
    /// creating the user without a password if missing.
    pub async fn user_token_by_id(
        &self,
        http: &reqwest::Client,
        app_token: &str,
        username: &str,
    ) -> anyhow::Result<String> {
        let body = json!({"grant_type": "inherit", "username": username, "autoCreateUser": true});
        self.token_with(http, Some(app_token), body).await
    }

    async fn token(&self, http: &reqwest::Client, body: Value) -> anyhow::Result<String> {
        self.token_with(http, None, body).await
    }

    async fn token_with(&self, http: &reqwest::Client, bearer: Option<&str>, body: Value) -> anyhow::Result<String> {
        let url = format!("{}/token", self.http_base());
        let mut request = http.post(&url).json(&body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let reply: Value = response.json().await.context("token reply is not JSON")?;
        if !status.is_success() {
            bail!(
                "token request refused ({status}): {}",
                reply["error_description"].as_str().unwrap_or("no description")
            );
        }
        reply["access_token"].as_str().map(str::to_owned).ok_or_else(|| anyhow!("token reply has no access_token"))
    }
}

/// How to open a connection.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub device: Option<String>,
    /// Conversation → last sequence this device has (from [`Connection::cursors`]).
    pub resume: HashMap<String, i64>,
    /// Acknowledge received messages automatically (batched per conversation).
    pub auto_ack: bool,
    /// Log in with a LeanCloud login signature instead of a token.
    pub leancloud: Option<confab_protocol::SignedLogin>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions { device: None, resume: HashMap::new(), auto_ack: true, leancloud: None }
    }
}

/// What a connection hears from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Message(MessageFrame),
    /// The backlog is done; what follows is live.
    Synced,
    Kicked {
        reason: String,
    },
    /// A group, chat room or thread changed (`event` names how).
    Group {
        chat_type: String,
        group: String,
        conv: String,
        event: String,
        users: Vec<String>,
    },
    /// A message was edited, recalled or deleted (`change` names how);
    /// `msg` is the edited message.
    Update {
        change: String,
        msg_id: String,
        conv: String,
        by: Option<String>,
        msg: Option<MessageFrame>,
    },
    Error {
        code: String,
        message: String,
    },
    /// The connection is gone.
    Closed,
}

/// The answer to a send.
#[derive(Debug, Clone, PartialEq)]
pub struct SendOk {
    pub msg_id: String,
    pub conv: String,
    pub seq: i64,
    pub timestamp: i64,
}

/// The server's answer to a request frame.
#[derive(Debug)]
enum Reply {
    Sent(SendOk),
    Joined { conv: String },
    Left,
    PushBound,
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Result<Reply, (String, String)>>>>>;

/// How long after a message arrives it is acknowledged, with every other
/// message that arrived meanwhile.
const ACK_DELAY: Duration = Duration::from_millis(250);

/// A logged-in gateway connection.
#[derive(Debug)]
pub struct Connection {
    pub user: String,
    pub device: String,
    outgoing: mpsc::Sender<ClientFrame>,
    events: mpsc::Receiver<Event>,
    pending: Pending,
    cursors: Arc<Mutex<HashMap<String, i64>>>,
    next_ref: AtomicU64,
}

impl Connection {
    /// Connects and logs in; fails with the server's reason if refused.
    pub async fn connect(ws_url: &str, token: &str, options: ConnectOptions) -> anyhow::Result<Connection> {
        // Nagle off: acks and sends are small frames that must not wait. A
        // small read buffer, because tungstenite zero-fills it on every read.
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(16 * 1024);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(ws_url, Some(config), true)
            .await
            .with_context(|| format!("cannot connect to {ws_url}"))?;
        let login = ClientFrame::Login {
            token: token.to_owned(),
            leancloud: options.leancloud.clone(),
            device: options.device.clone(),
            resume: options.resume.clone(),
        };
        ws.send(WsMessage::Text(serde_json::to_string(&login)?.into())).await?;
        let (user, device) = loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .context("no answer to login")?
                .ok_or_else(|| anyhow!("connection closed during login"))??;
            let WsMessage::Text(text) = frame else {
                continue;
            };
            match serde_json::from_str::<ServerFrame>(&text)? {
                ServerFrame::LoginOk { user, device, .. } => break (user, device),
                ServerFrame::Error { code, message, .. } => {
                    bail!("login refused: {code}: {message}")
                }
                other => bail!("unexpected frame during login: {other:?}"),
            }
        };
        let (outgoing, outgoing_rx) = mpsc::channel(1024);
        let (events_tx, events) = mpsc::channel(65_536);
        let pending: Pending = Arc::default();
        let cursors = Arc::new(Mutex::new(options.resume.clone()));
        tokio::spawn(io_loop(ws, outgoing_rx, events_tx, pending.clone(), cursors.clone(), options.auto_ack));
        Ok(Connection { user, device, outgoing, events, pending, cursors, next_ref: AtomicU64::new(1) })
    }

    /// The next event; `Closed` once the connection is gone.
    pub async fn next_event(&mut self) -> Event {
        self.events.recv().await.unwrap_or(Event::Closed)
    }

    /// Sends a one-to-one message and waits until the server has stored it.
    pub async fn send(&self, to: &str, body: Value, ext: Option<Value>) -> anyhow::Result<SendOk> {
        self.send_to("chat", to, body, ext).await
    }

    /// Sends to a user (`chat`) or to a group, room or thread by ID
    /// (`groupchat`, `chatroom`, `thread`) and waits until it is stored.
    pub async fn send_to(&self, chat_type: &str, to: &str, body: Value, ext: Option<Value>) -> anyhow::Result<SendOk> {
        let chat_type = (chat_type != "chat").then(|| chat_type.to_owned());
        let to = to.to_owned();
        let reply = self.request(|reference| ClientFrame::Send { reference, chat_type, to, body, ext }).await;
        match reply.map_err(|e| anyhow!("send refused: {e}"))? {
            Reply::Sent(ok) => Ok(ok),
            other => bail!("unexpected answer to a send: {other:?}"),
        }
    }

    /// Enters a chat room; returns its conversation ID.
    pub async fn join_room(&self, room: &str) -> anyhow::Result<String> {
        let room = room.to_owned();
        match self
            .request(|reference| ClientFrame::JoinRoom { reference, room })
            .await
            .map_err(|e| anyhow!("join refused: {e}"))?
        {
            Reply::Joined { conv } => Ok(conv),
            other => bail!("unexpected answer to a join: {other:?}"),
        }
    }

    /// Leaves a chat room.
    pub async fn leave_room(&self, room: &str) -> anyhow::Result<()> {
        let room = room.to_owned();
        match self
            .request(|reference| ClientFrame::LeaveRoom { reference, room })
            .await
            .map_err(|e| anyhow!("leave refused: {e}"))?
        {
            Reply::Left => Ok(()),
            other => bail!("unexpected answer to a leave: {other:?}"),
        }
    }

    /// Binds this device's push token for offline pushes through the app's
    /// provider named `notifier` (an empty token unbinds it).
    pub async fn bind_push_token(&self, token: &str, notifier: &str) -> anyhow::Result<()> {
        let (token, notifier) = (token.to_owned(), notifier.to_owned());
        match self
            .request(|reference| ClientFrame::PushToken { reference, token, notifier })
            .await
            .map_err(|e| anyhow!("push token refused: {e}"))?
        {
            Reply::PushBound => Ok(()),
            other => bail!("unexpected answer to a push token: {other:?}"),
        }
    }

    /// Sends a frame made with a fresh `ref` and waits for its answer.
    async fn request(&self, frame: impl FnOnce(Option<String>) -> ClientFrame) -> anyhow::Result<Reply> {
        let reference = self.next_ref.fetch_add(1, Ordering::Relaxed).to_string();
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(reference.clone(), tx);
        self.outgoing.send(frame(Some(reference))).await.map_err(|_| anyhow!("connection closed"))?;
        match rx.await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err((code, message))) => bail!("{code}: {message}"),
            Err(_) => bail!("connection closed before the request was answered"),
        }
    }

    /// Acknowledges a conversation up to `seq` (only needed without auto-ack).
    pub async fn ack(&self, conv: &str, seq: i64) -> anyhow::Result<()> {
        self.outgoing
            .send(ClientFrame::Ack { conv: conv.to_owned(), seq })
            .await
            .map_err(|_| anyhow!("connection closed"))
    }

    /// Marks a conversation read up to `seq`.
    pub async fn read(&self, conv: &str, seq: i64) -> anyhow::Result<()> {
        self.outgoing
            .send(ClientFrame::Read { conv: conv.to_owned(), seq })
            .await
            .map_err(|_| anyhow!("connection closed"))
    }

    /// Closes the connection after every frame queued so far (acks, reads)
    /// has been written, so a client that stops does not lose its last
    /// acknowledgements; events not yet taken are dropped.
    pub async fn close(self) {
        let Connection { outgoing, mut events, .. } = self;
        drop(outgoing);
        while !matches!(events.recv().await, Some(Event::Closed) | None) {}
    }

    /// Per conversation, the highest sequence received: pass it as
    /// `resume` when reconnecting to continue without gaps or duplicates.
    pub fn cursors(&self) -> HashMap<String, i64> {
        self.cursors.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Hands a request's answer to whoever waits for it.
fn answer(pending: &Pending, reference: Option<String>, reply: Reply) {
    if let Some(tx) = reference.and_then(|r| pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&r)) {
        let _ = tx.send(Ok(reply));
    }
}

async fn io_loop(
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    mut outgoing: mpsc::Receiver<ClientFrame>,
    events: mpsc::Sender<Event>,
    pending: Pending,
    cursors: Arc<Mutex<HashMap<String, i64>>>,
    auto_ack: bool,
) {
    let (mut sink, mut stream) = ws.split();
    // Conversations received into since the last ack. Acks are cumulative
    // (up to a sequence number), so they go out together ACK_DELAY after the
    // first message that needs one, rather than one per message: a message
    // to a large group would otherwise bring the server a frame back from
    // every member at once, as it fans out the next.
    let mut unacked: HashSet<String> = HashSet::new();
    let mut heartbeat = tokio::time::interval(Duration::from_secs(confab_protocol::HEARTBEAT_SECS));
    let ack_timer = tokio::time::sleep(ACK_DELAY);
    tokio::pin!(ack_timer);
    loop {
        tokio::select! {
            biased;
            incoming = stream.next() => {
                let text = match incoming {
                    Some(Ok(WsMessage::Text(text))) => text,
                    Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let Ok(frame) = serde_json::from_str::<ServerFrame>(&text) else { continue };
                match frame {
                    ServerFrame::Msg(message) => {
                        {
                            let mut cursors = cursors.lock().unwrap_or_else(|e| e.into_inner());
                            let cursor = cursors.entry(message.conv.clone()).or_insert(0);
                            *cursor = (*cursor).max(message.seq);
                        }
                        if auto_ack {
                            if unacked.is_empty() {
                                ack_timer.as_mut().reset(tokio::time::Instant::now() + ACK_DELAY);
                            }
                            unacked.insert(message.conv.clone());
                        }
                        if events.send(Event::Message(message)).await.is_err() {
                            break;
                        }
                    }
                    ServerFrame::SendOk { reference, msg_id, conv, seq, timestamp } => {
                        answer(&pending, reference, Reply::Sent(SendOk { msg_id, conv, seq, timestamp }));
                    }
                    ServerFrame::Joined { reference, conv, .. } => answer(&pending, reference, Reply::Joined { conv }),
                    ServerFrame::Left { reference, .. } => answer(&pending, reference, Reply::Left),
                    ServerFrame::PushBound { reference, .. } => answer(&pending, reference, Reply::PushBound),
                    ServerFrame::Error { reference: Some(r), code, message } => {
                        if let Some(tx) = pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&r) {
                            let _ = tx.send(Err((code, message)));
                        }
                    }
                    ServerFrame::Error { reference: None, code, message } => {
                        let _ = events.send(Event::Error { code, message }).await;
                    }
                    ServerFrame::Synced => {
                        let _ = events.send(Event::Synced).await;
                    }
                    ServerFrame::Kicked { reason, detail } => {
                        let reason = match detail {
                            Some(detail) => format!("{reason}: {detail}"),
                            None => reason,
                        };
                        let _ = events.send(Event::Kicked { reason }).await;
                    }
                    ServerFrame::GroupEvent { chat_type, group, conv, event, users, .. } => {
                        let _ = events.send(Event::Group { chat_type, group, conv, event, users }).await;
                    }
                    ServerFrame::MsgUpdate { change, msg_id, conv, by, msg, .. } => {
                        let _ = events.send(Event::Update { change, msg_id, conv, by, msg }).await;
                    }
                    ServerFrame::LoginOk { .. } | ServerFrame::Pong => {}
                }
            }
            frame = outgoing.recv() => {
                let Some(frame) = frame else {
                    // `Connection::close`: everything queued is written.
                    let _ = sink.send(WsMessage::Close(None)).await;
                    break;
                };
                let text = serde_json::to_string(&frame).expect("frames serialize");
                if sink.send(WsMessage::Text(text.into())).await.is_err() {
                    break;
                }
            }
            _ = heartbeat.tick() => {
                let ping = serde_json::to_string(&ClientFrame::Ping).expect("frames serialize");
                if sink.send(WsMessage::Text(ping.into())).await.is_err() {
                    break;
                }
            }
            _ = &mut ack_timer, if !unacked.is_empty() => {
                let acks: Vec<(String, i64)> = {
                    let cursors = cursors.lock().unwrap_or_else(|e| e.into_inner());
                    unacked.drain().filter_map(|c| cursors.get(&c).map(|s| (c, *s))).collect()
                };
                for (conv, seq) in acks {
                    let text = serde_json::to_string(&ClientFrame::Ack { conv, seq }).expect("frames serialize");
                    if sink.send(WsMessage::Text(text.into())).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
    pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let _ = events.send(Event::Closed).await;
}
