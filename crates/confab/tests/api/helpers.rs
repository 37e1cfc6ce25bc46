//! `spawn_app()` and request helpers shared by every test.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::watch;

use confab_client::{ConnectOptions, Connection, Endpoint, Event, MessageFrame};
use confab_core::clock::{Clock, ShiftedClock};
use confab_server::config::Config;
use confab_server::Application;

pub const CLIENT_ID: &str = "test-client-id";
pub const CLIENT_SECRET: &str = "test-client-secret";
pub const PASSWORD: &str = "secret-1";
pub const WILDFIRE_SECRET: &str = "test-wildfire-secret";
pub const LC_APP_ID: &str = "test-lc-app-id";
pub const LC_APP_KEY: &str = "test-lc-app-key";
pub const LC_MASTER_KEY: &str = "test-lc-master-key";

/// A running server and what tests need to talk to it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub app_token: String,
    pub clock: Arc<ShiftedClock>,
    pub core: Arc<confab_core::Core>,
    pub storage: Storage,
    /// The console password the server's first start made up, if it did.
    pub first_console_password: Option<String>,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

/// Where a test's data lives: a fresh data folder, and with
/// `CONFAB_TEST_DATABASE_URL` set, a fresh PostgreSQL schema as well.
#[derive(Clone)]
pub struct Storage {
    pub data_dir: Arc<tempfile::TempDir>,
    pub database_url: Option<String>,
}

impl Storage {
    pub async fn fresh() -> Storage {
        let data_dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let Some(base) = std::env::var("CONFAB_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
            return Storage { data_dir, database_url: None };
        };
        Storage { data_dir, database_url: Some(fresh_schema(&base).await) }
    }
}

/// Creates an empty schema in the database at `base` and returns a URL
/// whose connections use it.
pub async fn fresh_schema(base: &str) -> String {
    let schema = format!("t_{}", confab_core::auth::random_uuid().replace('-', ""));
    let (client, connection) = tokio_postgres::connect(base, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("test database {base} (see README: Tests): {e}"));
    tokio::spawn(connection);
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.expect("create schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-c%20search_path%3D{schema}")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_in(Storage::fresh().await).await
}

/// Starts a server on existing storage (to test restarts).
pub async fn spawn_app_in(storage: Storage) -> TestApp {
    spawn_app_with(storage, |_| {}).await
}

/// Starts a server with a configuration changed by `adjust`.
pub async fn spawn_app_with(storage: Storage, adjust: impl FnOnce(&mut Config)) -> TestApp {
    // As `confab`'s `main` does, before this process's first SQLite
    // connection (the first test to get here installs it for all).
    confab_sqlite::page_cache::install();
    let mut config = Config {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: PathBuf::from(storage.data_dir.path()),
        database_url: storage.database_url.clone(),
        ..Config::default()
    };
    // Tests make bursts of calls; the rate-limit tests set limits per app.
    for (name, value) in config.rate_limits.iter_mut() {
        if name.ends_with("_per_second") || name.ends_with("_per_minute") {
            *value = 0;
        }
    }
    config.first_app.client_id = Some(CLIENT_ID.into());
    config.first_app.client_secret = Some(CLIENT_SECRET.into());
    config.first_app.wildfire_secret = Some(WILDFIRE_SECRET.into());
    config.first_app.leancloud_app_id = Some(LC_APP_ID.into());
    config.first_app.leancloud_app_key = Some(LC_APP_KEY.into());
    config.first_app.leancloud_master_key = Some(LC_MASTER_KEY.into());
    adjust(&mut config);
    let clock = Arc::new(ShiftedClock::default());
    let app = Application::build_with_clock(config, clock.clone()).await.expect("server builds");
    let addr = app.local_addr();
    let core = app.core();
    let first_console_password = app.first_start().console_password.clone();
    let (stop, stopped) = watch::channel(false);
    let server = tokio::spawn(async move {
        app.run_until(stopped).await.expect("server runs");
    });
    let http = reqwest::Client::new();
    let mut test_app =
        TestApp { addr, http, app_token: String::new(), clock, core, storage, first_console_password, stop, server };
    test_app.app_token =
        test_app.endpoint().app_token(&test_app.http, CLIENT_ID, CLIENT_SECRET).await.expect("app token");
    test_app
}

