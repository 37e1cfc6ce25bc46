//! E-recall-1 (recall with its window) and E-conv-1 (one-sided conversation delete).

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::json;

use confab_client::{ConnectOptions, Event};

use crate::groups::create_group;
use crate::helpers::{assert_error, backlog, eventually, next, next_message, spawn_app};

fn recall_body(id: &str, to: &str, chat_type: &str, force: bool) -> serde_json::Value {
    json!({"msg_id": id, "to": to, "chat_type": chat_type, "from": "alice", "force": force})
}

#[tokio::test]
async fn recall_reaches_connected_receivers_and_spares_offline_ones() {
    let app = spawn_app().await;
    app.register(&["alice", "bob", "carol"]).await;
    let mut bob = app.connect("bob").await;
    backlog(&mut bob).await;
    let to_bob = app.send_text("alice", "bob", "oops").await;
    next_message(&mut bob).await;
    let to_carol = app.send_text("alice", "carol", "oops too").await;

    let (status, body) = app.post("/messages/msg_recall", recall_body(&to_bob, "bob", "chat", false)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({"recalled": "yes", "chattype": "chat", "from": "alice", "to": "bob", "msg_id": to_bob})
    );
    match next(&mut bob).await {
        Event::Update { change, msg_id, by, .. } => {
            assert_eq!((change.as_str(), msg_id, by.as_deref()), ("recalled", to_bob.clone(), Some("alice")));
        }
        other => panic!("expected a recall, got {other:?}"),
    }
    let (status, _) = app.post("/messages/msg_recall", recall_body(&to_carol, "carol", "chat", false)).await;
    assert_eq!(status, StatusCode::OK);
    let mut carol = app.connect("carol").await;
    assert!(backlog(&mut carol).await.is_empty(), "an offline receiver never gets a recalled message");
    assert_eq!(app.get("/users/carol/offline_msg_count").await.1["data"]["carol"], 0);

    // Recalled already, or never sent: not found.
    let (status, body) = app.post("/messages/msg_recall", recall_body(&to_bob, "bob", "chat", false)).await;
    assert_error(status, &body, 403, "message_recall_error");
    assert_eq!(body["error_description"], "not_found msg");
    let (status, body) = app.post("/messages/msg_recall", recall_body("123456", "bob", "chat", true)).await;
    assert_eq!((status.as_u16(), body["error_description"].clone()), (403, json!("not_found msg")));
}

#[tokio::test]
async fn recall_keeps_to_its_window_unless_forced() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    let group = create_group(&app, "alice", &["bob"], json!({})).await;
    let (_, body) = app
        .post("/messages/chatgroups", json!({"from": "alice", "to": [group], "type": "txt", "body": {"msg": "hi"}}))
        .await;
    let in_group = body["data"][&group].as_str().unwrap().to_owned();
    let direct = app.send_text("alice", "bob", "hello").await;

    app.clock.advance_ms(121_000);
    let (status, body) = app.post("/messages/msg_recall", recall_body(&direct, "bob", "chat", false)).await;
    assert_error(status, &body, 403, "message_recall_error");
    assert_eq!(body["error_description"], "exceed recall time limit");
    assert_eq!(app.post("/messages/msg_recall", recall_body(&direct, "bob", "chat", true)).await.0, StatusCode::OK);

    // The window is the app's to choose.
    app.core.apps.set_rate_limit("demo", "chat", "easemob.recall_window_secs", Some(600)).await.unwrap();
    let mut bob = app.connect("bob").await;
    backlog(&mut bob).await;
    assert_eq!(
        app.post("/messages/msg_recall", recall_body(&in_group, &group, "groupchat", false)).await.0,
        StatusCode::OK
    );
    assert!(matches!(next(&mut bob).await, Event::Update { change, .. } if change == "recalled"));

    // The target must match the message.
    let other = app.send_text("alice", "bob", "again").await;
    let (status, body) = app.post("/messages/msg_recall", recall_body(&other, "carol", "chat", false)).await;
    assert_error(status, &body, 400, "message_recall_error");
    assert_eq!(body["error_description"], "can't find msg to");
    let (status, body) = app.post("/messages/msg_recall", recall_body(&other, "bob", "groupchat", false)).await;
    assert_eq!((status.as_u16(), body["error_description"].clone()), (400, json!("can't find msg to")));
    for missing in ["msg_id", "to", "chat_type", "force"] {
        let mut body = recall_body(&other, "bob", "chat", false);
        body.as_object_mut().unwrap().remove(missing);
        let (status, body) = app.post("/messages/msg_recall", body).await;
        assert_error(status, &body, 400, "message_recall_error");
        assert_eq!(body["error_description"], format!("param {missing} can't be empty"));
    }
    // Recall switched off for the app.
    app.core.apps.set_rate_limit("demo", "chat", "easemob.recall_window_secs", Some(0)).await.unwrap();
    let (status, body) = app.post("/messages/msg_recall", recall_body(&other, "bob", "chat", true)).await;
    assert_error(status, &body, 403, "forbidden_op");
}

