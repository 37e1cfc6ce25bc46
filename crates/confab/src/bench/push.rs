//! Offline push under load: persisted sends/s to users whose devices are
//! bound to APNs, with push on against off, in one run, with a local HTTP/2
//! stand-in for Apple's service that takes every push; and how many pushes
//! per second confab hands it.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use confab_client::Endpoint;
use serde_json::json;

use super::Receivers;

/// The users the phase sends to, each with one bound device.
const RECEIVERS: Receivers = Receivers { prefix: "pushed-", count: 100 };

pub struct Figures {
    pub off_per_sec: f64,
    pub on_per_sec: f64,
    /// Pushes the stand-in took during the measured phase, per second.
    pub pushed_per_sec: f64,
    /// How long after the phase the pushes caught up with the sends (`None`: not within 60 s).
    pub caught_up_after: Option<Duration>,
}

/// Apple's service, as far as confab can tell: HTTP/2, `POST
/// /3/device/{token}`, 200 with an empty body.
async fn stand_in() -> anyhow::Result<(String, Arc<AtomicU64>)> {
    let taken = Arc::new(AtomicU64::new(0));
    let count = taken.clone();
    // The body is read, as Apple does: a stream answered before its body
    // is read is reset, and enough resets make the client's connection fail.
    let router = axum::Router::new().fallback(axum::routing::post(move |_body: axum::body::Bytes| {
        count.fetch_add(1, Ordering::Relaxed);
        async { axum::http::StatusCode::OK }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((url, taken))
}

/// A throwaway P-256 key in the .p8 (PKCS#8 PEM) form Apple hands out.
fn throwaway_p8() -> anyhow::Result<String> {
    let rng = ring::rand::SystemRandom::new();
    let der = ring::signature::EcdsaKeyPair::generate_pkcs8(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| anyhow::anyhow!("cannot make a P-256 key"))?;
    let text = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = text.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect();
    Ok(format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n")))
}

pub async fn offline_push(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    token: &str,
    concurrency: usize,
    duration: Duration,
    data_dir: &Path,
    database_url: Option<&str>,
) -> anyhow::Result<Figures> {
    let (url, taken) = stand_in().await?;
    let names: Vec<String> = (0..RECEIVERS.count).map(|i| format!("{}{i}", RECEIVERS.prefix)).collect();
    super::register(http, endpoint, token, &names).await?;
    for name in &names {
        let binding = json!({"device_id": "phone", "device_token": format!("token-{name}"), "notifier_name": "apns"});
        let r = http
            .put(format!("{}/users/{name}/push/binding", endpoint.http_base()))
            .bearer_auth(token)
            .json(&binding)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "push binding failed: {}", r.text().await.unwrap_or_default());
    }
    let endpoints = std::slice::from_ref(endpoint);
    let off = super::throughput(http, endpoints, token, concurrency, duration, RECEIVERS).await?;
    let key_file = data_dir.join("bench-apns.p8");
    std::fs::write(&key_file, throwaway_p8()?)?;
    let key_file = key_file.to_string_lossy().into_owned();
    super::app_command(
        data_dir,
        database_url,
        "push",
        &[
            "--apns-key-file",
            &key_file,
            "--apns-key-id",
            "BENCHKEY01",
            "--apns-team-id",
            "BENCHTEAM1",
            "--apns-topic",
            "com.example.bench",
            "--apns-endpoint",
            &url,
            "--ack-wait-ms",
            "100",
        ],
    )?;
    // The server reads an app's push settings again every 2 s.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let before = taken.load(Ordering::Relaxed);
    let started = Instant::now();
    let on = super::throughput(http, endpoints, token, concurrency, duration, RECEIVERS).await?;
    let phase = started.elapsed();
    let pushed = taken.load(Ordering::Relaxed) - before;
    let sent = (on.per_sec * phase.as_secs_f64()).round() as u64;
    let caught_up_after = super::caught_up(&taken, before, sent).await;
    super::app_command(data_dir, database_url, "push", &["--clear"])?;
    Ok(Figures {
        off_per_sec: off.per_sec,
        on_per_sec: on.per_sec,
        pushed_per_sec: pushed as f64 / phase.as_secs_f64(),
        caught_up_after,
    })
}
