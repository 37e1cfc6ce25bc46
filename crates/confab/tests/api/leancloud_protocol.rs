//! LeanCloud's real-time protocol (`lc.protobuf2.3`) spoken by hand, command
//! by command, as the vendor's SDK speaks it: discovery, sessions, messages
//! both ways and their acknowledgements, kicks, and what bad frames get.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use confab_server::leancloud_proto::{
    AckCommand, CommandType, ConvCommand, DirectCommand, GenericCommand, JsonObjectMessage, OpType, PatchCommand,
    PatchItem, ReadCommand, ReadTuple, SessionCommand,
};

use confab_core::clock::Clock as _;

use crate::helpers::{spawn_app, TestApp, LC_APP_ID, LC_MASTER_KEY};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Where `/v1/route` sends the SDK, as it asks (with `server` set to confab).
async fn route(app: &TestApp, app_id: &str) -> (StatusCode, Value) {
    let url = format!("http://{}/v1/route?appId={app_id}&secure=1&_t=1", app.addr);
    let response = app.http.get(url).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn connect(app: &TestApp, protocol: &str) -> Socket {
    let (_, found) = route(app, LC_APP_ID).await;
    let mut request = found["server"].as_str().unwrap().into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
    socket
}

pub(crate) async fn send(socket: &mut Socket, command: &GenericCommand) {
    socket.send(WsMessage::Binary(command.encode_to_vec().into())).await.unwrap();
}

/// The next command; `None` when the server closed the connection.
pub(crate) async fn next(socket: &mut Socket) -> Option<GenericCommand> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("a frame in time");
        match frame {
            Some(Ok(WsMessage::Binary(bytes))) => return Some(GenericCommand::decode(bytes.as_ref()).unwrap()),
            Some(Ok(WsMessage::Text(text))) => {
                let bytes = base64_decode(text.as_str());
                return Some(GenericCommand::decode(bytes.as_slice()).unwrap());
            }
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
            Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(other)) => panic!("unexpected frame {other:?}"),
        }
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

