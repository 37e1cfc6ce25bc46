//! Migrating history in: server-side fetches reach only permitted
//! addresses (E-import-1 `need_download`), links use the public URL, and
//! what the history export wrote imports again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{assert_error, spawn_app_with, Storage, TestApp};
use confab_server::config::Config;
use confab_server::fetch::FetchPolicy;

/// A server on `ip` that answers every request with `answer` (a status line
/// and headers, then `body`), counting the requests it got.
struct Upstream {
    url: String,
    hits: Arc<AtomicUsize>,
}

async fn upstream(ip: &str, head: String, body: Vec<u8>) -> Upstream {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let (head, body) = (head.clone(), body.clone());
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = format!("{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    Upstream { url: format!("http://{addr}/files/cat.png"), hits }
}

async fn file_server(ip: &str) -> Upstream {
    upstream(ip, "HTTP/1.1 200 OK\r\nContent-Type: image/png".into(), vec![7u8; 512]).await
}

async fn redirect_to(ip: &str, location: &str) -> Upstream {
    upstream(ip, format!("HTTP/1.1 302 Found\r\nLocation: {location}"), Vec::new()).await
}

fn policy(raw: &'static str) -> impl FnOnce(&mut Config) {
    move |config: &mut Config| config.fetch_allow_private = FetchPolicy::parse(raw).unwrap()
}

fn import_of(url: &str) -> Value {
    json!({"from": "alice", "target": "bob", "type": "file", "body": {"filename": "cat.png", "url": url}, "need_download": true})
}

async fn stored_messages(app: &TestApp) -> usize {
    let (_, body) = app.get("/chatmessages?ql=select * where timestamp>0").await;
    body["entities"].as_array().unwrap().len()
}

/// Imports `url` and expects the vendor's 400 naming `need_download`.
async fn assert_refused(app: &TestApp, url: &str) -> String {
    let started = Instant::now();
    let (status, body) = app.post("/messages/users/import", import_of(url)).await;
    assert_error(status, &body, 400, "illegal_argument");
    let description = body["error_description"].as_str().unwrap().to_owned();
    assert!(description.contains("need_download"), "{description}");
    assert!(started.elapsed() < Duration::from_secs(5), "refused without waiting on a connection");
    description
}

#[tokio::test]
async fn fetches_never_reach_loopback_private_or_metadata_addresses() {
    let app = spawn_app_with(Storage::fresh().await, |_| {}).await;
    app.register(&["alice", "bob"]).await;
    let local = file_server("127.0.0.1").await;
    let description = assert_refused(&app, &local.url).await;
    assert!(description.contains("127.0.0.1 is not an address confab fetches from"), "{description}");
    // A name that resolves to loopback is refused after resolution.
    let by_name = local.url.replace("127.0.0.1", "localhost");
    let description = assert_refused(&app, &by_name).await;
    assert!(description.contains("not an address confab fetches from"), "{description}");
    for url in [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:127.0.0.1]:1/x",
        "http://2130706433/x",
        "http://10.0.0.1/x",
        "http://0.0.0.0/x",
        "file:///etc/passwd",
    ] {
        assert_refused(&app, url).await;
    }
    assert_eq!(local.hits.load(Ordering::SeqCst), 0, "no connection was made");
    assert_eq!(stored_messages(&app).await, 0, "nothing of the refused imports was stored");
}

