//! LeanCloud round-trips (issue 13 §4): what a migrated backend sends to the
//! RTM REST API comes back as the vendor's would, over real HTTP and WebSocket.

use reqwest::Method;
use serde_json::{json, Value};

use confab_client::{ConnectOptions, Connection, Event};
use confab_core::clock::Clock;

use crate::helpers::{assert_quiet, backlog, eventually, next, spawn_app, TestApp, LC_APP_ID, LC_MASTER_KEY};
use crate::leancloud::{assert_lc_error, connect, lc, ok, urlencode};

/// The one conversation of a kind whose `objectId` is `id`, as queries show it.
async fn found(app: &TestApp, kind: &str, id: &str) -> Value {
    let query = urlencode(&json!({"objectId": id}).to_string());
    let results = ok(app, Method::GET, &format!("/{kind}?where={query}"), None).await;
    assert_eq!(results["results"].as_array().unwrap().len(), 1, "{results}");
    results["results"][0].clone()
}

/// The next update event, past any group events.
async fn next_update(connection: &mut Connection) -> (String, String) {
    loop {
        match next(connection).await {
            Event::Update { change, msg_id, .. } => return (change, msg_id),
            Event::Group { .. } | Event::Synced => continue,
            other => panic!("expected an update, got {other:?}"),
        }
    }
}

