//! confab's network edge: the Easemob REST dialect and the WebSocket gateway,
//! assembled into one [`Application`] over the domain core.

mod background;
pub mod callbacks;
pub mod config;
mod console;
mod cors;
mod easemob;
pub mod fetch;
mod gateway;
pub mod push;
pub mod secret;
pub use gateway::{easemob_proto, leancloud_proto};
pub use signed_login::{login_signatures, set_login_signatures, LoginSignatures};
mod leancloud;
mod leancloud_data;
mod leancloud_model;
pub mod limits;
pub mod links;
mod metrics;
pub mod node;
pub mod openapi;
mod replay;
mod request_ids;
mod serve;
mod signed_login;
mod state;
mod wildfire;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use confab_core::clock::{Clock, SystemClock};
use confab_core::events::KickReason;
use confab_core::storage::{CredentialChange, Provisioned};
use confab_core::Core;

use config::Config;
use node::{Node, Role};

/// What this start found or made of the first app. Not `Debug`: it holds
/// secrets, which must never reach a log.
#[derive(Clone)]
pub struct FirstStart {
    /// Whether this start created the app (on a cluster, one node does).
    pub created: bool,
    /// Credentials this start made up and stored, by label, to be shown
    /// once: the values as stored, so every node shows what works.
    pub made_up: Vec<(&'static str, String)>,
    /// The app as stored after this start.
    pub app: confab_core::model::App,
    /// The console operator `admin`'s password, when this start made it up
    /// (the first start without `CONFAB_CONSOLE_PASSWORD`), to be shown once.
    pub console_password: Option<String>,
}

/// The console operator the server makes at first start.
pub const FIRST_OPERATOR: &str = "admin";

/// A built server: storage open, first app ensured, listener bound.
pub struct Application {
    listener: TcpListener,
    router: Router,
    /// `CONFAB_WILDFIRE_ADDR`'s listener and the router it serves.
    wildfire: Option<(TcpListener, Router)>,
    node: Arc<Node>,
    local_addr: SocketAddr,
    first_start: FirstStart,
    /// Background work that runs while the server does: hourly history
    /// exports, and the WildfireChat robots' callback relays.
    exports: (Arc<limits::RateLimits>, std::time::Duration, Arc<metrics::Metrics>),
    relays: Arc<wildfire::Relays>,
    /// What the post-send callbacks post with, and count in.
    post_send: (Arc<fetch::Fetcher>, Arc<callbacks::Stats>),
    /// What offline pushes count in.
    push: Arc<push::Stats>,
    /// Timeouts and caps for connections.
    connections: serve::Limits,
    /// The dialects' OpenAPI documents.
    documents: openapi::Documents,
}

impl Application {
    /// Builds the server with the system clock.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Builds the server with a given clock (tests move time with it).
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Application> {
        let node = Arc::new(Node::open(&config, clock, Role::Server).await?);
        let core = node.core.clone();
        let mut first_start = ensure_first_app(&core, &config).await?;
        first_start.console_password = ensure_operator(&core, &config).await?;
        apply_first_app_callbacks(&core, &config, first_start.app.id).await?;
        if config.push.any() {
            let mut settings = push::settings(&core, first_start.app.id).await?;
            config.push.apply(&mut settings).map_err(|e| anyhow::anyhow!("CONFAB_PUSH_*: {e}"))?;
            push::set_settings(&core, first_start.app.id, &settings).await?;
        }
        let listener = TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.http_addr))?;
        let local_addr = listener.local_addr()?;
        let limits =
            Arc::new(limits::RateLimits::new(config.rate_limits.clone(), config.edge.auth_failures_per_minute));
        let connections = serve::Limits::from_settings(&config.edge);
        let fetcher = Arc::new(fetch::Fetcher::new(config.fetch_allow_private.clone())?);
        let state = state::AppState::new(core.clone(), limits.clone(), connections.max_sessions);
        let relays = wildfire::Relays::new(fetcher.clone());
        let metrics = state.metrics.clone();
        // The app's server's say over messages, for every dialect and protocol.
        let callback_stats = metrics.callbacks.clone();
        core.set_send_gate(Arc::new(callbacks::Gate::new(&core, fetcher.clone(), callback_stats.clone())));
        let post_send = (fetcher.clone(), callback_stats);
        let push = metrics.push.clone();
        let tracked = |router: Router, dialect: &'static str| {
            router.route_layer(axum::middleware::from_fn_with_state((metrics.clone(), dialect), metrics::track))
        };
        let (easemob, wildfire, leancloud) = (
            easemob::router(state.clone()),
            wildfire::router(state.clone(), relays.clone()),
            leancloud::router(state.clone()),
        );
        // The documents list what the routers really serve.
        let documents = openapi::Documents::new(&[
            ("easemob", openapi::routes_of(&easemob)),
            ("wildfire", openapi::routes_of(&wildfire)),
            ("leancloud", openapi::routes_of(&leancloud)),
        ]);
        let dialects = Dialects {
            easemob: tracked(easemob, "easemob"),
            wildfire: tracked(wildfire, "wildfire"),
            leancloud: tracked(leancloud, "leancloud"),
        };
        let exports =
            (limits.clone(), std::time::Duration::from_secs(config.history_export_secs), state.metrics.clone());
        // What handlers that write links or fetch URLs need from the configuration.
        let public_url = axum::Extension(links::PublicUrl::parse(config.public_url.as_deref())?);
        let fetcher = axum::Extension(fetcher);
        let probes = Router::new()
            .route("/health", axum::routing::get(metrics::healthz))
            .route("/healthz", axum::routing::get(metrics::healthz))
            .route("/readyz", axum::routing::get(metrics::readyz).with_state(node.clone()))
            .route("/metrics", axum::routing::get(metrics::scrape).with_state(metrics.clone()));
        let console = tracked(console::router(node.clone(), limits.clone(), metrics.clone()), "console");
        let router = tracked(gateway::router(state), "gateway")
            .merge(probes)
            .merge(documents.router())
            .merge(console)
            .fallback(dispatcher(dialects.clone(), Served::Every))
            .layer(public_url.clone())
            .layer(fetcher.clone());
        let router = with_request_ids(router);
        let wildfire = match config.wildfire_addr {
            Some(addr) => {
                let listener =
                    TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (wildfire)"))?;
                let router =
                    Router::new().fallback(dispatcher(dialects, Served::WildfireOnly)).layer(public_url).layer(fetcher);
                let router = with_request_ids(router);
                Some((listener, router))
            }
            None => None,
        };
        Ok(Application {
            listener,
            router,
            wildfire,
            node,
            local_addr,
            first_start,
            exports,
            relays,
            post_send,
            push,
            connections,
            documents,
        })
    }

    /// The dialects' OpenAPI documents (served at `/openapi/{dialect}.json`).
    pub fn documents(&self) -> &openapi::Documents {
        &self.documents
    }

    /// The bound address of `CONFAB_WILDFIRE_ADDR`'s listener, if there is one.
    pub fn wildfire_addr(&self) -> Option<SocketAddr> {
        self.wildfire.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// What this start found or made of the first app (its credentials as
    /// stored, and which of them this start made up).
    pub fn first_start(&self) -> &FirstStart {
        &self.first_start
    }

    /// The bound address (useful when the configured port was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// The domain core this server runs on (tests use it to set up apps).
    pub fn core(&self) -> Arc<Core> {
        self.node.core.clone()
    }

    /// This node's ID in message IDs: 0 alone on SQLite, leased on PostgreSQL.
    pub fn node_id(&self) -> u16 {
        self.node.node_id
    }

    /// Serves until `shutdown` turns true, then closes every session, lets
    /// requests in flight finish and leaves the cluster. Also stops, with an
    /// error, if the node loses its node-ID lease.
    pub async fn run_until(self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let Application { listener, router, node, wildfire, exports, relays, post_send, push, connections, .. } = self;
        // One budget for both listeners: descriptors are the process's.
        let gate = serve::Gate::new(&connections);
        let exporter = tokio::spawn(easemob::run_exports(node.core.clone(), exports.0, exports.2, exports.1));
        let (posting, pushing) = {
            // In a cluster, the live node with the lowest ID posts.
            let leader_node = node.clone();
            let leader: callbacks::post::Leader =
                Arc::new(move || leader_node.view().peers.iter().all(|(id, _)| *id > leader_node.node_id));
            let (fetcher, stats) = post_send;
            // Offline push is led the same way, from the same fetcher.
            let pushing = tokio::spawn(push::worker::run(
                node.core.clone(),
                fetcher.clone(),
                push,
                leader.clone(),
                shutdown.clone(),
            ));
            (tokio::spawn(callbacks::post::run(node.core.clone(), fetcher, stats, leader, shutdown.clone())), pushing)
        };
        let relaying = {
            let (relays, core) = (relays.clone(), node.core.clone());
            tokio::spawn(async move {
                if let Err(e) = relays.start_all(&core).await {
                    tracing::error!(error = %e, "cannot start the robots' callback relays");
                }
            })
        };
        // The WildfireChat port stops with the main listener.
        let wildfire = wildfire.map(|(listener, router)| {
            let mut stop = shutdown.clone();
            let gate = gate.clone();
            tokio::spawn(async move {
                let stopped = async move {
                    while !*stop.borrow() {
                        if stop.changed().await.is_err() {
                            break;
                        }
                    }
                };
                serve::serve(listener, router, connections, gate, stopped).await
            })
        });
        let (fenced_tx, fenced_rx) = tokio::sync::oneshot::channel::<()>();
        let stop = {
            let node = node.clone();
            async move {
                let requested = async {
                    while !*shutdown.borrow() {
                        if shutdown.changed().await.is_err() {
                            break;
                        }
                    }
                };
                tokio::select! {
                    _ = requested => {}
                    _ = node.fenced() => { let _ = fenced_tx.send(()); }
                }
                node.core.hub().kick_all(KickReason::Shutdown);
            }
        };
        let served = serve::serve(listener, router, connections, gate, stop).await.context("server failed");
        if let Some(task) = wildfire {
            task.abort();
        }
        exporter.abort();
        posting.abort();
        pushing.abort();
        relaying.abort();
        relays.stop_all();
        node.close().await;
        served?;
        if fenced_rx.await.is_ok() {
            anyhow::bail!("stopped: this node lost its node-ID lease");
        }
        Ok(())
    }
}

