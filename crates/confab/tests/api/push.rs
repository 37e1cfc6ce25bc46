//! Offline push (issue 17): local HTTP/2 stand-ins speak APNs's and FCM's
//! request and answer formats (they are external services; everything of
//! confab's is real), and check what each receives: the provider token or
//! OAuth access token, the payload, a retry after a 5xx, a token dropped
//! after 410 / `UNREGISTERED`, nothing for a device that acknowledged, and
//! that do-not-disturb hours, display styles and mutes hold.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, Method as AxumMethod, StatusCode as AxumStatus, Uri, Version};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use confab_server::config::Config;
use confab_server::fetch::FetchPolicy;
use confab_server::leancloud_proto::SessionCommand;

use crate::helpers::{next_message, spawn_app_with, Storage, TestApp};

const APNS_KEY: &str = include_str!("fixtures/apns-test-key.p8");
const APNS_PUBLIC: &str = include_str!("fixtures/apns-test-key.pub.pem");
const FCM_KEY: &str = include_str!("fixtures/fcm-test-key.pem");
const FCM_PUBLIC: &str = include_str!("fixtures/fcm-test-key.pub.pem");
const ACCESS_TOKEN: &str = "ya29.stand-in-access-token";

/// One request a stand-in received, and what it answered.
#[derive(Debug, Clone)]
struct Pushed {
    path: String,
    version: Version,
    headers: HeaderMap,
    body: Value,
    status: u16,
}

/// APNs and FCM on one local HTTP/2 server: `POST /3/device/{token}` (APNs),
/// `POST /token` (Google's OAuth token endpoint) and
/// `POST /v1/projects/{id}/messages:send` (FCM). Tokens name their fate:
/// `gone-…` are unregistered, `flaky-…` fail once with 503.
#[derive(Clone)]
struct Providers {
    url: String,
    received: Arc<Mutex<Vec<Pushed>>>,
}

impl Providers {
    async fn start() -> Providers {
        let received: Arc<Mutex<Vec<Pushed>>> = Arc::default();
        let record = received.clone();
        let handler = move |method: AxumMethod,
                            uri: Uri,
                            version: Version,
                            headers: HeaderMap,
                            raw: axum::body::Bytes| {
            let record = record.clone();
            async move {
                assert_eq!(method, AxumMethod::POST);
                let path = uri.path().to_owned();
                let text = String::from_utf8_lossy(&raw).into_owned();
                let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| json!({"form": text}));
                let seen =
                    |token: &str| record.lock().unwrap().iter().filter(|p: &&Pushed| p.path.ends_with(token)).count();
                let (status, answer) = if let Some(token) = path.strip_prefix("/3/device/") {
                    apns_answer(&headers, token, seen(token))
                } else if path == "/token" {
                    oauth_answer(&text)
                } else {
                    let token = body["message"]["token"].as_str().unwrap_or_default().to_owned();
                    let earlier =
                        record.lock().unwrap().iter().filter(|p| p.body["message"]["token"] == token.as_str()).count();
                    fcm_answer(&headers, &token, earlier)
                };
                record.lock().unwrap().push(Pushed { path, version, headers, body, status });
                (AxumStatus::from_u16(status).unwrap(), answer.to_string())
            }
        };
        let router = axum::Router::new().fallback(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Providers { url, received }
    }

    fn received(&self) -> Vec<Pushed> {
        self.received.lock().unwrap().clone()
    }

    /// The APNs pushes a device token got.
    fn apns(&self, token: &str) -> Vec<Pushed> {
        self.received().into_iter().filter(|p| p.path == format!("/3/device/{token}")).collect()
    }

    /// The FCM sends a registration token got.
    fn fcm(&self, token: &str) -> Vec<Pushed> {
        self.received().into_iter().filter(|p| p.body["message"]["token"] == token).collect()
    }
}

