//! Threads (E-thr-*).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use confab_client::{Connection, Event, MessageFrame};

use crate::groups::create_group;
use crate::helpers::{assert_error, assert_quiet, backlog, next, next_message, spawn_app, TestApp};

/// Sends a text to a group over REST; returns the message ID.
async fn group_message(app: &TestApp, from: &str, group: &str, text: &str) -> String {
    let body = json!({"from": from, "to": [group], "type": "txt", "body": {"msg": text}});
    let (status, body) = app.post("/messages/chatgroups", body).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"][group].as_str().expect("message id").to_owned()
}

async fn try_create_thread(app: &TestApp, group: &str, name: &str, owner: &str, msg: &str) -> (StatusCode, Value) {
    app.post("/thread", json!({"group_id": group, "name": name, "owner": owner, "msg_id": msg})).await
}

/// Starts a thread from a fresh group message; returns its ID.
async fn create_thread(app: &TestApp, group: &str, name: &str, owner: &str) -> String {
    let msg = group_message(app, owner, group, &format!("root of {name}")).await;
    let (status, body) = try_create_thread(app, group, name, owner, &msg).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["data"]["thread_id"].as_str().expect("thread id").to_owned();
    assert_eq!(body["data"], json!({"thread_id": id}));
    id
}

async fn join(app: &TestApp, thread: &str, users: &[&str]) {
    let (status, body) = app.post(&format!("/thread/{thread}/users"), json!({"usernames": users})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"status": "ok"}));
}

async fn kick(app: &TestApp, path: &str, users: &[&str]) -> (StatusCode, Value) {
    app.call(Method::DELETE, path, Some(&app.app_token), Some(json!({"usernames": users}))).await
}

/// The IDs of a listing's `entities`, and its cursor.
async fn listed(app: &TestApp, path: &str) -> (Vec<String>, Option<String>) {
    let (status, body) = app.get(path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("data").is_none(), "listings have no data: {body}");
    let ids = body["entities"].as_array().expect("entities").iter().map(|t| t["id"].as_str().unwrap().into()).collect();
    (ids, body["properties"]["cursor"].as_str().map(str::to_owned))
}

