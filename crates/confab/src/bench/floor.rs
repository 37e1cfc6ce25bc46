//! The per-message floor of this machine: a stand-in server that does the
//! least a persisted, delivered and acknowledged message needs, with the
//! libraries confab itself is built on, so that the bench can say how close
//! confab is to what the machine allows.
//!
//! It runs as a process of its own (`confab bench --floor-server`, as
//! confab's server is a process of its own) and answers the part of confab's
//! surface the bench's throughput and latency phases use, so the same load
//! generator drives both:
//! - `POST /{org}/{app}/messages/users`: axum and serde_json parse the send,
//!   one SQLite writer thread commits it (WAL, the server's pragmas and
//!   durability, a group commit per batch the queue holds), and the writer
//!   fans it out in commit order to the receiver's WebSocket session;
//! - `GET /ws`: axum's WebSocket, confab's JSON protocol frames (login,
//!   message, ack, ping); each ack is written as the device's cursor.
//!
//! What it leaves out is what confab adds to the floor: authentication
//! beyond comparing a token, the dialects' validation and answers, users,
//! conversations and members in storage, the history indexes, rate limits,
//! callbacks, push, metrics, and resume. The load generator's CPU is not in
//! either figure: both are the server process's own time from `/proc`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt as _;
use tokio::sync::{mpsc, oneshot};

use confab_client::Endpoint;
use confab_protocol::{ClientFrame, MessageFrame, ServerFrame};

use super::{cpu_seconds, latency, throughput, BenchArgs, Latency, Throughput, APP, OFFLINE, ORG};

/// The only app token the floor knows (it has one app, as the bench does).
const APP_TOKEN: &str = "floor-app-token";
/// A user's token is this prefix and the username: the floor checks no password.
const USER_TOKEN_PREFIX: &str = "floor-user:";
/// Writes one commit takes at most, as confab's writer bounds its groups.
const MAX_GROUP: usize = 512;
/// Frames queued for one session before it is treated as too slow.
const SESSION_QUEUE: usize = 1024;

/// What the floor measured, beside what confab measured in the same run.
pub(super) struct Figures {
    pub throughput: Throughput,
    pub cpu_per_send_us: f64,
    pub latency: Latency,
    /// The latency phase at the floor's own share of its maximum
    /// (`--load-fraction` of its closed loop): the floor of a target stated
    /// against a server's own maximum, as "p99 at half load" is.
    pub own_load: Latency,
    /// Resident memory per idle session (`--idle-connections` of them), KiB.
    pub idle_kib: Option<f64>,
}

/// Starts the floor's server, runs the closed loop, the latency phase at
/// `rate` (confab's rate, so both commit groups of the same size) and the
/// latency phase at its own share of its maximum against it, and stops it.
pub(super) async fn measure(args: &BenchArgs, rate: f64) -> anyhow::Result<Figures> {
    let mut server = tokio::process::Command::new(std::env::current_exe()?)
        .args(["bench", "--floor-server", "--sqlite-sync", &args.sqlite_sync])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the floor's server")?;
    let pid = server.id().context("the floor's server has no process ID")?;
    let mut lines = tokio::io::BufReader::new(server.stdout.take().context("floor stdout")?).lines();
    let addr = lines.next_line().await?.context("the floor's server did not say its address")?;
    let endpoints = [Endpoint { addr, org: ORG.into(), app: APP.into() }];
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency * 2).build()?;
    let duration = Duration::from_secs(args.duration_secs);

    let before = cpu_seconds(pid)?;
    let rate_max = throughput(&http, &endpoints, APP_TOKEN, args.concurrency, duration, OFFLINE).await?;
    let used = cpu_seconds(pid)? - before;
    let cpu_per_send_us = used * 1e6 / (rate_max.per_sec * args.duration_secs as f64).max(1.0);
    let cpu = || cpu_seconds(pid);
    let at_rate =
        latency(&http, &endpoints, APP_TOKEN, ("floor", args.receivers), args.concurrency, rate, duration, &cpu)
            .await?;
    let own_rate = rate_max.per_sec * args.load_fraction;
    let own_load = latency(
        &http,
        &endpoints,
        APP_TOKEN,
        ("floor-own", args.receivers),
        args.concurrency,
        own_rate,
        duration,
        &cpu,
    )
    .await?;
    let idle_kib = match args.idle_connections {
        0 => None,
        // Measured as confab's JSON sessions are: password logins after a
        // first batch in and out (the floor checks no password).
        count => Some(super::idle_memory(&http, &endpoints[0], APP_TOKEN, pid, count).await?.0.kib),
    };
    drop(server);
    Ok(Figures { throughput: rate_max, cpu_per_send_us, latency: at_rate, own_load, idle_kib })
}