/// Apple's rules: a valid ES256 provider token from the team, a topic, then the token's fate.
fn apns_answer(headers: &HeaderMap, token: &str, earlier: usize) -> (u16, Value) {
    let jwt = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("bearer "));
    let key = jsonwebtoken::DecodingKey::from_ec_pem(APNS_PUBLIC.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let verified = jwt.and_then(|jwt| jsonwebtoken::decode::<Value>(jwt, &key, &validation).ok());
    match verified {
        Some(data) if data.claims["iss"] == "TEAM123456" && data.header.kid.as_deref() == Some("KEY1234567") => {}
        _ => return (403, json!({"reason": "InvalidProviderToken"})),
    }
    if headers.get("apns-topic").is_none_or(|t| t != "com.example.chat") {
        return (400, json!({"reason": "TopicDisallowed"}));
    }
    if token.starts_with("gone-") {
        return (410, json!({"reason": "Unregistered", "timestamp": 1_700_000_000_000_i64}));
    }
    if token.starts_with("flaky-") && earlier == 0 {
        return (503, json!({"reason": "ServiceUnavailable"}));
    }
    (200, json!({}))
}

/// Google's token endpoint: a JWT-bearer grant whose assertion the service account signed.
fn oauth_answer(form: &str) -> (u16, Value) {
    let fields: HashMap<String, String> = serde_urlencoded::from_str(form).unwrap_or_default();
    if fields.get("grant_type").map(String::as_str) != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return (400, json!({"error": "unsupported_grant_type"}));
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(FCM_PUBLIC.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_aud = false;
    match jsonwebtoken::decode::<Value>(
        fields.get("assertion").map(String::as_str).unwrap_or_default(),
        &key,
        &validation,
    ) {
        Ok(data)
            if data.claims["iss"] == "pusher@demo-project.iam.gserviceaccount.com"
                && data.claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
                && data.claims["aud"].as_str().is_some_and(|a| a.ends_with("/token")) =>
        {
            (200, json!({"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"}))
        }
        _ => (400, json!({"error": "invalid_grant"})),
    }
}

/// FCM HTTP v1: the access token, then the registration token's fate.
fn fcm_answer(headers: &HeaderMap, token: &str, earlier: usize) -> (u16, Value) {
    if headers.get("authorization").is_none_or(|v| v != format!("Bearer {ACCESS_TOKEN}").as_str()) {
        return (401, json!({"error": {"code": 401, "status": "UNAUTHENTICATED"}}));
    }
    if token.starts_with("gone-") {
        let detail =
            json!({"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"});
        return (
            404,
            json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND", "details": [detail]}}),
        );
    }
    if token.starts_with("flaky-") && earlier == 0 {
        return (503, json!({"error": {"code": 503, "status": "UNAVAILABLE"}}));
    }
    (200, json!({"name": format!("projects/demo-project/messages/{}", earlier + 1)}))
}

/// A confab whose first app pushes through the stand-ins, with a short
/// acknowledgement wait.
async fn with_push(providers: &Providers, storage: Storage, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = storage.data_dir.path().to_path_buf();
    let key_file = dir.join("apns.p8");
    std::fs::write(&key_file, APNS_KEY).unwrap();
    let account = json!({
        "type": "service_account",
        "project_id": "demo-project",
        "private_key": FCM_KEY,
        "client_email": "pusher@demo-project.iam.gserviceaccount.com",
        "token_uri": format!("{}/token", providers.url),
    });
    let account_file = dir.join("service-account.json");
    std::fs::write(&account_file, account.to_string()).unwrap();
    let url = providers.url.clone();
    spawn_app_with(storage, move |config| {
        config.fetch_allow_private = FetchPolicy::parse("127.0.0.1").unwrap();
        config.push.apns_key_file = Some(key_file);
        config.push.apns_key_id = Some("KEY1234567".into());
        config.push.apns_team_id = Some("TEAM123456".into());
        config.push.apns_topic = Some("com.example.chat".into());
        config.push.apns_endpoint = Some(url.clone());
        config.push.fcm_service_account_file = Some(account_file);
        config.push.fcm_endpoint = Some(url);
        config.push.ack_wait_ms = Some(300);
        adjust(config);
    })
    .await
}

async fn bind(app: &TestApp, user: &str, device: &str, token: &str, notifier: &str) -> (StatusCode, Value) {
    let body = json!({"device_id": device, "device_token": token, "notifier_name": notifier});
    app.put(&format!("/users/{user}/push/binding"), body).await
}

/// Polls until `check` passes or `secs` seconds pass.
async fn within(secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met within {secs} s");
}

async fn metrics(app: &TestApp) -> String {
    app.http.get(format!("http://{}/metrics", app.addr)).send().await.unwrap().text().await.unwrap()
}

/// A message to a user with no session becomes one APNs push per device:
/// over HTTP/2, with a provider token Apple would accept, the vendor's
/// default words, the unread count as the badge and the message's IDs. A
/// 503 is tried again (once, and only that device); a 410 drops the token.
#[tokio::test]
async fn an_offline_user_gets_one_apns_push_per_device_and_gone_tokens_are_dropped() {
    let providers = Providers::start().await;
    let app = with_push(&providers, Storage::fresh().await, |_| {}).await;
    app.register(&["alice", "bob"]).await;
    let (status, body) = bind(&app, "bob", "bob-phone", "phone-token", "apns").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["entities"],
        json!([{"device_id": "bob-phone", "device_token": "phone-token", "notifier_name": "apns"}])
    );
    // The user's own SDK binds with the user's token, as Easemob's does.
    let bob = app.user_token("bob").await;
    let own = json!({"device_id": "bob-tablet", "device_token": "flaky-tablet", "notifier_name": "apns"});
    let (status, body) = app.call(Method::PUT, "/users/bob/push/binding", Some(&bob), Some(own)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let alice = app.user_token("alice").await;
    let theirs = json!({"device_id": "x", "device_token": "y", "notifier_name": "apns"});
    let (status, _) = app.call(Method::PUT, "/users/bob/push/binding", Some(&alice), Some(theirs)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "not someone else's devices");
    bind(&app, "bob", "bob-old", "gone-old", "apns").await;
    let (_, listed) = app.get("/users/bob/push/binding").await;
    assert_eq!(listed["entities"].as_array().unwrap().len(), 3, "{listed}");

    let id = app.send_text("alice", "bob", "are you there?").await;
    within(10, || providers.apns("phone-token").len() == 1 && providers.apns("gone-old").len() == 1).await;
    let push = &providers.apns("phone-token")[0];
    assert_eq!(push.version, Version::HTTP_2);
    assert_eq!(push.status, 200);
    assert_eq!(push.headers["apns-push-type"], "alert");
    assert_eq!(push.headers["apns-collapse-id"], id.as_str());
    assert_eq!(push.body["aps"]["alert"], json!({"body": "您有一条新消息"}), "display style 0 shows no details");
    assert_eq!(push.body["aps"]["badge"], 1);
    assert_eq!(
        (push.body["f"].as_str(), push.body["t"].as_str(), push.body["m"].as_str()),
        (Some("alice"), Some("bob"), Some(id.as_str()))
    );

    // The 503 is tried again after its backoff; the 410 token is gone.
    within(10, || providers.apns("flaky-tablet").len() == 2).await;
    assert_eq!(providers.apns("flaky-tablet").iter().map(|p| p.status).collect::<Vec<_>>(), [503, 200]);
    let (_, listed) = app.get("/users/bob/push/binding").await;
    let devices: Vec<&str> =
        listed["entities"].as_array().unwrap().iter().map(|d| d["device_id"].as_str().unwrap()).collect();
    assert_eq!(devices, ["bob-phone", "bob-tablet"], "{listed}");
    // Nothing is pushed twice.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        (providers.apns("phone-token").len(), providers.apns("flaky-tablet").len(), providers.apns("gone-old").len()),
        (1, 2, 1)
    );
    let metrics = metrics(&app).await;
    for line in [
        r#"confab_push_total{provider="apns",outcome="sent"} 2"#,
        r#"confab_push_total{provider="apns",outcome="retry"} 1"#,
        r#"confab_push_total{provider="apns",outcome="gone"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    // An empty token unbinds.
    let (status, body) = bind(&app, "bob", "bob-phone", "", "").await;
    assert_eq!((status, body["entities"].clone()), (StatusCode::OK, json!([])), "{body}");
    let (status, body) = bind(&app, "bob", "", "t", "apns").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("illegal_argument")), "{body}");
    let (status, body) = bind(&app, "nobody", "d", "t", "apns").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

