//! The logins phase: what password hashing costs. Registration hashes each
//! new password once; a password login verifies one hash. Both are
//! deliberately slow (Argon2id), so they, not storage, bound how fast users
//! can register and log in.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::JoinSet;

use confab_client::Endpoint;

use super::{register, PASSWORD};

/// A closed loop's outcome.
pub(super) struct Rate {
    pub done: u64,
    pub per_sec: f64,
    pub failures: u64,
}

/// Registers `users` users in batches of 60 (each password hashed once).
pub(super) async fn register_users(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    token: &str,
    users: usize,
) -> anyhow::Result<Rate> {
    let names: Vec<String> = (0..users).map(|i| format!("login-{i}")).collect();
    let started = Instant::now();
    register(http, endpoint, token, &names).await?;
    Ok(Rate { done: users as u64, per_sec: users as f64 / started.elapsed().as_secs_f64(), failures: 0 })
}

/// Logs the users [`register_users`] made in by password, from
/// `concurrency` workers for `duration` (each login verifies one hash).
pub(super) async fn log_in(
    http: &reqwest::Client,
    endpoints: &[Endpoint],
    users: usize,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Rate> {
    let ok = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for worker in 0..concurrency {
        let url = format!("{}/token", endpoints[worker % endpoints.len()].http_base());
        let (http, ok, failures) = (http.clone(), ok.clone(), failures.clone());
        workers.spawn(async move {
            let mut n = worker;
            while started.elapsed() < duration {
                let body =
                    json!({"grant_type": "password", "username": format!("login-{}", n % users), "password": PASSWORD});
                n += concurrency;
                match http.post(&url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failures.fetch_add(1, Ordering::Relaxed),
                };
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let done = ok.load(Ordering::Relaxed);
    Ok(Rate {
        done,
        per_sec: done as f64 / started.elapsed().as_secs_f64(),
        failures: failures.load(Ordering::Relaxed),
    })
}