/// A span per request (`request`, with the request's ID, the method and the
/// path, never the query, which may carry keys), in which every log line of
/// the request is written, and its status and latency. An info span, so a
/// request's log lines name its ID at the default level; the bench runs its
/// server at `warn`, where the span is not made.
/// Every request gets an ID (the client's `X-Request-Id` when it sent a
/// usable one, a new one otherwise; `request_ids.rs`), answered in
/// `X-Request-Id` and named by the request's span, so every log line of the
/// request (and of a gateway session opened by it) carries it.
fn with_request_ids(router: Router) -> Router {
    let trace = tower_http::trace::TraceLayer::new_for_http().make_span_with(
        |request: &axum::http::Request<axum::body::Body>| {
            let id =
                request.headers().get(&request_ids::X_REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
            tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
        },
    );
    router.layer(trace).layer(request_ids::RequestIdLayer)
}

/// The dialects' routers. Each answers everything under its own prefix,
/// unknown paths included, in its own error shape; what is under no prefix
/// is a plain 404. (One merged router has one fallback, which answered every
/// dialect's unknown paths in WildfireChat's shape, with HTTP 200.)
#[derive(Clone)]
struct Dialects {
    easemob: Router,
    wildfire: Router,
    leancloud: Router,
}

/// Which dialects a listener serves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Served {
    Every,
    /// `CONFAB_WILDFIRE_ADDR`'s listener: `/admin/…` only.
    WildfireOnly,
}

