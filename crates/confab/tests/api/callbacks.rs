//! Callbacks to the app's own server (issue 17): a real local HTTP server
//! plays the app's server; confab posts to it over loopback (allowed with
//! `CONFAB_FETCH_ALLOW_PRIVATE`), in each vendor's format.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use reqwest::StatusCode;
use serde_json::{json, Value};

use confab_server::callbacks::{self, Format, OnFailure, Settings};
use confab_server::config::{Config, Secret};
use confab_server::fetch::FetchPolicy;

use crate::helpers::{next_message, spawn_app_with, Storage, TestApp};

/// Polls until `check` passes or `secs` seconds pass (post-send retries
/// back off for seconds).
async fn within<F, Fut>(secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met within {secs} s");
}

const SECRET: &str = "callback-secret";

/// One call the app's server received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) path: String,
    /// What the app's server answered.
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) raw: Vec<u8>,
    pub(crate) body: Value,
}

type Answer = Arc<dyn Fn(&Value) -> (u16, String) + Send + Sync>;

/// The app's server: records every call and answers with `answer`.
#[derive(Clone)]
pub(crate) struct AppServer {
    pub(crate) url: String,
    calls: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Mutex<Answer>>,
    /// How long each answer takes.
    delay: Arc<Mutex<Duration>>,
}

