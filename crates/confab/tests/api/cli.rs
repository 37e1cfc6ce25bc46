//! The `confab` binary as operators and newcomers use it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp, PASSWORD};

const BIN: &str = env!("CARGO_BIN_EXE_confab");

#[tokio::test]
async fn client_listen_prints_each_event_as_a_json_line() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    let id = app.send_text("alice", "bob", "waiting for you").await;

    let (mut listener, mut lines) = listen(&app, &[]);
    let first = read(&mut lines).await;
    assert_eq!(first["event"], "message");
    assert_eq!(first["msg_id"], id.as_str());
    assert_eq!(
        (first["from"].as_str(), first["to"].as_str(), first["type"].as_str()),
        (Some("alice"), Some("bob"), Some("txt"))
    );
    assert_eq!(first["body"]["msg"], "waiting for you");
    assert!(first["timestamp"].is_i64() && first["conv"].is_string() && first["seq"] == 1);
    assert_eq!(read(&mut lines).await["event"], "synced");

    // `confab client send` delivers as a user, live.
    // Async, so the server in this test's runtime keeps running meanwhile.
    let sent = tokio::process::Command::new(BIN)
        .args(["client", "send", "--user", "alice", "--password", PASSWORD, "--to", "bob", "--text", "live one"])
        .env("CONFAB_HTTP_ADDR", app.addr.to_string())
        .output()
        .await
        .unwrap();
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let answer: Value = serde_json::from_slice(&sent.stdout).unwrap();
    let live = read(&mut lines).await;
    assert_eq!(live["msg_id"], answer["msg_id"]);
    assert_eq!(live["body"]["msg"], "live one");

    app.get("/users/bob/disconnect").await;
    assert_eq!(read(&mut lines).await["event"], "kicked");
    let _ = listener.kill();
    let _ = listener.wait();
}

