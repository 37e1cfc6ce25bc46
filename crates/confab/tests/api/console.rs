//! The operators' web console: its sign-in, sessions and CSRF rule over
//! HTTP, its calls acting through the same services as the dialects, the
//! audit log, and the page itself in headless Chromium (`tests/console`).

use std::path::{Path, PathBuf};

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use confab_client::Event;
use confab_server::config::Secret;

use crate::helpers::{next, spawn_app_with, Storage, TestApp};
use crate::node_sdk::Step;

const OPERATOR_PASSWORD: &str = "operator password 1";

async fn spawn_console() -> TestApp {
    spawn_app_with(Storage::fresh().await, |config| {
        config.console_password = Some(Secret(OPERATOR_PASSWORD.into()));
    })
    .await
}

/// A URL on the server (`TestApp::url` is under the Easemob app's prefix).
fn root(app: &TestApp, path: &str) -> String {
    format!("http://{}{path}", app.addr)
}

/// A browser's side of the console API: the session cookie and CSRF token.
struct Operator<'a> {
    app: &'a TestApp,
    cookie: String,
    csrf: String,
}

async fn sign_in<'a>(app: &'a TestApp, name: &str, password: &str) -> Result<Operator<'a>, (StatusCode, Value)> {
    let response = app
        .http
        .post(root(app, "/console/api/login"))
        .json(&json!({"name": name, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned())
        .unwrap_or_default();
    let body: Value = response.json().await.unwrap();
    if status != StatusCode::OK {
        return Err((status, body));
    }
    Ok(Operator { app, cookie, csrf: body["csrf"].as_str().unwrap().to_owned() })
}

impl Operator<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_with(method, path, body, Some(&self.csrf)).await
    }

    async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        csrf: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self.app.http.request(method, root(self.app, &format!("/console/api{path}")));
        request = request.header(COOKIE, &self.cookie);
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }
}

