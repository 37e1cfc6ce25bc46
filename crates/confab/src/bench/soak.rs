//! The soak (`--soak-secs`): the latency phase's open loop at the same rate
//! for much longer. What a short phase cannot show shows here: memory that
//! grows with every message, queues that fall behind, tails that lengthen as
//! the database grows. Per window (a minute, or a tenth of a shorter run):
//! the p99 of the messages sent in it, and the servers' resident memory at
//! its end, with what of it the storage engine holds; then each figure's
//! slope over the run (least squares), and how many acknowledged sends never
//! arrived.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::Latency;

pub(super) async fn report(
    run: impl Future<Output = anyhow::Result<Latency>>,
    http: &reqwest::Client,
    servers: &[(confab_client::Endpoint, u32)],
    soak_secs: u64,
) -> anyhow::Result<()> {
    let window = Duration::from_secs((soak_secs / 10).clamp(1, 60));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (done, http, servers) = (done.clone(), http.clone(), servers.to_vec());
        tokio::spawn(async move {
            // Summed over the servers, at each window's end.
            let mut memory: Vec<super::Memory> = Vec::new();
            let mut ticks = tokio::time::interval(window);
            ticks.tick().await;
            while !done.load(Ordering::Relaxed) {
                ticks.tick().await;
                let mut total = super::Memory { resident_kib: 0, engine_kib: 0 };
                for (endpoint, pid) in &servers {
                    if let Ok(m) = super::memory(&http, endpoint, *pid).await {
                        total.resident_kib += m.resident_kib;
                        total.engine_kib += m.engine_kib;
                    }
                }
                memory.push(total);
            }
            memory
        })
    };
    let latency = run.await;
    done.store(true, Ordering::Relaxed);
    let memory = sampler.await?;
    let latency = latency?;

    let windows = (soak_secs / window.as_secs()).max(1) as usize;
    let mut by_window: Vec<Vec<u64>> = vec![Vec::new(); windows];
    for (sent_us, took_us) in &latency.by_send_time {
        let at = (*sent_us / window.as_micros() as u64) as usize;
        by_window[at.min(windows - 1)].push(*took_us);
    }
    let p99_ms: Vec<f64> = by_window
        .iter_mut()
        .map(|samples| {
            samples.sort_unstable();
            super::quantile(samples, 0.99).unwrap_or(0) as f64 / 1000.0
        })
        .collect();
    println!(
        "soak: {} s at {:.0} sends/s, {} of {} received ({} lost); per {} s window:",
        soak_secs,
        latency.achieved_rate,
        latency.received,
        latency.sent,
        latency.sent.saturating_sub(latency.received as u64),
        window.as_secs()
    );
    for (i, p99) in p99_ms.iter().enumerate() {
        let rss = memory.get(i).map_or("".to_owned(), |m| {
            format!(
                ", RSS {:.1} MiB (storage engine {:.1} MiB)",
                m.resident_kib as f64 / 1024.0,
                m.engine_kib as f64 / 1024.0
            )
        });
        println!("  window {:>3}: {:>6} messages, p99 {p99:.2} ms{rss}", i + 1, by_window[i].len());
    }
    let per_minute = 60.0 / window.as_secs_f64();
    let rss_mib: Vec<f64> = memory.iter().map(|m| m.resident_kib as f64 / 1024.0).collect();
    println!(
        "  slopes: p99 {:+.3} ms per minute, RSS {:+.2} MiB per minute (p50 over the whole soak {:.2} ms, p99 {:.2} ms)",
        slope(&p99_ms) * per_minute,
        slope(&rss_mib) * per_minute,
        latency.p50_ms,
        latency.p99_ms
    );
    Ok(())
}

/// The least-squares slope of `values` over their index (0 for fewer than two).
fn slope(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    if values.len() < 2 {
        return 0.0;
    }
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = values.iter().sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, y) in values.iter().enumerate() {
        let dx = i as f64 - mean_x;
        num += dx * (y - mean_y);
        den += dx * dx;
    }
    num / den
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_slope_is_the_least_squares_one() {
        assert_eq!(super::slope(&[]), 0.0);
        assert_eq!(super::slope(&[5.0]), 0.0);
        assert!((super::slope(&[1.0, 3.0, 5.0, 7.0]) - 2.0).abs() < 1e-9);
        assert!(super::slope(&[4.0, 4.0, 4.0]).abs() < 1e-9);
    }
}
