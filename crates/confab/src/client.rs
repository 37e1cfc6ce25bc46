//! `confab client …`: a user's side of the gateway, on the command line.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use confab_client::{ConnectOptions, Connection, Endpoint, Event};

#[derive(Args, Clone)]
pub struct Server {
    /// Server address (host:port), or several separated by commas: `listen`
    /// resumes on the next one when its node goes away. The server's own
    /// variable, so one environment serves both.
    #[arg(long = "addr", visible_alias = "server", env = "CONFAB_HTTP_ADDR", default_value = "127.0.0.1:8080", value_delimiter = ',', num_args = 1..)]
    addrs: Vec<String>,
    /// The app's org.
    #[arg(long, env = "CONFAB_ORG", default_value = "demo")]
    org: String,
    /// The app's name.
    #[arg(long, env = "CONFAB_APP", default_value = "chat")]
    app: String,
    /// The user to log in as.
    #[arg(long)]
    user: String,
    /// The user's password.
    #[arg(long)]
    password: String,
    /// Device name; a second login with the same name replaces the first.
    #[arg(long)]
    device: Option<String>,
}

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Log in and print every event as one JSON line on stdout.
    Listen {
        #[command(flatten)]
        server: Server,
        /// Chat rooms to enter after logging in (repeatable; entered again on resuming).
        #[arg(long = "join-room")]
        rooms: Vec<String>,
    },
    /// Send one message as the user and print the server's answer.
    Send {
        #[command(flatten)]
        server: Server,
        /// Receiving user, or the group, chat room or thread ID with --chat-type.
        #[arg(long)]
        to: String,
        /// chat (to a user), groupchat, chatroom or thread.
        #[arg(long, default_value = "chat")]
        chat_type: String,
        /// Text of a `txt` message (shortcut for --type txt --body '{"msg":…}').
        #[arg(long, conflicts_with = "body")]
        text: Option<String>,
        /// Message type: txt, img, audio, video, file, loc, cmd or custom.
        #[arg(long = "type", default_value = "txt")]
        kind: String,
        /// The type's body fields as JSON, e.g. '{"action":"ping"}'.
        #[arg(long)]
        body: Option<String>,
        /// Extension attributes as a JSON object.
        #[arg(long)]
        ext: Option<String>,
    },
}

pub async fn run(command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::Listen { server, rooms } => listen(server, rooms).await,
        ClientCommand::Send { server, to, chat_type, text, kind, body, ext } => {
            let mut fields = match (text, body) {
                (Some(text), _) => json!({"msg": text}),
                (None, Some(body)) => {
                    serde_json::from_str(&body).map_err(|e| anyhow::anyhow!("--body is not JSON: {e}"))?
                }
                (None, None) => anyhow::bail!("give --text or --body"),
            };
            if !fields.is_object() {
                anyhow::bail!("--body must be a JSON object");
            }
            fields["type"] = json!(kind);
            let ext = ext
                .map(|e| serde_json::from_str::<Value>(&e))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--ext is not JSON: {e}"))?;
            let connection = connect(&server).await?;
            let ok = connection.send_to(&chat_type, &to, fields, ext).await?;
            let sent = json!({"event": "sent", "msg_id": ok.msg_id, "conv": ok.conv, "seq": ok.seq, "timestamp": ok.timestamp});
            writeln!(std::io::stdout(), "{sent}")?;
            connection.close().await;
            Ok(())
        }
    }
}

async fn connect(server: &Server) -> anyhow::Result<Connection> {
    let addr = server.addrs.first().ok_or_else(|| anyhow::anyhow!("give --addr"))?;
    connect_to(server, addr, HashMap::new()).await
}

/// Logs in at `addr`, resuming after `resume`'s cursors. Acknowledgements
/// are the caller's: it acks what it printed, not what merely arrived.
async fn connect_to(server: &Server, addr: &str, resume: HashMap<String, i64>) -> anyhow::Result<Connection> {
    let endpoint = Endpoint { addr: addr.to_owned(), org: server.org.clone(), app: server.app.clone() };
    let http = reqwest::Client::new();
    let token = endpoint.user_token(&http, &server.user, &server.password).await?;
    let options =
        ConnectOptions { device: server.device.clone(), resume, auto_ack: false, ..ConnectOptions::default() };
    Connection::connect(&endpoint.ws_url(), &token, options).await
}

/// How long after a printed message it is acknowledged, with every other
/// message printed meanwhile (as the client library's auto-ack does).
const ACK_DELAY: Duration = Duration::from_millis(250);

/// How long to wait before connecting again: from a quarter second,
/// doubling, to five seconds.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << failures.min(5))).min(Duration::from_secs(5))
}

/// How a session ended.
enum Ended {
    /// Ctrl-C or SIGTERM: what was printed is acknowledged.
    Stopped,
    /// The server sent the user away for good (deactivated, replaced, …).
    Kicked,
    /// The node went away or restarted: resume elsewhere or later.
    Lost,
}

