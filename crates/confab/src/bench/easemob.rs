//! Easemob's msync beside the JSON protocol: send → receive latency through
//! it and its idle memory per connection, in the same run. The receivers
//! speak msync as the web SDK does (PROVISION with a user token; on a
//! NOTICE, pull the queue; acknowledge each batch with its key on the next
//! pull) with the server's own schema; the sends are the same Easemob REST
//! sends as the JSON phase's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use serde_json::json;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::open_loop;
use confab_client::Endpoint;
use confab_server::easemob_proto::msync::Command;
use confab_server::easemob_proto::{CommNotice, CommSyncDL, CommSyncUL, Jid, MSync, MessageBody, Provision};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn envelope(command: Command, payload: Vec<u8>) -> WsMessage {
    let msync = MSync { command: Some(command as i32), payload: Some(payload), ..Default::default() };
    WsMessage::Binary(msync.encode_to_vec().into())
}

/// Logs `user` in over msync with `token`.
async fn provision(endpoint: &Endpoint, user: &str, token: &str) -> anyhow::Result<Socket> {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/websocket", endpoint.addr)).await?;
    let app_key = format!("{}#{}", endpoint.org, endpoint.app);
    let guid = Jid {
        app_key: Some(app_key),
        name: Some(user.into()),
        domain: Some("easemob.com".into()),
        client_resource: None,
    };
    let provision = Provision { resource: Some(format!("bench_{user}")), ..Default::default() };
    let login = MSync {
        command: Some(Command::Provision as i32),
        guid: Some(guid),
        auth: Some(format!("$t${token}")),
        payload: Some(provision.encode_to_vec()),
        ..Default::default()
    };
    socket.send(WsMessage::Binary(login.encode_to_vec().into())).await?;
    let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
        .await
        .context("no answer to PROVISION")?
        .context("closed before the login")??;
    let WsMessage::Binary(bytes) = frame else { anyhow::bail!("not a binary frame") };
    let answer = Provision::decode(MSync::decode(bytes.as_ref())?.payload.unwrap_or_default().as_slice())?;
    anyhow::ensure!(answer.status.and_then(|s| s.error_code) == Some(0), "login refused");
    Ok(socket)
}

/// How the msync users get their tokens.
#[derive(Clone, Copy)]
enum Login<'a> {
    /// With the app's token, by user ID: no password hashing in the way.
    ById(&'a str),
    /// By password, as the SDK's `loginWithPassword` does (one Argon2id
    /// verification each).
    Password,
}

/// A token for each of `names`, then a login each, a few at a time.
async fn log_in_all(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    login: Login<'_>,
    names: &[String],
) -> anyhow::Result<Vec<Socket>> {
    let mut sockets = Vec::with_capacity(names.len());
    for chunk in names.chunks(64) {
        let logins = chunk.iter().map(|name| async move {
            let token = match login {
                Login::ById(app_token) => endpoint.user_token_by_id(http, app_token, name).await?,
                Login::Password => endpoint.user_token(http, name, super::PASSWORD).await?,
            };
            provision(endpoint, name, &token).await
        });
        for socket in futures_util::future::join_all(logins).await {
            sockets.push(socket?);
        }
    }
    Ok(sockets)
}