/// `confab bench --floor-server`: prints its address, then serves until killed.
pub(super) async fn serve(sqlite_sync: &str) -> anyhow::Result<()> {
    let synchronous = match sqlite_sync {
        "full" => "FULL",
        "normal" => "NORMAL",
        other => anyhow::bail!("--sqlite-sync must be full or normal, not {other}"),
    };
    let folder = super::tempfile_dir::TempDir::new(usize::MAX)?;
    let connection = open(&folder.0.join("floor.db"), synchronous)?;
    let sessions: Sessions = Arc::default();
    let (writes, queue) = mpsc::channel(4 * MAX_GROUP);
    let writer_sessions = sessions.clone();
    std::thread::Builder::new()
        .name("floor-writer".into())
        .spawn(move || write_all(connection, queue, &writer_sessions))?;
    let floor = Arc::new(Floor { writes, sessions });
    let router = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/{org}/{app}/token", post(token))
        .route("/{org}/{app}/users", post(|| async { Json(json!({"entities": []})) }))
        .route("/{org}/{app}/messages/users", post(send))
        .route(confab_protocol::PATH, get(upgrade))
        .with_state(floor);
    use axum::serve::ListenerExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router).await?;
    Ok(())
}

/// Each connected user's queue of ready-made frames.
type Sessions = Arc<Mutex<HashMap<String, mpsc::Sender<String>>>>;

struct Floor {
    writes: mpsc::Sender<Write>,
    sessions: Sessions,
}

/// What the writer thread commits.
enum Write {
    Message { from: String, to: String, body: Value, ext: Option<Value>, at_ms: i64, done: oneshot::Sender<i64> },
    Cursor { user: String, conv: i64, seq: i64 },
}

fn open(path: &std::path::Path, synchronous: &str) -> anyhow::Result<rusqlite::Connection> {
    let connection = rusqlite::Connection::open(path)?;
    // confab's own pragmas (confab-sqlite), so the commit costs the same.
    connection.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={synchronous}; PRAGMA cache_size=-65536; \
         PRAGMA wal_autocheckpoint=4000; PRAGMA temp_store=MEMORY;
         CREATE TABLE messages (id INTEGER PRIMARY KEY, conv INTEGER NOT NULL, seq INTEGER NOT NULL,
             sender TEXT NOT NULL, at INTEGER NOT NULL, body TEXT NOT NULL);
         CREATE UNIQUE INDEX messages_by_conv ON messages (conv, seq);
         CREATE TABLE cursors (user TEXT NOT NULL, conv INTEGER NOT NULL, seq INTEGER NOT NULL,
             PRIMARY KEY (user, conv)) WITHOUT ROWID;"
    ))?;
    Ok(connection)
}

/// A conversation's ID and its last sequence number, kept by the writer
/// alone, so numbers are given in commit order.
struct Conversation {
    id: i64,
    last_seq: i64,
}

/// The writer thread: takes what is queued (up to [`MAX_GROUP`]), commits it
/// in one transaction, answers the senders, and queues each message's frame
/// to its receiver's session in commit order.
fn write_all(mut connection: rusqlite::Connection, mut queue: mpsc::Receiver<Write>, sessions: &Sessions) {
    let mut conversations: HashMap<(String, String), Conversation> = HashMap::new();
    let mut next_id = 1i64;
    let mut group = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = queue.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(write) => group.push(write),
                Err(_) => break,
            }
        }
        let mut delivered = Vec::new();
        let committed = (|| -> rusqlite::Result<()> {
            let transaction = connection.transaction()?;
            for write in group.drain(..) {
                match write {
                    Write::Message { from, to, body, ext, at_ms, done } => {
                        let pair = if from <= to { (from.clone(), to.clone()) } else { (to.clone(), from.clone()) };
                        let conversation =
                            conversations.entry(pair).or_insert_with(|| Conversation { id: next_id, last_seq: 0 });
                        conversation.last_seq += 1;
                        let (id, conv, seq) = (next_id, conversation.id, conversation.last_seq);
                        next_id += 1;
                        transaction
                            .prepare_cached(
                                "INSERT INTO messages (id, conv, seq, sender, at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                            )?
                            .execute(rusqlite::params![id, conv, seq, from, at_ms, body.to_string()])?;
                        delivered.push((
                            MessageFrame {
                                msg_id: id.to_string(),
                                conv: conv.to_string(),
                                seq,
                                chat_type: "chat".into(),
                                from,
                                to,
                                body,
                                ext,
                                timestamp: at_ms,
                                original: None,
                                transient: false,
                            },
                            done,
                            id,
                        ));
                    }
                    Write::Cursor { user, conv, seq } => {
                        transaction
                            .prepare_cached(
                                "INSERT INTO cursors (user, conv, seq) VALUES (?1, ?2, ?3)
                                 ON CONFLICT (user, conv) DO UPDATE SET seq = max(seq, excluded.seq)",
                            )?
                            .execute(rusqlite::params![user, conv, seq])?;
                    }
                }
            }
            transaction.commit()
        })();
        if let Err(e) = committed {
            // Nothing of the group is acknowledged: dropping `done` answers 503.
            eprintln!("floor: commit failed: {e}");
            continue;
        }
        let sessions = sessions.lock().unwrap_or_else(|e| e.into_inner());
        for (message, done, id) in delivered {
            let _ = done.send(id);
            if let Some(session) = sessions.get(&message.to) {
                let frame = serde_json::to_string(&ServerFrame::Msg(message)).expect("frames serialize");
                // A full queue is a session too slow to keep: its frames are dropped.
                let _ = session.try_send(frame);
            }
        }
    }
}

