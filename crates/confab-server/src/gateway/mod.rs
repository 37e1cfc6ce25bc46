//! The real-time client gateway. Each wire protocol lives in its own module
//! and drives a [`confab_core::gateway::Session`]; today that is confab's own
//! JSON protocol (`json`), and the clouds' SDK protocols will sit beside it.

mod json;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use tokio::sync::Semaphore;

use confab_core::Core;

use crate::limits::RateLimits;

/// What every gateway connection can reach.
#[derive(Clone)]
pub struct State {
    pub core: Arc<Core>,
    pub limits: Arc<RateLimits>,
    /// One permit per open session: `max_sessions` in all.
    pub sessions: Arc<Semaphore>,
}

pub fn router(core: Arc<Core>, limits: Arc<RateLimits>, max_sessions: usize) -> Router {
    let sessions = Arc::new(Semaphore::new(max_sessions));
    Router::new().route(confab_protocol::PATH, get(json::upgrade)).with_state(State { core, limits, sessions })
}