/// Receives as the SDK does until the message `done`; the latency of each
/// message stamped `t` (µs since `epoch`).
async fn receive(mut socket: Socket, epoch: Instant) -> anyhow::Result<Vec<u64>> {
    let mut samples = Vec::new();
    while let Some(frame) = socket.next().await {
        let WsMessage::Binary(bytes) = frame? else { continue };
        let msync = MSync::decode(bytes.as_ref())?;
        let payload = msync.payload.unwrap_or_default();
        let pull = |queue: Jid, key: Option<u64>| {
            envelope(Command::Sync, CommSyncUL { queue: Some(queue), key, ..Default::default() }.encode_to_vec())
        };
        match msync.command.and_then(|c| Command::try_from(c).ok()) {
            Some(Command::Notice) => {
                let queue = CommNotice::decode(payload.as_slice())?.queue.context("a notice names its queue")?;
                socket.send(pull(queue, None)).await?;
            }
            Some(Command::Sync) => {
                let batch = CommSyncDL::decode(payload.as_slice())?;
                if batch.metas.is_empty() {
                    continue;
                }
                let mut done = false;
                for meta in &batch.metas {
                    let body = MessageBody::decode(meta.payload.as_deref().unwrap_or_default())?;
                    if body.contents.first().and_then(|c| c.text.as_deref()) == Some("done") {
                        done = true;
                    }
                    let stamp =
                        body.ext.iter().find(|kv| kv.key.as_deref() == Some("t")).and_then(|kv| kv.varint_value);
                    if let Some(sent_us) = stamp {
                        samples.push((epoch.elapsed().as_micros() as u64).saturating_sub(sent_us as u64));
                    }
                }
                let queue = batch.queue.context("a batch names its queue")?;
                socket.send(pull(queue, batch.next_key)).await?;
                if done {
                    return Ok(samples);
                }
            }
            _ => {}
        }
    }
    Ok(samples)
}

/// Open loop at `rate` sends/s through the Easemob REST API to `receivers`
/// users who speak msync.
pub async fn latency(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    app_token: &str,
    receivers: usize,
    concurrency: usize,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<open_loop::Latency> {
    let names: Vec<String> = (0..receivers).map(|i| format!("msync-receiver-{i}")).collect();
    let sockets = log_in_all(http, endpoint, Login::ById(app_token), &names).await?;
    let epoch = Instant::now();
    let mut listeners = JoinSet::new();
    for socket in sockets {
        listeners.spawn(receive(socket, epoch));
    }

    let url = format!("{}/messages/users", endpoint.http_base());
    let send = {
        let (http, url, token, names) = (http.clone(), url.clone(), app_token.to_owned(), Arc::new(names.clone()));
        move |n: usize, t: u64| {
            let (http, url, token, names) = (http.clone(), url.clone(), token.clone(), names.clone());
            async move {
                let to = &names[n % names.len()];
                let body = json!({"from": "bench-sender", "to": [to], "type": "txt", "body": {"msg": "ping"}, "ext": {"t": t}});
                let answer = http.post(&url).bearer_auth(&token).json(&body).send().await;
                answer.is_ok_and(|r| r.status().is_success())
            }
        }
    };
    let (sent, achieved_rate) = open_loop::send_at(concurrency, rate, duration, epoch, send).await?;
    for chunk in names.chunks(600) {
        let body = json!({"from": "bench-sender", "to": chunk, "type": "txt", "body": {"msg": "done"}});
        http.post(&url).bearer_auth(app_token).json(&body).send().await?;
    }
    open_loop::gather(listeners, sent, achieved_rate, "msync receivers").await
}

/// Resident memory per idle msync session, in KiB, and the sessions: the
/// caller holds them while it measures the next protocol, so that what they
/// use is not handed to it. The users log in by password, as the SDK's users
/// do, so what the hashing leaves behind is measured too.
pub async fn idle_memory(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    app_token: &str,
    pid: u32,
    count: usize,
) -> anyhow::Result<(super::PerSession, Vec<Socket>)> {
    let names: Vec<String> = (0..count).map(|i| format!("msync-idle-{i}")).collect();
    super::register(http, endpoint, app_token, &names).await?;
    // A first batch logs in and out before the baseline, as the JSON phase
    // does, so that what the login path keeps for good is not per session.
    drop(log_in_all(http, endpoint, Login::Password, &names[..names.len().min(64)]).await?);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = super::memory(http, endpoint, pid).await?;
    let sockets = log_in_all(http, endpoint, Login::Password, &names).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = super::memory(http, endpoint, pid).await?;
    Ok((super::PerSession::between(before, after, count), sockets))
}
