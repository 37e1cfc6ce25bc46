//! One confab node: the domain core over the configured storage and
//! fan-out, and what ties the node into a cluster.
//!
//! On the embedded default (SQLite) a node is alone: node ID 0, fan-out in
//! process. On PostgreSQL the node leases a node ID from the database, so
//! message IDs stay unique however many nodes share it; with `CONFAB_NATS_URL`
//! it also joins the other nodes over NATS.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use confab_core::clock::Clock;
use confab_core::fanout::{Fanout, Hub, LocalFanout};
use confab_core::files::BlobStore;
use confab_core::storage::Storage;
use confab_core::{Core, CoreConfig};
use confab_files::{ObjectFiles, S3Config};
use confab_nats::NatsFanout;
use confab_postgres::PostgresStore;
use confab_sqlite::SqliteStore;

use crate::config::Config;

/// How long a node-ID lease lasts without renewal.
const LEASE: Duration = Duration::from_secs(30);
/// How often a node renews its lease.
const RENEW_EVERY: Duration = Duration::from_secs(5);
/// A node that could not renew for this long stops issuing message IDs: its
/// lease may expire (by the database's clock) soon after, and another node
/// could then take the ID.
const FENCE_AFTER: Duration = Duration::from_secs(20);

/// Whether the process serves clients (and so joins the cluster) or only
/// administers the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Serves clients; creates the data folder and database if needed.
    Server,
    /// `confab app …` on an existing database: it never creates a data
    /// folder (run from the wrong folder, it says so instead of answering
    /// "no app" from a new empty database), and never touches file contents.
    Admin,
    /// `confab app create`: like `Admin`, but may create the data folder
    /// and database, since the app it makes is their first content.
    AdminCreating,
}

pub struct Node {
    pub core: Arc<Core>,
    pub node_id: u16,
    lease: Option<Lease>,
    nats: Option<Arc<NatsFanout>>,
    engine: Engine,
}

/// Where a node keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// What a node knows of itself and its cluster (the console's nodes page).
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeView {
    pub node_id: u16,
    pub engine: Engine,
    /// `None` when the node is alone (no NATS).
    pub nats_connected: Option<bool>,
    /// The other live nodes: ID, and milliseconds since each was heard from.
    pub peers: Vec<(u16, u64)>,
    /// Gateway sessions on this node.
    pub sessions: usize,
}

struct Lease {
    store: Arc<PostgresStore>,
    holder: String,
    /// Turns true when the lease is lost; the node must then stop.
    lost: watch::Receiver<bool>,
    renewal: AbortHandle,
}

