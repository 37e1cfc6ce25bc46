//! Property tests of every dialect's parsers over real HTTP and WebSocket:
//! generated bodies — arbitrary JSON, and valid bodies with fields replaced,
//! dropped or added — must get an answer in the dialect's own error shape,
//! never a 5xx, a dropped connection (a panicking handler) or a server that
//! stops answering.
//!
//! Cases are drawn with proptest's generators and replayed one by one
//! against one server; `CONFAB_FUZZ_CASES` sets how many per endpoint
//! (default 120, which keeps the whole file well under a minute in CI).
//! A failure prints the body that caused it.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::{Config as RunnerConfig, TestRng, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use confab_core::clock::Clock as _;

use crate::helpers::{next_nonce, spawn_app, TestApp, LC_APP_ID, LC_MASTER_KEY, WILDFIRE_SECRET};

fn cases() -> usize {
    std::env::var("CONFAB_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(120)
}

/// Strings that parsers trip on: empty, huge, control characters, IDs that
/// exist, numbers as text, non-ASCII, path-like.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("alice".to_owned()),
        Just("bob".to_owned()),
        Just("0".to_owned()),
        Just("-1".to_owned()),
        Just("99999999999999999999999".to_owned()),
        Just("../../etc/passwd".to_owned()),
        Just("\u{0}\u{1f}\u{7f}".to_owned()),
        Just("张三".repeat(40)),
        Just("x".repeat(6000)),
        "[a-z]{1,8}",
        any::<String>(),
    ]
}

