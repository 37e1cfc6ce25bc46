//! The edge (issue 13, sections 2 and 3): unknown paths in each dialect's
//! own shape, authentication before any app budget is spent, failures
//! throttled per address, gateway send limits, file headers, and WildfireChat
//! user IDs of the wrong type.

use std::net::{IpAddr, SocketAddr};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use confab_client::ConnectOptions;
use confab_server::limits::{
    EASEMOB_REQUESTS_PER_SECOND, GATEWAY_APP_MESSAGES_PER_SECOND, GATEWAY_USER_MESSAGES_PER_SECOND,
};

use crate::helpers::{
    assert_error, call_url, next_nonce, spawn_app, spawn_app_with, Storage, LC_APP_ID, LC_MASTER_KEY, WILDFIRE_SECRET,
};

/// An HTTP client whose connections come from `source` (another loopback
/// address), so a test can be two clients at once.
pub fn client_from(source: &str) -> reqwest::Client {
    let source: IpAddr = source.parse().unwrap();
    reqwest::Client::builder().local_address(source).build().unwrap()
}

/// A WildfireChat admin call with `method`, signed with the test secret;
/// returns the status and the body as text.
pub async fn wildfire_raw(
    http: &reqwest::Client,
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: &Value,
    secret: &str,
) -> (StatusCode, String) {
    use sha1::Digest;
    let nonce = next_nonce();
    let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis().to_string();
    let digest = sha1::Sha1::digest(format!("{nonce}|{secret}|{timestamp}").as_bytes());
    let sign: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let response = http
        .request(method, format!("http://{addr}{path}"))
        .header("nonce", nonce)
        .header("timestamp", timestamp)
        .header("sign", sign)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

async fn raw(http: &reqwest::Client, method: Method, url: &str) -> (StatusCode, String) {
    let response = http.request(method, url).send().await.unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

fn lc_master() -> String {
    format!("{LC_MASTER_KEY},master")
}

#[tokio::test]
async fn unknown_paths_are_404_in_each_dialects_own_shape() {
    let app = spawn_app().await;
    // Easemob: the legacy send path is not served and must not look like success.
    let (status, body) = app
        .post("/messages", json!({"target_type": "users", "target": ["bob"], "msg": {"type": "txt", "msg": "hi"}}))
        .await;
    assert_error(status, &body, 404, "service_resource_not_found");
    assert!(body["duration"].is_number(), "{body}");
    let (status, body) = app.get("/no/such/thing").await;
    assert_error(status, &body, 404, "service_resource_not_found");
    // A known path with a method it does not take.
    let (status, body) = app.call(Method::DELETE, "/token", Some(&app.app_token), None).await;
    assert_error(status, &body, 405, "unsupported_service_operation");
    let (status, body) = app.call(Method::PATCH, "/users", Some(&app.app_token), None).await;
    assert_error(status, &body, 405, "unsupported_service_operation");

    // LeanCloud: {code, error}.
    let (status, body) = app.leancloud(Method::GET, "/1.2/rtm/no-such-thing", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], 404, "{body}");
    assert!(body["error"].is_string(), "{body}");
    let (status, body) = app.leancloud(Method::GET, "/1.1/anything/else", None).await;
    assert_eq!((status, body["code"].clone()), (StatusCode::NOT_FOUND, json!(404)), "{body}");
    let (status, body) = app.leancloud(Method::PUT, "/1.2/rtm/stats", Some(json!({}))).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(body["code"], 405, "{body}");

    // WildfireChat: {code, msg} with its "not implement", and a failing status.
    for (method, path, want) in [
        (Method::POST, "/admin/no/such/action", StatusCode::NOT_FOUND),
        (Method::POST, "/admin/x/users", StatusCode::NOT_FOUND),
        (Method::GET, "/admin/message/send", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let (status, text) = wildfire_raw(&app.http, app.addr, method, path, &json!({}), WILDFIRE_SECRET).await;
        assert_eq!(status, want, "{path}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["code"], 254, "{path}: {body}");
        assert!(body["msg"].as_str().unwrap().starts_with("not implement"), "{body}");
    }

    // Outside every prefix: a plain 404.
    for path in ["/nothing", "/a", "/favicon.ico"] {
        let (status, text) = raw(&app.http, Method::GET, &format!("http://{}{path}", app.addr)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!text.contains("\"code\""), "{path}: {text}");
    }
    // What is served still is.
    let (status, text) = raw(&app.http, Method::GET, &format!("http://{}/health", app.addr)).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "ok"));
    let (status, body) = app.get("/users").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn bad_tokens_do_not_spend_the_apps_budget() {
    let app = spawn_app_with(Storage::fresh().await, |config| {
        config.rate_limits.insert(EASEMOB_REQUESTS_PER_SECOND.into(), 20);
        config.edge.auth_failures_per_minute = 0;
    })
    .await;
    let stranger = client_from("127.0.0.2");
    for _ in 0..200 {
        let (status, _) = call_url(&stranger, Method::GET, &app.url("/users"), Some("garbage"), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Wrong client secrets on the token endpoint cost the app nothing either.
    for _ in 0..30 {
        let body = json!({"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"});
        let (status, _) = call_url(&stranger, Method::POST, &app.url("/token"), None, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let (status, body) = app.get("/users").await;
    assert_eq!(status, StatusCode::OK, "the app's own call after a stranger's burst: {body}");
    // The budget still holds for authenticated calls.
    let mut refused = 0;
    for _ in 0..40 {
        let (status, body) = app.get("/users").await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(body["error"], "reach_limit", "{body}");
            refused += 1;
        }
    }
    assert!(refused > 0, "40 calls at once against 20 a second");
    app.stop().await;
}

#[tokio::test]
async fn a_burst_of_failures_from_one_address_is_throttled_in_each_dialect() {
    let app = spawn_app_with(Storage::fresh().await, |config| config.edge.auth_failures_per_minute = 10).await;
    // Easemob: ten 401s, then the vendor's 429 even for a valid token from there.
    let stranger = client_from("127.0.0.2");
    let mut statuses = Vec::new();
    for _ in 0..13 {
        statuses.push(call_url(&stranger, Method::GET, &app.url("/users"), Some("garbage"), None).await);
    }
    // Ten failures are allowed; the eleventh blocks the address.
    assert!(statuses[..11].iter().all(|(s, _)| *s == StatusCode::UNAUTHORIZED), "{statuses:?}");
    for (status, body) in &statuses[11..] {
        assert_error(*status, body, 429, "reach_limit");
    }
    let (status, body) = call_url(&stranger, Method::GET, &app.url("/users"), Some(&app.app_token), None).await;
    assert_error(status, &body, 429, "reach_limit");
    // Another address is not affected.
    let (status, body) = app.get("/users").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // LeanCloud: wrong keys, then 429 {code: 429}.
    let guesser = client_from("127.0.0.3");
    let mut last = (StatusCode::OK, Value::Null);
    for _ in 0..12 {
        let response = guesser
            .get(format!("http://{}/1.2/rtm/stats", app.addr))
            .header("X-LC-Id", LC_APP_ID)
            .header("X-LC-Key", "wrong,master")
            .send()
            .await
            .unwrap();
        last = (response.status(), response.json().await.unwrap());
    }
    assert_eq!(last.0, StatusCode::TOO_MANY_REQUESTS, "{}", last.1);
    assert_eq!(last.1, json!({"code": 429, "error": "Too many requests."}));
    let key = lc_master();
    let (status, body) =
        app.leancloud_with(Method::GET, "/1.2/rtm/stats", None, &[("X-LC-Id", LC_APP_ID), ("X-LC-Key", &key)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // WildfireChat: wrong signatures, then its "over frequency" (250).
    let forger = client_from("127.0.0.4");
    let mut codes = Vec::new();
    for _ in 0..12 {
        let (_, text) =
            wildfire_raw(&forger, app.addr, Method::POST, "/admin/user/get_info", &json!({"userId": "a"}), "nope")
                .await;
        codes.push(serde_json::from_str::<Value>(&text).unwrap()["code"].clone());
    }
    assert_eq!(codes[0], 244, "{codes:?}");
    assert_eq!(codes[10], 244, "{codes:?}");
    assert_eq!(codes[11], 250, "{codes:?}");
    let body = app.wildfire("/admin/user/get_info", json!({"userId": "nobody"})).await;
    assert_eq!(body["code"], 253, "the app's own signed call is served: {body}");
    app.stop().await;
}

#[tokio::test]
async fn gateway_sends_are_limited_per_user_and_per_app() {
    let app = spawn_app_with(Storage::fresh().await, |config| {
        config.rate_limits.insert(GATEWAY_USER_MESSAGES_PER_SECOND.into(), 5);
    })
    .await;
    app.register(&["alice", "bob", "carol"]).await;
    let alice = app.connect_with("alice", ConnectOptions::default()).await;
    // 50 sends at once: the first 5 (and what refills meanwhile) are stored.
    let started = std::time::Instant::now();
    let sends = (0..50).map(|i| alice.send("bob", json!({"type": "txt", "msg": format!("m{i}")}), None));
    let answers = futures_util::future::join_all(sends).await;
    let most = 5 + (5.0 * started.elapsed().as_secs_f64()).ceil() as usize;
    let sent = answers.iter().filter(|a| a.is_ok()).count();
    assert!((5..=most).contains(&sent), "a burst of 50 against 5 a second stored {sent}");
    for refused in answers.iter().filter_map(|a| a.as_ref().err()) {
        assert!(format!("{refused:#}").contains("rate_limited"), "{refused:#}");
    }
    // Only what was accepted was stored.
    let (status, body) = app.get("/users/bob/offline_msg_count").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["bob"], sent, "{body}");
    // Another user has a budget of their own.
    let carol = app.connect("carol").await;
    carol.send("bob", json!({"type": "txt", "msg": "hi"}), None).await.expect("carol's own budget");

    // The per-app limit, set for this app as `confab app limit` does.
    app.core.apps.set_rate_limit("demo", "chat", GATEWAY_USER_MESSAGES_PER_SECOND, Some(0)).await.unwrap();
    app.core.apps.set_rate_limit("demo", "chat", GATEWAY_APP_MESSAGES_PER_SECOND, Some(3)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let started = std::time::Instant::now();
    let sends = (0..20).map(|i| {
        let from = if i % 2 == 0 { &alice } else { &carol };
        from.send("bob", json!({"type": "txt", "msg": "x"}), None)
    });
    let answers = futures_util::future::join_all(sends).await;
    let most = 3 + (3.0 * started.elapsed().as_secs_f64()).ceil() as usize;
    let accepted = answers.iter().filter(|a| a.is_ok()).count();
    assert!((3..=most).contains(&accepted), "the app's 3 a second across two users: {accepted}");
    for refused in answers.iter().filter_map(|a| a.as_ref().err()) {
        assert!(format!("{refused:#}").contains("rate_limited"), "{refused:#}");
    }
    app.stop().await;
}

#[tokio::test]
async fn files_are_never_sniffed_and_active_ones_are_downloads() {
    use reqwest::multipart::{Form, Part};
    let app = spawn_app().await;
    let cases = [
        ("page.html", "text/html", true),
        ("draw.svg", "image/svg+xml", true),
        ("feed.xml", "application/xml", true),
        ("run.js", "text/javascript", true),
        ("photo.png", "image/png", false),
        ("notes.txt", "text/plain", false),
    ];
    for (name, content_type, attachment) in cases {
        let part = Part::bytes(b"<script>alert(1)</script>".to_vec()).file_name(name).mime_str(content_type).unwrap();
        let response = app
            .http
            .post(app.url("/chatfiles"))
            .bearer_auth(&app.app_token)
            .multipart(Form::new().part("file", part))
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        let uuid = body["entities"][0]["uuid"].as_str().expect("uploaded").to_owned();
        let response =
            app.http.get(app.url(&format!("/chatfiles/{uuid}"))).bearer_auth(&app.app_token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{name}");
        let disposition = headers.get("content-disposition").map(|v| v.to_str().unwrap().to_owned());
        if attachment {
            let disposition = disposition.unwrap_or_else(|| panic!("{name} must be an attachment"));
            assert!(disposition.starts_with("attachment"), "{name}: {disposition}");
            assert!(disposition.contains(name), "{name}: {disposition}");
        } else {
            assert_eq!(disposition, None, "{name}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_wildfire_user_id_of_the_wrong_type_is_refused_not_replaced() {
    let app = spawn_app().await;
    for user_id in [json!(123), json!(["alice"]), json!({"id": "alice"}), json!(true)] {
        let body = app.wildfire("/admin/user/create", json!({"name": "alice", "userId": user_id})).await;
        assert_eq!(body["code"], 251, "{user_id}: {body}");
        assert!(body["msg"].as_str().unwrap().contains("userId"), "{body}");
        let body = app.wildfire("/admin/user/get_token", json!({"userId": user_id, "clientId": "c1"})).await;
        assert_eq!(body["code"], 251, "{user_id}: {body}");
        // Nested, as in user/update's userInfo.
        let body = app
            .wildfire("/admin/user/update", json!({"userInfo": {"userId": user_id, "displayName": "A"}, "flag": 1}))
            .await;
        assert_eq!(body["code"], 251, "{user_id}: {body}");
    }
    // Nothing was created in its place.
    let body = app.wildfire("/admin/user/get_info", json!({"name": "alice"})).await;
    assert_eq!(body["code"], 253, "{body}");
    let (status, body) = app.get("/users/alice").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // A string is still taken as given.
    let body = app.wildfire("/admin/user/create", json!({"name": "alice", "userId": "alice"})).await;
    assert_eq!(body["code"], 0, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn gateway_sessions_are_capped() {
    let app = spawn_app_with(Storage::fresh().await, |config| config.edge.max_sessions = 2).await;
    app.register(&["alice", "bob", "carol"]).await;
    let alice = app.connect("alice").await;
    let bob = app.connect("bob").await;
    let token = app.user_token("carol").await;
    let url = app.endpoint().ws_url();
    let refused = confab_client::Connection::connect(&url, &token, ConnectOptions::default()).await;
    let Err(error) = refused else { panic!("a third session is refused") };
    assert!(format!("{error:#}").contains("503"), "{error:#}");
    // A closed session gives its place back.
    drop(alice);
    let mut carol = None;
    for _ in 0..50 {
        if let Ok(connection) = confab_client::Connection::connect(&url, &token, ConnectOptions::default()).await {
            carol = Some(connection);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(carol.is_some(), "carol connects once alice has left");
    drop(bob);
    app.stop().await;
}
