//! What the SDK-protocol latency phases share: an open loop of sends at a
//! fixed rate, and the receivers' samples turned into percentiles.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::task::JoinSet;

/// Latency through one protocol.
pub struct Latency {
    pub achieved_rate: f64,
    pub sent: u64,
    pub received: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Sends at `rate` per second for `duration`, by up to `concurrency`
/// workers staggered evenly (not in bursts). `send(n, t)` makes the `n`-th
/// send, stamped `t` µs after `epoch`, and says whether it succeeded.
/// Returns how many succeeded and the rate achieved.
pub async fn send_at<F, Fut>(
    concurrency: usize,
    rate: f64,
    duration: Duration,
    epoch: Instant,
    send: F,
) -> anyhow::Result<(u64, f64)>
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let sent = Arc::new(AtomicU64::new(0));
    let workers = concurrency.min((rate as usize).max(1));
    let interval = Duration::from_secs_f64(workers as f64 / rate);
    let started = Instant::now();
    let mut senders = JoinSet::new();
    for worker in 0..workers {
        let (send, sent) = (send.clone(), sent.clone());
        senders.spawn(async move {
            let offset = interval.mul_f64(worker as f64 / workers as f64);
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut n = worker;
            while started.elapsed() < duration {
                ticks.tick().await;
                let t = epoch.elapsed().as_micros() as u64;
                if send(n, t).await {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                n += workers;
            }
        });
    }
    while let Some(done) = senders.join_next().await {
        done?;
    }
    let sent = sent.load(Ordering::Relaxed);
    Ok((sent, sent as f64 / started.elapsed().as_secs_f64()))
}

/// Waits (30 s at most) for every receiver's samples (µs), and makes the
/// figures of them.
pub async fn gather(
    mut listeners: JoinSet<anyhow::Result<Vec<u64>>>,
    sent: u64,
    achieved_rate: f64,
    who: &str,
) -> anyhow::Result<Latency> {
    let mut samples = Vec::new();
    let collect = async {
        while let Some(done) = listeners.join_next().await {
            samples.extend(done??);
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(30), collect).await.with_context(|| format!("{who} did not finish"))??;
    samples.sort_unstable();
    let pick = |q: f64| super::quantile(&samples, q).unwrap_or(0) as f64 / 1000.0;
    Ok(Latency { achieved_rate, sent, received: samples.len(), p50_ms: pick(0.50), p99_ms: pick(0.99) })
}
