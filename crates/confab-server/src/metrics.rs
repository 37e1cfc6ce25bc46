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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use serde::Serialize;

use confab_core::activity::{Activity, Buckets, BusStats, CommitStats};
use confab_core::Core;

use crate::limits::LimitLabels;
use crate::node::Node;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub dialect: &'static str,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub dialect: &'static str,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProtocolLabels {
    pub protocol: String,
}

type Latencies = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The gateway protocols' names, as the `protocol` label has them.
pub const PROTOCOLS: [&str; 3] = ["json", "leancloud", "easemob"];

/// The latency histograms' buckets: 0.25 ms doubling 16 times, to about 8 s.
const LATENCY_START: f64 = 0.000_25;
const LATENCY_BUCKETS: u16 = 16;
/// The same bounds, for the live view's one histogram of every request.
const LATENCY_BOUNDS: [f64; LATENCY_BUCKETS as usize] = {
    let mut bounds = [LATENCY_START; LATENCY_BUCKETS as usize];
    let mut i = 1;
    while i < bounds.len() {
        bounds[i] = bounds[i - 1] * 2.0;
        i += 1;
    }
    bounds
};

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(LATENCY_START, 2.0, LATENCY_BUCKETS))
}

/// Totals since the server started, for the console's live view: it takes
/// one every few seconds and shows the differences.
#[derive(Debug, Clone, Serialize)]
pub struct LiveTotals {
    /// Logged-in gateway sessions now, by protocol.
    pub sessions: BTreeMap<&'static str, i64>,
    /// Messages committed (every dialect and protocol).
    pub committed: u64,
    /// Messages handed to gateway sessions to write.
    pub deliveries: u64,
    /// Dialect requests answered.
    pub requests: u64,
    /// Request latency buckets: (upper bound in seconds, requests in it);
    /// the last bound is infinite, written as `null`.
    pub latency: Vec<(Option<f64>, u64)>,
}

/// What Prometheus reads from the core's own counters at each scrape: the
/// core, the storage engine and the bus count in plain atomics, and this
/// turns them into metrics.
#[derive(Debug)]
struct CoreActivity {
    activity: Arc<Activity>,
    commits: Option<Arc<CommitStats>>,
    bus: Option<Arc<BusStats>>,
}

fn encode_counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> Result<(), std::fmt::Error> {
    let counter = ConstCounter::new(value);
    let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
    counter.encode(metric)
}

fn encode_buckets(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    buckets: &Buckets,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
    metric.encode_histogram::<()>(buckets.sum(), buckets.count(), &buckets.read(), None)
}