/// A thread's members: the first page, up to 50.
async fn members(app: &TestApp, thread: &str) -> Vec<String> {
    let (status, body) = app.get(&format!("/thread/{thread}/users")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["affiliations"].as_array().expect("affiliations").iter().map(|u| u.as_str().unwrap().into()).collect()
}

fn names(users: &[&str]) -> Vec<String> {
    users.iter().map(|u| u.to_string()).collect()
}

async fn connected(app: &TestApp, name: &str) -> Connection {
    let mut connection = app.connect(name).await;
    backlog(&mut connection).await;
    connection
}

/// The next event, which must be about `group`: (chat type, event, users).
async fn group_event(connection: &mut Connection, group: &str) -> (String, String, Vec<String>) {
    match next(connection).await {
        Event::Group { chat_type, group: id, event, users, .. } => {
            assert_eq!(id, group, "{event}");
            (chat_type, event, users)
        }
        other => panic!("expected an event about {group}, got {other:?}"),
    }
}

fn assert_thread_message(message: &MessageFrame, thread: &str, from: &str, text: &str) {
    assert_eq!(message.chat_type, "thread");
    assert_eq!(message.to, thread);
    assert_eq!(message.from, from);
    assert_eq!(message.body["msg"], text);
}

#[tokio::test]
async fn a_thread_starts_from_a_group_message_and_is_renamed_and_deleted() {
    let app = spawn_app().await;
    app.register(&["o", "m", "outsider"]).await;
    let group = create_group(&app, "o", &["m"], json!({})).await;
    let other = create_group(&app, "o", &[], json!({})).await;
    let msg = group_message(&app, "o", &group, "let's discuss").await;
    let foreign = group_message(&app, "o", &other, "elsewhere").await;

    // E-thr-4: refusals first.
    let (status, body) = try_create_thread(&app, &group, &"n".repeat(65), "m", &msg).await;
    assert_error(status, &body, 400, "group_error");
    assert_eq!(body["error_description"], "thread name limit reached.");
    let (status, body) = try_create_thread(&app, &group, "t", "outsider", &msg).await;
    assert_error(status, &body, 404, "group_error");
    assert_eq!(body["error_description"], "user not in group.");
    let (status, body) = try_create_thread(&app, "999", "t", "m", &msg).await;
    assert_error(status, &body, 404, "group_error");
    assert_eq!(body["error_description"], "group not found.");
    let (status, body) = try_create_thread(&app, &group, "t", "m", &foreign).await;
    assert_error(status, &body, 400, "group_error");
    assert_eq!(body["error_description"], "msg not belong to group .");
    let (_, body) = app.get("/thread").await;
    assert_eq!(body["entities"], json!([]), "no refused call made a thread");

    // A member starts one; its name may be 64 characters; the owner is its first member.
    let long = "n".repeat(64);
    let (status, body) = try_create_thread(&app, &group, &long, "m", &msg).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["data"]["thread_id"].as_str().expect("thread id").to_owned();
    assert_eq!(body["data"], json!({"thread_id": id}));
    assert_eq!(members(&app, &id).await, ["m"]);
    let (_, body) = app.get("/thread").await;
    let thread = &body["entities"][0];
    assert_eq!(thread["id"], id.as_str());
    assert_eq!(thread["name"], long.as_str());
    assert_eq!(thread["owner"], "m");
    assert_eq!(thread["msgId"], msg.as_str());
    assert_eq!(thread["groupId"], group.as_str());
    assert!(thread["created"].is_i64(), "{body}");

    // E-thr-5: rename.
    let (status, body) = app.put(&format!("/thread/{id}"), json!({"name": "renamed"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"name": "renamed"}));
    let (status, body) = app.put(&format!("/thread/{id}"), json!({"name": "n".repeat(65)})).await;
    assert_error(status, &body, 400, "group_error");
    assert_eq!(body["error_description"], "thread name limit reached.");
    let (status, body) = app.put("/thread/999", json!({"name": "x"})).await;
    assert_error(status, &body, 404, "group_error");
    assert_eq!(body["error_description"], "thread not found.");
    let (_, body) = app.get("/thread").await;
    assert_eq!(body["entities"][0]["name"], "renamed");

    // E-thr-6: delete.
    let (status, body) = app.delete(&format!("/thread/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"status": "ok"}));
    let (status, body) = app.delete(&format!("/thread/{id}")).await;
    assert_error(status, &body, 404, "group_error");
    assert_eq!(body["error_description"], "thread not found.");
    let (status, body) = app.get(&format!("/thread/{id}/users")).await;
    assert_error(status, &body, 404, "group_error");
    assert_eq!(listed(&app, "/thread").await, (vec![], None));

    // Deleting the group deletes its threads, and only its threads.
    let first = create_thread(&app, &group, "first", "o").await;
    let second = create_thread(&app, &group, "second", "m").await;
    let kept = create_thread(&app, &other, "kept", "o").await;
    let (status, _) = app.delete(&format!("/chatgroups/{group}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed(&app, "/thread").await, (vec![kept.clone()], None));
    for gone in [&first, &second] {
        let (status, body) = app.get(&format!("/thread/{gone}/users")).await;
        assert_error(status, &body, 404, "group_error");
        let (status, body) = app.put(&format!("/thread/{gone}"), json!({"name": "x"})).await;
        assert_error(status, &body, 404, "group_error");
    }
    assert_eq!(listed(&app, "/threads/user/m").await, (vec![], None));
    assert_eq!(members(&app, &kept).await, ["o"]);
}

#[tokio::test]
async fn a_thread_cannot_start_from_a_message_that_does_not_exist() {
    let app = spawn_app().await;
    app.register(&["o"]).await;
    let group = create_group(&app, "o", &[], json!({})).await;
    let real = group_message(&app, "o", &group, "root").await;

    // E-thr-4: 404 group_error "msg not exist.", not "msg not belong to group .".
    let unknown = (real.parse::<u64>().unwrap() + 1).to_string();
    let (status, body) = try_create_thread(&app, &group, "t", "o", &unknown).await;
    assert_error(status, &body, 404, "group_error");
    assert_eq!(body["error_description"], "msg not exist.");
    assert_eq!(listed(&app, "/thread").await, (vec![], None));
}

#[tokio::test]
async fn a_message_starts_at_most_one_thread() {
    let app = spawn_app().await;
    app.register(&["o"]).await;
    let group = create_group(&app, "o", &[], json!({})).await;
    let msg = group_message(&app, "o", &group, "root").await;
    let (status, body) = try_create_thread(&app, &group, "first", "o", &msg).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first = body["data"]["thread_id"].as_str().expect("thread id").to_owned();

    // E-thr-4: 403 group_error "msg already create thread.not allow to create."
    let (status, body) = try_create_thread(&app, &group, "second", "o", &msg).await;
    assert_error(status, &body, 403, "group_error");
    assert_eq!(body["error_description"], "msg already create thread.not allow to create.");
    assert_eq!(listed(&app, "/thread").await, (vec![first], None));
}

#[tokio::test]
async fn threads_are_listed_for_the_app_a_user_and_a_group_in_pages() {
    let app = spawn_app().await;
    app.register(&["o", "m"]).await;
    let g1 = create_group(&app, "o", &["m"], json!({})).await;
    let g2 = create_group(&app, "o", &["m"], json!({})).await;
    let t1 = create_thread(&app, &g1, "t1", "o").await;
    let t2 = create_thread(&app, &g1, "t2", "m").await;
    let t3 = create_thread(&app, &g2, "t3", "o").await;

    // E-thr-1: newest first by default, `limit` at a time with a cursor.
    let (page, cursor) = listed(&app, "/thread?limit=2").await;
    assert_eq!(page, [t3.clone(), t2.clone()]);
    let cursor = cursor.expect("a cursor while more remain");
    let (page, cursor) = listed(&app, &format!("/thread?limit=2&cursor={cursor}")).await;
    assert_eq!((page, cursor), (vec![t1.clone()], None));
    assert_eq!(listed(&app, "/thread?sort=desc").await, (vec![t3.clone(), t2.clone(), t1.clone()], None));
    let (page, cursor) = listed(&app, "/thread?sort=asc&limit=2").await;
    assert_eq!(page, [t1.clone(), t2.clone()]);
    let (page, _) = listed(&app, &format!("/thread?sort=asc&limit=2&cursor={}", cursor.expect("cursor"))).await;
    assert_eq!(page, [t3.as_str()]);
    let (status, body) = app.get("/thread?limit=50").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.get("/thread?limit=51").await;
    assert_error(status, &body, 400, "group_error");
    assert_eq!(body["error_description"], "query param reaches limit.");

    // E-thr-2: the threads a user is in (owning one is being in it).
    assert_eq!(listed(&app, "/threads/user/m").await, (vec![t2.clone()], None));
    join(&app, &t3, &["m"]).await;
    assert_eq!(listed(&app, "/threads/user/m").await, (vec![t3.clone(), t2.clone()], None));
    assert_eq!(listed(&app, "/threads/user/m?sort=asc").await, (vec![t2.clone(), t3.clone()], None));
    let (page, cursor) = listed(&app, "/threads/user/o?limit=1").await;
    assert_eq!(page, [t3.as_str()]);
    let (page, _) = listed(&app, &format!("/threads/user/o?limit=1&cursor={}", cursor.expect("cursor"))).await;
    assert_eq!(page, [t1.as_str()]);
    let (status, body) = app.get("/threads/user/m").await;
    assert_eq!(status, StatusCode::OK);
    let entity = body["entities"].as_array().unwrap().iter().find(|t| t["id"] == t2.as_str()).expect("t2").clone();
    assert_eq!((&entity["name"], &entity["owner"], &entity["groupId"]), (&json!("t2"), &json!("m"), &json!(g1)));
    assert!(entity["msgId"].is_string(), "{entity}");

    // E-thr-3: the same, within one group.
    assert_eq!(listed(&app, &format!("/threads/chatgroups/{g1}/user/m")).await, (vec![t2.clone()], None));
    assert_eq!(listed(&app, &format!("/threads/chatgroups/{g2}/user/m")).await, (vec![t3.clone()], None));
    assert_eq!(listed(&app, &format!("/threads/chatgroups/{g1}/user/o")).await, (vec![t1.clone()], None));
    let (status, body) = app.get(&format!("/threads/chatgroups/{g1}/user/o?limit=51")).await;
    assert_error(status, &body, 400, "group_error");
}

#[tokio::test]
async fn thread_members_join_from_the_group_are_paged_and_kicked() {
    let app = spawn_app().await;
    let users: Vec<String> = (1..=12).map(|i| format!("u{i:02}")).collect();
    let refs: Vec<&str> = users.iter().map(String::as_str).collect();
    app.register(&refs).await;
    app.register(&["o", "outsider"]).await;
    let group = create_group(&app, "o", &refs, json!({})).await;
    let thread = create_thread(&app, &group, "t", "o").await;

    // E-thr-8: both spellings of the path, ten users a call, group members only.
    join(&app, &thread, &refs[..5]).await;
    app.clock.advance_ms(1);
    let (status, body) = app.post(&format!("/threads/{thread}/users"), json!({"usernames": &refs[5..10]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"status": "ok"}));
    let (status, body) = app.post(&format!("/thread/{thread}/users"), json!({"usernames": &refs[..11]})).await;
    assert_error(status, &body, 400, "group_error");
    assert_eq!(body["error_description"], "request body reaches limit.");
    let (status, body) = app.post(&format!("/thread/{thread}/users"), json!({"usernames": ["u11", "outsider"]})).await;
    assert_error(status, &body, 404, "group_error");
    assert_eq!(body["error_description"], "user not in group.");
    let (status, body) = app.post("/thread/999/users", json!({"usernames": ["u11"]})).await;
    assert_error(status, &body, 404, "group_error");

    // E-thr-7: the owner first, then in joining order, `limit` at a time.
    let everyone: Vec<&str> = std::iter::once("o").chain(refs[..10].iter().copied()).collect();
    assert_eq!(members(&app, &thread).await, everyone);
    let mut seen = Vec::new();
    let mut path = format!("/thread/{thread}/users?limit=4");
    loop {
        let (status, body) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = body["data"]["affiliations"].as_array().expect("affiliations").clone();
        assert!(page.len() <= 4);
        seen.extend(page.iter().map(|u| u.as_str().unwrap().to_owned()));
        match body["properties"]["cursor"].as_str() {
            Some(cursor) => path = format!("/thread/{thread}/users?limit=4&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, everyone);
    let (status, body) = app.get(&format!("/thread/{thread}/users?limit=51")).await;
    assert_error(status, &body, 400, "group_error");
    assert_eq!(body["error_description"], "query param reaches limit.");

    // E-thr-9: kick, with a result for each user, under both spellings.
    let (status, body) = kick(&app, &format!("/thread/{thread}/users"), &["u01", "u02"]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["entities"], json!([{"result": true, "user": "u01"}, {"result": true, "user": "u02"}]));
    let (status, body) = kick(&app, &format!("/threads/{thread}/users"), &["u03", "u11"]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["entities"].as_array().expect("entities");
    assert_eq!(results.len(), 2);
    assert!(results.contains(&json!({"result": true, "user": "u03"})), "{body}");
    assert!(results.contains(&json!({"result": false, "user": "u11"})), "{body}");
    let (status, body) = kick(&app, &format!("/thread/{thread}/users"), &refs[..11]).await;
    assert_error(status, &body, 400, "group_error");
    assert_eq!(members(&app, &thread).await, ["o", "u04", "u05", "u06", "u07", "u08", "u09", "u10"]);

    // Leaving the group means leaving its threads.
    let (status, _) = app.delete(&format!("/chatgroups/{group}/users/u04")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(members(&app, &thread).await, ["o", "u05", "u06", "u07", "u08", "u09", "u10"]);
    assert_eq!(listed(&app, "/threads/user/u04").await, (vec![], None));
    assert_eq!(listed(&app, "/threads/user/u05").await, (vec![thread.clone()], None));
    // Out of the group, they cannot come back into the thread.
    let (status, body) = app.post(&format!("/thread/{thread}/users"), json!({"usernames": ["u04"]})).await;
    assert_error(status, &body, 404, "group_error");
}

#[tokio::test]
async fn thread_messages_reach_thread_members_only() {
    let app = spawn_app().await;
    app.register(&["o", "a", "b", "c", "d"]).await;
    let group = create_group(&app, "o", &["a", "b", "c", "d"], json!({})).await;

    // Everyone in the group hears that a thread started, not only its members.
    let mut c = connected(&app, "c").await;
    let thread = create_thread(&app, &group, "t", "o").await;
    let root = next_message(&mut c).await;
    assert_eq!((root.chat_type.as_str(), root.to.as_str()), ("groupchat", group.as_str()));
    assert_eq!(group_event(&mut c, &thread).await, ("thread".into(), "created".into(), vec![]));
    join(&app, &thread, &["a", "b", "d"]).await;
    let mut a = connected(&app, "a").await;
    let mut b = connected(&app, "b").await;

    // A thread member speaks over the gateway; live thread members hear it as a thread message.
    let sent = a.send_to("thread", &thread, json!({"type": "txt", "msg": "in the thread"}), None).await.unwrap();
    let got = next_message(&mut b).await;
    assert_thread_message(&got, &thread, "a", "in the thread");
    assert_eq!((got.msg_id.as_str(), got.seq), (sent.msg_id.as_str(), sent.seq));
    // Neither the join nor the message reached c; the sender's own device does not echo it.
    tokio::join!(assert_quiet(&mut c), assert_quiet(&mut a));

    // An offline member finds it in their backlog; a group member outside the thread does not.
    let mut d = app.connect("d").await;
    let missed = backlog(&mut d).await;
    let in_thread: Vec<&MessageFrame> = missed.iter().filter(|m| m.to == thread).collect();
    assert_eq!(in_thread.len(), 1, "{missed:?}");
    assert_thread_message(in_thread[0], &thread, "a", "in the thread");
    assert!(missed.iter().all(|m| m.chat_type == "thread" || m.to == group), "{missed:?}");
    let refused = c.send_to("thread", &thread, json!({"type": "txt", "msg": "can I?"}), None).await;
    assert!(refused.unwrap_err().to_string().contains("forbidden"));
    let refused = c.send_to("thread", "999", json!({"type": "txt", "msg": "anyone?"}), None).await;
    assert!(refused.unwrap_err().to_string().contains("not_found"));

    // Muted in the group means muted in its threads.
    let (status, body) =
        app.post(&format!("/chatgroups/{group}/mute"), json!({"usernames": ["a"], "mute_duration": 60_000})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for connection in [&mut a, &mut b, &mut c, &mut d] {
        assert_eq!(group_event(connection, &group).await, ("groupchat".into(), "muted".into(), names(&["a"])));
    }
    let refused = a.send_to("thread", &thread, json!({"type": "txt", "msg": "muted?"}), None).await;
    assert!(refused.unwrap_err().to_string().contains("forbidden"));
    app.delete(&format!("/chatgroups/{group}/mute/a")).await;
    for connection in [&mut a, &mut b, &mut c, &mut d] {
        assert_eq!(group_event(connection, &group).await, ("groupchat".into(), "unmuted".into(), names(&["a"])));
    }

    // Removed from the group, b is out of the thread: told so, and hearing no more.
    let (status, _) = app.delete(&format!("/chatgroups/{group}/users/b")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(group_event(&mut b, &thread).await, ("thread".into(), "members_removed".into(), names(&["b"])));
    assert_eq!(group_event(&mut b, &group).await, ("groupchat".into(), "members_removed".into(), names(&["b"])));
    assert_eq!(members(&app, &thread).await, ["o", "a", "d"]);
    a.send_to("thread", &thread, json!({"type": "txt", "msg": "b has gone"}), None).await.unwrap();
    assert_eq!(group_event(&mut d, &thread).await, ("thread".into(), "members_removed".into(), names(&["b"])));
    assert_eq!(group_event(&mut d, &group).await, ("groupchat".into(), "members_removed".into(), names(&["b"])));
    assert_thread_message(&next_message(&mut d).await, &thread, "a", "b has gone");
    assert_quiet(&mut b).await;
    let refused = b.send_to("thread", &thread, json!({"type": "txt", "msg": "still here?"}), None).await;
    assert!(refused.unwrap_err().to_string().contains("forbidden"));
}
