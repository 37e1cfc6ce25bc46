//! Cluster tests: three `confab serve` processes on loopback sharing one
//! PostgreSQL schema and one NATS server, as a production cluster would.
//!
//! They need PostgreSQL and NATS: `CONFAB_TEST_DATABASE_URL` (default the
//! local `postgres` database) and `CONFAB_TEST_NATS_URL` (default
//! `nats://127.0.0.1:4222`). Each test gets its own schema and its own
//! cluster name, so tests running at once do not hear each other.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use confab_client::{ConnectOptions, Connection, Endpoint, Event};
use confab_core::ids::MessageId;

use crate::helpers::{
    backlog, call_url, fresh_schema, next, next_message, next_nonce, wildfire_call, CLIENT_ID, CLIENT_SECRET,
    LC_APP_ID, LC_MASTER_KEY, PASSWORD, WILDFIRE_SECRET,
};

const BIN: &str = env!("CARGO_BIN_EXE_confab");

/// The console operator admin's password on every node.
const CONSOLE_PASSWORD: &str = "cluster console password";

struct Cluster {
    nodes: Vec<Option<NodeProcess>>,
    database_url: String,
    nats_url: String,
    name: String,
    data_dir: tempfile::TempDir,
    http: reqwest::Client,
    app_token: String,
}

struct NodeProcess {
    addr: SocketAddr,
    child: Child,
}