#[test]
fn app_commands_manage_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(BIN).args(args).env("CONFAB_DATA_DIR", dir.path()).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let created = run(&["app", "create", "--org", "acme", "--app", "support", "--client-id", "cid-1"]);
    assert!(created.contains("client_id:     cid-1"));
    let secret = created.lines().find_map(|l| l.strip_prefix("client_secret: ")).unwrap().trim().to_owned();
    let listed = run(&["app", "list"]);
    assert!(listed.contains("acme/support"));
    assert!(!listed.contains(&secret), "list never prints secrets");
    let shown = run(&["app", "credentials", "--org", "acme", "--app", "support"]);
    assert!(shown.contains(&secret));
    let limited = run(&[
        "app",
        "limit",
        "--org",
        "acme",
        "--app",
        "support",
        "--name",
        "easemob.requests_per_second",
        "--value",
        "7",
    ]);
    assert!(limited.contains("\"easemob.requests_per_second\": 7"), "{limited}");
    let cleared = run(&["app", "limit", "--org", "acme", "--app", "support", "--name", "easemob.requests_per_second"]);
    assert!(cleared.contains("{}"), "{cleared}");
    let secret = run(&["app", "wildfire-secret", "--org", "acme", "--app", "support", "--secret", "wf-s3cret"]);
    assert!(secret.contains("wildfire_secret: wf-s3cret"), "{secret}");
    let made_up = run(&["app", "wildfire-secret", "--org", "acme", "--app", "support"]);
    assert!(made_up.contains("wildfire_secret: ") && !made_up.contains("wf-s3cret"), "{made_up}");

    let duplicate = Command::new(BIN)
        .args(["app", "create", "--org", "acme", "--app", "support"])
        .env("CONFAB_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!duplicate.status.success());
    let bad = Command::new(BIN)
        .args(["app", "create", "--org", "a/b", "--app", "x"])
        .env("CONFAB_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

/// Starts `confab client listen` as bob, with `extra` arguments; its stdout
/// lines arrive on the receiver.
fn listen(app: &TestApp, extra: &[&str]) -> (std::process::Child, tokio::sync::mpsc::UnboundedReceiver<String>) {
    listen_at(&app.addr.to_string(), extra)
}

/// `listen` at the server addresses `addrs` (comma-separated).
pub(crate) fn listen_at(
    addrs: &str,
    extra: &[&str],
) -> (std::process::Child, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let mut listener = Command::new(BIN)
        .args(["client", "listen", "--user", "bob", "--password", PASSWORD])
        .args(extra)
        .env("CONFAB_HTTP_ADDR", addrs)
        .env("CONFAB_ORG", "demo")
        .env("CONFAB_APP", "chat")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = listener.stdout.take().unwrap();
    let (lines_tx, lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    (listener, lines)
}

pub(crate) async fn read(lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> Value {
    read_timeout(lines, 10).await
}

async fn read_timeout(lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>, secs: u64) -> Value {
    let line = tokio::time::timeout(Duration::from_secs(secs), lines.recv()).await.unwrap().unwrap();
    serde_json::from_str(&line).unwrap()
}

#[tokio::test]
async fn client_listen_joins_rooms_and_client_send_reaches_groups() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    let (status, body) = app.post("/chatrooms", json!({"name": "r", "description": "d", "owner": "alice"})).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let room = body["data"]["id"].as_str().unwrap().to_owned();

    let (mut listener, mut lines) = listen(&app, &["--join-room", &room]);
    let joined = read(&mut lines).await;
    assert_eq!((joined["event"].as_str(), joined["room"].as_str()), (Some("joined"), Some(room.as_str())));
    assert_eq!(read(&mut lines).await["event"], "synced");

    let sent = tokio::process::Command::new(BIN)
        .args(["client", "send", "--user", "alice", "--password", PASSWORD])
        .args(["--chat-type", "chatroom", "--to", &room, "--text", "in the room"])
        .env("CONFAB_HTTP_ADDR", app.addr.to_string())
        .output()
        .await
        .unwrap();
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let mut line = read(&mut lines).await;
    if line["event"] == "group" {
        line = read(&mut lines).await;
    }
    assert_eq!((line["chat_type"].as_str(), line["body"]["msg"].as_str()), (Some("chatroom"), Some("in the room")));
    let _ = listener.kill();
    let _ = listener.wait();
}

/// A new user's first start: the WildfireChat secret is made up and printed
/// once, and the vendor's API answers on `CONFAB_WILDFIRE_ADDR` as well.
#[tokio::test]
async fn serve_prints_a_wildfire_secret_and_serves_the_vendors_port() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(BIN)
        .arg("serve")
        .env("CONFAB_DATA_DIR", dir.path())
        .env("CONFAB_HTTP_ADDR", "127.0.0.1:0")
        .env("CONFAB_WILDFIRE_ADDR", "127.0.0.1:0")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut log = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let secret = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(line) = out.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("WildfireChat admin secret of demo/chat: ") {
                return rest.trim().to_owned();
            }
        }
        panic!("no secret printed");
    })
    .await
    .unwrap();
    let addr = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(line) = log.next_line().await.unwrap() {
            if line.contains("WildfireChat admin API is listening") {
                let addr = line.split("addr=").nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap();
                return addr.parse::<std::net::SocketAddr>().unwrap();
            }
        }
        panic!("the WildfireChat port was not opened");
    })
    .await
    .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = log.next_line().await {} });
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let http = reqwest::Client::new();
    let body = serde_json::json!({"userId": "carol", "name": "carol"});
    let answer = crate::helpers::wildfire_call(&http, addr, "/admin/user/create", &body, "1", now, &secret).await;
    assert_eq!(answer["code"], 0, "{answer}");
    let wrong = crate::helpers::wildfire_call(&http, addr, "/admin/user/get_info", &body, "2", now, "guess").await;
    assert_eq!(wrong["code"], 244);
    // The vendor's port serves only the vendor's API: anything else is a plain 404.
    let other = http.get(format!("http://{addr}/demo/chat/users")).send().await.unwrap();
    assert_eq!(other.status(), reqwest::StatusCode::NOT_FOUND);
    child.kill().await.unwrap();
}

/// Issue 13: a listener stopped within 250 ms of a message left it counted
/// as offline. It acknowledges what it printed before it exits.
#[tokio::test]
async fn client_listen_acknowledges_what_it_printed_when_stopped() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    let (mut listener, mut lines) = listen(&app, &[]);
    assert_eq!(read(&mut lines).await["event"], "synced");
    app.send_text("alice", "bob", "just in time").await;
    assert_eq!(read(&mut lines).await["body"]["msg"], "just in time");
    let stopped = Command::new("kill").args(["-TERM", &listener.id().to_string()]).status().unwrap();
    assert!(stopped.success());
    let status = tokio::task::spawn_blocking(move || listener.wait().unwrap()).await.unwrap();
    assert!(status.success(), "{status:?}");
    // The ack was written before the listener closed; storing it is the server's.
    crate::helpers::eventually(|| async { app.get("/users/bob/offline_msg_count").await.1["data"]["bob"] == 0 }).await;
}

