//! Easemob's own web SDK, `easemob-websdk` 4.21.1 and `agora-chat` 1.4.0
//! from npm (pinned in `tests/sdk/easemob/package-lock.json`), run under
//! Node.js against this confab over msync: logins by password and token,
//! a refused password, one-to-one and group messages both ways with
//! acknowledgements, offline delivery at login, and a kick. The steps are
//! `tests/sdk/easemob/chat.js`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use confab_server::limits::GATEWAY_USER_MESSAGES_PER_SECOND;

use crate::helpers::{spawn_app, spawn_app_with, Storage, TestApp, PASSWORD};
use crate::node_sdk::Step;

fn ensure_installed() {
    crate::node_sdk::ensure_installed("easemob", "node_modules/easemob-websdk/package.json");
}

/// One step of `chat.js` as `sdk` (`websdk` or `agora`).
fn start(app: &TestApp, sdk: &str, args: &[&str]) -> Step {
    let server = format!("http://{}", app.addr);
    let mut all = vec![sdk, server.as_str(), "demo#chat"];
    all.extend_from_slice(args);
    Step::spawn("easemob", "chat.js", &all)
}

/// Two users chat: live, with the server's ID in the sender's ack and `ext`
/// kept; offline, delivered at the next login; the REST API sees both and
/// a REST send reaches the SDK.
async fn chatting_works_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    app.register(&["ann", "bob"]).await;

    let mut bob = start(&app, sdk, &["listen", "bob", PASSWORD]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let mut ann = start(&app, sdk, &["send", "ann", PASSWORD, "bob", "hello bob"]);
    let sent = ann.next().await;
    let id = sent["sent"].as_str().unwrap_or_else(|| panic!("{sdk}: {sent}")).to_owned();
    ann.finished().await;
    let got = bob.next().await;
    let expected = json!({"received": "hello bob", "type": "txt", "from": "ann", "to": "bob", "id": id,
                          "chatType": "singleChat", "ext": {"k": "v"}});
    assert_eq!(got, expected, "{sdk}");
    bob.finished().await;

    // Bob is away: the message waits for his next login.
    let mut ann = start(&app, sdk, &["send", "ann", PASSWORD, "bob", "while you were out"]);
    let later = ann.next().await["sent"].as_str().unwrap_or_default().to_owned();
    ann.finished().await;
    let mut bob = start(&app, sdk, &["listen", "bob", PASSWORD]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let got = bob.next().await;
    assert_eq!(
        (got["received"].as_str(), got["id"].as_str()),
        (Some("while you were out"), Some(later.as_str())),
        "{sdk}"
    );
    bob.finished().await;

    // Acknowledged means delivered: a new login gets nothing again, and a
    // REST send comes through instead.
    let mut bob = start(&app, sdk, &["listen", "bob", PASSWORD]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let body = json!({"from": "ann", "to": ["bob"], "type": "txt", "body": {"msg": "from the backend"}});
    let (status, answer) = app.post("/messages/users", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(bob.next().await["received"], "from the backend", "{sdk}: nothing delivered twice");
    bob.finished().await;
}

#[tokio::test]
async fn the_websdk_chats_one_to_one() {
    chatting_works_with("websdk").await;
}

#[tokio::test]
async fn agora_chat_chats_one_to_one() {
    chatting_works_with("agora").await;
}

/// A group the backend made: a member's message reaches the other member.
async fn groups_work_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    app.register(&["ann", "bob"]).await;
    let group = json!({"groupname": "team", "desc": "d", "public": true, "owner": "ann", "members": ["bob"]});
    let (status, made) = app.post("/chatgroups", group).await;
    assert_eq!(status, StatusCode::OK, "{made}");
    let gid = made["data"]["groupid"].as_str().unwrap().to_owned();

    let mut bob = start(&app, sdk, &["listen", "bob", PASSWORD]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let mut ann = start(&app, sdk, &["gsend", "ann", PASSWORD, &gid, "hello team"]);
    let id = ann.next().await["sent"].as_str().unwrap_or_default().to_owned();
    ann.finished().await;
    let got = bob.next().await;
    assert_eq!(
        (got["received"].as_str(), got["to"].as_str(), got["chatType"].as_str(), got["id"].as_str()),
        (Some("hello team"), Some(gid.as_str()), Some("groupChat"), Some(id.as_str())),
        "{sdk}: {got}"
    );
    bob.finished().await;

    // Carol is no member: the server's refusal is the SDK's error.
    app.register(&["carol"]).await;
    let mut carol = start(&app, sdk, &["refused", "carol", PASSWORD, &gid, "let me in"]);
    let refused = carol.next().await;
    assert!(refused["refused"].as_i64().is_some(), "{sdk}: {refused}");
    carol.finished().await;
}

#[tokio::test]
async fn the_websdk_talks_in_groups() {
    groups_work_with("websdk").await;
}

#[tokio::test]
async fn agora_chat_talks_in_groups() {
    groups_work_with("agora").await;
}

/// Logins: a wrong password is refused as the SDK reports it; a token
/// from the REST token endpoint logs in without a password; the backend's
/// disconnect is a kick the SDK reports and does not come back from.
async fn logins_work_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    app.register(&["ann"]).await;

    let mut wrong = start(&app, sdk, &["wrong", "ann", "not-the-password"]);
    let refused = wrong.next().await;
    assert!(refused["refused"].as_i64().is_some(), "{sdk}: {refused}");
    wrong.finished().await;

    let grant = json!({"grant_type": "password", "username": "ann", "password": PASSWORD});
    let (status, token) = app.post("/token", grant).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let token = token["access_token"].as_str().unwrap().to_owned();
    let mut by_token = start(&app, sdk, &["token", "ann", &token]);
    assert_eq!(by_token.next().await, json!({"opened": "ann"}), "{sdk}");
    by_token.finished().await;

    let mut kicked = start(&app, sdk, &["kicked", "ann", PASSWORD]);
    assert_eq!(kicked.next().await, json!({"opened": "ann"}), "{sdk}");
    let (status, answer) = app.get("/users/ann/disconnect").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let error = kicked.next().await;
    assert_eq!(error["error"], 217, "{sdk}: the SDK's 'kicked by another device': {error}");
    kicked.finished().await;
}

#[tokio::test]
async fn the_websdk_logs_in_and_is_kicked() {
    logins_work_with("websdk").await;
}

#[tokio::test]
async fn agora_chat_logs_in_and_is_kicked() {
    logins_work_with("agora").await;
}

/// Receipts and recalls: bob's SDK sends its delivery receipt itself and a
/// read receipt when asked; Ann's SDK hears both for her message. Ann
/// recalls a message: bob's SDK hears the recall.
async fn receipts_and_recalls_work_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    app.register(&["ann", "bob"]).await;

    let mut bob = start(&app, sdk, &["reader", "bob", PASSWORD]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let mut ann = start(&app, sdk, &["receipts", "ann", PASSWORD, "bob"]);
    let sent = ann.next().await;
    let id = sent["sent"].as_str().unwrap_or_else(|| panic!("{sdk}: {sent}")).to_owned();
    assert_eq!(bob.next().await, json!({"received": "did you get this?", "id": id}), "{sdk}");
    assert_eq!(bob.next().await, json!({"read": id}), "{sdk}");
    bob.finished().await;
    assert_eq!(ann.next().await, json!({"delivered": id}), "{sdk}");
    assert_eq!(ann.next().await, json!({"read": id}), "{sdk}");
    ann.finished().await;

    let mut bob = start(&app, sdk, &["listen", "bob", PASSWORD, "2"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let mut ann = start(&app, sdk, &["recall", "ann", PASSWORD, "bob"]);
    let recalled = ann.next().await;
    let id = recalled["sent"].as_str().unwrap_or_else(|| panic!("{sdk}: {recalled}")).to_owned();
    ann.finished().await;
    assert_eq!(bob.next().await["received"], "oops", "{sdk}");
    assert_eq!(bob.next().await, json!({"recalled": id, "from": "ann"}), "{sdk}");
    bob.finished().await;
}

#[tokio::test]
async fn the_websdk_gets_receipts_and_recalls() {
    receipts_and_recalls_work_with("websdk").await;
}

#[tokio::test]
async fn agora_chat_gets_receipts_and_recalls() {
    receipts_and_recalls_work_with("agora").await;
}

/// A chat room the backend made: both join over msync, one speaks, the
/// other hears; then location, command and custom messages one-to-one.
async fn rooms_and_kinds_work_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    app.register(&["ann", "bob"]).await;
    let room = json!({"name": "lobby", "description": "d", "maxusers": 100, "owner": "ann"});
    let (status, made) = app.post("/chatrooms", room).await;
    assert_eq!(status, StatusCode::OK, "{made}");
    let rid = made["data"]["id"].as_str().unwrap().to_owned();
    // Everyone but the owner is muted: the join tells the SDK so.
    let (status, muted) = app.post(&format!("/chatrooms/{rid}/ban"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{muted}");

    let mut bob = start(&app, sdk, &["room", "bob", PASSWORD, &rid]);
    assert_eq!(bob.next().await, json!({"joined": rid, "allMuted": true, "muteUntil": -1, "members": 2}), "{sdk}");
    let mut ann = start(&app, sdk, &["room", "ann", PASSWORD, &rid, "hello room"]);
    assert_eq!(ann.next().await, json!({"joined": rid, "allMuted": true, "muteUntil": -1, "members": 2}), "{sdk}");
    assert!(ann.next().await["sent"].is_string(), "{sdk}");
    ann.finished().await;
    let heard = bob.next().await;
    assert_eq!(heard, json!({"received": "hello room", "from": "ann", "to": rid, "chatType": "chatRoom"}), "{sdk}");
    bob.finished().await;

    let mut bob = start(&app, sdk, &["listen", "bob", PASSWORD, "3"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let mut ann = start(&app, sdk, &["kinds", "ann", PASSWORD, "bob"]);
    assert_eq!(ann.next().await["sent"].as_array().map(Vec::len), Some(3), "{sdk}");
    ann.finished().await;
    // The SDK hands each kind to its own callback, some after an await:
    // the order they reach the app is not the order sent.
    let mut heard = [bob.next().await, bob.next().await, bob.next().await];
    heard.sort_by_key(|m| ["loc", "cmd", "custom"].iter().position(|k| m["type"] == *k));
    let [location, command, custom] = heard;
    assert_eq!(
        (&location["type"], &location["lat"], &location["addr"]),
        (&json!("loc"), &json!(39.9), &json!("Beijing")),
        "{sdk}: {location}"
    );
    assert_eq!((&command["type"], &command["action"]), (&json!("cmd"), &json!("typing")), "{sdk}: {command}");
    assert_eq!((&custom["type"], &custom["customEvent"]), (&json!("custom"), &json!("gift")), "{sdk}: {custom}");
    assert_eq!(custom["customExts"], json!({"name": "rose", "n": 2}), "{sdk}: {custom}");
    bob.finished().await;
}

#[tokio::test]
async fn the_websdk_uses_rooms_and_every_kind() {
    rooms_and_kinds_work_with("websdk").await;
}

#[tokio::test]
async fn agora_chat_uses_rooms_and_every_kind() {
    rooms_and_kinds_work_with("agora").await;
}

/// The backend changes a group: bob's SDK hears each change as its group
/// event (a member joining, bob muted, bob removed).
async fn group_events_reach(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    app.register(&["ann", "bob", "carol"]).await;
    let group = json!({"groupname": "team", "desc": "d", "public": true, "owner": "ann", "members": ["bob"]});
    let (_, made) = app.post("/chatgroups", group).await;
    let gid = made["data"]["groupid"].as_str().unwrap().to_owned();

    let mut bob = start(&app, sdk, &["events", "bob", PASSWORD, "3"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let (status, body) = app.post(&format!("/chatgroups/{gid}/users"), json!({"usernames": ["carol"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        bob.next().await,
        json!({"group": "memberPresence", "id": gid, "from": "carol", "userId": null}),
        "{sdk}"
    );
    let mute = json!({"usernames": ["bob"], "mute_duration": 60_000});
    let (status, body) = app.post(&format!("/chatgroups/{gid}/mute"), mute).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let muted = bob.next().await;
    assert_eq!((&muted["group"], &muted["userId"]), (&json!("muteMember"), &json!("bob")), "{sdk}: {muted}");
    let (status, body) = app.delete(&format!("/chatgroups/{gid}/users/bob")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let removed = bob.next().await;
    assert_eq!((&removed["group"], &removed["id"]), (&json!("removeMember"), &json!(gid)), "{sdk}: {removed}");
    bob.finished().await;
}

#[tokio::test]
async fn the_websdk_hears_group_events() {
    group_events_reach("websdk").await;
}

#[tokio::test]
async fn agora_chat_hears_group_events() {
    group_events_reach("agora").await;
}

/// One group, three ways in: ann and carol on Easemob's SDKs, bob on
/// LeanCloud's (5.x), and the backend over the Easemob REST API. Each
/// hears the others.
#[tokio::test]
async fn the_easemob_and_leancloud_sdks_and_a_backend_share_a_group() {
    ensure_installed();
    crate::node_sdk::ensure_installed("leancloud", "node_modules/lc5/package.json");
    let app = spawn_app().await;
    app.register(&["ann", "bob", "carol"]).await;
    let group = json!({"groupname": "mixed", "desc": "d", "public": true, "owner": "ann", "members": ["bob", "carol"]});
    let (_, made) = app.post("/chatgroups", group).await;
    let gid = made["data"]["groupid"].as_str().unwrap().to_owned();
    let leancloud = |args: &[&str]| {
        use crate::helpers::{LC_APP_ID, LC_APP_KEY, LC_MASTER_KEY};
        let server = format!("http://{}", app.addr);
        let mut all = vec!["lc5", server.as_str(), LC_APP_ID, LC_APP_KEY, LC_MASTER_KEY];
        all.extend_from_slice(args);
        Step::spawn("leancloud", "sessions.js", &all)
    };

    // The Easemob SDK speaks; the LeanCloud SDK hears it in the conversation of that ID.
    let mut bob = leancloud(&["listen", "bob"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}));
    let mut ann = start(&app, "websdk", &["gsend", "ann", PASSWORD, &gid, "from Easemob's SDK"]);
    let id = ann.next().await["sent"].as_str().unwrap_or_default().to_owned();
    ann.finished().await;
    let heard = bob.next().await;
    assert_eq!(
        (heard["received"].as_str(), heard["cid"].as_str(), heard["id"].as_str()),
        (Some("from Easemob's SDK"), Some(gid.as_str()), Some(id.as_str())),
        "{heard}"
    );
    bob.finished().await;

    // The LeanCloud SDK and then the backend speak; the Easemob SDK (carol,
    // on agora-chat) hears both.
    let mut ann = start(&app, "agora", &["listen", "carol", PASSWORD, "3"]);
    assert_eq!(ann.next().await, json!({"opened": "carol"}));
    assert_eq!(ann.next().await["received"], "from Easemob's SDK", "what was sent while carol was away");
    let mut bob = leancloud(&["send", "bob", &gid, "from LeanCloud's SDK"]);
    assert!(bob.next().await["sent"].is_string());
    bob.finished().await;
    let heard = ann.next().await;
    assert_eq!(
        (heard["received"].as_str(), heard["from"].as_str(), heard["chatType"].as_str()),
        (Some("from LeanCloud's SDK"), Some("bob"), Some("groupChat")),
        "{heard}"
    );
    let body = json!({"from": "admin", "to": [gid], "type": "txt", "body": {"msg": "from the backend"}});
    let (status, answer) = app.post("/messages/chatgroups", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(ann.next().await["received"], "from the backend");
    ann.finished().await;
}

/// An image as the SDK sends it: its own upload to the REST `chatfiles`,
/// then the message naming the file; the receiver's SDK gets the URL, and
/// the file is there.
async fn images_work_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    app.register(&["ann", "bob"]).await;
    let mut bob = start(&app, sdk, &["listen", "bob", PASSWORD]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let mut ann = start(&app, sdk, &["image", "ann", PASSWORD, "bob"]);
    let sent = ann.next().await;
    assert!(sent["sent"].is_string(), "{sdk}: {sent}");
    ann.finished().await;
    let got = bob.next().await;
    assert_eq!(got["type"], "img", "{sdk}: {got}");
    let url = got["url"].as_str().unwrap_or_else(|| panic!("{sdk}: {got}"));
    let fetched = app.http.get(url).bearer_auth(app.user_token("bob").await).send().await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK, "{url}");
    assert_eq!(fetched.bytes().await.unwrap().len(), 67, "the PNG as uploaded");
    bob.finished().await;
}

#[tokio::test]
async fn the_websdk_sends_images() {
    images_work_with("websdk").await;
}

#[tokio::test]
async fn agora_chat_sends_images() {
    images_work_with("agora").await;
}

/// A voice clip, a video and a file as the SDK sends them: each uploaded
/// by the SDK to the REST `chatfiles` first; the receiver's SDK gets each
/// kind with its URL, and each file is there as uploaded.
async fn files_work_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    app.register(&["ann", "bob"]).await;
    let mut bob = start(&app, sdk, &["listen", "bob", PASSWORD, "3"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let mut ann = start(&app, sdk, &["files", "ann", PASSWORD, "bob"]);
    let sent = ann.next().await;
    let ids = sent["sent"].as_array().unwrap_or_else(|| panic!("{sdk}: {sent}")).clone();
    ann.finished().await;
    let token = app.user_token("bob").await;
    for (kind, name) in [("audio", "hello.amr"), ("video", "clip.mp4"), ("file", "notes.txt")] {
        let got = bob.next().await;
        assert_eq!((got["type"].as_str(), got["filename"].as_str()), (Some(kind), Some(name)), "{sdk}: {got}");
        assert!(ids.contains(&got["id"]), "{sdk}: {got} is one of {ids:?}");
        let url = got["url"].as_str().unwrap_or_else(|| panic!("{sdk}: {got}"));
        let fetched = app.http.get(url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(fetched.status(), StatusCode::OK, "{url}");
        assert_eq!(fetched.bytes().await.unwrap().as_ref(), format!("{kind} bytes").as_bytes(), "{sdk}: {kind}");
    }
    bob.finished().await;
}

#[tokio::test]
async fn the_websdk_sends_voice_video_and_files() {
    files_work_with("websdk").await;
}

#[tokio::test]
async fn agora_chat_sends_voice_video_and_files() {
    files_work_with("agora").await;
}

/// What a user's app lists when it opens, through the SDK's own REST
/// calls: contacts, joined groups (with the user's role), the conversation
/// list (newest first, with unread counts and the last message) and each
/// conversation's history, paged both ways.
async fn lists_work_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    app.register(&["ann", "bob", "carol"]).await;
    let (status, added) = app.post("/users/ann/contacts/users/bob", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    let group = json!({"groupname": "team", "desc": "d", "public": true, "owner": "ann", "members": ["bob"]});
    let (status, made) = app.post("/chatgroups", group).await;
    assert_eq!(status, StatusCode::OK, "{made}");
    let gid = made["data"]["groupid"].as_str().unwrap().to_owned();
    app.send_text("ann", "bob", "one").await;
    app.send_text("ann", "bob", "two").await;
    app.send_text("bob", "ann", "three").await;
    app.send_text("carol", "ann", "not for bob").await;
    for text in ["g1", "g2", "g3"] {
        let body = json!({"from": "ann", "to": [gid], "type": "txt", "body": {"msg": text}});
        let (status, answer) = app.post("/messages/chatgroups", body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }

    let mut bob = start(&app, sdk, &["lists", "bob", PASSWORD, "ann", &gid]);
    let listed = bob.next().await;
    let expected = json!({
        "contacts": ["ann"],
        "groups": [gid],
        "roles": {gid.clone(): ["member", 2]},
        "conversations": [[gid, "groupChat", 3, "g3"], ["ann", "singleChat", 2, "three"]],
        "history": ["three", "two", "one"],
        "groupPages": [["g3"], ["g2"], ["g1"]],
        "oldestFirst": ["one", "two", "three"],
    });
    assert_eq!(listed, expected, "{sdk}");
    bob.finished().await;
}

#[tokio::test]
async fn the_websdk_lists_contacts_groups_conversations_and_history() {
    lists_work_with("websdk").await;
}

#[tokio::test]
async fn agora_chat_lists_contacts_groups_conversations_and_history() {
    lists_work_with("agora").await;
}

/// The SDK's lists are its user's own: another user's token is refused, a
/// user who is not in a group cannot read its history, and a member who
/// joined late sees only what was said since.
#[tokio::test]
async fn the_sdks_lists_are_for_their_user_only() {
    let app = spawn_app().await;
    app.register(&["ann", "bob", "carol"]).await;
    let group = json!({"groupname": "team", "desc": "d", "public": true, "owner": "ann", "members": ["bob"]});
    let (_, made) = app.post("/chatgroups", group).await;
    let gid = made["data"]["groupid"].as_str().unwrap().to_owned();
    let say = |text: &'static str| {
        let body = json!({"from": "ann", "to": [gid.clone()], "type": "txt", "body": {"msg": text}});
        async { app.post("/messages/chatgroups", body).await }
    };
    say("before carol").await;
    app.send_text("ann", "bob", "private").await;
    let bob = app.user_token("bob").await;
    let carol = app.user_token("carol").await;
    let app = &app;
    let call = |method: reqwest::Method, path: String, token: String, body: Option<serde_json::Value>| async move {
        app.call(method, &path, Some(&token), body).await
    };

    let (status, _) = call(reqwest::Method::GET, "/sdk/user/ann/user_channels/list".into(), bob.clone(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "bob cannot list ann's conversations");
    let roam = json!({"queue": "bob@easemob.com", "start": -1, "pull_number": 10});
    let (status, _) = call(reqwest::Method::POST, "/users/ann/messageroaming".into(), bob.clone(), Some(roam)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "bob cannot read ann's history");
    let (status, _) = call(reqwest::Method::GET, "/users/ann/joined_chatgroups".into(), bob.clone(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "bob cannot list ann's groups");

    let queue = json!({"queue": format!("{gid}@conference.easemob.com"), "start": -1, "pull_number": 10});
    let path = "/users/carol/messageroaming".to_owned();
    let (status, refused) = call(reqwest::Method::POST, path.clone(), carol.clone(), Some(queue.clone())).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden_op")), "{refused}");
    let (status, listed) =
        call(reqwest::Method::POST, path.clone(), carol.clone(), Some(json!({"queue": "ann@easemob.com"}))).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["data"]["msgs"], json!([]), "carol and ann never spoke");
    let (status, listed) =
        call(reqwest::Method::GET, "/sdk/user/carol/user_channels/list".into(), carol.clone(), None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["data"]["channel_infos"], json!([]), "{listed}");

    let (status, added) = app.post(&format!("/chatgroups/{gid}/users/carol"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    say("after carol").await;
    let (status, page) = call(reqwest::Method::POST, path, carol.clone(), Some(queue)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        (page["data"]["msgs"].as_array().map(Vec::len), &page["data"]["is_last"]),
        (Some(1), &json!(true)),
        "{page}"
    );
    let (status, listed) = call(reqwest::Method::GET, "/sdk/user/carol/user_channels/list".into(), carol, None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let infos = &listed["data"]["channel_infos"];
    assert_eq!(
        (infos[0]["session_to"].as_str(), infos[0]["unread_num"].as_u64()),
        (Some(gid.as_str()), Some(1)),
        "{listed}"
    );
    let payload: serde_json::Value = serde_json::from_str(infos[0]["meta"]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["bodies"][0]["msg"], "after carol", "{listed}");
}

/// Edits (`modifyMessage`): the sender's acknowledgement carries the edit's
/// count, the receiver's SDK hears `onModifiedMessage` with the new content
/// and `ext`, and the REST history has it; another user's edit, a missing
/// message and an eleventh edit are refused with the SDK's own codes.
async fn edits_work_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    app.register(&["ann", "bob", "carol"]).await;
    let mut bob = start(&app, sdk, &["listen", "bob", PASSWORD, "2"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let mut ann = start(&app, sdk, &["edit", "ann", PASSWORD, "bob"]);
    let sent = ann.next().await;
    let id = sent["sent"].as_str().unwrap_or_else(|| panic!("{sdk}: {sent}")).to_owned();
    let edited = ann.next().await;
    assert_eq!(edited, json!({"edited": id, "msg": "final 1", "count": 1, "operator": "ann"}), "{sdk}");
    ann.finished().await;
    assert_eq!(bob.next().await["received"], "draft", "{sdk}");
    let modified = bob.next().await;
    let expected =
        json!({"modified": id, "msg": "final 1", "from": "ann", "ext": {"v": 1}, "count": 1, "operator": "ann"});
    assert_eq!(modified, expected, "{sdk}");
    bob.finished().await;

    let (status, history) = app.get("/chatmessages?ql=select+*+where+timestamp>0&limit=10").await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let record = history["entities"].as_array().unwrap().iter().find(|r| r["msg_id"] == id.as_str()).cloned();
    let record = record.unwrap_or_else(|| panic!("{history}"));
    assert_eq!(
        (&record["payload"]["bodies"][0]["msg"], &record["payload"]["ext"]),
        (&json!("final 1"), &json!({"v": 1}))
    );

    let mut carol = start(&app, sdk, &["edit", "carol", PASSWORD, "bob", "1", &id]);
    assert_eq!(carol.next().await["refused"], 603, "{sdk}: only the sender edits");
    carol.finished().await;
    let mut ann = start(&app, sdk, &["edit", "ann", PASSWORD, "bob", "1", "1234"]);
    assert_eq!(ann.next().await["refused"], 1302, "{sdk}: no such message");
    ann.finished().await;
    let mut ann = start(&app, sdk, &["edit", "ann", PASSWORD, "bob", "10", &id]);
    for count in 2..=10 {
        assert_eq!(ann.next().await["count"], count, "{sdk}");
    }
    assert_eq!(ann.next().await["refused"], 50, "{sdk}: at most 10 edits");
    ann.finished().await;
}

#[tokio::test]
async fn the_websdk_edits_messages() {
    edits_work_with("websdk").await;
}

#[tokio::test]
async fn agora_chat_edits_messages() {
    edits_work_with("agora").await;
}

/// A conversation read from the SDK (its `channel` message, CHANNEL_ACK):
/// that conversation has nothing unread any more, the others keep theirs.
async fn conversation_reads_work_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    app.register(&["ann", "bob", "carol"]).await;
    app.send_text("ann", "bob", "one").await;
    app.send_text("ann", "bob", "two").await;
    app.send_text("carol", "bob", "three").await;
    let mut bob = start(&app, sdk, &["channel", "bob", PASSWORD, "ann", "3"]);
    assert_eq!(bob.next().await, json!({"unread": [["carol", 1], ["ann", 0]]}), "{sdk}");
    bob.finished().await;
}

#[tokio::test]
async fn the_websdk_reads_whole_conversations() {
    conversation_reads_work_with("websdk").await;
}

#[tokio::test]
async fn agora_chat_reads_whole_conversations() {
    conversation_reads_work_with("agora").await;
}

/// Sending faster than the app allows: what is over the rate is refused
/// with "traffic limit", which the SDK reports as its 509, and not stored.
async fn send_rates_are_limited_for(sdk: &str) {
    ensure_installed();
    let app = spawn_app_with(Storage::fresh().await, |config| {
        config.rate_limits.insert(GATEWAY_USER_MESSAGES_PER_SECOND.into(), 2);
    })
    .await;
    app.register(&["ann", "bob"]).await;
    let mut ann = start(&app, sdk, &["burst", "ann", PASSWORD, "bob", "10"]);
    let burst = ann.next().await;
    ann.finished().await;
    let sent = burst["sent"].as_u64().unwrap_or_else(|| panic!("{sdk}: {burst}"));
    assert!((2..=5).contains(&sent), "{sdk}: {burst}");
    assert_eq!(burst["refused"], json!([509]), "{sdk}: {burst}");
    let (status, count) = app.get("/users/bob/offline_msg_count").await;
    assert_eq!(status, StatusCode::OK, "{count}");
    assert_eq!(count["data"]["bob"], sent, "only what was acknowledged is stored: {count}");
}

/// The app's pre-send callback refuses (`valid: false`): the SDK's send
/// fails with its MESSAGE_EXTERNAL_LOGIC_BLOCKED, and nothing is stored.
async fn refusals_by_the_apps_server_reach(sdk: &str) {
    ensure_installed();
    let server = crate::callbacks::AppServer::start(|_| (200, json!({"valid": false, "code": "no"}).to_string())).await;
    let app = crate::callbacks::with_pre_send(&server, |_| {}).await;
    app.register(&["ann", "bob"]).await;
    let mut ann = start(&app, sdk, &["burst", "ann", PASSWORD, "bob", "2"]);
    let burst = ann.next().await;
    ann.finished().await;
    assert_eq!(burst, json!({"sent": 0, "refused": [502]}), "{sdk}: MESSAGE_EXTERNAL_LOGIC_BLOCKED");
    assert_eq!(server.calls().len(), 2, "{sdk}");
    let (_, count) = app.get("/users/bob/offline_msg_count").await;
    assert_eq!(count["data"]["bob"], 0, "{sdk}: nothing stored: {count}");
}

#[tokio::test]
async fn the_websdk_hears_the_apps_server_refuse() {
    refusals_by_the_apps_server_reach("websdk").await;
}

#[tokio::test]
async fn agora_chat_hears_the_apps_server_refuse() {
    refusals_by_the_apps_server_reach("agora").await;
}

#[tokio::test]
async fn the_websdk_is_told_its_send_rate() {
    send_rates_are_limited_for("websdk").await;
}

#[tokio::test]
async fn agora_chat_is_told_its_send_rate() {
    send_rates_are_limited_for("agora").await;
}

/// Threads as the SDK uses them: a member starts one under a group message
/// (the REST call it makes with its own token), the group hears of it
/// (onChatThreadChange), another member joins and gets its messages with
/// the thread they belong to (`chatThread`), and hears it end.
async fn threads_work_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    app.register(&["ann", "bob"]).await;
    let group = json!({"groupname": "team", "desc": "d", "public": true, "owner": "ann", "members": ["bob"]});
    let (_, made) = app.post("/chatgroups", group).await;
    let gid = made["data"]["groupid"].as_str().unwrap().to_owned();
    let body = json!({"from": "ann", "to": [gid], "type": "txt", "body": {"msg": "let's discuss"}});
    let (status, sent) = app.post("/messages/chatgroups", body).await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let parent = sent["data"][gid.as_str()].as_str().unwrap_or_else(|| panic!("{sent}")).to_owned();

    let mut bob = start(&app, sdk, &["threads", "bob", PASSWORD, "7"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let heard = bob.next().await;
    assert_eq!(heard, json!({"received": "let's discuss", "to": gid, "chatThread": null}), "{sdk}: not in a thread");
    let mut ann = start(&app, sdk, &["thread", "ann", PASSWORD, "create", &gid, &parent, "topic"]);
    let created = ann.next().await;
    let tid = created["created"].as_str().unwrap_or_else(|| panic!("{sdk}: {created}")).to_owned();
    ann.finished().await;
    let heard = bob.next().await;
    let expected = json!({"thread": "create", "id": tid, "parentId": gid, "messageId": parent, "name": "topic", "operator": "ann"});
    assert_eq!(heard, expected, "{sdk}");
    assert_eq!(bob.next().await, json!({"joined": tid}), "{sdk}");

    let mut ann = start(&app, sdk, &["thread", "ann", PASSWORD, "say", &tid, "in the thread"]);
    assert!(ann.next().await["sent"].is_string(), "{sdk}");
    ann.finished().await;
    let heard = bob.next().await;
    let mut listed = start(&app, sdk, &["thread", "bob", PASSWORD, "list", &gid]);
    let one = json!([[tid, gid, parent, "topic"]]);
    assert_eq!(listed.next().await, json!({"threads": one, "joined": one}), "{sdk}");
    listed.finished().await;
    let expected = json!({"received": "in the thread", "to": tid,
                          "chatThread": {"messageId": parent, "parentId": gid, "chatThreadName": "topic"}});
    assert_eq!(heard, expected, "{sdk}");

    // The backend removes bob from the thread: his SDK hears it.
    let (status, kicked) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/thread/{tid}/users"),
            Some(&app.app_token),
            Some(json!({"usernames": ["bob"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{kicked}");
    let heard = bob.next().await;
    let expected = json!({"thread": "userRemove", "id": tid, "parentId": gid, "name": "topic", "operator": "admin"});
    assert_eq!(heard, expected, "{sdk}");

    // A second thread, which bob joins and its owner ends: bob hears the end.
    let first = tid.clone();
    let body = json!({"from": "ann", "to": [gid], "type": "txt", "body": {"msg": "another topic"}});
    let (_, sent) = app.post("/messages/chatgroups", body).await;
    let parent = sent["data"][gid.as_str()].as_str().unwrap().to_owned();
    assert_eq!(bob.next().await["received"], "another topic", "{sdk}");
    let mut ann = start(&app, sdk, &["thread", "ann", PASSWORD, "create", &gid, &parent, "second"]);
    let tid = ann.next().await["created"].as_str().unwrap_or_default().to_owned();
    ann.finished().await;
    assert_eq!(bob.next().await["thread"], "create", "{sdk}");
    assert_eq!(bob.next().await, json!({"joined": tid}), "{sdk}");
    let mut ann = start(&app, sdk, &["thread", "ann", PASSWORD, "destroy", &tid]);
    assert_eq!(ann.next().await, json!({"destroyed": tid}), "{sdk}");
    ann.finished().await;
    let heard = bob.next().await;
    assert_eq!(
        (heard["thread"].as_str(), heard["id"].as_str()),
        (Some("destroy"), Some(tid.as_str())),
        "{sdk}: {heard}"
    );
    bob.finished().await;

    // The thread's messages are in the REST history as thread messages.
    let (status, history) = app.get("/chatmessages?ql=select+*+where+timestamp>0&limit=10").await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let said = history["entities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["to"] == first.as_str() && r["chat_type"] == "groupchat");
    assert!(said, "{history}");
}

#[tokio::test]
async fn the_websdk_uses_threads() {
    threads_work_with("websdk").await;
}

#[tokio::test]
async fn agora_chat_uses_threads() {
    threads_work_with("agora").await;
}

/// The server's refusals of a send, as the SDK reports them: blocked by the
/// receiver (603), muted in a group (507), not a member (602), a group that
/// does not exist (605); nothing refused is stored.
async fn refusals_reach(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    app.register(&["ann", "bob", "carol"]).await;
    let (status, body) = app.post("/users/bob/blocks/users", json!({"usernames": ["ann"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let group = json!({"groupname": "team", "desc": "d", "public": true, "owner": "carol", "members": ["ann"]});
    let (_, made) = app.post("/chatgroups", group).await;
    let gid = made["data"]["groupid"].as_str().unwrap().to_owned();
    let mute = json!({"usernames": ["ann"], "mute_duration": 60_000});
    let (status, body) = app.post(&format!("/chatgroups/{gid}/mute"), mute).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for (step, to, code) in [("refused1", "bob", 603), ("refused", gid.as_str(), 507), ("refused", "123456789", 605)] {
        let mut ann = start(&app, sdk, &[step, "ann", PASSWORD, to, "let me"]);
        let refused = ann.next().await;
        assert_eq!(refused["refused"], code, "{sdk}: {step} to {to}: {refused}");
        ann.finished().await;
    }
    let mut bob = start(&app, sdk, &["refused", "bob", PASSWORD, &gid, "let me in"]);
    let refused = bob.next().await;
    assert_eq!(refused["refused"], 602, "{sdk}: not a member: {refused}");
    bob.finished().await;
    let (_, count) = app.get("/users/bob/offline_msg_count").await;
    assert_eq!(count["data"]["bob"], 0, "nothing refused was stored: {count}");

    // Muted app-wide by the backend, for one-to-one chats.
    let (status, body) = app.post("/mutes", json!({"username": "ann", "chat": 60})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut ann = start(&app, sdk, &["refused1", "ann", PASSWORD, "carol", "let me"]);
    let refused = ann.next().await;
    assert_eq!(refused["refused"], 219, "{sdk}: muted app-wide: {refused}");
    ann.finished().await;
}

#[tokio::test]
async fn the_websdk_hears_the_servers_refusals() {
    refusals_reach("websdk").await;
}

#[tokio::test]
async fn agora_chat_hears_the_servers_refusals() {
    refusals_reach("agora").await;
}

/// Users manage their groups through the SDK with their own tokens, as far
/// as their role allows: the owner creates, invites, removes and destroys;
/// a member lists and leaves, and may not remove anyone; the others hear
/// each change.
async fn users_manage_groups_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    app.register(&["ann", "bob", "carol", "dave"]).await;
    let made = once(&app, sdk, &["group", "ann", PASSWORD, "create", "team", "bob"]).await;
    let gid = made["created"].as_str().unwrap_or_else(|| panic!("{sdk}: {made}")).to_owned();
    let (_, members) = app.get(&format!("/chatgroups/{gid}/users")).await;
    assert_eq!(members["data"].as_array().map(Vec::len), Some(2), "{sdk}: {members}");

    let mut bob = start(&app, sdk, &["events", "bob", PASSWORD, "2"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let act = |who: &'static str, action: &'static str, rest: Option<&'static str>| {
        let mut args = vec!["group", who, PASSWORD, action, gid.as_str()];
        args.extend(rest);
        let app = &app;
        async move { once(app, sdk, &args).await }
    };
    assert_eq!(act("ann", "invite", Some("carol,dave")).await, json!({"done": "invite"}), "{sdk}");
    let heard = bob.next().await;
    assert_eq!(
        (heard["group"].as_str(), heard["id"].as_str()),
        (Some("memberPresence"), Some(gid.as_str())),
        "{sdk}: {heard}"
    );
    assert_eq!(act("bob", "remove", Some("carol")).await, json!({"refused": 603}), "{sdk}: a member may not remove");
    assert_eq!(act("ann", "remove", Some("carol")).await, json!({"done": "remove"}), "{sdk}");
    let heard = bob.next().await;
    assert_eq!(heard["group"], "memberAbsence", "{sdk}: {heard}");
    bob.finished().await;
    assert_eq!(act("bob", "members", None).await, json!({"members": ["ann", "bob", "dave"]}), "{sdk}");
    assert_eq!(act("carol", "members", None).await, json!({"refused": 603}), "{sdk}: not a member any more");
    assert_eq!(act("dave", "quit", None).await, json!({"done": "quit"}), "{sdk}");
    assert_eq!(act("bob", "destroy", None).await, json!({"refused": 603}), "{sdk}: only the owner destroys");
    assert_eq!(act("ann", "destroy", None).await, json!({"done": "destroy"}), "{sdk}");
    let (status, _) = app.get(&format!("/chatgroups/{gid}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Runs one step to its end and returns its one line.
async fn once(app: &TestApp, sdk: &str, args: &[&str]) -> serde_json::Value {
    let mut step = start(app, sdk, args);
    let line = step.next().await;
    step.finished().await;
    line
}

#[tokio::test]
async fn the_websdk_manages_groups() {
    users_manage_groups_with("websdk").await;
}

#[tokio::test]
async fn agora_chat_manages_groups() {
    users_manage_groups_with("agora").await;
}

/// Two devices of one user (two resources): a message reaches both.
#[tokio::test]
async fn a_message_reaches_every_device_of_its_receiver() {
    ensure_installed();
    let app = spawn_app().await;
    app.register(&["ann", "bob"]).await;
    let mut phone = start(&app, "websdk", &["listen", "bob", PASSWORD]);
    assert_eq!(phone.next().await, json!({"opened": "bob"}));
    let mut laptop = start(&app, "agora", &["listen", "bob", PASSWORD]);
    assert_eq!(laptop.next().await, json!({"opened": "bob"}));
    let mut ann = start(&app, "websdk", &["send", "ann", PASSWORD, "bob", "to both"]);
    let id = ann.next().await["sent"].as_str().unwrap_or_default().to_owned();
    ann.finished().await;
    for device in [&mut phone, &mut laptop] {
        let got = device.next().await;
        assert_eq!((got["received"].as_str(), got["id"].as_str()), (Some("to both"), Some(id.as_str())), "{got}");
    }
    phone.finished().await;
    laptop.finished().await;
}

/// Every kick the SDK knows, each as its own error, and none reconnects:
/// the same device logging in again (206), the backend deactivating the
/// user (207), changing the password (216).
async fn kicks_reach(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    app.register(&["ann"]).await;

    let mut first = start(&app, sdk, &["kicked", "ann", PASSWORD, "tablet"]);
    assert_eq!(first.next().await, json!({"opened": "ann"}), "{sdk}");
    let mut again = start(&app, sdk, &["kicked", "ann", PASSWORD, "tablet"]);
    assert_eq!(again.next().await, json!({"opened": "ann"}), "{sdk}");
    assert_eq!(first.next().await["error"], 206, "{sdk}: logged in on another device");
    first.finished().await;

    let (status, body) = app.put("/users/ann/password", json!({"newpassword": "secret-2"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(again.next().await["error"], 216, "{sdk}: the password changed");
    again.finished().await;

    let mut last = start(&app, sdk, &["kicked", "ann", "secret-2"]);
    assert_eq!(last.next().await, json!({"opened": "ann"}), "{sdk}");
    let (status, body) = app.post("/users/ann/deactivate", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(last.next().await["error"], 207, "{sdk}: the user was removed");
    last.finished().await;
}

#[tokio::test]
async fn the_websdk_hears_every_kick() {
    kicks_reach("websdk").await;
}

#[tokio::test]
async fn agora_chat_hears_every_kick() {
    kicks_reach("agora").await;
}

/// A long run of messages hidden from the reader (deleted on their side)
/// ends a roaming page short; its `next_key` goes on past them, so paging
/// reaches what is older instead of starting over.
#[tokio::test]
async fn roaming_goes_on_past_a_long_hidden_run() {
    let app = spawn_app().await;
    app.register(&["ann", "bob"]).await;
    let old = app.send_text("ann", "bob", "old").await;
    let app_id = app.core.apps.by_name("demo", "chat").await.unwrap().unwrap().id;
    let old = confab_core::ids::MessageId(old.parse().unwrap());
    let old = app.core.messages.get(app_id, old).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let hidden_from = old.timestamp_ms + 2;
    let send = confab_core::messages::DirectSend {
        from: confab_core::model::Username::parse("ann").unwrap(),
        to: vec![confab_core::model::Username::parse("bob").unwrap()],
        body: confab_core::model::Body::Text { msg: "gone".into() },
        ext: None,
        delivery: confab_core::model::Delivery { sync_sender: false, online_only: false, sent_at: None },
        origin_device: None,
        line: 0,
        original: None,
    };
    for _ in 0..2_100 {
        app.core.messages.send_direct(old.app, send.clone()).await.unwrap();
    }
    let bob = confab_core::model::Username::parse("bob").unwrap();
    let now = confab_core::clock::Clock::now_ms(app.clock.as_ref());
    app.core.messages.clear_for_user(old.app, &bob, old.conversation, hidden_from, now).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    app.send_text("ann", "bob", "new").await;

    let token = app.user_token("bob").await;
    let mut texts = Vec::new();
    let mut start = json!(-1);
    for _ in 0..6 {
        let body = json!({"queue": "ann@easemob.com", "start": start, "pull_number": 1});
        let (status, page) =
            app.call(reqwest::Method::POST, "/users/bob/messageroaming", Some(&token), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        texts.extend(page["data"]["msgs"].as_array().unwrap().iter().map(|m| m["msg"].clone()));
        if page["data"]["is_last"] == true {
            break;
        }
        start = page["data"]["next_key"].clone();
        assert_ne!(start, json!(""), "a page that is not the last says where to go on: {page}");
    }
    assert_eq!(texts.len(), 2, "the new and the old message, nothing hidden: {texts:?}");
}