impl Collector for CoreActivity {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let help = "Messages committed to storage, every dialect and protocol";
        encode_counter(&mut encoder, "messages_committed", help, self.activity.committed())?;
        let help = "Delivery acknowledgements from gateway clients (each covers one conversation up to a message)";
        encode_counter(&mut encoder, "gateway_acks", help, self.activity.acks())?;
        if let Some(commits) = &self.commits {
            let help = "Writes per storage group commit (SQLite: every write; PostgreSQL: appends)";
            encode_buckets(&mut encoder, "storage_commit_batch_size", help, &commits.batch_sizes)?;
            let help = "Time from a group's first write to its durable commit";
            encode_buckets(&mut encoder, "storage_commit_duration_seconds", help, &commits.seconds)?;
            let help = "Group commits that failed (their writes were refused)";
            encode_counter(&mut encoder, "storage_commit_failures", help, commits.failures())?;
            if let Some(engine) = commits.engine() {
                let help = "Bytes the storage engine holds in the server's memory (SQLite: page caches, statements)";
                let gauge = ConstGauge::new(i64::try_from(engine.memory_bytes()).unwrap_or(i64::MAX));
                let metric = encoder.encode_descriptor("storage_memory_bytes", help, None, gauge.metric_type())?;
                gauge.encode(metric)?;
                let help = "SQLite WAL checkpoints: by its own thread, or by the writer at a commit";
                let mut family = encoder.encode_descriptor("storage_checkpoints", help, None, MetricType::Counter)?;
                let counts = engine.checkpoints();
                for (by, count) in [("background", counts.background), ("writer", counts.writer)] {
                    ConstCounter::new(count).encode(family.encode_family(&[("by", by)])?)?;
                }
            }
        }
        if let Some(bus) = &self.bus {
            let (published, received) = bus.totals();
            encode_counter(&mut encoder, "nats_published", "Events this node published on NATS", published)?;
            encode_counter(&mut encoder, "nats_received", "Events from other nodes this node received", received)?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

/// The history-file job's runs.
pub struct ExportMetrics {
    runs: Family<OutcomeLabels, Counter>,
    seconds: Histogram,
    files: Counter,
}

impl ExportMetrics {
    /// A run that took `seconds`, wrote `files` files and succeeded or not.
    pub fn ran(&self, outcome: Outcome, seconds: f64, files: u64) {
        let outcome = match outcome {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
        };
        self.runs.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc();
        self.seconds.observe(seconds);
        self.files.inc_by(files);
    }
}

/// How a run of a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
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
    /// The history-file job's runs.
    pub exports: ExportMetrics,
    /// The callbacks to apps' servers.
    pub callbacks: Arc<crate::callbacks::Stats>,
    /// Offline pushes.
    pub push: Arc<crate::push::Stats>,
    /// Every dialect request's latency in one histogram, for the console's
    /// live view (Prometheus has the labelled ones).
    all_latencies: Buckets,
    activity: Arc<Activity>,
}

impl Metrics {
    /// The metrics, with `refusals` (kept by the rate limits) registered too,
    /// and what the core, its storage engine and its bus count.
    pub fn new(refusals: Family<LimitLabels, Counter>, core: &Core) -> Arc<Metrics> {
        let activity = core.activity.clone();
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
        registry.register_collector(Box::new(CoreActivity {
            activity: activity.clone(),
            commits: core.commits.clone(),
            bus: core.bus.clone(),
        }));
        let exports = ExportMetrics {
            runs: Family::default(),
            seconds: Histogram::new(exponential_buckets(0.001, 4.0, 10)),
            files: Counter::default(),
        };
        registry.register("history_export_runs", "Runs of the history-file job by outcome", exports.runs.clone());
        registry.register(
            "history_export_duration_seconds",
            "How long a run of the history-file job took",
            exports.seconds.clone(),
        );
        registry.register("history_export_files", "History files the job wrote", exports.files.clone());
        let callbacks = Arc::new(crate::callbacks::Stats::default());
        registry.register(
            "callback_pre_send",
            "Pre-send callbacks to apps' servers by outcome (pass, refuse, replace, failure)",
            callbacks.pre_send.clone(),
        );
        registry.register(
            "callback_post_send",
            "Post-send callbacks to apps' servers by outcome (delivered, failed)",
            callbacks.post_send.clone(),
        );
        let push = Arc::new(crate::push::Stats::default());
        registry.register(
            "push",
            "Offline pushes by provider and outcome (sent, retry, gone, failed, gave_up)",
            push.pushes.clone(),
        );
        registry.register(
            "push_skipped",
            "Receivers of a message not pushed to, by reason (acknowledged, muted, do_not_disturb, …)",
            push.skipped.clone(),
        );
        let all_latencies = Buckets::new(&LATENCY_BOUNDS);
        Arc::new(Metrics {
            callbacks,
            push,
            registry,
            requests,
            latencies,
            sessions,
            deliveries,
            sends,
            exports,
            all_latencies,
            activity,
        })
    }

    /// One request's figures. The labels own only the route (its template,
    /// already copied out of the request); the dialect is a constant and the
    /// status a number, so a request costs one allocation here, not four.
    fn observe(&self, dialect: &'static str, route: String, status: StatusCode, seconds: f64) {
        let route = RouteLabels { dialect, route };
        self.latencies.get_or_create(&route).observe(seconds);
        if dialect != "console" {
            // The live view is of the service, not of itself.
            self.all_latencies.observe(seconds);
        }
        let labels = RequestLabels { dialect, route: route.route, status: status.as_u16() };
        self.requests.get_or_create(&labels).inc();
    }

    /// Totals for the console's live view.
    pub fn live(&self) -> LiveTotals {
        let mut sessions = BTreeMap::new();
        let mut deliveries = 0;
        for protocol in PROTOCOLS {
            let labels = ProtocolLabels { protocol: protocol.to_owned() };
            sessions.insert(protocol, self.sessions.get_or_create(&labels).get());
            deliveries += self.deliveries.get_or_create(&labels).get();
        }
        let read = self.all_latencies.read();
        let latency = read.iter().map(|(bound, n)| ((*bound < f64::MAX).then_some(*bound), *n)).collect();
        LiveTotals {
            sessions,
            committed: self.activity.committed(),
            deliveries,
            requests: self.all_latencies.count(),
            latency,
        }
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
        metrics.observe(dialect, route, response.status(), started.elapsed().as_secs_f64());
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
