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
}