/// Prints events as JSON lines until the user stops it, resuming from what
/// it printed when the connection is lost (on the next address, with
/// backoff), as clients of a cluster do.
async fn listen(server: Server, rooms: Vec<String>) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    let stop = crate::shutdown_signal();
    tokio::pin!(stop);
    // Per conversation, the last sequence printed: the resume cursors.
    let mut printed: HashMap<String, i64> = HashMap::new();
    let mut failures = 0u32;
    let mut turn = 0usize;
    let mut connected_once = false;
    loop {
        let addr = server.addrs[turn % server.addrs.len()].clone();
        let attempt = tokio::select! {
            attempt = connect_to(&server, &addr, printed.clone()) => attempt,
            _ = &mut stop => return Ok(()),
        };
        let mut connection = match attempt {
            Ok(connection) => connection,
            Err(e) if !connected_once => return Err(e),
            Err(e) => {
                let wait = backoff(failures);
                eprintln!("confab: cannot resume at {addr} ({e:#}); trying again in {wait:?}");
                failures += 1;
                turn += 1;
                tokio::select! {
                    _ = tokio::time::sleep(wait) => continue,
                    _ = &mut stop => return Ok(()),
                }
            }
        };
        if connected_once {
            writeln!(out, "{}", json!({"event": "resumed", "addr": addr}))?;
        }
        connected_once = true;
        failures = 0;
        for room in &rooms {
            let conv = connection.join_room(room).await?;
            writeln!(out, "{}", json!({"event": "joined", "room": room, "conv": conv}))?;
        }
        match session(&mut connection, &mut out, &mut printed, &mut stop).await? {
            Ended::Stopped => {
                connection.close().await;
                return Ok(());
            }
            Ended::Kicked => return Ok(()),
            Ended::Lost => {
                eprintln!("confab: the connection to {addr} was lost; resuming");
                turn += 1;
            }
        }
    }
}

/// One connection's events, printed; acknowledges what was printed
/// [`ACK_DELAY`] after the first unacknowledged message, and at once when
/// stopped.
async fn session(
    connection: &mut Connection,
    out: &mut std::io::Stdout,
    printed: &mut HashMap<String, i64>,
    stop: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> anyhow::Result<Ended> {
    let mut unacked: HashSet<String> = HashSet::new();
    let mut resumable = true;
    let timer = tokio::time::sleep(ACK_DELAY);
    tokio::pin!(timer);
    loop {
        let event = tokio::select! {
            biased;
            _ = stop.as_mut() => {
                acknowledge(connection, printed, &mut unacked).await;
                return Ok(Ended::Stopped);
            }
            _ = &mut timer, if !unacked.is_empty() => {
                acknowledge(connection, printed, &mut unacked).await;
                continue;
            }
            event = connection.next_event() => event,
        };
        if let Event::Message(m) = &event {
            if unacked.is_empty() {
                timer.as_mut().reset(tokio::time::Instant::now() + ACK_DELAY);
            }
            unacked.insert(m.conv.clone());
            let cursor = printed.entry(m.conv.clone()).or_insert(0);
            *cursor = (*cursor).max(m.seq);
        }
        if let Event::Kicked { reason } = &event {
            // A stopping server or a slow session may be resumed; other
            // kicks (deactivated, replaced, …) are final.
            resumable = reason.starts_with("shutdown") || reason.starts_with("slow_consumer");
        }
        let closed = matches!(event, Event::Closed);
        writeln!(out, "{}", line(event))?;
        out.flush()?;
        if closed {
            return Ok(if resumable { Ended::Lost } else { Ended::Kicked });
        }
    }
}

async fn acknowledge(connection: &Connection, printed: &HashMap<String, i64>, unacked: &mut HashSet<String>) {
    for conv in unacked.drain() {
        if let Some(seq) = printed.get(&conv) {
            // A closed connection is resumed from `printed` anyway.
            let _ = connection.ack(&conv, *seq).await;
        }
    }
}

fn line(event: Event) -> Value {
    match event {
        Event::Message(m) => {
            let kind = m.body.get("type").cloned().unwrap_or(Value::Null);
            let mut body = m.body.clone();
            if let Some(fields) = body.as_object_mut() {
                fields.remove("type");
            }
            json!({
                "event": "message", "msg_id": m.msg_id, "conv": m.conv, "seq": m.seq,
                "chat_type": m.chat_type, "from": m.from, "to": m.to, "type": kind,
                "body": body, "ext": m.ext, "timestamp": m.timestamp,
            })
        }
        Event::Synced => json!({"event": "synced"}),
        Event::Kicked { reason } => json!({"event": "kicked", "reason": reason}),
        Event::Group { chat_type, group, conv, event, users } => json!({
            "event": "group", "chat_type": chat_type, "group": group, "conv": conv,
            "what": event, "users": users,
        }),
        Event::Update { change, msg_id, conv, by, msg } => {
            let body = msg.map(|m| m.body);
            json!({"event": change, "msg_id": msg_id, "conv": conv, "by": by, "body": body})
        }
        Event::Error { code, message } => json!({"event": "error", "code": code, "message": message}),
        Event::Closed => json!({"event": "closed"}),
    }
}