impl Cluster {
    async fn start(size: usize) -> Cluster {
        let base = std::env::var("CONFAB_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1/postgres".into());
        let nats_url = std::env::var("CONFAB_TEST_NATS_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
        let mut cluster = Cluster {
            nodes: Vec::new(),
            database_url: fresh_schema(&base).await,
            nats_url,
            name: format!("test{}", &confab_core::auth::random_uuid()[..8]),
            data_dir: tempfile::tempdir().expect("temp dir"),
            http: reqwest::Client::new(),
            app_token: String::new(),
        };
        // Nodes start together, as they would in a deployment.
        let starts: Vec<_> = (0..size).map(|_| cluster.start_node()).collect();
        let nodes = futures_util::future::join_all(starts).await;
        cluster.nodes = nodes.into_iter().map(Some).collect();
        cluster.app_token = cluster.endpoint(0).app_token(&cluster.http, CLIENT_ID, CLIENT_SECRET).await.unwrap();
        cluster
    }

    /// Starts one `confab serve` and waits until it listens.
    fn start_node(&self) -> impl std::future::Future<Output = NodeProcess> {
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .env("CONFAB_HTTP_ADDR", "127.0.0.1:0")
            .env("CONFAB_DATA_DIR", self.data_dir.path())
            .env("CONFAB_DATABASE_URL", &self.database_url)
            .env("CONFAB_NATS_URL", &self.nats_url)
            .env("CONFAB_CLUSTER", &self.name)
            .env("CONFAB_CLIENT_ID", CLIENT_ID)
            .env("CONFAB_CLIENT_SECRET", CLIENT_SECRET)
            .env("CONFAB_WILDFIRE_SECRET", WILDFIRE_SECRET)
            .env("CONFAB_LEANCLOUD_APP_ID", LC_APP_ID)
            .env("CONFAB_LEANCLOUD_MASTER_KEY", LC_MASTER_KEY)
            .env("CONFAB_CONSOLE_PASSWORD", CONSOLE_PASSWORD)
            .env("CONFAB_RATE_LIMITS", "easemob.requests_per_second=0,easemob.message_receivers_per_minute=0")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        async move {
            let mut child = command.spawn().expect("confab serve starts");
            let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
            let addr = tokio::time::timeout(Duration::from_secs(30), async {
                while let Some(line) = lines.next_line().await.expect("node log") {
                    if line.contains("confab is listening") {
                        let addr = line.split("addr=").nth(1).and_then(|rest| rest.split_whitespace().next());
                        return addr.expect("address in the log line").parse::<SocketAddr>().expect("address");
                    }
                }
                panic!("node exited before listening");
            })
            .await
            .expect("node listens within 30 s");
            // Keep reading, so the node never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            NodeProcess { addr, child }
        }
    }

    fn addr(&self, node: usize) -> SocketAddr {
        self.nodes[node].as_ref().expect("node is running").addr
    }

    fn endpoint(&self, node: usize) -> Endpoint {
        Endpoint { addr: self.addr(node).to_string(), org: "demo".into(), app: "chat".into() }
    }

    async fn call(&self, node: usize, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = format!("http://{}/demo/chat{path}", self.addr(node));
        call_url(&self.http, method, &url, Some(&self.app_token), body).await
    }

    async fn register(&self, names: &[&str]) {
        let users: Vec<Value> = names.iter().map(|n| json!({"username": n, "password": PASSWORD})).collect();
        let (status, body) = self.call(0, Method::POST, "/users", Some(Value::Array(users))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn connect(&self, node: usize, user: &str, options: ConnectOptions) -> Connection {
        let endpoint = self.endpoint(node);
        let token = endpoint.user_token(&self.http, user, PASSWORD).await.expect("user token");
        Connection::connect(&endpoint.ws_url(), &token, options).await.expect("gateway login")
    }

    /// A signed WildfireChat admin call to one node.
    async fn wildfire(&self, node: usize, path: &str, body: Value) -> Value {
        let now = confab_core::clock::Clock::now_ms(&confab_core::clock::SystemClock);
        wildfire_call(&self.http, self.addr(node), path, &body, &next_nonce(), now, WILDFIRE_SECRET).await
    }

    async fn send_text(&self, node: usize, from: &str, to: &str, text: &str) -> String {
        let body = json!({"from": from, "to": [to], "type": "txt", "body": {"msg": text}});
        let (status, body) = self.call(node, Method::POST, "/messages/users", Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"][to].as_str().expect("message id").to_owned()
    }

    async fn status(&self, node: usize, user: &str) -> String {
        let (status, body) = self.call(node, Method::GET, &format!("/users/{user}/status"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"][user].as_str().expect("status").to_owned()
    }

    /// Stops every node and drops the test's schema (left in place when a
    /// test fails, for a look at what happened).
    async fn finish(mut self) {
        for node in 0..self.nodes.len() {
            if self.nodes[node].is_some() {
                self.kill(node).await;
            }
        }
        let schema = self.database_url.rsplit("search_path%3D").next().expect("schema in the URL").to_owned();
        let (client, connection) =
            tokio_postgres::connect(&self.database_url, tokio_postgres::NoTls).await.expect("test database");
        tokio::spawn(connection);
        client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.expect("drop schema");
    }

    /// Kills a node the hard way: no goodbye to NATS, no lease released.
    async fn kill(&mut self, node: usize) {
        let mut process = self.nodes[node].take().expect("node is running");
        process.child.kill().await.expect("kill node");
    }
}

fn text(message: &confab_client::MessageFrame) -> &str {
    message.body["msg"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn messages_and_presence_cross_nodes() {
    let cluster = Cluster::start(3).await;
    cluster.register(&["alice", "bob", "carol"]).await;

    let mut bob = cluster.connect(1, "bob", ConnectOptions::default()).await;
    assert!(backlog(&mut bob).await.is_empty());
    for node in 0..3 {
        assert_eq!(cluster.status(node, "bob").await, "online", "bob's status as node {node} sees it");
        assert_eq!(cluster.status(node, "carol").await, "offline");
    }
    let (_, body) =
        cluster.call(2, Method::POST, "/users/batch/status", Some(json!({"usernames": ["alice", "bob"]}))).await;
    assert_eq!(body["data"], json!([{"alice": "offline"}, {"bob": "online"}]), "{body}");

    // REST on node 0 → bob's device on node 1.
    let id = cluster.send_text(0, "alice", "bob", "across the cluster").await;
    let got = next_message(&mut bob).await;
    assert_eq!((got.msg_id.as_str(), text(&got)), (id.as_str(), "across the cluster"));
    // The console of any node lists the others, signed in once for all
    // (sessions are signed, not kept per node).
    let login = cluster
        .http
        .post(format!("http://{}/console/api/login", cluster.addr(0)))
        .json(&json!({"name": "admin", "password": CONSOLE_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let nodes: Value = cluster
        .http
        .get(format!("http://{}/console/api/nodes", cluster.addr(2)))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(nodes["this"]["engine"], "postgres", "{nodes}");
    assert_eq!(nodes["this"]["nats_connected"], true, "{nodes}");
    assert_eq!(nodes["this"]["peers"].as_array().map(Vec::len), Some(2), "{nodes}");
    // The bus is counted: node 0 published, node 1 received.
    let metrics = |node: usize| {
        let url = format!("http://{}/metrics", cluster.addr(node));
        let http = cluster.http.clone();
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let count = |text: &str, series: &str| -> f64 {
        text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
    };
    assert!(count(&metrics(0).await, "confab_nats_published_total ") >= 1.0);
    assert!(count(&metrics(1).await, "confab_nats_received_total ") >= 1.0);

    // Each node issues message IDs with its own leased node ID.
    let mut issuers = HashSet::new();
    for node in 0..3 {
        let id = cluster.send_text(node, "carol", "alice", "id check").await;
        issuers.insert(MessageId::parse(&id).expect("numeric message ID").node());
    }
    assert_eq!(issuers.len(), 3, "three nodes, three node IDs: {issuers:?}");
    assert!(!issuers.contains(&0), "node 0 is for a server alone on SQLite");

    // Gateway on node 2 → bob on node 1, and bob's answer back.
    let mut alice = cluster.connect(2, "alice", ConnectOptions::default()).await;
    backlog(&mut alice).await;
    let sent = alice.send("bob", json!({"type": "txt", "msg": "hi from node 2"}), None).await.unwrap();
    let got = next_message(&mut bob).await;
    assert_eq!((got.msg_id.as_str(), got.seq), (sent.msg_id.as_str(), sent.seq));
    bob.send("alice", json!({"type": "txt", "msg": "hi back"}), None).await.unwrap();
    assert_eq!(text(&next_message(&mut alice).await), "hi back");

    // ROUTE_ONLINE asks the whole cluster who is connected.
    let online_only = |to: &str| json!({"from": "carol", "to": [to], "type": "txt", "body": {"msg": "now"}, "routetype": "ROUTE_ONLINE"});
    let (status, body) = cluster.call(0, Method::POST, "/messages/users", Some(online_only("bob"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["bob"].is_string(), "{body}");
    assert_eq!(text(&next_message(&mut bob).await), "now");
    let (status, body) = cluster.call(0, Method::POST, "/messages/users", Some(online_only("carol"))).await;
    assert_ne!(status, StatusCode::OK, "carol is offline everywhere: {body}");

    // A second device of bob on another node gets the same messages; with
    // one device gone, bob is still online.
    let mut bob_phone =
        cluster.connect(0, "bob", ConnectOptions { device: Some("phone".into()), ..Default::default() }).await;
    // What the other device has not yet acknowledged is offered again.
    backlog(&mut bob_phone).await;
    let id = cluster.send_text(2, "carol", "bob", "both devices").await;
    assert_eq!(next_message(&mut bob).await.msg_id, id);
    assert_eq!(next_message(&mut bob_phone).await.msg_id, id);
    drop(bob);
    for node in 0..3 {
        assert_eq!(cluster.status(node, "bob").await, "online");
    }
    drop(bob_phone);
    crate::helpers::eventually(|| async { cluster.status(2, "bob").await == "offline" }).await;
    cluster.finish().await;
}

#[tokio::test]
async fn kicks_reach_the_node_that_holds_the_connection() {
    let cluster = Cluster::start(3).await;
    cluster.register(&["dave", "erin"]).await;

    // An operator's disconnect through node 0 closes dave's session on node 2.
    let mut dave = cluster.connect(2, "dave", ConnectOptions::default()).await;
    backlog(&mut dave).await;
    let (status, body) = cluster.call(0, Method::GET, "/users/dave/disconnect", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(next(&mut dave).await, Event::Kicked { reason: "disconnected".into() });

    // Logging the same device in on another node replaces the old session.
    let tablet = || ConnectOptions { device: Some("tablet".into()), ..Default::default() };
    let mut old = cluster.connect(1, "erin", tablet()).await;
    backlog(&mut old).await;
    let mut new = cluster.connect(2, "erin", tablet()).await;
    backlog(&mut new).await;
    assert_eq!(next(&mut old).await, Event::Kicked { reason: "replaced".into() });
    let id = cluster.send_text(0, "dave", "erin", "to the new session").await;
    assert_eq!(next_message(&mut new).await.msg_id, id);

    // Deactivation through node 1 closes erin's session on node 2.
    let (status, body) = cluster.call(1, Method::POST, "/users/erin/deactivate", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(next(&mut new).await, Event::Kicked { reason: "deactivated".into() });
    cluster.finish().await;
}

#[tokio::test]
async fn devices_are_listed_and_kicked_across_nodes() {
    let cluster = Cluster::start(2).await;
    cluster.register(&["ivy"]).await;
    let device = |name: &str| ConnectOptions { device: Some(name.into()), ..Default::default() };
    let mut phone = cluster.connect(1, "ivy", device("phone")).await;
    backlog(&mut phone).await;
    let mut pad = cluster.connect(0, "ivy", device("pad")).await;
    backlog(&mut pad).await;

    // Node 0 lists the device connected to node 1 too.
    let status = cluster.wildfire(0, "/admin/user/onlinestatus", json!({"userId": "ivy"})).await;
    let mut clients: Vec<&str> =
        status["result"]["sessions"].as_array().unwrap().iter().map(|s| s["clientId"].as_str().unwrap()).collect();
    clients.sort();
    assert_eq!(clients, ["pad", "phone"], "{status}");
    // A kick of one device through node 0 closes it on node 1, and only it.
    let kicked = cluster.wildfire(0, "/admin/user/kickoff_client", json!({"first": "ivy", "second": "phone"})).await;
    assert_eq!(kicked["code"], 0, "{kicked}");
    assert_eq!(next(&mut phone).await, Event::Kicked { reason: "disconnected".into() });
    let status = cluster.wildfire(1, "/admin/user/onlinestatus", json!({"userId": "ivy"})).await;
    let sessions = status["result"]["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{status}");
    assert_eq!(sessions[0]["clientId"], "pad");
    drop(pad);
    cluster.finish().await;
}

#[tokio::test]
async fn a_killed_node_loses_nothing_and_its_clients_resume_elsewhere() {
    let mut cluster = Cluster::start(3).await;
    cluster.register(&["frank", "grace"]).await;

    let mut grace = cluster.connect(2, "grace", ConnectOptions::default()).await;
    backlog(&mut grace).await;
    let mut received = Vec::new();
    for i in 0..5 {
        cluster.send_text(0, "frank", "grace", &format!("m{i}")).await;
        received.push(text(&next_message(&mut grace).await).to_owned());
    }

    // Frank keeps sending through node 2 while it is killed: every send
    // that was answered with success must reach grace.
    let sender = {
        let http = cluster.http.clone();
        let url = format!("http://{}/demo/chat/messages/users", cluster.addr(2));
        let token = cluster.app_token.clone();
        tokio::spawn(async move {
            let mut accepted = Vec::new();
            for i in 5.. {
                let body = json!({"from": "frank", "to": ["grace"], "type": "txt", "body": {"msg": format!("m{i}")}});
                let response = http.post(&url).bearer_auth(&token).json(&body).send().await;
                match response {
                    Ok(r) if r.status() == StatusCode::OK => accepted.push(format!("m{i}")),
                    _ => return accepted,
                }
            }
            unreachable!()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cursors_before_kill = grace.cursors();
    cluster.kill(2).await;
    let accepted = sender.await.unwrap();
    assert!(!accepted.is_empty(), "some sends went through node 2 before it died");

    // Grace's connection is gone; her presence clears on the other nodes.
    loop {
        match tokio::time::timeout(Duration::from_secs(5), grace.next_event()).await.expect("close noticed") {
            Event::Message(m) => received.push(text(&m).to_owned()),
            Event::Closed => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(cursors_before_kill.values().all(|&seq| seq > 0));
    let started = std::time::Instant::now();
    crate::helpers::eventually(|| async { cluster.status(0, "grace").await == "offline" }).await;
    assert!(started.elapsed() < Duration::from_secs(5));

    // More messages while she is away, then she resumes on node 1 from her
    // own cursors: everything exactly once, in order.
    for i in 0..3 {
        cluster.send_text(1, "frank", "grace", &format!("late{i}")).await;
    }
    let resume = grace.cursors();
    let mut grace = cluster.connect(1, "grace", ConnectOptions { resume, ..Default::default() }).await;
    received.extend(backlog(&mut grace).await.iter().map(|m| text(m).to_owned()));

    let mut expected: Vec<String> = (0..5).map(|i| format!("m{i}")).collect();
    expected.extend(accepted.iter().cloned());
    expected.extend((0..3).map(|i| format!("late{i}")));
    let unique: HashSet<&String> = received.iter().collect();
    assert_eq!(unique.len(), received.len(), "no duplicates: {received:?}");
    for message in &expected {
        assert!(received.contains(message), "{message} was accepted but never delivered: {received:?}");
    }
    // The only extra messages may be sends node 2 committed but could not answer.
    let extra: Vec<&String> = received.iter().filter(|m| !expected.contains(m)).collect();
    assert!(extra.len() <= 1, "unexpected messages {extra:?}");
    let order: Vec<i64> = received.iter().filter_map(|m| m.strip_prefix('m')?.parse().ok()).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "in order: {received:?}");

    // The surviving nodes still work together, and a replacement node joins.
    let replacement = cluster.start_node().await;
    cluster.nodes[2] = Some(replacement);
    let mut frank = cluster.connect(2, "frank", ConnectOptions::default()).await;
    backlog(&mut frank).await;
    grace.send("frank", json!({"type": "txt", "msg": "still here"}), None).await.unwrap();
    assert_eq!(text(&next_message(&mut frank).await), "still here");
    cluster.finish().await;
}

#[tokio::test]
async fn group_messages_and_events_reach_members_on_every_node() {
    // More members than one NATS message per member is worth: the event
    // goes out once, to every node, with its recipients.
    const MEMBERS: usize = 30;
    let cluster = Cluster::start(3).await;
    let names: Vec<String> = (0..MEMBERS).map(|i| format!("member{i}")).collect();
    let mut connections = Vec::with_capacity(MEMBERS);
    for (i, name) in names.iter().enumerate() {
        let endpoint = cluster.endpoint(i % 3);
        let token = endpoint.user_token_by_id(&cluster.http, &cluster.app_token, name).await.expect("token");
        let mut connection =
            Connection::connect(&endpoint.ws_url(), &token, ConnectOptions::default()).await.expect("login");
        backlog(&mut connection).await;
        connections.push(connection);
    }
    let body = json!({"groupname": "everyone", "public": true, "owner": names[0], "members": names[1..]});
    let (status, created) = cluster.call(1, Method::POST, "/chatgroups", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["data"]["groupid"].as_str().unwrap().to_owned();
    for connection in &mut connections {
        match next(connection).await {
            Event::Group { event, group, .. } => assert_eq!((event.as_str(), group.as_str()), ("created", id.as_str())),
            other => panic!("expected the group's creation, got {other:?}"),
        }
    }

    // Sent through node 2; members on all three nodes get it.
    let body = json!({"from": names[0], "to": [id], "type": "txt", "body": {"msg": "to every node"}});
    let (status, sent) = cluster.call(2, Method::POST, "/messages/chatgroups", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    for connection in &mut connections[1..] {
        let message = next_message(connection).await;
        assert_eq!((message.chat_type.as_str(), message.body["msg"].as_str()), ("groupchat", Some("to every node")));
    }

    // A member removed on node 0 hears it on their own node, and so does everyone else.
    let (status, body) = cluster.call(0, Method::DELETE, &format!("/chatgroups/{id}/users/{}", names[4]), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for connection in &mut connections {
        match next(connection).await {
            Event::Group { event, users, .. } => {
                assert_eq!((event.as_str(), users), ("members_removed", vec![names[4].clone()]))
            }
            other => panic!("expected the removal, got {other:?}"),
        }
    }
    // A muted member is refused by every node, at once.
    let mute = json!({"usernames": [names[5]], "mute_duration": 60_000});
    let (status, body) = cluster.call(1, Method::POST, &format!("/chatgroups/{id}/mute"), Some(mute)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for node in 0..3 {
        let body = json!({"from": names[5], "to": [id], "type": "txt", "body": {"msg": "muted?"}});
        let (status, _) = cluster.call(node, Method::POST, "/messages/chatgroups", Some(body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "node {node}");
    }
    drop(connections);
    cluster.finish().await;
}

#[tokio::test]
async fn recalls_and_broadcasts_cross_nodes() {
    let cluster = Cluster::start(2).await;
    cluster.register(&["sys", "alice", "bob"]).await;
    let mut bob = cluster.connect(1, "bob", ConnectOptions::default()).await;
    backlog(&mut bob).await;

    // A broadcast accepted on node 0 reaches Bob on node 1, and so does its recall.
    let payload = json!({"type": 1, "searchableContent": "to all"});
    let sent = cluster.wildfire(0, "/admin/message/broadcast", json!({"sender": "sys", "payload": payload})).await;
    assert_eq!(sent["code"], 0, "{sent}");
    assert_eq!(sent["result"]["count"], 2);
    let uid = sent["result"]["messageUid"].as_i64().unwrap();
    assert_eq!(next_message(&mut bob).await.msg_id, uid.to_string());
    let recall = json!({"operator": "sys", "messageUid": uid});
    assert_eq!(cluster.wildfire(0, "/admin/message/recall_broadcast", recall).await["code"], 0);
    match next(&mut bob).await {
        Event::Update { change, msg_id, .. } => assert_eq!((change.as_str(), msg_id), ("recalled", uid.to_string())),
        other => panic!("expected the recall on the other node, got {other:?}"),
    }
    // Alice, connecting to node 1 later, never gets the recalled broadcast.
    let mut alice = cluster.connect(1, "alice", ConnectOptions::default()).await;
    assert!(backlog(&mut alice).await.is_empty());
}

#[tokio::test]
async fn transient_messages_and_app_kicks_cross_nodes() {
    let cluster = Cluster::start(2).await;
    cluster.register(&["alice", "bob"]).await;
    let mut bob = cluster.connect(1, "bob", ConnectOptions::default()).await;
    backlog(&mut bob).await;
    let lc = |path: &str, body: Value| {
        let url = format!("http://{}/1.2/rtm{path}", cluster.addr(0));
        let request =
            cluster.http.post(url).header("X-LC-Id", LC_APP_ID).header("X-LC-Key", format!("{LC_MASTER_KEY},master"));
        async move {
            let response = request.json(&body).send().await.unwrap();
            let status = response.status();
            let answer = response.json::<Value>().await.unwrap();
            assert_eq!(status, StatusCode::OK, "{answer}");
            answer
        }
    };
    let conv = lc("/conversations", json!({"name": "x", "m": ["alice", "bob"]})).await["objectId"]
        .as_str()
        .unwrap()
        .to_owned();
    lc(
        &format!("/conversations/{conv}/messages"),
        json!({"from_client": "alice", "message": "typing", "transient": true}),
    )
    .await;
    loop {
        match next(&mut bob).await {
            Event::Message(m) => break assert!(m.transient && m.body["msg"] == "typing", "{m:?}"),
            Event::Group { .. } => continue,
            other => panic!("expected the transient message on the other node, got {other:?}"),
        }
    }
    lc("/clients/bob/kick", json!({"reason": "bye"})).await;
    match next(&mut bob).await {
        Event::Kicked { reason } => assert_eq!(reason, "kicked_by_app: bye"),
        other => panic!("expected the kick on the other node, got {other:?}"),
    }
}

/// A user token from the Easemob inherit grant on one node, creating the user.
async fn token_on(cluster: &Cluster, node: usize, user: &str) -> String {
    let body = json!({"grant_type": "inherit", "username": user, "autoCreateUser": true});
    let (status, body) = cluster.call(node, Method::POST, "/token", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// A LeanCloud REST call with the master key to one node.
async fn lc_master(cluster: &Cluster, node: usize, path: &str, body: Value) -> Value {
    let url = format!("http://{}/1.2/rtm{path}", cluster.addr(node));
    let request =
        cluster.http.post(url).header("X-LC-Id", LC_APP_ID).header("X-LC-Key", format!("{LC_MASTER_KEY},master"));
    let response = request.json(&body).send().await.unwrap();
    let status = response.status();
    let answer = response.json::<Value>().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

#[tokio::test]
async fn a_client_first_seen_on_a_node_that_missed_a_broadcast_gets_it_at_login() {
    let cluster = Cluster::start(2).await;
    let svc = lc_master(&cluster, 0, "/service-conversations", json!({"name": "sys"})).await;
    let svc = svc["objectId"].as_str().unwrap().to_owned();
    // Node 1 reads which broadcasts are deliverable (none yet) when "early"
    // is created; node 0 then takes a broadcast, and "late", created on
    // node 1 right after, may be created from node 1's copy read before it.
    token_on(&cluster, 1, "early").await;
    let now = confab_core::clock::Clock::now_ms(&confab_core::clock::SystemClock);
    let body = json!({"from_client": "sys", "conv_id": svc, "message": "hello all", "valid_till": now + 3_600_000});
    let id = lc_master(&cluster, 0, "/broadcasts", body).await["msg-id"].as_str().unwrap().to_owned();
    let token = token_on(&cluster, 1, "late").await;
    // Logging in on node 1 once its copy is stale joins "late" all the same, once.
    tokio::time::sleep(confab_core::lasting::LASTING_FRESH_FOR).await;
    for round in 0..2 {
        let mut late =
            Connection::connect(&cluster.endpoint(1).ws_url(), &token, ConnectOptions::default()).await.unwrap();
        let got: Vec<String> = backlog(&mut late).await.into_iter().map(|m| m.msg_id).collect();
        let want: &[&str] = if round == 0 { &[id.as_str()] } else { &[] };
        assert_eq!(got, want, "round {round}");
        // The device acknowledged it before the next login.
        crate::helpers::eventually(|| async {
            let (_, body) = cluster.call(1, Method::GET, "/users/late/offline_msg_count", None).await;
            body["data"]["late"] == 0
        })
        .await;
        late.close().await;
    }
    cluster.finish().await;
}