/// A device that is connected and acknowledges the message gets no push;
/// once the user has no session, the next message is pushed. A token that
/// moves to another user leaves the first one.
#[tokio::test]
async fn a_device_that_acknowledged_is_not_pushed_and_tokens_follow_their_device() {
    let providers = Providers::start().await;
    // Time for the client's acknowledgement (sent 250 ms after a message) on a busy machine.
    let app = with_push(&providers, Storage::fresh().await, |config| config.push.ack_wait_ms = Some(1500)).await;
    app.register(&["alice", "bob", "carol"]).await;
    bind(&app, "bob", "bob-phone", "bob-token", "apns").await;
    let mut bob = app.connect("bob").await;
    let first = app.send_text("alice", "bob", "live").await;
    assert_eq!(next_message(&mut bob).await.msg_id, first);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(providers.apns("bob-token").is_empty(), "acknowledged: no push");
    bob.close().await;
    let second = app.send_text("alice", "bob", "offline").await;
    within(10, || providers.apns("bob-token").len() == 1).await;
    assert_eq!(providers.apns("bob-token")[0].body["m"], second.as_str());

    // The phone changes hands: carol's binding takes the token from bob.
    bind(&app, "carol", "carol-phone", "bob-token", "apns").await;
    let (_, listed) = app.get("/users/bob/push/binding").await;
    assert_eq!(listed["entities"], json!([]), "{listed}");
    app.send_text("alice", "bob", "not to carol").await;
    let third = app.send_text("alice", "carol", "to carol").await;
    within(10, || providers.apns("bob-token").len() == 2).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let pushes = providers.apns("bob-token");
    assert_eq!(pushes.len(), 2);
    assert_eq!(pushes[1].body["m"], third.as_str());
}

