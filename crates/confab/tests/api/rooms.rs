//! Chat rooms (E-room-*) and room messages (E-msg-3).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use confab_client::{Connection, Event};
use confab_core::ids::MessageId;
use confab_core::model::ChatType;

use crate::helpers::{assert_error, assert_quiet, backlog, next, next_message, spawn_app, TestApp};

/// Creates a room owned by `owner` with `members`; returns its ID.
async fn create_room(app: &TestApp, owner: &str, members: &[&str], extra: Value) -> String {
    let mut body = json!({"name": "lobby", "description": "d", "owner": owner, "members": members});
    if let (Some(fields), Value::Object(more)) = (body.as_object_mut(), extra) {
        fields.extend(more);
    }
    let (status, body) = app.post("/chatrooms", body).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["data"]["id"].as_str().expect("room id").to_owned();
    assert_eq!(body["data"], json!({"id": id}));
    id
}

/// Sends a text to rooms over REST; returns status and body.
async fn send_to_rooms(app: &TestApp, from: &str, to: &[&str], text: &str) -> (StatusCode, Value) {
    app.post("/messages/chatrooms", json!({"from": from, "to": to, "type": "txt", "body": {"msg": text}})).await
}

async fn connected(app: &TestApp, name: &str) -> Connection {
    let mut connection = app.connect(name).await;
    assert!(backlog(&mut connection).await.is_empty(), "{name} had a backlog");
    connection
}

/// The room's attributes, all of them (no body) or the named `keys`.
async fn attributes(app: &TestApp, id: &str, keys: Option<&[&str]>) -> Value {
    let path = format!("/metadata/chatroom/{id}");
    let body = keys.map(|k| json!({"keys": k}));
    let (status, body) = app.call(Method::POST, &path, Some(&app.app_token), body).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["action"], "post", "{body}");
    body["data"].clone()
}

async fn set_attributes(app: &TestApp, id: &str, user: &str, forced: bool, body: Value) -> (StatusCode, Value) {
    let suffix = if forced { "/forced" } else { "" };
    app.put(&format!("/metadata/chatroom/{id}/user/{user}{suffix}"), body).await
}

async fn remove_attributes(app: &TestApp, id: &str, user: &str, forced: bool, keys: &[&str]) -> (StatusCode, Value) {
    let suffix = if forced { "/forced" } else { "" };
    let path = format!("/metadata/chatroom/{id}/user/{user}{suffix}");
    app.call(Method::DELETE, &path, Some(&app.app_token), Some(json!({"keys": keys}))).await
}

/// `successKeys` sorted, and `errorKeys`' keys sorted.
fn outcome(data: &Value) -> (Vec<String>, Vec<String>) {
    let mut success: Vec<String> =
        data["successKeys"].as_array().expect("successKeys").iter().map(|k| k.as_str().unwrap().to_owned()).collect();
    success.sort();
    let mut errors: Vec<String> = data["errorKeys"].as_object().expect("errorKeys").keys().cloned().collect();
    errors.sort();
    (success, errors)
}

fn room_event(event: Event) -> (String, String, String, Vec<String>) {
    match event {
        Event::Group { chat_type, group, event, users, .. } => (chat_type, group, event, users),
        other => panic!("expected a room event, got {other:?}"),
    }
}

