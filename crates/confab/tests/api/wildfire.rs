//! The WildfireChat admin dialect (W-1 to W-16): signed calls over real
//! HTTP, messages seen live over the gateway and through the Easemob dialect.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::{json, Value};

use confab_client::{ConnectOptions, Connection, Event};
use confab_core::clock::Clock;

use crate::helpers::{assert_quiet, backlog, next, next_message, spawn_app, TestApp, WILDFIRE_SECRET};

fn text(payload: &str) -> Value {
    json!({"type": 1, "searchableContent": payload})
}

fn single(target: &str) -> Value {
    json!({"type": 0, "target": target, "line": 0})
}

/// Creates users through the dialect itself.
async fn create_users(app: &TestApp, names: &[&str]) {
    for name in names {
        let answer = app.wildfire("/admin/user/create", json!({"userId": name, "name": name})).await;
        assert_eq!(answer["code"], 0, "{answer}");
        assert_eq!(answer["result"]["userId"], *name);
    }
}

/// Connects a user with a token from `/admin/user/get_token`, after the backlog.
async fn connect(app: &TestApp, name: &str) -> Connection {
    connect_with(app, name, ConnectOptions::default()).await
}

async fn connect_with(app: &TestApp, name: &str, options: ConnectOptions) -> Connection {
    let answer = app.wildfire("/admin/user/get_token", json!({"userId": name, "clientId": "c1", "platform": 5})).await;
    assert_eq!(answer["code"], 0, "{answer}");
    let token = answer["result"]["token"].as_str().expect("token");
    Connection::connect(&app.endpoint().ws_url(), token, options).await.expect("gateway login")
}

async fn send_single(app: &TestApp, from: &str, to: &str, content: &str) -> i64 {
    let answer = app
        .wildfire("/admin/message/send", json!({"sender": from, "conv": single(to), "payload": text(content)}))
        .await;
    assert_eq!(answer["code"], 0, "{answer}");
    assert!(answer["result"]["timestamp"].as_i64().unwrap() > 0);
    answer["result"]["messageUid"].as_i64().expect("messageUid")
}

fn body_text(m: &confab_client::MessageFrame) -> &str {
    m.body["msg"].as_str().unwrap_or_default()
}

/// Every W path, with a body that would be valid.
fn every_call() -> Vec<(&'static str, Value)> {
    vec![
        ("/admin/message/send", json!({"sender": "a", "conv": single("b"), "payload": text("x")})),
        ("/admin/message/update", json!({"messageUid": 1, "payload": text("x"), "distribute": 1})),
        ("/admin/message/recall", json!({"operator": "a", "messageUid": 1})),
        ("/admin/message/multicast", json!({"sender": "a", "targets": ["b"], "line": 0, "payload": text("x")})),
        ("/admin/message/broadcast", json!({"sender": "a", "line": 0, "payload": text("x")})),
        ("/admin/message/delete", json!({"messageUid": 1})),
        (
            "/admin/message/clear_by_user",
            json!({"userId": "a", "conversation": single("b"), "startTime": 0, "endTime": 1}),
        ),
        ("/admin/conversation/delete", json!({"userId": "a", "conversation": single("b")})),
        ("/admin/message/get_one", json!({"messageUid": 1})),
        ("/admin/message/recall_broadcast", json!({"operator": "a", "messageUid": 1})),
        ("/admin/message/recall_multicast", json!({"operator": "a", "messageUid": 1, "receivers": ["b"]})),
        ("/admin/message/delete_broadcast", json!({"operator": "a", "messageUid": 1})),
        ("/admin/message/delete_multicast", json!({"operator": "a", "messageUid": 1, "receivers": ["b"]})),
        ("/admin/message/conv_read", json!({"userId": "a", "type": 0, "target": "b", "line": 0})),
        ("/admin/message/delivery", json!({"userId": "a"})),
        ("/admin/user/create", json!({"userId": "a", "name": "a"})),
        ("/admin/user/update", json!({"flag": 1, "userInfo": {"userId": "a", "displayName": "A"}})),
        ("/admin/user/get_info", json!({"userId": "a"})),
        ("/admin/user/get_token", json!({"userId": "a", "clientId": "c", "platform": 1})),
        ("/admin/user/destroy", json!({"userId": "a"})),
        (
            "/admin/group/create",
            json!({"operator": "a", "group": {"group_info": {"name": "g", "owner": "a"}, "members": []}}),
        ),
        ("/admin/group/del", json!({"operator": "a", "group_id": "g"})),
        ("/admin/group/get_info", json!({"groupId": "g"})),
        ("/admin/group/member/list", json!({"groupId": "g"})),
        ("/admin/group/member/add", json!({"operator": "a", "group_id": "g", "members": [{"member_id": "b"}]})),
        ("/admin/group/member/del", json!({"operator": "a", "group_id": "g", "members": ["b"]})),
        ("/admin/chatroom/create", json!({"chatroomId": "r", "title": "r"})),
        ("/admin/chatroom/info", json!({"chatroomId": "r"})),
        ("/admin/chatroom/del", json!({"chatroomId": "r"})),
        ("/admin/channel/create", json!({"owner": "a", "name": "c"})),
        ("/admin/channel/get", json!({"channelId": "c"})),
        ("/admin/channel/destroy", json!({"channelId": "c"})),
        ("/admin/channel/subscribe", json!({"channelId": "c", "userId": "a", "subscribe": 1})),
    ]
}