/// The main router's fallback: hands a request to the dialect that owns its
/// path's prefix (WildfireChat `/admin/…`, LeanCloud `/1.1/…` and `/1.2/…`,
/// Easemob `/{org}/{app}/…`). Routed by prefix rather than merged so that an
/// unknown path never lands in another dialect's route with parameters
/// (`/1.2/rtm/users` is not Easemob's `/{org}/{app}/users`).
fn dispatcher(
    dialects: Dialects,
    served: Served,
) -> impl Fn(
    axum::extract::Request,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = axum::response::Response> + Send>>
       + Clone
       + Send
       + Sync
       + 'static {
    move |request: axum::extract::Request| {
        let router = match (prefix_of(request.uri().path()), served) {
            (Some(Prefix::Wildfire), _) => Some(dialects.wildfire.clone()),
            // The vendor serves its robot and channel APIs on its public port only.
            (Some(Prefix::WildfireServices), Served::Every) => Some(dialects.wildfire.clone()),
            (Some(Prefix::LeanCloud), Served::Every) => Some(dialects.leancloud.clone()),
            (Some(Prefix::Easemob), Served::Every) => Some(dialects.easemob.clone()),
            _ => None,
        };
        Box::pin(async move {
            use tower::ServiceExt as _;
            match router {
                Some(router) => match router.oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                },
                None => StatusCode::NOT_FOUND.into_response(),
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prefix {
    Wildfire,
    /// WildfireChat's robot and channel APIs (`/robot/…`, `/channel/…`).
    WildfireServices,
    LeanCloud,
    Easemob,
}

fn prefix_of(path: &str) -> Option<Prefix> {
    let mut segments = path.trim_start_matches('/').split('/');
    let first = segments.next().unwrap_or_default();
    match first {
        "admin" => Some(Prefix::Wildfire),
        "robot" | "channel" => Some(Prefix::WildfireServices),
        "1.1" | "1.2" => Some(Prefix::LeanCloud),
        // The LeanCloud SDK's router request (`server` option + `/v1/route`).
        "v1" if path == "/v1/route" => Some(Prefix::LeanCloud),
        "" => None,
        // `/{org}/{app}/…`: at least one segment after the app.
        _ => {
            let app = segments.next().unwrap_or_default();
            let rest = segments.next();
            (!app.is_empty() && rest.is_some()).then_some(Prefix::Easemob)
        }
    }
}

/// Whether reading a request body failed because it stopped coming (the
/// body-read timeout), rather than by being too large.
pub(crate) fn body_timed_out(error: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// The address a request came from (set by the listener for every connection).
pub(crate) fn peer_ip(extensions: &axum::http::Extensions) -> std::net::IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// The first app's credentials the configuration can set: the stored name
/// (`client_id` and `client_secret` are the app's own columns), the
/// variable that sets it, the label it is printed with, and how many random
/// bytes a made-up one has (for the dialects' ones; the core makes the
/// app's own).
pub(crate) const FIRST_APP_CREDENTIALS: [(&str, &str, &str, usize); 6] = [
    ("client_id", "CONFAB_CLIENT_ID", "client_id", 18),
    ("client_secret", "CONFAB_CLIENT_SECRET", "client_secret", 24),
    (wildfire::SECRET_CREDENTIAL, "CONFAB_WILDFIRE_SECRET", "WildfireChat admin secret", 24),
    (leancloud::APP_ID, "CONFAB_LEANCLOUD_APP_ID", "LeanCloud app ID", 18),
    (leancloud::APP_KEY, "CONFAB_LEANCLOUD_APP_KEY", "LeanCloud app key", 18),
    (leancloud::MASTER_KEY, "CONFAB_LEANCLOUD_MASTER_KEY", "LeanCloud master key", 18),
];

/// Makes sure the first app exists with the configured credentials, in one
/// storage step (nodes starting together on one database provision it once):
/// configured values are applied on every start, replacing stored ones (a
/// startup line says so, without the values); credentials neither configured
/// nor stored are made up, and returned to be shown once.
async fn ensure_first_app(core: &Core, config: &Config) -> anyhow::Result<FirstStart> {
    let first = &config.first_app;
    let configured = [
        &first.client_id,
        &first.client_secret,
        &first.wildfire_secret,
        &first.leancloud_app_id,
        &first.leancloud_app_key,
        &first.leancloud_master_key,
    ];
    let mut change = CredentialChange {
        client_id: first.client_id.clone(),
        client_secret: first.client_secret.clone(),
        ..CredentialChange::default()
    };
    for ((name, _, _, bytes), value) in FIRST_APP_CREDENTIALS.iter().zip(configured).skip(2) {
        match value {
            Some(value) => change.replace.insert(name.to_string(), value.clone()),
            None => change.fill.insert(name.to_string(), confab_core::auth::random_key(*bytes)),
        };
    }
    let Provisioned { before, after } = core
        .apps
        .provision(&first.org, &first.app, change)
        .await
        .map_err(|e| anyhow::anyhow!("cannot provision app {}/{}: {e}", first.org, first.app))?;
    let stored = |app: &confab_core::model::App, name: &str| match name {
        "client_id" => Some(app.client_id.clone()),
        "client_secret" => Some(app.client_secret.clone()),
        _ => app.credentials.get(name).cloned(),
    };
    let mut made_up = Vec::new();
    for ((name, variable, label, _), value) in FIRST_APP_CREDENTIALS.iter().zip(configured) {
        let old = before.as_ref().and_then(|b| stored(b, name));
        let new = stored(&after, name);
        match (value, old) {
            (Some(_), Some(old)) if Some(&old) != new.as_ref() => tracing::info!(
                org = %after.org, app = %after.name, credential = name,
                "{variable} replaced the stored {label} (the old one no longer works)"
            ),
            (None, None) => {
                if let Some(new) = new {
                    made_up.push((*label, new));
                }
            }
            _ => {}
        }
    }
    if before.is_none() {
        tracing::info!(org = %after.org, app = %after.name, "created the first app");
    }
    Ok(FirstStart { created: before.is_none(), made_up, app: after, console_password: None })
}

/// Makes sure the console has an operator: `admin` with
/// `CONFAB_CONSOLE_PASSWORD` (set again on every start), or, when no
/// operator exists yet, with a made-up password that is returned to be shown
/// once.
/// Sets the first app's callbacks from `CONFAB_CALLBACK_*`, over what it
/// has: only what the configuration names changes.
async fn apply_first_app_callbacks(core: &Core, config: &Config, app: confab_core::model::AppId) -> anyhow::Result<()> {
    let given = &config.callbacks;
    if !given.any() {
        return Ok(());
    }
    let mut settings = callbacks::settings(core, app).await?;
    if let Some(url) = &given.pre_send_url {
        settings.pre_send_url = Some(url.clone());
    }
    if let Some(url) = &given.post_send_url {
        settings.post_send_url = Some(url.clone());
    }
    if let Some(secret) = &given.secret {
        settings.secret = Some(secret.0.clone());
    }
    if let Some(format) = &given.format {
        settings.format = callbacks::Format::parse(format)
            .ok_or_else(|| anyhow::anyhow!("CONFAB_CALLBACK_FORMAT={format}: easemob, leancloud or wildfire"))?;
    }
    if let Some(ms) = given.timeout_ms {
        settings.timeout_ms = ms;
    }
    if let Some(policy) = &given.on_failure {
        settings.on_failure = match policy.as_str() {
            "pass" => callbacks::OnFailure::Pass,
            "refuse" => callbacks::OnFailure::Refuse,
            other => anyhow::bail!("CONFAB_CALLBACK_ON_FAILURE={other}: pass or refuse"),
        };
    }
    callbacks::check(&settings).map_err(|e| anyhow::anyhow!("CONFAB_CALLBACK_*: {e}"))?;
    callbacks::set_settings(core, app, &settings).await?;
    Ok(())
}

async fn ensure_operator(core: &Core, config: &Config) -> anyhow::Result<Option<String>> {
    let operators = &core.operators;
    if let Some(password) = &config.console_password {
        operators
            .set_password(FIRST_OPERATOR, password.0.clone())
            .await
            .map_err(|e| anyhow::anyhow!("CONFAB_CONSOLE_PASSWORD: {e}"))?;
        return Ok(None);
    }
    operators.create_first(FIRST_OPERATOR).await.map_err(|e| anyhow::anyhow!("cannot create the console operator: {e}"))
}

#[cfg(test)]
mod tests {
    use super::{prefix_of, Prefix};

    #[test]
    fn each_path_belongs_to_one_dialect_or_none() {
        assert_eq!(prefix_of("/admin/user/create"), Some(Prefix::Wildfire));
        assert_eq!(prefix_of("/admin"), Some(Prefix::Wildfire));
        assert_eq!(prefix_of("/admin/x/users"), Some(Prefix::Wildfire));
        assert_eq!(prefix_of("/robot/message/send"), Some(Prefix::WildfireServices));
        assert_eq!(prefix_of("/channel/subscribe"), Some(Prefix::WildfireServices));
        assert_eq!(prefix_of("/1.2/rtm/users"), Some(Prefix::LeanCloud));
        assert_eq!(prefix_of("/1.1/rtm/messages"), Some(Prefix::LeanCloud));
        assert_eq!(prefix_of("/demo/chat/messages"), Some(Prefix::Easemob));
        assert_eq!(prefix_of("/demo/chat/"), Some(Prefix::Easemob));
        assert_eq!(prefix_of("/demo/chat"), None);
        assert_eq!(prefix_of("/favicon.ico"), None);
        assert_eq!(prefix_of("/"), None);
    }
}
