//! `confab client …`: a user's side of the gateway, on the command line.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use confab_client::{ConnectOptions, Connection, Endpoint, Event};

#[derive(Args, Clone)]
pub struct Server {
    /// Server address (host:port); the server's own variable, so one
    /// environment serves both.
    #[arg(long, env = "CONFAB_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    addr: String,
    #[arg(long, env = "CONFAB_ORG", default_value = "demo")]
    org: String,
    #[arg(long, env = "CONFAB_APP", default_value = "chat")]
    app: String,
    #[arg(long)]
    user: String,
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
        /// Chat rooms to enter after logging in (repeatable).
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
            println!(
                "{}",
                json!({"event": "sent", "msg_id": ok.msg_id, "conv": ok.conv, "seq": ok.seq, "timestamp": ok.timestamp})
            );
            Ok(())
        }
    }
}

async fn connect(server: &Server) -> anyhow::Result<Connection> {
    let endpoint = Endpoint { addr: server.addr.clone(), org: server.org.clone(), app: server.app.clone() };
    let http = reqwest::Client::new();
    let token = endpoint.user_token(&http, &server.user, &server.password).await?;
    let options = ConnectOptions { device: server.device.clone(), ..ConnectOptions::default() };
    Connection::connect(&endpoint.ws_url(), &token, options).await
}

async fn listen(server: Server, rooms: Vec<String>) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut connection = connect(&server).await?;
    let mut out = std::io::stdout();
    for room in rooms {
        let conv = connection.join_room(&room).await?;
        writeln!(out, "{}", json!({"event": "joined", "room": room, "conv": conv}))?;
    }
    loop {
        let (line, last) = match connection.next_event().await {
            Event::Message(m) => {
                let kind = m.body.get("type").cloned().unwrap_or(Value::Null);
                let mut body = m.body.clone();
                if let Some(fields) = body.as_object_mut() {
                    fields.remove("type");
                }
                let line = json!({
                    "event": "message", "msg_id": m.msg_id, "conv": m.conv, "seq": m.seq,
                    "chat_type": m.chat_type, "from": m.from, "to": m.to, "type": kind,
                    "body": body, "ext": m.ext, "timestamp": m.timestamp,
                });
                (line, false)
            }
            Event::Synced => (json!({"event": "synced"}), false),
            Event::Kicked { reason } => (json!({"event": "kicked", "reason": reason}), false),
            Event::Group { chat_type, group, conv, event, users } => {
                let line = json!({
                    "event": "group", "chat_type": chat_type, "group": group, "conv": conv,
                    "what": event, "users": users,
                });
                (line, false)
            }
            Event::Update { change, msg_id, conv, by, msg } => {
                let body = msg.map(|m| m.body);
                let line = json!({"event": change, "msg_id": msg_id, "conv": conv, "by": by, "body": body});
                (line, false)
            }
            Event::Error { code, message } => (json!({"event": "error", "code": code, "message": message}), false),
            Event::Closed => (json!({"event": "closed"}), true),
        };
        writeln!(out, "{line}")?;
        out.flush()?;
        if last {
            return Ok(());
        }
    }
}