#[tokio::test]
async fn every_call_needs_a_valid_fresh_signature() {
    let app = spawn_app().await;
    let now = app.clock.now_ms();
    for (path, body) in every_call() {
        let wrong = app.wildfire_signed(path, &body, "1", now, "not-the-secret").await;
        assert_eq!(wrong, json!({"code": 244, "msg": "auth failure"}), "{path}");
        let response = app.http.post(format!("http://{}{path}", app.addr)).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let unsigned: Value = response.json().await.unwrap();
        assert_eq!(unsigned["code"], 239, "{path}: {unsigned}");
    }
    let body = json!({"userId": "a"});
    // Two hours either way is the window; beyond it the signature has expired.
    let old =
        app.wildfire_signed("/admin/message/delivery", &body, "7", now - 2 * 3600 * 1000 - 1000, WILDFIRE_SECRET).await;
    assert_eq!(old["code"], 243, "{old}");
    let ahead =
        app.wildfire_signed("/admin/message/delivery", &body, "7", now + 2 * 3600 * 1000 + 1000, WILDFIRE_SECRET).await;
    assert_eq!(ahead["code"], 243, "{ahead}");
    let recent = app.wildfire_signed("/admin/message/delivery", &body, "7", now - 3600 * 1000, WILDFIRE_SECRET).await;
    assert_eq!(recent["code"], 0, "{recent}");
    // The same request again is a replay; the same nonce at another instant is not.
    let replay = app.wildfire_signed("/admin/message/delivery", &body, "7", now - 3600 * 1000, WILDFIRE_SECRET).await;
    assert_eq!(replay["code"], 244, "{replay}");
    let later =
        app.wildfire_signed("/admin/message/delivery", &body, "7", now - 3600 * 1000 + 1, WILDFIRE_SECRET).await;
    assert_eq!(later["code"], 0, "{later}");
}