/// Any JSON value, a few levels deep, with tricky leaves.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
        Just(json!(0)),
        any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(Value::from),
        tricky_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(tricky_string(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

/// What to do to one field of a valid body.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, Value),
    Drop(usize),
    Add(String, Value),
    /// Applied inside the nested object at that field, if it is one.
    Nested(usize, Box<Mutation>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let flat = prop_oneof![
        (any::<usize>(), any_json()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        any::<usize>().prop_map(Mutation::Drop),
        (tricky_string(), any_json()).prop_map(|(k, v)| Mutation::Add(k, v)),
    ];
    flat.prop_recursive(2, 4, 1, |inner| (any::<usize>(), inner).prop_map(|(i, m)| Mutation::Nested(i, Box::new(m))))
}

fn apply(value: &mut Value, mutation: &Mutation) {
    let Value::Object(map) = value else { return };
    let keys: Vec<String> = map.keys().cloned().collect();
    let key = |i: usize| (!keys.is_empty()).then(|| keys[i % keys.len()].clone());
    match mutation {
        Mutation::Replace(i, v) => {
            if let Some(k) = key(*i) {
                map.insert(k, v.clone());
            }
        }
        Mutation::Drop(i) => {
            if let Some(k) = key(*i) {
                map.remove(&k);
            }
        }
        Mutation::Add(k, v) => {
            map.insert(k.clone(), v.clone());
        }
        Mutation::Nested(i, inner) => {
            if let Some(k) = key(*i) {
                if let Some(nested) = map.get_mut(&k) {
                    apply(nested, inner);
                }
            }
        }
    }
}

/// Bodies for one endpoint: mostly a valid template with a few mutations,
/// sometimes any JSON at all.
fn bodies(templates: Vec<Value>) -> impl Strategy<Value = Value> {
    let mutated =
        (prop::sample::select(templates), prop::collection::vec(mutation(), 1..4)).prop_map(|(mut body, mutations)| {
            for m in &mutations {
                apply(&mut body, m);
            }
            body
        });
    prop_oneof![4 => mutated, 1 => any_json()]
}

/// A deterministic runner, so a CI failure can be replayed here.
fn runner() -> TestRunner {
    let seed = [7u8; 32];
    TestRunner::new_with_rng(
        RunnerConfig::default(),
        TestRng::from_seed(prop::test_runner::RngAlgorithm::ChaCha, &seed),
    )
}

fn draw<S: Strategy>(runner: &mut TestRunner, strategy: &S) -> S::Value {
    strategy.new_tree(runner).expect("a value").current()
}

/// An answer that is not a 5xx and came back whole: the body that caused
/// anything else is in the panic message.
fn assert_answered(what: &str, body: &str, result: reqwest::Result<(StatusCode, String)>) -> (StatusCode, String) {
    let (status, text) = result.unwrap_or_else(|e| panic!("{what}: no answer (a panic?) to {body}: {e}"));
    assert!(!status.is_server_error(), "{what}: {status} {text} for {body}");
    (status, text)
}

async fn send(request: reqwest::RequestBuilder) -> reqwest::Result<(StatusCode, String)> {
    let response = request.timeout(Duration::from_secs(10)).send().await?;
    let status = response.status();
    Ok((status, response.text().await?))
}

async fn fuzz_easemob(app: &TestApp, runner: &mut TestRunner, method: Method, path: &str, templates: Vec<Value>) {
    let strategy = bodies(templates);
    for _ in 0..cases() {
        let body = draw(runner, &strategy);
        let request = app.http.request(method.clone(), app.url(path)).bearer_auth(&app.app_token).json(&body);
        let (status, text) = assert_answered(path, &body.to_string(), send(request).await);
        if !status.is_success() {
            let error: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"));
            assert!(error["error"].is_string() && error["error_description"].is_string(), "{path}: {text}");
        }
    }
}

#[tokio::test]
async fn easemob_bodies_never_break_the_server() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    let group = crate::groups::create_group(&app, "alice", &["bob"], json!({})).await;
    let mut runner = runner();
    let sends = vec![
        json!({"from": "alice", "to": ["bob"], "type": "txt", "body": {"msg": "hi"}}),
        json!({"from": "alice", "to": ["bob"], "type": "img", "body": {"url": "http://x/y", "filename": "y.png", "secret": "s", "size": {"width": 1, "height": 2}}}),
        json!({"from": "alice", "to": ["bob"], "type": "loc", "body": {"lat": "1.5", "lng": 2.5, "addr": "here"}}),
        json!({"from": "alice", "to": ["bob"], "type": "audio", "body": {"url": "http://x/a", "filename": "a.amr", "length": 3}}),
        json!({"from": "alice", "to": ["bob"], "type": "video", "body": {"url": "http://x/v", "filename": "v.mp4", "length": 3, "thumb": "http://x/t"}}),
        json!({"from": "alice", "to": ["bob"], "type": "custom", "body": {"customEvent": "e", "customExts": {"a": "b"}}}),
        json!({"from": "alice", "to": ["bob"], "type": "cmd", "body": {"action": "a"}, "ext": {"k": 1}, "routetype": "ROUTE_ONLINE", "sync_device": true}),
    ];
    fuzz_easemob(&app, &mut runner, Method::POST, "/messages/users", sends.clone()).await;
    let to_group: Vec<Value> = sends
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s["to"] = json!([group]);
            s
        })
        .collect();
    fuzz_easemob(&app, &mut runner, Method::POST, "/messages/chatgroups", to_group).await;
    fuzz_easemob(
        &app,
        &mut runner,
        Method::POST,
        "/users",
        vec![
            json!([{"username": "carol", "password": "pw-1", "nickname": "C"}]),
            json!({"username": "dave", "password": "pw-2"}),
        ],
    )
    .await;
    fuzz_easemob(&app, &mut runner, Method::POST, "/chatgroups", vec![json!({"groupname": "g", "description": "d", "public": true, "maxusers": 200, "owner": "alice", "members": ["bob"]})]).await;
    fuzz_easemob(&app, &mut runner, Method::PUT, &format!("/chatgroups/{group}"), vec![json!({"groupname": "g2", "description": "d", "maxusers": 300, "membersonly": true, "allowinvites": false, "custom": "c"})]).await;
    fuzz_easemob(
        &app,
        &mut runner,
        Method::POST,
        &format!("/chatgroups/{group}/users"),
        vec![json!({"usernames": ["carol", "dave"]})],
    )
    .await;
    fuzz_easemob(&app, &mut runner, Method::POST, "/messages/msg_import", vec![json!({"target": "bob", "type": "txt", "body": {"msg": "old"}, "from": "alice", "is_ack_read": true, "msg_timestamp": 1_600_000_000_000i64})]).await;
    fuzz_easemob(
        &app,
        &mut runner,
        Method::POST,
        "/messages/msg_recall",
        vec![json!({"msg_id": "1", "to": "bob", "from": "alice", "chat_type": "chat", "force": true})],
    )
    .await;
    // The server still answers a plain call.
    let (status, _) = app.get("/users/alice").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn leancloud_bodies_and_queries_never_break_the_server() {
    let app = spawn_app().await;
    let key = format!("{LC_MASTER_KEY},master");
    let call = |method: Method, path: String, body: Option<Value>| {
        let mut request = app
            .http
            .request(method, format!("http://{}{path}", app.addr))
            .header("X-LC-Id", LC_APP_ID)
            .header("X-LC-Key", &key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request
    };
    let (status, created) =
        app.leancloud(Method::POST, "/1.2/rtm/conversations", Some(json!({"name": "c", "m": ["alice", "bob"]}))).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let conv = created["objectId"].as_str().unwrap().to_owned();
    let (_, service) = app.leancloud(Method::POST, "/1.2/rtm/service-conversations", Some(json!({"name": "s"}))).await;
    let service = service["objectId"].as_str().unwrap().to_owned();
    let mut runner = runner();
    let check = |path: &str, body: &str, result| {
        let (status, text) = assert_answered(path, body, result);
        if !status.is_success() {
            let error: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"));
            assert!(error["code"].is_i64() && error["error"].is_string(), "{path}: {text}");
        }
    };

    // The `where` language, in the query string.
    let queries = bodies(vec![
        json!({"m": "alice", "name": {"$regex": "^c", "$options": "i"}}),
        json!({"$or": [{"level": {"$gte": 1}}, {"m": {"$all": ["alice"]}}], "attr.type": {"$in": ["a", 1]}}),
        json!({"createdAt": {"$gt": {"__type": "Date", "iso": "2000-01-01T00:00:00.000Z"}}, "m": {"$size": 2}}),
    ]);
    for _ in 0..cases() {
        let query = draw(&mut runner, &queries).to_string();
        let mut url = reqwest::Url::parse(&format!("http://{}/1.2/rtm/conversations", app.addr)).unwrap();
        url.query_pairs_mut().append_pair("where", &query).append_pair("order", "-level").append_pair("limit", "5");
        check("where", &query, send(call(Method::GET, url.path().to_owned() + "?" + url.query().unwrap(), None)).await);
    }
    let endpoints: Vec<(Method, String, Vec<Value>)> = vec![
        (
            Method::POST,
            "/1.2/rtm/conversations".into(),
            vec![json!({"name": "n", "m": ["a", "b"], "unique": true, "attr": {"k": 1}, "tr": false})],
        ),
        (
            Method::PUT,
            format!("/1.2/rtm/conversations/{conv}"),
            vec![json!({"name": "renamed", "level": 3, "attr": {"x": "y"}})],
        ),
        (
            Method::POST,
            format!("/1.2/rtm/conversations/{conv}/messages"),
            vec![
                json!({"from_client": "alice", "message": "hi", "transient": false, "no_sync": true, "push_data": {"alert": "x"}, "priority": "high", "mention_client_ids": ["bob"], "mention_all": false}),
                json!({"from_client": "alice", "message": "{\"_lctype\":-1,\"_lctext\":\"t\"}"}),
            ],
        ),
        (
            Method::POST,
            format!("/1.2/rtm/conversations/{conv}/members"),
            vec![json!({"client_ids": ["carol", "dave"]})],
        ),
        (
            Method::POST,
            format!("/1.2/rtm/service-conversations/{service}/broadcasts"),
            vec![json!({"from_client": "", "message": "all", "push": {"alert": "x"}})],
        ),
        (
            Method::POST,
            format!("/1.2/rtm/service-conversations/{service}/messages"),
            vec![json!({"from_client": "", "to_clients": ["alice"], "message": "some"})],
        ),
        (
            Method::POST,
            "/1.2/rtm/broadcasts".into(),
            vec![json!({"from_client": "sys", "message": "all", "valid_till": 4_000_000_000_000i64})],
        ),
        (
            Method::POST,
            "/1.1/rtm/messages".into(),
            vec![json!({"from_peer": "alice", "conv_id": conv, "message": "v1", "transient": false})],
        ),
    ];
    for (method, path, templates) in endpoints {
        let strategy = bodies(templates);
        for _ in 0..cases() {
            let body = draw(&mut runner, &strategy);
            check(&path, &body.to_string(), send(call(method.clone(), path.clone(), Some(body.clone()))).await);
        }
    }
    let (status, _) = app.leancloud(Method::GET, "/1.2/rtm/conversations?limit=1", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn wildfire_payloads_never_break_the_server() {
    let app = spawn_app().await;
    for id in ["alice", "bob"] {
        let created = app.wildfire("/admin/user/create", json!({"userId": id, "name": id})).await;
        assert_eq!(created["code"], 0, "{created}");
    }
    let group = app
        .wildfire(
            "/admin/group/create",
            json!({"operator": "alice", "group": {"group_info": {"target_id": "g1", "name": "g", "owner": "alice", "type": 2}, "members": [{"member_id": "alice"}, {"member_id": "bob"}]}}),
        )
        .await;
    assert_eq!(group["code"], 0, "{group}");
    let mut runner = runner();
    let payload = json!({"type": 1, "searchableContent": "hi", "pushContent": "p", "content": "c", "base64edData": "aGk=", "mediaType": 0, "remoteMediaUrl": "http://x", "persistFlag": 3, "expireDuration": 0, "mentionedType": 1, "mentionedTarget": ["bob"], "extra": "e"});
    let endpoints: Vec<(&str, Vec<Value>)> = vec![
        (
            "/admin/message/send",
            vec![
                json!({"sender": "alice", "conv": {"type": 0, "target": "bob", "line": 0}, "payload": payload}),
                json!({"sender": "alice", "conv": {"type": 1, "target": "g1", "line": 0}, "payload": payload, "toUsers": ["bob"]}),
            ],
        ),
        (
            "/admin/message/multicast",
            vec![json!({"sender": "alice", "targets": ["bob"], "line": 0, "payload": payload})],
        ),
        ("/admin/message/broadcast", vec![json!({"sender": "alice", "line": 0, "payload": payload})]),
        ("/admin/message/recall", vec![json!({"operator": "alice", "messageUid": 1})]),
        (
            "/admin/message/update",
            vec![json!({"operator": "alice", "messageUid": 1, "payload": payload, "distribute": 1})],
        ),
        (
            "/admin/message/clear_by_user",
            vec![
                json!({"userId": "bob", "conversation": {"type": 0, "target": "alice", "line": 0}, "startTime": 0, "endTime": 1}),
            ],
        ),
        ("/admin/message/conv_read", vec![json!({"userId": "bob", "type": 0, "target": "alice", "line": 0})]),
        (
            "/admin/user/create",
            vec![
                json!({"userId": "carol", "name": "carol", "displayName": "C", "mobile": "1", "gender": 1, "extra": "x"}),
            ],
        ),
        ("/admin/user/update", vec![json!({"flag": 1, "userInfo": {"userId": "carol", "displayName": "D"}})]),
        (
            "/admin/group/create",
            vec![
                json!({"operator": "alice", "group": {"group_info": {"name": "g", "owner": "alice", "type": 2}, "members": [{"member_id": "bob", "type": 0}]}}),
            ],
        ),
        (
            "/admin/group/member/add",
            vec![
                json!({"operator": "alice", "group_id": "g1", "members": [{"member_id": "carol"}], "to_lines": [0], "notify_message": payload}),
            ],
        ),
    ];
    for (path, templates) in endpoints {
        let strategy = bodies(templates);
        for _ in 0..cases() {
            let body = draw(&mut runner, &strategy);
            let nonce = next_nonce();
            let timestamp = app.clock.now_ms().to_string();
            let sign: String = {
                use sha1::Digest;
                sha1::Sha1::digest(format!("{nonce}|{WILDFIRE_SECRET}|{timestamp}").as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            };
            let request = app
                .http
                .post(format!("http://{}{path}", app.addr))
                .header("nonce", &nonce)
                .header("timestamp", &timestamp)
                .header("sign", sign)
                .json(&body);
            let (status, text) = assert_answered(path, &body.to_string(), send(request).await);
            assert_eq!(status, StatusCode::OK, "{path}: the vendor answers with HTTP 200: {text}");
            let answer: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"));
            assert!(answer["code"].is_i64() && answer["msg"].is_string(), "{path}: {text}");
            assert_ne!(answer["code"], 4, "{path}: a server error for {body}: {text}");
        }
    }
    assert_eq!(app.wildfire("/admin/user/get_info", json!({"userId": "alice"})).await["code"], 0);
}

#[tokio::test]
async fn gateway_frames_never_break_the_server() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    let token = app.user_token("alice").await;
    let url = app.endpoint().ws_url();
    let mut runner = runner();
    let frames = bodies(vec![
        json!({"op": "send", "ref": "r", "to": "bob", "body": {"type": "txt", "msg": "hi"}, "ext": {"a": 1}}),
        json!({"op": "send", "chat_type": "groupchat", "to": "1", "body": {"type": "img", "url": "u", "filename": "f"}}),
        json!({"op": "join_room", "ref": "r", "room": "1"}),
        json!({"op": "leave_room", "room": "1"}),
        json!({"op": "ack", "conv": "1", "seq": 1}),
        json!({"op": "read", "conv": "1", "seq": 1}),
        json!({"op": "ping"}),
    ]);
    let mut socket = login(&url, &token).await;
    for _ in 0..cases() * 2 {
        let frame = draw(&mut runner, &frames).to_string();
        if socket.send(WsMessage::Text(frame.clone().into())).await.is_err() {
            // The server may close a connection that sent a bad frame; a new one must work.
            socket = login(&url, &token).await;
        }
    }
    // Not a JSON text at all, and bytes.
    let _ = socket.send(WsMessage::Text("{not json".into())).await;
    let _ = socket.send(WsMessage::Binary(vec![0xff, 0, 1].into())).await;
    let mut socket = login(&url, &token).await;
    socket.send(WsMessage::Text(json!({"op": "ping"}).to_string().into())).await.unwrap();
    // Messages the fuzzed sends stored may still be arriving; the pong follows.
    loop {
        let answer =
            tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("an answer").unwrap().unwrap();
        let text = answer.to_text().unwrap().to_owned();
        if text.contains("pong") {
            break;
        }
        assert!(text.contains("\"op\":\"msg\""), "only messages come before the pong: {text}");
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw WebSocket logged in as the token's user, past its backlog.
async fn login(url: &str, token: &str) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("gateway connects");
    socket.send(WsMessage::Text(json!({"op": "login", "token": token}).to_string().into())).await.unwrap();
    loop {
        let frame =
            tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("login answer").unwrap().unwrap();
        if frame.to_text().unwrap_or_default().contains("synced") {
            return socket;
        }
    }
}

/// List changes that change nothing (blocking twice, unblocking someone never
/// blocked) are answered: the handlers name the path's user rather than
/// indexing what changed.
#[tokio::test]
async fn list_changes_that_change_nothing_are_answered() {
    let app = spawn_app().await;
    app.register(&["alice", "bob", "carol"]).await;
    let group = crate::groups::create_group(&app, "alice", &["bob"], json!({})).await;
    for _ in 0..2 {
        let (status, body) = app.post(&format!("/chatgroups/{group}/blocks/users/carol"), json!({})).await;
        assert!(!status.is_server_error(), "{status} {body}");
    }
    for _ in 0..2 {
        let request =
            app.http.delete(app.url(&format!("/chatgroups/{group}/blocks/users/bob"))).bearer_auth(&app.app_token);
        let (status, text) = assert_answered("unblock", "bob, never blocked", send(request).await);
        assert!(status.is_success() || status.is_client_error(), "{status} {text}");
    }
}

/// LeanCloud's `lc.protobuf2.3`: random bytes, and well-formed commands with
/// any command and operation numbers and tricky strings in their fields,
/// sent to an open session. The server answers or closes that connection;
/// afterwards a new session still opens and a message is still acknowledged.
#[tokio::test]
async fn leancloud_protocol_frames_never_break_the_server() {
    use confab_server::leancloud_proto::{
        AckCommand, ConvCommand, DirectCommand, GenericCommand, JsonObjectMessage, SessionCommand,
    };
    use prost::Message as _;

    let app = spawn_app().await;
    let (_, conv) =
        app.leancloud(Method::POST, "/1.2/rtm/conversations", Some(json!({"name": "c", "m": ["ann", "bob"]}))).await;
    let cid = conv["objectId"].as_str().unwrap().to_owned();
    let url = format!("ws://{}/", app.addr);
    let open = |peer: &str| GenericCommand {
        cmd: Some(0),
        op: Some(1),
        app_id: Some(LC_APP_ID.into()),
        peer_id: Some(peer.into()),
        i: Some(1),
        session_message: Some(SessionCommand::default()),
        ..Default::default()
    };
    let connect = |url: String, peer: String| async move {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("Sec-WebSocket-Protocol", "lc.protobuf2.3".parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("connects");
        socket.send(WsMessage::Binary(open(&peer).encode_to_vec().into())).await.unwrap();
        let frame = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.unwrap().unwrap().unwrap();
        let opened = GenericCommand::decode(frame.into_data().as_ref()).unwrap();
        assert_eq!(opened.op, Some(5), "{opened:?}");
        socket
    };

    let mut runner = runner();
    let command = (0i32..40, 0i32..200, tricky_string(), tricky_string(), any::<Option<i32>>()).prop_map(
        move |(cmd, op, a, b, i)| {
            GenericCommand {
                cmd: Some(cmd),
                op: Some(op),
                i,
                peer_id: Some(a.clone()),
                direct_message: Some(DirectCommand {
                    cid: Some(a.clone()),
                    msg: Some(b.clone()),
                    ..Default::default()
                }),
                ack_message: Some(AckCommand { mid: Some(b.clone()), cid: Some(a.clone()), ..Default::default() }),
                conv_message: Some(ConvCommand {
                    cid: Some(a),
                    r#where: Some(JsonObjectMessage { data: b }),
                    ..Default::default()
                }),
                ..Default::default()
            }
            .encode_to_vec()
        },
    );
    let frames = prop_oneof![command, proptest::collection::vec(any::<u8>(), 0..64)];
    let mut socket = connect(url.clone(), "ann".into()).await;
    for _ in 0..cases() * 2 {
        let frame = frames.new_tree(&mut runner).expect("a frame").current();
        if socket.send(WsMessage::Binary(frame.into())).await.is_err() {
            socket = connect(url.clone(), "ann".into()).await;
        }
    }
    // Everything sent on the last connection is read before it ends: the
    // server answers or closes it.
    let close = GenericCommand { cmd: Some(0), op: Some(4), i: Some(99), ..Default::default() };
    if socket.send(WsMessage::Binary(close.encode_to_vec().into())).await.is_ok() {
        while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(5), socket.next()).await {}
    }
    let mut socket = connect(url.clone(), "bob".into()).await;
    let send = GenericCommand {
        cmd: Some(2),
        i: Some(77),
        direct_message: Some(DirectCommand { cid: Some(cid), msg: Some("still here".into()), ..Default::default() }),
        ..Default::default()
    };
    socket.send(WsMessage::Binary(send.encode_to_vec().into())).await.unwrap();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.unwrap().unwrap().unwrap();
        let answer = GenericCommand::decode(frame.into_data().as_ref()).unwrap();
        if answer.i == Some(77) {
            assert_eq!(answer.cmd, Some(3), "the message is acknowledged: {answer:?}");
            break;
        }
    }
}