#[tokio::test]
async fn redirects_are_checked_hop_by_hop() {
    // The operator allows one address; the redirect points at another.
    let app = spawn_app_with(Storage::fresh().await, policy("127.0.0.1/32")).await;
    app.register(&["alice", "bob"]).await;
    let hidden = file_server("127.0.0.2").await;
    let bounce = redirect_to("127.0.0.1", &hidden.url).await;
    let description = assert_refused(&app, &bounce.url).await;
    assert!(description.contains("redirected"), "{description}");
    let to_metadata = redirect_to("127.0.0.1", "http://169.254.169.254/latest/meta-data/").await;
    assert_refused(&app, &to_metadata.url).await;
    assert_eq!(bounce.hits.load(Ordering::SeqCst), 1);
    assert_eq!(hidden.hits.load(Ordering::SeqCst), 0, "the redirect was not followed");
    assert_eq!(stored_messages(&app).await, 0);

    // A redirect to a permitted address is followed.
    let allowed = file_server("127.0.0.1").await;
    let bounce = redirect_to("127.0.0.1", &allowed.url).await;
    let (status, body) = app.post("/messages/users/import", import_of(&bounce.url)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(allowed.hits.load(Ordering::SeqCst), 1);
    assert_eq!(stored_messages(&app).await, 1);
}

#[tokio::test]
async fn links_start_with_the_public_url() {
    let public = |config: &mut Config| {
        config.fetch_allow_private = FetchPolicy::parse("127.0.0.1").unwrap();
        config.public_url = Some("https://im.example.com/".into());
    };
    let app = spawn_app_with(Storage::fresh().await, public).await;
    app.register(&["alice", "bob"]).await;
    let picture = file_server("127.0.0.1").await;
    let (status, body) = app.post("/messages/users/import", import_of(&picture.url)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = app.get("/chatmessages?ql=select * where timestamp>0").await;
    let copied = body["entities"][0]["payload"]["bodies"][0]["url"].as_str().unwrap().to_owned();
    assert!(copied.starts_with("https://im.example.com/demo/chat/chatfiles/"), "{copied}");

    let hour = crate::history::hour_of(crate::history::to_next_hour(&app) - 3_600_000);
    let (status, body) = app.get(&format!("/chatmessages/{hour}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let link = body["data"][0]["url"].as_str().unwrap().to_owned();
    let path = format!("/demo/chat/chatmessages/{hour}/file?");
    assert!(link.starts_with(&format!("https://im.example.com{path}")), "{link}");
    // The link works once the proxy in front hands it to confab.
    let inside = link.replace("https://im.example.com", &format!("http://{}", app.addr));
    let (status, lines) = crate::history::records(&inside).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lines.len(), 1);

    // Without it, links keep naming the host the request came to.
    let app = spawn_app_with(Storage::fresh().await, policy("127.0.0.1")).await;
    app.register(&["alice", "bob"]).await;
    app.post("/messages/users/import", import_of(&picture.url)).await;
    let (_, body) = app.get("/chatmessages?ql=select * where timestamp>0").await;
    let copied = body["entities"][0]["payload"]["bodies"][0]["url"].as_str().unwrap().to_owned();
    assert!(copied.starts_with(&format!("http://{}/demo/chat/chatfiles/", app.addr)), "{copied}");
}

/// Bodies as the vendor's history records show them, every documented field set.
fn vendor_bodies() -> Vec<Value> {
    let file = "https://a1.easemob.com/easemob-demo/chatdemoui/chatfiles/65e54a4a-fd0b-11e3-b821-ebde7b50cc4b";
    vec![
        json!({"type": "txt", "msg": "hello from test2"}),
        json!({"type": "img", "file_length": 128827, "filename": "test1.jpg", "secret": "DRGM8OZr", "size": {"height": 1325, "width": 746}, "url": file}),
        json!({"type": "loc", "addr": "西城区西便门桥 ", "lat": 39.9053, "lng": 116.36302}),
        json!({"type": "audio", "file_length": 6630, "filename": "test1.amr", "length": 10, "secret": "DRGM8OZr", "url": file}),
        json!({"type": "video", "file_length": 58103, "filename": "1418105136313.mp4", "length": 10, "secret": "VfEpSmSv", "size": {"height": 480, "width": 360}, "thumb": file, "thumb_secret": "ZyebKn9p", "url": file}),
        json!({"type": "file", "file_length": 3279, "filename": "record.md", "secret": "2RNXCgee", "url": file}),
        json!({"type": "cmd", "action": "run"}),
        json!({"type": "custom", "customEvent": "gift_1", "customExts": {"name": "flower", "size": "16", "price": "100"}}),
    ]
}

/// Every record of the hour starting at `hour_start`, without its `msg_id`.
async fn hour_records(app: &TestApp, hour_start: i64) -> Vec<Value> {
    let hour = crate::history::hour_of(hour_start);
    let (status, body) = app.get(&format!("/chatmessages/{hour}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, mut lines) = crate::history::records(body["data"][0]["url"].as_str().unwrap()).await;
    for line in &mut lines {
        line.as_object_mut().unwrap().remove("msg_id");
    }
    lines
}

#[tokio::test]
async fn an_exported_hour_imports_again_into_another_app() {
    use confab_core::clock::Clock;
    let source = spawn_app_with(Storage::fresh().await, |_| {}).await;
    source.register(&["alice", "bob"]).await;
    let hour_start = crate::history::to_next_hour(&source);
    for (i, body) in vendor_bodies().into_iter().enumerate() {
        // Sends take every documented field, the history's own among them.
        let kind = body["type"].clone();
        let send = json!({"from": "alice", "to": ["bob"], "type": kind, "body": body, "ext": {"n": i}});
        let (status, answer) = source.post("/messages/users", send).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        source.clock.advance_ms(5);
    }
    let group = crate::groups::create_group(&source, "alice", &["bob"], json!({})).await;
    let in_group = json!({"from": "bob", "to": [group], "type": "txt", "body": {"msg": "to all"}});
    assert_eq!(source.post("/messages/chatgroups", in_group).await.0, StatusCode::OK);
    crate::history::to_next_hour(&source);
    let exported = hour_records(&source, hour_start).await;
    assert_eq!(exported.len(), 9);
    for (record, body) in exported.iter().zip(vendor_bodies()) {
        assert_eq!(record["payload"]["bodies"][0], body, "kept and returned as sent");
    }

    // Each record, as the export wrote it, into another app.
    let target = spawn_app_with(Storage::fresh().await, |_| {}).await;
    target.register(&["alice", "bob"]).await;
    target.clock.advance_ms(source.clock.now_ms() - target.clock.now_ms());
    let new_group = crate::groups::create_group(&target, "alice", &["bob"], json!({})).await;
    for record in &exported {
        let body = record["payload"]["bodies"][0].clone();
        let (path, to) = match record["chat_type"].as_str().unwrap() {
            "chat" => ("/messages/users/import", record["to"].clone()),
            _ => ("/messages/chatgroups/import", json!(new_group)),
        };
        let import = json!({"from": record["from"], "target": to, "type": body["type"], "body": body, "ext": record["payload"]["ext"], "msg_timestamp": record["timestamp"]});
        let (status, answer) = target.post(path, import).await;
        assert_eq!(status, StatusCode::OK, "{record}: {answer}");
    }
    let mut imported = hour_records(&target, hour_start).await;
    let last = imported.last_mut().unwrap();
    assert_eq!(last["to"], new_group);
    last["to"] = json!(group);
    last["payload"]["to"] = json!(group);
    assert_eq!(imported, exported, "the same history");
}