#[tokio::test]
async fn bad_input_gets_the_vendors_error_codes() {
    let app = spawn_app().await;
    create_users(&app, &["alice", "bob"]).await;
    let cases = [
        ("/admin/message/send", json!({"sender": "alice", "conv": single("bob")})),
        ("/admin/message/send", json!({"sender": "alice", "conv": single("bob"), "payload": "hi"})),
        (
            "/admin/message/send",
            json!({"sender": "alice", "conv": single("bob"), "payload": {"searchableContent": "x"}}),
        ),
        ("/admin/message/send", json!({"sender": "bell\u{7}", "conv": single("bob"), "payload": text("x")})),
        ("/admin/message/get_one", json!({"messageUid": 0})),
        ("/admin/message/get_one", json!({"messageUid": "abc"})),
        (
            "/admin/message/clear_by_user",
            json!({"userId": "bob", "conversation": single("alice"), "startTime": 5, "endTime": 1}),
        ),
        ("/admin/user/create", json!({"userId": "carol"})),
        ("/admin/user/create", json!({"name": "carol", "type": 1})),
        ("/admin/group/member/add", json!({"group_id": "g", "members": []})),
    ];
    for (path, body) in cases {
        let answer = app.wildfire(path, body.clone()).await;
        assert_eq!(answer["code"], 251, "{path} {body}: {answer}");
        assert!(answer["msg"].as_str().unwrap().starts_with("Invalid parameter"), "{answer}");
    }
    let recall =
        app.wildfire("/admin/message/send", json!({"sender": "alice", "conv": single("bob"), "payload": {"type": 80}}));
    assert_eq!(recall.await["code"], 10);
    let missing = app.wildfire("/admin/message/get_one", json!({"messageUid": 12345})).await;
    assert_eq!(missing["code"], 253, "{missing}");
    let things = app.wildfire(
        "/admin/message/send",
        json!({"sender": "alice", "conv": {"type": 4, "target": "c"}, "payload": text("x")}),
    );
    assert_eq!(things.await["code"], 254);
    let no_group = app.wildfire(
        "/admin/message/send",
        json!({"sender": "alice", "conv": {"type": 1, "target": "nope"}, "payload": text("x")}),
    );
    assert_eq!(no_group.await["code"], 253);
    // An unknown action fails as a transport error would (the vendor's is an empty 500), saying why.
    let (status, unknown) = crate::edge::wildfire_raw(
        &app.http,
        app.addr,
        reqwest::Method::POST,
        "/admin/nothing/here",
        &json!({}),
        WILDFIRE_SECRET,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
    assert_eq!(serde_json::from_str::<Value>(&unknown).unwrap()["code"], 254, "{unknown}");
    // The body limit: a payload may carry a thumbnail, but not megabytes.
    let huge =
        json!({"sender": "alice", "conv": single("bob"), "payload": {"type": 1, "base64edData": "A".repeat(70_000)}});
    assert_eq!(app.wildfire("/admin/message/send", huge).await["code"], 251);
    // Nothing of the refused sends was stored.
    let mut bob = connect(&app, "bob").await;
    assert!(backlog(&mut bob).await.is_empty());
}

#[tokio::test]
async fn calls_over_the_rate_limit_are_refused() {
    let app = spawn_app().await;
    app.core.apps.set_rate_limit("demo", "chat", "wildfire.requests_per_second", Some(3)).await.unwrap();
    // Twelve calls at once: a burst of 3 passes, and the bucket refills 3 a
    // second while the calls are served (a loaded machine serves them slowly).
    let started = std::time::Instant::now();
    let calls = (0..12).map(|_| app.wildfire("/admin/message/delivery", json!({"userId": "a"})));
    let codes: Vec<i64> =
        futures_util::future::join_all(calls).await.iter().map(|a| a["code"].as_i64().unwrap()).collect();
    let refilled = (started.elapsed().as_secs_f64() * 3.0).ceil() as usize;
    let passed = codes.iter().filter(|c| **c == 0).count();
    assert!((3..=3 + refilled).contains(&passed), "{passed} passed, {refilled} refilled: {codes:?}");
    assert!(codes.iter().all(|c| *c == 0 || *c == 250), "{codes:?}");
    if 3 + refilled < 12 {
        assert!(codes.contains(&250), "{codes:?}");
    }
}

#[tokio::test]
async fn a_sent_message_reaches_the_gateway_and_the_easemob_dialect_unchanged() {
    let app = spawn_app().await;
    create_users(&app, &["alice", "bob"]).await;
    let mut bob = connect(&app, "bob").await;
    assert!(backlog(&mut bob).await.is_empty());

    let payload = json!({"type": 1, "searchableContent": "你好", "pushContent": "new message", "extra": "{\"k\":1}",
                         "mentionedType": 0, "persistFlag": 3});
    let answer = app
        .wildfire("/admin/message/send", json!({"sender": "alice", "conv": single("bob"), "payload": payload}))
        .await;
    assert_eq!(answer["code"], 0, "{answer}");
    let uid = answer["result"]["messageUid"].as_i64().unwrap();

    // The gateway (and so every dialect's client) sees the text.
    let got = next_message(&mut bob).await;
    assert_eq!(got.msg_id, uid.to_string());
    assert_eq!((got.chat_type.as_str(), got.from.as_str(), got.to.as_str()), ("chat", "alice", "bob"));
    assert_eq!(got.body, json!({"type": "txt", "msg": "你好"}));
    assert_eq!(got.original, Some(json!({"wildfire": {"payload": payload, "line": 0}})), "the payload, unchanged");

    // The vendor's view: the payload exactly as sent.
    let one = app.wildfire("/admin/message/get_one", json!({"messageUid": uid})).await;
    assert_eq!(one["code"], 0, "{one}");
    assert_eq!(one["result"]["payload"], payload);
    assert_eq!(one["result"]["sender"], "alice");
    assert_eq!(one["result"]["conv"], single("bob"));
    assert_eq!(one["result"]["messageId"], uid);

    // The Easemob dialect sees the same message in the same conversation, and in its history.
    let (status, body) = app.get(&format!("/users/bob/offline_msg_status/{uid}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, history) = app.get(&format!("/chatmessages?ql=select * where timestamp>{}", got.timestamp - 1)).await;
    let record = &history["entities"][0];
    assert_eq!(record["msg_id"], uid.to_string());
    assert_eq!(record["payload"]["bodies"], json!([{"type": "txt", "msg": "你好"}]));
    let easemob_id = app.send_text("bob", "alice", "reply").await;
    let mut alice = connect(&app, "alice").await;
    let mine = backlog(&mut alice).await;
    assert_eq!(mine.last().map(|m| m.msg_id.clone()), Some(easemob_id));
    assert_eq!(mine.last().unwrap().conv, got.conv, "one conversation for both dialects");

    // A message another dialect sent reads back as the vendor's text payload.
    let one = app
        .wildfire("/admin/message/get_one", json!({"messageUid": mine.last().unwrap().msg_id.parse::<i64>().unwrap()}));
    let one = one.await;
    assert_eq!(one["result"]["payload"], json!({"type": 1, "searchableContent": "reply"}));

    // A line other than 0 is a conversation of its own.
    let on_line = app.wildfire(
        "/admin/message/send",
        json!({"sender": "alice", "conv": {"type": 0, "target": "bob", "line": 2}, "payload": text("line two")}),
    );
    assert_eq!(on_line.await["code"], 0);
    let other = next_message(&mut bob).await;
    assert_eq!(body_text(&other), "line two");
    assert_ne!(other.conv, got.conv);
    let uid = other.msg_id.parse::<i64>().unwrap();
    let one = app.wildfire("/admin/message/get_one", json!({"messageUid": uid})).await;
    assert_eq!(one["result"]["conv"], json!({"type": 0, "target": "bob", "line": 2}));
}

#[tokio::test]
async fn groups_made_here_are_groups_everywhere() {
    let app = spawn_app().await;
    create_users(&app, &["owner", "ann", "ben", "cat"]).await;
    let create = json!({"operator": "owner", "group": {
        "group_info": {"target_id": "team-1", "name": "Team", "portrait": "http://p/1.png", "type": 2, "extra": "x"},
        "members": [{"member_id": "ann", "type": 1}, {"member_id": "ben"}]}});
    let answer = app.wildfire("/admin/group/create", create.clone()).await;
    assert_eq!(answer, json!({"code": 0, "msg": "success", "result": {"group_id": "team-1"}}));
    assert_eq!(app.wildfire("/admin/group/create", create).await["code"], 11, "the ID is taken");

    let info = app.wildfire("/admin/group/get_info", json!({"groupId": "team-1"})).await;
    assert_eq!(info["result"]["name"], "Team");
    assert_eq!(info["result"]["owner"], "owner");
    assert_eq!(info["result"]["type"], 2);
    assert_eq!(info["result"]["portrait"], "http://p/1.png");
    let members = app.wildfire("/admin/group/member/list", json!({"groupId": "team-1"})).await;
    let kinds: HashMap<String, i64> = members["result"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["member_id"].as_str().unwrap().to_owned(), m["type"].as_i64().unwrap()))
        .collect();
    assert_eq!(kinds, HashMap::from([("owner".into(), 2), ("ann".into(), 1), ("ben".into(), 0)]));

    // The Easemob dialect lists and messages the same group.
    let (status, body) = app.get("/chatgroups/team-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"][0]["name"], "Team");

    let added = app.wildfire(
        "/admin/group/member/add",
        json!({"operator": "owner", "group_id": "team-1", "members": [{"member_id": "cat"}]}),
    );
    assert_eq!(added.await["code"], 0);
    let mut ann = connect(&app, "ann").await;
    let mut ben = connect(&app, "ben").await;
    let mut cat = connect(&app, "cat").await;
    for c in [&mut ann, &mut ben, &mut cat] {
        backlog(c).await;
    }
    let to_group = json!({"type": 1, "target": "team-1", "line": 0});
    let all =
        app.wildfire("/admin/message/send", json!({"sender": "owner", "conv": to_group, "payload": text("all")})).await;
    assert_eq!(all["code"], 0, "{all}");
    for c in [&mut ann, &mut ben, &mut cat] {
        let m = next_message(c).await;
        assert_eq!((m.chat_type.as_str(), m.to.as_str(), body_text(&m)), ("groupchat", "team-1", "all"));
    }
    // toUsers: only the members named get it.
    let some = json!({"sender": "owner", "conv": to_group, "payload": text("psst"), "toUsers": ["cat"]});
    assert_eq!(app.wildfire("/admin/message/send", some).await["code"], 0);
    assert_eq!(body_text(&next_message(&mut cat).await), "psst");
    assert_quiet(&mut ann).await;
    assert_quiet(&mut ben).await;
    let outsider = json!({"sender": "owner", "conv": to_group, "payload": text("x"), "toUsers": ["nobody"]});
    assert_eq!(app.wildfire("/admin/message/send", outsider).await["code"], 251);

    let removed =
        app.wildfire("/admin/group/member/del", json!({"operator": "owner", "group_id": "team-1", "members": ["ben"]}));
    assert_eq!(removed.await["code"], 0);
    let owner_out = app
        .wildfire("/admin/group/member/del", json!({"operator": "owner", "group_id": "team-1", "members": ["owner"]}));
    assert_eq!(owner_out.await["code"], 248);
    let members = app.wildfire("/admin/group/member/list", json!({"groupId": "team-1"})).await;
    assert_eq!(members["result"]["members"].as_array().unwrap().len(), 3);

    assert_eq!(app.wildfire("/admin/group/del", json!({"operator": "owner", "group_id": "team-1"})).await["code"], 0);
    assert_eq!(app.wildfire("/admin/group/get_info", json!({"groupId": "team-1"})).await["code"], 253);
}

#[tokio::test]
async fn multicasts_are_stored_once_and_reach_only_their_targets() {
    let app = spawn_app().await;
    create_users(&app, &["sys", "ann", "ben", "cat"]).await;
    let mut ann = connect(&app, "ann").await;
    let mut cat = connect(&app, "cat").await;
    backlog(&mut ann).await;
    backlog(&mut cat).await;

    let sent = app
        .wildfire(
            "/admin/message/multicast",
            json!({"sender": "sys", "targets": ["ann", "ben"], "line": 0, "payload": text("promo")}),
        )
        .await;
    assert_eq!(sent["code"], 0, "{sent}");
    let uid = sent["result"]["messageUid"].as_i64().unwrap();
    let got = next_message(&mut ann).await;
    assert_eq!((got.msg_id.clone(), got.from.as_str(), got.chat_type.as_str()), (uid.to_string(), "sys", "broadcast"));
    assert_quiet(&mut cat).await;
    // Ben was offline: he gets it when he connects.
    let mut ben = connect(&app, "ben").await;
    assert_eq!(backlog(&mut ben).await.iter().map(|m| m.msg_id.clone()).collect::<Vec<_>>(), vec![uid.to_string()]);
    let one = app.wildfire("/admin/message/get_one", json!({"messageUid": uid})).await;
    assert_eq!(one["result"]["toUsers"], json!(["ann", "ben"]));

    // A multicast is not a broadcast.
    let wrong = app.wildfire("/admin/message/recall_broadcast", json!({"operator": "sys", "messageUid": uid}));
    assert_eq!(wrong.await["code"], 253);
    // Recalled for Ann only: she is told; Ben keeps it.
    let recalled = app.wildfire(
        "/admin/message/recall_multicast",
        json!({"operator": "sys", "messageUid": uid, "receivers": ["ann"]}),
    );
    assert_eq!(recalled.await["code"], 0);
    match next(&mut ann).await {
        Event::Update { change, msg_id, by, .. } => {
            assert_eq!((change.as_str(), msg_id, by.as_deref()), ("recalled", uid.to_string(), Some("sys")));
        }
        other => panic!("expected a recall, got {other:?}"),
    }
    assert_quiet(&mut ben).await;
    drop(ann);
    let replay = HashMap::from([(got.conv.clone(), 0)]);
    let mut ann_again =
        connect_with(&app, "ann", ConnectOptions { resume: replay.clone(), ..Default::default() }).await;
    assert!(backlog(&mut ann_again).await.is_empty(), "recalled for Ann");
    drop(ben);
    let mut ben_again = connect_with(&app, "ben", ConnectOptions { resume: replay, ..Default::default() }).await;
    assert_eq!(backlog(&mut ben_again).await.len(), 1, "Ben keeps it");

    // Deleted for everyone.
    let deleted = app.wildfire("/admin/message/delete_multicast", json!({"operator": "sys", "messageUid": uid}));
    assert_eq!(deleted.await["code"], 0);
    assert_eq!(app.wildfire("/admin/message/get_one", json!({"messageUid": uid})).await["code"], 253);
}

#[tokio::test]
async fn broadcasts_reach_every_user_even_later_and_can_be_withdrawn() {
    let app = spawn_app().await;
    create_users(&app, &["sys", "ann", "ben", "cat"]).await;
    let mut ann = connect(&app, "ann").await;
    backlog(&mut ann).await;
    let sent = app
        .wildfire("/admin/message/broadcast", json!({"sender": "sys", "line": 0, "payload": text("maintenance")}))
        .await;
    assert_eq!(sent["code"], 0, "{sent}");
    assert_eq!(sent["result"]["count"], 3, "every user but the sender");
    let uid = sent["result"]["messageUid"].as_i64().unwrap().to_string();
    assert_eq!(next_message(&mut ann).await.msg_id, uid);
    let mut ben = connect(&app, "ben").await;
    assert_eq!(backlog(&mut ben).await.iter().map(|m| m.msg_id.clone()).collect::<Vec<_>>(), vec![uid.clone()]);

    // Deleted for Cat, before she ever connected: she never gets it.
    let uid_n: i64 = uid.parse().unwrap();
    let deleted = app.wildfire(
        "/admin/message/delete_broadcast",
        json!({"operator": "sys", "messageUid": uid_n, "receivers": ["cat"]}),
    );
    assert_eq!(deleted.await["code"], 0);
    let mut cat = connect(&app, "cat").await;
    assert!(backlog(&mut cat).await.is_empty());

    // Recalled for everyone: the connected are told.
    let recalled = app.wildfire("/admin/message/recall_broadcast", json!({"operator": "sys", "messageUid": uid_n}));
    assert_eq!(recalled.await["code"], 0);
    for c in [&mut ann, &mut ben] {
        assert!(matches!(next(c).await, Event::Update { change, .. } if change == "recalled"));
    }
    let one = app.wildfire("/admin/message/get_one", json!({"messageUid": uid_n})).await;
    assert_eq!(one["result"]["payload"]["type"], 80);
    assert_eq!(one["result"]["payload"]["content"], "sys");
}

#[tokio::test]
async fn updates_recalls_and_deletes_reach_receivers() {
    let app = spawn_app().await;
    create_users(&app, &["alice", "bob", "dan"]).await;
    let mut bob = connect(&app, "bob").await;
    backlog(&mut bob).await;
    let uid = send_single(&app, "alice", "bob", "draft").await;
    next_message(&mut bob).await;

    let update = json!({"messageUid": uid, "distribute": 1, "payload": text("final")});
    assert_eq!(app.wildfire("/admin/message/update", update).await["code"], 0);
    match next(&mut bob).await {
        Event::Update { change, msg, .. } => {
            assert_eq!(change, "edited");
            assert_eq!(msg.unwrap().body["msg"], "final");
        }
        other => panic!("expected an edit, got {other:?}"),
    }
    let silent = json!({"messageUid": uid, "distribute": 0, "payload": text("quietly")});
    assert_eq!(app.wildfire("/admin/message/update", silent).await["code"], 0);
    assert_quiet(&mut bob).await;
    let one = app.wildfire("/admin/message/get_one", json!({"messageUid": uid})).await;
    assert_eq!(one["result"]["payload"], text("quietly"));

    // Recall has no time limit here; Dan, offline, never gets the message.
    let to_dan = send_single(&app, "alice", "dan", "oops").await;
    app.clock.advance_ms(24 * 3600 * 1000);
    let recall = json!({"operator": "alice", "messageUid": to_dan});
    assert_eq!(app.wildfire("/admin/message/recall", recall.clone()).await["code"], 0);
    assert_eq!(app.wildfire("/admin/message/recall", recall).await["code"], 0, "recalling again changes nothing");
    let mut dan = connect(&app, "dan").await;
    assert!(backlog(&mut dan).await.is_empty());
    let (status, body) = app.get("/users/dan/offline_msg_count").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["dan"], 0, "{body}");
    let one = app.wildfire("/admin/message/get_one", json!({"messageUid": to_dan})).await;
    assert_eq!(one["result"]["payload"]["type"], 80);

    assert_eq!(app.wildfire("/admin/message/delete", json!({"messageUid": uid})).await["code"], 0);
    assert!(matches!(next(&mut bob).await, Event::Update { change, .. } if change == "deleted"));
    assert_eq!(app.wildfire("/admin/message/get_one", json!({"messageUid": uid})).await["code"], 253);
    assert_eq!(app.wildfire("/admin/message/delete", json!({"messageUid": uid})).await["code"], 253);
}