/// The next message's ID, past any group events.
async fn next_message_id(connection: &mut Connection) -> String {
    loop {
        match next(connection).await {
            Event::Message(m) => return m.msg_id,
            Event::Group { .. } | Event::Synced => continue,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn conversation_updates_keep_every_field_but_m() {
    let app = spawn_app().await;
    let created =
        ok(&app, Method::POST, "/conversations", Some(json!({"name": "f", "m": ["alice", "bob"], "c": "alice"})));
    let conv = created.await["objectId"].as_str().unwrap().to_owned();
    let path = format!("/conversations/{conv}");
    let lm = json!({"__type": "Date", "iso": "2020-01-01T00:00:00.000Z"});
    let change =
        json!({"mu": ["bob"], "tr": false, "sys": false, "unique": true, "uniqueId": "u-1", "lm": lm, "topic": "x"});
    ok(&app, Method::PUT, &path, Some(change)).await;
    let doc = found(&app, "conversations", &conv).await;
    for (key, want) in [
        ("mu", json!(["bob"])),
        ("tr", json!(false)),
        ("sys", json!(false)),
        ("unique", json!(true)),
        ("uniqueId", json!("u-1")),
        ("lm", lm.clone()),
        ("topic", json!("x")),
        ("c", json!("alice")),
    ] {
        assert_eq!(doc[key], want, "{key}: {doc}");
    }
    // `mu` is the conversation's muted list, the one `…/mutes` keeps.
    assert_eq!(ok(&app, Method::GET, &format!("{path}/mutes"), None).await["result"], json!(["bob"]));
    let by_muted = urlencode(&json!({"mu": "bob"}).to_string());
    let results = ok(&app, Method::GET, &format!("/conversations?where={by_muted}"), None).await;
    assert_eq!(results["results"][0]["objectId"], conv.as_str());
    ok(&app, Method::POST, &format!("{path}/mutes"), Some(json!({"client_ids": ["alice"]}))).await;
    assert_eq!(found(&app, "conversations", &conv).await["mu"], json!(["bob", "alice"]));

    // A refused update changes nothing, not even the creator.
    let (status, body) = lc(&app, Method::PUT, &path, Some(json!({"c": "bob", "name": "n".repeat(129)}))).await;
    assert_lc_error(status, &body, 400, 1);
    assert_eq!(found(&app, "conversations", &conv).await["c"], "alice");
    // A member named creator owns the conversation (the Owner is the creator)...
    ok(&app, Method::PUT, &path, Some(json!({"c": "bob"}))).await;
    assert_eq!(found(&app, "conversations", &conv).await["c"], "bob");
    let owners = ok(&app, Method::GET, &format!("{path}/member-infos?role=Owner"), None).await;
    assert_eq!(owners["results"][0]["clientId"], "bob", "{owners}");
    // ... anyone else is kept as given.
    ok(&app, Method::PUT, &path, Some(json!({"c": "Zed.Outside@example.com"}))).await;
    assert_eq!(found(&app, "conversations", &conv).await["c"], "Zed.Outside@example.com");
    let owners = ok(&app, Method::GET, &format!("{path}/member-infos?role=Owner"), None).await;
    assert_eq!(owners["results"][0]["clientId"], "bob", "{owners}");

    // Each field's type is checked; what the server keeps is refused, not dropped.
    for bad in [
        json!({"mu": "bob"}),
        json!({"tr": "yes"}),
        json!({"unique": 1}),
        json!({"c": 7}),
        json!({"createdAt": "2020-01-01T00:00:00.000Z"}),
        json!({"objectId": "other"}),
        json!({"m": ["x"]}),
    ] {
        let (status, body) = lc(&app, Method::PUT, &path, Some(bad.clone())).await;
        assert_lc_error(status, &body, 400, 1);
    }
    assert_eq!(found(&app, "conversations", &conv).await["mu"], json!(["bob", "alice"]), "nothing half-written");

    // Chat rooms and service conversations keep them too.
    let room = ok(&app, Method::POST, "/chatrooms", Some(json!({"name": "r", "mu": ["carol"]}))).await;
    let room = room["objectId"].as_str().unwrap().to_owned();
    assert_eq!(found(&app, "chatrooms", &room).await["mu"], json!(["carol"]));
    ok(&app, Method::PUT, &format!("/chatrooms/{room}"), Some(json!({"unique": false, "c": "dave"}))).await;
    let doc = found(&app, "chatrooms", &room).await;
    assert_eq!(
        (doc["unique"].clone(), doc["c"].clone(), doc["tr"].clone()),
        (json!(false), json!("dave"), json!(true))
    );
    let svc = ok(&app, Method::POST, "/service-conversations", Some(json!({"name": "s"}))).await;
    let svc = svc["objectId"].as_str().unwrap().to_owned();
    ok(&app, Method::PUT, &format!("/service-conversations/{svc}"), Some(json!({"mu": ["erin"], "lm": 5}))).await;
    let doc = found(&app, "service-conversations", &svc).await;
    assert_eq!((doc["mu"].clone(), doc["lm"].clone(), doc["sys"].clone()), (json!(["erin"]), json!(5), json!(true)));
}

#[tokio::test]
async fn members_are_added_and_removed_past_sixty_at_once() {
    let app = spawn_app().await;
    let created = ok(&app, Method::POST, "/conversations", Some(json!({"name": "big", "c": "owner"}))).await;
    let conv = created["objectId"].as_str().unwrap().to_owned();
    let members = format!("/conversations/{conv}/members");
    let hundred: Vec<String> = (0..100).map(|i| format!("Member-{i:03}")).collect();
    ok(&app, Method::POST, &members, Some(json!({"client_ids": hundred}))).await;
    let listed = ok(&app, Method::GET, &members, None).await["result"].as_array().unwrap().len();
    assert_eq!(listed, 101, "the hundred and the creator");
    ok(&app, Method::DELETE, &members, Some(json!({"client_ids": hundred}))).await;
    assert_eq!(ok(&app, Method::GET, &members, None).await["result"], json!(["owner"]));
    // The vendor's limit is the conversation's: 500 members.
    let too_many: Vec<String> = (0..501).map(|i| format!("m{i}")).collect();
    let (status, body) = lc(&app, Method::POST, &members, Some(json!({"client_ids": too_many}))).await;
    assert_lc_error(status, &body, 400, 1);
}

#[tokio::test]
async fn service_edits_and_recalls_reach_only_the_chosen_clients() {
    let app = spawn_app().await;
    let svc = ok(&app, Method::POST, "/service-conversations", Some(json!({"name": "news"}))).await;
    let base = format!("/service-conversations/{}", svc["objectId"].as_str().unwrap());
    let mut ann = connect(&app, "ann").await;
    let mut ben = connect(&app, "ben").await;
    let chosen = json!({"from_client": "sys", "to_clients": ["ann", "ben"], "message": "for you two"});
    let sent = ok(&app, Method::POST, &format!("{base}/messages"), Some(chosen)).await;
    let (id, ts) = (sent["msg-id"].as_str().unwrap().to_owned(), sent["timestamp"].as_i64().unwrap());
    for connection in [&mut ann, &mut ben] {
        assert!(matches!(next(connection).await, Event::Message(m) if m.msg_id == id));
    }

    let edit = json!({"from_client": "sys", "message": "for ann", "timestamp": ts, "to_clients": ["ann"]});
    ok(&app, Method::PUT, &format!("{base}/messages/{id}"), Some(edit)).await;
    assert_eq!(next_update(&mut ann).await, ("edited".to_owned(), id.clone()));
    assert_quiet(&mut ben).await;

    let recall = json!({"from_client": "sys", "timestamp": ts, "to_clients": ["ben"]});
    ok(&app, Method::PUT, &format!("{base}/messages/{id}/recall"), Some(recall)).await;
    assert_eq!(next_update(&mut ben).await, ("recalled".to_owned(), id.clone()));
    assert_quiet(&mut ann).await;
    let received = |user: &'static str| {
        let (app, path) = (&app, format!("{base}/subscribers/{user}/messages"));
        async move { ok(app, Method::GET, &path, None).await }
    };
    assert_eq!(received("ann").await[0]["msg-id"], id.as_str(), "ann keeps it");
    assert_eq!(received("ben").await, json!([]), "recalled for ben only");

    // A subscriber-wide message: only subscribers named are told.
    for user in ["ann", "ben"] {
        ok(&app, Method::POST, &format!("{base}/subscribers"), Some(json!({"client_id": user}))).await;
    }
    let mut cat = connect(&app, "cat").await;
    let body = json!({"from_client": "sys", "message": "to all"});
    let all = ok(&app, Method::POST, &format!("{base}/broadcasts"), Some(body)).await;
    let (all_id, all_ts) = (all["msg-id"].as_str().unwrap().to_owned(), all["timestamp"].as_i64().unwrap());
    for connection in [&mut ann, &mut ben] {
        assert_eq!(next_message_id(connection).await, all_id);
    }
    let edit =
        json!({"from_client": "sys", "message": "to all, edited", "timestamp": all_ts, "to_clients": ["ben", "cat"]});
    ok(&app, Method::PUT, &format!("{base}/messages/{all_id}"), Some(edit)).await;
    assert_eq!(next_update(&mut ben).await, ("edited".to_owned(), all_id.clone()));
    assert_quiet(&mut ann).await;
    assert_quiet(&mut cat).await;

    let (status, body) = lc(
        &app,
        Method::PUT,
        &format!("{base}/messages/{id}"),
        Some(json!({"from_client": "sys", "message": "x", "timestamp": ts, "to_clients": []})),
    )
    .await;
    assert_lc_error(status, &body, 400, 1);
}

#[tokio::test]
async fn app_wide_broadcasts_are_edited_where_the_seed_says() {
    let app = spawn_app().await;
    let svc = ok(&app, Method::POST, "/service-conversations", Some(json!({"name": "sys"}))).await;
    let svc = svc["objectId"].as_str().unwrap().to_owned();
    app.token_by_id("bob").await;
    let valid_till = app.clock.now_ms() + 3_600_000;
    let body = json!({"from_client": "sys", "conv_id": svc, "message": "hello all", "valid_till": valid_till});
    let sent = ok(&app, Method::POST, "/broadcasts", Some(body)).await;
    let (id, ts) = (sent["msg-id"].as_str().unwrap().to_owned(), sent["timestamp"].as_i64().unwrap());
    let edit = json!({"from_client": "sys", "message": "hello all, edited", "timestamp": ts});
    ok(&app, Method::PUT, &format!("/service-conversations/{svc}/messages/{id}"), Some(edit)).await;
    // Clients that had not received it get the new content; it keeps its expiry.
    let listed = ok(&app, Method::GET, &format!("/broadcasts?conv_id={svc}"), None).await;
    assert_eq!(
        (listed[0]["data"].clone(), listed[0]["valid_till"].clone()),
        (json!("hello all, edited"), json!(valid_till))
    );
    let token = app.token_by_id("bob").await;
    let options = confab_client::ConnectOptions::default();
    let mut bob = Connection::connect(&app.endpoint().ws_url(), &token, options).await.unwrap();
    let got = backlog(&mut bob).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].msg_id, id);
    assert_eq!(got[0].original.as_ref().unwrap()["leancloud"]["data"], "hello all, edited", "{:?}", got[0]);
    // Deleted at `/broadcasts/{id}` only, as the seed says; still a broadcast after the edit.
    let elsewhere = format!("/service-conversations/{svc}/messages/{id}?from_client=sys&timestamp={ts}");
    let (status, body) = lc(&app, Method::DELETE, &elsewhere, None).await;
    assert_lc_error(status, &body, 404, 4404);
    ok(&app, Method::DELETE, &format!("/broadcasts/{id}"), None).await;
}

