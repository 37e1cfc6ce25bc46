//! Credentials: one per tenant, rotated by operators, provisioned once
//! however many nodes start at once, and configured values applied on every
//! start.

use std::process::Output;
use std::time::Duration;

use confab_core::clock::Clock as _;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    assert_error, call_url, fresh_schema, next_nonce, spawn_app, spawn_app_with, wildfire_call, Storage, TestApp,
    CLIENT_ID, CLIENT_SECRET, LC_APP_ID, LC_MASTER_KEY, WILDFIRE_SECRET,
};

const BIN: &str = env!("CARGO_BIN_EXE_confab");

/// Runs `confab app …` on the test server's own storage.
async fn confab_app(app: &TestApp, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(BIN);
    command.arg("app").args(args).env("CONFAB_DATA_DIR", app.storage.data_dir.path()).env("NO_COLOR", "1");
    if let Some(url) = &app.storage.database_url {
        command.env("CONFAB_DATABASE_URL", url);
    }
    command.output().await.unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn field(text: &str, label: &str) -> String {
    text.lines().find_map(|l| l.strip_prefix(label)).unwrap_or_else(|| panic!("no {label} in {text}")).trim().to_owned()
}

/// Issue 13: `confab app wildfire-secret` accepted another app's secret, and
/// signed calls then created and read users in the first app.
#[tokio::test]
async fn two_apps_never_share_a_credential() {
    let app = spawn_app().await;
    stdout(&confab_app(&app, &["create", "--org", "acme", "--app", "other"]).await);

    let stolen =
        confab_app(&app, &["wildfire-secret", "--org", "acme", "--app", "other", "--secret", WILDFIRE_SECRET]).await;
    assert!(!stolen.status.success());
    let said = String::from_utf8_lossy(&stolen.stderr);
    assert!(said.contains("another app already has this wildfire.secret"), "{said}");
    assert!(!said.contains(WILDFIRE_SECRET), "the secret is not echoed: {said}");
    let lc = confab_app(&app, &["leancloud-keys", "--org", "acme", "--app", "other", "--app-id", LC_APP_ID]).await;
    assert!(!lc.status.success());
    assert!(String::from_utf8_lossy(&lc.stderr).contains("leancloud.app_id"));
    let taken_id = confab_app(&app, &["create", "--org", "acme", "--app", "third", "--client-id", CLIENT_ID]).await;
    assert!(!taken_id.status.success());
    // Nothing was half-written: the other app has none of the refused values.
    let other = app.core.apps.by_name("acme", "other").await.unwrap().unwrap();
    assert!(other.credentials.is_empty(), "{:?}", other.credentials.keys());

    // The first app's secret still names only the first app.
    let created = app.wildfire("/admin/user/create", json!({"userId": "mallory", "name": "m"})).await;
    assert_eq!(created["code"], 0, "{created}");
    let first = app.core.apps.by_name("demo", "chat").await.unwrap().unwrap();
    assert!(app.core.users.get(first.id, &confab_core::model::Username::parse("mallory").unwrap()).await.is_ok());

    // A value of its own is accepted.
    let own =
        stdout(&confab_app(&app, &["wildfire-secret", "--org", "acme", "--app", "other", "--secret", "mine"]).await);
    assert!(own.contains("wildfire_secret: mine"), "{own}");
}

/// Issue 13: every credential can be rotated, and what was signed or
/// authenticated with the old one is refused afterwards.
#[tokio::test]
async fn operators_rotate_every_credential() {
    let app = spawn_app().await;
    let token_body =
        |secret: &str| json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": secret});
    let (status, _) = app.call(Method::GET, "/users", Some(&app.app_token), None).await;
    assert_eq!(status, StatusCode::OK);

    let rotated = stdout(&confab_app(&app, &["rotate", "--what", "signing-key"]).await);
    assert!(rotated.contains("signing key replaced"), "{rotated}");
    wait_until(|| async {
        let (status, _) = app.call(Method::GET, "/users", Some(&app.app_token), None).await;
        status == StatusCode::UNAUTHORIZED
    })
    .await;
    let (status, reply) = app.call(Method::POST, "/token", None, Some(token_body(CLIENT_SECRET))).await;
    assert_eq!(status, StatusCode::OK, "a new token works: {reply}");
    let fresh = reply["access_token"].as_str().unwrap().to_owned();
    let (status, _) = app.call(Method::GET, "/users", Some(&fresh), None).await;
    assert_eq!(status, StatusCode::OK);

    let rotated = stdout(&confab_app(&app, &["rotate", "--what", "client-secret"]).await);
    let secret = field(&rotated, "client_secret:");
    assert_ne!(secret, CLIENT_SECRET);
    wait_until(|| async {
        let (status, _) = app.call(Method::POST, "/token", None, Some(token_body(CLIENT_SECRET))).await;
        status == StatusCode::BAD_REQUEST
    })
    .await;
    let (status, reply) = app.call(Method::POST, "/token", None, Some(token_body(&secret))).await;
    assert_eq!(status, StatusCode::OK, "{reply}");

    let rotated = stdout(&confab_app(&app, &["rotate", "--what", "wildfire-secret"]).await);
    let wildfire = field(&rotated, "wildfire_secret:");
    wait_until(|| async { app.wildfire("/admin/user/get_info", json!({"userId": "x"})).await["code"] == 244 }).await;
    let now = app.clock.now_ms();
    let body = json!({"userId": "carol", "name": "carol"});
    let answer = app.wildfire_signed("/admin/user/create", &body, &next_nonce(), now, &wildfire).await;
    assert_eq!(answer["code"], 0, "{answer}");

    let rotated = stdout(&confab_app(&app, &["rotate", "--what", "leancloud-keys"]).await);
    let master = field(&rotated, "leancloud_master_key:");
    assert!(!rotated.contains(LC_MASTER_KEY));
    wait_until(|| async {
        app.leancloud(Method::GET, "/1.2/rtm/conversations", None).await.0 == StatusCode::UNAUTHORIZED
    })
    .await;
    let key = format!("{master},master");
    let (status, reply) = app
        .leancloud_with(Method::GET, "/1.2/rtm/conversations", None, &[("X-LC-Id", LC_APP_ID), ("X-LC-Key", &key)])
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
}

/// Polls `check` for up to eight seconds (servers read apps again every 5 s).
async fn wait_until<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..80 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not within 8 s");
}