#[tokio::test]
async fn clearing_and_deleting_a_conversation_touch_one_user_only() {
    let app = spawn_app().await;
    create_users(&app, &["alice", "bob"]).await;
    send_single(&app, "alice", "bob", "one").await;
    let start = app.clock.now_ms();
    app.clock.advance_ms(1000);
    send_single(&app, "alice", "bob", "two").await;
    let end = app.clock.now_ms();
    app.clock.advance_ms(1000);
    send_single(&app, "alice", "bob", "three").await;

    let conv_of_bob = json!({"type": 0, "target": "alice", "line": 0});
    let clear = json!({"userId": "bob", "conversation": conv_of_bob, "startTime": start + 1, "endTime": end});
    assert_eq!(app.wildfire("/admin/message/clear_by_user", clear).await["code"], 0);
    let texts = |ms: Vec<confab_client::MessageFrame>| ms.iter().map(|m| body_text(m).to_owned()).collect::<Vec<_>>();
    let mut bob = connect(&app, "bob").await;
    let seen = backlog(&mut bob).await;
    assert_eq!(texts(seen.clone()), ["one", "three"]);
    let everything = HashMap::from([(seen[0].conv.clone(), 0)]);
    let options = ConnectOptions { resume: everything.clone(), device: Some("alice-2".into()), ..Default::default() };
    let mut alice = connect_with(&app, "alice", options).await;
    assert_eq!(texts(backlog(&mut alice).await), ["one", "two", "three"], "Alice keeps all of it");

    let delete = json!({"userId": "bob", "conversation": conv_of_bob});
    assert_eq!(app.wildfire("/admin/conversation/delete", delete).await["code"], 0);
    drop(bob);
    let options = ConnectOptions { resume: everything, device: Some("tablet".into()), ..Default::default() };
    let mut bob = connect_with(&app, "bob", options).await;
    assert!(backlog(&mut bob).await.is_empty(), "the conversation is gone for Bob");
    // Alice's side is intact: she still answers in it and Bob gets new messages.
    send_single(&app, "alice", "bob", "four").await;
    assert_eq!(body_text(&next_message(&mut bob).await), "four");
}

