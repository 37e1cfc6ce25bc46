//! E-msg-1: every message type, every limit and error.

use reqwest::StatusCode;
use serde_json::{json, Value};

use confab_client::ConnectOptions;

use crate::helpers::{assert_error, assert_quiet, backlog, next_message, spawn_app};

/// One valid body per type, as the vendor's examples show them.
fn examples() -> Vec<(&'static str, Value)> {
    vec![
        ("txt", json!({"msg": "testmessages"})),
        (
            "img",
            json!({"filename": "testimg.jpg", "secret": "VfXXXXNb_", "url": "https://h/o/a/chatfiles/55f1", "size": {"width": 480, "height": 720}}),
        ),
        (
            "audio",
            json!({"url": "https://h/o/a/chatfiles/1dfc", "filename": "testaudio.amr", "length": 10, "secret": "HfXXXXCjM"}),
        ),
        (
            "video",
            json!({"thumb": "https://h/o/a/chatfiles/6727", "length": 0, "secret": "VfXXXXNb_", "file_length": 58103, "thumb_secret": "ZyXXXX2I", "url": "https://h/o/a/chatfiles/671d"}),
        ),
        ("file", json!({"filename": "test.txt", "secret": "1-g0XXXXua", "url": "https://h/o/a/chatfiles/d7e"})),
        ("loc", json!({"lat": "39.966", "lng": "116.322", "addr": "中国北京市海淀区中关村"})),
        ("cmd", json!({"action": "action1"})),
        ("custom", json!({"customEvent": "custom_event", "customExts": {"k": "v"}})),
    ]
}

#[tokio::test]
async fn every_message_type_is_stored_and_delivered_as_sent() {
    let app = spawn_app().await;
    app.register(&["user1", "user2"]).await;
    let mut receiver = app.connect("user2").await;
    backlog(&mut receiver).await;
    for (kind, body) in examples() {
        let request = json!({"from": "user1", "to": ["user2"], "type": kind, "body": body, "ext": {"k": kind}});
        let (status, reply) = app.post("/messages/users", request).await;
        assert_eq!(status, StatusCode::OK, "{kind}: {reply}");
        assert_eq!(reply["action"], "post");
        assert_eq!(reply["path"], "/messages/users");
        let id = reply["data"]["user2"].as_str().unwrap();
        assert!(id.parse::<u64>().is_ok(), "message IDs are decimal 64-bit strings");

        let got = next_message(&mut receiver).await;
        assert_eq!(got.msg_id, id);
        assert_eq!(got.from, "user1");
        assert_eq!(got.to, "user2");
        assert_eq!(got.chat_type, "chat");
        assert_eq!(got.ext, Some(json!({"k": kind})));
        let mut expected = body.clone();
        expected["type"] = json!(kind);
        assert_eq!(got.body, expected, "{kind} arrives unchanged");
    }
}

#[tokio::test]
async fn each_type_requires_its_fields() {
    let app = spawn_app().await;
    let missing = [
        ("txt", json!({"text": "x"})),
        ("img", json!({"filename": "a.jpg", "url": "u"})),
        ("audio", json!({"filename": "a.amr", "url": "u"})),
        ("video", json!({"thumb": "t", "length": 1, "url": "u"})),
        ("file", json!({"filename": "f"})),
        ("loc", json!({"lat": "1", "lng": "2"})),
        ("cmd", json!({"act": "x"})),
    ];
    for (kind, body) in missing {
        let (status, reply) = app.post("/messages/users", json!({"to": ["b"], "type": kind, "body": body})).await;
        assert_error(status, &reply, 400, "invalid_request_body");
    }
    let (status, reply) = app.post("/messages/users", json!({"to": ["b"], "type": "sticker", "body": {"x": 1}})).await;
    assert_error(status, &reply, 400, "message_send_error");
}

