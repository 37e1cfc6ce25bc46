//! CORS for the REST endpoints that the clouds' browser SDKs call
//! themselves (Easemob's web SDK asks for its token, group and contact
//! lists from the page). Any origin, because the SDK runs on the app's own
//! pages, wherever they are served: these calls carry a bearer token, not
//! cookies, so no credentials are allowed and an origin gains nothing it
//! could not do with the token. tower-http's layer answers the preflight
//! (`OPTIONS` with `Access-Control-Request-Method`) without reaching a
//! handler, so a preflight costs no app budget.

use std::time::Duration;

use tower_http::cors::{Any, CorsLayer};

/// How long a browser may reuse a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

pub fn any_origin() -> CorsLayer {
    CorsLayer::new().allow_origin(Any).allow_methods(Any).allow_headers(Any).max_age(PREFLIGHT_MAX_AGE)
}
