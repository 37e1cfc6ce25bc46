//! Groups (E-grp-*) and group messages (E-msg-2), over REST and the gateway.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use confab_client::{ConnectOptions, Connection, Event};

use crate::helpers::{assert_error, assert_quiet, backlog, eventually, next, next_message, spawn_app, TestApp};

/// Creates a group owned by `owner` with `members`; returns its ID.
pub async fn create_group(app: &TestApp, owner: &str, members: &[&str], extra: Value) -> String {
    let mut body = json!({"groupname": "team", "description": "d", "public": true, "owner": owner, "members": members});
    if let (Some(fields), Value::Object(more)) = (body.as_object_mut(), extra) {
        fields.extend(more);
    }
    let (status, body) = app.post("/chatgroups", body).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["groupid"].as_str().expect("group id").to_owned()
}

/// Sends a text to groups over REST; returns status and body.
pub async fn send_to_groups(app: &TestApp, from: &str, to: &[&str], text: &str) -> (StatusCode, Value) {
    app.post("/messages/chatgroups", json!({"from": from, "to": to, "type": "txt", "body": {"msg": text}})).await
}

fn member_names(data: &Value) -> Vec<(String, String)> {
    data.as_array()
        .expect("array")
        .iter()
        .map(|entry| {
            let (role, name) = entry.as_object().unwrap().iter().next().unwrap();
            (role.clone(), name.as_str().unwrap().to_owned())
        })
        .collect()
}

