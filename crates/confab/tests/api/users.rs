//! E-user-1 to E-user-8 and E-user-12 to E-user-16.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use confab_client::{ConnectOptions, Connection, Event};

use crate::helpers::{assert_error, backlog, eventually, next, spawn_app, PASSWORD};

#[tokio::test]
async fn register_one_user() {
    let app = spawn_app().await;
    let (status, body) = app.post("/users", json!({"username": "Alice_1", "password": "pw", "nickname": "Al"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["action"], "post");
    assert_eq!(body["path"], "/users");
    assert_eq!(body["organization"], "demo");
    assert_eq!(body["applicationName"], "chat");
    let user = &body["entities"][0];
    // User IDs are case-insensitive and stored lower-cased, as the vendor does.
    assert_eq!(user["username"], "alice_1");
    assert_eq!(user["nickname"], "Al");
    assert_eq!(user["type"], "user");
    assert_eq!(user["activated"], true);
    assert!(user["uuid"].is_string() && user["created"].is_i64());

    let (status, body) = app.post("/users", json!({"username": "alice_1", "password": "pw"})).await;
    assert_error(status, &body, 400, "duplicate_unique_property_exists");
}

#[tokio::test]
async fn register_a_batch_skipping_taken_names() {
    let app = spawn_app().await;
    app.register(&["taken"]).await;
    let batch = json!([{"username": "u1", "password": "p"}, {"username": "taken", "password": "p"}, {"username": "u2", "password": "p"}]);
    let (status, body) = app.post("/users", batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<&str> =
        body["entities"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["u1", "u2"]);
    assert_eq!(body["data"], json!([{"username": "taken", "registerUserFailReason": "the taken already exists"}]));

    let too_many: Vec<Value> = (0..61).map(|i| json!({"username": format!("x{i}"), "password": "p"})).collect();
    let (status, body) = app.post("/users", Value::Array(too_many)).await;
    assert_error(status, &body, 400, "illegal_argument");
    let (_, listed) = app.get("/users?limit=100").await;
    assert_eq!(listed["count"], 3, "a refused batch stores nothing");
}

#[tokio::test]
async fn usernames_and_passwords_follow_the_rules() {
    let app = spawn_app().await;
    for bad in ["has space", "中文", "semi;colon", "", &"a".repeat(65)] {
        let (status, body) = app.post("/users", json!({"username": bad, "password": "p"})).await;
        assert_error(status, &body, 400, "illegal_argument");
    }
    let (status, body) = app.post("/users", json!({"username": &"a".repeat(64), "password": "p"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.post("/users", json!({"username": "nopass"})).await;
    assert_error(status, &body, 400, "illegal_argument");
    assert_eq!(body["error_description"], "password or pin must provided");
    let (status, body) = app.post("/users", json!({"username": "longpass", "password": "p".repeat(65)})).await;
    assert_error(status, &body, 400, "illegal_argument");
    let (status, body) = app.post("/users", json!("just a string")).await;
    assert_error(status, &body, 400, "invalid_request_body");
}

#[tokio::test]
async fn malformed_and_oversized_bodies_get_clear_errors() {
    let app = spawn_app().await;
    let reply = app.http.post(app.url("/users")).bearer_auth(&app.app_token).body("{not json").send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["error"], "json_parse");

    let huge = vec![b'x'; 70 * 1024];
    let reply = app.http.post(app.url("/users")).bearer_auth(&app.app_token).body(huge).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["error"], "request_entity_too_large");
}

#[tokio::test]
async fn get_one_user() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    let (status, body) = app.get("/users/alice").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["entities"][0]["username"], "alice");
    assert_eq!(body["count"], 1);
    assert_eq!(body["action"], "get");

    let (status, body) = app.get("/users/nobody").await;
    assert_error(status, &body, 404, "service_resource_not_found");

    // A user may read their own account with a user token, not someone else's.
    let token = app.user_token("alice").await;
    let (status, _) = app.call(Method::GET, "/users/alice", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.call(Method::GET, "/users/bob", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn list_users_with_a_cursor() {
    let app = spawn_app().await;
    let names: Vec<String> = (0..25).map(|i| format!("user{i:02}")).collect();
    app.register(&names.iter().map(String::as_str).collect::<Vec<_>>()).await;

    let mut seen = Vec::new();
    let mut path = "/users?limit=10".to_owned();
    loop {
        let (status, body) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["params"]["limit"], json!(["10"]));
        let page: Vec<String> =
            body["entities"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_owned()).collect();
        assert_eq!(body["count"], page.len());
        seen.extend(page);
        // Users added while paging appear on later pages, not twice.
        if seen.len() == 10 {
            app.register(&["late"]).await;
        }
        match body["cursor"].as_str() {
            Some(cursor) => path = format!("/users?limit=10&cursor={cursor}"),
            None => break,
        }
    }
    let mut want = names.clone();
    want.push("late".into());
    assert_eq!(seen, want, "creation order, no gaps, no repeats");

    let (status, body) = app.get("/users?limit=0").await;
    assert_error(status, &body, 400, "illegal_argument");
    let (status, body) = app.get("/users?cursor=bogus").await;
    assert_error(status, &body, 400, "illegal_argument");
    let (_, body) = app.get("/users?limit=1000").await;
    assert_eq!(body["count"], 26, "limit is capped at 100, which covers all 26");
}

#[tokio::test]
async fn delete_users_one_and_in_batches() {
    let app = spawn_app().await;
    app.register(&["a1", "a2", "a3", "a4"]).await;
    let (status, body) = app.delete("/users/a1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["action"], "delete");
    assert_eq!(body["entities"][0]["username"], "a1");
    let (status, body) = app.delete("/users/a1").await;
    assert_error(status, &body, 404, "service_resource_not_found");

    let (status, body) = app.delete("/users?limit=2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deleted: Vec<&str> =
        body["entities"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(deleted, ["a2", "a3"], "the oldest go first");
    let (_, body) = app.get("/users").await;
    assert_eq!(body["count"], 1);

    // A deleted user's tokens stop working, even if the name is registered again.
    app.register(&["back"]).await;
    let old = app.user_token("back").await;
    app.delete("/users/back").await;
    app.register(&["back"]).await;
    let (status, _) = app.call(Method::GET, "/users/back", Some(&old), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn changing_a_password_voids_old_tokens() {
    let app = spawn_app().await;
    app.register(&["alice"]).await;
    let old_token = app.user_token("alice").await;
    let (status, body) = app.put("/users/alice/password", json!({"newpassword": "new-secret"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["action"], "set user password");

    let (status, _) = app.call(Method::GET, "/users/alice", Some(&old_token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(app.endpoint().user_token(&app.http, "alice", PASSWORD).await.is_err());
    assert!(app.endpoint().user_token(&app.http, "alice", "new-secret").await.is_ok());

    let (status, body) = app.put("/users/nobody/password", json!({"newpassword": "x"})).await;
    assert_error(status, &body, 404, "entity_not_found");
    let (status, body) = app.put("/users/alice/password", json!({})).await;
    assert_error(status, &body, 400, "illegal_argument");
}

#[tokio::test]
async fn status_follows_connections() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    let (status, body) = app.get("/users/alice/status").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"alice": "offline"}));

    let mut alice = app.connect("alice").await;
    backlog(&mut alice).await;
    let (_, body) = app.get("/users/alice/status").await;
    assert_eq!(body["data"], json!({"alice": "online"}));

    let (status, body) = app.post("/users/batch/status", json!({"usernames": ["alice", "bob", "ghost"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["action"], "get batch user status");
    assert_eq!(body["data"], json!([{"alice": "online"}, {"bob": "offline"}, {"ghost": "offline"}]));

    let many: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    let (status, body) = app.post("/users/batch/status", json!({"usernames": many})).await;
    assert_error(status, &body, 400, "illegal_argument");

    drop(alice);
    eventually(|| async { app.get("/users/alice/status").await.1["data"]["alice"] == "offline" }).await;
    let (status, body) = app.get("/users/ghost/status").await;
    assert_error(status, &body, 404, "service_resource_not_found");
}

#[tokio::test]
async fn deactivation_kicks_and_refuses_login_until_activated() {
    let app = spawn_app().await;
    app.register(&["alice"]).await;
    let token = app.user_token("alice").await;
    let mut alice = app.connect("alice").await;
    backlog(&mut alice).await;

    let (status, body) = app.post("/users/alice/deactivate", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["action"], "Deactivate user");
    assert_eq!(body["entities"][0]["activated"], false);
    assert_eq!(next(&mut alice).await, Event::Kicked { reason: "deactivated".into() });
    assert_eq!(next(&mut alice).await, Event::Closed);

    // Neither a new token nor the old one gets in.
    let body = json!({"grant_type": "password", "username": "alice", "password": PASSWORD});
    let (status, reply) = app.call(Method::POST, "/token", None, Some(body)).await;
    assert_error(status, &reply, 400, "invalid_grant");
    assert_eq!(reply["error_description"], "user not activated");
    let refused = Connection::connect(&app.endpoint().ws_url(), &token, ConnectOptions::default()).await;
    assert!(refused.unwrap_err().to_string().contains("user_deactivated"));

    let (status, body) = app.post("/users/alice/activate", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["action"], "activate user");
    let mut alice = app.connect("alice").await;
    backlog(&mut alice).await;

    let (status, body) = app.post("/users/ghost/deactivate", json!({})).await;
    assert_error(status, &body, 404, "service_resource_not_found");
}

#[tokio::test]
async fn disconnect_forces_every_device_offline() {
    let app = spawn_app().await;
    app.register(&["alice"]).await;
    let mut phone =
        app.connect_with("alice", ConnectOptions { device: Some("phone".into()), ..Default::default() }).await;
    let mut laptop =
        app.connect_with("alice", ConnectOptions { device: Some("laptop".into()), ..Default::default() }).await;
    backlog(&mut phone).await;
    backlog(&mut laptop).await;

    let (status, body) = app.get("/users/alice/disconnect").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"result": true}));
    for device in [&mut phone, &mut laptop] {
        assert_eq!(next(device).await, Event::Kicked { reason: "disconnected".into() });
    }
    eventually(|| async { app.get("/users/alice/status").await.1["data"]["alice"] == "offline" }).await;
    // Unlike deactivation, the user may log straight back in.
    let mut again = app.connect("alice").await;
    backlog(&mut again).await;
}

#[tokio::test]
async fn offline_count_and_delivery_state_follow_acknowledgements() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    let first = app.send_text("alice", "bob", "one").await;
    app.send_text("alice", "bob", "two").await;
    // A message bob sent himself is not waiting for him.
    app.send_text("bob", "alice", "from bob").await;

    let (status, body) = app.get("/users/bob/offline_msg_count").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"bob": 2}));
    let (status, body) = app.get(&format!("/users/bob/offline_msg_status/{first}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({ first.clone(): "undelivered" }));

    // A device that does not acknowledge leaves the count alone.
    let mut silent = app
        .connect_with("bob", ConnectOptions { auto_ack: false, device: Some("a".into()), ..Default::default() })
        .await;
    assert_eq!(backlog(&mut silent).await.len(), 2);
    let (_, body) = app.get("/users/bob/offline_msg_count").await;
    assert_eq!(body["data"]["bob"], 2);

    let mut bob = app.connect_with("bob", ConnectOptions { device: Some("b".into()), ..Default::default() }).await;
    assert_eq!(backlog(&mut bob).await.len(), 2);
    eventually(|| async { app.get("/users/bob/offline_msg_count").await.1["data"]["bob"] == 0 }).await;
    let (_, body) = app.get(&format!("/users/bob/offline_msg_status/{first}")).await;
    assert_eq!(body["data"][&first], "delivered");

    let (status, body) = app.get("/users/bob/offline_msg_status/12345").await;
    assert_error(status, &body, 404, "service_resource_not_found");
    let (status, body) = app.get("/users/ghost/offline_msg_count").await;
    assert_error(status, &body, 404, "service_resource_not_found");
}