/// Issue 21: `confab client listen` exited when its node died or the
/// server restarted. It resumes from what it printed, on the next address.
#[tokio::test]
async fn client_listen_resumes_when_its_server_goes_away() {
    let first = spawn_app().await;
    first.register(&["alice", "bob"]).await;
    // A free port for the server that takes over.
    let second_addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let addrs = format!("{},{second_addr}", first.addr);
    let (mut listener, mut lines) = listen_at(&addrs, &[]);
    assert_eq!(read(&mut lines).await["event"], "synced");
    first.send_text("alice", "bob", "before").await;
    assert_eq!(read(&mut lines).await["body"]["msg"], "before");

    let storage = first.stop().await;
    // The stopping server says so (kicked: shutdown), then the connection closes.
    while read(&mut lines).await["event"] != "closed" {}
    let second = spawn_app_with(storage, |c| c.http_addr = second_addr).await;
    second.send_text("alice", "bob", "after").await;
    let resumed = read_timeout(&mut lines, 20).await;
    assert_eq!(
        (resumed["event"].as_str(), resumed["addr"].as_str()),
        (Some("resumed"), Some(second_addr.to_string().as_str()))
    );
    let mut next = read(&mut lines).await;
    if next["event"] == "synced" {
        next = read(&mut lines).await;
    }
    assert_eq!(next["body"]["msg"], "after", "nothing printed twice: {next}");
    let _ = listener.kill();
    let _ = listener.wait();
}

/// Issue 21: `confab app …` from another folder created a new empty
/// database and answered "no app"; with CONFAB_DATABASE_URL it still made
/// ./confab-data/files. Each says what it uses; only `create` creates.
#[tokio::test]
async fn app_commands_say_where_they_look_and_create_nothing() {
    let elsewhere = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        Command::new(BIN)
            .args(args)
            .current_dir(elsewhere.path())
            .env_remove("CONFAB_DATA_DIR")
            .env_remove("CONFAB_DATABASE_URL")
            .env_remove("CONFAB_CONFIG")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    for args in [&["app", "list"][..], &["app", "credentials"], &["app", "rotate", "--what", "signing-key"]] {
        let out = run(args, &[]);
        assert!(!out.status.success(), "{args:?}");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("using the data folder ./confab-data"), "{said}");
        assert!(said.contains("no confab database in the data folder ./confab-data"), "{said}");
        assert!(!elsewhere.path().join("confab-data").exists(), "{args:?} created a data folder");
    }

    let base = std::env::var("CONFAB_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1/postgres".into());
    let url = crate::helpers::fresh_schema(&base).await;
    let empty = run(&["app", "list"], &[("CONFAB_DATABASE_URL", &url)]);
    assert!(!empty.status.success(), "a database without confab's tables is not made one by a read");
    assert!(String::from_utf8_lossy(&empty.stderr).contains("no confab data in this database"));
    let created = run(&["app", "create", "--org", "acme", "--app", "pg"], &[("CONFAB_DATABASE_URL", &url)]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    assert!(String::from_utf8_lossy(&created.stderr).contains("using the PostgreSQL database postgres://"));
    let listed = run(&["app", "list"], &[("CONFAB_DATABASE_URL", &url)]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("acme/pg"));
    assert!(!elsewhere.path().join("confab-data").exists(), "nothing made in the current folder");
}