/// Whether a member's message to a conversation is taken.
async fn says(who: &Connection, conv: &str) -> bool {
    who.send_to("groupchat", conv, json!({"type": "txt", "msg": "hi"}), None).await.is_ok()
}

#[tokio::test]
async fn deleting_one_kind_of_silence_leaves_the_other() {
    let app = spawn_app().await;
    let created =
        ok(&app, Method::POST, "/conversations", Some(json!({"name": "s", "m": ["ann", "ben"], "c": "owner"})));
    let conv = created.await["objectId"].as_str().unwrap().to_owned();
    let base = format!("/conversations/{conv}");
    let ann = connect(&app, "ann").await;
    let ben = connect(&app, "ben").await;

    // Permanent, then temporary, then the temporary one lifted: still silenced.
    ok(&app, Method::POST, &format!("{base}/permanent-silenceds"), Some(json!({"client_ids": ["ann"]}))).await;
    ok(&app, Method::POST, &format!("{base}/temporary-silenceds"), Some(json!({"client_id": "ann", "ttl": 60}))).await;
    ok(&app, Method::DELETE, &format!("{base}/temporary-silenceds?client_id=ann"), None).await;
    assert!(!says(&ann, &conv).await, "the permanent silence holds");
    assert_eq!(ok(&app, Method::GET, &format!("{base}/permanent-silenceds"), None).await["client_ids"], json!(["ann"]));
    app.clock.advance_ms(61_000);
    assert!(!says(&ann, &conv).await, "and outlasts the temporary one");

    // Temporary, then permanent, then the permanent one lifted: silenced until the TTL ends.
    ok(&app, Method::POST, &format!("{base}/temporary-silenceds"), Some(json!({"client_id": "ben", "ttl": 60}))).await;
    ok(&app, Method::POST, &format!("{base}/permanent-silenceds"), Some(json!({"client_ids": ["ben"]}))).await;
    ok(&app, Method::DELETE, &format!("{base}/permanent-silenceds"), Some(json!({"client_ids": ["ben"]}))).await;
    assert!(!says(&ben, &conv).await, "the temporary silence holds");
    assert_eq!(ok(&app, Method::GET, &format!("{base}/permanent-silenceds"), None).await["client_ids"], json!(["ann"]));
    app.clock.advance_ms(61_000);
    assert!(says(&ben, &conv).await, "until its time is up");

    // Lifting both lets a member speak.
    ok(&app, Method::DELETE, &format!("{base}/permanent-silenceds"), Some(json!({"client_ids": ["ann"]}))).await;
    assert!(says(&ann, &conv).await);
    // The bookkeeping is not a field of the conversation.
    let doc = found(&app, "conversations", &conv).await;
    assert!(doc.as_object().unwrap().keys().all(|k| !k.starts_with('\u{1f}')), "{doc}");
}