#[tokio::test]
async fn a_room_is_created_shown_changed_transferred_listed_and_deleted() {
    let app = spawn_app().await;
    app.register(&["owner", "m1", "m2"]).await;

    // E-room-4: maxusers defaults to 1000 and may not pass 10000.
    let (status, body) =
        app.post("/chatrooms", json!({"name": "r", "description": "d", "owner": "owner", "maxusers": 10_001})).await;
    assert_error(status, &body, 400, "illegal_argument");
    let (status, body) = app.post("/chatrooms", json!({"name": "r", "description": "d", "owner": "ghost"})).await;
    assert_error(status, &body, 404, "resource_not_found");
    assert_eq!(body["error_description"], "username ghost doesn't exist!");
    let id = create_room(&app, "owner", &["m1"], json!({})).await;
    let big = create_room(&app, "m1", &[], json!({"maxusers": 10_000})).await;

    // E-room-3: details, an array of rooms.
    let (status, body) = app.get(&format!("/chatrooms/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["count"], 1);
    let room = &body["data"][0];
    assert_eq!(room["id"], id.as_str());
    assert_eq!(room["name"], "lobby");
    assert_eq!(room["description"], "d");
    assert_eq!(room["maxusers"], 1000);
    assert_eq!(room["owner"], "owner");
    assert_eq!(room["mute"], false);
    assert_eq!(room["affiliations_count"], 2);
    assert_eq!(room["affiliations"], json!([{"owner": "owner"}, {"member": "m1"}]));
    let (_, body) = app.get(&format!("/chatrooms/{big}")).await;
    assert_eq!(body["data"][0]["maxusers"], 10_000);
    assert_eq!(body["data"][0]["affiliations"], json!([{"owner": "m1"}]));
    let (status, body) = app.get("/chatrooms/12345").await;
    assert_error(status, &body, 404, "resource_not_found");
    assert_eq!(body["error_description"], "grpID 12345 does not exist!");

    // E-room-5: only name, description and maxusers; the name is answered as `groupname`.
    let (status, body) =
        app.put(&format!("/chatrooms/{id}"), json!({"name": "hall", "description": "new", "maxusers": 50})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"groupname": true, "description": true, "maxusers": true}));
    for field in [json!({"custom": "c"}), json!({"groupname": "g"}), json!({"membersonly": true})] {
        let (status, body) = app.put(&format!("/chatrooms/{id}"), field.clone()).await;
        assert_error(status, &body, 400, "invalid_parameter");
    }
    let (status, body) = app.put(&format!("/chatrooms/{id}"), json!({"maxusers": 10_001})).await;
    assert!(status.is_client_error(), "{body}");
    let (_, body) = app.get(&format!("/chatrooms/{id}")).await;
    let room = &body["data"][0];
    assert_eq!((&room["name"], &room["description"], &room["maxusers"]), (&json!("hall"), &json!("new"), &json!(50)));

    // Transfer: to a member, never to the owner themself.
    let (status, body) = app.put(&format!("/chatrooms/{id}"), json!({"newowner": "owner"})).await;
    assert_error(status, &body, 403, "forbidden_op");
    assert_eq!(body["error_description"], "new owner and old owner are the same");
    let (status, body) = app.put(&format!("/chatrooms/{id}"), json!({"newowner": "m2"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "m2 is not in the room: {body}");
    let (status, body) = app.put(&format!("/chatrooms/{id}"), json!({"newowner": "m1"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"newowner": true}));
    let (_, body) = app.get(&format!("/chatrooms/{id}")).await;
    assert_eq!(body["data"][0]["owner"], "m1");
    assert_eq!(body["data"][0]["affiliations"], json!([{"owner": "m1"}, {"member": "owner"}]));

    // E-room-1: every room, newest first, a page at a time.
    let third = create_room(&app, "m2", &[], json!({"name": "third"})).await;
    let (status, body) = app.get("/chatrooms?limit=2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!([
            {"id": third, "name": "third", "owner": "m2", "affiliations_count": 1},
            {"id": big, "name": "lobby", "owner": "m1", "affiliations_count": 1},
        ])
    );
    let cursor = body["cursor"].as_str().expect("cursor").to_owned();
    let (_, body) = app.get(&format!("/chatrooms?limit=2&cursor={cursor}")).await;
    assert_eq!(body["data"], json!([{"id": id, "name": "hall", "owner": "m1", "affiliations_count": 2}]));
    assert!(body.get("cursor").is_none(), "{body}");

    // E-room-2: the rooms a user is in, newest first; `disabled` is a string.
    let (status, body) = app.get("/users/m1/joined_chatrooms").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!([
            {"id": big, "name": "lobby", "disabled": "false"},
            {"id": id, "name": "hall", "disabled": "false"},
        ])
    );
    assert_eq!(body["count"], 2);
    let (_, body) = app.get("/users/m1/joined_chatrooms?pagesize=1&pagenum=2").await;
    assert_eq!(body["data"], json!([{"id": id, "name": "hall", "disabled": "false"}]));

    // E-room-6: delete; the room is gone everywhere.
    let (status, body) = app.delete(&format!("/chatrooms/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"success": true, "id": id}));
    let (status, body) = app.get(&format!("/chatrooms/{id}")).await;
    assert_error(status, &body, 404, "resource_not_found");
    let (status, body) = app.delete(&format!("/chatrooms/{id}")).await;
    assert_error(status, &body, 404, "resource_not_found");
    assert_eq!(body["error_description"], format!("grpID {id} does not exist!"));
    let (status, body) = send_to_rooms(&app, "m1", &[&id], "anyone?").await;
    assert_error(status, &body, 404, "resource_not_found");
    let (_, body) = app.get("/users/m1/joined_chatrooms").await;
    assert_eq!(body["data"], json!([{"id": big, "name": "lobby", "disabled": "false"}]));
    let (_, body) = app.get("/chatrooms").await;
    assert_eq!(body["count"], 2);
}

#[tokio::test]
async fn room_changes_past_the_limits_and_transfers_to_missing_users_get_the_vendor_errors() {
    let app = spawn_app().await;
    app.register(&["o"]).await;
    let id = create_room(&app, "o", &[], json!({})).await;

    // E-room-5: the documented refusals are 403 exceed_limit…
    for field in
        [json!({"name": "n".repeat(129)}), json!({"description": "d".repeat(513)}), json!({"maxusers": 10_001})]
    {
        let (status, body) = app.put(&format!("/chatrooms/{id}"), field.clone()).await;
        assert_error(status, &body, 403, "exceed_limit");
    }
    let (_, body) = app.get(&format!("/chatrooms/{id}")).await;
    assert_eq!((&body["data"][0]["name"], &body["data"][0]["maxusers"]), (&json!("lobby"), &json!(1000)));
    // …and a transfer to a user who does not exist is 404.
    let (status, body) = app.put(&format!("/chatrooms/{id}"), json!({"newowner": "ghost"})).await;
    assert_error(status, &body, 404, "resource_not_found");
    assert_eq!(body["error_description"], "username ghost doesn't exist!");
}

#[tokio::test]
async fn the_announcement_is_read_and_replaced_up_to_512_characters() {
    let app = spawn_app().await;
    app.register(&["o"]).await;
    let id = create_room(&app, "o", &[], json!({})).await;
    let path = format!("/chatrooms/{id}/announcement");

    let (status, body) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"announcement": ""}));

    // The docs' POST and the seed's PUT both replace it.
    let (status, body) = app.post(&path, json!({"announcement": "welcome"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"id": id, "result": true}));
    let (_, body) = app.get(&path).await;
    assert_eq!(body["data"], json!({"announcement": "welcome"}));
    let longest = "é".repeat(512);
    let (status, body) = app.put(&path, json!({"announcement": longest})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = app.get(&path).await;
    assert_eq!(body["data"]["announcement"], longest.as_str());

    // One character more is refused and changes nothing.
    let (status, body) = app.post(&path, json!({"announcement": "x".repeat(513)})).await;
    assert_error(status, &body, 403, "forbidden_op");
    assert_eq!(body["error_description"], "announce info length exceeds limit!");
    let (_, body) = app.get(&path).await;
    assert_eq!(body["data"]["announcement"], longest.as_str());

    let (status, body) = app.get("/chatrooms/999/announcement").await;
    assert_error(status, &body, 404, "resource_not_found");
    let (status, body) = app.post("/chatrooms/999/announcement", json!({"announcement": "x"})).await;
    assert_error(status, &body, 404, "resource_not_found");
}

