//! Apps (tenants) and app-level credentials.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::auth;
use crate::deps::Deps;
use crate::error::{AuthFailure, Error, Result};
use crate::model::{validate_tenant_name, App};
use crate::storage::{CredentialChange, NewApp, Provisioned};

/// A freshly issued token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    /// Seconds until it expires; 0 when it never does.
    pub expires_in: i64,
}

/// Apps by (org, name), with when each was read.
type AppCache = HashMap<(String, String), (Arc<App>, Instant)>;

/// Every app, with when they were read.
type AllApps = Option<(Arc<[Arc<App>]>, Instant)>;

/// How long a cached app is trusted before it is read again.
const CACHE_FOR: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct AppService {
    deps: Arc<Deps>,
    /// Apps change rarely and are read on every request, so they are cached
    /// for a few seconds. A miss or an old entry falls through to storage,
    /// which is how changes made by `confab app …` in another process (new
    /// apps, new rate limits) reach a running server.
    cache: Arc<RwLock<AppCache>>,
    /// Every app, for dialects whose requests do not name theirs (WildfireChat's
    /// signature names only a secret). Kept as long as `cache`'s entries.
    everyone: Arc<RwLock<AllApps>>,
}

/// Optional fixed credentials for a new app; generated when absent.
#[derive(Debug, Default, Clone)]
pub struct AppCredentials {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

impl AppService {
    pub(crate) fn new(deps: Arc<Deps>) -> AppService {
        AppService { deps, cache: Arc::default(), everyone: Arc::default() }
    }

    pub async fn create(&self, org: &str, name: &str, credentials: AppCredentials) -> Result<Arc<App>> {
        let app = self.new_app(org, name, credentials, Default::default())?;
        let app = self.deps.store.create_app(app).await?;
        self.forget_all();
        Ok(self.remember(app))
    }

    /// Creates the app `org/name`, or applies `change` to it if it exists,
    /// as one step however many nodes start at once (see
    /// [`crate::storage::AppData::provision_app`]). A new app takes the
    /// change's values, and made-up ones where it has none.
    pub async fn provision(&self, org: &str, name: &str, change: CredentialChange) -> Result<Provisioned> {
        let credentials =
            AppCredentials { client_id: change.client_id.clone(), client_secret: change.client_secret.clone() };
        let mut dialect = change.fill.clone();
        dialect.extend(change.replace.clone());
        let new = self.new_app(org, name, credentials, dialect)?;
        let provisioned = self.deps.store.provision_app(new, change).await?;
        self.forget_all();
        self.remember(provisioned.after.clone());
        Ok(provisioned)
    }

    fn new_app(
        &self,
        org: &str,
        name: &str,
        credentials: AppCredentials,
        dialect: std::collections::BTreeMap<String, String>,
    ) -> Result<NewApp> {
        validate_tenant_name("org", org)?;
        validate_tenant_name("app", name)?;
        Ok(NewApp {
            uuid: auth::random_uuid(),
            org: org.to_owned(),
            name: name.to_owned(),
            client_id: credentials.client_id.unwrap_or_else(|| format!("CF{}", auth::random_token(18))),
            client_secret: credentials.client_secret.unwrap_or_else(|| format!("CF{}", auth::random_token(24))),
            signing_key: new_signing_key(),
            created_ms: self.deps.clock.now_ms(),
            credentials: dialect,
        })
    }

    pub async fn list(&self) -> Result<Vec<App>> {
        self.deps.store.apps().await
    }

    /// The app named `org/name`. Shared, since every request looks one up.
    pub async fn by_name(&self, org: &str, name: &str) -> Result<Option<Arc<App>>> {
        let fresh = {
            let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
            cache.get(&(org, name) as &dyn CacheKey).filter(|(_, at)| at.elapsed() < CACHE_FOR).map(|(a, _)| a.clone())
        };
        if fresh.is_some() {
            return Ok(fresh);
        }
        let app = self.deps.store.app_by_name(org, name).await?;
        Ok(app.map(|app| self.remember(app)))
    }

    pub async fn by_uuid(&self, uuid: &str) -> Result<Option<Arc<App>>> {
        let fresh = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .find(|(a, at)| a.uuid == uuid && at.elapsed() < CACHE_FOR)
            .map(|(a, _)| a.clone());
        if fresh.is_some() {
            return Ok(fresh);
        }
        let app = self.deps.store.app_by_uuid(uuid).await?;
        Ok(app.map(|app| self.remember(app)))
    }

