//! The rest of the WildfireChat admin API its server SDKs call: sessions
//! and devices, user and system settings, friend requests, aliases and
//! extras, sensitive words, and robots with their callbacks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use serde_json::{json, Value};

use confab_client::{ConnectOptions, Connection, Event};
use confab_core::model::ChatType;
use confab_server::fetch::FetchPolicy;

use crate::helpers::{backlog, next, next_message, spawn_app, spawn_app_with, Storage, TestApp};

async fn call(app: &TestApp, path: &str, body: Value) -> Value {
    let answer = app.wildfire(path, body).await;
    assert_eq!(answer["code"], 0, "{path}: {answer}");
    answer.get("result").cloned().unwrap_or(Value::Null)
}

async fn code(app: &TestApp, path: &str, body: Value) -> i64 {
    app.wildfire(path, body).await["code"].as_i64().expect("a code")
}

async fn create(app: &TestApp, id: &str) {
    call(app, "/admin/user/create", json!({"userId": id, "name": id, "displayName": format!("{id}!")})).await;
}

async fn connect_as(app: &TestApp, id: &str, device: &str) -> Connection {
    let answer = call(app, "/admin/user/get_token", json!({"userId": id, "clientId": device, "platform": 2})).await;
    let token = answer["token"].as_str().expect("token");
    let options = ConnectOptions { device: Some(device.into()), ..Default::default() };
    let mut connection = Connection::connect(&app.endpoint().ws_url(), token, options).await.expect("logs in");
    backlog(&mut connection).await;
    connection
}

