//! The real-time client gateway. Each wire protocol lives in its own module
//! and drives a [`confab_core::gateway::Session`]; today that is confab's own
//! JSON protocol (`json`), and the clouds' SDK protocols will sit beside it.

mod driver;
mod json;

use axum::routing::get;
use axum::Router;

/// What every gateway connection can reach: the server's one state.
pub(crate) type State = crate::state::AppState;

pub fn router(state: State) -> Router {
    Router::new().route(confab_protocol::PATH, get(json::upgrade)).with_state(state)
}