#[tokio::test]
async fn a_group_is_created_shown_changed_listed_and_deleted() {
    let app = spawn_app().await;
    app.register(&["owner", "m1", "m2"]).await;

    // E-grp-4: validation first.
    let (status, body) = app.post("/chatgroups", json!({"groupname": "g", "owner": "owner"})).await;
    assert_error(status, &body, 400, "invalid_parameter");
    assert_eq!(body["error_description"], "group must contain public field!");
    let (status, body) = app.post("/chatgroups", json!({"groupname": " ", "public": true, "owner": "owner"})).await;
    assert_error(status, &body, 400, "invalid_parameter");
    let (status, body) = app.post("/chatgroups", json!({"groupname": "g", "public": true, "owner": "ghost"})).await;
    assert_error(status, &body, 404, "resource_not_found");
    assert_eq!(body["error_description"], "username ghost doesn't exist!");
    let (status, body) = app
        .post(
            "/chatgroups",
            json!({"groupname": "g", "public": true, "owner": "owner", "members": ["m1", "m2"], "maxusers": 2}),
        )
        .await;
    assert_error(status, &body, 403, "exceed_limit");

    let id = create_group(&app, "owner", &["m1"], json!({"custom": "c1", "maxusers": 50})).await;

    // E-grp-3: details, with the owner and members as affiliations.
    let (status, body) = app.get(&format!("/chatgroups/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let group = &body["data"][0];
    assert_eq!(group["id"], id.as_str());
    assert_eq!(group["name"], "team");
    assert_eq!(group["description"], "d");
    assert_eq!(group["maxusers"], 50);
    assert_eq!(group["owner"], "owner");
    assert_eq!(group["custom"], "c1");
    assert_eq!(group["public"], true);
    assert_eq!(group["mute"], false);
    assert_eq!(group["affiliations_count"], 2);
    assert_eq!(group["affiliations"], json!([{"owner": "owner"}, {"member": "m1"}]));

    // E-grp-5: change settings; unknown fields are refused.
    let (status, body) = app.put(&format!("/chatgroups/{id}"), json!({"groupname": "renamed", "maxusers": 10})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"groupname": true, "maxusers": true}));
    let (status, body) = app.put(&format!("/chatgroups/{id}"), json!({"groupid": "x"})).await;
    assert_error(status, &body, 400, "invalid_parameter");
    let (status, body) = app.put(&format!("/chatgroups/{id}"), json!({"maxusers": 1})).await;
    assert_error(status, &body, 400, "illegal_argument");
    let (_, body) = app.get(&format!("/chatgroups/{id}")).await;
    assert_eq!(body["data"][0]["name"], "renamed");
    assert_eq!(body["data"][0]["maxusers"], 10);

    // E-grp-1: every group, newest first, a page at a time with a cursor.
    let second = create_group(&app, "m1", &[], json!({})).await;
    let third = create_group(&app, "m2", &[], json!({})).await;
    let (status, body) = app.get("/chatgroups?limit=2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids = |body: &Value| -> Vec<String> {
        body["data"].as_array().unwrap().iter().map(|g| g["groupid"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ids(&body), [third.clone(), second.clone()]);
    assert_eq!(body["data"][0]["affiliations"], 1);
    assert_eq!(body["data"][0]["owner"], "demo#chat_m2");
    let cursor = body["cursor"].as_str().expect("cursor").to_owned();
    // A group created meanwhile does not shift the pages that follow.
    let fourth = create_group(&app, "owner", &[], json!({})).await;
    let (_, body) = app.get(&format!("/chatgroups?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&body), std::slice::from_ref(&id));
    assert_eq!(body["data"][0]["affiliations"], 2);
    assert!(body.get("cursor").is_none(), "{body}");
    app.delete(&format!("/chatgroups/{fourth}")).await;

    // E-grp-2: the groups a user is in, newest first.
    let (status, body) = app.get("/users/m1/joined_chatgroups").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!([{"groupid": second, "groupname": "team"}, {"groupid": id, "groupname": "renamed"}])
    );
    let (_, body) = app.get("/users/m1/joined_chatgroups?pagesize=1&pagenum=2").await;
    assert_eq!(body["data"], json!([{"groupid": id, "groupname": "renamed"}]));
    // The current docs' form: entities and a total, pages from 0.
    let (status, body) = app.get("/chatgroups/user/m1?pagesize=1&pagenum=1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 2);
    assert_eq!(body["entities"][0]["groupId"], id.as_str());
    assert_eq!(body["entities"][0]["name"], "renamed");
    assert_eq!(body["entities"][0]["maxusers"], 10);

    // Several groups at once.
    let (_, body) = app.get(&format!("/chatgroups/{id},{second}")).await;
    assert_eq!(body["count"], 2);

    // E-grp-6: delete; the group is gone for every endpoint and for sends.
    let (status, body) = app.delete(&format!("/chatgroups/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"success": true, "groupid": id}));
    let (status, body) = app.get(&format!("/chatgroups/{id}")).await;
    assert_error(status, &body, 404, "resource_not_found");
    assert_eq!(body["error_description"], format!("grpID {id} does not exist!"));
    let (status, body) = send_to_groups(&app, "owner", &[&id], "hello?").await;
    assert_error(status, &body, 404, "resource_not_found");
    let (status, body) = app.delete(&format!("/chatgroups/{id}")).await;
    assert_error(status, &body, 404, "resource_not_found");
    let (_, body) = app.get("/users/m1/joined_chatgroups").await;
    assert_eq!(body["count"], 1);
}

#[tokio::test]
async fn members_are_added_removed_paged_and_capped() {
    let app = spawn_app().await;
    let names: Vec<String> = (0..8).map(|i| format!("u{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    app.register(&refs).await;
    let id = create_group(&app, "u0", &[], json!({"maxusers": 6})).await;

    // E-grp-8: one member; twice is refused.
    let (status, body) = app.post(&format!("/chatgroups/{id}/users/u1"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"result": true, "groupid": id, "action": "add_member", "user": "u1"}));
    let (status, body) = app.post(&format!("/chatgroups/{id}/users/u1"), json!({})).await;
    assert_error(status, &body, 403, "forbidden_op");
    assert_eq!(body["error_description"], format!("can not join this group, reason:user: u1 already in group: {id}\n"));
    let (status, body) = app.post(&format!("/chatgroups/{id}/users/nobody"), json!({})).await;
    assert_error(status, &body, 404, "resource_not_found");

    // E-grp-9: a batch; members already in are skipped; the cap is 60.
    let (status, body) = app.post(&format!("/chatgroups/{id}/users"), json!({"usernames": ["u1", "u2", "u3"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["newmembers"], json!(["u2", "u3"]));
    let many: Vec<String> = (0..61).map(|i| format!("x{i}")).collect();
    let (status, body) = app.post(&format!("/chatgroups/{id}/users"), json!({"usernames": many})).await;
    assert_error(status, &body, 400, "invalid_parameter");
    // maxusers 6 counts the owner: 4 now, 3 more do not fit and none is added.
    let (status, body) = app.post(&format!("/chatgroups/{id}/users"), json!({"usernames": ["u4", "u5", "u6"]})).await;
    assert_error(status, &body, 403, "exceed_limit");
    assert_eq!(body["error_description"], "members size is greater than max user size !");
    let (_, body) = app.get(&format!("/chatgroups/{id}")).await;
    assert_eq!(body["data"][0]["affiliations_count"], 4);

    // E-grp-7: paged members, owner first, then in joining order.
    let (status, body) = app.get(&format!("/chatgroups/{id}/users?pagenum=1&pagesize=3")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        member_names(&body["data"]),
        [("owner".into(), "u0".into()), ("member".into(), "u1".into()), ("member".into(), "u2".into())]
    );
    let (_, body) = app.get(&format!("/chatgroups/{id}/users?pagenum=2&pagesize=3")).await;
    assert_eq!(member_names(&body["data"]), [("member".to_owned(), "u3".to_owned())]);
    assert_eq!(body["count"], 1);
    let (status, body) = app.get("/chatgroups/999/users").await;
    assert_error(status, &body, 404, "service_resource_not_found");
    assert_eq!(body["error_description"], "do not find this group:999");

    // E-grp-10: one member; the owner and non-members are refused.
    let (status, body) = app.delete(&format!("/chatgroups/{id}/users/u1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"result": true, "action": "remove_member", "user": "u1", "groupid": id}));
    let (status, body) = app.delete(&format!("/chatgroups/{id}/users/u1")).await;
    assert_error(status, &body, 403, "forbidden_op");
    assert_eq!(body["error_description"], "users [u1] are not members of this group!");
    let (status, body) = app.delete(&format!("/chatgroups/{id}/users/u0")).await;
    assert_error(status, &body, 403, "forbidden_op");
    assert_eq!(body["error_description"], "forbidden operation on group owner!");

    // E-grp-11: several, with a result for each.
    let (status, body) = app.delete(&format!("/chatgroups/{id}/users/u2,u3,u7")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["data"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert!(results.iter().any(|r| r["user"] == "u2" && r["result"] == true));
    assert!(results.iter().any(|r| r["user"] == "u7" && r["result"] == false && r["reason"].is_string()));
    let (_, body) = app.get(&format!("/chatgroups/{id}/users")).await;
    assert_eq!(member_names(&body["data"]), [("owner".to_owned(), "u0".to_owned())]);
}

#[tokio::test]
async fn admins_and_owner_transfer_take_effect_at_once() {
    let app = spawn_app().await;
    app.register(&["o", "a", "m"]).await;
    let id = create_group(&app, "o", &["a", "m"], json!({})).await;

    // E-grp-12: add and list admins.
    let (status, body) = app.post(&format!("/chatgroups/{id}/admin"), json!({"newadmin": "a"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"result": "success", "newadmin": "a"}));
    let (_, body) = app.get(&format!("/chatgroups/{id}/admin")).await;
    assert_eq!(body["data"], json!(["a"]));
    assert_eq!(body["count"], 1);
    let (status, body) = app.post(&format!("/chatgroups/{id}/admin"), json!({"newadmin": "o"})).await;
    assert_error(status, &body, 403, "forbidden_op");

    // E-grp-13: remove an admin; a member who is not one is refused.
    let (status, body) = app.delete(&format!("/chatgroups/{id}/admin/a")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"result": "success", "oldadmin": "a"}));
    let (status, body) = app.delete(&format!("/chatgroups/{id}/admin/m")).await;
    assert_error(status, &body, 403, "forbidden_op");
    assert_eq!(body["error_description"], format!("user:m is not admin of group:{id}"));

    // E-grp-14: transfer; only to a member, never to the owner themself.
    let (status, body) = app.put(&format!("/chatgroups/{id}"), json!({"newowner": "o"})).await;
    assert_error(status, &body, 403, "forbidden_op");
    assert_eq!(body["error_description"], "new owner and old owner are the same");
    app.register(&["outsider"]).await;
    let (status, body) = app.put(&format!("/chatgroups/{id}"), json!({"newowner": "outsider"})).await;
    assert_error(status, &body, 403, "forbidden_op");
    let (status, body) = app.put(&format!("/chatgroups/{id}"), json!({"newowner": "m"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"newowner": true}));

    // At once: the new owner cannot be removed, the old one can; with
    // everyone muted the new owner speaks and the old one does not.
    let (_, body) = app.get(&format!("/chatgroups/{id}")).await;
    assert_eq!(body["data"][0]["owner"], "m");
    let (status, body) = app.post(&format!("/chatgroups/{id}/ban"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = send_to_groups(&app, "m", &[&id], "new owner speaks").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = send_to_groups(&app, "o", &[&id], "old owner is a member now").await;
    assert_error(status, &body, 403, "forbidden_op");
    let (status, body) = app.delete(&format!("/chatgroups/{id}/users/m")).await;
    assert_error(status, &body, 403, "forbidden_op");
    let (status, _) = app.delete(&format!("/chatgroups/{id}/users/o")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn blocked_users_are_removed_refused_and_cannot_rejoin() {
    let app = spawn_app().await;
    app.register(&["o", "b", "c", "d"]).await;
    let id = create_group(&app, "o", &["b", "c", "d"], json!({})).await;
    let mut blocked = app.connect("b").await;
    backlog(&mut blocked).await;

    // E-grp-15: block one; they hear they are out, and are removed.
    let (status, body) = app.post(&format!("/chatgroups/{id}/blocks/users/b"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"result": true, "action": "add_blocks", "user": "b", "groupid": id}));
    match next(&mut blocked).await {
        Event::Group { event, users, group, .. } => {
            assert_eq!(event, "blocked");
            assert_eq!(users, ["b"]);
            assert_eq!(group, id);
        }
        other => panic!("expected the block event, got {other:?}"),
    }
    let (_, body) = app.get(&format!("/chatgroups/{id}/blocks/users")).await;
    assert_eq!(body["data"], json!(["b"]));
    let (_, body) = app.get(&format!("/chatgroups/{id}")).await;
    assert_eq!(body["data"][0]["affiliations_count"], 3);

    // Their messages are refused over REST and the gateway; nothing reaches them.
    let (status, body) = send_to_groups(&app, "b", &[&id], "let me in").await;
    assert_error(status, &body, 403, "forbidden_op");
    let refused = blocked.send_to("groupchat", &id, json!({"type": "txt", "msg": "hi"}), None).await;
    assert!(refused.unwrap_err().to_string().contains("forbidden"));
    let (status, _) = send_to_groups(&app, "o", &[&id], "members only").await;
    assert_eq!(status, StatusCode::OK);
    assert_quiet(&mut blocked).await;

    // They cannot rejoin until unblocked.
    let (status, body) = app.post(&format!("/chatgroups/{id}/users/b"), json!({})).await;
    assert_error(status, &body, 403, "forbidden_op");
    let (status, body) = app.post(&format!("/chatgroups/{id}/blocks/users/o"), json!({})).await;
    assert_error(status, &body, 403, "forbidden_op");
    assert_eq!(body["error_description"], "forbidden operation on group owner!");

    // Batches: block two, unblock all three.
    let (status, body) = app.post(&format!("/chatgroups/{id}/blocks/users"), json!({"usernames": ["c", "d"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    let (status, body) = app.delete(&format!("/chatgroups/{id}/blocks/users/b")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"result": true, "action": "remove_blocks", "user": "b", "groupid": id}));
    let (status, body) = app.delete(&format!("/chatgroups/{id}/blocks/users/c,d")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    let (_, body) = app.get(&format!("/chatgroups/{id}/blocks/users")).await;
    assert_eq!(body["data"], json!([]));
    let (status, _) = app.post(&format!("/chatgroups/{id}/users/b"), json!({})).await;
    assert_eq!(status, StatusCode::OK);

    // Rejoined, they get what is said from now on, not what they missed.
    match next(&mut blocked).await {
        Event::Group { event, .. } => assert_eq!(event, "members_added"),
        other => panic!("expected the join event, got {other:?}"),
    }
    let (status, _) = send_to_groups(&app, "o", &[&id], "welcome back").await;
    assert_eq!(status, StatusCode::OK);
    let message = next_message(&mut blocked).await;
    assert_eq!(message.body["msg"], "welcome back");
    assert_quiet(&mut blocked).await;
}

#[tokio::test]
async fn mutes_last_their_duration_and_mute_all_spares_the_allow_list() {
    let app = spawn_app().await;
    app.register(&["o", "admin1", "m", "w"]).await;
    let id = create_group(&app, "o", &["admin1", "m", "w"], json!({})).await;
    app.post(&format!("/chatgroups/{id}/admin"), json!({"newadmin": "admin1"})).await;

    // E-grp-17: a one-minute mute, refused over REST and the gateway.
    let (status, body) =
        app.post(&format!("/chatgroups/{id}/mute"), json!({"usernames": ["m"], "mute_duration": 60_000})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expire = body["data"][0]["expire"].as_i64().unwrap();
    assert_eq!(body["data"][0]["user"], "m");
    assert_eq!(body["data"][0]["result"], true);
    let (_, body) = app.get(&format!("/chatgroups/{id}/mute")).await;
    assert_eq!(body["data"], json!([{"user": "m", "expire": expire}]));
    let (status, body) = send_to_groups(&app, "m", &[&id], "muted?").await;
    assert_error(status, &body, 403, "forbidden_op");
    let muted = app.connect("m").await;
    let refused = muted.send_to("groupchat", &id, json!({"type": "txt", "msg": "hi"}), None).await;
    assert!(refused.unwrap_err().to_string().contains("forbidden"));
    let (status, body) =
        app.post(&format!("/chatgroups/{id}/mute"), json!({"usernames": ["o"], "mute_duration": 1000})).await;
    assert_error(status, &body, 403, "forbidden_op");

    // The mute lapses when its minute is over.
    app.clock.advance_ms(61_000);
    let (status, _) = send_to_groups(&app, "m", &[&id], "free again").await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = app.get(&format!("/chatgroups/{id}/mute")).await;
    assert_eq!(body["data"], json!([]));

    // Permanent until lifted, then lifted by name.
    app.post(&format!("/chatgroups/{id}/mute"), json!({"usernames": ["m"], "mute_duration": -1})).await;
    let (_, body) = app.get(&format!("/chatgroups/{id}/mute")).await;
    assert_eq!(body["data"][0]["expire"], -1);
    let (status, body) = app.delete(&format!("/chatgroups/{id}/mute/m")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!([{"result": true, "user": "m"}]));
    let (status, _) = send_to_groups(&app, "m", &[&id], "unmuted").await;
    assert_eq!(status, StatusCode::OK);

    // E-grp-16 and E-grp-18: everyone muted but the owner, admins and the allow list.
    let (status, body) = app.post(&format!("/chatgroups/{id}/white/users/w"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"result": true, "action": "add_user_whitelist", "user": "w", "groupid": id}));
    let (_, body) = app.get(&format!("/chatgroups/{id}/white/users")).await;
    assert_eq!(body["data"], json!(["w"]));
    let (status, body) = app.post(&format!("/chatgroups/{id}/ban"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"mute": true}));
    let (_, body) = app.get(&format!("/chatgroups/{id}")).await;
    assert_eq!(body["data"][0]["mute"], true);
    for (from, allowed) in [("m", false), ("w", true), ("admin1", true), ("o", true)] {
        let (status, body) = send_to_groups(&app, from, &[&id], "during mute-all").await;
        assert_eq!(status == StatusCode::OK, allowed, "{from}: {body}");
    }
    // The app itself (no `from`) is never muted.
    let (status, _) =
        app.post("/messages/chatgroups", json!({"to": [id], "type": "txt", "body": {"msg": "from the app"}})).await;
    assert_eq!(status, StatusCode::OK);
    // The seed's PUT and the docs' DELETE both lift it.
    let (status, body) = app.put(&format!("/chatgroups/{id}/ban"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"mute": false}));
    let (status, _) = send_to_groups(&app, "m", &[&id], "everyone speaks").await;
    assert_eq!(status, StatusCode::OK);
    app.post(&format!("/chatgroups/{id}/ban"), json!({})).await;
    let (status, _) = app.delete(&format!("/chatgroups/{id}/ban")).await;
    assert_eq!(status, StatusCode::OK);

    // Allow-list batches and removal; non-members are refused.
    let (status, body) =
        app.post(&format!("/chatgroups/{id}/white/users"), json!({"usernames": ["m", "nobody"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["data"].as_array().unwrap();
    assert!(results.iter().any(|r| r["user"] == "m" && r["result"] == true));
    assert!(results.iter().any(|r| r["user"] == "nobody" && r["result"] == false));
    let (status, body) = app.delete(&format!("/chatgroups/{id}/white/users/m,w")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = app.get(&format!("/chatgroups/{id}/white/users")).await;
    assert_eq!(body["data"], json!([]));
}

#[tokio::test]
async fn group_messages_reach_every_member_in_one_order() {
    let app = spawn_app().await;
    app.register(&["a", "b", "c", "late", "outsider"]).await;
    let id = create_group(&app, "a", &["b", "c"], json!({})).await;
    let other = create_group(&app, "b", &["a"], json!({})).await;
    let mut a = app.connect("a").await;
    let mut b = app.connect("b").await;
    backlog(&mut a).await;
    backlog(&mut b).await;

    // E-msg-2: up to 3 groups per call; the answer maps each group to its message.
    let (status, body) = send_to_groups(&app, "a", &[&id, &other], "to both").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"][&id].is_string() && body["data"][&other].is_string(), "{body}");
    let (status, body) = send_to_groups(&app, "a", &["1", "2", "3", "4"], "too many").await;
    assert_error(status, &body, 400, "message_send_error");
    assert_eq!(body["error_description"], "params to's size can't exceed limit 3");
    let (status, body) = send_to_groups(&app, "outsider", &[&id], "not a member").await;
    assert_error(status, &body, 403, "forbidden_op");
    // One refused target refuses the call: nothing is stored for the others.
    let (status, _) = send_to_groups(&app, "c", &[&id, &other], "c is only in one").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // b hears both (it is in both groups); a, the sender, hears neither, as
    // REST sends reach the sender's devices only with sync_device.
    let mut got = [next_message(&mut b).await, next_message(&mut b).await];
    got.sort_by(|x, y| x.to.cmp(&y.to));
    assert!(got.iter().all(|m| m.chat_type == "groupchat" && m.from == "a" && m.body["msg"] == "to both"));
    assert_quiet(&mut a).await;

    // Two members send concurrently over the gateway; every member sees one order.
    let sends = 20;
    let (x, y) = tokio::join!(
        async {
            for i in 0..sends {
                a.send_to("groupchat", &id, json!({"type": "txt", "msg": format!("a{i}")}), None).await.unwrap();
            }
        },
        async {
            for i in 0..sends {
                b.send_to("groupchat", &id, json!({"type": "txt", "msg": format!("b{i}")}), None).await.unwrap();
            }
        }
    );
    let _ = (x, y);
    let mut c = app.connect("c").await;
    let c_seen: Vec<(i64, String)> = backlog(&mut c)
        .await
        .into_iter()
        .filter(|m| m.to == id)
        .map(|m| (m.seq, m.body["msg"].as_str().unwrap().into()))
        .collect();
    assert_eq!(c_seen.len(), 1 + 2 * sends, "c was offline and gets everything from its backlog");
    assert!(c_seen.windows(2).all(|w| w[1].0 == w[0].0 + 1), "no gaps");
    // Each sender's own devices get the others' messages live, in the same order.
    let mut a_seen = Vec::new();
    while a_seen.len() < sends {
        let m = next_message(&mut a).await;
        a_seen.push((m.seq, m.body["msg"].as_str().unwrap().to_owned()));
    }
    let from_b: Vec<&(i64, String)> = c_seen.iter().filter(|(_, t)| t.starts_with('b')).collect();
    assert_eq!(a_seen.iter().collect::<Vec<_>>(), from_b);

    // c's device acknowledges what it received (acks go out in batches).
    eventually(|| async {
        let (_, body) = app.get("/users/c/offline_msg_count").await;
        body["data"]["c"] == 0
    })
    .await;
    // A member who joins later starts at their joining point.
    drop(c);
    app.post(&format!("/chatgroups/{id}/users/late"), json!({})).await;
    let mut late = app.connect("late").await;
    assert!(backlog(&mut late).await.is_empty());
    let (status, _) = send_to_groups(&app, "a", &[&id], "after joining").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(next_message(&mut late).await.body["msg"], "after joining");

    // Offline members count group messages they have not received.
    let (_, body) = app.get("/users/c/offline_msg_count").await;
    assert_eq!(body["data"]["c"], 1, "{body}");
}

#[tokio::test]
async fn membership_changes_reach_connected_members_as_events() {
    let app = spawn_app().await;
    app.register(&["o", "m", "n"]).await;
    let id = create_group(&app, "o", &["m"], json!({})).await;
    let mut owner = app.connect("o").await;
    let mut member = app.connect("m").await;
    backlog(&mut owner).await;
    backlog(&mut member).await;

    let expect = |event: Event, what: &str, users: &[&str]| match event {
        Event::Group { chat_type, group, event, users: got, .. } => {
            assert_eq!(chat_type, "groupchat");
            assert_eq!(group, id);
            assert_eq!(event, what);
            assert_eq!(got, users);
        }
        other => panic!("expected {what}, got {other:?}"),
    };
    app.post(&format!("/chatgroups/{id}/users/n"), json!({})).await;
    expect(next(&mut owner).await, "members_added", &["n"]);
    expect(next(&mut member).await, "members_added", &["n"]);
    app.post(&format!("/chatgroups/{id}/mute"), json!({"usernames": ["n"], "mute_duration": 5000})).await;
    expect(next(&mut owner).await, "muted", &["n"]);
    app.put(&format!("/chatgroups/{id}"), json!({"description": "new"})).await;
    expect(next(&mut owner).await, "updated", &[]);
    app.delete(&format!("/chatgroups/{id}/users/m")).await;
    expect(next(&mut owner).await, "members_removed", &["m"]);
    // The removed member hears everything up to their removal, then nothing more.
    for what in ["muted", "updated", "members_removed"] {
        expect(
            next(&mut member).await,
            what,
            if what == "updated" {
                &[]
            } else if what == "muted" {
                &["n"]
            } else {
                &["m"]
            },
        );
    }
    let (status, _) =
        app.post("/messages/chatgroups", json!({"to": [id], "type": "txt", "body": {"msg": "after m left"}})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(next_message(&mut owner).await.body["msg"], "after m left");
    assert_quiet(&mut member).await;
    app.delete(&format!("/chatgroups/{id}")).await;
    expect(next(&mut owner).await, "destroyed", &[]);
}

#[tokio::test]
async fn a_thousand_connected_members_each_get_every_group_message_in_order() {
    const MEMBERS: usize = 1_000;
    const MESSAGES: usize = 5;
    let app = spawn_app().await;
    let names: Vec<String> = (0..MEMBERS).map(|i| format!("member{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    // Users come with their tokens, created by ID as the vendor allows.
    let mut tokens = Vec::with_capacity(MEMBERS);
    for chunk in refs.chunks(50) {
        tokens.extend(futures_util::future::join_all(chunk.iter().map(|name| app.token_by_id(name))).await);
    }
    let id = create_group(&app, "member0", &[], json!({"maxusers": MEMBERS})).await;
    for chunk in refs[1..].chunks(60) {
        let (status, body) = app.post(&format!("/chatgroups/{id}/users"), json!({"usernames": chunk})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, body) = app.get(&format!("/chatgroups/{id}")).await;
    assert_eq!(body["data"][0]["affiliations_count"], MEMBERS);

    // Every member connected over its own WebSocket, a few logins at a time.
    let mut connections = Vec::with_capacity(MEMBERS);
    let ws_url = app.endpoint().ws_url();
    for chunk in tokens.chunks(50) {
        let logins = chunk.iter().map(|token| async {
            let mut connection =
                Connection::connect(&ws_url, token, ConnectOptions::default()).await.expect("gateway login");
            backlog(&mut connection).await;
            connection
        });
        connections.extend(futures_util::future::join_all(logins).await);
    }

    // The app speaks (REST, no `from`), so every member, the owner too, hears it.
    for i in 0..MESSAGES {
        let (status, body) = app
            .post("/messages/chatgroups", json!({"to": [id], "type": "txt", "body": {"msg": format!("m{i}")}}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let received = connections.iter_mut().map(|connection| async {
        let mut texts = Vec::with_capacity(MESSAGES);
        while texts.len() < MESSAGES {
            let message = next_message(connection).await;
            texts.push(message.body["msg"].as_str().unwrap().to_owned());
        }
        texts
    });
    let expected: Vec<String> = (0..MESSAGES).map(|i| format!("m{i}")).collect();
    for texts in futures_util::future::join_all(received).await {
        assert_eq!(texts, expected);
    }
}

#[tokio::test]
async fn batch_list_and_admin_caps_are_enforced() {
    let app = spawn_app().await;
    let names: Vec<String> = (0..560).map(|i| format!("u{i}")).collect();
    for chunk in names.chunks(50) {
        futures_util::future::join_all(chunk.iter().map(|n| app.token_by_id(n))).await;
    }
    let id = create_group(&app, "u0", &[], json!({"maxusers": 600})).await;
    for chunk in names[1..].chunks(60) {
        let (status, body) = app.post(&format!("/chatgroups/{id}/users"), json!({"usernames": chunk})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let sixty_one: Vec<&String> = names[1..62].iter().collect();
    let joined = sixty_one.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");

    // At most 60 users per call on every list, both ways.
    for path in ["blocks/users", "white/users"] {
        let (status, body) = app.post(&format!("/chatgroups/{id}/{path}"), json!({"usernames": sixty_one})).await;
        assert_error(status, &body, 400, "invalid_parameter");
        let (status, body) = app.delete(&format!("/chatgroups/{id}/{path}/{joined}")).await;
        assert_error(status, &body, 400, "invalid_parameter");
    }
    let mute = json!({"usernames": sixty_one, "mute_duration": 1000});
    let (status, body) = app.post(&format!("/chatgroups/{id}/mute"), mute).await;
    assert_error(status, &body, 400, "invalid_parameter");
    let (status, body) = app.delete(&format!("/chatgroups/{id}/mute/{joined}")).await;
    assert_error(status, &body, 400, "invalid_parameter");
    let (status, body) = app.delete(&format!("/chatgroups/{id}/users/{joined}")).await;
    assert_error(status, &body, 400, "invalid_parameter");

    // A list holds at most 500 users: the call that would pass it changes nothing.
    for (round, chunk) in names[1..].chunks(60).enumerate() {
        let mute = json!({"usernames": chunk, "mute_duration": 60_000});
        let (status, body) = app.post(&format!("/chatgroups/{id}/mute"), mute).await;
        if round < 8 {
            assert_eq!(status, StatusCode::OK, "round {round}: {body}");
        } else {
            assert_error(status, &body, 403, "exceed_limit");
            break;
        }
    }
    let (_, body) = app.get(&format!("/chatgroups/{id}/mute")).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 480);

    // At most 99 admins besides the owner.
    for name in &names[1..100] {
        let (status, body) = app.post(&format!("/chatgroups/{id}/admin"), json!({"newadmin": name})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = app.post(&format!("/chatgroups/{id}/admin"), json!({"newadmin": names[100]})).await;
    assert_error(status, &body, 403, "exceed_limit");
    let (_, body) = app.get(&format!("/chatgroups/{id}/admin")).await;
    assert_eq!(body["count"], 99);
}

#[tokio::test]
async fn group_and_room_messages_are_rate_limited_per_app() {
    let app = spawn_app().await;
    app.register(&["owner"]).await;
    let group = create_group(&app, "owner", &[], json!({})).await;
    let (status, body) = app.post("/chatrooms", json!({"name": "r", "description": "d", "owner": "owner"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let room = body["data"]["id"].as_str().unwrap().to_owned();
    app.core.apps.set_rate_limit("demo", "chat", "easemob.group_messages_per_second", Some(3)).await.unwrap();
    app.core.apps.set_rate_limit("demo", "chat", "easemob.room_messages_per_second", Some(2)).await.unwrap();
    for (path, target, allowed) in [("/messages/chatgroups", &group, 3), ("/messages/chatrooms", &room, 2)] {
        let body = json!({"to": [target], "type": "txt", "body": {"msg": "x"}});
        for i in 0..allowed {
            let (status, reply) = app.post(path, body.clone()).await;
            assert_eq!(status, StatusCode::OK, "{path} #{i}: {reply}");
        }
        let (status, reply) = app.post(path, body).await;
        assert_error(status, &reply, 403, "message_send_error");
        assert_eq!(reply["error_description"], "message send reach limit");
    }
}

#[tokio::test]
async fn concurrent_changes_of_different_settings_all_take_effect() {
    let app = spawn_app().await;
    app.register(&["owner"]).await;
    let id = create_group(&app, "owner", &[], json!({})).await;
    let path = format!("/chatgroups/{id}");
    let announcement = format!("/chatgroups/{id}/announcement");
    for round in 0..10 {
        let (a, b, c) = tokio::join!(
            app.put(&path, json!({"groupname": format!("name {round}")})),
            app.put(&path, json!({"description": format!("description {round}")})),
            app.post(&announcement, json!({"announcement": format!("news {round}")})),
        );
        assert!(a.0.is_success() && b.0.is_success() && c.0.is_success(), "{a:?} {b:?} {c:?}");
        let (_, body) = app.get(&path).await;
        assert_eq!(body["data"][0]["name"], format!("name {round}"));
        assert_eq!(body["data"][0]["description"], format!("description {round}"));
        let (_, body) = app.get(&announcement).await;
        assert_eq!(body["data"]["announcement"], format!("news {round}"));
    }
}

#[tokio::test]
async fn member_pages_stay_put_while_roles_change() {
    let app = spawn_app().await;
    let names: Vec<String> = (0..7).map(|i| format!("p{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    app.register(&refs).await;
    let id = create_group(&app, "p0", &[], json!({})).await;
    for name in &refs[1..] {
        app.post(&format!("/chatgroups/{id}/users/{name}"), json!({})).await;
    }
    let app = &app;
    let id = &id;
    let page = |n: usize| async move {
        let path = format!("/chatgroups/{id}/users?pagesize=3&pagenum={n}");
        member_names(&app.get(&path).await.1["data"])
    };
    let before = (page(1).await, page(2).await, page(3).await);
    // The last member becomes an admin between reading page 1 and page 2.
    app.post(&format!("/chatgroups/{id}/admin"), json!({"newadmin": "p6"})).await;
    let after = (page(1).await, page(2).await, page(3).await);
    assert_eq!(before, after);
    let all: Vec<String> = [after.0, after.1, after.2].concat().into_iter().map(|(_, name)| name).collect();
    assert_eq!(all, names, "owner first, then joining order");
}

#[tokio::test]
async fn a_resume_cursor_from_before_leaving_does_not_replay_the_time_away() {
    let app = spawn_app().await;
    app.register(&["o", "m"]).await;
    let id = create_group(&app, "o", &["m"], json!({})).await;
    send_to_groups(&app, "o", &[&id], "while in").await;
    let mut device = app.connect("m").await;
    let first = backlog(&mut device).await;
    assert_eq!(first.len(), 1);
    let cursors = device.cursors();
    drop(device);

    app.delete(&format!("/chatgroups/{id}/users/m")).await;
    send_to_groups(&app, "o", &[&id], "while out 1").await;
    send_to_groups(&app, "o", &[&id], "while out 2").await;
    app.post(&format!("/chatgroups/{id}/users/m"), json!({})).await;
    send_to_groups(&app, "o", &[&id], "back in").await;

    // Resuming from the old cursor gives what was said since rejoining only.
    let options = ConnectOptions { resume: cursors, ..ConnectOptions::default() };
    let mut device = app.connect_with("m", options).await;
    let texts: Vec<String> =
        backlog(&mut device).await.iter().map(|m| m.body["msg"].as_str().unwrap().to_owned()).collect();
    assert_eq!(texts, ["back in"]);
    // And live, from a conversation this device has a cursor for, the same holds.
    app.delete(&format!("/chatgroups/{id}/users/m")).await;
    send_to_groups(&app, "o", &[&id], "out again").await;
    app.post(&format!("/chatgroups/{id}/users/m"), json!({})).await;
    send_to_groups(&app, "o", &[&id], "in again").await;
    let live = loop {
        match next(&mut device).await {
            Event::Message(m) => break m,
            Event::Group { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(live.body["msg"], "in again");
    assert_quiet(&mut device).await;
}

/// With a user's own token (the SDK's `removeGroupMember`), an admin removes
/// members but not another admin; the owner removes either.
#[tokio::test]
async fn an_admin_removes_members_but_not_other_admins() {
    let app = spawn_app().await;
    app.register(&["own", "adm1", "adm2", "mem1", "mem2"]).await;
    let id = create_group(&app, "own", &["adm1", "adm2", "mem1", "mem2"], json!({})).await;
    for admin in ["adm1", "adm2"] {
        let (status, _) = app.post(&format!("/chatgroups/{id}/admin"), json!({"newadmin": admin})).await;
        assert_eq!(status, StatusCode::OK);
    }
    let adm1 = app.user_token("adm1").await;
    let remove = |who: &'static str, token: String| {
        let app = &app;
        let path = format!("/chatgroups/{id}/users/{who}");
        async move { app.call(Method::DELETE, &path, Some(&token), None).await }
    };
    let (status, body) = remove("adm2", adm1.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = remove("own", adm1.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Several at once: all or nothing.
    let path = format!("/chatgroups/{id}/users/mem2,adm2");
    let (status, _) = app.call(Method::DELETE, &path, Some(&adm1), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = remove("mem1", adm1.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = remove("adm2", app.user_token("own").await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, members) = app.get(&format!("/chatgroups/{id}/users")).await;
    let names: Vec<&str> = members["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["member"].as_str().or(m["owner"].as_str()))
        .collect();
    assert!(names.contains(&"mem2") && !names.contains(&"mem1") && !names.contains(&"adm2"), "{members}");
}