#[test]
fn app_limit_takes_only_known_names_and_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| Command::new(BIN).args(args).env("CONFAB_DATA_DIR", dir.path()).output().unwrap();
    assert!(run(&["app", "create"]).status.success(), "--org/--app default to the first app's");
    let bogus = run(&["app", "limit", "--name", "bogus.limit", "--value", "1"]);
    assert!(!bogus.status.success());
    assert!(String::from_utf8_lossy(&bogus.stderr).contains("bogus.limit"));
    let shown = String::from_utf8(run(&["app", "credentials"]).stdout).unwrap();
    assert!(shown.contains("org:           demo") && shown.contains("app:           chat"), "{shown}");
    let known = run(&["app", "limit", "--name", "leancloud.broadcasts_per_day", "--value", "3"]);
    assert!(known.status.success(), "{}", String::from_utf8_lossy(&known.stderr));
    let help = String::from_utf8(run(&["app", "limit", "--help"]).stdout).unwrap();
    for name in confab_server::limits::vendor_defaults().keys() {
        assert!(help.contains(name.as_str()), "{name} missing from {help}");
    }
    let serve = String::from_utf8(run(&["serve", "--help"]).stdout).unwrap();
    for variable in
        ["CONFAB_DATA_DIR", "CONFAB_DATABASE_URL", "CONFAB_HTTP_ADDR", "CONFAB_MAX_TOKEN_TTL_SECS", "./confab-data"]
    {
        assert!(serve.contains(variable), "{variable} missing from {serve}");
    }
}

#[test]
fn app_sensitive_strategy_is_set_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| Command::new(BIN).args(args).env("CONFAB_DATA_DIR", dir.path()).output().unwrap();
    assert!(run(&["app", "create"]).status.success());
    let shown = String::from_utf8(run(&["app", "sensitive-strategy"]).stdout).unwrap();
    assert!(shown.contains("demo/chat sensitive words: refuse"), "the default: {shown}");
    let set = run(&["app", "sensitive-strategy", "--strategy", "replace"]);
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    let shown = String::from_utf8(run(&["app", "sensitive-strategy"]).stdout).unwrap();
    assert!(shown.contains("sensitive words: replace"), "{shown}");
    assert!(!run(&["app", "sensitive-strategy", "--strategy", "shout"]).status.success());
    assert!(!run(&["app", "sensitive-strategy", "--org", "nobody"]).status.success());
}

/// Issue 13: `confab app list | head` panicked on the broken pipe.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    for n in 0..3 {
        let out = Command::new(BIN)
            .args(["app", "create", "--org", "acme", "--app", &format!("a{n}")])
            .env("CONFAB_DATA_DIR", dir.path())
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let mut child = Command::new(BIN)
        .args(["app", "list"])
        .env("CONFAB_DATA_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader is gone before the first line is written, as `head` is after its lines.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !said.contains("panicked"), "{:?}: {said}", out.status);
}

/// README.md's walk-through, run as written by `tools/walkthrough.sh` in a
/// fresh folder with this build's `confab` on PATH (issue 21: a newcomer's
/// first hour must go as the README says).
#[tokio::test]
async fn the_readme_walkthrough_runs_as_written() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_confab")).parent().unwrap().to_owned();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let run = tokio::process::Command::new("bash")
        .arg(root.join("tools/walkthrough.sh"))
        .arg(root.join("README.md"))
        .env("PATH", path)
        // The walk-through sets its own; the suite's must not leak in.
        .env_remove("CONFAB_DATABASE_URL")
        .env_remove("CONFAB_NATS_URL")
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(120), run).await.expect("done in time").unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("every step worked"), "{stdout}");
}

/// `confab console password`: sets an operator's password, or makes one up
/// and prints it; the server then signs them in with it.
#[tokio::test]
async fn console_password_sets_an_operators_password() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Storage::fresh().await, |_| {}).await;
    let storage = app.stop().await;
    let run = |args: &[&str]| {
        let mut command = Command::new(BIN);
        command.args(args).env("CONFAB_DATA_DIR", storage.data_dir.path()).env_remove("CONFAB_DATABASE_URL");
        if let Some(url) = &storage.database_url {
            command.env("CONFAB_DATABASE_URL", url);
        }
        command.output().unwrap()
    };
    let short = run(&["console", "password", "--password", "short"]);
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("12 to 64 characters"));
    let set = run(&["console", "password", "--name", "ops", "--password", "ops password 1"]);
    assert_eq!(String::from_utf8_lossy(&set.stdout), "console operator ops: password set\n");
    let made = run(&["console", "password"]);
    let made = String::from_utf8(made.stdout).unwrap();
    let password = made.trim().strip_prefix("console operator admin: password ").unwrap().to_owned();

    let app = crate::helpers::spawn_app_with(storage, |_| {}).await;
    let operators = &app.core.operators;
    assert!(operators.sign_in("ops", "ops password 1".into()).await.unwrap().is_some());
    assert!(operators.sign_in("admin", password).await.unwrap().is_some());
    assert!(operators.sign_in("admin", "ops password 1".into()).await.unwrap().is_none());
}
