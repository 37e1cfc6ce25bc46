//! confab's network edge: the Easemob REST dialect and the WebSocket gateway,
//! assembled into one [`Application`] over the domain core.

pub mod config;
mod easemob;
mod gateway;
pub mod limits;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use confab_core::apps::AppCredentials;
use confab_core::clock::{Clock, SystemClock};
use confab_core::fanout::{Hub, KickReason, LocalFanout};
use confab_core::storage::Storage;
use confab_core::{Core, CoreConfig};
use confab_postgres::PostgresStore;
use confab_sqlite::SqliteStore;

use config::Config;

/// Credentials of the first app, when this start created it.
#[derive(Debug, Clone)]
pub struct CreatedApp {
    pub org: String,
    pub app: String,
    pub client_id: String,
    pub client_secret: String,
}

/// A built server: storage open, first app ensured, listener bound.
pub struct Application {
    listener: TcpListener,
    router: Router,
    core: Arc<Core>,
    local_addr: SocketAddr,
    created_app: Option<CreatedApp>,
}

impl Application {
    /// Builds the server with the system clock.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Builds the server with a given clock (tests move time with it).
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Application> {
        let core = open_core(&config, clock).await?;
        let created_app = ensure_first_app(&core, &config).await?;
        let listener = TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.http_addr))?;
        let local_addr = listener.local_addr()?;
        let router = Router::new()
            .merge(easemob::router(core.clone(), Arc::new(limits::RateLimits::new(config.rate_limits.clone()))))
            .merge(gateway::router(core.clone()))
            .route("/health", axum::routing::get(|| async { "ok" }));
        Ok(Application { listener, router, core, local_addr, created_app })
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
        self.core.clone()
    }

    /// Set when this start created the first app, so its secret can be shown once.
    pub fn created_app(&self) -> Option<&CreatedApp> {
        self.created_app.as_ref()
    }

    /// Serves until `shutdown` turns true, then closes every session and
    /// lets requests in flight finish.
    pub async fn run_until(self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let core = self.core.clone();
        let stop = async move {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
            core.hub().kick_all(KickReason::Shutdown);
        };
        // Small frames must leave at once: without TCP_NODELAY, Nagle's
        // algorithm holds a frame until the previous one is acknowledged.
        let listener = self.listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, self.router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(stop)
            .await
            .context("server failed")
    }
}

/// Opens storage and builds the core over it.
pub async fn open_core(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<Core>> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data folder {}", config.data_dir.display()))?;
    let store: Arc<dyn Storage> = match &config.database_url {
        Some(url) => Arc::new(
            PostgresStore::connect(url)
                .await
                .map_err(|e| anyhow::anyhow!("cannot open the PostgreSQL database: {e}"))?,
        ),
        None => Arc::new(
            SqliteStore::open(&config.database_path(), config.sqlite_sync.into())
                .map_err(|e| anyhow::anyhow!("cannot open database {}: {e}", config.database_path().display()))?,
        ),
    };
    let hub = Arc::new(Hub::default());
    let fanout = Arc::new(LocalFanout::new(hub.clone()));
    let core_config = CoreConfig { default_token_ttl_secs: config.token_ttl_secs, node_id: 0 };
    Core::new(store, fanout, hub, clock, core_config).await.map_err(|e| anyhow::anyhow!("{e}"))
}

async fn ensure_first_app(core: &Core, config: &Config) -> anyhow::Result<Option<CreatedApp>> {
    let first = &config.first_app;
    if core.apps.by_name(&first.org, &first.app).await.map_err(|e| anyhow::anyhow!("{e}"))?.is_some() {
        return Ok(None);
    }
    let credentials = AppCredentials { client_id: first.client_id.clone(), client_secret: first.client_secret.clone() };
    let app = core
        .apps
        .create(&first.org, &first.app, credentials)
        .await
        .map_err(|e| anyhow::anyhow!("cannot create app {}/{}: {e}", first.org, first.app))?;
    tracing::info!(org = %app.org, app = %app.name, "created the first app");
    let app = app.as_ref().clone();
    Ok(Some(CreatedApp { org: app.org, app: app.name, client_id: app.client_id, client_secret: app.client_secret }))
}
