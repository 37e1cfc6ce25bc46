//! What an operator's Prometheus scrapes at `/metrics`, and the liveness and
//! readiness probes (`/healthz`, `/readyz`).
//!
//! One registry per server (never a global one, so that servers in one
//! process, as in the tests, count apart). Labels are bounded: a dialect, a
//! route template (never the path with its IDs), a status code, a protocol,
//! a limit's name. No user, app or conversation ID is ever a label.
//!
//! `prometheus-client` is the Prometheus project's own Rust client: typed
//! label sets, the text format, and no global state.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::limits::LimitLabels;
use crate::node::Node;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub dialect: String,
    pub route: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub dialect: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProtocolLabels {
    pub protocol: String,
}

type Latencies = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latencies: Latencies,
    /// Open gateway sessions (logged in), by protocol.
    pub sessions: Family<ProtocolLabels, Gauge>,
    /// Messages handed to gateway sessions to write, by protocol.
    pub deliveries: Family<ProtocolLabels, Counter>,
    /// Messages gateway clients sent that were accepted for sending, by protocol.
    pub sends: Family<ProtocolLabels, Counter>,
}

impl Metrics {
    /// The metrics, with `refusals` (kept by the rate limits) registered too.
    pub fn new(refusals: Family<LimitLabels, Counter>) -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("confab");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by dialect, route and status", requests.clone());
        let latencies: Latencies = Family::new_with_constructor(latency_histogram);
        registry.register("http_request_duration_seconds", "HTTP request latency", latencies.clone());
        let sessions = Family::<ProtocolLabels, Gauge>::default();
        registry.register("gateway_sessions", "Logged-in gateway sessions by protocol", sessions.clone());
        let deliveries = Family::<ProtocolLabels, Counter>::default();
        registry.register("gateway_deliveries", "Messages handed to gateway sessions", deliveries.clone());
        let sends = Family::<ProtocolLabels, Counter>::default();
        registry.register("gateway_sends", "Messages gateway clients sent within their budget", sends.clone());
        registry.register("rate_limit_refusals", "Requests and sends refused by a rate limit", refusals);
        Arc::new(Metrics { registry, requests, latencies, sessions, deliveries, sends })
    }

    fn observe(&self, dialect: &str, route: &str, status: StatusCode, seconds: f64) {
        let route = RouteLabels { dialect: dialect.to_owned(), route: route.to_owned() };
        self.latencies.get_or_create(&route).observe(seconds);
        let labels = RequestLabels { dialect: route.dialect, route: route.route, status: status.as_u16().to_string() };
        self.requests.get_or_create(&labels).inc();
    }

    /// The registry in Prometheus's text format (OpenMetrics).
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!("cannot encode the metrics: {e}");
        }
        text
    }
}

/// Counts and times a dialect's requests by route template. Applied with
/// `route_layer`, so only matched routes are counted (unknown paths would
/// make an unbounded label).
pub async fn track(
    State((metrics, dialect)): State<(Arc<Metrics>, &'static str)>,
    request: Request,
    next: Next,
) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    if let Some(route) = route {
        metrics.observe(dialect, &route, response.status(), started.elapsed().as_secs_f64());
    }
    response
}

/// `GET /metrics`.
pub async fn scrape(State(metrics): State<Arc<Metrics>>) -> Response {
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], metrics.render()).into_response()
}

/// `GET /healthz`: the process is up and serving.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: storage answers, and in a cluster NATS is connected;
/// 503 with what is not ready otherwise.
pub async fn readyz(State(node): State<Arc<Node>>) -> Response {
    match node.ready().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why).into_response(),
    }
}