/// Do-not-disturb hours hold everything back but a forced message; display
/// style 1 shows the sender's push nickname and the text; Easemob's own push
/// title and content win.
#[tokio::test]
async fn do_not_disturb_and_the_display_style_hold() {
    let providers = Providers::start().await;
    let app = with_push(&providers, Storage::fresh().await, |_| {}).await;
    app.register(&["alice", "bob"]).await;
    bind(&app, "bob", "bob-phone", "bob-token", "apns").await;
    let (status, _) = app.put("/users/alice", json!({"nickname": "Alice A."})).await;
    assert_eq!(status, StatusCode::OK);
    let hour = (app.core.now_ms() / 3_600_000) % 24;
    let quiet = json!({
        "notification_no_disturbing": true,
        "notification_no_disturbing_start": hour,
        "notification_no_disturbing_end": (hour + 2) % 24,
    });
    let (status, body) = app.put("/users/bob", quiet).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let send = |text: &str, ext: Value| json!({"from": "alice", "to": ["bob"], "type": "txt", "body": {"msg": text}, "ext": ext});
    let (status, _) = app.post("/messages/users", send("shh", json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, forced) = app.post("/messages/users", send("wake up", json!({"em_force_notification": true}))).await;
    let forced_id = forced["data"]["bob"].as_str().unwrap().to_owned();
    within(10, || providers.apns("bob-token").len() == 1).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let pushes = providers.apns("bob-token");
    assert_eq!(pushes.len(), 1, "only the forced one");
    assert_eq!(pushes[0].body["m"], forced_id.as_str());
    assert!(metrics(&app).await.contains(r#"confab_push_skipped_total{reason="do_not_disturb"} 1"#));

    let (status, _) =
        app.put("/users/bob", json!({"notification_no_disturbing": false, "notification_display_style": 1})).await;
    assert_eq!(status, StatusCode::OK);
    app.post("/messages/users", send("details please", json!({}))).await;
    app.post(
        "/messages/users",
        send("ignored", json!({"em_apns_ext": {"em_push_title": "Sale", "em_push_content": "50% off"}})),
    )
    .await;
    within(10, || providers.apns("bob-token").len() == 3).await;
    let alerts: Vec<Value> = providers.apns("bob-token").iter().map(|p| p.body["aps"]["alert"].clone()).collect();
    assert!(alerts.contains(&json!({"title": "Alice A.", "body": "details please"})), "{alerts:?}");
    assert!(alerts.contains(&json!({"title": "Sale", "body": "50% off"})), "{alerts:?}");
    let badges: Vec<i64> =
        providers.apns("bob-token").iter().map(|p| p.body["aps"]["badge"].as_i64().unwrap()).collect();
    assert_eq!(badges.iter().max(), Some(&4), "every unread message counts: {badges:?}");
}

/// LeanCloud's path: a device registers an `_Installation`, the session that
/// opens with its `deviceToken` binds it to the client, and group members
/// are pushed through FCM with an OAuth token fetched once. A member who
/// muted the conversation (`mu`) is pushed only when mentioned; `push_data`
/// sets the words and the app's fields; `UNREGISTERED` drops the token.
#[tokio::test]
async fn leancloud_devices_are_pushed_through_fcm_with_mutes_and_push_data() {
    use crate::leancloud_protocol::{connect, next, open, send};
    let providers = Providers::start().await;
    let app = with_push(&providers, Storage::fresh().await, |_| {}).await;
    for (device_type, token) in [("android", "bob-fcm"), ("android", "gone-carol")] {
        let (status, body) = app
            .leancloud(
                Method::POST,
                "/1.1/installations",
                Some(json!({"deviceType": device_type, "registrationId": token})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert!(body["objectId"].is_string() && body["createdAt"].is_string(), "{body}");
    }
    let (status, body) = app.leancloud(Method::POST, "/1.1/installations", Some(json!({"deviceType": "bb10"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    for (peer, token) in [("bob", "bob-fcm"), ("carol", "gone-carol")] {
        let mut socket = connect(&app, "lc.protobuf2.3").await;
        let session = SessionCommand {
            device_token: Some(token.into()),
            device_id: Some(format!("{peer}-device")),
            ..Default::default()
        };
        send(&mut socket, &open(peer, 1, session)).await;
        next(&mut socket).await.expect("opened");
        socket.close(None).await.unwrap();
    }
    let (_, listed) = app.get("/users/bob/push/binding").await;
    assert_eq!(
        listed["entities"],
        json!([{"device_id": "bob-device", "device_token": "bob-fcm", "notifier_name": "fcm"}])
    );

    let conv = crate::leancloud_protocol::conversation(&app, &["alice", "bob", "carol"]).await;
    let (status, _) = app
        .leancloud(
            Method::POST,
            &format!("/1.2/rtm/conversations/{conv}/mutes"),
            Some(json!({"client_ids": ["carol"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let path = format!("/1.2/rtm/conversations/{conv}/messages");
    let message = json!({
        "from_client": "alice",
        "message": "team lunch?",
        "push_data": {"alert": {"title": "Lunch", "body": "team lunch?"}, "deep_link": "app://conv"},
    });
    let (status, body) = app.leancloud(Method::POST, &path, Some(message)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    within(10, || providers.fcm("bob-fcm").len() == 1).await;
    let push = &providers.fcm("bob-fcm")[0];
    assert_eq!(push.version, Version::HTTP_2);
    assert_eq!(push.path, "/v1/projects/demo-project/messages:send");
    let sent = &push.body["message"];
    assert_eq!(sent["notification"], json!({"title": "Lunch", "body": "team lunch?"}));
    assert_eq!((sent["data"]["deep_link"].as_str(), sent["data"]["f"].as_str()), (Some("app://conv"), Some("alice")));
    assert_eq!(sent["data"]["g"], conv.as_str());
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(providers.fcm("gone-carol").is_empty(), "carol muted the conversation");

    // A mention reaches carol anyway; her token is no longer registered.
    let mention = json!({"from_client": "alice", "message": "@carol?", "mention_client_ids": ["carol"]});
    app.leancloud(Method::POST, &path, Some(mention)).await;
    within(10, || providers.fcm("gone-carol").len() == 1 && providers.fcm("bob-fcm").len() == 2).await;
    assert_eq!(providers.fcm("gone-carol")[0].status, 404);
    let (_, listed) = app.get("/users/carol/push/binding").await;
    assert_eq!(listed["entities"], json!([]), "UNREGISTERED drops the token");
    let token_fetches = providers.received().iter().filter(|p| p.path == "/token").count();
    assert_eq!(token_fetches, 1, "one access token serves every send");
}

/// The queue is in storage: a push the provider could not take before the
/// server stopped is sent after it starts again, once.
#[tokio::test]
async fn a_queued_push_survives_a_restart() {
    let providers = Providers::start().await;
    let app = with_push(&providers, Storage::fresh().await, |_| {}).await;
    app.register(&["alice", "bob"]).await;
    bind(&app, "bob", "bob-phone", "flaky-phone", "apns").await;
    let id = app.send_text("alice", "bob", "hold on").await;
    within(10, || providers.apns("flaky-phone").len() == 1).await;
    let storage = app.stop().await;
    let app = with_push(&providers, storage, |_| {}).await;
    within(15, || providers.apns("flaky-phone").len() == 2).await;
    let pushes = providers.apns("flaky-phone");
    assert_eq!((pushes[0].status, pushes[1].status), (503, 200));
    assert_eq!(pushes[1].body["m"], id.as_str());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(providers.apns("flaky-phone").len(), 2);
    drop(app);
}

/// A webhook takes pushes for vendors confab does not speak, signed; `confab
/// app push` shows the settings without keys and refuses bad ones.
#[tokio::test]
async fn the_webhook_provider_and_the_cli() {
    let hook = crate::callbacks::AppServer::start(|_| (200, String::new())).await;
    let app = spawn_app_with(Storage::fresh().await, |config| {
        config.fetch_allow_private = FetchPolicy::parse("127.0.0.1").unwrap();
    })
    .await;
    app.register(&["alice", "bob"]).await;
    let cli = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_confab"));
        command.arg("app").arg("push").args(args).env("CONFAB_DATA_DIR", app.storage.data_dir.path());
        if let Some(url) = &app.storage.database_url {
            command.env("CONFAB_DATABASE_URL", url);
        }
        command.output().unwrap()
    };
    let url = format!("{}/push", hook.url);
    let out = cli(&[
        "--webhook-url",
        &url,
        "--webhook-secret",
        "hook-secret",
        "--webhook-notifier",
        "huawei",
        "--ack-wait-ms",
        "300",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(shown.contains(r#""notifier": "huawei""#) && shown.contains(r#""signed": true"#), "{shown}");
    assert!(!shown.contains("hook-secret"), "{shown}");
    for bad in [
        &["--apns-key-id", "K"][..],
        &["--ack-wait-ms", "0"],
        &["--webhook-url", "ftp://x"],
        &["--apns-key-file", "/nonexistent.p8"],
    ] {
        assert!(!cli(bad).status.success(), "{bad:?}");
    }
    bind(&app, "bob", "bob-huawei", "hw-token", "huawei").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let id = app.send_text("alice", "bob", "via a webhook").await;
    within(10, || !hook.calls().is_empty()).await;
    let call = hook.calls().remove(0);
    assert_eq!(call.path, "/push");
    assert_eq!((call.body["user"].as_str(), call.body["device_token"].as_str()), (Some("bob"), Some("hw-token")));
    assert_eq!(
        (call.body["body"].as_str(), call.body["data"]["m"].as_str()),
        (Some("您有一条新消息"), Some(id.as_str()))
    );
    let signature = call.headers["x-confab-signature"].to_str().unwrap();
    let t: i64 = signature.split(',').next().unwrap().trim_start_matches("t=").parse().unwrap();
    assert_eq!(signature, confab_server::callbacks::signature("hook-secret", t, &call.raw));
    assert!(cli(&["--clear"]).status.success());
}

/// LeanCloud's `_receiversOffline` hook, for an app whose callbacks speak
/// LeanCloud's hooks: it hears who is about to be pushed to, and may narrow
/// that (`offlinePeers`), set the words (`pushMessage`) and reach a member
/// who muted the conversation (`force`).
#[tokio::test]
async fn the_receivers_offline_hook_narrows_words_and_forces_pushes() {
    let hook = crate::callbacks::AppServer::start(|body| match body.get("offlinePeers") {
        Some(_) => (
            200,
            json!({"result": {"offlinePeers": ["bob"], "pushMessage": "{\"alert\": \"hooked\"}", "force": true}})
                .to_string(),
        ),
        None => (200, json!({"result": {}}).to_string()),
    })
    .await;
    let providers = Providers::start().await;
    let url = hook.url.clone();
    let app = with_push(&providers, Storage::fresh().await, move |config| {
        config.callbacks.pre_send_url = Some(url);
        config.callbacks.format = Some("leancloud".into());
        config.callbacks.secret = Some(confab_server::config::Secret("hook-key".into()));
    })
    .await;
    app.register(&["alice", "bob", "carol"]).await;
    bind(&app, "bob", "bob-phone", "bob-token", "apns").await;
    bind(&app, "carol", "carol-phone", "carol-token", "apns").await;
    let conv = crate::leancloud_protocol::conversation(&app, &["alice", "bob", "carol"]).await;
    let (status, _) = app
        .leancloud(Method::POST, &format!("/1.2/rtm/conversations/{conv}/mutes"), Some(json!({"client_ids": ["bob"]})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let path = format!("/1.2/rtm/conversations/{conv}/messages");
    let (status, body) =
        app.leancloud(Method::POST, &path, Some(json!({"from_client": "alice", "message": "psst"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    within(10, || providers.apns("bob-token").len() == 1).await;
    assert_eq!(providers.apns("bob-token")[0].body["aps"]["alert"], json!({"body": "hooked"}));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(providers.apns("carol-token").is_empty(), "left out by the hook");
    let call = hook.calls().into_iter().find(|c| c.path.ends_with("/_receiversOffline")).expect("the hook was asked");
    assert_eq!(call.path, "/1.1/functions/_receiversOffline");
    assert_eq!(call.headers["x-lc-hook-key"], "hook-key");
    let mut peers: Vec<&str> =
        call.body["offlinePeers"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    peers.sort();
    assert_eq!(peers, ["bob", "carol"]);
    assert_eq!(
        (call.body["fromPeer"].as_str(), call.body["convId"].as_str(), call.body["content"].as_str()),
        (Some("alice"), Some(conv.as_str()), Some("psst"))
    );
}

/// A LeanCloud app-wide broadcast reaches every user with a device, with
/// the words of its `push`; a transient one (never stored) pushes nothing.
#[tokio::test]
async fn an_app_wide_broadcast_is_pushed_with_its_push_words() {
    let providers = Providers::start().await;
    let app = with_push(&providers, Storage::fresh().await, |_| {}).await;
    app.register(&["alice", "bob", "carol"]).await;
    bind(&app, "bob", "bob-phone", "bob-token", "apns").await;
    bind(&app, "carol", "carol-phone", "carol-token", "apns").await;
    let (status, created) =
        app.leancloud(Method::POST, "/1.2/rtm/service-conversations", Some(json!({"name": "News"}))).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let conv = created["objectId"].as_str().unwrap();
    let live =
        json!({"from_client": "alice", "conv_id": conv, "message": "now", "transient": true, "push": {"alert": "no"}});
    let (status, body) = app.leancloud(Method::POST, "/1.2/rtm/broadcasts", Some(live)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = json!({"from_client": "alice", "conv_id": conv, "message": "news", "push": {"alert": "Big news"}});
    let (status, body) = app.leancloud(Method::POST, "/1.2/rtm/broadcasts", Some(stored)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    within(10, || providers.apns("bob-token").len() == 1 && providers.apns("carol-token").len() == 1).await;
    for token in ["bob-token", "carol-token"] {
        assert_eq!(providers.apns(token)[0].body["aps"]["alert"], json!({"body": "Big news"}));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(providers.apns("bob-token").len(), 1, "the transient one is not pushed");
    let bad = json!({"from_client": "alice", "conv_id": conv, "message": "x", "push": 5});
    let (status, body) = app.leancloud(Method::POST, "/1.2/rtm/broadcasts", Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// confab's own JSON protocol binds the connected device's token
/// (`push_token`); once the device is gone, a message is pushed to it.
#[tokio::test]
async fn the_json_protocol_binds_its_devices_token() {
    let providers = Providers::start().await;
    let app = with_push(&providers, Storage::fresh().await, |_| {}).await;
    app.register(&["alice", "bob"]).await;
    let bob = app.connect("bob").await;
    bob.bind_push_token("json-token", "apns").await.unwrap();
    let refused = bob.bind_push_token(&"x".repeat(5000), "apns").await;
    assert!(refused.unwrap_err().to_string().contains("bad_frame"));
    let (_, listed) = app.get("/users/bob/push/binding").await;
    let entities = listed["entities"].as_array().unwrap();
    assert_eq!(entities.len(), 1, "{listed}");
    assert_eq!(
        (entities[0]["device_token"].as_str(), entities[0]["notifier_name"].as_str()),
        (Some("json-token"), Some("apns"))
    );
    bob.close().await;
    let id = app.send_text("alice", "bob", "while you were away").await;
    within(10, || providers.apns("json-token").len() == 1).await;
    assert_eq!(providers.apns("json-token")[0].body["m"], id.as_str());
}