#[tokio::test]
async fn custom_attributes_belong_to_whoever_set_them_unless_forced() {
    let app = spawn_app().await;
    app.register(&["o", "a", "b", "x"]).await;
    let id = create_room(&app, "o", &["a", "b"], json!({})).await;

    // E-room-8: set as a member; the answer lists what was set.
    let (status, body) =
        set_attributes(&app, &id, "a", false, json!({"metaData": {"k1": "v1", "k2": "v2"}, "autoDelete": "DELETE"}))
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["action"], "put");
    assert_eq!(body["data"]["errorKeys"], json!({}));
    assert_eq!(outcome(&body["data"]), (vec!["k1".to_owned(), "k2".to_owned()], vec![]));
    let (status, body) =
        set_attributes(&app, &id, "b", false, json!({"metaData": {"k3": "v3"}, "autoDelete": "NO_DELETE"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"successKeys": ["k3"], "errorKeys": {}}));

    // Read: no body gives every attribute, `keys` the named ones.
    assert_eq!(attributes(&app, &id, None).await, json!({"k1": "v1", "k2": "v2", "k3": "v3"}));
    assert_eq!(attributes(&app, &id, Some(&["k1", "k3", "nope"])).await, json!({"k1": "v1", "k3": "v3"}));
    assert_eq!(attributes(&app, &id, Some(&[])).await, json!({"k1": "v1", "k2": "v2", "k3": "v3"}));

    // Another member's key is refused (HTTP 200, in errorKeys); the rest is set.
    let (status, body) = set_attributes(&app, &id, "b", false, json!({"metaData": {"k1": "b1", "k4": "v4"}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(outcome(&body["data"]), (vec!["k4".to_owned()], vec!["k1".to_owned()]));
    assert!(body["data"]["errorKeys"]["k1"].is_string(), "{body}");
    assert_eq!(attributes(&app, &id, Some(&["k1", "k4"])).await, json!({"k1": "v1", "k4": "v4"}));
    // Forced, it is overwritten.
    let (status, body) = set_attributes(&app, &id, "b", true, json!({"metaData": {"k1": "b1"}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"successKeys": ["k1"], "errorKeys": {}}));
    assert_eq!(attributes(&app, &id, Some(&["k1"])).await, json!({"k1": "b1"}));

    // Non-members are refused with 401; more than 10 keys a call with 400.
    let (status, body) = set_attributes(&app, &id, "x", false, json!({"metaData": {"kx": "v"}})).await;
    assert_error(status, &body, 401, "metadata_error");
    assert_eq!(body["error_description"], "user is not in chatroom");
    let eleven: serde_json::Map<String, Value> = (0..11).map(|i| (format!("n{i}"), json!("v"))).collect();
    let (status, body) = set_attributes(&app, &id, "a", false, json!({"metaData": eleven})).await;
    assert_error(status, &body, 400, "metadata_error");
    assert_eq!(body["error_description"], "exceed allowed batch size 10");
    let (status, body) =
        set_attributes(&app, &id, "a", false, json!({"metaData": {"k9": "v"}, "autoDelete": "SOMETIMES"})).await;
    assert_error(status, &body, 400, "invalid_parameter");

    // Removing: only one's own keys, unless forced.
    let (status, body) = remove_attributes(&app, &id, "b", false, &["k2", "k4"]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["action"], "delete");
    assert_eq!(outcome(&body["data"]), (vec!["k4".to_owned()], vec!["k2".to_owned()]));
    let (status, body) = remove_attributes(&app, &id, "b", true, &["k2"]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"successKeys": ["k2"], "errorKeys": {}}));
    assert_eq!(attributes(&app, &id, None).await, json!({"k1": "b1", "k3": "v3"}));
    let many: Vec<String> = (0..11).map(|i| format!("n{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let (status, body) = remove_attributes(&app, &id, "b", false, &many).await;
    assert_error(status, &body, 400, "metadata_error");

    let (status, body) = app.post("/metadata/chatroom/999", json!({})).await;
    assert_error(status, &body, 404, "resource_not_found");
}

#[tokio::test]
async fn a_non_member_can_neither_set_nor_remove_room_attributes() {
    let app = spawn_app().await;
    app.register(&["o", "a", "x"]).await;
    let id = create_room(&app, "o", &["a"], json!({})).await;
    let (status, _) = set_attributes(&app, &id, "a", false, json!({"metaData": {"k1": "v1"}})).await;
    assert_eq!(status, StatusCode::OK);

    // E-room-8: setting and removing, forced or not, answer a non-member
    // with 401 "user is not in chatroom", and change nothing.
    for forced in [false, true] {
        let (status, body) = set_attributes(&app, &id, "x", forced, json!({"metaData": {"k1": "x"}})).await;
        assert_error(status, &body, 401, "metadata_error");
        assert_eq!(body["error_description"], "user is not in chatroom");
        let (status, body) = remove_attributes(&app, &id, "x", forced, &["k1"]).await;
        assert_error(status, &body, 401, "metadata_error");
        assert_eq!(body["error_description"], "user is not in chatroom");
    }
    assert_eq!(attributes(&app, &id, None).await, json!({"k1": "v1"}));
}

#[tokio::test]
async fn attribute_answers_have_the_vendor_envelope() {
    let app = spawn_app().await;
    app.register(&["o"]).await;
    let id = create_room(&app, "o", &[], json!({})).await;

    // E-room-8: every metadata answer names its `uri`; removal also says `status: ok`.
    let (status, body) = app.post(&format!("/metadata/chatroom/{id}"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["uri"].as_str().is_some_and(|u| u.contains("/metadata/chatroom")), "{body}");
    let (status, body) = set_attributes(&app, &id, "o", false, json!({"metaData": {"k": "v"}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["action"], "put");
    assert!(body["uri"].as_str().is_some_and(|u| u.contains("/metadata/chatroom")), "{body}");
    let (status, body) = remove_attributes(&app, &id, "o", false, &["k"]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["action"], "delete");
    assert_eq!(body["status"], "ok", "{body}");
    assert!(body["uri"].as_str().is_some_and(|u| u.contains("/metadata/chatroom")), "{body}");
}

#[tokio::test]
async fn a_room_holds_100_attributes_and_auto_delete_keys_leave_with_their_owner() {
    let app = spawn_app().await;
    app.register(&["o", "a", "b"]).await;
    let id = create_room(&app, "o", &["a", "b"], json!({})).await;

    // a's keys: some to go when a leaves (DELETE, the default), some to stay.
    let (status, _) = set_attributes(&app, &id, "a", false, json!({"metaData": {"gone1": "v", "gone2": "v"}})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) =
        set_attributes(&app, &id, "a", false, json!({"metaData": {"stay": "v"}, "autoDelete": "NO_DELETE"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = set_attributes(&app, &id, "b", false, json!({"metaData": {"b1": "v"}})).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = app.delete(&format!("/chatrooms/{id}/users/a")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(attributes(&app, &id, None).await, json!({"stay": "v", "b1": "v"}));
    // Out of the room, a may set nothing more.
    let (status, body) = set_attributes(&app, &id, "a", false, json!({"metaData": {"again": "v"}})).await;
    assert_error(status, &body, 401, "metadata_error");

    // The cap: 100 keys a room. 98 more fill it; the 101st is refused per key.
    for call in 0..10 {
        let batch: serde_json::Map<String, Value> =
            (0..10).filter(|i| call * 10 + i < 98).map(|i| (format!("key{:03}", call * 10 + i), json!("v"))).collect();
        if batch.is_empty() {
            continue;
        }
        let (status, body) = set_attributes(&app, &id, "b", false, json!({"metaData": batch})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["errorKeys"], json!({}), "{body}");
    }
    assert_eq!(attributes(&app, &id, None).await.as_object().unwrap().len(), 100);
    let (status, body) = set_attributes(&app, &id, "b", false, json!({"metaData": {"key101": "v", "b1": "w"}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Changing a key that exists still works at the cap.
    assert_eq!(outcome(&body["data"]), (vec!["b1".to_owned()], vec!["key101".to_owned()]));
    let all = attributes(&app, &id, None).await;
    assert_eq!(all.as_object().unwrap().len(), 100);
    assert_eq!(all["b1"], "w");
    assert!(all.get("key101").is_none());
}

#[tokio::test]
async fn room_members_admins_blocks_and_allow_list_use_room_shapes() {
    let app = spawn_app().await;
    let names: Vec<String> = (0..6).map(|i| format!("u{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    app.register(&refs).await;
    app.register(&["outsider"]).await;
    let id = create_room(&app, "u0", &[], json!({})).await;

    // E-room-9: one member, a batch, the member list.
    let (status, body) = app.post(&format!("/chatrooms/{id}/users/u1"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"result": true, "action": "add_member", "id": id, "user": "u1"}));
    let (status, body) = app.post(&format!("/chatrooms/{id}/users/u1"), json!({})).await;
    assert!(status.is_client_error(), "{body}");
    assert_eq!(body["error"], "forbidden_op", "{body}");
    let (status, body) = app.post(&format!("/chatrooms/{id}/users/nobody"), json!({})).await;
    assert_error(status, &body, 404, "resource_not_found");
    let (status, body) =
        app.post(&format!("/chatrooms/{id}/users"), json!({"usernames": ["u1", "u2", "u3", "u4"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"newmembers": ["u2", "u3", "u4"], "action": "add_member", "id": id}));
    let many: Vec<String> = (0..61).map(|i| format!("x{i}")).collect();
    let (status, body) = app.post(&format!("/chatrooms/{id}/users"), json!({"usernames": many})).await;
    assert_error(status, &body, 400, "invalid_parameter");
    assert_eq!(body["error_description"], "addMembers: addMembers number more than maxSize : 60");
    let (status, body) = app.get(&format!("/chatrooms/{id}/users?pagenum=1&pagesize=3")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!([{"owner": "u0"}, {"member": "u1"}, {"member": "u2"}]));
    assert_eq!(body["count"], 3);
    let (_, body) = app.get(&format!("/chatrooms/{id}/users?pagenum=2&pagesize=3")).await;
    assert_eq!(body["data"], json!([{"member": "u3"}, {"member": "u4"}]));
    let (status, body) = app.get("/chatrooms/999/users").await;
    assert_error(status, &body, 404, "service_resource_not_found");
    assert_eq!(body["error_description"], "do not find this group:999");

    // Removing: one, then a non-member (400 for rooms), the owner, a batch.
    let (status, body) = app.delete(&format!("/chatrooms/{id}/users/u1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"result": true, "action": "remove_member", "user": "u1", "id": id}));
    let (status, body) = app.delete(&format!("/chatrooms/{id}/users/u1")).await;
    assert_error(status, &body, 400, "forbidden_op");
    assert_eq!(body["error_description"], "users [u1] are not members of this group!");
    let (status, body) = app.delete(&format!("/chatrooms/{id}/users/u0")).await;
    assert_error(status, &body, 403, "forbidden_op");
    assert_eq!(body["error_description"], "forbidden operation on group owner!");
    let (status, body) = app.delete(&format!("/chatrooms/{id}/users/u2,outsider")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["data"].as_array().expect("per-user results");
    assert_eq!(results.len(), 2);
    assert!(results.contains(&json!({"result": true, "action": "remove_member", "user": "u2", "id": id})));
    assert!(results.iter().any(|r| r["user"] == "outsider" && r["result"] == false && r["id"] == id.as_str()));

    // E-room-10: admins.
    let (status, body) = app.post(&format!("/chatrooms/{id}/admin"), json!({"newadmin": "u3"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"result": "success", "newadmin": "u3"}));
    let (_, body) = app.get(&format!("/chatrooms/{id}/admin")).await;
    assert_eq!(body["data"], json!(["u3"]));
    assert_eq!(body["count"], 1);
    let (status, body) = app.post(&format!("/chatrooms/{id}/admin"), json!({"newadmin": "outsider"})).await;
    assert_error(status, &body, 404, "resource_not_found");
    assert_eq!(body["error_description"], format!("user: outsider doesn't exist in group: {id}"));
    let (status, body) = app.delete(&format!("/chatrooms/{id}/admin/u3")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"result": "success", "oldadmin": "u3"}));
    let (_, body) = app.get(&format!("/chatrooms/{id}/admin")).await;
    assert_eq!(body["data"], json!([]));

    // E-room-11: the block list; entries name the room as `chatroomid`.
    let (status, body) = app.post(&format!("/chatrooms/{id}/blocks/users/u3"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"result": true, "action": "add_blocks", "user": "u3", "chatroomid": id}));
    let (_, body) = app.get(&format!("/chatrooms/{id}/blocks/users")).await;
    assert_eq!(body["data"], json!(["u3"]));
    let (_, body) = app.get(&format!("/chatrooms/{id}")).await;
    assert_eq!(body["data"][0]["affiliations"], json!([{"owner": "u0"}, {"member": "u4"}]));
    let (status, body) = app.post(&format!("/chatrooms/{id}/users/u3"), json!({})).await;
    assert_error(status, &body, 403, "forbidden_op");
    let (status, body) = app.post(&format!("/chatrooms/{id}/blocks/users/outsider"), json!({})).await;
    assert_error(status, &body, 400, "forbidden_op");
    assert_eq!(body["error_description"], "users [outsider] are not members of this group!");
    let (status, body) = app.post(&format!("/chatrooms/{id}/blocks/users"), json!({"usernames": ["u4", "u5"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["data"].as_array().expect("per-user results");
    assert!(results.contains(&json!({"result": true, "action": "add_blocks", "user": "u4", "chatroomid": id})));
    assert!(results.iter().any(|r| r["user"] == "u5" && r["result"] == false && r["chatroomid"] == id.as_str()));
    let (status, body) = app.delete(&format!("/chatrooms/{id}/blocks/users/u3")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"result": true, "action": "remove_blocks", "user": "u3", "chatroomid": id}));
    let (_, body) = app.get(&format!("/chatrooms/{id}/blocks/users")).await;
    assert_eq!(body["data"], json!(["u4"]));
    let (status, _) = app.post(&format!("/chatrooms/{id}/users/u3"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "unblocked, u3 may join again");

    // E-room-12: the allow list.
    let (status, body) = app.post(&format!("/chatrooms/{id}/white/users/u3"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"result": true, "action": "add_user_whitelist", "user": "u3", "chatroomid": id}));
    let (_, body) = app.get(&format!("/chatrooms/{id}/white/users")).await;
    assert_eq!(body["data"], json!(["u3"]));
    let (status, body) = app.post(&format!("/chatrooms/{id}/white/users/outsider"), json!({})).await;
    assert_error(status, &body, 400, "forbidden_op");
    let (status, body) = app.delete(&format!("/chatrooms/{id}/white/users/u3")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!([{"result": true, "action": "remove_user_whitelist", "user": "u3", "chatroomid": id}])
    );
    let (_, body) = app.get(&format!("/chatrooms/{id}/white/users")).await;
    assert_eq!(body["data"], json!([]));
}

#[tokio::test]
async fn room_mutes_and_mute_all_with_its_allow_list_hold_for_room_messages() {
    let app = spawn_app().await;
    app.register(&["o", "admin1", "m", "w", "outsider"]).await;
    let id = create_room(&app, "o", &["admin1", "m", "w"], json!({})).await;
    app.post(&format!("/chatrooms/{id}/admin"), json!({"newadmin": "admin1"})).await;

    // E-room-13: a one-minute mute, refused over REST (403) and the gateway.
    let (status, body) =
        app.post(&format!("/chatrooms/{id}/mute"), json!({"usernames": ["m"], "mute_duration": 60_000})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expire = body["data"][0]["expire"].as_i64().expect("expire");
    assert_eq!(body["data"], json!([{"result": true, "expire": expire, "user": "m"}]));
    let (_, body) = app.get(&format!("/chatrooms/{id}/mute")).await;
    assert_eq!(body["data"], json!([{"user": "m", "expire": expire}]));
    let (status, body) = send_to_rooms(&app, "m", &[&id], "muted?").await;
    assert_error(status, &body, 403, "forbidden_op");
    let muted = connected(&app, "m").await;
    let refused = muted.send_to("chatroom", &id, json!({"type": "txt", "msg": "hi"}), None).await;
    assert!(refused.unwrap_err().to_string().contains("forbidden"));
    let (status, body) =
        app.post(&format!("/chatrooms/{id}/mute"), json!({"usernames": ["outsider"], "mute_duration": 1000})).await;
    assert_error(status, &body, 400, "forbidden_op");

    // The mute lapses after its minute; a permanent one is lifted by name.
    app.clock.advance_ms(61_000);
    let (status, body) = send_to_rooms(&app, "m", &[&id], "free again").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = app.get(&format!("/chatrooms/{id}/mute")).await;
    assert_eq!(body["data"], json!([]));
    let (_, body) = app.post(&format!("/chatrooms/{id}/mute"), json!({"usernames": ["m"], "mute_duration": -1})).await;
    assert_eq!(body["data"], json!([{"result": true, "expire": -1, "user": "m"}]));
    let (status, _) = send_to_rooms(&app, "m", &[&id], "muted for good").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app.delete(&format!("/chatrooms/{id}/mute/m")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!([{"result": true, "user": "m"}]));
    let (status, _) = send_to_rooms(&app, "m", &[&id], "unmuted").await;
    assert_eq!(status, StatusCode::OK);

    // Mute-all spares the owner, admins and the allow list, and the app itself.
    app.post(&format!("/chatrooms/{id}/white/users/w"), json!({})).await;
    let (status, body) = app.post(&format!("/chatrooms/{id}/ban"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"mute": true}));
    let (_, body) = app.get(&format!("/chatrooms/{id}")).await;
    assert_eq!(body["data"][0]["mute"], true);
    let (_, body) = app.get(&format!("/chatrooms/{id}/mute")).await;
    assert_eq!(body["data"], json!([]), "mute-all does not fill the mute list");
    for (from, allowed) in [("m", false), ("w", true), ("admin1", true), ("o", true)] {
        let (status, body) = send_to_rooms(&app, from, &[&id], "during mute-all").await;
        assert_eq!(status == StatusCode::OK, allowed, "{from}: {body}");
        if !allowed {
            assert_error(status, &body, 403, "forbidden_op");
        }
    }
    let refused = muted.send_to("chatroom", &id, json!({"type": "txt", "msg": "hi"}), None).await;
    assert!(refused.unwrap_err().to_string().contains("forbidden"));
    let (status, _) =
        app.post("/messages/chatrooms", json!({"to": [id], "type": "txt", "body": {"msg": "from the app"}})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.delete(&format!("/chatrooms/{id}/ban")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"mute": false}));
    let sent = muted.send_to("chatroom", &id, json!({"type": "txt", "msg": "everyone speaks"}), None).await;
    assert!(sent.is_ok(), "{sent:?}");
}

#[tokio::test]
async fn room_messages_reach_members_connected_now_and_stay_in_history() {
    let app = spawn_app().await;
    app.register(&["o", "a", "b", "late", "outsider"]).await;
    let id = create_room(&app, "o", &["a", "b", "late"], json!({})).await;
    let mut rooms = vec![id.clone()];
    for _ in 0..9 {
        rooms.push(create_room(&app, "o", &["b"], json!({})).await);
    }
    let mut a = connected(&app, "a").await;
    let mut b = connected(&app, "b").await;

    // E-msg-3: at most 10 rooms a call; the answer maps each room to its message.
    let targets: Vec<&str> = rooms.iter().map(String::as_str).collect();
    let mut eleven = targets.clone();
    eleven.push("1");
    let (status, body) = send_to_rooms(&app, "o", &eleven, "too many").await;
    assert_error(status, &body, 400, "message_send_error");
    assert_eq!(body["error_description"], "params to's size can't exceed limit 10");
    let (status, body) = send_to_rooms(&app, "outsider", &[&id], "not a member").await;
    assert_error(status, &body, 403, "forbidden_op");
    let (status, body) = send_to_rooms(&app, "o", &["999"], "nowhere").await;
    assert_error(status, &body, 404, "resource_not_found");

    let (status, body) = send_to_rooms(&app, "o", &targets, "to all ten").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = body["data"].as_object().expect("room → message");
    assert_eq!(data.len(), 10, "{body}");
    assert!(rooms.iter().all(|r| data[r].is_string()), "{body}");
    let first_id = data[&id].as_str().unwrap().to_owned();

    // Members connected now get it live, with the room's chat type.
    let got = next_message(&mut a).await;
    assert_eq!((got.chat_type.as_str(), got.from.as_str(), got.to.as_str()), ("chatroom", "o", id.as_str()));
    assert_eq!((got.msg_id.as_str(), &got.body["msg"]), (first_id.as_str(), &json!("to all ten")));
    let first_seq = got.seq;
    let mut b_rooms: Vec<String> = Vec::new();
    for _ in 0..10 {
        let m = next_message(&mut b).await;
        assert_eq!(m.chat_type, "chatroom");
        b_rooms.push(m.to);
    }
    b_rooms.sort();
    let mut expected = rooms.clone();
    expected.sort();
    assert_eq!(b_rooms, expected);
    assert_quiet(&mut a).await;

    // A member who connects afterwards gets nothing: rooms keep no offline queue…
    let mut late = app.connect("late").await;
    assert!(backlog(&mut late).await.is_empty(), "a room message reached a later login");
    let (_, body) = app.get("/users/late/offline_msg_count").await;
    assert_eq!(body["data"]["late"], 0, "{body}");

    // …but the message is kept: it is stored, and what follows continues its sequence.
    let message_id = MessageId::parse(&first_id).expect("a message ID");
    let demo = app.core.apps.by_name("demo", "chat").await.unwrap().unwrap();
    let stored = app.core.messages.get(demo.id, message_id).await.unwrap().expect("the room message is stored");
    assert_eq!(stored.chat_type, ChatType::ChatRoom);
    assert_eq!(stored.to, id);
    assert_eq!(stored.seq, first_seq);
    let sent = a.send_to("chatroom", &id, json!({"type": "txt", "msg": "over the gateway"}), None).await.unwrap();
    assert_eq!(sent.seq, first_seq + 1);
    for connection in [&mut b, &mut late] {
        let m = next_message(connection).await;
        assert_eq!((m.chat_type.as_str(), m.from.as_str(), m.to.as_str()), ("chatroom", "a", id.as_str()));
        assert_eq!((m.seq, &m.body["msg"]), (first_seq + 1, &json!("over the gateway")));
    }

    // Non-members cannot send over the gateway either.
    let outsider = connected(&app, "outsider").await;
    let refused = outsider.send_to("chatroom", &id, json!({"type": "txt", "msg": "let me in"}), None).await;
    assert!(refused.unwrap_err().to_string().contains("forbidden"));
    let refused = outsider.send_to("chatroom", "999", json!({"type": "txt", "msg": "hello?"}), None).await;
    assert!(refused.unwrap_err().to_string().contains("not_found"));
    // The sender's own device gets no echo; nothing more reached anyone.
    tokio::join!(assert_quiet(&mut a), assert_quiet(&mut b), assert_quiet(&mut late));
}

#[tokio::test]
async fn room_membership_changes_reach_connected_members_as_room_events() {
    let app = spawn_app().await;
    app.register(&["o", "m", "n"]).await;
    let id = create_room(&app, "o", &["m"], json!({})).await;
    let mut owner = connected(&app, "o").await;
    let mut member = connected(&app, "m").await;

    let room = |what: &str, users: &[&str]| {
        ("chatroom".to_owned(), id.clone(), what.to_owned(), users.iter().map(|u| u.to_string()).collect::<Vec<_>>())
    };
    app.post(&format!("/chatrooms/{id}/users/n"), json!({})).await;
    assert_eq!(room_event(next(&mut owner).await), room("members_added", &["n"]));
    assert_eq!(room_event(next(&mut member).await), room("members_added", &["n"]));
    app.post(&format!("/chatrooms/{id}/ban"), json!({})).await;
    assert_eq!(room_event(next(&mut owner).await), room("all_muted", &[]));
    assert_eq!(room_event(next(&mut member).await), room("all_muted", &[]));
    set_attributes(&app, &id, "n", false, json!({"metaData": {"k": "v"}})).await;
    assert_eq!(room_event(next(&mut owner).await), room("attributes_changed", &["n"]));
    assert_eq!(room_event(next(&mut member).await), room("attributes_changed", &["n"]));

    // The removed member hears of their removal, then nothing more.
    app.delete(&format!("/chatrooms/{id}/users/m")).await;
    assert_eq!(room_event(next(&mut owner).await), room("members_removed", &["m"]));
    assert_eq!(room_event(next(&mut member).await), room("members_removed", &["m"]));
    let (status, _) =
        app.post("/messages/chatrooms", json!({"to": [id], "type": "txt", "body": {"msg": "after m left"}})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(next_message(&mut owner).await.body["msg"], "after m left");
    assert_quiet(&mut member).await;

    app.delete(&format!("/chatrooms/{id}")).await;
    assert_eq!(room_event(next(&mut owner).await), room("destroyed", &[]));
    assert_quiet(&mut member).await;
}

#[tokio::test]
async fn a_device_joins_and_leaves_a_room_itself() {
    let app = spawn_app().await;
    app.register(&["owner", "visitor", "barred"]).await;
    let room = create_room(&app, "owner", &["barred"], json!({"maxusers": 3})).await;
    let mut owner = app.connect("owner").await;
    backlog(&mut owner).await;
    let mut visitor = app.connect("visitor").await;
    backlog(&mut visitor).await;

    // Joining over the gateway makes the user a member, who hears the room from now on.
    let conv = visitor.join_room(&room).await.expect("joins");
    match next(&mut owner).await {
        Event::Group { event, users, .. } => {
            assert_eq!((event.as_str(), users), ("members_added", vec!["visitor".to_owned()]))
        }
        other => panic!("expected the join, got {other:?}"),
    }
    let (_, body) = app.get(&format!("/chatrooms/{room}")).await;
    assert_eq!(body["data"][0]["affiliations_count"], 3);
    assert_eq!(visitor.join_room(&room).await.expect("joining twice is fine"), conv);
    owner.send_to("chatroom", &room, json!({"type": "txt", "msg": "welcome"}), None).await.unwrap();
    let got = loop {
        match next(&mut visitor).await {
            Event::Message(m) => break m,
            Event::Group { .. } => continue,
            other => panic!("expected the message, got {other:?}"),
        }
    };
    assert_eq!((got.conv.as_str(), got.body["msg"].as_str()), (conv.as_str(), Some("welcome")));

    // The room is full now (maxusers 3), and a blocked user may not come back.
    app.register(&["late"]).await;
    let late = app.connect("late").await;
    let full = late.join_room(&room).await.unwrap_err().to_string();
    assert!(full.contains("limit_exceeded"), "{full}");
    app.post(&format!("/chatrooms/{room}/blocks/users/barred"), json!({})).await;
    let barred = app.connect("barred").await;
    let refused = barred.join_room(&room).await.unwrap_err().to_string();
    assert!(refused.contains("forbidden"), "{refused}");
    let missing = late.join_room("12345").await.unwrap_err().to_string();
    assert!(missing.contains("not_found"), "{missing}");

    // Leaving: no more messages; the owner may not leave their own room.
    visitor.leave_room(&room).await.expect("leaves");
    owner.send_to("chatroom", &room, json!({"type": "txt", "msg": "gone?"}), None).await.unwrap();
    let mut seen = Vec::new();
    while let Ok(event) = tokio::time::timeout(std::time::Duration::from_millis(300), visitor.next_event()).await {
        seen.push(event);
    }
    assert!(seen.iter().all(|e| !matches!(e, Event::Message(_))), "{seen:?}");
    let refused = owner.leave_room(&room).await.unwrap_err().to_string();
    assert!(refused.contains("forbidden"), "{refused}");
    assert!(visitor.leave_room(&room).await.unwrap_err().to_string().contains("forbidden"), "not a member any more");
}
