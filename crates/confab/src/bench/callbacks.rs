//! The cost of post-send callbacks: persisted sends/s with a post-send URL
//! set, against without, in one run, with a local stand-in for the app's
//! server that takes every post; and how fast the posts keep up.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    super::app_command(data_dir, database_url, "callbacks", &["--post-send-url", &url])?;
    let before = taken.load(Ordering::Relaxed);
    let started = Instant::now();
    let on = super::throughput(http, endpoints, token, concurrency, duration, super::OFFLINE).await?;
    let phase = started.elapsed();
    let posted = taken.load(Ordering::Relaxed) - before;
    let sent = (on.per_sec * phase.as_secs_f64()).round() as u64;
    let caught_up_after = super::caught_up(&taken, before, sent).await;
    super::app_command(data_dir, database_url, "callbacks", &["--post-send-url", ""])?;
    Ok(Figures {
        off_per_sec: off.per_sec,
        on_per_sec: on.per_sec,
        posted_per_sec: posted as f64 / phase.as_secs_f64(),
        caught_up_after,
    })
}