async fn read_of(app: &TestApp) -> i64 {
    let body = json!({"userId": "bob", "type": 0, "target": "alice", "line": 0});
    app.wildfire("/admin/message/conv_read", body).await["result"]["timestamp"].as_i64().unwrap()
}

#[tokio::test]
async fn read_and_delivery_timestamps_come_from_the_gateway() {
    let app = spawn_app().await;
    create_users(&app, &["alice", "bob"]).await;
    assert_eq!(read_of(&app).await, 0);
    assert_eq!(app.wildfire("/admin/message/delivery", json!({"userId": "bob"})).await["result"]["timestamp"], 0);

    send_single(&app, "alice", "bob", "first").await;
    app.clock.advance_ms(5);
    send_single(&app, "alice", "bob", "second").await;
    let mut bob = connect_with(&app, "bob", ConnectOptions { auto_ack: false, ..Default::default() }).await;
    let got = backlog(&mut bob).await;
    assert_eq!(got.len(), 2);
    bob.ack(&got[1].conv, got[1].seq).await.unwrap();
    bob.read(&got[0].conv, got[0].seq).await.unwrap();
    crate::helpers::eventually(|| async {
        let delivered = app.wildfire("/admin/message/delivery", json!({"userId": "bob"})).await;
        delivered["result"]["timestamp"] == got[1].timestamp
    })
    .await;
    crate::helpers::eventually(|| async { read_of(&app).await == got[0].timestamp }).await;
}