impl AppServer {
    pub(crate) async fn start(answer: impl Fn(&Value) -> (u16, String) + Send + Sync + 'static) -> AppServer {
        let calls: Arc<Mutex<Vec<Received>>> = Arc::default();
        let answer: Arc<Mutex<Answer>> = Arc::new(Mutex::new(Arc::new(answer)));
        let delay: Arc<Mutex<Duration>> = Arc::default();
        let (record, reply, wait) = (calls.clone(), answer.clone(), delay.clone());
        let handler = move |uri: axum::http::Uri, headers: HeaderMap, raw: axum::body::Bytes| {
            let (record, reply, wait) = (record.clone(), reply.clone(), wait.clone());
            async move {
                let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
                let pause = *wait.lock().unwrap();
                tokio::time::sleep(pause).await;
                let answer = reply.lock().unwrap().clone();
                let (status, text) = answer(&body);
                let path = uri.path().to_owned();
                record.lock().unwrap().push(Received { path, status, headers, raw: raw.to_vec(), body });
                (AxumStatus::from_u16(status).unwrap(), text)
            }
        };
        let router = axum::Router::new().fallback(post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        AppServer { url, calls, answer, delay }
    }

    fn answer_after(&self, pause: Duration) {
        *self.delay.lock().unwrap() = pause;
    }

    fn answer_with(&self, answer: impl Fn(&Value) -> (u16, String) + Send + Sync + 'static) {
        *self.answer.lock().unwrap() = Arc::new(answer);
    }

    pub(crate) fn calls(&self) -> Vec<Received> {
        self.calls.lock().unwrap().clone()
    }
}

/// A confab whose first app calls `server` before each send.
pub(crate) async fn with_pre_send(server: &AppServer, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let url = server.url.clone();
    spawn_app_with(Storage::fresh().await, move |config| {
        config.fetch_allow_private = FetchPolicy::parse("127.0.0.1").unwrap();
        config.callbacks.pre_send_url = Some(format!("{url}/pre"));
        config.callbacks.secret = Some(Secret(SECRET.into()));
        adjust(config);
    })
    .await
}

fn text_of(body: &Value) -> String {
    body["payload"]["bodies"][0]["msg"].as_str().unwrap_or_default().to_owned()
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks confab's own signature of a call: `t=<ms>,v1=<HMAC-SHA256(secret, t.body)>`.
fn assert_signed(call: &Received) {
    let header = call.headers["x-confab-signature"].to_str().unwrap();
    let (t, v1) = header.split_once(',').unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&call.raw);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(v1.strip_prefix("v1=").unwrap(), expected, "{header}");
}

/// Easemob's rule: `{"valid": false}` refuses the message, whether it came
/// over REST or from a connected client; nothing refused is stored or
/// delivered, and the sender hears the app's `code`.
#[tokio::test]
async fn a_pre_send_refusal_stops_rest_and_gateway_sends_alike() {
    let server = AppServer::start(|body| match text_of(body).contains("bad") {
        true => (200, json!({"valid": false, "code": "banned words"}).to_string()),
        false => (200, json!({"valid": true}).to_string()),
    })
    .await;
    let app = with_pre_send(&server, |_| {}).await;
    app.register(&["alice", "bob"]).await;
    let mut bob = app.connect("bob").await;

    let send = |text: &str| json!({"from": "alice", "to": ["bob"], "type": "txt", "body": {"msg": text}});
    let (status, body) = app.post("/messages/users", send("a bad word")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error_description"], "banned words", "{body}");
    let (status, body) = app.post("/messages/users", send("fine")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["data"]["bob"].as_str().unwrap().to_owned();
    let got = next_message(&mut bob).await;
    assert_eq!(
        (got.msg_id.as_str(), got.body["msg"].as_str()),
        (id.as_str(), Some("fine")),
        "the refused one never came"
    );

    // The same rule for a connected client's send.
    let alice = app.connect("alice").await;
    let refused = alice.send("bob", json!({"type": "txt", "msg": "bad again"}), None).await.unwrap_err();
    assert!(refused.to_string().contains("refused_by_app"), "{refused}");
    assert!(refused.to_string().contains("banned words"), "{refused}");
    alice.send("bob", json!({"type": "txt", "msg": "fine again"}), None).await.unwrap();
    assert_eq!(next_message(&mut bob).await.body["msg"], "fine again");

    // Nothing refused was stored.
    let (_, history) = app.get("/chatmessages?ql=select * where timestamp>0&limit=100").await;
    let texts: Vec<&str> = history["entities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["payload"]["bodies"][0]["msg"].as_str())
        .collect();
    assert_eq!(texts, ["fine", "fine again"], "{history}");

    // What the app's server got: the vendor's fields, signed as the vendor signs.
    let calls = server.calls();
    assert_eq!(calls.len(), 4);
    let call = &calls[1];
    assert_eq!(call.path, "/pre");
    let body = &call.body;
    assert_eq!(
        (body["from"].as_str(), body["to"].as_str(), body["chat_type"].as_str()),
        (Some("alice"), Some("bob"), Some("chat"))
    );
    assert_eq!(body["msg_id"], id.as_str(), "the message's own ID, assigned before the call");
    let call_id = body["callId"].as_str().unwrap();
    assert_eq!(call_id, format!("demo#chat_{id}"));
    let security = md5_hex(&format!("{call_id}{SECRET}{}", body["timestamp"]));
    assert_eq!(body["security"], security.as_str());
    assert_signed(call);
}

/// The app's server may change what is sent; a send waits for it only as
/// long as the app allows, then the failure policy decides.
#[tokio::test]
async fn a_pre_send_answer_replaces_content_and_a_silent_server_is_decided_by_policy() {
    let server = AppServer::start(|body| {
        let masked = text_of(body).replace("darn", "d**n");
        (200, json!({"valid": true, "payload": {"msg": masked, "type": "txt"}}).to_string())
    })
    .await;
    let app = with_pre_send(&server, |config| config.callbacks.timeout_ms = Some(300)).await;
    app.register(&["alice", "bob"]).await;
    let mut bob = app.connect("bob").await;
    let alice = app.connect("alice").await;
    alice.send("bob", json!({"type": "txt", "msg": "oh darn"}), None).await.unwrap();
    assert_eq!(next_message(&mut bob).await.body["msg"], "oh d**n");
    let (_, history) = app.get("/chatmessages?ql=select * where timestamp>0&limit=10").await;
    assert_eq!(history["entities"][0]["payload"]["bodies"][0]["msg"], "oh d**n", "stored as replaced");

    // A server that does not answer in time: passed by default…
    server.answer_with(|_| (200, json!({"valid": false}).to_string()));
    server.answer_after(Duration::from_millis(800));
    let started = std::time::Instant::now();
    alice.send("bob", json!({"type": "txt", "msg": "late"}), None).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(750), "the send waited {:?}", started.elapsed());
    assert_eq!(next_message(&mut bob).await.body["msg"], "late");
    // …refused when the app says so (`confab app callbacks --on-failure refuse`).
    let first = app.core.apps.by_name("demo", "chat").await.unwrap().unwrap();
    let mut settings = callbacks::settings(&app.core, first.id).await.unwrap();
    settings.on_failure = OnFailure::Refuse;
    callbacks::set_settings(&app.core, first.id, &settings).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await; // the gate reads settings again after 2 s
    let refused = alice.send("bob", json!({"type": "txt", "msg": "later"}), None).await.unwrap_err();
    assert!(refused.to_string().contains("custom internal error"), "{refused}");
    // An answer that is not the vendor's shape counts as a failure too.
    server.answer_after(Duration::ZERO);
    server.answer_with(|_| (200, "<html>oops</html>".into()));
    assert!(alice.send("bob", json!({"type": "txt", "msg": "x"}), None).await.is_err());
    let metrics = app.http.get(format!("http://{}/metrics", app.addr)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("confab_callback_pre_send_total{outcome=\"replace\"} 1"), "{metrics}");
    assert!(metrics.contains("confab_callback_pre_send_total{outcome=\"failure\"} 3"), "{metrics}");
}

/// Post-send: every stored message is posted after it is committed, in
/// order per conversation, signed; one the app's server does not take is
/// retried and holds its conversation's later ones until it is (other
/// conversations go on), and none is lost or taken twice.
#[tokio::test]
async fn post_send_posts_every_message_in_order_and_retries_until_taken() {
    let failures = Arc::new(Mutex::new(2));
    let left = failures.clone();
    let server = AppServer::start(move |body| {
        let mut left = left.lock().unwrap();
        match (text_of(body).as_str(), *left) {
            ("m0", 1..) => {
                *left -= 1;
                (500, "try later".into())
            }
            _ => (200, String::new()),
        }
    })
    .await;
    let url = server.url.clone();
    let app = spawn_app_with(Storage::fresh().await, move |config| {
        config.fetch_allow_private = FetchPolicy::parse("127.0.0.1").unwrap();
        config.callbacks.post_send_url = Some(format!("{url}/post"));
        config.callbacks.secret = Some(Secret(SECRET.into()));
    })
    .await;
    app.register(&["alice", "bob", "carol"]).await;
    let mut sent = Vec::new();
    for (i, to) in ["bob", "carol", "bob", "carol", "bob"].iter().enumerate() {
        sent.push(app.send_text("alice", to, &format!("m{i}")).await);
    }
    // Sends never waited for the app's server.
    within(15, || {
        let taken = server.calls().iter().filter(|c| c.status == 200).count();
        async move { taken >= 5 }
    })
    .await;
    let calls = server.calls();
    let taken: Vec<&str> =
        calls.iter().filter(|c| c.status == 200).map(|c| c.body["msg_id"].as_str().unwrap()).collect();
    let of = |indexes: &[usize]| indexes.iter().map(|i| sent[*i].as_str()).collect::<Vec<_>>();
    // Each taken once, in its conversation's order.
    assert_eq!(taken.iter().filter(|id| of(&[0, 2, 4]).contains(id)).copied().collect::<Vec<_>>(), of(&[0, 2, 4]));
    assert_eq!(taken.iter().filter(|id| of(&[1, 3]).contains(id)).copied().collect::<Vec<_>>(), of(&[1, 3]));
    // The first was refused twice and posted again before its conversation's later ones were tried.
    let attempts: Vec<&str> = calls.iter().map(|c| c.body["msg_id"].as_str().unwrap()).collect();
    assert_eq!(attempts.iter().filter(|id| **id == sent[0]).count(), 3, "{attempts:?}");
    let first_taken = calls.iter().position(|c| c.status == 200 && c.body["msg_id"] == sent[0].as_str()).unwrap();
    assert!(!attempts[..first_taken].contains(&sent[2].as_str()), "{attempts:?}");
    let last = calls.iter().find(|c| c.body["msg_id"] == sent[4].as_str()).unwrap();
    assert_eq!(last.path, "/post");
    assert_eq!(last.body["eventType"], "chat");
    assert_eq!(last.body["content_type"], "chat:user:text");
    assert_eq!(text_of(&last.body), "m4");
    let call_id = last.body["callId"].as_str().unwrap();
    assert_eq!(last.body["security"], md5_hex(&format!("{call_id}{SECRET}{}", last.body["timestamp"])).as_str());
    assert_signed(last);
    // Nothing more comes (each was taken once).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(server.calls().len(), 7);
}

/// After a restart, posting goes on from where it stood: nothing sent
/// while the server was down is skipped.
#[tokio::test]
async fn post_send_resumes_after_a_restart() {
    let server = AppServer::start(|_| (200, String::new())).await;
    let url = server.url.clone();
    let adjust = move |config: &mut Config| {
        config.fetch_allow_private = FetchPolicy::parse("127.0.0.1").unwrap();
        config.callbacks.post_send_url = Some(format!("{url}/post"));
    };
    let app = spawn_app_with(Storage::fresh().await, adjust.clone()).await;
    app.register(&["alice", "bob"]).await;
    let first = app.send_text("alice", "bob", "before").await;
    within(15, || {
        let n = server.calls().len();
        async move { n == 1 }
    })
    .await;
    // The app's server goes away; messages keep being sent and stored.
    server.answer_with(|_| (503, String::new()));
    let second = app.send_text("alice", "bob", "while down").await;
    let storage = app.stop().await;
    server.answer_with(|_| (200, String::new()));
    let app = spawn_app_with(storage, adjust).await;
    let third = app.send_text("alice", "bob", "after").await;
    within(15, || {
        let found = server.calls().iter().any(|c| c.body["msg_id"] == third.as_str());
        async move { found }
    })
    .await;
    let taken: Vec<String> =
        server.calls().iter().map(|c| c.body["msg_id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let mut order: Vec<&str> = taken.iter().map(String::as_str).collect();
    order.dedup();
    assert_eq!(order, [first.as_str(), second.as_str(), third.as_str()], "{taken:?}");
}

/// The other vendors' formats: LeanCloud's `_messageReceived` hook under the
/// engine's URL with its hook key (`drop` refuses, answered 4402), and
/// WildfireChat's remote censor (403 refuses, answered 242).
#[tokio::test]
async fn leancloud_hooks_and_the_wildfire_censor_speak_their_formats() {
    let server = AppServer::start(|body| match body.get("fromPeer") {
        Some(_) => (200, json!({"result": {"drop": true, "code": 7, "detail": "no spam"}}).to_string()),
        None => (403, String::new()),
    })
    .await;
    let app = with_pre_send(&server, |config| config.callbacks.format = Some("leancloud".into())).await;
    let (status, created) = app
        .leancloud(reqwest::Method::POST, "/1.2/rtm/conversations", Some(json!({"name": "c", "m": ["alice", "bob"]})))
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let conv = created["objectId"].as_str().unwrap();
    let path = format!("/1.2/rtm/conversations/{conv}/messages");
    let (status, body) =
        app.leancloud(reqwest::Method::POST, &path, Some(json!({"from_client": "alice", "message": "buy now"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!((body["code"].as_i64(), body["error"].as_str()), (Some(4402), Some("no spam")), "{body}");
    let call = server.calls().pop().unwrap();
    assert_eq!(call.path, "/pre/1.1/functions/_messageReceived");
    assert_eq!(call.headers["x-lc-hook-key"], SECRET);
    assert_eq!(call.headers["x-lc-id"], crate::helpers::LC_APP_ID);
    assert_eq!((call.body["fromPeer"].as_str(), call.body["convId"].as_str()), (Some("alice"), Some(conv)));
    assert_eq!(call.body["content"], "buy now");

    // WildfireChat: the censor's 403.
    let first = app.core.apps.by_name("demo", "chat").await.unwrap().unwrap();
    let settings = Settings {
        pre_send_url: Some(format!("{}/censor", server.url)),
        format: Format::Wildfire,
        timeout_ms: 1000,
        ..Settings::default()
    };
    callbacks::set_settings(&app.core, first.id, &settings).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    app.register(&["carol"]).await;
    let send = json!({"sender": "alice", "conv": {"type": 0, "target": "carol", "line": 0}, "payload": {"type": 1, "searchableContent": "hello"}});
    let answer = app.wildfire("/admin/message/send", send).await;
    assert_eq!(answer["code"], 242, "{answer}");
    let call = server.calls().pop().unwrap();
    assert_eq!(call.path, "/censor");
    assert_eq!(call.body["payload"]["searchableContent"], "hello");
    assert_eq!(call.body["conv"]["target"], "carol");
    assert!(call.body["messageId"].is_u64(), "{}", call.body);
}

/// `confab app callbacks` sets an app's callbacks while the server runs,
/// prints them (never the secret, but a new one once), refuses bad values,
/// and turns a callback off with an empty URL.
#[tokio::test]
async fn the_cli_sets_shows_and_clears_an_apps_callbacks() {
    let server = AppServer::start(|_| (200, json!({"valid": false, "code": "cli"}).to_string())).await;
    let app = spawn_app_with(Storage::fresh().await, |config| {
        config.fetch_allow_private = FetchPolicy::parse("127.0.0.1").unwrap();
    })
    .await;
    app.register(&["alice", "bob"]).await;
    let cli = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_confab"));
        command.arg("app").arg("callbacks").args(args).env("CONFAB_DATA_DIR", app.storage.data_dir.path());
        if let Some(url) = &app.storage.database_url {
            command.env("CONFAB_DATABASE_URL", url);
        }
        command.output().unwrap()
    };
    let pre = format!("{}/pre", server.url);
    let out = cli(&["--pre-send-url", &pre, "--new-secret", "--timeout-ms", "500"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(shown.contains(&format!("pre-send    {pre}")), "{shown}");
    assert!(shown.contains("wait        500 ms, then Pass"), "{shown}");
    let secret = shown.lines().find_map(|l| l.strip_prefix("New secret (shown once): ")).unwrap().to_owned();
    let again = String::from_utf8(cli(&[]).stdout).unwrap();
    assert!(again.contains("secret      set") && !again.contains(&secret), "shown once only: {again}");
    for bad in [&["--timeout-ms", "0"][..], &["--pre-send-url", "ftp://example.com/x"], &["--format", "msn"]] {
        assert!(!cli(bad).status.success(), "{bad:?}");
    }

    // The running server uses it once it reads the settings again (2 s).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let send = json!({"from": "alice", "to": ["bob"], "type": "txt", "body": {"msg": "hi"}});
    let (status, body) = app.post("/messages/users", send.clone()).await;
    assert_eq!((status, body["error_description"].as_str()), (StatusCode::FORBIDDEN, Some("cli")), "{body}");
    let call = server.calls().pop().unwrap();
    let call_id = call.body["callId"].as_str().unwrap();
    assert_eq!(call.body["security"], md5_hex(&format!("{call_id}{secret}{}", call.body["timestamp"])).as_str());

    assert!(cli(&["--pre-send-url", ""]).status.success());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = app.post("/messages/users", send).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(server.calls().len(), 1, "no call once it is off");
}

/// The vendors' client protocols hear a refusal in their SDKs' terms: msync
/// status 19 (the SDK's MESSAGE_EXTERNAL_LOGIC_BLOCKED) with the app's
/// `code`, and LeanCloud's ack 4402 (MESSAGE_REJECTED_BY_APP) with the
/// hook's `detail`; nothing refused reaches the receiver.
#[tokio::test]
async fn the_client_protocols_hear_a_refusal_in_their_sdks_terms() {
    let server = AppServer::start(|body| match body.get("fromPeer") {
        Some(_) => (200, json!({"result": {"drop": true, "detail": "not here"}}).to_string()),
        None => (200, json!({"valid": false, "code": "blocked by app"}).to_string()),
    })
    .await;
    let app = with_pre_send(&server, |_| {}).await;
    app.register(&["ann", "bob"]).await;
    let mut ann = crate::easemob_protocol::logged_in(&app, "ann").await;
    let upload = crate::easemob_protocol::text_upload(7, "bob", "hello");
    crate::easemob_protocol::send(&mut ann, confab_server::easemob_proto::msync::Command::Sync, upload).await;
    let refused = crate::easemob_protocol::sync_answer(crate::easemob_protocol::next(&mut ann).await.unwrap());
    let status = refused.status.unwrap();
    assert_eq!(
        (refused.meta_id, status.error_code, status.reason.as_deref()),
        (Some(7), Some(19), Some("blocked by app"))
    );
    assert_eq!(refused.server_id, None, "nothing was stored");

    // The same app, now speaking LeanCloud's hooks.
    let first = app.core.apps.by_name("demo", "chat").await.unwrap().unwrap();
    let mut settings = callbacks::settings(&app.core, first.id).await.unwrap();
    settings.format = Format::LeanCloud;
    callbacks::set_settings(&app.core, first.id, &settings).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let conv = crate::leancloud_protocol::conversation(&app, &["ann", "bob"]).await;
    let (mut lc, _) = crate::leancloud_protocol::opened(&app, "ann", None).await;
    crate::leancloud_protocol::send(&mut lc, &crate::leancloud_protocol::direct(&conv, "hello", 2)).await;
    let answer = crate::leancloud_protocol::next(&mut lc).await.unwrap();
    let ack = answer.ack_message.unwrap();
    assert_eq!((answer.i, ack.code, ack.reason.as_deref()), (Some(2), Some(4402), Some("not here")));
    let (_, count) = app.get("/users/bob/offline_msg_count").await;
    assert_eq!(count["data"]["bob"], 0, "nothing reached bob: {count}");
}

/// LeanCloud's `_rtmClientSign`: before `/1.2/rtm/clients/sign` signs a
/// user's login, the app's hook is asked with the user; `result: false`
/// refuses with the vendor's 142 and the hook's words.
#[tokio::test]
async fn the_rtm_client_sign_hook_decides_whether_a_login_is_signed() {
    let server = AppServer::start(|body| match body["username"].as_str() {
        Some("mallory") => (200, json!({"result": false, "error": "banned user"}).to_string()),
        _ => (200, json!({"result": true}).to_string()),
    })
    .await;
    let app = with_pre_send(&server, |config| config.callbacks.format = Some("leancloud".into())).await;
    let keys = [("X-LC-Id", crate::helpers::LC_APP_ID), ("X-LC-Key", crate::helpers::LC_APP_KEY)];
    for (user, allowed) in [("alice", true), ("mallory", false)] {
        let token = app.token_by_id(user).await;
        let path = format!("/1.2/rtm/clients/sign?session_token={token}");
        let (status, body) = app.leancloud_with(reqwest::Method::GET, &path, None, &keys).await;
        let call = server.calls().pop().unwrap();
        assert_eq!(call.path, "/pre/1.1/functions/_rtmClientSign");
        assert_eq!(
            (call.body["username"].as_str(), call.body["sessionToken"].as_str()),
            (Some(user), Some(token.as_str()))
        );
        assert_eq!(call.headers["x-lc-hook-key"], SECRET);
        match allowed {
            true => assert_eq!((status, body["client_id"].as_str()), (StatusCode::OK, Some(user)), "{body}"),
            false => {
                assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
                assert_eq!((body["code"].as_i64(), body["error"].as_str()), (Some(142), Some("banned user")), "{body}");
            }
        }
    }
}

/// LeanCloud's `_conversationStart` and `_conversationAdd`: for an app whose
/// callbacks speak LeanCloud's hooks, a client's `conv start` and `conv add`
/// (a join too) are asked about first; `reject` is the vendor's 4305 with the
/// app's code and words, and nothing is made or joined.
#[tokio::test]
async fn leancloud_conversation_hooks_may_reject_a_start_or_a_join() {
    use confab_server::leancloud_proto::{CommandType, ConvCommand, GenericCommand, JsonObjectMessage, OpType};
    let server = AppServer::start(|body| {
        let rejected =
            body["attr"]["name"] == "forbidden" || body["members"] == json!(["mallory"]) || body["mute"] == true;
        match (rejected, body["attr"]["name"].as_str()) {
            (true, _) => (200, json!({"result": {"reject": true, "code": 9, "detail": "not here"}}).to_string()),
            (false, Some("renamed")) => (200, json!({"result": {"attr": {"name": "named by the server"}}}).to_string()),
            (false, _) => (200, json!({"result": {}}).to_string()),
        }
    })
    .await;
    let app = with_pre_send(&server, |config| config.callbacks.format = Some("leancloud".into())).await;
    let conv = |op: OpType, i: i32, conv: ConvCommand| GenericCommand {
        cmd: Some(CommandType::Conv as i32),
        op: Some(op as i32),
        i: Some(i),
        conv_message: Some(conv),
        ..Default::default()
    };
    let named = |name: &str| Some(JsonObjectMessage { data: json!({"name": name}).to_string() });
    let (mut ann, _) = crate::leancloud_protocol::opened(&app, "ann", None).await;
    let refused = ConvCommand { m: vec!["bob".into()], attr: named("forbidden"), ..Default::default() };
    crate::leancloud_protocol::send(&mut ann, &conv(OpType::Start, 2, refused)).await;
    let answer = crate::leancloud_protocol::next(&mut ann).await.unwrap();
    let error = answer.error_message.expect("an error");
    assert_eq!((error.code, error.app_code, error.reason.as_str()), (4305, Some(9), "not here"));
    let call = last_call(&server, "/pre/1.1/functions/_conversationStart");
    assert_eq!(call.path, "/pre/1.1/functions/_conversationStart");
    assert_eq!(call.body["initBy"], "ann");
    assert_eq!(call.body["members"], json!(["bob"]));
    let (_, listed) = app.leancloud(reqwest::Method::GET, "/1.2/rtm/conversations", None).await;
    assert_eq!(listed["results"].as_array().map(Vec::len), Some(0), "nothing made: {listed}");

    let allowed = ConvCommand { m: vec!["bob".into()], attr: named("team"), ..Default::default() };
    crate::leancloud_protocol::send(&mut ann, &conv(OpType::Start, 3, allowed)).await;
    let started = crate::leancloud_protocol::next(&mut ann).await.unwrap();
    assert_eq!(started.op, Some(OpType::Started as i32), "{started:?}");
    let cid = started.conv_message.unwrap().cid.unwrap();

    // mallory's own join is asked about, and rejected.
    let (mut mallory, _) = crate::leancloud_protocol::opened(&app, "mallory", None).await;
    let join = ConvCommand { cid: Some(cid.clone()), m: vec!["mallory".into()], ..Default::default() };
    crate::leancloud_protocol::send(&mut mallory, &conv(OpType::Add, 2, join)).await;
    let answer = crate::leancloud_protocol::next(&mut mallory).await.unwrap();
    assert_eq!(answer.error_message.map(|e| (e.code, e.app_code)), Some((4305, Some(9))));
    let call = last_call(&server, "/pre/1.1/functions/_conversationAdd");
    assert_eq!(call.path, "/pre/1.1/functions/_conversationAdd");
    assert_eq!((call.body["initBy"].as_str(), call.body["convId"].as_str()), (Some("mallory"), Some(cid.as_str())));
    let (status, listed) = app.leancloud(reqwest::Method::GET, "/1.2/rtm/conversations", None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let found = listed["results"].as_array().unwrap().iter().find(|c| c["objectId"] == cid.as_str()).unwrap();
    assert_eq!(found["m"], json!(["ann", "bob"]), "not joined: {found}");

    // Removing another is asked about too (`_conversationRemove`); the answer names bob.
    let kick = ConvCommand { cid: Some(cid.clone()), m: vec!["bob".into()], ..Default::default() };
    crate::leancloud_protocol::send(&mut ann, &conv(OpType::Remove, 4, kick)).await;
    let answer = answer_to(&mut ann, 4).await;
    assert_eq!(answer.op, Some(OpType::Removed as i32), "{answer:?}");
    let call = last_call(&server, "/pre/1.1/functions/_conversationRemove");
    assert_eq!(call.path, "/pre/1.1/functions/_conversationRemove");
    assert_eq!((call.body["initBy"].as_str(), call.body["members"].clone()), (Some("ann"), json!(["bob"])));

    // `_conversationUpdate`: an attribute change may be changed, a mute rejected.
    let rename = ConvCommand { cid: Some(cid.clone()), attr: named("renamed"), ..Default::default() };
    crate::leancloud_protocol::send(&mut ann, &conv(OpType::Update, 5, rename)).await;
    let answer = answer_to(&mut ann, 5).await;
    assert_eq!(answer.op, Some(OpType::Updated as i32), "{answer:?}");
    let call = last_call(&server, "/pre/1.1/functions/_conversationUpdate");
    assert_eq!(call.path, "/pre/1.1/functions/_conversationUpdate");
    assert_eq!(call.body["attr"], json!({"name": "renamed"}));
    let (_, listed) = app.leancloud(reqwest::Method::GET, "/1.2/rtm/conversations", None).await;
    let found = listed["results"].as_array().unwrap().iter().find(|c| c["objectId"] == cid.as_str()).unwrap();
    assert_eq!(found["name"], "named by the server");
    let mute = ConvCommand { cid: Some(cid.clone()), ..Default::default() };
    crate::leancloud_protocol::send(&mut ann, &conv(OpType::Mute, 6, mute)).await;
    let answer = answer_to(&mut ann, 6).await;
    assert_eq!(answer.error_message.map(|e| (e.code, e.app_code)), Some((4305, Some(9))));
    assert_eq!(last_call(&server, "_conversationUpdate").body["mute"], true);
    let (_, muted) = app.leancloud(reqwest::Method::GET, &format!("/1.2/rtm/conversations/{cid}/mutes"), None).await;
    assert_eq!(muted["result"], json!([]), "not muted: {muted}");

    // The after-the-fact notices: logins, what was done, and the end of a session.
    drop(mallory);
    within(5, || {
        let calls = server.calls();
        async move { calls.iter().any(|c| c.path.ends_with("_clientOffline") && c.body["peerId"] == "mallory") }
    })
    .await;
    assert_eq!(last_call(&server, "_clientOffline").body["closeCode"], 2, "the connection was lost");
    let online: Vec<String> = server
        .calls()
        .iter()
        .filter(|c| c.path.ends_with("_clientOnline"))
        .map(|c| c.body["peerId"].as_str().unwrap().to_owned())
        .collect();
    assert!(online.contains(&"ann".to_owned()) && online.contains(&"mallory".to_owned()), "{online:?}");
    assert_eq!(last_call(&server, "_conversationStarted").body["convId"], cid.as_str());
    let removed = last_call(&server, "_conversationRemoved").body;
    assert_eq!((removed["initBy"].as_str(), removed["members"].clone()), (Some("ann"), json!(["bob"])));
    assert!(!server.calls().iter().any(|c| c.path.ends_with("_conversationAdded")), "mallory's join was rejected");
}

/// The last call to the hook at `path` (notices of logins and changes
/// arrive in between, in no order, as the vendor's do).
pub(crate) fn last_call(server: &AppServer, path: &str) -> Received {
    server.calls().into_iter().rev().find(|c| c.path.ends_with(path)).unwrap_or_else(|| panic!("no call to {path}"))
}

/// The answer to the command numbered `i` (the sender's own device hears of
/// its change too, before it).
async fn answer_to(
    socket: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    i: i32,
) -> confab_server::leancloud_proto::GenericCommand {
    loop {
        let frame = crate::leancloud_protocol::next(socket).await.unwrap();
        if frame.i == Some(i) {
            return frame;
        }
    }
}

/// LeanCloud's `_messageUpdate`: a client's edit or recall is asked about
/// first; `drop` answers 4405 and changes nothing, `content` rewrites the
/// edit.
#[tokio::test]
async fn leancloud_message_update_hook_rejects_or_rewrites_an_edit() {
    use confab_server::leancloud_proto::{CommandType, GenericCommand, OpType, PatchCommand, PatchItem};
    let server = AppServer::start(|body| match (body.get("recall"), body["content"].as_str()) {
        (Some(_), Some("edited")) => (200, json!({"result": {"drop": true, "detail": "no edits"}}).to_string()),
        (Some(_), Some("rewrite me")) => (200, json!({"result": {"content": "rewritten"}}).to_string()),
        _ => (200, json!({"result": {}}).to_string()),
    })
    .await;
    let app = with_pre_send(&server, |config| config.callbacks.format = Some("leancloud".into())).await;
    let conv = crate::leancloud_protocol::conversation(&app, &["ann", "bob"]).await;
    let (mut ann, _) = crate::leancloud_protocol::opened(&app, "ann", None).await;
    crate::leancloud_protocol::send(&mut ann, &crate::leancloud_protocol::direct(&conv, "hello", 2)).await;
    let ack = crate::leancloud_protocol::next(&mut ann).await.unwrap().ack_message.expect("an ack");
    let mid = ack.uid.unwrap();
    let patch = |i: i32, data: Option<&str>, recall: bool| GenericCommand {
        cmd: Some(CommandType::Patch as i32),
        op: Some(OpType::Modify as i32),
        i: Some(i),
        patch_message: Some(PatchCommand {
            patches: vec![PatchItem {
                cid: Some(conv.clone()),
                mid: Some(mid.clone()),
                data: data.map(Into::into),
                recall: recall.then_some(true),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let first = app.core.apps.by_name("demo", "chat").await.unwrap().unwrap();
    let id = confab_core::ids::MessageId::parse(&mid).unwrap();
    let data_now = || async {
        match app.core.messages.get(first.id, id).await.unwrap().unwrap().original {
            Some(confab_core::model::Original::LeanCloud { data, .. }) => data,
            other => panic!("{other:?}"),
        }
    };
    crate::leancloud_protocol::send(&mut ann, &patch(3, Some("edited"), false)).await;
    let answer = crate::leancloud_protocol::next(&mut ann).await.unwrap();
    let error = answer.error_message.expect("rejected");
    assert_eq!((error.code, error.reason.as_str()), (4405, "no edits"));
    assert_eq!(data_now().await, "hello", "nothing changed");
    let call = last_call(&server, "/pre/1.1/functions/_messageUpdate");
    assert_eq!(call.path, "/pre/1.1/functions/_messageUpdate");
    assert_eq!((call.body["msgId"].as_str(), call.body["recall"].as_bool()), (Some(mid.as_str()), Some(false)));

    crate::leancloud_protocol::send(&mut ann, &patch(4, Some("rewrite me"), false)).await;
    let answer = answer_to(&mut ann, 4).await;
    assert_eq!(answer.op, Some(OpType::Modified as i32), "{answer:?}");
    assert_eq!(data_now().await, "rewritten");

    crate::leancloud_protocol::send(&mut ann, &patch(5, None, true)).await;
    let answer = answer_to(&mut ann, 5).await;
    assert_eq!(answer.op, Some(OpType::Modified as i32), "{answer:?}");
    assert_eq!(last_call(&server, "_messageUpdate").body["recall"], true);
}

/// LeanCloud's `toPeers` in a `_messageReceived` answer: the message goes
/// only to those of the conversation's members.
#[tokio::test]
async fn leancloud_to_peers_narrows_who_gets_a_message() {
    let server = AppServer::start(|body| match body["content"].as_str() {
        Some("for bob only") => (200, json!({"result": {"toPeers": ["bob"]}}).to_string()),
        _ => (200, json!({"result": {}}).to_string()),
    })
    .await;
    let app = with_pre_send(&server, |config| config.callbacks.format = Some("leancloud".into())).await;
    app.register(&["alice", "bob", "carol"]).await;
    let conv = crate::leancloud_protocol::conversation(&app, &["alice", "bob", "carol"]).await;
    let mut bob = app.connect("bob").await;
    let mut carol = app.connect("carol").await;
    let path = format!("/1.2/rtm/conversations/{conv}/messages");
    let (status, body) = app
        .leancloud(reqwest::Method::POST, &path, Some(json!({"from_client": "alice", "message": "for bob only"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let got = next_message(&mut bob).await;
    assert_eq!(got.body["msg"], "for bob only");
    crate::helpers::assert_quiet(&mut carol).await;
    let (status, _) =
        app.leancloud(reqwest::Method::POST, &path, Some(json!({"from_client": "alice", "message": "for all"}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(next_message(&mut carol).await.body["msg"], "for all", "carol missed only the narrowed one");
}
