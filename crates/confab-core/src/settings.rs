//! An app's key-value settings: state a dialect or feature keeps that the
//! rest of confab does not interpret (WildfireChat's user settings, aliases
//! and system settings, robots, sensitive words).
//!
//! One table instead of one per feature: each of these is a handful of
//! strings per user or app, read by key, and none takes part in a rule of
//! the core. A feature that grows rules of its own gets its own model.

use std::sync::Arc;

use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::model::{AppId, Setting, SettingKey};

/// Longest namespace, owner or key.
pub const MAX_KEY_LEN: usize = 256;
/// Longest value.
pub const MAX_VALUE_LEN: usize = 16 * 1024;
/// Most settings one listing returns.
pub const MAX_LISTED: usize = 10_000;

#[derive(Clone)]
pub struct SettingService {
    deps: Arc<Deps>,
}

impl SettingService {
    pub(crate) fn new(deps: Arc<Deps>) -> SettingService {
        SettingService { deps }
    }

    /// Writes settings, all or none.
    pub async fn put(&self, app: AppId, entries: Vec<(SettingKey, String)>) -> Result<()> {
        let now = self.deps.clock.now_ms();
        let mut settings = Vec::with_capacity(entries.len());
        for (k, value) in entries {
            check_key(&k)?;
            if value.len() > MAX_VALUE_LEN {
                return Err(Error::TooLarge(format!("a setting's value is at most {MAX_VALUE_LEN} bytes")));
            }
            settings.push(Setting { namespace: k.namespace, owner: k.owner, key: k.key, value, updated_ms: now });
        }
        self.deps.store.put_settings(app, settings).await
    }

    /// Removes settings; how many there were.
    pub async fn remove(&self, app: AppId, keys: Vec<SettingKey>) -> Result<u64> {
        self.deps.store.remove_settings(app, keys).await
    }

    pub async fn get(&self, app: AppId, key: SettingKey) -> Result<Option<Setting>> {
        self.deps.store.setting(app, key).await
    }

    /// One owner's settings in a namespace, by key.
    pub async fn of(&self, app: AppId, namespace: &str, owner: &str) -> Result<Vec<Setting>> {
        self.deps.store.settings(app, namespace, Some(owner), MAX_LISTED).await
    }

    /// A namespace's settings of every owner, by owner and key (at most [`MAX_LISTED`]).
    pub async fn all(&self, app: AppId, namespace: &str) -> Result<Vec<Setting>> {
        self.deps.store.settings(app, namespace, None, MAX_LISTED).await
    }
}

fn check_key(k: &SettingKey) -> Result<()> {
    for (what, text) in [("namespace", &k.namespace), ("owner", &k.owner), ("key", &k.key)] {
        if text.len() > MAX_KEY_LEN {
            return Err(Error::TooLarge(format!("a setting's {what} is at most {MAX_KEY_LEN} bytes")));
        }
    }
    Ok(())
}