#[tokio::test]
async fn signing_in_takes_the_operators_password() {
    let app = spawn_console().await;
    let (status, body) = sign_in(&app, "admin", "wrong password!").await.err().unwrap();
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("wrong name or password")));
    let (status, _) = sign_in(&app, "nobody", OPERATOR_PASSWORD).await.err().unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // No app credential opens the console.
    let (status, _) = sign_in(&app, "admin", crate::helpers::CLIENT_SECRET).await.err().unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let operator = sign_in(&app, "admin", OPERATOR_PASSWORD).await.unwrap();
    assert!(operator.cookie.starts_with("confab_console=admin."), "{}", operator.cookie);
    let (status, session) = operator.get("/session").await;
    assert_eq!((status, session["operator"].as_str()), (StatusCode::OK, Some("admin")));
    assert_eq!(session["csrf"].as_str(), Some(operator.csrf.as_str()));

    // Without a session: 401 in the console's shape, for every call.
    for path in ["/session", "/apps", "/live", "/audit", "/apps/demo/chat/users?prefix=a"] {
        let response = app.http.get(root(&app, &format!("/console/api{path}"))).send().await.unwrap();
        let (status, body): (StatusCode, Value) = (response.status(), response.json().await.unwrap());
        assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("sign in first")), "{path}");
    }
    // A forged or tampered cookie is no session.
    let forged = Operator { app: &app, cookie: format!("{}0", operator.cookie), csrf: operator.csrf.clone() };
    assert_eq!(forged.get("/apps").await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_address() {
    let app = spawn_app_with(Storage::fresh().await, |config| {
        config.console_password = Some(Secret(OPERATOR_PASSWORD.into()));
        config.edge.auth_failures_per_minute = 3;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(sign_in(&app, "admin", "wrong password!").await.err().unwrap().0, StatusCode::UNAUTHORIZED);
    }
    let _ = sign_in(&app, "admin", "wrong password!").await;
    // Even the right password waits: the address is refused before any check.
    let (status, body) = sign_in(&app, "admin", OPERATOR_PASSWORD).await.err().unwrap();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
}

#[tokio::test]
async fn changes_need_the_sessions_csrf_token() {
    let app = spawn_console().await;
    app.register(&["ann"]).await;
    let operator = sign_in(&app, "admin", OPERATOR_PASSWORD).await.unwrap();
    for csrf in [None, Some("0000"), Some("")] {
        let (status, body) =
            operator.call_with(Method::POST, "/apps/demo/chat/users/ann/deactivate", Some(json!({})), csrf).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("missing or wrong X-CSRF-Token")));
    }
    // Nothing changed.
    let (_, user) = app.get("/users/ann").await;
    assert_eq!(user["entities"][0]["activated"], json!(true));
    // Another session's token is not this one's.
    let other = sign_in(&app, "admin", OPERATOR_PASSWORD).await.unwrap();
    let (status, _) = operator
        .call_with(Method::POST, "/apps/demo/chat/users/ann/deactivate", Some(json!({})), Some(&other.csrf))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn sessions_end_on_sign_out_on_expiry_and_on_a_new_password() {
    let app = spawn_console().await;
    let operator = sign_in(&app, "admin", OPERATOR_PASSWORD).await.unwrap();
    let (status, _) = operator.post("/logout", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(operator.get("/apps").await.0, StatusCode::UNAUTHORIZED);

    let operator = sign_in(&app, "admin", OPERATOR_PASSWORD).await.unwrap();
    app.clock.advance_ms(8 * 3600 * 1000 - 60_000);
    assert_eq!(operator.get("/apps").await.0, StatusCode::OK);
    app.clock.advance_ms(61_000);
    assert_eq!(operator.get("/apps").await.0, StatusCode::UNAUTHORIZED, "sessions last 8 hours");

    let operator = sign_in(&app, "admin", OPERATOR_PASSWORD).await.unwrap();
    app.core.operators.set_password("admin", "a brand new password".into()).await.unwrap();
    assert_eq!(operator.get("/apps").await.0, StatusCode::UNAUTHORIZED);
    assert!(sign_in(&app, "admin", OPERATOR_PASSWORD).await.is_err());
    assert!(sign_in(&app, "admin", "a brand new password").await.is_ok());
}

#[tokio::test]
async fn the_first_start_makes_an_operator_once() {
    // Without CONFAB_CONSOLE_PASSWORD: a made-up password, shown once.
    let storage = Storage::fresh().await;
    let app = spawn_app_with(storage.clone(), |_| {}).await;
    let password = app.first_console_password.clone();
    let storage = app.stop().await;
    let again = spawn_app_with(storage, |_| {}).await;
    assert_eq!(again.first_console_password, None, "a second start makes none");
    let password = password.expect("the first start made one");
    assert!(sign_in(&again, "admin", &password).await.is_ok());
}

#[tokio::test]
async fn operators_act_through_the_core_and_every_change_is_audited() {
    let app = spawn_console().await;
    app.register(&["ann", "anna", "bob"]).await;
    // Easemob folds case; the core keeps it (as LeanCloud and WildfireChat do).
    let demo = app.core.apps.by_name("demo", "chat").await.unwrap().unwrap();
    let capital = confab_core::users::NewUser {
        username: confab_core::model::Username::parse("Ann").unwrap(),
        password: "secret-1".into(),
        nickname: None,
        attributes: Default::default(),
    };
    app.core.users.register(demo.id, vec![capital]).await.unwrap().pop().unwrap().unwrap();
    let operator = sign_in(&app, "admin", OPERATOR_PASSWORD).await.unwrap();

    // Search by prefix is byte for byte: "an" is not "An".
    let (_, found) = operator.get("/apps/demo/chat/users?prefix=an").await;
    let names: Vec<&str> = found["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["ann", "anna"]);
    let (status, body) = operator.get("/apps/nope/none/users?prefix=a").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::NOT_FOUND, Some("no app nope/none")));

    // Online devices, then a kick closes them.
    let mut ann = app.connect("ann").await;
    crate::helpers::backlog(&mut ann).await;
    let (_, user) = operator.get("/apps/demo/chat/users/ann").await;
    assert_eq!((user["online"].as_bool(), user["devices"].as_array().map(Vec::len)), (Some(true), Some(1)));
    let (status, _) = operator.post("/apps/demo/chat/users/ann/kick", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(matches!(next(&mut ann).await, Event::Kicked { .. }));

    // Deactivate: the Easemob dialect sees the same user.
    let (status, user) = operator.post("/apps/demo/chat/users/bob/deactivate", json!({})).await;
    assert_eq!((status, user["activated"].as_bool()), (StatusCode::OK, Some(false)));
    let (_, easemob) = app.get("/users/bob").await;
    assert_eq!(easemob["entities"][0]["activated"], json!(false));
    operator.post("/apps/demo/chat/users/bob/activate", json!({})).await;

    // A password reset: the old password stops working for the user.
    let (status, body) = operator.post("/apps/demo/chat/users/anna/password", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = operator.post("/apps/demo/chat/users/anna/password", json!({"password": "new-pass-9"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) =
        app.post("/token", json!({"grant_type": "password", "username": "anna", "password": "new-pass-9"})).await;
    assert_eq!(status, StatusCode::OK);

    // Attributes, as the Easemob metadata API sees them.
    let (status, _) = operator
        .call(Method::PUT, "/apps/demo/chat/users/anna/attributes", Some(json!({"nickname": "Anna", "city": "Oslo"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, metadata) = app.get("/metadata/user/anna").await;
    assert_eq!(metadata["data"], json!({"nickname": "Anna", "city": "Oslo"}));

    // Unknown things get the console's own errors, never a 500.
    for (path, want) in [
        ("/apps/demo/chat/users/nobody/kick", StatusCode::NOT_FOUND),
        ("/apps/demo/chat/users/ann/explode", StatusCode::NOT_FOUND),
        ("/apps/demo/chat/messages/notanid/recall", StatusCode::BAD_REQUEST),
        ("/apps/demo/chat/messages/12345/recall", StatusCode::NOT_FOUND),
    ] {
        let (status, body) = operator.post(path, json!({})).await;
        assert_eq!(status, want, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    // Bodies are capped (16 KiB) and must be JSON, answered in the console's shape.
    let big = json!({"password": "x".repeat(20_000)});
    let (status, body) = operator.post("/apps/demo/chat/users/anna/password", big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let response = operator
        .app
        .http
        .post(root(operator.app, "/console/api/apps"))
        .header(COOKIE, &operator.cookie)
        .header("x-csrf-token", &operator.csrf)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (status, body) = operator.get("/no/such/call").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::NOT_FOUND, Some("no such console call")));

    let (_, log) = operator.get("/audit").await;
    let actions: Vec<(&str, &str)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        actions,
        [
            ("user.attributes", "anna"),
            ("user.password", "anna"),
            ("user.activate", "bob"),
            ("user.deactivate", "bob"),
            ("user.kick", "ann"),
            ("console.login", ""),
        ]
    );
    assert!(log["entries"].as_array().unwrap().iter().all(|e| e["operator"] == "admin"));
}

#[tokio::test]
async fn apps_are_created_with_keys_shown_once_and_limits_set() {
    let app = spawn_console().await;
    let operator = sign_in(&app, "admin", OPERATOR_PASSWORD).await.unwrap();
    let (status, created) = operator.post("/apps", json!({"org": "acme", "name": "shop"})).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let credentials = &created["credentials"];
    for key in ["client_id", "client_secret", "wildfire.secret", "leancloud.app_id", "leancloud.master_key"] {
        assert!(credentials[key].as_str().is_some_and(|v| v.len() >= 16), "{key}: {credentials}");
    }
    // The new app works: its Easemob credentials get a token.
    let (status, _) = crate::helpers::call_url(
        &app.http,
        Method::POST,
        &root(&app, "/acme/shop/token"),
        None,
        Some(json!({"grant_type": "client_credentials", "client_id": credentials["client_id"], "client_secret": credentials["client_secret"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Listed without secrets.
    let (_, list) = operator.get("/apps").await;
    let text = list.to_string();
    assert!(text.contains("acme") && !text.contains(credentials["client_secret"].as_str().unwrap()));
    // Twice is refused.
    let (status, _) = operator.post("/apps", json!({"org": "acme", "name": "shop"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = operator.post("/apps", json!({"org": "bad org", "name": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Retention is one of the app's limits.
    let (status, updated) = operator
        .call(Method::PUT, "/apps/acme/shop/limits/easemob.history_retention_hours", Some(json!({"value": 24})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["limits"]["easemob.history_retention_hours"], json!({"value": 24, "own": true}));
    let (status, _) = operator.call(Method::PUT, "/apps/acme/shop/limits/no.such", Some(json!({"value": 1}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn history_groups_and_rooms_as_the_operator_sees_them() {
    let app = spawn_console().await;
    app.register(&["ann", "bob", "cy"]).await;
    let operator = sign_in(&app, "admin", OPERATOR_PASSWORD).await.unwrap();
    let first = app.send_text("ann", "bob", "one").await;
    let second = app.send_text("bob", "ann", "two").await;
    let (_, history) = operator.get("/apps/demo/chat/history?kind=chat&user=bob&peer=ann").await;
    let seen: Vec<(&str, &str)> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].as_str().unwrap(), m["body"]["msg"].as_str().unwrap()))
        .collect();
    assert_eq!(seen, [(second.as_str(), "two"), (first.as_str(), "one")]);
    let (_, sent) = operator.get("/apps/demo/chat/users/ann/messages").await;
    assert_eq!(sent["messages"][0]["id"], json!(first));

    // Recall: the receiver's device is told, and the history says so.
    let mut bob = app.connect("bob").await;
    crate::helpers::backlog(&mut bob).await;
    let (status, recalled) = operator.post(&format!("/apps/demo/chat/messages/{first}/recall"), json!({})).await;
    assert_eq!((status, recalled["state"].as_str()), (StatusCode::OK, Some("recalled")));
    assert!(matches!(next(&mut bob).await, Event::Update { .. }));
    let (status, deleted) = operator.post(&format!("/apps/demo/chat/messages/{second}/delete"), json!({})).await;
    assert_eq!((status, deleted["state"].as_str()), (StatusCode::OK, Some("deleted")));

    // A group's members with roles, and a room with who is in it now.
    let group = crate::groups::create_group(&app, "ann", &["bob"], json!({})).await;
    let (_, detail) = operator.get(&format!("/apps/demo/chat/groups/group/{group}")).await;
    let members: Vec<(&str, &str, bool)> = detail["members_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["username"].as_str().unwrap(), m["role"].as_str().unwrap(), m["online"].as_bool().unwrap()))
        .collect();
    assert!(members.contains(&("ann", "owner", false)) && members.contains(&("bob", "member", true)), "{members:?}");
    let (status, room) =
        app.post("/chatrooms", json!({"name": "r", "description": "d", "owner": "cy", "members": ["bob"]})).await;
    assert_eq!(status, StatusCode::OK, "{room}");
    let room = room["data"]["id"].as_str().unwrap().to_owned();
    let (_, rooms) = operator.get("/apps/demo/chat/groups?kind=room").await;
    assert_eq!(rooms["groups"][0]["id"], json!(room));
    let (_, detail) = operator.get(&format!("/apps/demo/chat/groups/room/{room}")).await;
    assert_eq!(detail["owner"], json!("cy"));
    let (status, _) = operator.get("/apps/demo/chat/groups/room/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = operator.get("/apps/demo/chat/history?kind=chat&user=bob").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_page_is_served_from_the_binary_with_a_strict_policy() {
    let app = spawn_console().await;
    let response = app.http.get(root(&app, "/console/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let policy = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("default-src 'none'") && policy.contains("script-src 'self'"), "{policy}");
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    let page = response.text().await.unwrap();
    // Nothing comes from anywhere but this server.
    assert!(!page.contains("http://") && !page.contains("https://"), "{page}");
    for asset in ["/console/assets/console.js", "/console/assets/console.css"] {
        let response = app.http.get(root(&app, asset)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        let text = response.text().await.unwrap();
        assert!(!text.contains("https://") && !text.contains("innerHTML"), "{asset}");
    }
    let response = app.http.get(root(&app, "/console/assets/..%2Fsecret")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = app.http.get(root(&app, "/console")).send().await.unwrap();
    assert_eq!(response.url().path(), "/console/");
}

fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/console")
}

/// The end-to-end run in headless Chromium: sign in, find a user, see a
/// message sent through the REST API, recall it, kick the user and see them
/// go offline, watch the live chart move, read the audit log.
#[tokio::test]
async fn the_console_in_a_real_browser() {
    crate::node_sdk::ensure_installed_in(&console_dir(), "node_modules/playwright-core/package.json");
    let app = spawn_console().await;
    app.register(&["ann", "anna", "bob"]).await;
    let mut ann = app.connect("ann").await;
    crate::helpers::backlog(&mut ann).await;
    let server = format!("http://{}", app.addr);
    let mut run = Step::spawn_in(&console_dir(), "e2e.js", &[&server, OPERATOR_PASSWORD, &app.app_token]);
    let mut lines = Vec::new();
    loop {
        let line = run.next_within(std::time::Duration::from_secs(90)).await;
        assert!(line.get("failed").is_none(), "the browser run failed: {line}\nbefore: {lines:?}");
        let done = line.get("signedOut").is_some();
        lines.push(line);
        if done {
            break;
        }
    }
    run.finished().await;
    let [signed_in, found, seen, recalled, kicked, live, audit, api, signed_out] = &lines[..] else {
        panic!("{lines:?}")
    };
    assert_eq!(signed_in["refused"], json!("wrong name or password"));
    assert_eq!(signed_in["signedIn"], json!("admin"));
    assert_eq!(found, &json!({"found": ["ann", "anna"], "online": "online"}));
    assert_eq!(seen["seen"]["content"], json!("hello from REST"));
    assert_eq!(seen["seen"]["state"], json!("sent"));
    assert_eq!(recalled["asked"], json!("Confirm recall?"));
    assert_eq!(kicked["kicked"]["before"]["online"], json!("online"));
    assert_eq!(kicked["kicked"]["after"], json!("offline"));
    assert!(live["live"]["sends"].as_f64().unwrap() > 0.0, "{live}");
    assert!(live["live"]["points"].as_u64().unwrap() >= 1, "{live}");
    let actions: Vec<&str> = audit["audit"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(actions, ["user.kick", "message.recall", "console.login"], "{audit}");
    assert!(api["api"]["operations"].as_u64().unwrap() >= 70, "{api}");
    assert!(api["api"]["summary"].as_str().is_some_and(|s| !s.is_empty()), "{api}");
    assert_eq!(signed_out["problems"], json!([]), "errors in the page");

    // The kick reached the user's real session, which the console showed go
    // (the recall came first).
    assert!(matches!(next(&mut ann).await, Event::Message(_)));
    assert!(matches!(next(&mut ann).await, Event::Update { .. }));
    assert!(matches!(next(&mut ann).await, Event::Kicked { .. }));
    // And the message is recalled in storage.
    let demo = app.core.apps.by_name("demo", "chat").await.unwrap().unwrap();
    let id = confab_core::ids::MessageId::parse(seen["seen"]["id"].as_str().unwrap()).unwrap();
    let stored = app.core.messages.get(demo.id, id).await.unwrap().unwrap();
    assert!(matches!(stored.state, confab_core::model::MessageState::Recalled { .. }));
}