impl TestApp {
    pub fn endpoint(&self) -> Endpoint {
        Endpoint { addr: self.addr.to_string(), org: "demo".into(), app: "chat".into() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/demo/chat{path}", self.addr)
    }

    /// Stops the server, waiting until it has let go of its connections.
    pub async fn stop(self) -> Storage {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.server).await;
        self.storage
    }

    /// Sends a request with a token (or none) and returns status and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        call_url(&self.http, method, &self.url(path), token, body).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(&self.app_token), None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(&self.app_token), Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(&self.app_token), Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(&self.app_token), None).await
    }

    /// A WildfireChat admin call signed with the test secret; returns the envelope.
    pub async fn wildfire(&self, path: &str, body: Value) -> Value {
        let now = self.clock.now_ms();
        self.wildfire_signed(path, &body, &next_nonce(), now, WILDFIRE_SECRET).await
    }

    /// A WildfireChat admin call with chosen signature parts.
    pub async fn wildfire_signed(&self, path: &str, body: &Value, nonce: &str, timestamp: i64, secret: &str) -> Value {
        wildfire_call(&self.http, self.addr, path, body, nonce, timestamp, secret).await
    }

    /// A LeanCloud call with the master key; returns status and body.
    pub async fn leancloud(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let key = format!("{LC_MASTER_KEY},master");
        self.leancloud_with(method, path, body, &[("X-LC-Id", LC_APP_ID), ("X-LC-Key", &key)]).await
    }

    /// A LeanCloud call with chosen headers.
    pub async fn leancloud_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("http://{}{path}", self.addr));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        json_answer(request).await
    }

    /// Registers users with the test password.
    pub async fn register(&self, names: &[&str]) {
        let users: Vec<Value> = names.iter().map(|n| json!({"username": n, "password": PASSWORD})).collect();
        for chunk in users.chunks(60) {
            let (status, body) = self.post("/users", Value::Array(chunk.to_vec())).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }

    pub async fn user_token(&self, name: &str) -> String {
        self.endpoint().user_token(&self.http, name, PASSWORD).await.expect("user token")
    }

    /// A user token by user ID alone (`grant_type: inherit`), creating the
    /// user without a password if missing: no password hashing, so tests can
    /// bring up thousands of users quickly.
    pub async fn token_by_id(&self, name: &str) -> String {
        let body = json!({"grant_type": "inherit", "username": name, "autoCreateUser": true});
        let (status, body) = self.post("/token", body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().expect("access token").to_owned()
    }

    /// Logs a user in over the gateway and waits until the backlog is done.
    pub async fn connect(&self, name: &str) -> Connection {
        self.connect_with(name, ConnectOptions::default()).await
    }

    pub async fn connect_with(&self, name: &str, options: ConnectOptions) -> Connection {
        let token = self.user_token(name).await;
        Connection::connect(&self.endpoint().ws_url(), &token, options).await.expect("gateway login")
    }

    /// Sends a text message over REST and returns its ID.
    pub async fn send_text(&self, from: &str, to: &str, text: &str) -> String {
        let (status, body) =
            self.post("/messages/users", json!({"from": from, "to": [to], "type": "txt", "body": {"msg": text}})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"][to].as_str().expect("message id").to_owned()
    }
}

/// A signed WildfireChat admin call to a server at `addr`; returns the envelope.
pub async fn wildfire_call(
    http: &reqwest::Client,
    addr: SocketAddr,
    path: &str,
    body: &Value,
    nonce: &str,
    timestamp: i64,
    secret: &str,
) -> Value {
    let response = wildfire_post(http, addr, path, body, (nonce, timestamp, secret), None).await;
    assert_eq!(response.status(), StatusCode::OK, "the vendor answers every call with HTTP 200");
    response.json().await.expect("JSON body")
}

/// A WildfireChat robot (`rid`) or channel (`cid`) API call to a server at
/// `addr`, signed with that robot's or channel's secret; the envelope (an
/// unknown path's is HTTP 404, the others 200).
pub async fn wildfire_service_call(
    http: &reqwest::Client,
    addr: SocketAddr,
    id_header: &str,
    id: &str,
    secret: &str,
    path: &str,
    body: &Value,
) -> Value {
    let now = confab_core::clock::Clock::now_ms(&confab_core::clock::SystemClock);
    let response = wildfire_post(http, addr, path, body, (&next_nonce(), now, secret), Some((id_header, id))).await;
    response.json().await.expect("JSON body")
}

/// A `POST` signed the vendor's way: `sign` = SHA-1 of `nonce|secret|timestamp`.
async fn wildfire_post(
    http: &reqwest::Client,
    addr: SocketAddr,
    path: &str,
    body: &Value,
    (nonce, timestamp, secret): (&str, i64, &str),
    caller: Option<(&str, &str)>,
) -> reqwest::Response {
    use sha1::Digest;
    let timestamp = timestamp.to_string();
    let digest = sha1::Sha1::digest(format!("{nonce}|{secret}|{timestamp}").as_bytes());
    let sign: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut request = http
        .post(format!("http://{addr}{path}"))
        .header("nonce", nonce)
        .header("timestamp", &timestamp)
        .header("sign", sign)
        .json(body);
    if let Some((header, id)) = caller {
        request = request.header(header, id);
    }
    request.send().await.expect("request sent")
}

/// A nonce for a signed call, unique within a test run.
pub fn next_nonce() -> String {
    NONCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_string()
}

/// Nonces for signed calls, unique within a test run.
static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Sends a request with a token (or none) and returns status and JSON body.
pub async fn call_url(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = http.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    json_answer(request).await
}

/// Sends a request; returns its status and JSON body.
async fn json_answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let text = response.text().await.expect("body read");
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status} body is not JSON: {text}"));
    (status, value)
}

