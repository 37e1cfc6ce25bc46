//! The state every router of the server shares: one value, built once by
//! `Application::build`, so what every request may need (and what an
//! exporter of metrics will read) is added in one place, not per dialect.

use std::sync::Arc;

use tokio::sync::Semaphore;

use confab_core::Core;

use crate::limits::RateLimits;
use crate::metrics::Metrics;
use crate::replay::NonceCache;

#[derive(Clone)]
pub struct AppState {
    pub core: Arc<Core>,
    /// Per-app and per-address budgets.
    pub limits: Arc<RateLimits>,
    /// One permit per open gateway session: `max_sessions` in all.
    pub sessions: Arc<Semaphore>,
    /// Signed requests seen recently (WildfireChat's signatures).
    pub nonces: Arc<NonceCache>,
    /// What `/metrics` shows.
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(core: Arc<Core>, limits: Arc<RateLimits>, max_sessions: usize) -> AppState {
        let metrics = Metrics::new(limits.refusals.clone(), &core);
        AppState {
            core,
            metrics,
            limits,
            sessions: Arc::new(Semaphore::new(max_sessions)),
            nonces: Arc::new(NonceCache::default()),
        }
    }
}