#[tokio::test]
async fn users_are_created_read_updated_and_destroyed() {
    let app = spawn_app().await;
    let created = app
        .wildfire("/admin/user/create", json!({"name": "zoe", "displayName": "Zoe", "mobile": "123", "gender": 2}))
        .await;
    // Without a userId, the vendor makes one up, whatever the name.
    assert_eq!(created["result"]["name"], "zoe");
    let zoe = created["result"]["userId"].as_str().unwrap().to_owned();
    assert!(!zoe.is_empty() && zoe != "zoe" && zoe.chars().all(|c| c.is_ascii_alphanumeric()), "{created}");
    let generated = app.wildfire("/admin/user/create", json!({"name": "名字"})).await;
    let id = generated["result"]["userId"].as_str().unwrap().to_owned();
    assert!(!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()), "{generated}");
    // An explicit ID is kept as given.
    let named = app
        .wildfire(
            "/admin/user/create",
            json!({"userId": "zoe", "name": "zoe", "displayName": "Zoe", "mobile": "123", "gender": 2}),
        )
        .await;
    assert_eq!(named["result"], json!({"userId": "zoe", "name": "zoe"}));

    let info = app.wildfire("/admin/user/get_info", json!({"userId": "zoe"})).await;
    assert_eq!(info["result"]["displayName"], "Zoe");
    assert_eq!(info["result"]["mobile"], "123");
    assert_eq!(info["result"]["gender"], 2);
    assert_eq!(app.wildfire("/admin/user/get_info", json!({"name": "zoe"})).await["code"], 0);
    assert_eq!(app.wildfire("/admin/user/get_info", json!({"userId": "nobody"})).await["code"], 253);

    // Only the fields the flag selects change.
    let update = json!({"flag": 0x01, "userInfo": {"userId": "zoe", "displayName": "Zoë", "mobile": "999"}});
    assert_eq!(app.wildfire("/admin/user/update", update).await["code"], 0);
    let info = app.wildfire("/admin/user/get_info", json!({"userId": "zoe"})).await;
    assert_eq!((info["result"]["displayName"].clone(), info["result"]["mobile"].clone()), (json!("Zoë"), json!("123")));
    let nobody = json!({"flag": 1, "userInfo": {"userId": "nobody", "displayName": "x"}});
    assert_eq!(app.wildfire("/admin/user/update", nobody).await["code"], 253);
    // The Easemob dialect sees the same user.
    let (status, body) = app.get("/users/zoe").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    assert_eq!(app.wildfire("/admin/user/get_token", json!({"userId": "nobody"})).await["code"], 253);
    assert_eq!(app.wildfire("/admin/user/destroy", json!({"userId": "zoe"})).await["code"], 0);
    assert_eq!(app.wildfire("/admin/user/get_info", json!({"userId": "zoe"})).await["code"], 253);
}