#[tokio::test]
async fn deleting_a_conversation_touches_only_that_users_side() {
    let app = spawn_app().await;
    app.register(&["alice", "bob", "carol"]).await;
    for text in ["one", "two"] {
        app.send_text("alice", "bob", text).await;
        app.send_text("carol", "bob", text).await;
    }
    assert_eq!(app.get("/users/bob/offline_msg_count").await.1["data"]["bob"], 4);

    // Without delete_roam the messages stay, but nothing in it is unread any more.
    let (status, body) = app
        .call(
            Method::DELETE,
            "/users/bob/user_channel",
            Some(&app.app_token),
            Some(json!({"channel": "carol", "type": "chat", "delete_roam": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"result": "ok"}));
    eventually(|| async { app.get("/users/bob/offline_msg_count").await.1["data"]["bob"] == 2 }).await;

    // With delete_roam, Bob's copy is gone; Alice keeps hers.
    let token = app.user_token("bob").await;
    let delete = json!({"channel": "alice", "type": "chat", "delete_roam": true});
    let (status, _) = app.call(Method::DELETE, "/users/bob/user_channel", Some(&token), Some(delete)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.get("/users/bob/offline_msg_count").await.1["data"]["bob"], 0);
    let mut bob = app.connect("bob").await;
    assert!(backlog(&mut bob).await.is_empty());
    let mut alice_conv = None;
    let mut alice = app.connect_with("alice", ConnectOptions { device: Some("a2".into()), ..Default::default() }).await;
    assert!(backlog(&mut alice).await.is_empty());
    app.send_text("bob", "alice", "still there?").await;
    let got = next_message(&mut alice).await;
    alice_conv.get_or_insert(got.conv.clone());
    drop(alice);
    let replay = HashMap::from([(alice_conv.clone().unwrap(), 0)]);
    let mut alice = app
        .connect_with(
            "alice",
            ConnectOptions { device: Some("a3".into()), resume: replay.clone(), ..Default::default() },
        )
        .await;
    assert_eq!(backlog(&mut alice).await.len(), 1, "only Bob's reply: her own were not synced to her");
    drop(bob);
    let mut bob = app
        .connect_with("bob", ConnectOptions { device: Some("b2".into()), resume: replay, ..Default::default() })
        .await;
    assert!(backlog(&mut bob).await.is_empty(), "Bob's own reply was not synced either; the rest is deleted for him");

    for (body, description) in [
        (json!({"type": "chat", "delete_roam": true}), "field channel cannot be null or empty"),
        (json!({"channel": "alice", "delete_roam": true}), "field type cannot be null or empty"),
        (json!({"channel": "alice", "type": "chat"}), "field delete_roam cannot be null"),
    ] {
        let (status, body) =
            app.call(Method::DELETE, "/users/bob/user_channel", Some(&app.app_token), Some(body)).await;
        assert_error(status, &body, 400, "illegal_argument");
        assert_eq!(body["error_description"], description);
    }
    let carol = app.user_token("carol").await;
    let (status, _) = app
        .call(
            Method::DELETE,
            "/users/bob/user_channel",
            Some(&carol),
            Some(json!({"channel": "alice", "type": "chat", "delete_roam": true})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "not on someone else's behalf");
}

/// A sender edits a message at most `MAX_EDITS` times, and the limit holds
/// when edits race: it is checked in the storage engine's own write, so two
/// edits arriving at the ninth cannot both pass.
#[tokio::test]
async fn edits_racing_at_the_limit_do_not_both_pass() {
    use confab_core::error::{Error, Refusal};
    use confab_core::messages::MAX_EDITS;
    use confab_core::model::{Body, MessageState, Username};

    let app = spawn_app().await;
    app.register(&["ann", "bob"]).await;
    let id = app.send_text("ann", "bob", "draft").await;
    let demo = app.core.apps.by_name("demo", "chat").await.unwrap().unwrap();
    let id = confab_core::ids::MessageId::parse(&id).unwrap();
    let ann = Username::parse("ann").unwrap();
    let text = |n: u32| Body::Text { msg: format!("edit {n}") };
    let messages = &app.core.messages;
    for n in 1..MAX_EDITS {
        messages.edit_own(demo.id, id, &ann, text(n), None).await.unwrap();
    }
    // Many at once, at the last edit allowed: exactly one passes.
    let racing = (0..8).map(|n| messages.edit_own(demo.id, id, &ann, text(100 + n), None));
    let outcomes = futures_util::future::join_all(racing).await;
    let passed = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(passed, 1, "{outcomes:?}");
    for outcome in outcomes.iter().filter(|o| o.is_err()) {
        let Err(Error::Refused(refused)) = outcome else { panic!("{outcome:?}") };
        assert_eq!((refused.why, refused.user.as_deref()), (Refusal::EditLimit, Some("ann")));
    }
    let stored = messages.get(demo.id, id).await.unwrap().unwrap();
    assert!(matches!(stored.state, MessageState::Edited { count, .. } if count == MAX_EDITS), "{:?}", stored.state);
}