/// Issue 13: a token asked for with `ttl: 0` ("never expires") lives as
/// long as the configured maximum, no longer.
#[tokio::test]
async fn never_expiring_tokens_are_bounded_by_the_configured_maximum() {
    let app = spawn_app_with(Storage::fresh().await, |c| c.max_token_ttl_secs = 3600).await;
    let body =
        json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "ttl": 0});
    let (status, reply) = app.call(Method::POST, "/token", None, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["expires_in"], 3600);
    let token = reply["access_token"].as_str().unwrap().to_owned();
    let long = json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "ttl": 99_999_999});
    assert_eq!(app.call(Method::POST, "/token", None, Some(long)).await.1["expires_in"], 3600);
    let (status, _) = app.call(Method::GET, "/users", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    app.clock.advance_ms(3_601_000);
    let (status, reply) = app.call(Method::GET, "/users", Some(&token), None).await;
    assert_error(status, &reply, 401, "unauthorized");
}

/// Issue 21: three nodes started at the same moment on a fresh PostgreSQL
/// database each made up and printed their own credentials; the database
/// kept a mix. Now one provisions and every node reports what is stored.
#[tokio::test]
async fn nodes_starting_together_provision_the_first_app_once() {
    let base = std::env::var("CONFAB_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1/postgres".into());
    let database_url = fresh_schema(&base).await;
    let data_dir = tempfile::tempdir().unwrap();
    let config = confab_server::config::Config {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.path().to_owned(),
        database_url: Some(database_url),
        ..Default::default()
    };
    let starts = (0..3).map(|_| confab_server::Application::build(config.clone()));
    let nodes: Vec<_> = futures_util::future::join_all(starts).await.into_iter().map(Result::unwrap).collect();

    assert_eq!(nodes.iter().filter(|n| n.first_start().created).count(), 1, "one node creates the app");
    let made_up: Vec<_> = nodes.iter().filter(|n| !n.first_start().made_up.is_empty()).collect();
    assert_eq!(made_up.len(), 1, "one node makes up credentials; the others find them");
    let stored = &nodes[0].first_start().app;
    for node in &nodes {
        let app = &node.first_start().app;
        assert_eq!(
            (&app.uuid, &app.client_id, &app.client_secret),
            (&stored.uuid, &stored.client_id, &stored.client_secret)
        );
        assert_eq!(app.credentials, stored.credentials);
    }
    for (label, value) in &made_up[0].first_start().made_up {
        let name = match *label {
            "client_id" => stored.client_id.clone(),
            "client_secret" => stored.client_secret.clone(),
            _ => value.clone(),
        };
        assert_eq!(&name, value, "{label}: printed is stored");
    }

    // What was printed works on every node.
    let app_id = stored.credentials["leancloud.app_id"].clone();
    let key = format!("{},master", stored.credentials["leancloud.master_key"]);
    let secret = stored.credentials["wildfire.secret"].clone();
    let http = reqwest::Client::new();
    let mut stops = Vec::new();
    for node in nodes {
        let addr = node.local_addr();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(node.run_until(stopped));
        let request = http
            .get(format!("http://{addr}/1.2/rtm/conversations"))
            .header("X-LC-Id", &app_id)
            .header("X-LC-Key", &key);
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        let body = json!({"userId": format!("u{}", addr.port()), "name": "n"});
        let answer = wildfire_call(&http, addr, "/admin/user/create", &body, &next_nonce(), now, &secret).await;
        assert_eq!(answer["code"], 0, "{answer}");
        stops.push((stop, task));
    }
    for (stop, task) in stops {
        let _ = stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
}

/// Issue 21: `CONFAB_CLIENT_ID=demo-id … serve` on a folder where the
/// first start made up credentials kept the old ones. Configured values
/// are applied on every start, with a line saying so (and no secret).
#[tokio::test]
async fn configured_credentials_replace_stored_ones_on_every_start() {
    let storage = Storage::fresh().await;
    let first = serve(&storage, &[]).await;
    assert!(first.stdout.contains("client_secret of demo/chat: "), "{}", first.stdout);
    let configured = [
        ("CONFAB_CLIENT_ID", "demo-id"),
        ("CONFAB_CLIENT_SECRET", "demo-secret-1"),
        ("CONFAB_WILDFIRE_SECRET", "wf-secret-1"),
        ("CONFAB_LEANCLOUD_MASTER_KEY", "lc-master-1"),
    ];
    first.stop().await;
    let second = serve(&storage, &configured).await;
    for (variable, value) in configured {
        assert!(second.log.contains(&format!("{variable} replaced the stored")), "{variable}: {}", second.log);
        assert!(!second.log.contains(value), "{value} is never logged: {}", second.log);
    }
    assert!(!second.stdout.contains("demo-secret-1"), "configured values are not printed");
    let http = reqwest::Client::new();
    let url = format!("http://{}/demo/chat/token", second.addr);
    let body = json!({"grant_type": "client_credentials", "client_id": "demo-id", "client_secret": "demo-secret-1"});
    let (status, reply) = call_url(&http, Method::POST, &url, None, Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let answer = wildfire_call(
        &http,
        second.addr,
        "/admin/user/create",
        &json!({"userId": "w", "name": "w"}),
        &next_nonce(),
        now,
        "wf-secret-1",
    )
    .await;
    assert_eq!(answer["code"], 0, "{answer}");
    second.stop().await;
    // The same values again: nothing replaced, nothing said.
    let third = serve(&storage, &configured).await;
    assert!(!third.log.contains("replaced the stored"), "{}", third.log);
    // Issue 21: a log written to a file has no colour codes, and a restart on
    // PostgreSQL does not report `relation "confab_schema" already exists`.
    assert!(!third.log.contains('\u{1b}'), "{}", third.log);
    assert!(!third.log.contains("already exists"), "{}", third.log);

    // What an operator looks for is at the default level: logins, failed
    // logins and kicks, without passwords.
    let base = format!("http://{}/demo/chat", third.addr);
    let (_, reply) = call_url(&http, Method::POST, &format!("{base}/token"), None, Some(body)).await;
    let token = reply["access_token"].as_str().unwrap().to_owned();
    let user = json!({"username": "alice", "password": "pw-alice-1"});
    let (status, _) = call_url(&http, Method::POST, &format!("{base}/users"), Some(&token), Some(user)).await;
    assert_eq!(status, StatusCode::OK);
    for password in ["wrong-pw-1", "pw-alice-1"] {
        let login = json!({"grant_type": "password", "username": "alice", "password": password});
        call_url(&http, Method::POST, &format!("{base}/token"), None, Some(login)).await;
    }
    call_url(&http, Method::GET, &format!("{base}/users/alice/disconnect"), Some(&token), None).await;
    let log = third.stop_and_read_log().await;
    for wanted in ["failed login", "wrong password", "login", "kicked a user", "disconnected"] {
        assert!(log.contains(wanted), "{wanted} missing: {log}");
    }
    assert!(!log.contains("pw-alice-1") && !log.contains("wrong-pw-1"), "{log}");
}

/// A `confab serve` run until it listens: what it printed and logged so far.
struct Served {
    addr: std::net::SocketAddr,
    stdout: String,
    log: String,
    child: tokio::process::Child,
    /// What it logs after listening, once it stops.
    rest: tokio::sync::oneshot::Receiver<String>,
}

async fn serve(storage: &Storage, env: &[(&str, &str)]) -> Served {
    use tokio::io::AsyncBufReadExt;
    let mut command = tokio::process::Command::new(BIN);
    command
        .arg("serve")
        .env("CONFAB_DATA_DIR", storage.data_dir.path())
        .env("CONFAB_HTTP_ADDR", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(url) = &storage.database_url {
        command.env("CONFAB_DATABASE_URL", url);
    }
    let mut child = command.spawn().unwrap();
    let mut log_lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = String::new();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = log_lines.next_line().await.unwrap() {
            log.push_str(&line);
            log.push('\n');
            if line.contains("confab is listening") {
                let addr = line.split("addr=").nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap();
                return addr.parse::<std::net::SocketAddr>().unwrap();
            }
        }
        panic!("no listening line: {log}");
    })
    .await
    .unwrap();
    let (rest_tx, rest) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut rest = String::new();
        while let Ok(Some(line)) = log_lines.next_line().await {
            rest.push_str(&line);
            rest.push('\n');
        }
        let _ = rest_tx.send(rest);
    });
    // stdout is written before the listening line is logged.
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut stdout = String::new();
    let mut line = String::new();
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(300), out.read_line(&mut line)).await {
        if n == 0 {
            break;
        }
        stdout.push_str(&line);
        line.clear();
    }
    Served { addr, stdout, log, child, rest }
}

