//! The LeanCloud RTM REST dialect (L-*): authentication, conversations and
//! their `where` queries, messages and the history table, silences, roles,
//! blacklists, chat rooms, service conversations, clients, app-wide calls,
//! the v1.1 calls and the rate limits, over real HTTP and WebSocket.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use confab_client::{ConnectOptions, Connection, Event};
use confab_core::clock::Clock;

use crate::helpers::{assert_quiet, backlog, next, spawn_app, TestApp, LC_APP_ID, LC_APP_KEY, LC_MASTER_KEY};

pub(crate) async fn lc(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    app.leancloud(method, &format!("/1.2/rtm{path}"), body).await
}

pub(crate) async fn ok(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, body) = lc(app, method, path, body).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

pub(crate) fn assert_lc_error(status: StatusCode, body: &Value, want_status: u16, want_code: i64) {
    assert_eq!(status.as_u16(), want_status, "{body}");
    assert_eq!(body["code"], want_code, "{body}");
    assert!(body["error"].is_string(), "{body}");
}

async fn create(app: &TestApp, body: Value) -> String {
    let created = ok(app, Method::POST, "/conversations", Some(body)).await;
    created["objectId"].as_str().unwrap().to_owned()
}

pub(crate) async fn connect(app: &TestApp, name: &str) -> Connection {
    let token = app.token_by_id(name).await;
    let mut connection =
        Connection::connect(&app.endpoint().ws_url(), &token, ConnectOptions::default()).await.unwrap();
    backlog(&mut connection).await;
    connection
}

async fn send(app: &TestApp, path: &str, from: &str, message: &str) -> (String, i64) {
    let sent = ok(app, Method::POST, path, Some(json!({"from_client": from, "message": message}))).await;
    (sent["msg-id"].as_str().unwrap().to_owned(), sent["timestamp"].as_i64().unwrap())
}

