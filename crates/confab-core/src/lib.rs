//! confab's domain core: apps, users, conversations, messages and the
//! session logic of the real-time gateway.
//!
//! Nothing here knows HTTP, WebSocket frames or SQL. Dialects (the network
//! edge) parse requests into calls on [`Core`]'s services and render the
//! results; storage and fan-out are traits implemented elsewhere.

pub mod activity;
pub mod apps;
pub mod auth;
pub mod blobs;
pub mod callbacks;
pub mod clock;
mod deps;
pub mod error;
pub mod events;
pub mod fanout;
pub mod files;
pub mod gateway;
pub mod groups;
pub mod ids;
pub mod lasting;
pub mod memory;
pub mod messages;
pub mod model;
pub mod moderation;
pub mod operators;
pub mod order;
pub mod relations;
mod restrictions;
pub mod settings;
pub mod storage;
pub mod users;

use std::sync::Arc;

use deps::Deps;

use clock::Clock;
use fanout::{Fanout, Hub};
use ids::IdGenerator;
use storage::Storage;

/// Settings the core needs; the server fills them from its configuration.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Lifetime of tokens when the caller asks for none, in seconds.
    pub default_token_ttl_secs: i64,
    /// Longest lifetime of any token, in seconds; `ttl: 0` ("never
    /// expires") gets this.
    pub max_token_ttl_secs: i64,
    /// This node's ID in message IDs (0 on a single node).
    pub node_id: u16,
}

impl Default for CoreConfig {
    fn default() -> Self {
        // The vendor's default: 60 days.
        CoreConfig { default_token_ttl_secs: 60 * 24 * 3600, max_token_ttl_secs: 365 * 24 * 3600, node_id: 0 }
    }
}

/// The domain core: one instance per server process.
pub struct Core {
    pub apps: apps::AppService,
    pub users: users::UserService,
    pub messages: messages::MessageService,
    pub groups: groups::GroupService,
    pub relations: relations::RelationService,
    pub files: files::FileService,
    pub settings: settings::SettingService,
    pub moderation: moderation::ModerationService,
    pub operators: operators::OperatorService,
    /// Counts of what the core did (metrics and the console's live view).
    pub activity: Arc<activity::Activity>,
    /// What the storage engine's commits do, if it counts them.
    pub commits: Option<Arc<activity::CommitStats>>,
    /// What the bus between nodes carries, in a cluster.
    pub bus: Option<Arc<activity::BusStats>>,
    pub gateway: gateway::Gateway,
    /// The app's server's say over messages, once the edge sets it.
    gate: Arc<std::sync::OnceLock<Arc<dyn callbacks::SendGate>>>,
    hub: Arc<Hub>,
    clock: Arc<dyn Clock>,
}

impl Core {
    /// Builds the core over a storage engine and a fan-out.
    ///
    /// `hub` must be the same hub the fan-out delivers into.
    pub async fn new(
        store: Arc<dyn Storage>,
        blobs: Arc<dyn blobs::BlobStore>,
        fanout: Arc<dyn Fanout>,
        hub: Arc<Hub>,
        clock: Arc<dyn Clock>,
        config: CoreConfig,
    ) -> error::Result<Arc<Core>> {
        let floor = store.max_message_id().await?;
        let commits = store.commit_stats();
        let bus = fanout.bus_stats();
        let ids = IdGenerator::new(config.node_id, floor);
        let restrictions = restrictions::RestrictionCache::new(store.clone(), clock.clone());
        let lasting = lasting::LastingCache::new(store.clone(), clock.clone());
        let deps = Arc::new(Deps {
            store,
            fanout,
            hub: hub.clone(),
            ids,
            clock: clock.clone(),
            config,
            restrictions,
            lasting,
            blobs,
            activity: Arc::new(activity::Activity::default()),
            hashing: auth::Hashing::new(),
            gate: Arc::default(),
        });
        let gate = deps.gate.clone();
        let apps = apps::AppService::new(deps.clone());
        let users = users::UserService::new(deps.clone());
        let messages = messages::MessageService::new(deps.clone());
        let groups = groups::GroupService::new(deps.clone());
        let relations = relations::RelationService::new(deps.clone());
        let files = files::FileService::new(deps.clone());
        let settings = settings::SettingService::new(deps.clone());
        let moderation = moderation::ModerationService::new(settings.clone());
        let operators = operators::OperatorService::new(deps.clone());
        let activity = deps.activity.clone();
        let services = gateway::Services {
            apps: apps.clone(),
            users: users.clone(),
            messages: messages.clone(),
            groups: groups.clone(),
            moderation: moderation.clone(),
        };
        let gateway = gateway::Gateway::new(deps, services);
        Ok(Arc::new(Core {
            apps,
            users,
            messages,
            groups,
            relations,
            files,
            settings,
            moderation,
            gate,
            operators,
            activity,
            commits,
            bus,
            gateway,
            hub,
            clock,
        }))
    }

    /// The core's time, in Unix milliseconds (tests move it).
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The local session registry (for metrics and shutdown).
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Lets the app's server refuse or change messages before they are sent
    /// (see [`callbacks`]). Set once; a second gate is ignored.
    pub fn set_send_gate(&self, gate: Arc<dyn callbacks::SendGate>) {
        let _ = self.gate.set(gate);
    }
}
