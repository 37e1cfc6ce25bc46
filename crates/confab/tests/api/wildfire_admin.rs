//! The WildfireChat admin API beyond the seed's 16 IDs, as the vendor's
//! server SDKs call it: user block status, listing and finding users,
//! online counts.

use serde_json::{json, Value};

use confab_client::{ConnectOptions, Connection, Event};
use confab_core::clock::Clock as _;

use crate::helpers::{backlog, next, spawn_app, TestApp};

async fn call(app: &TestApp, path: &str, body: Value) -> Value {
    let answer = app.wildfire(path, body).await;
    assert_eq!(answer["code"], 0, "{path}: {answer}");
    answer.get("result").cloned().unwrap_or(Value::Null)
}

async fn create(app: &TestApp, id: &str, fields: Value) {
    let mut body = json!({"userId": id, "name": id});
    if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) {
        body.extend(fields);
    }
    call(app, "/admin/user/create", body).await;
}

async fn token(app: &TestApp, id: &str) -> String {
    let answer = call(app, "/admin/user/get_token", json!({"userId": id, "clientId": "c1", "platform": 5})).await;
    answer["token"].as_str().expect("token").to_owned()
}

async fn connect(app: &TestApp, id: &str) -> anyhow::Result<Connection> {
    let token = token(app, id).await;
    Connection::connect(&app.endpoint().ws_url(), &token, ConnectOptions::default()).await
}