impl Served {
    async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }

    /// Stops the server and returns everything it logged.
    async fn stop_and_read_log(mut self) -> String {
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.child.kill().await.unwrap();
        let rest = self.rest.await.unwrap_or_default();
        format!("{}{rest}", self.log)
    }
}

/// The migration that makes credentials unique finds data written before
/// it, where two apps may share one: the oldest app keeps it, the later one
/// loses it (its dialect refuses calls until an operator gives it its own),
/// and from then on the database itself refuses a shared value.
///
/// It winds the schema back by one version, so it assumes `credentials.sql`
/// is the newest migration of each engine.
#[tokio::test]
async fn the_migration_leaves_a_shared_credential_with_the_oldest_app() {
    let app = spawn_app().await;
    app.core.apps.create("acme", "other", Default::default()).await.unwrap();
    let storage = app.stop().await;
    let shared = "UPDATE apps SET credentials = (SELECT credentials FROM apps WHERE org = 'demo') WHERE org = 'acme'";
    match &storage.database_url {
        None => {
            let db = rusqlite::Connection::open(storage.data_dir.path().join("confab.db")).unwrap();
            // Back to before the credentials migration (version 9), undoing
            // the later ones, so it runs again on a database that had shared values.
            db.execute_batch(&format!(
                "DROP INDEX late_messages; ALTER TABLE messages DROP COLUMN late; \
                 DROP TABLE app_credentials; DROP INDEX app_wide_broadcasts; DROP TABLE settings; \
                 ALTER TABLE messages DROP COLUMN edits; DROP TABLE operators; DROP TABLE audit_log; \
                 ALTER TABLE conversations ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0; \
                 {shared}; PRAGMA user_version = 8"
            ))
            .unwrap();
        }
        Some(url) => {
            let (db, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            db.batch_execute(&format!(
                "DROP TABLE app_credentials; DROP INDEX app_wide_broadcasts; DROP TABLE settings;
                 ALTER TABLE messages DROP COLUMN edits; DROP TABLE operators; DROP TABLE audit_log;
                 DROP INDEX messages_by_conversation_time; {shared};
                 DELETE FROM confab_schema WHERE version >= 8"
            ))
            .await
            .unwrap();
        }
    }

    let app = crate::helpers::spawn_app_in(storage).await;
    let other = app.core.apps.by_name("acme", "other").await.unwrap().unwrap();
    assert!(other.credentials.is_empty(), "the later app lost the shared values: {:?}", other.credentials.keys());
    let first = app.core.apps.by_name("demo", "chat").await.unwrap().unwrap();
    assert_eq!(first.credentials["wildfire.secret"], WILDFIRE_SECRET);
    let created = app.wildfire("/admin/user/create", json!({"userId": "w1", "name": "w"})).await;
    assert_eq!(created["code"], 0, "{created}");
    assert!(app.core.users.get(first.id, &confab_core::model::Username::parse("w1").unwrap()).await.is_ok());
    let change = confab_core::storage::CredentialChange {
        replace: [("wildfire.secret".to_owned(), WILDFIRE_SECRET.to_owned())].into(),
        ..Default::default()
    };
    let refused = app.core.apps.change_credentials("acme", "other", change).await;
    assert!(matches!(refused, Err(confab_core::error::Error::Duplicate(_))), "{refused:?}");
}