    /// Every app, read again from storage after a few seconds.
    pub async fn all(&self) -> Result<Arc<[Arc<App>]>> {
        let fresh = self.everyone.read().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some((apps, _)) = fresh.filter(|(_, at)| at.elapsed() < CACHE_FOR) {
            return Ok(apps);
        }
        let apps: Arc<[Arc<App>]> = self.deps.store.apps().await?.into_iter().map(Arc::new).collect();
        *self.everyone.write().unwrap_or_else(|e| e.into_inner()) = Some((apps.clone(), Instant::now()));
        Ok(apps)
    }

    /// Changes an app's credentials (rotation, or values an operator
    /// chose). Refused with `Duplicate` when another app holds a new value.
    /// Other processes see the change within [`CACHE_FOR`].
    pub async fn change_credentials(&self, org: &str, name: &str, change: CredentialChange) -> Result<Arc<App>> {
        let app = self.deps.store.change_credentials(org, name, change).await?;
        self.forget_all();
        Ok(self.remember(app))
    }

    fn forget_all(&self) {
        *self.everyone.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn remember(&self, app: App) -> Arc<App> {
        let app = Arc::new(app);
        let key = (app.org.clone(), app.name.clone());
        self.cache.write().unwrap_or_else(|e| e.into_inner()).insert(key, (app.clone(), Instant::now()));
        app
    }

    /// Sets (or, with `None`, removes) one rate-limit override of an app.
    pub async fn set_rate_limit(&self, org: &str, name: &str, limit: &str, value: Option<u32>) -> Result<Arc<App>> {
        let not_found = || Error::NotFound(format!("no app {org}/{name}"));
        let mut app = self.deps.store.app_by_name(org, name).await?.ok_or_else(not_found)?;
        match value {
            Some(v) => app.rate_limits.insert(limit.to_owned(), v),
            None => app.rate_limits.remove(limit),
        };
        self.deps.store.set_rate_limits(app.id, app.rate_limits.clone()).await?;
        self.forget_all();
        Ok(self.remember(app))
    }

    /// Exchanges client credentials for an app token (E-auth-1).
    /// `ttl_secs` of 0 asks for a token that never expires, as the vendor allows.
    pub fn issue_app_token(
        &self,
        app: &App,
        client_id: &str,
        client_secret: &str,
        ttl_secs: Option<i64>,
    ) -> Result<IssuedToken> {
        // Both comparisons always run, so timing tells nothing about which failed.
        let id_ok = auth::secrets_equal(client_id, &app.client_id);
        let secret_ok = auth::secrets_equal(client_secret, &app.client_secret);
        if !(id_ok & secret_ok) {
            return Err(Error::Unauthenticated(AuthFailure::BadClientCredentials));
        }
        let (expires_at, expires_in) = self.expiry(ttl_secs)?;
        Ok(IssuedToken { token: auth::issue_app_token(app, expires_at), expires_in })
    }

    /// Converts a requested lifetime into (expiry instant, seconds).
    ///
    /// The vendor's `ttl: 0` ("never expires") and anything longer than
    /// the configured maximum get the maximum: a leaked token must stop
    /// working some day without the operator rotating the signing key.
    pub(crate) fn expiry(&self, ttl_secs: Option<i64>) -> Result<(i64, i64)> {
        let ttl = ttl_secs.unwrap_or(self.deps.config.default_token_ttl_secs);
        if ttl < 0 {
            return Err(Error::InvalidArgument("ttl must not be negative".into()));
        }
        // Also capped at ten years so the expiry instant cannot overflow.
        let max = self.deps.config.max_token_ttl_secs.clamp(1, 10 * 365 * 24 * 3600);
        let ttl = if ttl == 0 { max } else { ttl.min(max) };
        Ok((self.deps.clock.now_ms() + ttl * 1000, ttl))
    }
}

/// A new random key to sign an app's tokens with.
pub fn new_signing_key() -> Vec<u8> {
    auth::random_token(32).into_bytes()
}

/// Lets the cache, keyed by owned `(org, name)`, be searched with borrowed
/// strings, so a lookup allocates nothing.
trait CacheKey {
    fn parts(&self) -> (&str, &str);
}

impl CacheKey for (String, String) {
    fn parts(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl CacheKey for (&str, &str) {
    fn parts(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl<'a> std::borrow::Borrow<dyn CacheKey + 'a> for (String, String) {
    fn borrow(&self) -> &(dyn CacheKey + 'a) {
        self
    }
}

impl std::hash::Hash for dyn CacheKey + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for dyn CacheKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn CacheKey + '_ {}
