//! E-rel-1 to E-rel-6 (contacts, block lists) and E-user-9 to E-user-11
//! (global mutes), enforced on REST and gateway sends.

use reqwest::StatusCode;
use serde_json::json;

use crate::groups::create_group;
use crate::helpers::{assert_error, backlog, next_message, spawn_app};

fn names(body: &serde_json::Value) -> Vec<String> {
    body["data"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn contacts_are_mutual_listed_newest_first_and_removable() {
    let app = spawn_app().await;
    app.register(&["alice", "bob", "carol"]).await;
    let (status, body) = app.post("/users/alice/contacts/users/bob", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["entities"][0]["username"], "bob");
    app.clock.advance_ms(5);
    app.post("/users/alice/contacts/users/carol", json!({})).await;
    let (_, body) = app.get("/users/alice/contacts/users").await;
    assert_eq!(names(&body), ["carol", "bob"]);
    assert_eq!(body["count"], 2);
    let (_, body) = app.get("/users/bob/contacts/users").await;
    assert_eq!(names(&body), ["alice"], "a contact goes both ways");
    // Adding again changes nothing.
    let (status, _) = app.post("/users/alice/contacts/users/bob", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&app.get("/users/alice/contacts/users").await.1).len(), 2);

    let (status, body) = app.delete("/users/bob/contacts/users/alice").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(names(&app.get("/users/alice/contacts/users").await.1), ["carol"]);
    assert!(names(&app.get("/users/bob/contacts/users").await.1).is_empty());

    let (status, body) = app.post("/users/alice/contacts/users/nobody", json!({})).await;
    assert_error(status, &body, 404, "service_resource_not_found");
    let (status, body) = app.get("/users/nobody/contacts/users").await;
    assert_error(status, &body, 404, "service_resource_not_found");
    // A user may manage their own contacts with their own token, not someone else's.
    let token = app.user_token("carol").await;
    let (status, _) = app.call(reqwest::Method::GET, "/users/carol/contacts/users", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.call(reqwest::Method::GET, "/users/alice/contacts/users", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_user_holds_at_most_3000_contacts() {
    let app = spawn_app().await;
    let friends: Vec<String> = (0..3001).map(|i| format!("f{i}")).collect();
    app.token_by_id("hub").await;
    for chunk in friends.chunks(200) {
        futures_util::future::join_all(chunk.iter().map(|f| app.token_by_id(f))).await;
    }
    for chunk in friends[..3000].chunks(200) {
        let paths: Vec<String> = chunk.iter().map(|f| format!("/users/hub/contacts/users/{f}")).collect();
        let adds = paths.iter().map(|path| app.post(path, json!({})));
        for (status, body) in futures_util::future::join_all(adds).await {
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    let (status, body) = app.post("/users/hub/contacts/users/f3000", json!({})).await;
    assert_error(status, &body, 403, "exceed_limit");
    // Nor may the friend's side pass it: f3000 cannot befriend hub either.
    let (status, body) = app.post("/users/f3000/contacts/users/hub", json!({})).await;
    assert_error(status, &body, 403, "exceed_limit");
    assert_eq!(app.get("/users/hub/contacts/users").await.1["count"], 3000);
}

#[tokio::test]
async fn blocked_senders_are_refused_until_unblocked() {
    let app = spawn_app().await;
    app.register(&["alice", "bob", "carol"]).await;
    let (status, body) = app.post("/users/alice/blocks/users", json!({"usernames": ["bob"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(names(&body), ["bob"]);

    // Over REST: refused when every receiver blocked the sender; others still get theirs.
    let send = |from: &str, to: Vec<&str>| json!({"from": from, "to": to, "type": "txt", "body": {"msg": "hi"}});
    let (status, body) = app.post("/messages/users", send("bob", vec!["alice"])).await;
    assert_error(status, &body, 403, "forbidden_op");
    let (status, body) = app.post("/messages/users", send("bob", vec!["alice", "carol"])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"].get("alice").is_none() && body["data"]["carol"].is_string(), "{body}");
    // The blocker may still write to the blocked user.
    app.send_text("alice", "bob", "I can").await;
    // Over the gateway too.
    let bob = app.connect("bob").await;
    let refused = bob.send("alice", json!({"type": "txt", "msg": "let me in"}), None).await;
    assert!(refused.unwrap_err().to_string().contains("forbidden"));
    let mut alice = app.connect("alice").await;
    assert!(backlog(&mut alice).await.is_empty(), "nothing from bob was stored");

    let (_, body) = app.get("/users/alice/blocks/users").await;
    assert_eq!(names(&body), ["bob"]);
    let (status, body) = app.delete("/users/alice/blocks/users/bob").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["entities"][0]["username"], "bob");
    bob.send("alice", json!({"type": "txt", "msg": "thanks"}), None).await.unwrap();
    assert_eq!(next_message(&mut alice).await.body["msg"], "thanks");
}

#[tokio::test]
async fn block_lists_page_and_hold_at_most_500() {
    let app = spawn_app().await;
    app.register(&["owner"]).await;
    let first: Vec<String> = (0..300).map(|i| format!("u{i:03}")).collect();
    let (status, body) = app.post("/users/owner/blocks/users", json!({"usernames": first})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second: Vec<String> = (300..500).map(|i| format!("u{i:03}")).collect();
    assert_eq!(app.post("/users/owner/blocks/users", json!({"usernames": second})).await.0, StatusCode::OK);
    let (status, body) = app.post("/users/owner/blocks/users", json!({"usernames": ["one-more"]})).await;
    assert_error(status, &body, 403, "exceed_limit");

    let (_, all) = app.get("/users/owner/blocks/users").await;
    assert_eq!(all["count"], 500);
    let mut paged = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, body) = app.get(&format!("/users/owner/blocks/users?pageSize=50&cursor={cursor}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["count"].as_u64().unwrap() <= 50);
        paged.extend(names(&body));
        match body["cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(paged, names(&all), "pages add up to the whole list, newest first");
    let (status, body) = app.get("/users/owner/blocks/users?pageSize=0").await;
    assert_error(status, &body, 400, "illegal_argument");
}

#[tokio::test]
async fn global_mutes_hold_per_kind_until_they_lapse() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    let group = create_group(&app, "bob", &["alice"], json!({})).await;

    let (status, body) = app.post("/mutes", json!({"username": "bob", "chat": 60, "chatroom": -1})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["result"], "ok");
    let one_to_one = json!({"from": "bob", "to": ["alice"], "type": "txt", "body": {"msg": "hi"}});
    let (status, body) = app.post("/messages/users", one_to_one.clone()).await;
    assert_error(status, &body, 403, "forbidden_op");
    // Groups were not muted.
    let to_group = json!({"from": "bob", "to": [group], "type": "txt", "body": {"msg": "hi all"}});
    assert_eq!(app.post("/messages/chatgroups", to_group.clone()).await.0, StatusCode::OK);

    let (_, body) = app.get("/mutes/bob").await;
    assert_eq!((body["data"]["chat"].clone(), body["data"]["groupchat"].clone()), (json!(60), json!(0)));
    assert_eq!(body["data"]["chatroom"], -1);
    assert!(body["data"]["userid"].as_str().unwrap().ends_with("_bob"));
    let (_, body) = app.get("/mutes?pageSize=10").await;
    let rows = body["data"]["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{body}");
    assert!(rows.iter().any(|r| r["username"] == "bob" && r["chat"] == 60));

    app.clock.advance_ms(61_000);
    assert_eq!(app.post("/messages/users", one_to_one.clone()).await.0, StatusCode::OK, "the mute lapsed");
    app.post("/mutes", json!({"username": "bob", "groupchat": -1})).await;
    let (status, body) = app.post("/messages/chatgroups", to_group.clone()).await;
    assert_error(status, &body, 403, "forbidden_op");
    app.post("/mutes", json!({"username": "bob", "groupchat": 0})).await;
    assert_eq!(app.post("/messages/chatgroups", to_group).await.0, StatusCode::OK, "unmuted");

    let (status, body) = app.post("/mutes", json!({"username": "bob", "chat": -5})).await;
    assert_error(status, &body, 400, "illegal_argument");
    let (status, body) = app.post("/mutes", json!({"username": "nobody", "chat": 5})).await;
    assert_error(status, &body, 400, "required_property_not_found");
    let (status, body) = app.get("/mutes/nobody").await;
    assert_error(status, &body, 400, "required_property_not_found");
}
