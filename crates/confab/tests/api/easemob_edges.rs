//! What a backend written for Easemob sends, as the vendor's seed documents
//! and its current documents show it: thread recalls by the export's chat
//! type, `ROUTE_ONLINE` to groups, unnamed groups, sends to users who do not
//! exist, and the seed's methods.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::groups::create_group;
use crate::helpers::{assert_quiet, backlog, next, next_message, spawn_app};

#[tokio::test]
async fn thread_messages_are_recalled_by_the_chat_type_the_export_gives_them() {
    let app = spawn_app().await;
    app.register(&["o", "a"]).await;
    let group = create_group(&app, "o", &["a"], json!({})).await;
    let root = json!({"from": "o", "to": [group], "type": "txt", "body": {"msg": "root"}});
    let (_, body) = app.post("/messages/chatgroups", root).await;
    let root = body["data"][&group].as_str().unwrap().to_owned();
    let (status, body) =
        app.post("/thread", json!({"group_id": group, "name": "t", "owner": "o", "msg_id": root})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let thread = body["data"]["thread_id"].as_str().unwrap().to_owned();
    assert_eq!(app.post(&format!("/thread/{thread}/users"), json!({"usernames": ["a"]})).await.0, StatusCode::OK);
    let mut a = app.connect("a").await;
    backlog(&mut a).await;
    let sent = a.send_to("thread", &thread, json!({"type": "txt", "msg": "in the thread"}), None).await.unwrap();

    // The export names it a group message to the thread…
    let (_, body) = app.get("/chatmessages?ql=select * where timestamp>0").await;
    let record = body["entities"].as_array().unwrap().iter().find(|r| r["msg_id"] == sent.msg_id).unwrap().clone();
    assert_eq!((record["chat_type"].as_str(), record["to"].as_str()), (Some("groupchat"), Some(thread.as_str())));
    // …and a recall that names it so finds it.
    let recall = json!({"msg_id": sent.msg_id, "to": record["to"], "chat_type": record["chat_type"], "force": true});
    let (status, body) = app.post("/messages/msg_recall", recall).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["recalled"], "yes");
}

#[tokio::test]
async fn route_online_group_messages_reach_only_members_connected_now() {
    let app = spawn_app().await;
    app.register(&["owner", "here", "away"]).await;
    let group = create_group(&app, "owner", &["here", "away"], json!({})).await;
    let mut here = app.connect("here").await;
    backlog(&mut here).await;
    let send = json!({"from": "owner", "to": [group], "type": "txt", "body": {"msg": "only now"}, "routetype": "ROUTE_ONLINE"});
    let (status, body) = app.post("/messages/chatgroups", send).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["data"][&group].as_str().unwrap().to_owned();
    let got = next_message(&mut here).await;
    assert_eq!(got.msg_id, id);

    // Nothing waits for the member who was away.
    let (_, body) = app.get("/users/away/offline_msg_count").await;
    assert_eq!(body["data"]["away"], 0, "{body}");
    let mut away = app.connect("away").await;
    let missed = backlog(&mut away).await;
    assert!(missed.iter().all(|m| m.msg_id != id), "{missed:?}");
    assert_quiet(&mut away).await;

    // Without it, the message waits for them as before.
    let send = json!({"from": "owner", "to": [group], "type": "txt", "body": {"msg": "for all"}});
    assert_eq!(app.post("/messages/chatgroups", send).await.0, StatusCode::OK);
    assert_eq!(next_message(&mut away).await.body["msg"], "for all");
    assert_eq!(next_message(&mut here).await.body["msg"], "for all");

    // A group that does not exist refuses the whole call.
    let send = json!({"from": "owner", "to": [group, "404"], "type": "txt", "body": {"msg": "x"}, "routetype": "ROUTE_ONLINE"});
    assert_eq!(app.post("/messages/chatgroups", send).await.0, StatusCode::NOT_FOUND);
    assert_quiet(&mut here).await;

    // Nor does a group where the sender may not speak, after one where it may:
    // the send is one commit, so the first group gets nothing either.
    let other = create_group(&app, "away", &["here"], json!({})).await;
    assert!(matches!(next(&mut here).await, confab_client::Event::Group { .. }), "told of the new group");
    let send = json!({"from": "owner", "to": [group, other], "type": "txt", "body": {"msg": "x"}, "routetype": "ROUTE_ONLINE"});
    let (status, body) = app.post("/messages/chatgroups", send).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "owner is not in the second group: {body}");
    assert_quiet(&mut here).await;
    let (_, history) = app.get("/chatmessages?ql=select * where timestamp>0&limit=100").await;
    let bodies: Vec<&Value> =
        history["entities"].as_array().unwrap().iter().map(|r| &r["payload"]["bodies"][0]["msg"]).collect();
    assert!(!bodies.contains(&&json!("x")), "nothing was stored: {history}");
}

