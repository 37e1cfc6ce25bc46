//! Silent and slow connections (issue 13, section 3): a cap on connections in
//! all and per address, header and body read timeouts, on the main listener
//! and on `CONFAB_WILDFIRE_ADDR`'s.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;

use confab_server::config::{Config, EdgeSettings};
use confab_server::Application;

use crate::helpers::{next_nonce, Storage};

const SECRET: &str = "edge-secret";

/// A server with both listeners.
struct Server {
    addr: SocketAddr,
    wildfire: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    _storage: Storage,
}

async fn start(edge: EdgeSettings) -> Server {
    let storage = Storage::fresh().await;
    let mut config = Config {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        wildfire_addr: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: PathBuf::from(storage.data_dir.path()),
        database_url: storage.database_url.clone(),
        edge,
        ..Config::default()
    };
    config.first_app.wildfire_secret = Some(SECRET.into());
    let app = Application::build(config).await.expect("server builds");
    let (addr, wildfire) = (app.local_addr(), app.wildfire_addr().expect("wildfire listener"));
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(async move { app.run_until(stopped).await.expect("server runs") });
    Server { addr, wildfire, stop, task, _storage: storage }
}

impl Server {
    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

/// A TCP connection to `addr` from the loopback address `source`.
async fn connect_from(source: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Whether the server still holds this connection (nothing to read, no end of stream).
fn held(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(stream.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Sends `request` on a new connection and returns what came back.
async fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    read.expect("answered in time").unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// Reads until the server closes; returns how long that took (panics after `limit`).
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut sink = Vec::new();
    match tokio::time::timeout(limit, stream.read_to_end(&mut sink)).await {
        Ok(_) => started.elapsed(),
        Err(_) => panic!("the connection was still open after {limit:?}"),
    }
}

fn chrono_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
}

#[tokio::test]
async fn requests_are_served_while_hundreds_of_silent_connections_are_held() {
    let edge = EdgeSettings {
        max_connections: 300,
        max_connections_per_ip: 120,
        header_read_timeout_secs: 60,
        ..EdgeSettings::default()
    };
    let server = start(edge).await;
    // 250 silent connections from one address, 100 more to the WildfireChat port.
    let mut silent = Vec::new();
    for _ in 0..250 {
        silent.push(connect_from("127.0.0.2", server.addr).await);
    }
    for _ in 0..100 {
        silent.push(connect_from("127.0.0.2", server.wildfire).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let holding = silent.iter().filter(|s| held(s)).count();
    assert_eq!(holding, 120, "the address's cap, across both listeners");

    // Everyone else is served, on both listeners, at once.
    let answer = exchange(server.addr, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok"), "{answer}");
    let answer = exchange(
        server.wildfire,
        "POST /admin/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"code\":0"), "{answer}");

    // Two more addresses fill the global cap; a new connection then takes the
    // place of the oldest silent one, so the full server still serves.
    let mut more = Vec::new();
    for source in ["127.0.0.3", "127.0.0.4"] {
        for _ in 0..100 {
            more.push(connect_from(source, server.addr).await);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let holding = silent.iter().chain(&more).filter(|s| held(s)).count();
    assert_eq!(holding, 300, "the global cap");
    let started = Instant::now();
    let answer = exchange(server.addr, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(2), "served in {:?}", started.elapsed());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let holding = silent.iter().chain(&more).filter(|s| held(s)).count();
    assert_eq!(holding, 299, "one silent connection made room");
    // The newest silent ones stay; the oldest went first.
    assert!(held(more.last().unwrap()));
    assert!(!held(&silent[0]));

    // Closing silent connections gives their places back.
    drop(silent);
    drop(more);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answer = exchange(server.addr, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn silent_and_slow_connections_are_closed_after_their_timeouts() {
    let edge = EdgeSettings { header_read_timeout_secs: 1, body_read_timeout_secs: 1, ..EdgeSettings::default() };
    let server = start(edge).await;
    for addr in [server.addr, server.wildfire] {
        // Nothing at all.
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let took = closed_within(&mut stream, Duration::from_secs(4)).await;
        assert!(took >= Duration::from_millis(900), "closed after {took:?}");
        // Half the headers, then nothing.
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"POST /admin/health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        closed_within(&mut stream, Duration::from_secs(4)).await;
    }
    // A kept-alive connection that sends nothing after its first answer.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut first = [0u8; 512];
    let n = stream.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    closed_within(&mut stream, Duration::from_secs(4)).await;
    // A signed call whose body stops coming: refused after the body timeout, not held.
    use sha1::Digest;
    let (nonce, timestamp) = (next_nonce(), chrono_ms().to_string());
    let sign: String = sha1::Sha1::digest(format!("{nonce}|{SECRET}|{timestamp}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let head = format!(
        "POST /admin/user/get_info HTTP/1.1\r\nHost: x\r\nnonce: {nonce}\r\ntimestamp: {timestamp}\r\nsign: {sign}\r\nContent-Length: 100\r\n\r\n{{\"userId\""
    );
    let mut stream = TcpStream::connect(server.wildfire).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("closed in time")
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900), "answered after {:?}", started.elapsed());
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.contains("\"code\":251"), "{answer}");
    assert!(answer.contains("did not arrive in time"), "{answer}");
    server.stop().await;
}