/// The next message, past any group events.
async fn next_text(connection: &mut Connection) -> confab_client::MessageFrame {
    loop {
        match next(connection).await {
            Event::Message(m) => return m,
            Event::Group { .. } | Event::Synced => continue,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn credentials_are_checked_as_the_vendor_does() {
    let app = spawn_app().await;
    let path = "/1.2/rtm/conversations";
    let (status, body) = app.leancloud_with(Method::GET, path, None, &[]).await;
    assert_eq!((status.as_u16(), body.clone()), (401, json!({"code": 401, "error": "Unauthorized."})));
    let wrong =
        app.leancloud_with(Method::GET, path, None, &[("X-LC-Id", LC_APP_ID), ("X-LC-Key", "nope,master")]).await;
    assert_lc_error(wrong.0, &wrong.1, 401, 401);
    let other_app =
        app.leancloud_with(Method::GET, path, None, &[("X-LC-Id", "other"), ("X-LC-Key", LC_APP_KEY)]).await;
    assert_lc_error(other_app.0, &other_app.1, 401, 401);
    // The app key is not the master key.
    let app_key =
        app.leancloud_with(Method::GET, path, None, &[("X-LC-Id", LC_APP_ID), ("X-LC-Key", LC_APP_KEY)]).await;
    assert_lc_error(app_key.0, &app_key.1, 403, 403);
    // X-LC-Sign: md5(timestamp + key), with `,master` for the master key.
    let now = app.clock.now_ms().to_string();
    let sign = |key: &str| {
        use std::fmt::Write as _;
        let digest = md5_hex(&format!("{now}{key}"));
        let mut out = String::new();
        write!(out, "{digest},{now}").unwrap();
        out
    };
    let master = format!("{},master", sign(LC_MASTER_KEY));
    let (status, _) =
        app.leancloud_with(Method::GET, path, None, &[("X-LC-Id", LC_APP_ID), ("X-LC-Sign", &master)]).await;
    assert_eq!(status, StatusCode::OK);
    let as_app = sign(LC_APP_KEY);
    let unread = "/1.2/rtm/clients/someone/unread-count";
    let (status, body) =
        app.leancloud_with(Method::GET, unread, None, &[("X-LC-Id", LC_APP_ID), ("X-LC-Sign", &as_app)]).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"count": 0})), "the app key is enough here");
    let stale = format!("{},{},master", md5_hex(&format!("1000{LC_MASTER_KEY}")), 1000);
    let (status, _) =
        app.leancloud_with(Method::GET, path, None, &[("X-LC-Id", LC_APP_ID), ("X-LC-Sign", &stale)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = app
        .leancloud_with(
            Method::POST,
            path,
            Some(json!([1, 2])),
            &[("X-LC-Id", LC_APP_ID), ("X-LC-Key", &format!("{LC_MASTER_KEY},master"))],
        )
        .await;
    assert_lc_error(status, &body, 400, 107);
}

fn md5_hex(text: &str) -> String {
    use md5::Digest;
    md5::Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn conversations_are_made_found_changed_and_deleted() {
    let app = spawn_app().await;
    let created = ok(
        &app,
        Method::POST,
        "/conversations",
        Some(json!({"name": "My First Conversation", "m": ["BillGates", "SteveJobs"], "unique": true, "level": 3})),
    )
    .await;
    let id = created["objectId"].as_str().unwrap().to_owned();
    assert_eq!(created["m"], json!(["BillGates", "SteveJobs"]), "client IDs are case-sensitive, kept as given");
    assert_eq!(created["unique"], true);
    assert!(created["uniqueId"].as_str().unwrap().len() == 32);
    assert!(created["createdAt"].as_str().unwrap().ends_with('Z'));
    // The same members, unique: the same conversation.
    let again = ok(
        &app,
        Method::POST,
        "/conversations",
        Some(json!({"name": "again", "m": ["SteveJobs", "BillGates"], "unique": true})),
    )
    .await;
    assert_eq!(again["objectId"], id.as_str());
    // Other spellings are other clients, so another conversation.
    let folded = ok(
        &app,
        Method::POST,
        "/conversations",
        Some(json!({"name": "folded", "m": ["stevejobs", "billgates"], "unique": true})),
    )
    .await;
    assert_ne!(folded["objectId"], id.as_str());
    ok(&app, Method::DELETE, &format!("/conversations/{}", folded["objectId"].as_str().unwrap()), None).await;
    let other =
        create(&app, json!({"name": "second", "m": ["BillGates", "ada"], "level": 5, "attr": {"type": "work"}})).await;
    assert_ne!(other, id);
    let third = create(&app, json!({"name": "third", "m": ["ada"], "level": 1})).await;

    let find = |q: Value| {
        let app = &app;
        async move {
            let path = format!("/conversations?where={}", urlencode(&q.to_string()));
            let body = ok(app, Method::GET, &path, None).await;
            body["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["objectId"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(find(json!({"m": "BillGates"})).await, [id.clone(), other.clone()]);
    assert!(find(json!({"m": "billgates"})).await.is_empty(), "client IDs are case-sensitive");
    assert_eq!(find(json!({"m": {"$all": ["BillGates", "ada"]}})).await, [other.as_str()]);
    assert_eq!(find(json!({"level": {"$gte": 3}})).await, [id.clone(), other.clone()]);
    assert_eq!(find(json!({"level": {"$in": [1, 5]}})).await, [other.clone(), third.clone()]);
    assert_eq!(find(json!({"level": {"$nin": [1, 5]}})).await, [id.as_str()]);
    assert_eq!(find(json!({"name": {"$ne": "third"}, "attr.type": "work"})).await, [other.as_str()]);
    assert_eq!(find(json!({"attr": {"$exists": false}})).await, [id.clone(), third.clone()]);
    assert_eq!(find(json!({"$or": [{"name": "third"}, {"level": 3}]})).await, [id.clone(), third.clone()]);
    assert_eq!(find(json!({"name": {"$regex": "^SEC", "$options": "i"}})).await, [other.as_str()]);
    assert_eq!(
        find(json!({"createdAt": {"$gt": {"__type": "Date", "iso": "2000-01-01T00:00:00.000Z"}}})).await.len(),
        3
    );
    let ordered = ok(&app, Method::GET, "/conversations?order=-level&limit=2&skip=1", None).await;
    let names: Vec<&str> = ordered["results"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["My First Conversation", "third"]);
    for bad in ["{not json", r#"{"level": {"$near": 1}}"#, r#"{"m": {"$in": 5}}"#] {
        let (status, body) = lc(&app, Method::GET, &format!("/conversations?where={}", urlencode(bad)), None).await;
        assert_lc_error(status, &body, 400, 1);
    }

    let changed =
        ok(&app, Method::PUT, &format!("/conversations/{third}"), Some(json!({"name": "renamed", "level": 9}))).await;
    assert_eq!(changed["objectId"], third.as_str());
    assert!(changed["updatedAt"].is_string());
    assert_eq!(find(json!({"name": "renamed", "level": 9})).await, [third.as_str()]);
    let (status, body) = lc(&app, Method::PUT, &format!("/conversations/{third}"), Some(json!({"m": ["x"]}))).await;
    assert_lc_error(status, &body, 400, 1);

    // Members.
    ok(&app, Method::POST, &format!("/conversations/{third}/members"), Some(json!({"client_ids": ["Tom", "jerry"]})))
        .await;
    let members = ok(&app, Method::GET, &format!("/conversations/{third}/members"), None).await;
    // Members who joined in the same millisecond are listed by ID.
    assert_eq!(members, json!({"result": ["ada", "Tom", "jerry"]}));
    ok(&app, Method::DELETE, &format!("/conversations/{third}/members"), Some(json!({"client_ids": ["Tom"]}))).await;
    assert_eq!(
        ok(&app, Method::GET, &format!("/conversations/{third}/members"), None).await["result"],
        json!(["ada", "jerry"])
    );
    // Notification mutes.
    ok(&app, Method::POST, &format!("/conversations/{third}/mutes"), Some(json!({"client_ids": ["ada"]}))).await;
    assert_eq!(ok(&app, Method::GET, &format!("/conversations/{third}/mutes"), None).await["result"], json!(["ada"]));
    ok(&app, Method::DELETE, &format!("/conversations/{third}/mutes"), Some(json!({"client_ids": ["ada"]}))).await;
    assert_eq!(ok(&app, Method::GET, &format!("/conversations/{third}/mutes"), None).await["result"], json!([]));

    // The same conversation is a group the Easemob dialect lists and messages.
    let (status, body) = app.get(&format!("/chatgroups/{third}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post(
            "/messages/chatgroups",
            json!({"from": "ada", "to": [third], "type": "txt", "body": {"msg": "from easemob"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let history = ok(&app, Method::GET, &format!("/conversations/{third}/messages"), None).await;
    assert_eq!(history[0]["data"], "from easemob");

    assert_eq!(ok(&app, Method::DELETE, &format!("/conversations/{third}"), None).await, json!({}));
    let (status, body) = lc(&app, Method::DELETE, &format!("/conversations/{third}"), None).await;
    assert_lc_error(status, &body, 404, 4303);
    // Unnamed conversations are fine.
    let unnamed = ok(&app, Method::POST, "/conversations", Some(json!({"m": ["ada", "zed"]}))).await;
    assert_eq!(unnamed["name"], "");
    let too_many: Vec<String> = (0..501).map(|i| format!("u{i}")).collect();
    let (status, body) = lc(&app, Method::POST, "/conversations", Some(json!({"m": too_many}))).await;
    assert_lc_error(status, &body, 400, 1);
}

pub fn urlencode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn history_follows_the_seeds_table() {
    let app = spawn_app().await;
    let conv = create(&app, json!({"name": "h", "m": ["a", "b"]})).await;
    let path = format!("/conversations/{conv}/messages");
    let mut sent = Vec::new();
    for text in ["one", "two", "three"] {
        app.clock.advance_ms(10);
        sent.push(send(&app, &path, "a", text).await);
    }
    let [(id1, t1), (id2, _), (id3, t3)] = [sent[0].clone(), sent[1].clone(), sent[2].clone()];
    let table = [
        (format!("timestamp={t3}&msgid={id3}&till_timestamp={t1}&till_msgid={id1}"), vec![&id2]),
        (
            format!("timestamp={t3}&msgid={id3}&till_timestamp={t1}&till_msgid={id1}&include_start=true"),
            vec![&id3, &id2],
        ),
        (
            format!("timestamp={t3}&msgid={id3}&till_timestamp={t1}&till_msgid={id1}&include_stop=true"),
            vec![&id2, &id1],
        ),
        (format!("timestamp={t1}&msgid={id1}&till_timestamp={t3}&till_msgid={id3}&reversed=true"), vec![&id2]),
        (
            format!("timestamp={t1}&msgid={id1}&till_timestamp={t3}&till_msgid={id3}&include_start=true&reversed=true"),
            vec![&id1, &id2],
        ),
        (
            format!("timestamp={t1}&msgid={id1}&till_timestamp={t3}&till_msgid={id3}&include_stop=true&reversed=true"),
            vec![&id2, &id3],
        ),
    ];
    for (query, want) in table {
        let records = ok(&app, Method::GET, &format!("{path}?{query}"), None).await;
        let got: Vec<&str> = records.as_array().unwrap().iter().map(|r| r["msg-id"].as_str().unwrap()).collect();
        let want: Vec<&str> = want.iter().map(|s| s.as_str()).collect();
        assert_eq!(got, want, "{query}");
    }
    // Defaults: newest first, everything; `limit` caps.
    let all = ok(&app, Method::GET, &path, None).await;
    let record = &all[0];
    assert_eq!(record["msg-id"], id3.as_str());
    assert_eq!(record["data"], "three");
    assert_eq!(
        (record["conv-id"].clone(), record["to"].clone(), record["from"].clone()),
        (json!(conv), json!(conv), json!("a"))
    );
    assert_eq!(
        (record["is-conv"].clone(), record["is-room"].clone(), record["bin"].clone()),
        (json!(true), json!(false), json!(false))
    );
    assert!(record["from-ip"].is_string() && record["timestamp"] == t3);
    assert_eq!(ok(&app, Method::GET, &format!("{path}?limit=1&reversed=true"), None).await[0]["msg-id"], id1.as_str());
    let (status, body) = lc(&app, Method::GET, &format!("{path}?msgid={id1}"), None).await;
    assert_lc_error(status, &body, 400, 1);
}

#[tokio::test]
async fn messages_are_sent_edited_recalled_and_deleted() {
    let app = spawn_app().await;
    let conv = create(&app, json!({"name": "m", "m": ["alice", "bob"]})).await;
    let path = format!("/conversations/{conv}/messages");
    let mut bob = connect(&app, "bob").await;
    let mut alice = connect(&app, "alice").await;

    let rich = json!({"_lctype": -1, "_lctext": "hello rich", "_lcattrs": {"k": 1}}).to_string();
    let body = json!({"from_client": "alice", "message": rich, "mention_client_ids": ["bob"], "no_sync": true});
    let sent = ok(&app, Method::POST, &path, Some(body)).await;
    let id = sent["msg-id"].as_str().unwrap().to_owned();
    let got = next_text(&mut bob).await;
    assert_eq!(got.body["msg"], "hello rich", "other dialects see the text");
    assert_eq!(got.original.as_ref().unwrap()["leancloud"]["data"], rich.as_str(), "the data, unchanged");
    assert_eq!(got.original.as_ref().unwrap()["leancloud"]["mentions"], json!(["bob"]), "mentions come with it");
    assert_quiet(&mut alice).await;
    // Without no_sync, the sender's devices get it too.
    send(&app, &path, "alice", "synced").await;
    assert_eq!(next_text(&mut alice).await.body["msg"], "synced");
    next_text(&mut bob).await;

    // Transient: delivered to who is connected, never stored.
    let transient = json!({"from_client": "alice", "message": "typing…", "transient": true});
    ok(&app, Method::POST, &path, Some(transient)).await;
    let got = next_text(&mut bob).await;
    assert!(got.transient && got.seq == 0, "{got:?}");
    let history = ok(&app, Method::GET, &path, None).await;
    assert_eq!(history.as_array().unwrap().len(), 2, "transient messages are not history");

    // Edit, recall, delete: checked against the sender and time.
    let timestamp = sent["timestamp"].as_i64().unwrap();
    let edit = json!({"from_client": "alice", "message": "edited", "timestamp": timestamp});
    ok(&app, Method::PUT, &format!("{path}/{id}"), Some(edit)).await;
    assert!(
        matches!(next(&mut bob).await, Event::Update { change, msg, .. } if change == "edited" && msg.as_ref().unwrap().body["msg"] == "edited")
    );
    let wrong = json!({"from_client": "bob", "message": "x", "timestamp": timestamp});
    let (status, body) = lc(&app, Method::PUT, &format!("{path}/{id}"), Some(wrong)).await;
    assert_lc_error(status, &body, 404, 4404);
    ok(
        &app,
        Method::PUT,
        &format!("{path}/{id}/recall"),
        Some(json!({"from_client": "alice", "timestamp": timestamp})),
    )
    .await;
    assert!(matches!(next(&mut bob).await, Event::Update { change, .. } if change == "recalled"));
    let history = ok(&app, Method::GET, &path, None).await;
    let recalled = history.as_array().unwrap().iter().find(|r| r["msg-id"] == id.as_str()).unwrap();
    assert!(recalled["data"].as_str().unwrap().contains("-127"), "{recalled}");
    let (second, second_ts) = send(&app, &path, "alice", "to delete").await;
    next_text(&mut bob).await;
    let query = format!("{path}/{second}?from_client=alice&timestamp={second_ts}");
    assert_eq!(ok(&app, Method::DELETE, &query, None).await, json!({}));
    assert_quiet(&mut bob).await;
    let history = ok(&app, Method::GET, &path, None).await;
    assert!(history.as_array().unwrap().iter().all(|r| r["msg-id"] != second.as_str()), "gone from the server");

    // Limits and missing targets.
    let big = json!({"from_client": "alice", "message": "x".repeat(5 * 1024 + 1)});
    let (status, body) = lc(&app, Method::POST, &path, Some(big)).await;
    assert_lc_error(status, &body, 400, 4109);
    let mentions: Vec<String> = (0..21).map(|i| format!("u{i}")).collect();
    let (status, body) = lc(
        &app,
        Method::POST,
        &path,
        Some(json!({"from_client": "a", "message": "x", "mention_client_ids": mentions})),
    )
    .await;
    assert_lc_error(status, &body, 400, 1);
    let (status, body) =
        lc(&app, Method::POST, "/conversations/404/messages", Some(json!({"from_client": "a", "message": "x"}))).await;
    assert_lc_error(status, &body, 404, 4401);
    let (status, body) = lc(&app, Method::POST, &path, Some(json!({"message": "x"}))).await;
    assert_lc_error(status, &body, 400, 1);
}

#[tokio::test]
async fn silences_roles_and_blacklists_are_enforced() {
    let app = spawn_app().await;
    let conv = create(&app, json!({"name": "s", "m": ["owner", "ann", "ben"], "c": "owner"})).await;
    let base = format!("/conversations/{conv}");
    let ann = connect(&app, "ann").await;

    // A temporary silence, with its TTL.
    ok(&app, Method::POST, &format!("{base}/temporary-silenceds"), Some(json!({"client_id": "ann", "ttl": 50}))).await;
    let refused = ann.send_to("groupchat", &conv, json!({"type": "txt", "msg": "hi"}), None).await;
    assert!(refused.unwrap_err().to_string().contains("forbidden"));
    app.clock.advance_ms(51_000);
    ann.send_to("groupchat", &conv, json!({"type": "txt", "msg": "free again"}), None).await.unwrap();
    let (status, body) = lc(
        &app,
        Method::POST,
        &format!("{base}/temporary-silenceds"),
        Some(json!({"client_id": "ann", "ttl": 86_401})),
    )
    .await;
    assert_lc_error(status, &body, 400, 1);
    ok(&app, Method::POST, &format!("{base}/temporary-silenceds"), Some(json!({"client_id": "ann", "ttl": 600}))).await;
    ok(&app, Method::DELETE, &format!("{base}/temporary-silenceds?client_id=ann"), None).await;
    ann.send_to("groupchat", &conv, json!({"type": "txt", "msg": "unsilenced"}), None).await.unwrap();

    // Permanent silences, paged by limit/next.
    let many: Vec<String> = (0..12).map(|i| format!("p{i:02}")).collect();
    ok(&app, Method::POST, &format!("{base}/permanent-silenceds"), Some(json!({"client_ids": many}))).await;
    let first = ok(&app, Method::GET, &format!("{base}/permanent-silenceds"), None).await;
    assert_eq!(first["client_ids"].as_array().unwrap().len(), 10);
    let next_page = first["next"].as_str().unwrap();
    let second = ok(&app, Method::GET, &format!("{base}/permanent-silenceds?limit=10&next={next_page}"), None).await;
    assert_eq!(second["client_ids"].as_array().unwrap().len(), 2);
    assert!(second.get("next").is_none());
    ok(&app, Method::DELETE, &format!("{base}/permanent-silenceds"), Some(json!({"client_ids": ["p00"]}))).await;
    let past_cap: Vec<String> = (0..490).map(|i| format!("q{i}")).collect();
    let (status, body) =
        lc(&app, Method::POST, &format!("{base}/permanent-silenceds"), Some(json!({"client_ids": past_cap}))).await;
    assert_lc_error(status, &body, 400, 4561);

    // Roles: listed, filtered, and they hold.
    ok(&app, Method::POST, &format!("{base}/member-infos"), Some(json!({"clientId": "ben", "role": "Manager"}))).await;
    let infos = ok(&app, Method::GET, &format!("{base}/member-infos?role=Manager"), None).await;
    assert_eq!(infos["results"], json!([{"clientId": "ben", "objectId": "ben", "role": "Manager"}]));
    let all = ok(&app, Method::GET, &format!("{base}/member-infos"), None).await;
    assert_eq!(all["results"].as_array().unwrap().len(), 3, "the owner, the manager and the member");
    let (status, body) =
        lc(&app, Method::POST, &format!("{base}/member-infos"), Some(json!({"clientId": "ben", "role": "King"}))).await;
    assert_lc_error(status, &body, 400, 4321);
    let (status, body) = lc(&app, Method::DELETE, &format!("{base}/member-infos/owner"), None).await;
    assert_lc_error(status, &body, 400, 4324);
    ok(&app, Method::PUT, &format!("{base}/member-infos/ben"), Some(json!({"role": "Owner"}))).await;
    let (status, body) = app.get(&format!("/chatgroups/{conv}")).await;
    assert_eq!(body["data"][0]["owner"], "ben", "{status} {body}");
    ok(&app, Method::DELETE, &format!("{base}/member-infos/ann"), None).await;

    // Blacklists: removed, and cannot come back.
    ok(&app, Method::POST, &format!("{base}/blacklists"), Some(json!({"client_ids": ["ann"]}))).await;
    assert_eq!(ok(&app, Method::GET, &format!("{base}/members"), None).await["result"], json!(["ben", "owner"]));
    ok(&app, Method::POST, &format!("{base}/members"), Some(json!({"client_ids": ["ann"]}))).await;
    assert!(!ok(&app, Method::GET, &format!("{base}/members"), None).await["result"]
        .as_array()
        .unwrap()
        .contains(&json!("ann")));
    assert_eq!(ok(&app, Method::GET, &format!("{base}/blacklists"), None).await["client_ids"], json!(["ann"]));
    ok(&app, Method::DELETE, &format!("{base}/blacklists"), Some(json!({"client_ids": ["ann"]}))).await;
    ok(&app, Method::POST, &format!("{base}/members"), Some(json!({"client_ids": ["ann"]}))).await;
    assert!(ok(&app, Method::GET, &format!("{base}/members"), None).await["result"]
        .as_array()
        .unwrap()
        .contains(&json!("ann")));
    let full: Vec<String> = (0..501).map(|i| format!("b{i}")).collect();
    let (status, body) = lc(&app, Method::POST, &format!("{base}/blacklists"), Some(json!({"client_ids": full}))).await;
    assert_lc_error(status, &body, 400, 1);
}

#[tokio::test]
async fn chat_rooms_count_who_is_there() {
    let app = spawn_app().await;
    let created = ok(&app, Method::POST, "/chatrooms", Some(json!({"name": "My First Chatroom"}))).await;
    let room = created["objectId"].as_str().unwrap().to_owned();
    assert!(created["createdAt"].is_string());
    let found =
        ok(&app, Method::GET, &format!("/chatrooms?where={}", urlencode(r#"{"name":"My First Chatroom"}"#)), None)
            .await;
    assert_eq!(found["results"][0]["tr"], true);
    let mut ann = connect(&app, "ann").await;
    let ben = connect(&app, "ben").await;
    ann.join_room(&room).await.unwrap();
    ben.join_room(&room).await.unwrap();
    assert_eq!(
        ok(&app, Method::GET, &format!("/chatrooms/{room}/members/online-count"), None).await,
        json!({"result": 2})
    );
    drop(ben);
    crate::helpers::eventually(|| async {
        ok(&app, Method::GET, &format!("/chatrooms/{room}/members/online-count"), None).await == json!({"result": 1})
    })
    .await;
    assert_eq!(ok(&app, Method::GET, &format!("/chatrooms/{room}/members"), None).await, json!({"result": ["ann"]}));
    send(&app, &format!("/chatrooms/{room}/messages"), "sys", "to the room").await;
    assert_eq!(next_text(&mut ann).await.body["msg"], "to the room");
    // Chat rooms do not sync a message to its sender's devices.
    send(&app, &format!("/chatrooms/{room}/messages"), "ann", "mine").await;
    assert_quiet(&mut ann).await;
    let history = ok(&app, Method::GET, &format!("/chatrooms/{room}/messages"), None).await;
    assert_eq!(history[0]["is-room"], true);
    // Rooms take silences, roles and blacklists as conversations do, with blacklists of up to 10,000.
    ok(
        &app,
        Method::POST,
        &format!("/chatrooms/{room}/temporary-silenceds"),
        Some(json!({"client_id": "ann", "ttl": 30})),
    )
    .await;
    let refused = ann.send_to("chatroom", &room, json!({"type": "txt", "msg": "hi"}), None).await;
    assert!(refused.unwrap_err().to_string().contains("forbidden"));
    for start in [0, 5000] {
        let batch: Vec<String> = (start..start + 5000).map(|i| format!("k{i}")).collect();
        ok(&app, Method::POST, &format!("/chatrooms/{room}/blacklists"), Some(json!({"client_ids": batch}))).await;
    }
    let (status, body) =
        lc(&app, Method::POST, &format!("/chatrooms/{room}/blacklists"), Some(json!({"client_ids": ["one-more"]})))
            .await;
    assert_lc_error(status, &body, 400, 4543);
    ok(&app, Method::PUT, &format!("/chatrooms/{room}"), Some(json!({"name": "Renamed"}))).await;
    let found = ok(&app, Method::GET, "/chatrooms?where=%7B%22name%22%3A%22Renamed%22%7D", None).await;
    assert_eq!(found["results"][0]["objectId"], room.as_str());
    ok(&app, Method::DELETE, &format!("/chatrooms/{room}"), None).await;
    assert_eq!(ok(&app, Method::GET, "/chatrooms", None).await, json!({"results": []}));
}

#[tokio::test]
async fn service_conversations_reach_subscribers_and_chosen_clients() {
    let app = spawn_app().await;
    let created = ok(&app, Method::POST, "/service-conversations", Some(json!({"name": "News"}))).await;
    let svc = created["objectId"].as_str().unwrap().to_owned();
    let base = format!("/service-conversations/{svc}");
    for user in ["ann", "ben", "cat"] {
        app.clock.advance_ms(5);
        ok(&app, Method::POST, &format!("{base}/subscribers"), Some(json!({"client_id": user}))).await;
    }
    assert_eq!(ok(&app, Method::GET, &format!("{base}/subscribers/count"), None).await, json!({"count": 3}));
    let page = ok(&app, Method::GET, &format!("{base}/subscribers?limit=2"), None).await;
    let names: Vec<&str> = page.as_array().unwrap().iter().map(|s| s["subscriber"].as_str().unwrap()).collect();
    assert_eq!(names, ["ann", "ben"]);
    let rest = ok(&app, Method::GET, &format!("{base}/subscribers?client_id=ben"), None).await;
    assert_eq!(rest[0]["subscriber"], "cat");
    ok(&app, Method::DELETE, &format!("{base}/subscribers/cat"), None).await;

    let mut ann = connect(&app, "ann").await;
    let mut ben = connect(&app, "ben").await;
    let mut dan = connect(&app, "dan").await;
    let (all, all_ts) = send(&app, &format!("{base}/broadcasts"), "sys", "to every subscriber").await;
    assert_eq!(next_text(&mut ann).await.msg_id, all);
    assert_eq!(next_text(&mut ben).await.msg_id, all);
    assert_quiet(&mut dan).await;
    // To chosen clients, subscribed or not.
    let chosen = json!({"from_client": "sys", "to_clients": ["ann", "dan"], "message": "just you"});
    let sent = ok(&app, Method::POST, &format!("{base}/messages"), Some(chosen)).await;
    let private = sent["msg-id"].as_str().unwrap().to_owned();
    assert_eq!(next_text(&mut ann).await.msg_id, private);
    assert_eq!(next_text(&mut dan).await.msg_id, private);
    assert_quiet(&mut ben).await;
    let too_many: Vec<String> = (0..21).map(|i| format!("u{i}")).collect();
    let (status, body) = lc(
        &app,
        Method::POST,
        &format!("{base}/messages"),
        Some(json!({"from_client": "sys", "to_clients": too_many, "message": "x"})),
    )
    .await;
    assert_lc_error(status, &body, 400, 1);

    // What each received; a message deleted for one subscriber only.
    let received = |user: &str| {
        let app = &app;
        let path = format!("{base}/subscribers/{user}/messages");
        async move {
            let records = ok(app, Method::GET, &path, None).await;
            records.as_array().unwrap().iter().map(|r| r["msg-id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(received("ann").await, [private.clone(), all.clone()]);
    assert_eq!(received("ben").await, [all.as_str()]);
    let delete = format!("{base}/subscribers/ann/messages/{all}?from_client=sys&timestamp={all_ts}");
    ok(&app, Method::DELETE, &delete, None).await;
    assert_eq!(received("ann").await, [private.as_str()]);
    assert_eq!(received("ben").await, [all.as_str()]);

    // Edit and recall, broadcast or chosen.
    let sent_ts = sent["timestamp"].as_i64().unwrap();
    let edit = json!({"from_client": "sys", "message": "just you, edited", "timestamp": sent_ts, "to_clients": ["ann", "dan"]});
    ok(&app, Method::PUT, &format!("{base}/messages/{private}"), Some(edit)).await;
    assert!(matches!(next(&mut dan).await, Event::Update { change, .. } if change == "edited"));
    ok(
        &app,
        Method::PUT,
        &format!("{base}/messages/{all}/recall"),
        Some(json!({"from_client": "sys", "timestamp": all_ts})),
    )
    .await;
    assert!(matches!(next(&mut ben).await, Event::Update { change, .. } if change == "recalled"));

    // Service blacklists keep clients from subscribing.
    ok(&app, Method::POST, &format!("{base}/blacklists"), Some(json!({"client_ids": ["ben"]}))).await;
    assert_eq!(ok(&app, Method::GET, &format!("{base}/subscribers/count"), None).await, json!({"count": 1}));
    ok(&app, Method::POST, &format!("{base}/subscribers"), Some(json!({"client_id": "ben"}))).await;
    assert_eq!(ok(&app, Method::GET, &format!("{base}/subscribers/count"), None).await, json!({"count": 1}));
    assert_eq!(ok(&app, Method::GET, &format!("{base}/blacklists"), None).await["client_ids"], json!(["ben"]));

    // Found, changed and deleted like any conversation.
    let found = ok(&app, Method::GET, "/service-conversations?where=%7B%22sys%22%3Atrue%7D", None).await;
    assert_eq!(found["results"][0]["objectId"], svc.as_str());
    ok(&app, Method::PUT, &base, Some(json!({"name": "Daily News"}))).await;
    assert_eq!(ok(&app, Method::GET, "/service-conversations", None).await["results"][0]["name"], "Daily News");
    ok(&app, Method::DELETE, &base, None).await;
    let (status, body) = lc(&app, Method::GET, &format!("{base}/subscribers/count"), None).await;
    assert_lc_error(status, &body, 404, 4303);
}

#[tokio::test]
async fn clients_presence_unread_kicks_and_blacklists() {
    let app = spawn_app().await;
    let conv = create(&app, json!({"name": "c", "m": ["alice", "bob"]})).await;
    let path = format!("/conversations/{conv}/messages");
    let mut bob = connect(&app, "bob").await;
    let online =
        ok(&app, Method::POST, "/clients/check-online", Some(json!({"client_ids": ["bob", "alice", "nobody"]}))).await;
    assert_eq!(online, json!({"results": ["bob"]}));
    let too_many: Vec<String> = (0..21).map(|i| format!("u{i}")).collect();
    let (status, body) = lc(&app, Method::POST, "/clients/check-online", Some(json!({"client_ids": too_many}))).await;
    assert_lc_error(status, &body, 400, 1);

    // Unread counts follow the gateway's read receipts.
    for text in ["one", "two"] {
        send(&app, &path, "alice", text).await;
    }
    let first = next_text(&mut bob).await;
    next_text(&mut bob).await;
    let unread = |q: String| {
        let app = &app;
        async move { ok(app, Method::GET, &format!("/clients/bob/unread-count{q}"), None).await["count"].clone() }
    };
    assert_eq!(unread(String::new()).await, 2);
    bob.read(&first.conv, first.seq).await.unwrap();
    crate::helpers::eventually(|| async { unread(format!("?conv_id={conv}")).await == 1 }).await;

    // What a client sent.
    let sent = ok(&app, Method::GET, "/clients/alice/messages", None).await;
    assert_eq!(sent.as_array().unwrap().len(), 2);
    assert!(ok(&app, Method::GET, "/clients/bob/messages", None).await.as_array().unwrap().is_empty());

    // A client keeps out of a conversation: nobody can add them.
    let other = create(&app, json!({"name": "other", "m": ["alice"]})).await;
    ok(&app, Method::POST, "/clients/carol/blacklists", Some(json!({"conv_id": other}))).await;
    ok(&app, Method::POST, &format!("/conversations/{other}/members"), Some(json!({"client_ids": ["carol"]}))).await;
    assert_eq!(
        ok(&app, Method::GET, &format!("/conversations/{other}/members"), None).await["result"],
        json!(["alice"])
    );
    assert_eq!(ok(&app, Method::GET, "/clients/carol/blacklists", None).await["conv_ids"], json!([other]));
    ok(&app, Method::DELETE, "/clients/carol/blacklists", Some(json!({"conv_id": other}))).await;
    ok(&app, Method::POST, &format!("/conversations/{other}/members"), Some(json!({"client_ids": ["carol"]}))).await;
    assert_eq!(
        ok(&app, Method::GET, &format!("/conversations/{other}/members"), None).await["result"],
        json!(["alice", "carol"])
    );

    // Subscribed service conversations, in either direction.
    let mut services = Vec::new();
    for name in ["s1", "s2"] {
        let created = ok(&app, Method::POST, "/service-conversations", Some(json!({"name": name}))).await;
        let id = created["objectId"].as_str().unwrap().to_owned();
        app.clock.advance_ms(5);
        ok(&app, Method::POST, &format!("/service-conversations/{id}/subscribers"), Some(json!({"client_id": "bob"})))
            .await;
        services.push(id);
    }
    let newest_last = ok(&app, Method::GET, "/clients/bob/service-conversations", None).await;
    let ids: Vec<&str> = newest_last.as_array().unwrap().iter().map(|s| s["conv_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [services[0].as_str(), services[1].as_str()]);
    let newest_first = ok(&app, Method::GET, "/clients/bob/service-conversations?direction=old&limit=1", None).await;
    assert_eq!(newest_first[0]["conv_id"], services[1].as_str());
    // Each carries when bob subscribed, which pages on from it.
    let first = &newest_last[0];
    assert!(first["timestamp"].as_i64().unwrap() <= newest_last[1]["timestamp"].as_i64().unwrap());
    assert!(first["timestamp"].as_i64().unwrap() > 1_600_000_000_000, "a subscription time in ms: {first}");
    let after = format!("/clients/bob/service-conversations?conv_id={}&timestamp={}", services[0], first["timestamp"]);
    let rest = ok(&app, Method::GET, &after, None).await;
    assert_eq!(rest.as_array().unwrap().len(), 1);
    assert_eq!(rest[0]["conv_id"], services[1].as_str());

    // Kicked with a reason.
    ok(&app, Method::POST, "/clients/bob/kick", Some(json!({"reason": "maintenance"}))).await;
    loop {
        match next(&mut bob).await {
            Event::Kicked { reason } => break assert_eq!(reason, "kicked_by_app: maintenance"),
            Event::Group { .. } => continue,
            other => panic!("expected a kick, got {other:?}"),
        }
    }
    let (status, body) = lc(&app, Method::POST, "/clients/bob/kick", Some(json!({"reason": "x".repeat(21)}))).await;
    assert_lc_error(status, &body, 400, 1);
}

#[tokio::test]
async fn login_signatures_are_made_for_a_users_token() {
    let app = spawn_app().await;
    let token = app.token_by_id("alice").await;
    let path = format!("/1.2/rtm/clients/sign?session_token={token}");
    let (status, body) =
        app.leancloud_with(Method::GET, &path, None, &[("X-LC-Id", LC_APP_ID), ("X-LC-Key", LC_APP_KEY)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["client_id"], "alice");
    let expected = {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(LC_MASTER_KEY.as_bytes()).unwrap();
        mac.update(format!("{LC_APP_ID}:alice::{}:{}", body["timestamp"], body["nonce"].as_str().unwrap()).as_bytes());
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    assert_eq!(body["signature"], expected);

    // The gateway takes the signature as a login.
    let signed = confab_protocol::SignedLogin {
        app_id: LC_APP_ID.into(),
        client_id: "alice".into(),
        timestamp: body["timestamp"].as_i64().unwrap(),
        nonce: body["nonce"].as_str().unwrap().into(),
        signature: expected.clone(),
    };
    let options = ConnectOptions { leancloud: Some(signed.clone()), ..Default::default() };
    let mut alice = Connection::connect(&app.endpoint().ws_url(), "", options).await.expect("signed login");
    backlog(&mut alice).await;
    let forged = confab_protocol::SignedLogin { signature: "0".repeat(40), ..signed.clone() };
    let refused = Connection::connect(
        &app.endpoint().ws_url(),
        "",
        ConnectOptions { leancloud: Some(forged), ..Default::default() },
    )
    .await;
    assert!(refused.unwrap_err().to_string().contains("bad_token"));
    let old = confab_protocol::SignedLogin { timestamp: signed.timestamp - 2 * 3600 * 1000, ..signed };
    let refused = Connection::connect(
        &app.endpoint().ws_url(),
        "",
        ConnectOptions { leancloud: Some(old), ..Default::default() },
    )
    .await;
    assert!(refused.is_err());
    let (status, body) = app
        .leancloud_with(
            Method::GET,
            "/1.2/rtm/clients/sign?session_token=bad",
            None,
            &[("X-LC-Id", LC_APP_ID), ("X-LC-Key", LC_APP_KEY)],
        )
        .await;
    assert_lc_error(status, &body, 400, 211);
}

#[tokio::test]
async fn app_wide_calls_stats_broadcasts_and_history() {
    let app = spawn_app().await;
    let _alice = connect(&app, "alice").await;
    let svc = ok(&app, Method::POST, "/service-conversations", Some(json!({"name": "sys"}))).await["objectId"]
        .as_str()
        .unwrap()
        .to_owned();
    app.token_by_id("bob").await;
    app.token_by_id("late").await;
    let stats = ok(&app, Method::GET, "/stats", None).await;
    assert_eq!(stats["result"]["online_user_count"], 1);
    assert_eq!(stats["result"]["user_count_today"], 1, "only alice logged in today");
    let all = ok(&app, Method::GET, "/all-conversations", None).await;
    assert_eq!(all["results"].as_array().unwrap().len(), 1);
    assert_eq!(all["results"][0]["sys"], true);

    // A broadcast reaches clients who come online before it expires.
    let valid_till = app.clock.now_ms() + 60_000;
    let body = json!({"from_client": "sys", "conv_id": svc, "message": "hello all", "valid_till": valid_till});
    let sent = ok(&app, Method::POST, "/broadcasts", Some(body)).await;
    let id = sent["msg-id"].as_str().unwrap().to_owned();
    let listed = ok(&app, Method::GET, &format!("/broadcasts?conv_id={svc}"), None).await;
    assert_eq!(listed[0]["msg-id"], id.as_str());
    let mut bob =
        Connection::connect(&app.endpoint().ws_url(), &app.token_by_id("bob").await, ConnectOptions::default())
            .await
            .unwrap();
    assert_eq!(backlog(&mut bob).await.iter().map(|m| m.msg_id.clone()).collect::<Vec<_>>(), [id.as_str()]);
    app.clock.advance_ms(61_000);
    let mut late =
        Connection::connect(&app.endpoint().ws_url(), &app.token_by_id("late").await, ConnectOptions::default())
            .await
            .unwrap();
    assert!(backlog(&mut late).await.is_empty(), "expired before they came");
    assert_eq!(ok(&app, Method::GET, &format!("/broadcasts?conv_id={svc}"), None).await, json!([]));
    // Deleted: those who have not got it never will.
    let body = json!({"from_client": "sys", "conv_id": svc, "message": "oops"});
    let oops = ok(&app, Method::POST, "/broadcasts", Some(body)).await["msg-id"].as_str().unwrap().to_owned();
    ok(&app, Method::DELETE, &format!("/broadcasts/{oops}"), None).await;
    drop(late);
    let mut late =
        Connection::connect(&app.endpoint().ws_url(), &app.token_by_id("late").await, ConnectOptions::default())
            .await
            .unwrap();
    assert!(backlog(&mut late).await.is_empty());
    let (status, body) = lc(&app, Method::POST, "/broadcasts", Some(json!({"from_client": "sys", "conv_id": svc, "message": "x", "valid_till": app.clock.now_ms() + 40 * 86_400_000i64}))).await;
    assert_lc_error(status, &body, 400, 1);

    // The whole app's history.
    let conv = create(&app, json!({"name": "h", "m": ["alice"]})).await;
    send(&app, &format!("/conversations/{conv}/messages"), "alice", "in history").await;
    let history = ok(&app, Method::GET, "/messages?limit=1", None).await;
    assert_eq!(history[0]["data"], "in history");
}

#[tokio::test]
async fn version_1_1_calls_map_onto_the_same_core() {
    let app = spawn_app().await;
    let conv = create(&app, json!({"name": "v11", "m": ["alice", "bob"]})).await;
    let now = app.clock.now_ms().to_string();
    let sign = format!("{},{now},master", md5_hex(&format!("{now}{LC_MASTER_KEY}")));
    let headers = [("X-LC-Id", LC_APP_ID), ("X-LC-Sign", sign.as_str())];
    let mut bob = connect(&app, "bob").await;
    // In v1.1 a message is transient unless it says otherwise.
    let (status, body) = app
        .leancloud_with(
            Method::POST,
            "/1.1/rtm/messages",
            Some(json!({"from_peer": "alice", "conv_id": conv, "message": "passing"})),
            &headers,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(next_text(&mut bob).await.transient);
    let stored = json!({"from_peer": "alice", "conv_id": conv, "message": "kept", "transient": false});
    let (_, body) = app.leancloud_with(Method::POST, "/1.1/rtm/messages", Some(stored), &headers).await;
    let kept = body["msg-id"].as_str().unwrap().to_owned();
    assert_eq!(next_text(&mut bob).await.msg_id, kept);
    let (status, history) = app
        .leancloud_with(Method::GET, &format!("/1.1/rtm/messages/history?convid={conv}&limit=10"), None, &headers)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(history.as_array().unwrap().iter().map(|r| r["msg-id"].clone()).collect::<Vec<_>>(), [json!(kept)]);
    let (_, by_sender) = app
        .leancloud_with(Method::GET, "/1.1/rtm/messages/history?from=alice&max_ts=99999999999999", None, &headers)
        .await;
    assert_eq!(by_sender.as_array().unwrap().len(), 1);

    let svc = ok(&app, Method::POST, "/service-conversations", Some(json!({"name": "sys"}))).await["objectId"]
        .as_str()
        .unwrap()
        .to_owned();
    let broadcast =
        json!({"from_peer": "sys", "conv_id": svc, "message": "v1.1 broadcast", "push_data": {"alert": "hi"}});
    let (status, body) = app.leancloud_with(Method::POST, "/1.1/rtm/broadcast", Some(broadcast), &headers).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(next_text(&mut bob).await.body["msg"], "v1.1 broadcast");
    let to_peers =
        json!({"from_peer": "sys", "conv_id": svc, "message": "for bob", "to_peers": ["bob"], "transient": false});
    let (status, body) = app.leancloud_with(Method::POST, "/1.1/rtm/messages", Some(to_peers), &headers).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(next_text(&mut bob).await.body["msg"], "for bob");
}

#[tokio::test]
async fn rate_limits_answer_429() {
    let app = spawn_app().await;
    for (name, value) in [
        ("leancloud.messages_per_minute", 2),
        ("leancloud.subscription_messages_per_day", 1),
        ("leancloud.broadcasts_per_minute", 1),
    ] {
        app.core.apps.set_rate_limit("demo", "chat", name, Some(value)).await.unwrap();
    }
    let conv = create(&app, json!({"name": "r", "m": ["a"]})).await;
    let path = format!("/conversations/{conv}/messages");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(lc(&app, Method::POST, &path, Some(json!({"from_client": "a", "message": "x"}))).await);
    }
    assert_eq!(statuses[0].0, StatusCode::OK);
    assert_eq!(statuses[1].0, StatusCode::OK);
    assert_lc_error(statuses[2].0, &statuses[2].1, 429, 429);
    let svc = ok(&app, Method::POST, "/service-conversations", Some(json!({"name": "s"}))).await["objectId"]
        .as_str()
        .unwrap()
        .to_owned();
    let to_all = json!({"from_client": "s", "message": "x"});
    assert_eq!(
        lc(&app, Method::POST, &format!("/service-conversations/{svc}/broadcasts"), Some(to_all.clone())).await.0,
        StatusCode::OK
    );
    let (status, body) =
        lc(&app, Method::POST, &format!("/service-conversations/{svc}/broadcasts"), Some(to_all)).await;
    assert_lc_error(status, &body, 429, 429);
    let broadcast = json!({"from_client": "s", "conv_id": svc, "message": "x"});
    assert_eq!(lc(&app, Method::POST, "/broadcasts", Some(broadcast.clone())).await.0, StatusCode::OK);
    let (status, body) = lc(&app, Method::POST, "/broadcasts", Some(broadcast.clone())).await;
    assert_lc_error(status, &body, 429, 429);

    // The other two: subscription messages per minute, broadcasts per day (0 lifts a limit).
    let limits = [
        ("leancloud.subscription_messages_per_day", 0),
        ("leancloud.subscription_messages_per_minute", 2),
        ("leancloud.broadcasts_per_minute", 0),
        ("leancloud.broadcasts_per_day", 2),
    ];
    for (name, value) in limits {
        app.core.apps.set_rate_limit("demo", "chat", name, Some(value)).await.unwrap();
    }
    for (path, body) in [
        (format!("/service-conversations/{svc}/broadcasts"), json!({"from_client": "s", "message": "again"})),
        ("/broadcasts".to_owned(), broadcast),
    ] {
        assert_eq!(lc(&app, Method::POST, &path, Some(body.clone())).await.0, StatusCode::OK, "{path}");
        assert_eq!(lc(&app, Method::POST, &path, Some(body.clone())).await.0, StatusCode::OK, "{path}");
        let (status, answer) = lc(&app, Method::POST, &path, Some(body)).await;
        assert_lc_error(status, &answer, 429, 429);
    }
}