#[tokio::test]
async fn common_fields_are_checked_with_the_vendors_codes() {
    let app = spawn_app().await;
    let cases = [
        (json!({"from": "", "to": ["b"], "type": "txt", "body": {"msg": "x"}}), Some(14001)),
        (json!({"to": [], "type": "txt", "body": {"msg": "x"}}), Some(14002)),
        (json!({"type": "txt", "body": {"msg": "x"}}), Some(14002)),
        (json!({"to": ["b"], "type": "txt", "body": {}}), Some(14005)),
        (json!({"to": ["b"], "type": "", "body": {"msg": "x"}}), None),
        (json!({"to": ["b"], "type": "txt", "body": {"msg": "x"}, "ext": "not an object"}), None),
        (json!({"to": ["bad name"], "type": "txt", "body": {"msg": "x"}}), None),
    ];
    for (request, code) in cases {
        let (status, reply) = app.post("/messages/users", request.clone()).await;
        assert_error(status, &reply, 400, "message_send_error");
        if let Some(code) = code {
            assert_eq!(reply["error_code"], code, "{request}");
        }
    }
    let (status, reply) = app
        .post(
            "/messages/users",
            json!({"to": ["b"], "type": "txt", "body": {"msg": "x"}, "routetype": "ROUTE_SOMETIMES"}),
        )
        .await;
    assert_error(status, &reply, 400, "invalid_request_body");
}

#[tokio::test]
async fn from_defaults_to_admin() {
    let app = spawn_app().await;
    app.register(&["bob"]).await;
    let mut bob = app.connect("bob").await;
    backlog(&mut bob).await;
    let (status, reply) =
        app.post("/messages/users", json!({"to": ["bob"], "type": "txt", "body": {"msg": "notice"}})).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(next_message(&mut bob).await.from, "admin");
}

#[tokio::test]
async fn six_hundred_receivers_per_call_and_no_more() {
    let app = spawn_app().await;
    let receivers: Vec<String> = (0..600).map(|i| format!("r{i}")).collect();
    let (status, reply) =
        app.post("/messages/users", json!({"from": "a", "to": receivers, "type": "txt", "body": {"msg": "hi"}})).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let data = reply["data"].as_object().unwrap();
    assert_eq!(data.len(), 600);
    let mut ids: Vec<&str> = data.values().map(|v| v.as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 600, "one message, with its own ID, per receiver");

    let too_many: Vec<String> = (0..601).map(|i| format!("r{i}")).collect();
    let (status, reply) =
        app.post("/messages/users", json!({"to": too_many, "type": "txt", "body": {"msg": "hi"}})).await;
    assert_error(status, &reply, 400, "message_send_error");
    assert!(reply["error_description"].as_str().unwrap().contains("600"));
}

#[tokio::test]
async fn size_limits_are_enforced() {
    let app = spawn_app().await;
    app.register(&["bob"]).await;
    // Over 5 KB of request body: 413 before anything is parsed.
    let (status, reply) =
        app.post("/messages/users", json!({"to": ["bob"], "type": "txt", "body": {"msg": "x".repeat(5200)}})).await;
    assert_error(status, &reply, 413, "request_entity_too_large");
    // Under 5 KB, but body and ext over 3 KB together.
    let request =
        json!({"to": ["bob"], "type": "txt", "body": {"msg": "x".repeat(2000)}, "ext": {"e": "y".repeat(1200)}});
    let (status, reply) = app.post("/messages/users", request).await;
    assert_error(status, &reply, 400, "message_send_error");
    assert_eq!(reply["error_code"], 14007);
    // Refused sends store nothing.
    let (_, count) = app.get("/users/bob/offline_msg_count").await;
    assert_eq!(count["data"]["bob"], 0);
    // Just under the limits is fine.
    let request =
        json!({"to": ["bob"], "type": "txt", "body": {"msg": "x".repeat(2000)}, "ext": {"e": "y".repeat(1000)}});
    let (status, reply) = app.post("/messages/users", request).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
}

