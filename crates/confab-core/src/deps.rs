//! What every service shares, built once by [`crate::Core::new`]. Services
//! reach storage, the fan-out and each other's caches through this, never
//! through another service's module.

use std::sync::Arc;

use crate::blobs::BlobStore;
use crate::clock::Clock;
use crate::fanout::{Fanout, Hub};
use crate::ids::IdGenerator;
use crate::storage::Storage;
use crate::{lasting, restrictions, CoreConfig};

/// What every service shares.
pub(crate) struct Deps {
    pub store: Arc<dyn Storage>,
    pub fanout: Arc<dyn Fanout>,
    pub hub: Arc<Hub>,
    pub ids: IdGenerator,
    pub clock: Arc<dyn Clock>,
    pub config: CoreConfig,
    pub restrictions: restrictions::RestrictionCache,
    pub lasting: lasting::LastingCache,
    pub blobs: Arc<dyn BlobStore>,
    pub activity: Arc<crate::activity::Activity>,
    /// Password hashing, bounded for the whole process.
    pub hashing: crate::auth::Hashing,
    /// The app's server's say over messages (pre-send callbacks), set once
    /// by the edge after the core is built.
    pub gate: Arc<std::sync::OnceLock<Arc<dyn crate::callbacks::SendGate>>>,
}

impl Deps {
    /// Asks the app's server about messages about to be sent (see [`crate::callbacks`]).
    pub async fn screen_by_app(
        &self,
        app: crate::model::AppId,
        drafts: &mut [crate::model::NewMessage],
    ) -> crate::error::Result<()> {
        crate::callbacks::screen(self.gate.get().map(|g| g.as_ref()), app, drafts).await
    }
}
