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

pub(super) struct Logins {
    pub registrations_per_sec: f64,
    pub logins_per_sec: f64,
    pub failures: u64,
}

/// Registers `users` users (in batches of 60), then logs them in by
/// password from `concurrency` workers for `duration`.
pub(super) async fn logins(
    http: &reqwest::Client,
    endpoints: &[Endpoint],
    token: &str,
    users: usize,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Logins> {
    let names: Vec<String> = (0..users).map(|i| format!("login-{i}")).collect();
    let started = Instant::now();
    register(http, &endpoints[0], token, &names).await?;
    let registrations_per_sec = users as f64 / started.elapsed().as_secs_f64();

    let ok = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let names = Arc::new(names);
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for worker in 0..concurrency {
        let url = format!("{}/token", endpoints[worker % endpoints.len()].http_base());
        let (http, names, ok, failures) = (http.clone(), names.clone(), ok.clone(), failures.clone());
        workers.spawn(async move {
            let mut n = worker;
            while started.elapsed() < duration {
                let body = json!({"grant_type": "password", "username": names[n % names.len()], "password": PASSWORD});
                n += concurrency;
                match http.post(&url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failures.fetch_add(1, Ordering::Relaxed),
                };
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let logins_per_sec = ok.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    Ok(Logins { registrations_per_sec, logins_per_sec, failures: failures.load(Ordering::Relaxed) })
}