#[tokio::test]
async fn a_group_may_be_created_without_a_name() {
    let app = spawn_app().await;
    app.register(&["owner"]).await;
    let (status, body) = app.post("/chatgroups", json!({"public": false, "owner": "owner"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["data"]["groupid"].as_str().unwrap().to_owned();
    let (status, body) = app.get(&format!("/chatgroups/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"][0]["name"], "", "{body}");
    // A chat room still needs one, as the vendor requires.
    let (status, _) = app.post("/chatrooms", json!({"owner": "owner"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// E-grp-5 answers each field it changed with `true` and refuses a field it
/// does not know (or one a chat room does not have) before changing anything.
#[tokio::test]
async fn a_settings_change_names_what_changed_and_refuses_unknown_fields() {
    let app = spawn_app().await;
    app.register(&["owner"]).await;
    let (_, body) = app.post("/chatgroups", json!({"groupname": "g", "public": false, "owner": "owner"})).await;
    let id = body["data"]["groupid"].as_str().unwrap().to_owned();
    let path = format!("/chatgroups/{id}");
    let (status, body) = app.put(&path, json!({"groupname": "new", "color": "red"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_parameter", "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("[color]"), "{body}");
    let (_, body) = app.get(&path).await;
    assert_eq!(body["data"][0]["name"], "g", "nothing changed: {body}");
    let change = json!({"groupname": "new", "maxusers": 300});
    let (status, body) = app.put(&path, change).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"groupname": true, "maxusers": true}), "{body}");
    // A chat room has no `public`; its `name` is answered as `groupname`.
    let (_, body) = app.post("/chatrooms", json!({"name": "r", "owner": "owner"})).await;
    let room = format!("/chatrooms/{}", body["data"]["id"].as_str().unwrap());
    let (status, body) = app.put(&room, json!({"public": true})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = app.put(&room, json!({"name": "r2"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"groupname": true}), "{body}");
}

/// Easemob's REST sends do not check that the receiving user exists
/// ("REST 接口发消息，不会判断环信 ID 在 App Key 下是否存在"): the message is
/// kept for that ID and delivered once the user exists and connects.
#[tokio::test]
async fn sends_to_users_who_do_not_exist_are_kept_for_them() {
    let app = spawn_app().await;
    app.register(&["alice"]).await;
    let send = json!({"from": "alice", "to": ["ghost"], "type": "txt", "body": {"msg": "are you there?"}});
    let (status, body) = app.post("/messages/users", send).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["data"]["ghost"].as_str().unwrap().to_owned();
    app.register(&["ghost"]).await;
    let mut ghost = app.connect("ghost").await;
    let missed = backlog(&mut ghost).await;
    assert_eq!(missed.iter().map(|m| m.msg_id.as_str()).collect::<Vec<_>>(), [id.as_str()]);
}

#[tokio::test]
async fn the_seeds_methods_are_served_beside_the_current_ones() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    let mut bob = app.connect("bob").await;
    backlog(&mut bob).await;
    // E-user-8: the seed shows GET with a body.
    let names = json!({"usernames": ["alice", "bob"]});
    for method in [Method::GET, Method::POST] {
        let (status, body) = app.call(method, "/users/batch/status", Some(&app.app_token), Some(names.clone())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"], json!([{"alice": "offline"}, {"bob": "online"}]));
    }
    // E-grp-17: the seed unmutes with POST, the current documents with DELETE.
    let group = create_group(&app, "alice", &["bob"], json!({})).await;
    let mute = || json!({"usernames": ["bob"], "mute_duration": 60_000});
    let muted = |body: &Value| body["data"].as_array().unwrap().iter().any(|e| e["user"] == "bob");
    for method in [Method::POST, Method::DELETE] {
        assert_eq!(app.post(&format!("/chatgroups/{group}/mute"), mute()).await.0, StatusCode::OK);
        let (_, body) = app.get(&format!("/chatgroups/{group}/mute")).await;
        assert!(muted(&body), "{body}");
        let (status, body) =
            app.call(method, &format!("/chatgroups/{group}/mute/bob"), Some(&app.app_token), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, body) = app.get(&format!("/chatgroups/{group}/mute")).await;
        assert!(!muted(&body), "{body}");
    }
}