/// `HMAC-SHA1(master key, appid:clientid::timestamp:nonce)`, hex.
fn login_signature(client: &str, timestamp: i64, nonce: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(LC_MASTER_KEY.as_bytes()).unwrap();
    mac.update(format!("{LC_APP_ID}:{client}::{timestamp}:{nonce}").as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn open(peer: &str, i: i32, session: SessionCommand) -> GenericCommand {
    GenericCommand {
        cmd: Some(CommandType::Session as i32),
        op: Some(OpType::Open as i32),
        app_id: Some(LC_APP_ID.into()),
        peer_id: Some(peer.into()),
        i: Some(i),
        session_message: Some(SessionCommand { ua: Some("js/5.0.0-rc.8".into()), ..session }),
        ..Default::default()
    }
}

/// Opens a session for `peer` (plainly); returns the socket and its session token.
pub(crate) async fn opened(app: &TestApp, peer: &str, tag: Option<&str>) -> (Socket, String) {
    let mut socket = connect(app, "lc.protobuf2.3").await;
    send(&mut socket, &open(peer, 1, SessionCommand { tag: tag.map(Into::into), ..Default::default() })).await;
    let answer = next(&mut socket).await.expect("an answer to open");
    assert_eq!((answer.cmd, answer.op, answer.i), (Some(0), Some(OpType::Opened as i32), Some(1)), "{answer:?}");
    assert_eq!(answer.peer_id.as_deref(), Some(peer));
    let session = answer.session_message.expect("the session token");
    assert!(session.st_ttl.unwrap() > 0);
    (socket, session.st.expect("st"))
}

pub(crate) fn direct(cid: &str, text: &str, i: i32) -> GenericCommand {
    GenericCommand {
        cmd: Some(CommandType::Direct as i32),
        i: Some(i),
        direct_message: Some(DirectCommand {
            cid: Some(cid.into()),
            msg: Some(text.into()),
            dt: Some(format!("local-{i}")),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A conversation made through the REST API with the master key.
pub(crate) async fn conversation(app: &TestApp, members: &[&str]) -> String {
    let (status, body) =
        app.leancloud(Method::POST, "/1.2/rtm/conversations", Some(json!({"name": "chat", "m": members}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["objectId"].as_str().unwrap().to_owned()
}

/// The next `direct` the server pushes, acknowledged as the SDK does.
async fn received(socket: &mut Socket) -> DirectCommand {
    loop {
        let command = next(socket).await.expect("a message");
        if command.cmd == Some(CommandType::Direct as i32) {
            let message = command.direct_message.unwrap();
            let ack = GenericCommand {
                cmd: Some(CommandType::Ack as i32),
                ack_message: Some(AckCommand {
                    cid: message.cid.clone(),
                    mid: message.id.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            };
            send(socket, &ack).await;
            return message;
        }
    }
}

#[tokio::test]
async fn the_sdks_router_request_finds_this_server() {
    let app = spawn_app().await;
    let (status, found) = route(&app, LC_APP_ID).await;
    assert_eq!(status, StatusCode::OK);
    let socket = format!("ws://{}/", app.addr);
    assert_eq!((found["server"].as_str(), found["secondary"].as_str()), (Some(socket.as_str()), Some(socket.as_str())));
    assert!(found["ttl"].as_u64().unwrap() > 0);
    let (status, _) = route(&app, "no-such-app").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The socket answers only the protocol's subprotocols.
    let refused = tokio_tungstenite::connect_async(socket.as_str()).await;
    assert!(refused.is_err(), "an upgrade without lc.protobuf2.3 is refused");
}

#[tokio::test]
async fn sessions_open_plainly_signed_or_with_their_token() {
    let app = spawn_app().await;
    // Commands before open are refused; the connection stays.
    let mut socket = connect(&app, "lc.protobuf2.3").await;
    send(&mut socket, &direct("c", "hi", 7)).await;
    let refused = next(&mut socket).await.unwrap();
    assert_eq!((refused.cmd, refused.i), (Some(CommandType::Error as i32), Some(7)));
    assert_eq!(refused.error_message.unwrap().code, 4105);
    // A wrong signature: `session closed` with 4102.
    let forged = SessionCommand { s: Some("00".repeat(20)), t: Some(1), n: Some("n".into()), ..Default::default() };
    send(&mut socket, &open("ann", 2, forged)).await;
    let closed = next(&mut socket).await.unwrap();
    assert_eq!((closed.cmd, closed.op), (Some(0), Some(OpType::Closed as i32)));
    assert_eq!(closed.session_message.unwrap().code, Some(4102));
    assert!(next(&mut socket).await.is_none(), "a refused open closes the connection");

    // Signed by the app's backend with its master key, as `_rtmClientSign` signs.
    let timestamp = app.clock.now_ms();
    let mut socket = connect(&app, "lc.protobuf2.3").await;
    let session = SessionCommand {
        s: Some(login_signature("ann", timestamp, "n0nce")),
        t: Some(timestamp),
        n: Some("n0nce".into()),
        ..Default::default()
    };
    send(&mut socket, &open("ann", 1, session)).await;
    let answer = next(&mut socket).await.unwrap();
    assert_eq!(answer.op, Some(OpType::Opened as i32), "{answer:?}");
    let st = answer.session_message.unwrap().st.unwrap();
    drop(socket);
    // The same signature does not open someone else's session.
    let mut socket = connect(&app, "lc.protobuf2.3").await;
    let stolen = SessionCommand {
        s: Some(login_signature("ann", timestamp, "n0nce")),
        t: Some(timestamp),
        n: Some("n0nce".into()),
        ..Default::default()
    };
    send(&mut socket, &open("bob", 1, stolen)).await;
    assert_eq!(next(&mut socket).await.unwrap().session_message.unwrap().code, Some(4102));

    // Reopened after a network loss with the session token alone.
    let mut socket = connect(&app, "lc.protobuf2.3").await;
    send(&mut socket, &open("ann", 1, SessionCommand { r: Some(true), st: Some(st), ..Default::default() })).await;
    assert_eq!(next(&mut socket).await.unwrap().op, Some(OpType::Opened as i32));
    // …but not as someone else.
    let (_, st_of_bob) = opened(&app, "bob", None).await;
    let mut socket = connect(&app, "lc.protobuf2.3").await;
    send(&mut socket, &open("ann", 1, SessionCommand { st: Some(st_of_bob), ..Default::default() })).await;
    assert_eq!(next(&mut socket).await.unwrap().session_message.unwrap().code, Some(4103));

    // A malformed client ID.
    let mut socket = connect(&app, "lc.protobuf2.3").await;
    send(&mut socket, &open("", 1, SessionCommand::default())).await;
    assert_eq!(next(&mut socket).await.unwrap().session_message.unwrap().code, Some(4103));
}

#[tokio::test]
async fn messages_go_both_ways_and_reach_every_dialect() {
    let app = spawn_app().await;
    let cid = conversation(&app, &["ann", "bob"]).await;
    let (mut ann, _) = opened(&app, "ann", None).await;
    let (mut bob, bob_st) = opened(&app, "bob", None).await;

    send(&mut ann, &direct(&cid, "hello bob", 2)).await;
    let ack = loop {
        let command = next(&mut ann).await.unwrap();
        if command.i == Some(2) {
            break command;
        }
    };
    assert_eq!(ack.cmd, Some(CommandType::Ack as i32), "{ack:?}");
    let ack = ack.ack_message.unwrap();
    assert_eq!(ack.code, None, "{ack:?}");
    let mid = ack.uid.unwrap();
    assert!(ack.t.unwrap() > 0);

    let got = received(&mut bob).await;
    assert_eq!(
        (got.cid.as_deref(), got.msg.as_deref(), got.from_peer_id.as_deref(), got.id.as_deref()),
        (Some(cid.as_str()), Some("hello bob"), Some("ann"), Some(mid.as_str()))
    );
    assert_eq!(got.conv_type, Some(1));

    // The REST history has it, as the SDK sent it.
    let (_, history) = app.leancloud(Method::GET, &format!("/1.2/rtm/conversations/{cid}/messages"), None).await;
    assert_eq!(history[0]["data"], "hello bob", "{history}");
    assert_eq!(history[0]["msg-id"], mid.as_str());

    // A message sent by REST reaches the SDK.
    let body = json!({"from_client": "bob", "message": "{\"_lctype\":-1,\"_lctext\":\"from the backend\"}"});
    let (status, _) = app.leancloud(Method::POST, &format!("/1.2/rtm/conversations/{cid}/messages"), Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    let got = received(&mut ann).await;
    assert_eq!(got.msg.as_deref(), Some("{\"_lctype\":-1,\"_lctext\":\"from the backend\"}"));
    assert_eq!(got.from_peer_id.as_deref(), Some("bob"));

    // Offline: bob leaves, ann writes, bob comes back with his session token.
    drop(bob);
    tokio::time::sleep(Duration::from_millis(100)).await;
    send(&mut ann, &direct(&cid, "while you were away", 3)).await;
    let mut bob = connect(&app, "lc.protobuf2.3").await;
    send(&mut bob, &open("bob", 1, SessionCommand { r: Some(true), st: Some(bob_st), ..Default::default() })).await;
    assert_eq!(next(&mut bob).await.unwrap().op, Some(OpType::Opened as i32));
    let mut texts = Vec::new();
    while texts.last().map(String::as_str) != Some("while you were away") {
        texts.push(received(&mut bob).await.msg.unwrap());
    }
    assert!(!texts.contains(&"hello bob".to_owned()), "an acknowledged message is not sent again: {texts:?}");

    // bob reads the conversation up to the newest message: nothing unread.
    let unread_path = format!("/1.2/rtm/clients/bob/unread-count?conv_id={cid}");
    assert_ne!(app.leancloud(Method::GET, &unread_path, None).await.1["count"], json!(0));
    let read = GenericCommand {
        cmd: Some(CommandType::Read as i32),
        i: Some(6),
        read_message: Some(ReadCommand {
            convs: vec![ReadTuple { cid: cid.clone(), timestamp: Some(app.clock.now_ms()), mid: None }],
            ..Default::default()
        }),
        ..Default::default()
    };
    send(&mut bob, &read).await;
    loop {
        let command = next(&mut bob).await.unwrap();
        if command.i == Some(6) {
            assert_eq!(command.cmd, Some(CommandType::Read as i32), "{command:?}");
            break;
        }
    }
    // Read cursors are written in batches on PostgreSQL (ARCHITECTURE.md): soon, not at once.
    let mut unread = Value::Null;
    for _ in 0..50 {
        unread = app.leancloud(Method::GET, &unread_path, None).await.1["count"].clone();
        if unread == json!(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(unread, json!(0));

    // Only its sender edits or recalls a message.
    let patch = GenericCommand {
        cmd: Some(CommandType::Patch as i32),
        op: Some(OpType::Modify as i32),
        i: Some(8),
        patch_message: Some(PatchCommand {
            patches: vec![PatchItem {
                cid: Some(cid.clone()),
                mid: Some(mid.clone()),
                recall: Some(true),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    send(&mut bob, &patch).await;
    let refused = loop {
        let command = next(&mut bob).await.unwrap();
        if command.i == Some(8) {
            break command;
        }
    };
    assert_eq!(refused.error_message.unwrap().code, 4403);

    // A message to a conversation that does not exist.
    send(&mut ann, &direct("no-such-conversation", "hi", 9)).await;
    let refused = loop {
        let command = next(&mut ann).await.unwrap();
        if command.i == Some(9) {
            break command;
        }
    };
    let refused = refused.ack_message.unwrap();
    assert_eq!((refused.code, refused.uid), (Some(4303), None));
}

#[tokio::test]
async fn kicks_and_broken_frames_close_only_their_connection() {
    let app = spawn_app().await;
    let (mut ann, _) = opened(&app, "ann", Some("Mobile")).await;
    // A second login with the same tag replaces the first: 4111.
    let (mut ann_again, _) = opened(&app, "ann", Some("Mobile")).await;
    let closed = next(&mut ann).await.expect("the session closed");
    assert_eq!((closed.cmd, closed.op), (Some(0), Some(OpType::Closed as i32)));
    assert_eq!(closed.session_message.unwrap().code, Some(4111));

    // A REST kick: 4115, with the app's reason.
    let (status, _) =
        app.leancloud(Method::POST, "/1.2/rtm/clients/ann/kick", Some(json!({"reason": "maintenance"}))).await;
    assert_eq!(status, StatusCode::OK);
    let kicked = next(&mut ann_again).await.expect("the kick");
    let session = kicked.session_message.unwrap();
    assert_eq!((session.code, session.reason.as_deref()), (Some(4115), Some("maintenance")));

    // Broken protobuf: an error command, then that connection closes; others stay.
    let (mut bob, _) = opened(&app, "bob", None).await;
    let (mut cat, _) = opened(&app, "cat", None).await;
    bob.send(WsMessage::Binary(vec![0x08, 0xff].into())).await.unwrap();
    assert_eq!(next(&mut bob).await.unwrap().cmd, Some(CommandType::Error as i32));
    assert!(next(&mut bob).await.is_none());
    // An oversized frame closes its connection too.
    let (mut dan, _) = opened(&app, "dan", None).await;
    let huge = direct("c", &"x".repeat(20 * 1024), 3);
    let _ = dan.send(WsMessage::Binary(huge.encode_to_vec().into())).await;
    assert!(next(&mut dan).await.is_none());
    // The SDK's heartbeat is answered in kind.
    let echo = GenericCommand { cmd: Some(CommandType::Echo as i32), i: Some(3), ..Default::default() };
    send(&mut cat, &echo).await;
    let answer = next(&mut cat).await.unwrap();
    assert_eq!((answer.cmd, answer.i), (Some(CommandType::Echo as i32), Some(3)));
    // Commands of the protocol not served are answered with an error, and the session goes on.
    let report = GenericCommand { cmd: Some(CommandType::Report as i32), i: Some(4), ..Default::default() };
    send(&mut cat, &report).await;
    let answer = next(&mut cat).await.unwrap();
    assert_eq!((answer.cmd, answer.i), (Some(CommandType::Error as i32), Some(4)));
    let close = GenericCommand {
        cmd: Some(CommandType::Session as i32),
        op: Some(OpType::Close as i32),
        i: Some(5),
        ..Default::default()
    };
    send(&mut cat, &close).await;
    let closed = next(&mut cat).await.unwrap();
    assert_eq!((closed.op, closed.i), (Some(OpType::Closed as i32), Some(5)));

    // A command the protocol does not have: an error, then that connection closes.
    let (mut eve, _) = opened(&app, "eve", None).await;
    let unknown = GenericCommand { cmd: Some(99), i: Some(6), ..Default::default() };
    send(&mut eve, &unknown).await;
    let answer = next(&mut eve).await.unwrap();
    assert_eq!((answer.cmd, answer.i), (Some(CommandType::Error as i32), Some(6)));
    assert!(next(&mut eve).await.is_none());
}

#[tokio::test]
async fn the_base64_twin_carries_the_same_commands_as_text() {
    let app = spawn_app().await;
    let mut socket = connect(&app, "lc.proto2base64.3").await;
    use base64::Engine as _;
    let text =
        base64::engine::general_purpose::STANDARD.encode(open("eve", 1, SessionCommand::default()).encode_to_vec());
    socket.send(WsMessage::Text(text.into())).await.unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.unwrap().unwrap().unwrap();
    let WsMessage::Text(text) = frame else { panic!("a text frame, got {frame:?}") };
    let answer = GenericCommand::decode(base64_decode(text.as_str()).as_slice()).unwrap();
    assert_eq!(answer.op, Some(OpType::Opened as i32));
}

/// A message sent through the SDK protocol is what every other view shows:
/// a `confab client listen` session of a member gets it live, and the
/// Easemob history export of its hour holds it; a message sent by the
/// Easemob REST API to the conversation reaches the SDK protocol.
#[tokio::test]
async fn an_sdk_message_is_in_every_dialects_views() {
    let app = spawn_app().await;
    app.register(&["ann", "bob"]).await;
    let hour_start = crate::history::to_next_hour(&app);
    let cid = conversation(&app, &["ann", "bob"]).await;

    let (mut listener, mut lines) = crate::cli::listen_at(&app.addr.to_string(), &[]);
    // `listen` prints nothing until there is something; give it its login.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (mut ann, _) = opened(&app, "ann", None).await;
    send(&mut ann, &direct(&cid, "hello from the SDK protocol", 2)).await;
    let ack = loop {
        let command = next(&mut ann).await.unwrap();
        if command.i == Some(2) {
            break command;
        }
    };
    let mid = ack.ack_message.unwrap().uid.unwrap();
    let heard = loop {
        let line = crate::cli::read(&mut lines).await;
        if line["event"] == "message" {
            break line;
        }
    };
    let _ = listener.kill();
    let text = heard.to_string();
    assert!(text.contains("hello from the SDK protocol") && text.contains(&mid), "{heard}");

    // The Easemob REST API sends to the conversation as to a group.
    let body = json!({"from": "bob", "to": [cid], "type": "txt", "body": {"msg": "from the Easemob API"}});
    let (status, answer) = app.post("/messages/chatgroups", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let got = received(&mut ann).await;
    assert_eq!((got.msg.as_deref(), got.from_peer_id.as_deref()), (Some("from the Easemob API"), Some("bob")));

    // The hour's Easemob export holds the SDK's message.
    crate::history::to_next_hour(&app);
    let hour = crate::history::hour_of(hour_start);
    let mut url = None;
    for _ in 0..50 {
        let (status, body) = app.get(&format!("/chatmessages/{hour}")).await;
        if status == StatusCode::OK {
            url = body["data"][0]["url"].as_str().map(str::to_owned);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, records) = crate::history::records(&url.expect("the hour's file")).await;
    let record = records.iter().find(|r| r["msg_id"] == json!(mid)).expect("the SDK's message is exported");
    assert_eq!((&record["chat_type"], &record["to"]), (&json!("groupchat"), &json!(cid)), "{record}");
    assert_eq!(record["payload"]["bodies"][0]["msg"], "hello from the SDK protocol", "{record}");
}

/// `confab app leancloud-login --signature required` (the vendor's console
/// switch): a plain open is refused with 4102; a signed one opens, and its
/// session token reopens; `optional` lets plain opens in again.
#[tokio::test]
async fn an_app_may_require_login_signatures() {
    let app = spawn_app().await;
    let rule = |signature: &'static str| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_confab"));
        command
            .args(["app", "leancloud-login", "--signature", signature])
            .env("CONFAB_DATA_DIR", app.storage.data_dir.path())
            .env("CONFAB_ORG", "demo")
            .env("CONFAB_APP", "chat");
        if let Some(url) = &app.storage.database_url {
            command.env("CONFAB_DATABASE_URL", url);
        }
        let out = command.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(rule("required").contains("LeanCloud login signatures: required"));

    let mut socket = connect(&app, "lc.protobuf2.3").await;
    send(&mut socket, &open("ann", 1, SessionCommand::default())).await;
    let closed = next(&mut socket).await.unwrap();
    assert_eq!((closed.op, closed.session_message.unwrap().code), (Some(OpType::Closed as i32), Some(4102)));

    let timestamp = app.clock.now_ms();
    let mut socket = connect(&app, "lc.protobuf2.3").await;
    let signed = SessionCommand {
        s: Some(login_signature("ann", timestamp, "n1")),
        t: Some(timestamp),
        n: Some("n1".into()),
        ..Default::default()
    };
    send(&mut socket, &open("ann", 1, signed)).await;
    let answer = next(&mut socket).await.unwrap();
    assert_eq!(answer.op, Some(OpType::Opened as i32), "{answer:?}");
    let st = answer.session_message.unwrap().st.unwrap();
    drop(socket);
    let mut socket = connect(&app, "lc.protobuf2.3").await;
    send(&mut socket, &open("ann", 1, SessionCommand { r: Some(true), st: Some(st), ..Default::default() })).await;
    assert_eq!(next(&mut socket).await.unwrap().op, Some(OpType::Opened as i32), "the session token reopens");

    assert!(rule("optional").contains("LeanCloud login signatures: optional"));
    opened(&app, "bob", None).await;
}

/// A temporary conversation (`conv start` with `tempConv`): a `_tmp:` ID
/// and its time to live (at most 30 days), found by `tempConvIds` by its
/// members only and by no `where` query or REST listing; messages flow as
/// in any conversation (`convType` 4) until it expires, then a send is
/// "conversation not found" (4303), which the SDK reports as expired.
#[tokio::test]
async fn temporary_conversations_live_for_their_time() {
    let app = spawn_app().await;
    let (mut ann, _) = opened(&app, "ann", None).await;
    let (mut bob, _) = opened(&app, "bob", None).await;
    let start = GenericCommand {
        cmd: Some(CommandType::Conv as i32),
        op: Some(OpType::Start as i32),
        i: Some(2),
        conv_message: Some(ConvCommand {
            m: vec!["bob".into()],
            temp_conv: Some(true),
            temp_conv_t_t_l: Some(90 * 24 * 3600),
            ..Default::default()
        }),
        ..Default::default()
    };
    send(&mut ann, &start).await;
    let started = next(&mut ann).await.unwrap();
    assert_eq!((started.op, started.i), (Some(OpType::Started as i32), Some(2)), "{started:?}");
    let conv = started.conv_message.unwrap();
    let cid = conv.cid.unwrap();
    assert!(cid.starts_with("_tmp:"), "{cid}");
    assert_eq!(conv.temp_conv_t_t_l, Some(30 * 24 * 3600), "capped at 30 days");

    send(&mut ann, &direct(&cid, "just for now", 3)).await;
    assert!(next(&mut ann).await.unwrap().ack_message.unwrap().uid.is_some());
    let got = received(&mut bob).await;
    assert_eq!((got.msg.as_deref(), got.conv_type), (Some("just for now"), Some(4)));

    let query = |i: i32, conv: ConvCommand| GenericCommand {
        cmd: Some(CommandType::Conv as i32),
        op: Some(OpType::Query as i32),
        i: Some(i),
        conv_message: Some(conv),
        ..Default::default()
    };
    let results = |command: GenericCommand| -> Value {
        serde_json::from_str(&command.conv_message.unwrap().results.unwrap().data).unwrap()
    };
    send(&mut bob, &query(4, ConvCommand { temp_conv_ids: vec![cid.clone()], ..Default::default() })).await;
    let found = results(next(&mut bob).await.unwrap());
    assert_eq!((&found[0]["objectId"], &found[0]["m"]), (&json!(cid), &json!(["ann", "bob"])), "{found}");
    assert!(found[0]["ttl"].as_i64().unwrap() > 29 * 24 * 3600, "{found}");
    let where_bob = JsonObjectMessage { data: json!({"m": "bob"}).to_string() };
    send(&mut bob, &query(5, ConvCommand { r#where: Some(where_bob), ..Default::default() })).await;
    assert_eq!(results(next(&mut bob).await.unwrap()), json!([]), "no where query finds it");
    let (mut carol, _) = opened(&app, "carol", None).await;
    send(&mut carol, &query(2, ConvCommand { temp_conv_ids: vec![cid.clone()], ..Default::default() })).await;
    assert_eq!(results(next(&mut carol).await.unwrap()), json!([]), "only its members find it");
    let (_, listed) = app.leancloud(Method::GET, "/1.2/rtm/conversations", None).await;
    assert_eq!(listed["results"], json!([]), "{listed}");

    app.clock.advance_ms(30 * 24 * 3600 * 1000 + 1000);
    send(&mut ann, &direct(&cid, "too late", 6)).await;
    let refused = next(&mut ann).await.unwrap().ack_message.unwrap();
    assert_eq!(refused.code, Some(4303), "{refused:?}");
}
