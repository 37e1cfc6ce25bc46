//! confab's network edge: the Easemob REST dialect and the WebSocket gateway,
//! assembled into one [`Application`] over the domain core.

pub mod config;
mod easemob;
mod gateway;
mod leancloud;
pub mod limits;
pub mod node;
mod wildfire;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use confab_core::clock::{Clock, SystemClock};
use confab_core::fanout::KickReason;
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
}

/// A built server: storage open, first app ensured, listener bound.
pub struct Application {
    listener: TcpListener,
    router: Router,
    /// `CONFAB_WILDFIRE_ADDR`'s listener and the router it serves.
    wildfire: Option<(TcpListener, Router)>,
    node: Arc<Node>,
    local_addr: SocketAddr,
    first_start: FirstStart,
    /// Background work that runs while the server does.
    exports: (Arc<limits::RateLimits>, std::time::Duration),
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
        let first_start = ensure_first_app(&core, &config).await?;
        let listener = TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.http_addr))?;
        let local_addr = listener.local_addr()?;
        let limits = Arc::new(limits::RateLimits::new(config.rate_limits.clone()));
        let wildfire_router = wildfire::router(core.clone(), limits.clone());
        let exports = (limits.clone(), std::time::Duration::from_secs(config.history_export_secs));
        let router = Router::new()
            .merge(easemob::router(core.clone(), limits.clone()))
            .merge(wildfire_router.clone())
            .merge(leancloud::router(core.clone(), limits.clone()))
            .merge(gateway::router(core.clone()))
            .route("/health", axum::routing::get(|| async { "ok" }));
        let wildfire = match config.wildfire_addr {
            Some(addr) => {
                let listener =
                    TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (wildfire)"))?;
                Some((listener, wildfire_router))
            }
            None => None,
        };
        Ok(Application { listener, router, wildfire, node, local_addr, first_start, exports })
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
        let Application { listener, router, node, wildfire, exports, .. } = self;
        let exporter = tokio::spawn(easemob::run_exports(node.core.clone(), exports.0, exports.1));
        // The WildfireChat port stops with the main listener.
        let wildfire = wildfire.map(|(listener, router)| {
            let mut stop = shutdown.clone();
            tokio::spawn(async move {
                let stopped = async move {
                    while !*stop.borrow() {
                        if stop.changed().await.is_err() {
                            break;
                        }
                    }
                };
                axum::serve(listener, router).with_graceful_shutdown(stopped).await
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
        // Small frames must leave at once: without TCP_NODELAY, Nagle's
        // algorithm holds a frame until the previous one is acknowledged.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let served = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(stop)
            .await
            .context("server failed");
        if let Some(task) = wildfire {
            task.abort();
        }
        exporter.abort();
        node.close().await;
        served?;
        if fenced_rx.await.is_ok() {
            anyhow::bail!("stopped: this node lost its node-ID lease");
        }
        Ok(())
    }
}

/// The first app's credentials the configuration can set: the stored name
/// (`client_id` and `client_secret` are the app's own columns), the
/// variable that sets it, the label it is printed with, and how many random
/// bytes a made-up one has (for the dialects' ones; the core makes the
/// app's own).
const FIRST_APP_CREDENTIALS: [(&str, &str, &str, usize); 6] = [
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
    Ok(FirstStart { created: before.is_none(), made_up, app: after })
}