async fn kicked(connection: &mut Connection) {
    loop {
        match next(connection).await {
            Event::Kicked { .. } | Event::Closed => return,
            Event::Group { .. } | Event::Synced => continue,
            other => panic!("expected a kick, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn devices_are_listed_and_kicked_one_at_a_time() {
    let app = spawn_app().await;
    create(&app, "Ann").await;
    create(&app, "bob").await;
    let mut phone = connect_as(&app, "Ann", "phone").await;
    let _pad = connect_as(&app, "Ann", "pad").await;
    let _bob = connect_as(&app, "bob", "web").await;

    let status = call(&app, "/admin/user/onlinestatus", json!({"userId": "Ann"})).await;
    let clients: Vec<&str> =
        status["sessions"].as_array().unwrap().iter().map(|s| s["clientId"].as_str().unwrap()).collect();
    assert_eq!(clients, ["pad", "phone"]);
    assert!(status["sessions"].as_array().unwrap().iter().all(|s| s["status"] == 0 && s["userId"] == "Ann"));
    let sessions = call(&app, "/admin/user/session_list", json!({"userId": "Ann"})).await;
    assert_eq!(sessions["userSessions"].as_array().unwrap().len(), 2, "{sessions}");
    // IDs are case-sensitive: "ann" is another (unknown) user.
    let none = call(&app, "/admin/user/onlinestatus", json!({"userId": "ann"})).await;
    assert_eq!(none["sessions"], json!([]));

    let all = call(&app, "/admin/user/online_list", json!({"nodeId": 1, "offset": 0, "count": 10})).await;
    assert_eq!(all["totalCount"], 3, "{all}");
    let page = call(&app, "/admin/user/online_list", json!({"nodeId": 1, "offset": 1, "count": 1})).await;
    assert_eq!(page["userClients"].as_array().unwrap().len(), 1);
    assert_eq!(code(&app, "/admin/user/online_list", json!({"nodeId": 2, "offset": 0, "count": 10})).await, 251);

    // One device goes; the other stays.
    call(&app, "/admin/user/kickoff_client", json!({"first": "Ann", "second": "phone"})).await;
    kicked(&mut phone).await;
    let status = call(&app, "/admin/user/onlinestatus", json!({"userId": "Ann"})).await;
    assert_eq!(status["sessions"].as_array().unwrap().len(), 1, "{status}");
    assert_eq!(status["sessions"][0]["clientId"], "pad");
    // Without a device: all of them.
    call(&app, "/admin/user/kickoff_client", json!({"first": "Ann"})).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let status = call(&app, "/admin/user/onlinestatus", json!({"userId": "Ann"})).await;
        if status["sessions"] == json!([]) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "Ann's pad is still online: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(code(&app, "/admin/user/kickoff_client", json!({"first": "nobody"})).await, 253);
}

#[tokio::test]
async fn user_settings_and_batches_answer_what_was_stored() {
    let app = spawn_app().await;
    create(&app, "Ann").await;
    create(&app, "bob").await;
    // Conversation top, as the SDKs' `setConversationTop` writes it.
    call(&app, "/admin/user/put_setting", json!({"userId": "Ann", "scope": 3, "key": "0-0-bob", "value": "1"})).await;
    let got = call(&app, "/admin/user/get_setting", json!({"userId": "Ann", "scope": 3, "key": "0-0-bob"})).await;
    assert_eq!(
        (got["value"].as_str(), got["scope"].as_i64(), got["key"].as_str()),
        (Some("1"), Some(3), Some("0-0-bob"))
    );
    assert!(got["updateDt"].as_i64().unwrap() > 0);
    // Another scope, another user, or a key never set: 253.
    assert_eq!(
        code(&app, "/admin/user/get_setting", json!({"userId": "Ann", "scope": 4, "key": "0-0-bob"})).await,
        253
    );
    assert_eq!(
        code(&app, "/admin/user/get_setting", json!({"userId": "bob", "scope": 3, "key": "0-0-bob"})).await,
        253
    );
    assert_eq!(code(&app, "/admin/user/put_setting", json!({"userId": "nobody", "scope": 3, "key": "k"})).await, 253);
    let huge = "x".repeat(17 * 1024);
    assert_eq!(
        code(&app, "/admin/user/put_setting", json!({"userId": "Ann", "scope": 3, "key": "k", "value": huge})).await,
        251
    );

    let infos = call(&app, "/admin/user/batch_get_infos", json!({"list": ["bob", "nobody", "Ann"]})).await;
    let ids: Vec<&str> = infos["userInfos"].as_array().unwrap().iter().map(|u| u["userId"].as_str().unwrap()).collect();
    assert_eq!(ids, ["bob", "Ann"]);
    assert_eq!(infos["userInfos"][1]["displayName"], "Ann!");

    for id in ["g1", "g2"] {
        let group =
            json!({"group_info": {"target_id": id, "owner": "Ann", "name": id}, "members": [{"member_id": "Ann"}]});
        call(&app, "/admin/group/create", json!({"operator": "Ann", "group": group})).await;
    }
    let groups = call(&app, "/admin/group/batch_infos", json!(["g2", "missing", "g1"])).await;
    let ids: Vec<&str> =
        groups["groupInfos"].as_array().unwrap().iter().map(|g| g["target_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["g2", "g1"]);
}

#[tokio::test]
async fn friend_requests_aliases_and_extras_follow_the_relation() {
    let app = spawn_app().await;
    for id in ["ff1", "ff2", "ff3"] {
        create(&app, id).await;
    }
    call(
        &app,
        "/admin/friend/send_request",
        json!({"userId": "ff1", "friendUid": "ff2", "reason": "hello", "force": true}),
    )
    .await;
    let requests = call(&app, "/admin/friend/get_requests", json!({"userId": "ff2"})).await;
    assert_eq!(requests["requests"][0]["target"], "ff1", "{requests}");
    assert_eq!(requests["requests"][0]["reason"], "hello");
    assert_eq!(requests["requests"][0]["status"], 0);

    call(
        &app,
        "/admin/friend/status",
        json!({"userId": "ff1", "friendUid": "ff2", "status": 0, "extra": "{\"from\":0}"}),
    )
    .await;
    let relation = call(&app, "/admin/relation/get", json!({"first": "ff1", "second": "ff2"})).await;
    assert_eq!(relation["extra"], "{\"from\":0}", "friend/status keeps its extra: {relation}");
    let requests = call(&app, "/admin/friend/get_requests", json!({"userId": "ff2"})).await;
    assert_eq!(requests["requests"][0]["status"], 1, "accepted once they are friends: {requests}");
    // Friends already: 23; blacklisted by the one asked: 246.
    assert_eq!(code(&app, "/admin/friend/send_request", json!({"userId": "ff2", "friendUid": "ff1"})).await, 23);
    call(&app, "/admin/blacklist/status", json!({"userId": "ff3", "targetUid": "ff1", "status": 2})).await;
    assert_eq!(code(&app, "/admin/friend/send_request", json!({"userId": "ff1", "friendUid": "ff3"})).await, 246);

    call(&app, "/admin/friend/set_alias", json!({"operator": "ff1", "targetId": "ff2", "alias": "Two"})).await;
    call(&app, "/admin/friend/set_extra", json!({"operator": "ff1", "targetId": "ff2", "extra": "{\"from\":1}"})).await;
    let alias = call(&app, "/admin/friend/get_alias", json!({"operator": "ff1", "targetId": "ff2"})).await;
    assert_eq!(alias, json!({"operator": "ff1", "targetId": "ff2", "alias": "Two"}));
    let relation = call(&app, "/admin/relation/get", json!({"first": "ff1", "second": "ff2"})).await;
    assert_eq!(relation["isFriend"], true);
    assert_eq!(relation["alias"], "Two");
    assert_eq!(relation["extra"], "{\"from\":1}");
    // The other way round there is none, and clearing removes it.
    let other = call(&app, "/admin/friend/get_alias", json!({"operator": "ff2", "targetId": "ff1"})).await;
    assert_eq!(other["alias"], Value::Null);
    call(&app, "/admin/friend/set_alias", json!({"operator": "ff1", "targetId": "ff2", "alias": ""})).await;
    let alias = call(&app, "/admin/friend/get_alias", json!({"operator": "ff1", "targetId": "ff2"})).await;
    assert_eq!(alias["alias"], Value::Null);
    assert_eq!(
        code(&app, "/admin/friend/set_alias", json!({"operator": "ff1", "targetId": "nobody", "alias": "x"})).await,
        253
    );
}

#[tokio::test]
async fn group_members_aliases_and_extras_show_in_member_calls() {
    let app = spawn_app().await;
    for id in ["user1", "user2", "user3"] {
        create(&app, id).await;
    }
    let members = json!([{"member_id": "user1"}, {"member_id": "user2"}, {"member_id": "user3"}]);
    let group = json!({"group_info": {"target_id": "groupId1", "owner": "user1", "name": "g"}, "members": members});
    call(&app, "/admin/group/create", json!({"operator": "user1", "group": group})).await;
    let alias = json!({"operator": "user1", "group_id": "groupId1", "memberId": "user3", "alias": "test user3"});
    call(&app, "/admin/group/member/set_alias", alias).await;
    let extra =
        json!({"operator": "user1", "group_id": "groupId1", "memberId": "user1", "extra": "hello member extra2"});
    call(&app, "/admin/group/member/set_extra", extra).await;

    let member = call(&app, "/admin/group/member/get", json!({"groupId": "groupId1", "memberId": "user3"})).await;
    assert_eq!(member["alias"], "test user3", "{member}");
    let owner = call(&app, "/admin/group/member/get", json!({"groupId": "groupId1", "memberId": "user1"})).await;
    assert_eq!(owner["extra"], "hello member extra2");
    let list = call(&app, "/admin/group/member/list", json!({"groupId": "groupId1"})).await;
    let user3 = list["members"].as_array().unwrap().iter().find(|m| m["member_id"] == "user3").unwrap().clone();
    assert_eq!(user3["alias"], "test user3");

    // Someone not in the group may have one (the vendor keeps what was noted
    // about members who left); a group that does not exist is 253. A member
    // who leaves through this dialect loses theirs.
    let stranger = json!({"operator": "user1", "group_id": "groupId1", "memberId": "nobody", "alias": "x"});
    assert_eq!(code(&app, "/admin/group/member/set_alias", stranger).await, 0);
    let no_group = json!({"operator": "user1", "group_id": "nope", "memberId": "user1", "alias": "x"});
    assert_eq!(code(&app, "/admin/group/member/set_alias", no_group).await, 253);
    call(&app, "/admin/group/member/quit", json!({"operator": "user3", "group_id": "groupId1"})).await;
    call(
        &app,
        "/admin/group/member/add",
        json!({"operator": "user1", "group_id": "groupId1", "members": [{"member_id": "user3"}]}),
    )
    .await;
    let member = call(&app, "/admin/group/member/get", json!({"groupId": "groupId1", "memberId": "user3"})).await;
    assert_eq!(member["alias"], "", "{member}");
}

#[tokio::test]
async fn sensitive_words_screen_users_own_sends_as_the_app_says() {
    let app = spawn_app().await;
    for id in ["ann", "bob"] {
        create(&app, id).await;
    }
    call(&app, "/admin/sensitive/add", json!({"words": ["Spam", "scam"]})).await;
    assert_eq!(call(&app, "/admin/sensitive/query", Value::Null).await, json!({"words": ["scam", "spam"]}));
    assert_eq!(code(&app, "/admin/sensitive/add", json!({"words": []})).await, 251);

    let ann = connect_as(&app, "ann", "phone").await;
    let mut bob = connect_as(&app, "bob", "phone").await;
    // Refused by default, whatever the case.
    let refused = ann.send("bob", json!({"type": "txt", "msg": "buy SPAM now"}), None).await.unwrap_err();
    assert!(refused.to_string().contains("sensitive_words"), "{refused}");
    // The app's backend is trusted, as on the vendor's server.
    let conv = json!({"type": 0, "target": "bob", "line": 0});
    let payload = json!({"type": 1, "searchableContent": "spam from the backend"});
    call(&app, "/admin/message/send", json!({"sender": "ann", "conv": conv, "payload": payload})).await;
    assert_eq!(next_message(&mut bob).await.body["msg"], "spam from the backend");

    // Replaced, when the app says so.
    let app_id = app.core.apps.by_name("demo", "chat").await.unwrap().unwrap().id;
    app.core.moderation.set_strategy(app_id, confab_core::moderation::Strategy::Replace).await.unwrap();
    ann.send("bob", json!({"type": "txt", "msg": "a scam, a Spam"}), None).await.unwrap();
    assert_eq!(next_message(&mut bob).await.body["msg"], "a ***, a ***");

    // Words taken off no longer match.
    call(&app, "/admin/sensitive/del", json!({"words": ["spam", "scam"]})).await;
    assert_eq!(call(&app, "/admin/sensitive/query", Value::Null).await, json!({"words": []}));
    ann.send("bob", json!({"type": "txt", "msg": "spam"}), None).await.unwrap();
    assert_eq!(next_message(&mut bob).await.body["msg"], "spam");
}

#[tokio::test]
async fn system_settings_are_kept_and_set_new_groups_size() {
    let app = spawn_app().await;
    create(&app, "user1").await;
    // Setting 1 has the default cap before anyone sets it; others are 253.
    assert_eq!(call(&app, "/admin/system/get_setting", json!({"id": 1})).await["value"], "2000");
    assert_eq!(code(&app, "/admin/system/get_setting", json!({"id": 7})).await, 253);
    call(&app, "/admin/system/put_setting", json!({"id": 1, "value": "3", "desc": "最大群人数为3"})).await;
    let got = call(&app, "/admin/system/get_setting", json!({"id": 1})).await;
    assert_eq!(got, json!({"id": 1, "value": "3", "desc": "最大群人数为3"}));
    assert_eq!(code(&app, "/admin/system/put_setting", json!({"id": 1})).await, 251);
    assert_eq!(code(&app, "/admin/system/put_setting", json!({"id": 1, "value": "many"})).await, 251);

    let group = json!({"group_info": {"target_id": "small", "owner": "user1", "name": "s"}, "members": []});
    call(&app, "/admin/group/create", json!({"operator": "user1", "group": group})).await;
    let info = call(&app, "/admin/group/get_info", json!({"groupId": "small"})).await;
    assert_eq!(info["max_member_count"], 3, "{info}");
}

/// A robot's callback: a local HTTP server that records what it is posted,
/// and fails while `down` is set.
struct Callback {
    url: String,
    got: Arc<Mutex<Vec<Value>>>,
    down: Arc<std::sync::atomic::AtomicBool>,
}

async fn callback_server() -> Callback {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let down: Arc<std::sync::atomic::AtomicBool> = Arc::default();
    let (g, d) = (got.clone(), down.clone());
    let router = axum::Router::new().route(
        "/robot",
        post(move |axum::Json(body): axum::Json<Value>| {
            let (g, d) = (g.clone(), d.clone());
            async move {
                if d.load(std::sync::atomic::Ordering::SeqCst) {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                g.lock().unwrap().push(body);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/robot", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Callback { url, got, down }
}

async fn wait_for(got: &Arc<Mutex<Vec<Value>>>, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = got.lock().unwrap().clone();
        if now.len() >= n {
            return now;
        }
        assert!(tokio::time::Instant::now() < deadline, "the callback got {} of {n}: {now:?}", now.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn robots_have_owners_and_their_callbacks_hear_every_message_once() {
    let app = spawn_app_with(Storage::fresh().await, |config| {
        config.fetch_allow_private = FetchPolicy::parse("127.0.0.1").unwrap();
    })
    .await;
    let callback = callback_server().await;
    create(&app, "owner1").await;
    create(&app, "ann").await;
    let robot = json!({"userId": "robot1", "name": "robot1", "displayName": "Robot", "owner": "owner1",
                       "secret": "robotsecret", "callback": callback.url, "robotExtra": "x"});
    let created = call(&app, "/admin/robot/create", robot).await;
    assert_eq!(created, json!({"userId": "robot1", "secret": "robotsecret"}));
    let info = call(&app, "/admin/user/get_robot_info", json!({"robotId": "robot1"})).await;
    assert_eq!((info["owner"].as_str(), info["callback"].as_str()), (Some("owner1"), Some(callback.url.as_str())));
    assert_eq!((info["displayName"].as_str(), info["type"].as_i64()), (Some("Robot"), Some(1)));
    assert_eq!(
        call(&app, "/admin/user/get_user_robots", json!({"userId": "owner1"})).await,
        json!({"list": ["robot1"]})
    );
    assert_eq!(code(&app, "/admin/user/get_robot_info", json!({"robotId": "ann"})).await, 253);
    // Without an owner or a secret, as the vendor's: its own owner, a made-up secret.
    let bare = call(&app, "/admin/robot/create", json!({"name": "bare"})).await;
    let bare_id = bare["userId"].as_str().unwrap();
    assert!(bare["secret"].as_str().unwrap().len() >= 16);
    let bare_info = call(&app, "/admin/user/get_robot_info", json!({"robotId": bare_id})).await;
    assert_eq!(bare_info["owner"], bare_id);

    // A message to the robot reaches the callback in the vendor's shape.
    let conv = json!({"type": 0, "target": "robot1", "line": 0});
    let payload = json!({"type": 1, "searchableContent": "hi robot"});
    let sent = call(&app, "/admin/message/send", json!({"sender": "ann", "conv": conv, "payload": payload})).await;
    let got = wait_for(&callback.got, 1).await;
    assert_eq!(got[0]["sender"], "ann");
    assert_eq!(got[0]["conv"]["target"], "robot1");
    assert_eq!(got[0]["payload"]["searchableContent"], "hi robot");
    assert_eq!(got[0]["messageId"], sent["messageUid"]);

    // While the callback fails, messages wait; then arrive in order, once each.
    callback.down.store(true, std::sync::atomic::Ordering::SeqCst);
    for text in ["two", "three"] {
        let payload = json!({"type": 1, "searchableContent": text});
        call(&app, "/admin/message/send", json!({"sender": "ann", "conv": conv, "payload": payload})).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(callback.got.lock().unwrap().len(), 1);
    callback.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let got = wait_for(&callback.got, 3).await;
    let texts: Vec<&str> = got.iter().map(|m| m["payload"]["searchableContent"].as_str().unwrap()).collect();
    assert_eq!(texts, ["hi robot", "two", "three"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(callback.got.lock().unwrap().len(), 3, "nothing twice");

    // Destroying the robot's user forgets the robot.
    call(&app, "/admin/user/destroy", json!({"userId": "robot1"})).await;
    assert_eq!(code(&app, "/admin/user/get_robot_info", json!({"robotId": "robot1"})).await, 253);
    assert_eq!(call(&app, "/admin/user/get_user_robots", json!({"userId": "owner1"})).await, json!({"list": []}));
}

/// A robot or channel API call signed with `secret`; the envelope.
async fn service(app: &TestApp, id_header: &str, id: &str, secret: &str, path: &str, body: Value) -> Value {
    crate::helpers::wildfire_service_call(&app.http, app.addr, id_header, id, secret, path, &body).await
}

#[tokio::test]
async fn robot_and_channel_apis_act_as_their_caller_and_nothing_more() {
    let app = spawn_app().await;
    for id in ["ann", "bob"] {
        create(&app, id).await;
    }
    call(&app, "/admin/robot/create", json!({"userId": "bot", "name": "bot", "secret": "s3cret", "owner": "ann"}))
        .await;
    let robot = |path: &'static str, body: Value| service(&app, "rid", "bot", "s3cret", path, body);

    // Signatures: a wrong secret is 244, an unknown robot 253, none 239.
    assert_eq!(service(&app, "rid", "bot", "wrong", "/robot/profile", Value::Null).await["code"], 244);
    assert_eq!(service(&app, "rid", "ghost", "s3cret", "/robot/profile", Value::Null).await["code"], 253);
    let unsigned = app.http.post(format!("http://{}/robot/profile", app.addr)).send().await.unwrap();
    assert_eq!(unsigned.json::<Value>().await.unwrap()["code"], 239);
    // The profile leaves the secret out.
    let profile = robot("/robot/profile", Value::Null).await;
    assert_eq!(profile["result"]["owner"], "ann", "{profile}");
    assert!(profile["result"].get("secret").is_none(), "{profile}");

    // It sends as itself, whatever `sender` says, and a client sees it.
    let mut bob = connect_as(&app, "bob", "phone").await;
    let send = json!({"sender": "ann", "conv": {"type": 0, "target": "bob", "line": 0}, "payload": {"type": 1, "searchableContent": "beep"}});
    assert_eq!(robot("/robot/message/send", send.clone()).await["code"], 0);
    let got = next_message(&mut bob).await;
    assert_eq!((got.from.as_str(), got.body["msg"].as_str()), ("bot", Some("beep")));
    // Its sends are a user's: sensitive words apply (the admin API's do not).
    call(&app, "/admin/sensitive/add", json!({"words": ["beep"]})).await;
    assert_eq!(robot("/robot/message/send", send).await["code"], 242);
    // In a group it does not own it may read but not dismiss; in one it is
    // not in, it may do nothing.
    let group =
        json!({"group_info": {"target_id": "g", "owner": "ann", "name": "g"}, "members": [{"member_id": "bot"}]});
    call(&app, "/admin/group/create", json!({"operator": "ann", "group": group})).await;
    assert_eq!(robot("/robot/group/get_info", json!({"groupId": "g"})).await["code"], 0);
    assert_eq!(robot("/robot/group/del", json!({"group_id": "g"})).await["code"], 248);
    assert_eq!(robot("/robot/group/member/del", json!({"group_id": "g", "members": ["ann"]})).await["code"], 248);
    let other = json!({"group_info": {"target_id": "h", "owner": "ann", "name": "h"}, "members": []});
    call(&app, "/admin/group/create", json!({"operator": "ann", "group": other})).await;
    assert_eq!(robot("/robot/group/get_info", json!({"groupId": "h"})).await["code"], 248);
    // It recalls only its own messages.
    let conv = json!({"type": 0, "target": "bob", "line": 0});
    let anns = call(
        &app,
        "/admin/message/send",
        json!({"sender": "ann", "conv": conv, "payload": {"type": 1, "searchableContent": "hi"}}),
    )
    .await;
    assert_eq!(robot("/robot/message/recall", json!({"messageUid": anns["messageUid"]})).await["code"], 248);
    assert_eq!(next_message(&mut bob).await.body["msg"], "hi");

    // A channel sends as its owner to its subscribers; its secret is its own.
    let made = json!({"name": "news", "owner": "ann", "secret": "chsecret", "targetId": "news"});
    call(&app, "/admin/channel/create", made).await;
    let channel = |path: &'static str, body: Value| service(&app, "cid", "news", "chsecret", path, body);
    assert_eq!(service(&app, "cid", "news", "s3cret", "/channel/get_profile", Value::Null).await["code"], 244);
    assert_eq!(channel("/channel/subscribe", json!({"target": "bob", "subscribe": 1})).await["code"], 0);
    assert_eq!(channel("/channel/is_subscriber", json!({"userId": "bob"})).await["result"], true);
    assert_eq!(channel("/channel/is_subscriber", json!({"userId": "ann"})).await["result"], false);
    let sent = channel("/channel/message/send", json!({"payload": {"type": 1, "searchableContent": "extra!"}})).await;
    assert_eq!(sent["code"], 0, "{sent}");
    let got = loop {
        match next(&mut bob).await {
            Event::Message(m) => break m,
            Event::Group { .. } => continue,
            other => panic!("expected the channel's message, got {other:?}"),
        }
    };
    assert_eq!((got.from.as_str(), got.to.as_str(), got.chat_type.as_str()), ("ann", "news", "channel"));
    assert_eq!(channel("/channel/update_profile", json!({"type": 4, "value": "newsecret"})).await["code"], 0);
    assert_eq!(channel("/channel/get_profile", Value::Null).await["code"], 244, "the old secret no longer signs");
    // Robots and channels are not served on the admin-only listener's paths
    // under /admin, and unknown service paths are the dialect's 254.
    let unknown = service(&app, "rid", "bot", "s3cret", "/robot/no_such_call", Value::Null).await;
    assert_eq!(unknown["code"], 254);
}

#[tokio::test]
async fn destroyed_rooms_end_and_their_ids_may_be_used_again() {
    let app = spawn_app().await;
    create(&app, "ann").await;
    // A room: ended after `del`, as the vendor keeps it.
    call(&app, "/admin/chatroom/create", json!({"chatroomId": "r1", "title": "first"})).await;
    // Creating a room that exists updates it.
    call(&app, "/admin/chatroom/create", json!({"chatroomId": "r1", "title": "second"})).await;
    assert_eq!(call(&app, "/admin/chatroom/info", json!({"chatroomId": "r1"})).await["title"], "second");
    call(&app, "/admin/chatroom/del", json!({"chatroomId": "r1"})).await;
    let ended = call(&app, "/admin/chatroom/info", json!({"chatroomId": "r1"})).await;
    assert_eq!((ended["state"].as_i64(), ended["title"].as_str()), (Some(2), Some("second")));
    // The ID may be used again, as the vendor allows: a new room, with none
    // of the old one's history, and no longer ended.
    let again = app.wildfire("/admin/chatroom/create", json!({"chatroomId": "r1", "title": "third"})).await;
    assert_eq!(again["code"], 0, "{again}");
    let info = call(&app, "/admin/chatroom/info", json!({"chatroomId": "r1"})).await;
    assert_eq!((info["state"].as_i64(), info["title"].as_str()), (Some(0), Some("third")), "{info}");
    // A dismissed group's ID is free again too (the vendor refuses 11 only
    // while the group is not deleted); the new group starts empty.
    create(&app, "bob").await;
    let group = |members: Value| json!({"operator": "ann", "group": {"group_info": {"target_id": "g1", "name": "g", "type": 2}, "members": members}});
    call(&app, "/admin/group/create", group(json!([{"member_id": "ann"}, {"member_id": "bob"}]))).await;
    let payload = json!({"type": 1, "searchableContent": "before"});
    let conv = json!({"type": 1, "target": "g1", "line": 0});
    let sent = call(&app, "/admin/message/send", json!({"sender": "ann", "conv": conv, "payload": payload})).await;
    let taken = app.wildfire("/admin/group/create", group(json!([{"member_id": "ann"}]))).await;
    assert_eq!(taken["code"], 11, "{taken}");
    let demo = app.core.apps.by_name("demo", "chat").await.unwrap().expect("the first app").id;
    let conversation = |app: &TestApp| {
        let core = app.core.clone();
        async move { core.messages.conversation(demo, ChatType::GroupChat, "g1").await.unwrap() }
    };
    let first = conversation(&app).await.expect("the group's conversation");
    call(&app, "/admin/group/del", json!({"operator": "ann", "group_id": "g1"})).await;
    call(&app, "/admin/group/create", group(json!([{"member_id": "ann"}]))).await;
    let members = call(&app, "/admin/group/member/list", json!({"groupId": "g1"})).await;
    assert_eq!(members["members"].as_array().map(Vec::len), Some(1), "{members}");
    let second = conversation(&app).await.expect("the new group's conversation");
    assert_ne!(first, second, "the new group is a new conversation, with none of the old one's messages");
    // The old group's message is still stored, as the vendor keeps it.
    let old = call(&app, "/admin/message/get_one", json!({"messageUid": sent["messageUid"]})).await;
    assert_eq!(old["conv"]["target"], "g1", "{old}");
    // A channel: the deleted bit after `destroy`.
    call(&app, "/admin/channel/create", json!({"name": "news", "owner": "ann", "targetId": "c1"})).await;
    call(&app, "/admin/channel/destroy", json!({"channelId": "c1"})).await;
    let gone = call(&app, "/admin/channel/get", json!({"channelId": "c1"})).await;
    assert_eq!(gone["state"].as_i64().unwrap() & 0x40, 0x40, "{gone}");
}
