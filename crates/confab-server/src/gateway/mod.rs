//! The real-time client gateway. Each wire protocol lives in its own module
//! and drives a [`confab_core::gateway::Session`]; today that is confab's own
//! JSON protocol (`json`), and the clouds' SDK protocols will sit beside it.

mod json;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use confab_core::Core;

pub fn router(core: Arc<Core>) -> Router {
    Router::new().route(confab_protocol::PATH, get(json::upgrade)).with_state(core)
}