/// Messages received before the connection reports the backlog done.
pub async fn backlog(connection: &mut Connection) -> Vec<MessageFrame> {
    let mut messages = Vec::new();
    loop {
        match next(connection).await {
            Event::Message(m) => messages.push(m),
            Event::Synced => return messages,
            other => panic!("unexpected event before synced: {other:?}"),
        }
    }
}

/// The next event, failing the test after five seconds.
pub async fn next(connection: &mut Connection) -> Event {
    tokio::time::timeout(Duration::from_secs(5), connection.next_event()).await.expect("an event within 5 s")
}

/// The next message, skipping the `synced` marker.
pub async fn next_message(connection: &mut Connection) -> MessageFrame {
    loop {
        match next(connection).await {
            Event::Message(m) => return m,
            Event::Synced => continue,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

/// Asserts nothing arrives for a short while.
pub async fn assert_quiet(connection: &mut Connection) {
    if let Ok(event) = tokio::time::timeout(Duration::from_millis(300), connection.next_event()).await {
        assert!(matches!(event, Event::Synced), "expected silence, got {event:?}");
    }
}

/// Polls until `check` passes or five seconds pass.
pub async fn eventually<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met within 5 s");
}

pub fn assert_error(status: StatusCode, body: &Value, want_status: u16, want_error: &str) {
    assert_eq!(status.as_u16(), want_status, "{body}");
    assert_eq!(body["error"], want_error, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    assert!(body["exception"].is_string(), "{body}");
    assert!(body["timestamp"].is_i64(), "{body}");
}

/// An S3-compatible server for tests: `CONFAB_TEST_S3_ENDPOINT` if set, else
/// moto's server (PyPI's `moto[server]`, which `.ci/run` installs) that this
/// test process starts once and stops when it exits.
pub async fn s3_endpoint() -> String {
    static ENDPOINT: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    ENDPOINT
        .get_or_init(|| async {
            if let Some(url) = std::env::var("CONFAB_TEST_S3_ENDPOINT").ok().filter(|u| !u.is_empty()) {
                return url;
            }
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            // A shell watches this process and stops the server once it is gone.
            let script = format!(
                "python3 -m moto.server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
                 while kill -0 {} 2>/dev/null; do sleep 1; done; kill $m",
                std::process::id()
            );
            let mut watcher = std::process::Command::new("sh")
                .args(["-c", &script])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("sh starts");
            std::thread::spawn(move || watcher.wait());
            let url = format!("http://127.0.0.1:{port}");
            for _ in 0..200 {
                if reqwest::get(&url).await.is_ok() {
                    return url;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("moto_server did not start on port {port} (pip install 'moto[server]'; see README: Tests)");
        })
        .await
        .clone()
}

/// A new, empty bucket on the test S3 server.
pub async fn s3_bucket() -> (String, String) {
    let endpoint = s3_endpoint().await;
    let bucket = format!("t{}", confab_core::auth::random_uuid().replace('-', ""));
    let response = reqwest::Client::new().put(format!("{endpoint}/{bucket}")).send().await.expect("create bucket");
    assert!(response.status().is_success(), "create bucket: {}", response.status());
    (endpoint, bucket)
}