#[tokio::test]
async fn member_infos_list_members_too_and_a_put_without_role_changes_nothing() {
    let app = spawn_app().await;
    let created = ok(&app, Method::POST, "/conversations", Some(json!({"name": "r", "m": ["ben", "cat"], "c": "ann"})));
    let conv = created.await["objectId"].as_str().unwrap().to_owned();
    let infos = format!("/conversations/{conv}/member-infos");
    ok(&app, Method::POST, &infos, Some(json!({"clientId": "ben", "role": "Manager"}))).await;
    let roles = |body: Value| {
        let mut all: Vec<(String, String)> = body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["clientId"].as_str().unwrap().to_owned(), r["role"].as_str().unwrap().to_owned()))
            .collect();
        all.sort();
        all
    };
    let want = [("ann", "Owner"), ("ben", "Manager"), ("cat", "Member")].map(|(c, r)| (c.to_owned(), r.to_owned()));
    assert_eq!(roles(ok(&app, Method::GET, &infos, None).await), want);
    let members_only = ok(&app, Method::GET, &format!("{infos}?role=Member"), None).await;
    assert_eq!(roles(members_only), [("cat".to_owned(), "Member".to_owned())]);

    ok(&app, Method::PUT, &format!("{infos}/ben"), Some(json!({"clientId": "ben"}))).await;
    assert_eq!(roles(ok(&app, Method::GET, &infos, None).await), want, "no role, no change");
}

