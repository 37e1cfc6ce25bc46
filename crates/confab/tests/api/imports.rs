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