#[tokio::test]
async fn block_status_forbids_mutes_and_restores_users_in_every_protocol() {
    let app = spawn_app().await;
    for id in ["alice", "bob", "carol"] {
        create(&app, id, json!({})).await;
    }
    let mut alice = connect(&app, "alice").await.expect("alice logs in");
    backlog(&mut alice).await;
    assert_eq!(call(&app, "/admin/user/check_block_status", json!({"userId": "alice"})).await, json!({"status": 0}));

    // Forbidden: kicked now, and no login afterwards, with old or new tokens.
    let old_token = token(&app, "alice").await;
    call(&app, "/admin/user/update_block_status", json!({"userId": "alice", "status": 2})).await;
    loop {
        match next(&mut alice).await {
            Event::Kicked { .. } => break,
            Event::Group { .. } | Event::Synced => continue,
            other => panic!("expected a kick, got {other:?}"),
        }
    }
    assert!(Connection::connect(&app.endpoint().ws_url(), &old_token, ConnectOptions::default()).await.is_err());
    // confab refuses the token itself (the vendor issues one that its connect then refuses).
    let refused = app.wildfire("/admin/user/get_token", json!({"userId": "alice", "clientId": "c1"})).await;
    assert_eq!(refused["code"], 248, "{refused}");
    let (status, body) = app.post("/token", json!({"grant_type": "inherit", "username": "alice"})).await;
    assert!(status.is_client_error(), "nor does the Easemob dialect give one: {body}");
    assert_eq!(call(&app, "/admin/user/check_block_status", json!({"userId": "alice"})).await, json!({"status": 2}));

    // Muted: logs in, but cannot send.
    call(&app, "/admin/user/update_block_status", json!({"userId": "bob", "status": 1})).await;
    assert_eq!(call(&app, "/admin/user/check_block_status", json!({"userId": "bob"})).await, json!({"status": 1}));
    let mut bob = connect(&app, "bob").await.expect("a muted user logs in");
    backlog(&mut bob).await;
    let refused = bob.send("carol", json!({"type": "txt", "msg": "hi"}), None).await;
    assert!(refused.is_err(), "a muted user's send is refused");

    let blocked = call(&app, "/admin/user/get_blocked_list", Value::Null).await;
    let mut list: Vec<(String, i64)> = blocked["statusList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["userId"].as_str().unwrap().to_owned(), e["status"].as_i64().unwrap()))
        .collect();
    list.sort();
    assert_eq!(list, [("alice".to_owned(), 2), ("bob".to_owned(), 1)]);

    // Normal again: both log in and send.
    for id in ["alice", "bob"] {
        call(&app, "/admin/user/update_block_status", json!({"userId": id, "status": 0})).await;
        let mut connection = connect(&app, id).await.expect("restored users log in");
        backlog(&mut connection).await;
        connection.send("carol", json!({"type": "txt", "msg": "back"}), None).await.expect("and send");
    }
    let empty = call(&app, "/admin/user/get_blocked_list", json!({})).await;
    assert_eq!(empty["statusList"], json!([]));
    // Unknown status codes and unknown users.
    let bad = app.wildfire("/admin/user/update_block_status", json!({"userId": "alice", "status": 7})).await;
    assert_eq!(bad["code"], 251, "{bad}");
    let unknown = app.wildfire("/admin/user/update_block_status", json!({"userId": "nobody", "status": 2})).await;
    assert_eq!(unknown["code"], 253, "{unknown}");
    assert_eq!(call(&app, "/admin/user/check_block_status", json!({"userId": "nobody"})).await, json!({"status": 0}));
}

#[tokio::test]
async fn users_are_listed_and_found_by_name_mobile_and_email() {
    let app = spawn_app().await;
    for (id, mobile, email) in
        [("u1", "100", "a@x.com"), ("u2", "200", "b@x.com"), ("u3", "300", "a@x.com"), ("u4", "400", "c@x.com")]
    {
        create(&app, id, json!({"displayName": id.to_uppercase(), "mobile": mobile, "email": email})).await;
    }
    let page = call(&app, "/admin/user/all", json!({"count": 2, "offset": 1})).await;
    let ids: Vec<&str> =
        page["userInfoList"].as_array().unwrap().iter().map(|u| u["userId"].as_str().unwrap()).collect();
    assert_eq!(ids, ["u2", "u3"]);
    assert_eq!(page["userInfoList"][0]["displayName"], "U2");
    let rest = call(&app, "/admin/user/all", json!({"count": 10, "offset": 3})).await;
    assert_eq!(rest["userInfoList"].as_array().unwrap().len(), 1);
    let bad = app.wildfire("/admin/user/all", json!({"count": 0, "offset": 0})).await;
    assert_eq!(bad["code"], 251, "{bad}");

    // A user created without an ID is found by its name.
    let made = call(&app, "/admin/user/create", json!({"name": "Zoe Name", "mobile": "555"})).await;
    let zoe = made["userId"].as_str().unwrap();
    let by_name = call(&app, "/admin/user/get_info", json!({"name": "Zoe Name"})).await;
    assert_eq!(by_name["userId"], zoe);
    let by_mobile = call(&app, "/admin/user/get_info", json!({"mobile": "200"})).await;
    assert_eq!(by_mobile["userId"], "u2");
    let missing = app.wildfire("/admin/user/get_info", json!({"mobile": "999"})).await;
    assert_eq!(missing["code"], 253, "{missing}");

    // The e-mail call's body is the address itself.
    let by_email = call(&app, "/admin/user/get_info_by_email", json!("a@x.com")).await;
    let ids: Vec<&str> =
        by_email["userInfos"].as_array().unwrap().iter().map(|u| u["userId"].as_str().unwrap()).collect();
    assert_eq!(ids, ["u1", "u3"]);
    let none = app.wildfire("/admin/user/get_info_by_email", json!("z@x.com")).await;
    assert_eq!(none["code"], 253, "{none}");
}

#[tokio::test]
async fn online_count_counts_connected_users() {
    let app = spawn_app().await;
    for id in ["alice", "bob"] {
        create(&app, id, json!({})).await;
    }
    assert_eq!(call(&app, "/admin/user/online_count", Value::Null).await, json!([{"node": 1, "count": 0}]));
    let mut alice = connect(&app, "alice").await.unwrap();
    backlog(&mut alice).await;
    assert_eq!(call(&app, "/admin/user/online_count", Value::Null).await, json!([{"node": 1, "count": 1}]));
}

#[tokio::test]
async fn friends_and_blacklists_are_the_contacts_and_blocks_every_dialect_sees() {
    let app = spawn_app().await;
    for id in ["alice", "bob", "carol"] {
        create(&app, id, json!({})).await;
    }
    call(&app, "/admin/friend/status", json!({"userId": "alice", "friendUid": "bob", "status": 0})).await;
    app.clock.advance_ms(5);
    call(&app, "/admin/friend/status", json!({"userId": "alice", "friendUid": "carol", "status": 0, "extra": "x"}))
        .await;
    // Oldest first, and both ways.
    assert_eq!(call(&app, "/admin/friend/list", json!({"userId": "alice"})).await, json!({"list": ["bob", "carol"]}));
    assert_eq!(call(&app, "/admin/friend/list", json!({"userId": "bob"})).await, json!({"list": ["alice"]}));
    // The Easemob dialect sees the same contacts.
    let (_, contacts) = app.get("/users/alice/contacts/users").await;
    let mut names: Vec<&str> = contacts["data"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["bob", "carol"]);
    call(&app, "/admin/friend/status", json!({"userId": "alice", "friendUid": "carol", "status": 1})).await;
    assert_eq!(call(&app, "/admin/friend/list", json!({"userId": "carol"})).await, json!({"list": []}));

    // A blacklisted user's messages to alice are refused over the gateway.
    call(&app, "/admin/blacklist/status", json!({"userId": "alice", "targetUid": "carol", "status": 2})).await;
    assert_eq!(call(&app, "/admin/blacklist/list", json!({"userId": "alice"})).await, json!({"list": ["carol"]}));
    let mut carol = connect(&app, "carol").await.unwrap();
    backlog(&mut carol).await;
    assert!(carol.send("alice", json!({"type": "txt", "msg": "hi"}), None).await.is_err());
    let relation = call(&app, "/admin/relation/get", json!({"first": "alice", "second": "carol"})).await;
    assert_eq!(relation["isBlacked"], true);
    assert_eq!(relation["isFriend"], false);
    let relation = call(&app, "/admin/relation/get", json!({"first": "alice", "second": "bob"})).await;
    assert_eq!((relation["isFriend"].clone(), relation["isBlacked"].clone()), (json!(true), json!(false)));
    call(&app, "/admin/blacklist/status", json!({"userId": "alice", "targetUid": "carol", "status": 1})).await;
    carol.send("alice", json!({"type": "txt", "msg": "hi again"}), None).await.expect("no longer blocked");

    for (path, body) in [
        ("/admin/friend/status", json!({"userId": "alice", "friendUid": "bob", "status": 5})),
        ("/admin/blacklist/status", json!({"userId": "alice", "targetUid": "bob", "status": 0})),
        ("/admin/friend/status", json!({"userId": "alice", "friendUid": "alice", "status": 0})),
    ] {
        let answer = app.wildfire(path, body).await;
        assert_eq!(answer["code"], 251, "{path}: {answer}");
    }
    let unknown =
        app.wildfire("/admin/friend/status", json!({"userId": "alice", "friendUid": "nobody", "status": 0})).await;
    assert_eq!(unknown["code"], 253, "{unknown}");
}

async fn group(app: &TestApp, id: &str, owner: &str, members: &[&str]) {
    let members: Vec<Value> = members.iter().map(|m| json!({"member_id": m})).collect();
    let body = json!({"operator": owner, "group": {"group_info": {"target_id": id, "name": id, "owner": owner, "type": 2}, "members": members}});
    call(app, "/admin/group/create", body).await;
}

fn ids(value: &Value) -> Vec<String> {
    let mut out: Vec<String> =
        value["groupIds"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    out.sort();
    out
}

#[tokio::test]
async fn groups_are_administered_as_the_vendors_sdk_does() {
    let app = spawn_app().await;
    for id in ["alice", "bob", "carol", "dave"] {
        create(&app, id, json!({})).await;
    }
    group(&app, "g1", "alice", &["alice", "bob", "carol"]).await;
    group(&app, "g2", "bob", &["bob", "carol"]).await;

    // Modify by type; the Easemob dialect sees the same group.
    call(&app, "/admin/group/modify", json!({"group_id": "g1", "type": 0, "value": "Renamed"})).await;
    call(&app, "/admin/group/modify", json!({"group_id": "g1", "type": 2, "value": "extra!"})).await;
    call(&app, "/admin/group/modify", json!({"group_id": "g1", "type": 6, "value": "1"})).await;
    call(&app, "/admin/group/modify", json!({"group_id": "g1", "type": 8, "value": "50"})).await;
    let info = call(&app, "/admin/group/get_info", json!({"groupId": "g1"})).await;
    assert_eq!((info["name"].clone(), info["extra"].clone()), (json!("Renamed"), json!("extra!")));
    assert_eq!((info["searchable"].clone(), info["max_member_count"].clone()), (json!(1), json!(50)));
    let (_, easemob) = app.get("/chatgroups/g1").await;
    assert_eq!(easemob["data"][0]["name"], "Renamed", "{easemob}");
    call(&app, "/admin/group/modify", json!({"group_id": "g1", "type": 3, "value": "1"})).await;
    assert_eq!(call(&app, "/admin/group/get_info", json!({"groupId": "g1"})).await["mute"], 1);
    call(&app, "/admin/group/modify", json!({"group_id": "g1", "type": 3, "value": "0"})).await;
    for bad in [json!({"group_id": "g1", "type": 42, "value": "1"}), json!({"group_id": "g1", "type": 8, "value": "x"})]
    {
        assert_eq!(app.wildfire("/admin/group/modify", bad.clone()).await["code"], 251, "{bad}");
    }

    // Managers, mutes and the allow list, and what they make of a member's types.
    call(&app, "/admin/group/manager/set", json!({"group_id": "g1", "members": ["bob"], "is_manager": true})).await;
    let bob = call(&app, "/admin/group/member/get", json!({"groupId": "g1", "memberId": "bob"})).await;
    assert_eq!(bob["type"], 1, "{bob}");
    call(&app, "/admin/group/manager/mute", json!({"group_id": "g1", "members": ["carol"], "is_manager": true})).await;
    let mut carol = connect(&app, "carol").await.unwrap();
    backlog(&mut carol).await;
    assert!(carol.send_to("groupchat", "g1", json!({"type": "txt", "msg": "hi"}), None).await.is_err(), "muted");
    let muted = call(&app, "/admin/group/of_user_by_type", json!({"userId": "carol", "groupMemberTypes": [3]})).await;
    assert_eq!(ids(&muted), ["g1"]);
    call(&app, "/admin/group/manager/mute", json!({"group_id": "g1", "members": ["carol"], "is_manager": false})).await;
    carol.send_to("groupchat", "g1", json!({"type": "txt", "msg": "hi"}), None).await.expect("unmuted");
    call(&app, "/admin/group/manager/allow", json!({"group_id": "g2", "members": ["carol"], "is_manager": true})).await;
    let allowed = call(&app, "/admin/group/of_user_by_type", json!({"userId": "carol", "groupMemberTypes": [5]})).await;
    assert_eq!(ids(&allowed), ["g2"]);
    let managed =
        call(&app, "/admin/group/of_user_by_type", json!({"userId": "bob", "groupMemberTypes": [1, 2]})).await;
    assert_eq!(ids(&managed), ["g1", "g2"], "manager of g1, owner of g2");

    assert_eq!(ids(&call(&app, "/admin/group/of_user", json!({"userId": "carol"})).await), ["g1", "g2"]);
    assert_eq!(
        ids(&call(&app, "/admin/group/common_group", json!({"first": "alice", "second": "carol"})).await),
        ["g1"]
    );

    // Transfer, quit, and who cannot.
    call(&app, "/admin/group/transfer", json!({"group_id": "g1", "new_owner": "bob"})).await;
    assert_eq!(call(&app, "/admin/group/get_info", json!({"groupId": "g1"})).await["owner"], "bob");
    call(&app, "/admin/group/member/quit", json!({"group_id": "g1", "operator": "alice"})).await;
    let gone = app.wildfire("/admin/group/member/get", json!({"groupId": "g1", "memberId": "alice"})).await;
    assert_eq!(gone["code"], 253, "{gone}");
    let owner_quits = app.wildfire("/admin/group/member/quit", json!({"group_id": "g1", "operator": "bob"})).await;
    assert_eq!(owner_quits["code"], 248, "{owner_quits}");
    // One who is not a member has nothing to leave: a success, as the vendor's checker expects.
    let stranger = app.wildfire("/admin/group/member/quit", json!({"group_id": "g1", "operator": "dave"})).await;
    assert_eq!(stranger["code"], 0, "{stranger}");
    let unknown = app.wildfire("/admin/group/transfer", json!({"group_id": "nope", "new_owner": "bob"})).await;
    assert_eq!(unknown["code"], 253, "{unknown}");
}

#[tokio::test]
async fn chat_rooms_and_channels_are_administered_as_the_vendors_sdk_does() {
    let app = spawn_app().await;
    for id in ["alice", "bob", "carol", "host"] {
        create(&app, id, json!({})).await;
    }
    call(&app, "/admin/chatroom/create", json!({"chatroomId": "lobby", "title": "Lobby"})).await;
    let empty = app.wildfire("/admin/chatroom/members", json!({"chatroomId": "lobby"})).await;
    assert_eq!(empty["code"], 253, "no one in the room is 253, as the vendor answers: {empty}");
    let mut connections = Vec::new();
    for id in ["alice", "bob", "carol"] {
        let mut c = connect(&app, id).await.unwrap();
        backlog(&mut c).await;
        c.join_room("lobby").await.expect("joins the room");
        connections.push(c);
    }
    let mut members: Vec<String> = call(&app, "/admin/chatroom/members", json!({"chatroomId": "lobby"})).await["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    members.sort();
    assert_eq!(members, ["alice", "bob", "carol"]);
    let whereabouts = call(&app, "/admin/chatroom/user_chatroom", json!({"userId": "bob"})).await;
    assert_eq!(whereabouts["chatroomId"], "lobby", "{whereabouts}");
    assert!(whereabouts["clientId"].as_str().is_some_and(|d| !d.is_empty()), "the device: {whereabouts}");
    let nowhere = app.wildfire("/admin/chatroom/user_chatroom", json!({"userId": "host"})).await;
    assert_eq!(nowhere["code"], 253, "{nowhere}");

    // Muted for a while, banned for good; both listed; then lifted.
    let until = app.clock.now_ms() + 60_000;
    call(
        &app,
        "/admin/chatroom/set_black_status",
        json!({"chatroomId": "lobby", "userId": "alice", "status": 1, "expiredTime": until}),
    )
    .await;
    call(&app, "/admin/chatroom/set_black_status", json!({"chatroomId": "lobby", "userId": "bob", "status": 2})).await;
    let black = call(&app, "/admin/chatroom/get_black_status", json!({"chatroomId": "lobby"})).await;
    let mut infos: Vec<(String, i64, i64)> = black["infos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (i["userId"].as_str().unwrap().to_owned(), i["state"].as_i64().unwrap(), i["expiredTime"].as_i64().unwrap())
        })
        .collect();
    infos.sort();
    assert_eq!(infos.len(), 2, "{black}");
    assert_eq!((infos[0].0.as_str(), infos[0].1), ("alice", 1));
    assert!((infos[0].2 - until).abs() < 1000, "the mute ends when it was set to: {black}");
    assert_eq!(infos[1], ("bob".to_owned(), 2, 0));
    assert!(room_send(&connections[0]).await.is_err(), "alice is muted in the room");
    assert!(connections[1].join_room("lobby").await.is_err(), "bob is banned and cannot rejoin");
    call(&app, "/admin/chatroom/set_black_status", json!({"chatroomId": "lobby", "userId": "alice", "status": 0}))
        .await;
    room_send(&connections[0]).await.expect("alice may speak again");

    // Managers and mute-all: managers still speak.
    call(&app, "/admin/chatroom/set_manager", json!({"chatroomId": "lobby", "userId": "carol", "status": 1})).await;
    assert_eq!(
        call(&app, "/admin/chatroom/get_manager_list", json!({"chatroomId": "lobby"})).await,
        json!({"list": ["carol"]})
    );
    call(&app, "/admin/chatroom/mute_all", json!({"chatroomId": "lobby", "status": 1})).await;
    assert!(room_send(&connections[0]).await.is_err(), "everyone is muted");
    room_send(&connections[2]).await.expect("but a manager");
    call(&app, "/admin/chatroom/mute_all", json!({"chatroomId": "lobby", "status": 0})).await;
    room_send(&connections[0]).await.expect("not muted any more");
    call(&app, "/admin/chatroom/set_manager", json!({"chatroomId": "lobby", "userId": "carol", "status": 0})).await;
    assert_eq!(
        call(&app, "/admin/chatroom/get_manager_list", json!({"chatroomId": "lobby"})).await,
        json!({"list": []})
    );
    for bad in [
        ("/admin/chatroom/set_black_status", json!({"chatroomId": "lobby", "userId": "alice", "status": 9})),
        ("/admin/chatroom/mute_all", json!({"chatroomId": "lobby", "status": 2})),
        ("/admin/chatroom/set_manager", json!({"chatroomId": "lobby", "userId": "alice", "status": 3})),
    ] {
        assert_eq!(app.wildfire(bad.0, bad.1.clone()).await["code"], 251, "{bad:?}");
    }
    let missing = app.wildfire("/admin/chatroom/mute_all", json!({"chatroomId": "nope", "status": 1})).await;
    assert_eq!(missing["code"], 253, "{missing}");

    // Channels.
    call(&app, "/admin/channel/create", json!({"owner": "host", "name": "News", "targetId": "news"})).await;
    call(&app, "/admin/channel/subscribe", json!({"channelId": "news", "userId": "alice", "subscribe": 1})).await;
    let yes = call(&app, "/admin/channel/is_subscribed", json!({"channelId": "news", "userId": "alice"})).await;
    let no = call(&app, "/admin/channel/is_subscribed", json!({"channelId": "news", "userId": "bob"})).await;
    assert_eq!((yes, no), (json!({"value": true}), json!({"value": false})));
}

async fn room_send(connection: &Connection) -> anyhow::Result<confab_client::SendOk> {
    connection.send_to("chatroom", "lobby", json!({"type": "txt", "msg": "hi"}), None).await
}

#[tokio::test]
async fn fields_are_taken_as_the_vendors_sdks_send_them() {
    let app = spawn_app().await;
    for id in ["alice", "bob"] {
        create(&app, id, json!({})).await;
    }
    let sent = call(
        &app,
        "/admin/message/send",
        json!({"sender": "alice", "conv": {"type": 0, "target": "bob", "line": 0},
               "payload": {"type": 1, "searchableContent": "hi"}, "someFutureField": {"x": 1}}),
    )
    .await;
    let uid = sent["messageUid"].as_i64().unwrap();
    // JavaScript callers send the ID as a string: it passes 2^53.
    let one = call(&app, "/admin/message/get_one", json!({"messageUid": uid.to_string()})).await;
    assert_eq!(one["messageId"], uid);
    let one = call(&app, "/admin/message/get_one", json!({"messageUid": uid})).await;
    assert_eq!(one["messageId"], uid);
    for bad in [json!("12x"), json!([1]), json!({"n": 1}), json!(true)] {
        let answer = app.wildfire("/admin/message/get_one", json!({"messageUid": bad})).await;
        assert_eq!(answer["code"], 251, "{bad}: {answer}");
    }
    // conv_read as the SDK sends it: InputGetConvReadTime has conversationType.
    let read = call(
        &app,
        "/admin/message/conv_read",
        json!({"userId": "bob", "conversationType": 0, "target": "alice", "line": 0}),
    )
    .await;
    assert_eq!(read["timestamp"], 0);
    // clear_by_user as the SDK sends it (InputClearUserMessages).
    call(
        &app,
        "/admin/message/clear_by_user",
        json!({"userId": "bob", "conversation": {"type": 0, "target": "alice", "line": 0}, "startTime": 0, "endTime": i64::MAX / 2}),
    )
    .await;
    call(&app, "/admin/message/recall", json!({"operator": "alice", "messageUid": uid.to_string()})).await;
}
