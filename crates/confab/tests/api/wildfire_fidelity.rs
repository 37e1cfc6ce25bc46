//! WildfireChat round-trips (issue 13 §4): the seed's `operator` on deletes
//! of broadcasts and multicasts, and sends naming users nobody created, as
//! the vendor's admin API does them, over real HTTP and WebSocket.

use serde_json::{json, Value};

use confab_client::{ConnectOptions, Connection, Event};

use crate::helpers::{backlog, next, spawn_app, TestApp};

fn text(payload: &str) -> Value {
    json!({"type": 1, "searchableContent": payload})
}

async fn connect(app: &TestApp, name: &str) -> Connection {
    let made = app.wildfire("/admin/user/create", json!({"userId": name, "name": name})).await;
    assert_eq!(made["code"], 0, "{made}");
    let answer = app.wildfire("/admin/user/get_token", json!({"userId": name, "clientId": "c1", "platform": 5})).await;
    assert_eq!(answer["code"], 0, "{answer}");
    let token = answer["result"]["token"].as_str().expect("token");
    Connection::connect(&app.endpoint().ws_url(), token, ConnectOptions::default()).await.expect("gateway login")
}

#[tokio::test]
async fn deletes_of_casts_read_the_operator() {
    let app = spawn_app().await;
    let mut ann = connect(&app, "Ann").await;
    backlog(&mut ann).await;
    let sent = app
        .wildfire(
            "/admin/message/multicast",
            json!({"sender": "sys", "targets": ["Ann", "Ben"], "payload": text("hi")}),
        )
        .await;
    let uid = sent["result"]["messageUid"].as_i64().expect("messageUid");
    assert!(matches!(next(&mut ann).await, Event::Message(_)));

    // The seed names who deletes: without `operator` the call is refused.
    for path in ["/admin/message/delete_multicast", "/admin/message/delete_broadcast"] {
        let missing = app.wildfire(path, json!({"messageUid": uid})).await;
        assert_eq!(missing["code"], 251, "{path}: {missing}");
    }
    let bad = app.wildfire("/admin/message/delete_multicast", json!({"operator": 7, "messageUid": uid})).await;
    assert_eq!(bad["code"], 251, "{bad}");
    assert_eq!(app.wildfire("/admin/message/get_one", json!({"messageUid": uid})).await["code"], 0, "still there");

    let deleted =
        app.wildfire("/admin/message/delete_multicast", json!({"operator": "Admin-1", "messageUid": uid})).await;
    assert_eq!(deleted["code"], 0, "{deleted}");
    match next(&mut ann).await {
        Event::Update { change, by, .. } => assert_eq!((change.as_str(), by.as_deref()), ("deleted", Some("Admin-1"))),
        other => panic!("expected the deletion, got {other:?}"),
    }

    // Broadcasts too.
    let sent = app.wildfire("/admin/message/broadcast", json!({"sender": "sys", "payload": text("all")})).await;
    let uid = sent["result"]["messageUid"].as_i64().expect("messageUid");
    assert!(matches!(next(&mut ann).await, Event::Message(_)));
    let deleted =
        app.wildfire("/admin/message/delete_broadcast", json!({"operator": "Admin-2", "messageUid": uid})).await;
    assert_eq!(deleted["code"], 0, "{deleted}");
    assert!(matches!(next(&mut ann).await, Event::Update { by: Some(by), .. } if by == "Admin-2"));
}

#[tokio::test]
async fn admin_sends_skip_user_checks_but_not_group_checks() {
    let app = spawn_app().await;
    // Neither the sender nor the receiver of a single chat was ever created.
    let conv = json!({"type": 0, "target": "Ghost-B", "line": 0});
    let sent =
        app.wildfire("/admin/message/send", json!({"sender": "Ghost-A", "conv": conv, "payload": text("boo")})).await;
    assert_eq!(sent["code"], 0, "{sent}");
    let uid = sent["result"]["messageUid"].as_i64().unwrap();
    let mut ghost = connect(&app, "Ghost-B").await;
    let got = backlog(&mut ghost).await;
    assert_eq!(got.iter().map(|m| m.msg_id.clone()).collect::<Vec<_>>(), [uid.to_string()]);
    assert_eq!(got[0].from, "Ghost-A");

    // A group or channel must exist: ERROR_CODE_NOT_EXIST otherwise.
    for kind in [1, 3] {
        let conv = json!({"type": kind, "target": "no-such-target", "line": 0});
        let refused =
            app.wildfire("/admin/message/send", json!({"sender": "Ghost-A", "conv": conv, "payload": text("x")}));
        assert_eq!(refused.await["code"], 253, "type {kind}");
    }
    // In a group that exists, a sender nobody created may speak (the admin API skips the checks).
    assert_eq!(app.wildfire("/admin/user/create", json!({"userId": "Owner", "name": "Owner"})).await["code"], 0);
    let create = json!({"operator": "Owner", "group": {"group_info": {"target_id": "g1", "name": "G", "owner": "Owner"}, "members": [{"member_id": "Owner"}]}});
    assert_eq!(app.wildfire("/admin/group/create", create).await["code"], 0);
    let conv = json!({"type": 1, "target": "g1", "line": 0});
    let sent =
        app.wildfire("/admin/message/send", json!({"sender": "Stranger", "conv": conv, "payload": text("hi")})).await;
    assert_eq!(sent["code"], 0, "{sent}");
}
