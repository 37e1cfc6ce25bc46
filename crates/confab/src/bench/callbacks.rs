//! The cost of post-send callbacks: persisted sends/s with a post-send URL
//! set, against without, in one run, with a local stand-in for the app's
//! server that takes every post; and how fast the posts keep up.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use confab_client::Endpoint;

pub struct Figures {
    pub off_per_sec: f64,
    pub on_per_sec: f64,
    /// Posts the app's server took during the measured phase, per second.
    pub posted_per_sec: f64,
    /// How long after the phase the posts caught up with the sends (`None`: not within 60 s).
    pub caught_up_after: Option<Duration>,
}

/// The app's server: takes every post, counting them.
async fn stand_in() -> anyhow::Result<(String, Arc<AtomicU64>)> {
    let taken = Arc::new(AtomicU64::new(0));
    let count = taken.clone();
    let router = axum::Router::new().fallback(axum::routing::post(move || {
        count.fetch_add(1, Ordering::Relaxed);
        async { axum::http::StatusCode::OK }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/post", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((url, taken))
}

/// `confab app callbacks` on the server's data.
fn set_post_send(data_dir: &Path, database_url: Option<&str>, url: &str) -> anyhow::Result<()> {
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command.args(["app", "callbacks", "--org", super::ORG, "--app", super::APP, "--post-send-url", url]);
    command.env("CONFAB_DATA_DIR", data_dir).env_remove("CONFAB_DATABASE_URL");
    if let Some(database_url) = database_url {
        command.env("CONFAB_DATABASE_URL", database_url);
    }
    let out = command.output().context("cannot run confab app callbacks")?;
    anyhow::ensure!(out.status.success(), "confab app callbacks: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

pub async fn post_send(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    token: &str,
    concurrency: usize,
    duration: Duration,
    data_dir: &Path,
    database_url: Option<&str>,
) -> anyhow::Result<Figures> {
    let (url, taken) = stand_in().await?;
    let endpoints = std::slice::from_ref(endpoint);
    let off = super::throughput(http, endpoints, token, concurrency, duration, super::OFFLINE).await?;
    set_post_send(data_dir, database_url, &url)?;
    let before = taken.load(Ordering::Relaxed);
    let started = Instant::now();
    let on = super::throughput(http, endpoints, token, concurrency, duration, super::OFFLINE).await?;
    let phase = started.elapsed();
    let posted = taken.load(Ordering::Relaxed) - before;
    let sent = (on.per_sec * phase.as_secs_f64()).round() as u64;
    let ended = Instant::now();
    let mut caught_up_after = None;
    while ended.elapsed() < Duration::from_secs(60) {
        if taken.load(Ordering::Relaxed) - before >= sent {
            caught_up_after = Some(ended.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    set_post_send(data_dir, database_url, "")?;
    Ok(Figures {
        off_per_sec: off.per_sec,
        on_per_sec: on.per_sec,
        posted_per_sec: posted as f64 / phase.as_secs_f64(),
        caught_up_after,
    })
}