#[tokio::test]
async fn chat_rooms_and_channels_are_made_and_spoken_in() {
    let app = spawn_app().await;
    create_users(&app, &["host", "ann", "ben"]).await;

    // A chat room made by the app: members hear what is said while they are in it.
    let room =
        app.wildfire("/admin/chatroom/create", json!({"chatroomId": "lobby", "title": "Lobby", "desc": "d"})).await;
    assert_eq!(room["result"]["chatroomId"], "lobby", "{room}");
    let info = app.wildfire("/admin/chatroom/info", json!({"chatroomId": "lobby"})).await;
    assert_eq!((info["result"]["title"].clone(), info["result"]["memberCount"].clone()), (json!("Lobby"), json!(0)));
    let mut ann = connect(&app, "ann").await;
    backlog(&mut ann).await;
    ann.join_room("lobby").await.unwrap();
    assert!(matches!(next(&mut ann).await, Event::Group { event, .. } if event == "members_added"));
    let to_room =
        json!({"sender": "host", "conv": {"type": 2, "target": "lobby", "line": 0}, "payload": text("welcome")});
    assert_eq!(app.wildfire("/admin/message/send", to_room).await["code"], 0);
    let got = next_message(&mut ann).await;
    assert_eq!((got.chat_type.as_str(), body_text(&got)), ("chatroom", "welcome"));
    // The Easemob dialect lists the same room.
    let (status, body) = app.get("/chatrooms/lobby").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.wildfire("/admin/chatroom/del", json!({"chatroomId": "lobby"})).await["code"], 0);
    // The vendor keeps a destroyed room, ended (state 2).
    let ended = app.wildfire("/admin/chatroom/info", json!({"chatroomId": "lobby"})).await;
    assert_eq!((ended["code"].as_i64(), ended["result"]["state"].as_i64()), (Some(0), Some(2)), "{ended}");

    // A channel: subscribers get its owner's messages, live and after being away.
    let made =
        app.wildfire("/admin/channel/create", json!({"owner": "host", "name": "News", "targetId": "news"})).await;
    assert_eq!(made["result"]["targetId"], "news", "{made}");
    let secret = made["result"]["secret"].as_str().unwrap().to_owned();
    assert!(!secret.is_empty());
    for user in ["ann", "ben"] {
        let sub =
            app.wildfire("/admin/channel/subscribe", json!({"channelId": "news", "userId": user, "subscribe": 1}));
        assert_eq!(sub.await["code"], 0);
    }
    let channel = app.wildfire("/admin/channel/get", json!({"channelId": "news"})).await;
    assert_eq!(
        (channel["result"]["owner"].clone(), channel["result"]["secret"].clone()),
        (json!("host"), json!(secret))
    );
    assert_eq!(channel["result"]["subscriberCount"], 2);
    let to_channel = json!({"type": 3, "target": "news", "line": 0});
    let sent = app
        .wildfire("/admin/message/send", json!({"sender": "host", "conv": to_channel, "payload": text("edition 1")}))
        .await;
    assert_eq!(sent["code"], 0, "{sent}");
    loop {
        match next(&mut ann).await {
            Event::Message(m) => {
                assert_eq!((m.chat_type.as_str(), m.to.as_str(), body_text(&m)), ("channel", "news", "edition 1"));
                break;
            }
            Event::Group { .. } => continue,
            other => panic!("expected the channel's message, got {other:?}"),
        }
    }
    let mut ben = connect(&app, "ben").await;
    assert_eq!(backlog(&mut ben).await.iter().map(|m| body_text(m).to_owned()).collect::<Vec<_>>(), ["edition 1"]);
    // Subscribers listen; they do not speak.
    let refused = ben.send_to("channel", "news", json!({"type": "txt", "msg": "me too"}), None).await;
    assert!(refused.unwrap_err().to_string().contains("forbidden"));
    let one = app.wildfire("/admin/message/get_one", json!({"messageUid": sent["result"]["messageUid"]})).await;
    assert_eq!(one["result"]["conv"], to_channel);

    let leave = app.wildfire("/admin/channel/subscribe", json!({"channelId": "news", "userId": "ben", "subscribe": 0}));
    assert_eq!(leave.await["code"], 0);
    let sent = json!({"sender": "host", "conv": to_channel, "payload": text("edition 2")});
    assert_eq!(app.wildfire("/admin/message/send", sent).await["code"], 0);
    while let Ok(event) = tokio::time::timeout(std::time::Duration::from_millis(300), ben.next_event()).await {
        assert!(matches!(event, Event::Group { .. }), "an unsubscribed user got {event:?}");
    }
}
