//! The LeanCloud SDK protocol (`lc.protobuf2.3`) beside the JSON one: send →
//! receive latency through it and its idle memory per connection, in the same
//! run. The bench speaks the protocol as the SDK does (plain `session open`,
//! `ack` by conversation and time) with the server's own schema.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use serde_json::{json, Value};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::open_loop;
use confab_server::leancloud_proto::{AckCommand, CommandType, GenericCommand, OpType, SessionCommand};

pub const APP_ID: &str = "benchLeanCloudApp";
pub const APP_KEY: &str = "bench-lc-key";
pub const MASTER_KEY: &str = "bench-lc-master";

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a session for `client` on `addr` (`ip:port`).
async fn open(addr: &str, client: &str) -> anyhow::Result<Socket> {
    let mut request = format!("ws://{addr}/").into_client_request()?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", "lc.protobuf2.3".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let open = GenericCommand {
        cmd: Some(CommandType::Session as i32),
        op: Some(OpType::Open as i32),
        app_id: Some(APP_ID.into()),
        peer_id: Some(client.into()),
        i: Some(1),
        session_message: Some(SessionCommand { ua: Some("confab-bench".into()), ..Default::default() }),
        ..Default::default()
    };
    socket.send(WsMessage::Binary(open.encode_to_vec().into())).await?;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .context("no answer to session open")?
            .context("closed before the session opened")??;
        let WsMessage::Binary(bytes) = frame else { continue };
        let answer = GenericCommand::decode(bytes.as_ref())?;
        if answer.op == Some(OpType::Opened as i32) {
            return Ok(socket);
        }
        anyhow::bail!("session refused: {answer:?}");
    }
}

/// Opens sessions for every client, a few at a time.
async fn open_all(addr: &str, clients: &[String]) -> anyhow::Result<Vec<Socket>> {
    let mut sockets = Vec::with_capacity(clients.len());
    for chunk in clients.chunks(64) {
        let opened = futures_util::future::join_all(chunk.iter().map(|c| open(addr, c))).await;
        for socket in opened {
            sockets.push(socket?);
        }
    }
    Ok(sockets)
}

/// A LeanCloud REST call with the master key.
pub(super) async fn rest(http: &reqwest::Client, addr: &str, path: &str, body: Value) -> anyhow::Result<Value> {
    let answer = http
        .post(format!("http://{addr}{path}"))
        .header("X-LC-Id", APP_ID)
        .header("X-LC-Key", format!("{MASTER_KEY},master"))
        .json(&body)
        .send()
        .await?;
    let status = answer.status();
    let body: Value = answer.json().await?;
    anyhow::ensure!(status.is_success(), "{path}: {status} {body}");
    Ok(body)
}

/// Open loop at `rate` sends/s through the LeanCloud REST API to
/// conversations of one receiver and the sender each; the receivers speak
/// `lc.protobuf2.3` and acknowledge as the SDK does.
pub async fn latency(
    http: &reqwest::Client,
    addr: &str,
    receivers: usize,
    concurrency: usize,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<open_loop::Latency> {
    let names: Vec<String> = (0..receivers).map(|i| format!("lc-receiver-{i}")).collect();
    let mut cids = Vec::with_capacity(receivers);
    for name in &names {
        let made =
            rest(http, addr, "/1.2/rtm/conversations", json!({"name": "bench", "m": [name, "lc-sender"]})).await?;
        cids.push(made["objectId"].as_str().context("no conversation ID")?.to_owned());
    }
    let sockets = open_all(addr, &names).await?;
    let epoch = Instant::now();

    let mut listeners = JoinSet::new();
    for mut socket in sockets {
        listeners.spawn(async move {
            let mut samples: Vec<u64> = Vec::new();
            while let Some(Ok(frame)) = socket.next().await {
                let WsMessage::Binary(bytes) = frame else { continue };
                let Ok(command) = GenericCommand::decode(bytes.as_ref()) else { continue };
                let Some(direct) = command.direct_message else { continue };
                let Some(sent_us) =
                    direct.msg.as_deref().and_then(|m| m.strip_prefix("t:")).and_then(|t| t.parse::<u64>().ok())
                else {
                    continue;
                };
                let ack = GenericCommand {
                    cmd: Some(CommandType::Ack as i32),
                    ack_message: Some(AckCommand { cid: direct.cid, tots: direct.timestamp, ..Default::default() }),
                    ..Default::default()
                };
                if socket.send(WsMessage::Binary(ack.encode_to_vec().into())).await.is_err() {
                    break;
                }
                if sent_us == u64::MAX {
                    break;
                }
                samples.push(epoch.elapsed().as_micros() as u64 - sent_us);
            }
            anyhow::Ok(samples)
        });
    }

    let send = {
        let (http, addr, cids) = (http.clone(), addr.to_owned(), Arc::new(cids.clone()));
        move |n: usize, t: u64| {
            let (http, addr, cids) = (http.clone(), addr.clone(), cids.clone());
            async move {
                let path = format!("/1.2/rtm/conversations/{}/messages", cids[n % cids.len()]);
                let body = json!({"from_client": "lc-sender", "message": format!("t:{t}")});
                rest(&http, &addr, &path, body).await.is_ok()
            }
        }
    };
    let (sent, achieved_rate) = open_loop::send_at(concurrency, rate, duration, epoch, send).await?;
    for cid in &cids {
        let path = format!("/1.2/rtm/conversations/{cid}/messages");
        rest(http, addr, &path, json!({"from_client": "lc-sender", "message": format!("t:{}", u64::MAX)})).await?;
    }
    open_loop::gather(listeners, sent, achieved_rate, "LeanCloud receivers").await
}

/// Resident memory per idle `lc.protobuf2.3` session, in KiB, and the
/// sessions, which the caller holds while it measures the next protocol.
pub async fn idle_memory(
    http: &reqwest::Client,
    endpoint: &confab_client::Endpoint,
    app_token: &str,
    pid: u32,
    count: usize,
) -> anyhow::Result<(super::PerSession, Vec<Socket>)> {
    let names: Vec<String> = (0..count).map(|i| format!("lc-idle-{i}")).collect();
    // The clients exist before the baseline, as the JSON phase's users do
    // (the vendor's clients need no registration: a first open creates
    // them; here a token by ID does, which hashes nothing). Opening them all
    // once instead would free as much as the measured opens then take.
    for chunk in names.chunks(64) {
        let made = chunk.iter().map(|name| endpoint.user_token_by_id(http, app_token, name));
        for made in futures_util::future::join_all(made).await {
            made?;
        }
    }
    // A first batch in and out, so what the open path keeps for good is in the baseline.
    drop(open_all(&endpoint.addr, &names[..names.len().min(64)]).await?);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = super::memory(http, endpoint, pid).await?;
    let sockets = open_all(&endpoint.addr, &names).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = super::memory(http, endpoint, pid).await?;
    Ok((super::PerSession::between(before, after, count), sockets))
}