#[derive(Deserialize)]
struct SendRequest {
    from: String,
    to: Vec<String>,
    #[serde(rename = "type")]
    kind: String,
    body: Value,
    #[serde(default)]
    ext: Option<Value>,
}

async fn send(State(floor): State<Arc<Floor>>, headers: HeaderMap, Json(request): Json<SendRequest>) -> Response {
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(APP_TOKEN) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut body = request.body;
    if let Value::Object(fields) = &mut body {
        fields.insert("type".into(), Value::String(request.kind));
    }
    let at_ms = super::unix_ms();
    let mut answers = Vec::with_capacity(request.to.len());
    for to in request.to {
        let (done, answer) = oneshot::channel();
        let write = Write::Message {
            from: request.from.clone(),
            to: to.clone(),
            body: body.clone(),
            ext: request.ext.clone(),
            at_ms,
            done,
        };
        if floor.writes.send(write).await.is_err() {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        answers.push((to, answer));
    }
    let mut data = serde_json::Map::new();
    for (to, answer) in answers {
        let Ok(id) = answer.await else {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        };
        data.insert(to, Value::String(id.to_string()));
    }
    Json(json!({"data": data})).into_response()
}

async fn token(Json(request): Json<Value>) -> Response {
    let token = match request["grant_type"].as_str() {
        Some("client_credentials") => APP_TOKEN.to_owned(),
        Some("password") => format!("{USER_TOKEN_PREFIX}{}", request["username"].as_str().unwrap_or_default()),
        _ => return StatusCode::BAD_REQUEST.into_response(),
    };
    Json(json!({"access_token": token, "expires_in": 3600})).into_response()
}

async fn upgrade(State(floor): State<Arc<Floor>>, ws: WebSocketUpgrade) -> Response {
    // confab's gateway buffers (`gateway/driver.rs`): a small read buffer,
    // client frames capped.
    let max = confab_protocol::MAX_CLIENT_FRAME;
    ws.read_buffer_size(1024).max_message_size(max).max_frame_size(max).on_upgrade(move |socket| session(socket, floor))
}

/// One device: a login, then frames out from the writer and acks in.
async fn session(mut socket: WebSocket, floor: Arc<Floor>) {
    let Some(Ok(WsMessage::Text(login))) = socket.recv().await else { return };
    let Ok(ClientFrame::Login { token, .. }) = serde_json::from_str(&login) else { return };
    let Some(user) = token.strip_prefix(USER_TOKEN_PREFIX).map(str::to_owned) else { return };
    let ok = ServerFrame::LoginOk {
        user: user.clone(),
        device: "floor".into(),
        session: "floor".into(),
        heartbeat_secs: confab_protocol::HEARTBEAT_SECS,
    };
    let ok = serde_json::to_string(&ok).expect("frames serialize");
    if socket.send(WsMessage::Text(ok.into())).await.is_err() {
        return;
    }
    let (frames, mut queued) = mpsc::channel(SESSION_QUEUE);
    floor.sessions.lock().unwrap_or_else(|e| e.into_inner()).insert(user.clone(), frames.clone());
    loop {
        tokio::select! {
            frame = queued.recv() => {
                let Some(frame) = frame else { break };
                if socket.send(WsMessage::Text(frame.into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(WsMessage::Text(text))) => text,
                    Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                match serde_json::from_str::<ClientFrame>(&text) {
                    Ok(ClientFrame::Ack { conv, seq }) => {
                        let Ok(conv) = conv.parse() else { continue };
                        if floor.writes.send(Write::Cursor { user: user.clone(), conv, seq }).await.is_err() {
                            break;
                        }
                    }
                    Ok(ClientFrame::Ping) => {
                        let pong = serde_json::to_string(&ServerFrame::Pong).expect("frames serialize");
                        if socket.send(WsMessage::Text(pong.into())).await.is_err() {
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let mut sessions = floor.sessions.lock().unwrap_or_else(|e| e.into_inner());
    // Unless the user has logged in again since.
    if sessions.get(&user).is_some_and(|current| current.same_channel(&frames)) {
        sessions.remove(&user);
    }
}