#[tokio::test]
async fn custom_messages_follow_their_rules() {
    let app = spawn_app().await;
    for event in ["has space", "", &"x".repeat(33), "semi;colon"] {
        let (status, reply) =
            app.post("/messages/users", json!({"to": ["b"], "type": "custom", "body": {"customEvent": event}})).await;
        assert_error(status, &reply, 400, "message_send_error");
    }
    let exts: serde_json::Map<String, Value> = (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
    let (status, reply) =
        app.post("/messages/users", json!({"to": ["b"], "type": "custom", "body": {"customExts": exts}})).await;
    assert_error(status, &reply, 400, "message_send_error");
    let exts: serde_json::Map<String, Value> = (0..16).map(|i| (format!("k{i}"), json!("v"))).collect();
    let (status, reply) = app
        .post(
            "/messages/users",
            json!({"to": ["b"], "type": "custom", "body": {"customEvent": "a-b_c/d.e", "customExts": exts}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
}

#[tokio::test]
async fn sync_device_echoes_to_the_senders_devices() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    let mut alice = app.connect("alice").await;
    backlog(&mut alice).await;

    app.send_text("alice", "bob", "not synced").await;
    assert_quiet(&mut alice).await;

    let (status, reply) = app
        .post(
            "/messages/users",
            json!({"from": "alice", "to": ["bob"], "type": "txt", "body": {"msg": "synced"}, "sync_device": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let echo = next_message(&mut alice).await;
    assert_eq!(echo.body["msg"], "synced");
    assert_eq!(echo.from, "alice");
    assert_eq!(echo.to, "bob");
}

#[tokio::test]
async fn route_online_only_reaches_connected_receivers() {
    let app = spawn_app().await;
    app.register(&["alice", "bob", "carol"]).await;
    let online_only = |to: Vec<&str>| json!({"from": "alice", "to": to, "type": "txt", "body": {"msg": "now"}, "routetype": "ROUTE_ONLINE"});

    let (status, reply) = app.post("/messages/users", online_only(vec!["bob"])).await;
    assert_error(status, &reply, 400, "message_send_error");
    let (_, count) = app.get("/users/bob/offline_msg_count").await;
    assert_eq!(count["data"]["bob"], 0, "nothing kept for an offline receiver");

    let mut bob = app.connect("bob").await;
    backlog(&mut bob).await;
    let (status, reply) = app.post("/messages/users", online_only(vec!["bob", "carol"])).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(reply["data"]["bob"].is_string());
    assert!(reply["data"].get("carol").is_none(), "offline receivers get no message");
    assert_eq!(next_message(&mut bob).await.body["msg"], "now");
    let carol = app.connect_with("carol", ConnectOptions::default()).await;
    let mut carol = carol;
    assert!(backlog(&mut carol).await.is_empty());
}

#[tokio::test]
async fn receivers_per_minute_are_limited_per_app() {
    let app = spawn_app().await;
    app.core.apps.set_rate_limit("demo", "chat", "easemob.message_receivers_per_minute", Some(10)).await.unwrap();
    let to: Vec<String> = (0..8).map(|i| format!("r{i}")).collect();
    let (status, reply) = app.post("/messages/users", json!({"to": to, "type": "txt", "body": {"msg": "x"}})).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let (status, reply) = app.post("/messages/users", json!({"to": to, "type": "txt", "body": {"msg": "x"}})).await;
    assert_error(status, &reply, 403, "message_send_error");
    assert_eq!(reply["error_description"], "message send reach limit");
    // Another app's budget is its own.
    let other = app.core.apps.create("acme", "other", Default::default()).await.unwrap();
    let token = app.core.apps.issue_app_token(&other, &other.client_id, &other.client_secret, None).unwrap().token;
    let reply = app
        .http
        .post(format!("http://{}/acme/other/messages/users", app.addr))
        .bearer_auth(token)
        .json(&json!({"to": to, "type": "txt", "body": {"msg": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
}

#[tokio::test]
async fn requests_per_second_are_limited_per_app() {
    let app = spawn_app().await;
    app.core.apps.set_rate_limit("demo", "chat", "easemob.requests_per_second", Some(5)).await.unwrap();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(app.get("/users").await);
    }
    let refused: Vec<_> = statuses.iter().filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS).collect();
    assert!(refused.len() >= 2, "a burst of 8 over a limit of 5 per second is refused at least twice");
    assert_error(refused[0].0, &refused[0].1, 429, "reach_limit");
    // Back to the default (unlimited in tests): nothing is refused.
    app.core.apps.set_rate_limit("demo", "chat", "easemob.requests_per_second", None).await.unwrap();
    for _ in 0..20 {
        assert_eq!(app.get("/users").await.0, StatusCode::OK);
    }
}
