//! The real-time gateway (R-1 to R-7 for one-to-one messaging).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use confab_client::{ConnectOptions, Connection, Event};

use crate::helpers::{assert_quiet, backlog, next, next_message, spawn_app, spawn_app_in};

/// A bare WebSocket, for testing what the client library would never send.
async fn raw_socket(
    app: &crate::helpers::TestApp,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    tokio_tungstenite::connect_async(app.endpoint().ws_url()).await.unwrap().0
}

async fn raw_next(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap().unwrap().unwrap();
        if let WsMessage::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test]
async fn login_requires_a_valid_user_token_first() {
    let app = spawn_app().await;
    app.register(&["alice"]).await;

    let mut ws = raw_socket(&app).await;
    ws.send(WsMessage::Text(json!({"op": "ping"}).to_string().into())).await.unwrap();
    assert_eq!(raw_next(&mut ws).await["code"], "login_required");

    let mut ws = raw_socket(&app).await;
    ws.send(WsMessage::Text(json!({"op": "login", "token": "cf1.forged.token"}).to_string().into())).await.unwrap();
    assert_eq!(raw_next(&mut ws).await["code"], "bad_token");

    let mut ws = raw_socket(&app).await;
    ws.send(WsMessage::Text(json!({"op": "login", "token": app.app_token}).to_string().into())).await.unwrap();
    assert_eq!(raw_next(&mut ws).await["code"], "wrong_token_kind");

    let mut ws = raw_socket(&app).await;
    ws.send(WsMessage::Text("{not json".into())).await.unwrap();
    assert_eq!(raw_next(&mut ws).await["code"], "bad_frame");

    // An expired user token is refused too.
    let token = app.user_token("alice").await;
    app.clock.advance_ms(61 * 24 * 3600 * 1000);
    let refused = Connection::connect(&app.endpoint().ws_url(), &token, ConnectOptions::default()).await;
    assert!(refused.unwrap_err().to_string().contains("token_expired"));
}

#[tokio::test]
async fn frames_after_login_are_answered() {
    let app = spawn_app().await;
    app.register(&["alice"]).await;
    let token = app.user_token("alice").await;
    let mut ws = raw_socket(&app).await;
    ws.send(WsMessage::Text(json!({"op": "login", "token": token, "device": "web"}).to_string().into())).await.unwrap();
    let ok = raw_next(&mut ws).await;
    assert_eq!(ok["op"], "login_ok");
    assert_eq!(ok["user"], "alice");
    assert_eq!(ok["device"], "web");
    assert_eq!(raw_next(&mut ws).await["op"], "synced");

    ws.send(WsMessage::Text(json!({"op": "ping"}).to_string().into())).await.unwrap();
    assert_eq!(raw_next(&mut ws).await["op"], "pong");
    ws.send(WsMessage::Text(
        json!({"op": "send", "ref": "r1", "to": "bob", "body": {"type": "txt"}}).to_string().into(),
    ))
    .await
    .unwrap();
    let error = raw_next(&mut ws).await;
    assert_eq!(
        (error["op"].as_str(), error["ref"].as_str(), error["code"].as_str()),
        (Some("error"), Some("r1"), Some("bad_body"))
    );
    ws.send(WsMessage::Text(json!({"op": "ack", "conv": "x", "seq": 1}).to_string().into())).await.unwrap();
    assert_eq!(raw_next(&mut ws).await["code"], "bad_frame");
    ws.send(WsMessage::Text(json!({"op": "login", "token": "again"}).to_string().into())).await.unwrap();
    assert_eq!(raw_next(&mut ws).await["code"], "already_logged_in");
}

#[tokio::test]
async fn messages_sent_over_the_gateway_reach_the_receiver_and_the_senders_other_devices() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    let mut phone =
        app.connect_with("alice", ConnectOptions { device: Some("phone".into()), ..Default::default() }).await;
    let mut laptop =
        app.connect_with("alice", ConnectOptions { device: Some("laptop".into()), ..Default::default() }).await;
    let mut bob = app.connect("bob").await;
    for c in [&mut phone, &mut laptop, &mut bob] {
        backlog(c).await;
    }

    let ok = phone.send("bob", json!({"type": "txt", "msg": "hello"}), Some(json!({"k": 1}))).await.unwrap();
    assert_eq!(ok.seq, 1);
    let received = next_message(&mut bob).await;
    assert_eq!((received.msg_id.as_str(), received.from.as_str(), received.seq), (ok.msg_id.as_str(), "alice", 1));
    assert_eq!(received.ext, Some(json!({"k": 1})));
    let synced = next_message(&mut laptop).await;
    assert_eq!(synced.msg_id, ok.msg_id, "the sender's other device gets a copy");
    assert_quiet(&mut phone).await;

    // Replies land in the same conversation, in order.
    let reply = bob.send("alice", json!({"type": "txt", "msg": "hi"}), None).await.unwrap();
    assert_eq!((reply.conv.as_str(), reply.seq), (ok.conv.as_str(), 2));
    assert_eq!(next_message(&mut phone).await.msg_id, reply.msg_id);
    assert_eq!(next_message(&mut laptop).await.msg_id, reply.msg_id);
}