#[tokio::test]
async fn paging_continues_after_a_removed_cursor() {
    let app = spawn_app().await;
    // Service conversation subscribers.
    let svc = ok(&app, Method::POST, "/service-conversations", Some(json!({"name": "s"}))).await;
    let base = format!("/service-conversations/{}", svc["objectId"].as_str().unwrap());
    for user in ["d", "a", "c", "b"] {
        app.clock.advance_ms(5);
        ok(&app, Method::POST, &format!("{base}/subscribers"), Some(json!({"client_id": user}))).await;
    }
    let names = |page: Value| -> Vec<String> {
        page.as_array().unwrap().iter().map(|s| s["subscriber"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(ok(&app, Method::GET, &format!("{base}/subscribers?limit=2"), None).await), ["a", "b"]);
    ok(&app, Method::DELETE, &format!("{base}/subscribers/b"), None).await;
    assert_eq!(names(ok(&app, Method::GET, &format!("{base}/subscribers?client_id=b"), None).await), ["c", "d"]);

    // A conversation's permanent silences (and every `limit`/`next` list).
    let created = ok(&app, Method::POST, "/conversations", Some(json!({"name": "p", "c": "owner"}))).await;
    let silenced = format!("/conversations/{}/permanent-silenceds", created["objectId"].as_str().unwrap());
    ok(&app, Method::POST, &silenced, Some(json!({"client_ids": ["u1", "u2", "u3", "u4", "u5"]}))).await;
    let first = ok(&app, Method::GET, &format!("{silenced}?limit=2"), None).await;
    assert_eq!(first["client_ids"], json!(["u1", "u2"]));
    ok(&app, Method::DELETE, &silenced, Some(json!({"client_ids": ["u2"]}))).await;
    let next = first["next"].as_str().unwrap();
    let second = ok(&app, Method::GET, &format!("{silenced}?limit=2&next={}", urlencode(next)), None).await;
    assert_eq!(second["client_ids"], json!(["u3", "u4"]), "{second}");

    // A client's subscriptions.
    let mut subscribed = Vec::new();
    for name in ["s1", "s2", "s3"] {
        app.clock.advance_ms(5);
        let made = ok(&app, Method::POST, "/service-conversations", Some(json!({"name": name}))).await;
        let id = made["objectId"].as_str().unwrap().to_owned();
        ok(&app, Method::POST, &format!("/service-conversations/{id}/subscribers"), Some(json!({"client_id": "zoe"})))
            .await;
        subscribed.push(id);
    }
    let page = ok(&app, Method::GET, "/clients/zoe/service-conversations?limit=2", None).await;
    let ids: Vec<&str> = page.as_array().unwrap().iter().map(|s| s["conv_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [subscribed[0].as_str(), subscribed[1].as_str()]);
    let (cursor, at) = (subscribed[1].clone(), page[1]["timestamp"].as_i64().unwrap());
    ok(&app, Method::DELETE, &format!("/service-conversations/{cursor}/subscribers/zoe"), None).await;
    let after = format!("/clients/zoe/service-conversations?conv_id={cursor}&timestamp={at}");
    let rest = ok(&app, Method::GET, &after, None).await;
    let ids: Vec<&str> = rest.as_array().unwrap().iter().map(|s| s["conv_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [subscribed[2].as_str()], "after where the cursor was, not from the start");
    let back = format!("/clients/zoe/service-conversations?direction=old&conv_id={cursor}&timestamp={at}");
    let older = ok(&app, Method::GET, &back, None).await;
    assert_eq!(older[0]["conv_id"], subscribed[0].as_str());
}

#[tokio::test]
async fn clients_need_no_creation_to_send_or_be_sent_to() {
    let app = spawn_app().await;
    let created = ok(&app, Method::POST, "/conversations", Some(json!({"name": "n", "m": ["Never.Seen@example.com"]})));
    let conv = created.await["objectId"].as_str().unwrap().to_owned();
    // A sender named for the first time.
    let sent = json!({"from_client": "First-Time Sender", "message": "hi"});
    ok(&app, Method::POST, &format!("/conversations/{conv}/messages"), Some(sent)).await;
    let history = ok(&app, Method::GET, &format!("/conversations/{conv}/messages"), None).await;
    assert_eq!(history[0]["from"], "First-Time Sender");
    // Service messages to clients nobody made: they get them when they come.
    let svc = ok(&app, Method::POST, "/service-conversations", Some(json!({"name": "s"}))).await;
    let base = format!("/service-conversations/{}", svc["objectId"].as_str().unwrap());
    let chosen = json!({"from_client": "sys", "to_clients": ["newcomer"], "message": "welcome"});
    let id =
        ok(&app, Method::POST, &format!("{base}/messages"), Some(chosen)).await["msg-id"].as_str().unwrap().to_owned();
    let token = app.token_by_id("newcomer").await;
    let options = confab_client::ConnectOptions::default();
    let mut newcomer = Connection::connect(&app.endpoint().ws_url(), &token, options).await.unwrap();
    assert_eq!(backlog(&mut newcomer).await.iter().map(|m| m.msg_id.clone()).collect::<Vec<_>>(), [id]);
}

/// A login signature for a client ID, made with the master key as an app's
/// backend makes it (the client ID need not exist).
fn signed_login(app: &TestApp, client: &str) -> confab_protocol::SignedLogin {
    use hmac::Mac;
    let (timestamp, nonce) = (app.clock.now_ms(), crate::helpers::next_nonce());
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(LC_MASTER_KEY.as_bytes()).unwrap();
    mac.update(format!("{LC_APP_ID}:{client}::{timestamp}:{nonce}").as_bytes());
    let signature = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    confab_protocol::SignedLogin { app_id: LC_APP_ID.into(), client_id: client.into(), timestamp, nonce, signature }
}

/// Logs a client in by a LeanCloud signature; answers its backlog's message IDs.
async fn signed_backlog(app: &TestApp, client: &str) -> (Connection, Vec<String>) {
    let options = ConnectOptions { leancloud: Some(signed_login(app, client)), ..Default::default() };
    let mut connection = Connection::connect(&app.endpoint().ws_url(), "", options).await.expect("signed login");
    let got = backlog(&mut connection).await.into_iter().map(|m| m.msg_id).collect();
    (connection, got)
}

/// Logs a user in with a token from the Easemob inherit grant (creating it);
/// answers its backlog's message IDs.
async fn inherit_backlog(app: &TestApp, user: &str) -> Vec<String> {
    let token = app.token_by_id(user).await;
    let mut connection =
        Connection::connect(&app.endpoint().ws_url(), &token, ConnectOptions::default()).await.unwrap();
    backlog(&mut connection).await.into_iter().map(|m| m.msg_id).collect()
}

async fn offline_count(app: &TestApp, user: &str) -> Value {
    app.get(&format!("/users/{user}/offline_msg_count")).await.1["data"][user].clone()
}

async fn send_broadcast(app: &TestApp, svc: &str, text: &str, valid_for_ms: i64) -> String {
    let valid_till = app.clock.now_ms() + valid_for_ms;
    let body = json!({"from_client": "sys", "conv_id": svc, "message": text, "valid_till": valid_till});
    ok(app, Method::POST, "/broadcasts", Some(body)).await["msg-id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn app_wide_broadcasts_reach_clients_first_seen_before_they_lapse_once() {
    let app = spawn_app().await;
    let svc = ok(&app, Method::POST, "/service-conversations", Some(json!({"name": "sys"}))).await;
    let svc = svc["objectId"].as_str().unwrap().to_owned();
    let id = send_broadcast(&app, &svc, "hello all", 3_600_000).await;

    // A client ID never seen before, logging in by a LeanCloud signature:
    // it gets the broadcast, and once only.
    let (carol, got) = signed_backlog(&app, "carol").await;
    assert_eq!(got, [id.as_str()]);
    eventually(|| async { offline_count(&app, "carol").await == 0 }).await;
    carol.close().await;
    let (_carol, got) = signed_backlog(&app, "carol").await;
    assert!(got.is_empty(), "delivered twice: {got:?}");

    // A user first seen through the Easemob inherit grant has it waiting
    // from creation on.
    app.token_by_id("dave").await;
    assert_eq!(offline_count(&app, "dave").await, 1);
    assert_eq!(inherit_backlog(&app, "dave").await, [id.as_str()]);

    // After `valid_till`, a new client gets nothing.
    app.clock.advance_ms(3_600_000);
    assert!(signed_backlog(&app, "erin").await.1.is_empty());
    assert_eq!(offline_count(&app, "erin").await, 0);
}

#[tokio::test]
async fn new_clients_get_only_broadcasts_still_deliverable_and_not_deleted() {
    let app = spawn_app().await;
    let svc = ok(&app, Method::POST, "/service-conversations", Some(json!({"name": "sys"}))).await;
    let svc = svc["objectId"].as_str().unwrap().to_owned();
    let short = send_broadcast(&app, &svc, "for ten minutes", 600_000).await;
    let deleted = send_broadcast(&app, &svc, "oops", 3_600_000).await;
    let kept = send_broadcast(&app, &svc, "for an hour", 3_600_000).await;
    ok(&app, Method::DELETE, &format!("/broadcasts/{deleted}"), None).await;
    assert_eq!(inherit_backlog(&app, "frank").await, [short.as_str(), kept.as_str()]);

    // The first has lapsed: a new client joins from the one still deliverable.
    app.clock.advance_ms(600_000);
    let (_gina, got) = signed_backlog(&app, "gina").await;
    assert_eq!(got, [kept.as_str()]);
    // The one left deleted too: nothing for anyone new, nothing again for those who have it.
    ok(&app, Method::DELETE, &format!("/broadcasts/{kept}"), None).await;
    assert!(inherit_backlog(&app, "hank").await.is_empty());
    assert_eq!(offline_count(&app, "hank").await, 0);
}
