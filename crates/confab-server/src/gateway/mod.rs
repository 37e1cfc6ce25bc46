//! The real-time client gateway. Each wire protocol lives in its own module
//! and drives a [`confab_core::gateway::Session`] through `driver.rs`, which
//! holds everything protocols share: confab's own JSON protocol (`json`,
//! `/ws`) and LeanCloud's SDK protocol (`leancloud`, `/` with its
//! subprotocols) and Easemob's msync (`easemob`, `/websocket`).

mod driver;
mod easemob;
mod json;
mod leancloud;

/// Easemob's msync messages, for tests and tools that speak it.
pub mod easemob_proto {
    pub use super::easemob::proto::*;
}

/// Stored messages as Easemob's msync metas, for the REST calls the SDK
/// makes that answer with them (history roaming).
pub mod easemob_metas {
    pub use super::easemob::{message_meta, GROUP_DOMAIN, USER_DOMAIN};
}

/// LeanCloud's `lc.protobuf2.3` commands, for tests and tools that speak it.
pub mod leancloud_proto {
    pub use super::leancloud::proto::*;
}

use axum::routing::get;
use axum::Router;

/// What every gateway connection can reach: the server's one state.
pub(crate) type State = crate::state::AppState;

pub fn router(state: State) -> Router {
    Router::new()
        .route(confab_protocol::PATH, get(json::upgrade))
        // LeanCloud's SDK connects where the dialect's `/v1/route` sends it.
        .route("/", get(leancloud::upgrade))
        // Easemob's SDK connects to the `url` it is given, by convention
        // `ws(s)://host/websocket`.
        .route("/websocket", get(easemob::upgrade))
        .with_state(state)
}