#[tokio::test]
async fn offline_messages_survive_a_restart_and_arrive_in_order() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    let mut sent = Vec::new();
    for i in 0..30 {
        sent.push(app.send_text("alice", "bob", &format!("m{i}")).await);
    }
    let storage = app.stop().await;

    let app = spawn_app_in(storage).await;
    let mut bob = app.connect("bob").await;
    let got: Vec<String> = backlog(&mut bob).await.into_iter().map(|m| m.msg_id).collect();
    assert_eq!(got, sent);

    // New IDs after the restart are still above every old one.
    let later = app.send_text("alice", "bob", "after restart").await;
    assert!(later.parse::<u64>().unwrap() > sent.last().unwrap().parse::<u64>().unwrap());
    assert_eq!(next_message(&mut bob).await.msg_id, later);
    // Delivered and acknowledged: not offline any more.
    crate::helpers::eventually(|| async { app.get("/users/bob/offline_msg_count").await.1["data"]["bob"] == 0 }).await;
}

#[tokio::test]
async fn a_reconnecting_device_resumes_without_gaps_or_duplicates() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    // Without acks, only the device's own cursors say what it has.
    let options = || ConnectOptions { device: Some("phone".into()), auto_ack: false, ..Default::default() };
    let mut bob = app.connect_with("bob", options()).await;
    backlog(&mut bob).await;
    for i in 0..5 {
        app.send_text("alice", "bob", &format!("a{i}")).await;
    }
    for i in 0..5 {
        assert_eq!(next_message(&mut bob).await.seq, i + 1);
    }
    let cursors = bob.cursors();
    drop(bob);

    for i in 0..5 {
        app.send_text("alice", "bob", &format!("b{i}")).await;
    }
    let mut bob = app.connect_with("bob", ConnectOptions { resume: cursors, ..options() }).await;
    let seqs: Vec<i64> = backlog(&mut bob).await.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [6, 7, 8, 9, 10]);
    app.send_text("alice", "bob", "live").await;
    assert_eq!(next_message(&mut bob).await.seq, 11);
    assert_quiet(&mut bob).await;
}

#[tokio::test]
async fn concurrent_senders_are_delivered_in_sequence_order() {
    let app = std::sync::Arc::new(spawn_app().await);
    app.register(&["alice", "bob", "carol"]).await;
    let mut bob = app.connect("bob").await;
    backlog(&mut bob).await;

    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let app = app.clone();
        tasks.spawn(async move {
            for i in 0..25 {
                app.send_text("alice", "bob", &format!("{worker}-{i}")).await;
            }
        });
    }
    // Bob talks in another conversation meanwhile.
    for i in 0..10 {
        app.send_text("carol", "bob", &format!("c{i}")).await;
    }
    while tasks.join_next().await.is_some() {}

    let mut last_seq = std::collections::HashMap::new();
    for _ in 0..210 {
        let m = next_message(&mut bob).await;
        let previous = last_seq.insert(m.conv.clone(), m.seq).unwrap_or(0);
        assert_eq!(m.seq, previous + 1, "no gap, no duplicate, no reordering in {}", m.conv);
    }
    assert_quiet(&mut bob).await;
}

#[tokio::test]
async fn several_devices_each_get_every_message() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    let mut devices = Vec::new();
    for name in ["phone", "tablet", "web"] {
        let mut c = app.connect_with("bob", ConnectOptions { device: Some(name.into()), ..Default::default() }).await;
        backlog(&mut c).await;
        devices.push(c);
    }
    let id = app.send_text("alice", "bob", "to all devices").await;
    for device in &mut devices {
        assert_eq!(next_message(device).await.msg_id, id);
    }
    let (_, body) = app.get("/users/bob/status").await;
    assert_eq!(body["data"]["bob"], "online");
}

#[tokio::test]
async fn logging_in_again_on_the_same_device_replaces_the_old_session() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    let options = || ConnectOptions { device: Some("phone".into()), ..Default::default() };
    let mut first = app.connect_with("bob", options()).await;
    backlog(&mut first).await;
    let mut second = app.connect_with("bob", options()).await;
    backlog(&mut second).await;
    assert_eq!(next(&mut first).await, Event::Kicked { reason: "replaced".into() });
    let id = app.send_text("alice", "bob", "only the new one").await;
    assert_eq!(next_message(&mut second).await.msg_id, id);
}

#[tokio::test]
async fn deleting_a_user_disconnects_them() {
    let app = spawn_app().await;
    app.register(&["alice"]).await;
    let mut alice = app.connect("alice").await;
    backlog(&mut alice).await;
    app.delete("/users/alice").await;
    assert_eq!(next(&mut alice).await, Event::Kicked { reason: "credentials_changed".into() });
}
