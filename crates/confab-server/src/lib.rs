//! confab's network edge: the Easemob REST dialect and the WebSocket gateway,
//! assembled into one [`Application`] over the domain core.

pub mod config;
mod easemob;
pub mod fetch;
mod gateway;
mod leancloud;
pub mod limits;
pub mod links;
pub mod node;
mod wildfire;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use confab_core::apps::AppCredentials;
use confab_core::clock::{Clock, SystemClock};
use confab_core::fanout::KickReason;
use confab_core::Core;

use config::Config;
use node::{Node, Role};

/// Credentials of the first app, when this start created it.
#[derive(Debug, Clone)]
pub struct CreatedApp {
    pub org: String,
    pub app: String,
    pub client_id: String,
    pub client_secret: String,
}

/// The first app's dialect credentials this start made up, by name
/// (`wildfire.secret`, `leancloud.app_id`, …), to be shown once.
#[derive(Debug, Clone)]
pub struct CreatedSecret {
    pub org: String,
    pub app: String,
    pub values: Vec<(&'static str, String)>,
}

/// A built server: storage open, first app ensured, listener bound.
pub struct Application {
    listener: TcpListener,
    router: Router,
    /// `CONFAB_WILDFIRE_ADDR`'s listener and the router it serves.
    wildfire: Option<(TcpListener, Router)>,
    node: Arc<Node>,
    local_addr: SocketAddr,
    created_app: Option<CreatedApp>,
    created_secret: Option<CreatedSecret>,
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
        let created_app = ensure_first_app(&core, &config).await?;
        let created_secret = ensure_dialect_credentials(&core, &config).await?;
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
            .route("/health", axum::routing::get(|| async { "ok" }))
            // What handlers that write links or fetch URLs need from the configuration.
            .layer(axum::Extension(links::PublicUrl::parse(config.public_url.as_deref())?))
            .layer(axum::Extension(Arc::new(fetch::Fetcher::new(config.fetch_allow_private.clone())?)));
        let wildfire = match config.wildfire_addr {
            Some(addr) => {
                let listener =
                    TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (wildfire)"))?;
                Some((listener, wildfire_router))
            }
            None => None,
        };
        Ok(Application { listener, router, wildfire, node, local_addr, created_app, created_secret, exports })
    }

    /// The bound address of `CONFAB_WILDFIRE_ADDR`'s listener, if there is one.
    pub fn wildfire_addr(&self) -> Option<SocketAddr> {
        self.wildfire.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// Set when this start made up some of the first app's dialect credentials.
    pub fn created_secret(&self) -> Option<&CreatedSecret> {
        self.created_secret.as_ref()
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

    /// Set when this start created the first app, so its secret can be shown once.
    pub fn created_app(&self) -> Option<&CreatedApp> {
        self.created_app.as_ref()
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

/// Gives the first app its dialects' credentials: the configured ones, or,
/// where it has none yet, new ones (returned, to be shown once).
async fn ensure_dialect_credentials(core: &Core, config: &Config) -> anyhow::Result<Option<CreatedSecret>> {
    let first = &config.first_app;
    let Some(app) = core.apps.by_name(&first.org, &first.app).await.map_err(|e| anyhow::anyhow!("{e}"))? else {
        return Ok(None);
    };
    let wanted = [
        (wildfire::SECRET_CREDENTIAL, &first.wildfire_secret, 24),
        (leancloud::APP_ID, &first.leancloud_app_id, 18),
        (leancloud::APP_KEY, &first.leancloud_app_key, 18),
        (leancloud::MASTER_KEY, &first.leancloud_master_key, 18),
    ];
    let mut created = Vec::new();
    for (name, configured, bytes) in wanted {
        let current = app.credentials.get(name);
        let value = match (configured, current) {
            (Some(wanted), Some(current)) if wanted == current => continue,
            (Some(wanted), _) => wanted.clone(),
            (None, Some(_)) => continue,
            (None, None) => {
                let made = confab_core::auth::random_key(bytes);
                created.push((name, made.clone()));
                made
            }
        };
        core.apps
            .set_credential(&first.org, &first.app, name, Some(value))
            .await
            .map_err(|e| anyhow::anyhow!("cannot set {name}: {e}"))?;
    }
    if created.is_empty() {
        return Ok(None);
    }
    Ok(Some(CreatedSecret { org: first.org.clone(), app: first.app.clone(), values: created }))
}

async fn ensure_first_app(core: &Core, config: &Config) -> anyhow::Result<Option<CreatedApp>> {
    let first = &config.first_app;
    if core.apps.by_name(&first.org, &first.app).await.map_err(|e| anyhow::anyhow!("{e}"))?.is_some() {
        return Ok(None);
    }
    let credentials = AppCredentials { client_id: first.client_id.clone(), client_secret: first.client_secret.clone() };
    let app = match core.apps.create(&first.org, &first.app, credentials).await {
        Ok(app) => app,
        // Another node of the cluster created it at the same moment.
        Err(confab_core::error::Error::Duplicate(_)) => return Ok(None),
        Err(e) => anyhow::bail!("cannot create app {}/{}: {e}", first.org, first.app),
    };
    tracing::info!(org = %app.org, app = %app.name, "created the first app");
    let app = app.as_ref().clone();
    Ok(Some(CreatedApp { org: app.org, app: app.name, client_id: app.client_id, client_secret: app.client_secret }))
}