impl Node {
    /// Whether this node can serve: its storage answers and, in a cluster,
    /// NATS is connected. `Err` says what is not ready.
    pub async fn ready(&self) -> Result<(), String> {
        let storage = tokio::time::timeout(std::time::Duration::from_secs(2), self.core.apps.list()).await;
        match storage {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("storage: {e}")),
            Err(_) => return Err("storage: no answer within 2 s".to_owned()),
        }
        if let Some(nats) = &self.nats {
            if !nats.connected() {
                return Err("nats: not connected".to_owned());
            }
        }
        Ok(())
    }

    /// This node and the others it knows of.
    pub fn view(&self) -> NodeView {
        NodeView {
            node_id: self.node_id,
            engine: self.engine,
            nats_connected: self.nats.as_ref().map(|n| n.connected()),
            peers: self
                .nats
                .as_ref()
                .map(|n| n.peers().into_iter().map(|(id, ago)| (id, ago.as_millis() as u64)).collect())
                .unwrap_or_default(),
            sessions: self.core.hub().session_count(),
        }
    }

    /// Opens storage, leases a node ID when the storage is shared, joins
    /// NATS when configured, and builds the core.
    pub async fn open(config: &Config, clock: Arc<dyn Clock>, role: Role) -> anyhow::Result<Node> {
        if config.nats_url.is_some() && config.database_url.is_none() {
            anyhow::bail!(
                "CONFAB_NATS_URL needs CONFAB_DATABASE_URL: the nodes of a cluster share one PostgreSQL database"
            );
        }
        let hub = Arc::new(Hub::default());
        let (store, lease): (Arc<dyn Storage>, Option<TakenLease>) = match &config.database_url {
            Some(url) => {
                let opened = match role {
                    Role::Admin => PostgresStore::connect_existing(url).await,
                    Role::Server | Role::AdminCreating => PostgresStore::connect(url).await,
                };
                let store = Arc::new(opened.map_err(|e| anyhow::anyhow!("cannot open the PostgreSQL database: {e}"))?);
                let lease = match role {
                    Role::Server => Some(Lease::take(store.clone()).await?),
                    Role::Admin | Role::AdminCreating => None,
                };
                (store, lease)
            }
            None => {
                let path = config.database_path();
                if role == Role::Admin && !path.exists() {
                    anyhow::bail!(
                        "no confab database in the data folder {} (set CONFAB_DATA_DIR or --config to the server's, \
                         or run from the folder where `confab serve` runs)",
                        config.data_dir.display()
                    );
                }
                std::fs::create_dir_all(&config.data_dir)
                    .with_context(|| format!("cannot create data folder {}", config.data_dir.display()))?;
                let store = SqliteStore::open(&path, config.sqlite_sync.into())
                    .map_err(|e| anyhow::anyhow!("cannot open database {}: {e}", path.display()))?;
                (Arc::new(store), None)
            }
        };
        let node_id = lease.as_ref().map_or(0, |l| l.node_id);
        let nats = match (&config.nats_url, role) {
            (Some(url), Role::Server) => Some(Arc::new(
                NatsFanout::connect(url, &config.cluster, node_id, hub.clone())
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot join the cluster over NATS at {url}: {e}"))?,
            )),
            _ => None,
        };
        let fanout: Arc<dyn Fanout> = match &nats {
            Some(nats) => nats.clone(),
            None => Arc::new(LocalFanout::new(hub.clone())),
        };
        if config.s3.is_none() && config.database_url.is_some() && matches!(role, Role::Server) {
            // Nodes sharing a database must share file contents too: a file
            // uploaded through one node would be missing on the others.
            tracing::warn!(
                "file contents are kept in this node's data folder; nodes of a cluster need shared storage \
                 (set CONFAB_S3_BUCKET)"
            );
        }
        let blobs: Arc<dyn BlobStore> = match &config.s3 {
            _ if role != Role::Server => Arc::new(NoFiles),
            Some(s3) => Arc::new(
                ObjectFiles::s3(&S3Config {
                    bucket: s3.bucket.clone(),
                    endpoint: s3.endpoint.clone(),
                    region: s3.region.clone(),
                    access_key_id: s3.access_key_id.clone(),
                    secret_access_key: s3.secret_access_key.clone(),
                })
                .map_err(|e| anyhow::anyhow!("cannot use S3 bucket {}: {e}", s3.bucket))?,
            ),
            None => Arc::new(ObjectFiles::local(&config.data_dir.join("files")).map_err(|e| anyhow::anyhow!("{e}"))?),
        };
        let core_config = CoreConfig {
            default_token_ttl_secs: config.token_ttl_secs,
            max_token_ttl_secs: config.max_token_ttl_secs,
            node_id,
        };
        let core =
            Core::new(store, blobs, fanout, hub, clock, core_config).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(nats) = &nats {
            tracing::info!(node_id, peers = nats.peer_count(), "joined the cluster");
        }
        let engine = if config.database_url.is_some() { Engine::Postgres } else { Engine::Sqlite };
        Ok(Node { core, node_id, lease: lease.map(|l| l.lease), nats, engine })
    }

    /// Resolves if the node loses its node-ID lease; it must then stop serving.
    pub async fn fenced(&self) {
        let Some(lease) = &self.lease else {
            return std::future::pending().await;
        };
        let mut lost = lease.lost.clone();
        let _ = lost.wait_for(|lost| *lost).await;
    }

    /// Leaves the cluster: other nodes stop asking this one, and the node ID is free again.
    pub async fn close(&self) {
        if let Some(nats) = &self.nats {
            nats.leave().await;
        }
        if let Some(lease) = &self.lease {
            lease.renewal.abort();
            if let Err(e) = lease.store.release_node_id(self.node_id, &lease.holder).await {
                tracing::warn!(error = %e, "could not release the node ID; it expires by itself");
            }
        }
    }
}

struct TakenLease {
    node_id: u16,
    lease: Lease,
}

impl Lease {
    async fn take(store: Arc<PostgresStore>) -> anyhow::Result<TakenLease> {
        let holder = confab_core::auth::random_uuid();
        let node_id =
            store.claim_node_id(&holder, LEASE).await.map_err(|e| anyhow::anyhow!("cannot lease a node ID: {e}"))?;
        tracing::info!(node_id, "leased a node ID");
        let (lost_tx, lost) = watch::channel(false);
        let renewal = tokio::spawn(keep_lease(store.clone(), node_id, holder.clone(), lost_tx)).abort_handle();
        Ok(TakenLease { node_id, lease: Lease { store, holder, lost, renewal } })
    }
}

async fn keep_lease(store: Arc<PostgresStore>, node_id: u16, holder: String, lost: watch::Sender<bool>) {
    let mut renewed_at = Instant::now();
    let mut ticks = tokio::time::interval(RENEW_EVERY);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        match store.renew_node_id(node_id, &holder, LEASE).await {
            Ok(true) => renewed_at = Instant::now(),
            Ok(false) => {
                tracing::error!(node_id, "another node holds this node's ID now; stopping");
                let _ = lost.send(true);
                return;
            }
            Err(e) => tracing::warn!(node_id, error = %e, "cannot renew the node-ID lease"),
        }
        if renewed_at.elapsed() >= FENCE_AFTER {
            tracing::error!(node_id, "node-ID lease not renewed for {FENCE_AFTER:?}; stopping");
            let _ = lost.send(true);
            return;
        }
    }
}

/// File contents for `confab app …`, which never reads or writes them: no
/// folder is created and no bucket is contacted.
struct NoFiles;

#[async_trait::async_trait]
impl BlobStore for NoFiles {
    async fn put(&self, _: &str, _: confab_core::files::ByteStream<'_>, _: u64) -> confab_core::error::Result<u64> {
        Err(confab_core::error::Error::Unavailable)
    }

    async fn get(
        &self,
        _: &str,
        _: Option<std::ops::Range<u64>>,
    ) -> confab_core::error::Result<Option<confab_core::files::Blob>> {
        Err(confab_core::error::Error::Unavailable)
    }

    async fn delete(&self, _: &str) -> confab_core::error::Result<()> {
        Err(confab_core::error::Error::Unavailable)
    }
}
