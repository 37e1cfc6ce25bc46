//! Server configuration: defaults, then `confab.toml`, then environment
//! variables. The variable names are a contract with operators.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use confab_sqlite::Durability;

/// Everything `confab serve` can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `CONFAB_HTTP_ADDR`: REST and WebSocket listener.
    pub http_addr: SocketAddr,
    /// `CONFAB_DATA_DIR`: the SQLite database and local files.
    pub data_dir: PathBuf,
    /// `CONFAB_DATABASE_URL`: `postgres://…` to store in PostgreSQL instead
    /// of the embedded SQLite database.
    pub database_url: Option<String>,
    /// `CONFAB_NATS_URL`: `nats://…` to run as one node of a cluster (needs
    /// `CONFAB_DATABASE_URL`); see the README's cluster section.
    pub nats_url: Option<String>,
    /// `CONFAB_CLUSTER`: the cluster's name, which prefixes its NATS
    /// subjects so several clusters can share one NATS (default `confab`).
    pub cluster: String,
    /// The app that exists at first start.
    pub first_app: FirstApp,
    /// `CONFAB_SQLITE_SYNC`: `full` (default) or `normal`; see ARCHITECTURE.md.
    pub sqlite_sync: SyncMode,
    /// `CONFAB_TOKEN_TTL_SECS`: token lifetime when a caller asks for none.
    pub token_ttl_secs: i64,
    /// `CONFAB_RATE_LIMITS` (`name=value,…`): default rate limits for every
    /// app; apps may override them. 0 is unlimited.
    pub rate_limits: BTreeMap<String, u32>,
    /// `CONFAB_WILDFIRE_ADDR`: a second listener for the WildfireChat admin
    /// API (the vendor's port is 18080), besides `/admin/` on `http_addr`.
    pub wildfire_addr: Option<SocketAddr>,
    /// `CONFAB_HISTORY_EXPORT_SECS`: how often finished hours' history files are written.
    pub history_export_secs: u64,
    /// Where file contents go: S3-compatible storage when `CONFAB_S3_BUCKET`
    /// is set, else `files/` in the data folder.
    pub s3: Option<S3Settings>,
    /// `CONFAB_PUBLIC_URL`: where clients reach this server (`https://im.example.com`),
    /// the start of every link confab writes; without it, `http://` and the
    /// request's `Host`.
    pub public_url: Option<String>,
    /// `CONFAB_FETCH_ALLOW_PRIVATE`: private, loopback or link-local
    /// addresses that server-side fetches may reach anyway: `all`, or CIDR
    /// ranges separated by commas (see `fetch.rs`). None by default.
    pub fetch_allow_private: crate::fetch::FetchPolicy,
    /// Connection and authentication-failure limits at the edge (`CONFAB_HEADER_READ_TIMEOUT_SECS`, …).
    pub edge: EdgeSettings,
    /// `CONFAB_MAX_TOKEN_TTL_SECS`: the longest any token lives, in
    /// seconds (default one year); an Easemob `ttl: 0` ("never expires")
    /// gets this.
    pub max_token_ttl_secs: i64,
    /// `CONFAB_CONSOLE_PASSWORD`: the console operator `admin`'s password,
    /// set on every start (else the first start makes one up and prints it,
    /// and `confab console password` changes it).
    pub console_password: Option<Secret>,
    /// The first app's callbacks to its own server, set on every start when
    /// given (`confab app callbacks` sets any app's, and shows them).
    pub callbacks: FirstAppCallbacks,
    /// The first app's offline-push providers, set on every start when given
    /// (`CONFAB_PUSH_*`; `confab app push` sets any app's, and shows them).
    pub push: crate::push::Change,
}

/// `CONFAB_CALLBACK_PRE_SEND_URL`, `CONFAB_CALLBACK_POST_SEND_URL`,
/// `CONFAB_CALLBACK_SECRET`, and `CONFAB_CALLBACK_FORMAT` (`easemob`,
/// `leancloud` or `wildfire`), `CONFAB_CALLBACK_TIMEOUT_MS`,
/// `CONFAB_CALLBACK_ON_FAILURE` (`pass` or `refuse`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FirstAppCallbacks {
    pub pre_send_url: Option<String>,
    pub post_send_url: Option<String>,
    pub secret: Option<Secret>,
    pub format: Option<String>,
    pub timeout_ms: Option<u64>,
    pub on_failure: Option<String>,
}

impl FirstAppCallbacks {
    /// Whether any is given.
    pub fn any(&self) -> bool {
        self.pre_send_url.is_some()
            || self.post_send_url.is_some()
            || self.secret.is_some()
            || self.format.is_some()
            || self.timeout_ms.is_some()
            || self.on_failure.is_some()
    }
}

pub use crate::secret::Secret;

/// `CONFAB_S3_BUCKET`, `CONFAB_S3_ENDPOINT`, `CONFAB_S3_REGION`,
/// `CONFAB_S3_ACCESS_KEY_ID`, `CONFAB_S3_SECRET_ACCESS_KEY`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    pub bucket: String,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default = "default_region")]
    pub region: String,
    #[serde(default)]
    pub access_key_id: String,
    #[serde(default)]
    pub secret_access_key: String,
}

fn default_region() -> String {
    "us-east-1".into()
}

impl std::fmt::Debug for S3Settings {
    // The secret key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FirstApp {
    /// `CONFAB_ORG`
    pub org: String,
    /// `CONFAB_APP`
    pub app: String,
    /// `CONFAB_CLIENT_ID`; generated when absent.
    pub client_id: Option<String>,
    /// `CONFAB_CLIENT_SECRET`; generated when absent.
    pub client_secret: Option<String>,
    /// `CONFAB_WILDFIRE_SECRET`: the WildfireChat admin secret; generated when absent.
    pub wildfire_secret: Option<String>,
    /// `CONFAB_LEANCLOUD_APP_ID`, `CONFAB_LEANCLOUD_APP_KEY`, `CONFAB_LEANCLOUD_MASTER_KEY`:
    /// the LeanCloud credentials; generated when absent.
    pub leancloud_app_id: Option<String>,
    pub leancloud_app_key: Option<String>,
    pub leancloud_master_key: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    #[default]
    Full,
    Normal,
}

impl From<SyncMode> for Durability {
    fn from(mode: SyncMode) -> Durability {
        match mode {
            SyncMode::Full => Durability::Full,
            SyncMode::Normal => Durability::Normal,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            http_addr: "127.0.0.1:8080".parse().expect("valid default address"),
            data_dir: PathBuf::from("./confab-data"),
            database_url: None,
            nats_url: None,
            cluster: "confab".into(),
            first_app: FirstApp::default(),
            sqlite_sync: SyncMode::Full,
            token_ttl_secs: 60 * 24 * 3600,
            rate_limits: crate::limits::vendor_defaults(),
            wildfire_addr: None,
            history_export_secs: 300,
            s3: None,
            public_url: None,
            fetch_allow_private: crate::fetch::FetchPolicy::PublicOnly,
            edge: EdgeSettings::default(),
            max_token_ttl_secs: 365 * 24 * 3600,
            console_password: None,
            callbacks: FirstAppCallbacks::default(),
            push: crate::push::Change::default(),
        }
    }
}

impl Default for FirstApp {
    fn default() -> Self {
        FirstApp {
            org: "demo".into(),
            app: "chat".into(),
            client_id: None,
            client_secret: None,
            wildfire_secret: None,
            leancloud_app_id: None,
            leancloud_app_key: None,
            leancloud_master_key: None,
        }
    }
}

impl Config {
    /// Reads `file` if given (or `./confab.toml` if it exists), then applies
    /// environment overrides.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let default_file = Path::new("confab.toml");
        let mut config = match file {
            Some(path) => Self::from_file(path)?,
            None if default_file.exists() => Self::from_file(default_file)?,
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))
    }

    /// Applies `CONFAB_*` overrides read through `var`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = var("CONFAB_HTTP_ADDR") {
            self.http_addr = v.parse().map_err(|e| anyhow::anyhow!("CONFAB_HTTP_ADDR={v}: {e}"))?;
        }
        if let Some(v) = var("CONFAB_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = var("CONFAB_DATABASE_URL").filter(|v| !v.is_empty()) {
            if !v.starts_with("postgres://") && !v.starts_with("postgresql://") {
                anyhow::bail!("CONFAB_DATABASE_URL must be a postgres:// URL");
            }
            self.database_url = Some(v);
        }
        if let Some(v) = var("CONFAB_NATS_URL").filter(|v| !v.is_empty()) {
            self.nats_url = Some(v);
        }
        if let Some(v) = var("CONFAB_CLUSTER") {
            let valid =
                (1..=32).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid {
                anyhow::bail!("CONFAB_CLUSTER must be 1 to 32 letters, digits, _ or -, not {v}");
            }
            self.cluster = v;
        }
        if let Some(v) = var("CONFAB_ORG") {
            self.first_app.org = v;
        }
        if let Some(v) = var("CONFAB_APP") {
            self.first_app.app = v;
        }
        if let Some(v) = var("CONFAB_CLIENT_ID") {
            self.first_app.client_id = Some(v);
        }
        if let Some(v) = var("CONFAB_CLIENT_SECRET") {
            self.first_app.client_secret = Some(v);
        }
        if let Some(v) = var("CONFAB_WILDFIRE_SECRET").filter(|v| !v.is_empty()) {
            self.first_app.wildfire_secret = Some(v);
        }
        if let Some(v) = var("CONFAB_LEANCLOUD_APP_ID").filter(|v| !v.is_empty()) {
            self.first_app.leancloud_app_id = Some(v);
        }
        if let Some(v) = var("CONFAB_LEANCLOUD_APP_KEY").filter(|v| !v.is_empty()) {
            self.first_app.leancloud_app_key = Some(v);
        }
        if let Some(v) = var("CONFAB_LEANCLOUD_MASTER_KEY").filter(|v| !v.is_empty()) {
            self.first_app.leancloud_master_key = Some(v);
        }
        if let Some(v) = var("CONFAB_WILDFIRE_ADDR").filter(|v| !v.is_empty()) {
            self.wildfire_addr = Some(v.parse().map_err(|e| anyhow::anyhow!("CONFAB_WILDFIRE_ADDR={v}: {e}"))?);
        }
        if let Some(bucket) = var("CONFAB_S3_BUCKET").filter(|v| !v.is_empty()) {
            self.s3 = Some(S3Settings {
                bucket,
                endpoint: var("CONFAB_S3_ENDPOINT").filter(|v| !v.is_empty()),
                region: var("CONFAB_S3_REGION").filter(|v| !v.is_empty()).unwrap_or_else(default_region),
                access_key_id: var("CONFAB_S3_ACCESS_KEY_ID").unwrap_or_default(),
                secret_access_key: var("CONFAB_S3_SECRET_ACCESS_KEY").unwrap_or_default(),
            });
        }
        if let Some(v) = var("CONFAB_HISTORY_EXPORT_SECS") {
            self.history_export_secs = v
                .parse()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| anyhow::anyhow!("CONFAB_HISTORY_EXPORT_SECS={v}: not a positive number"))?;
        }
        if let Some(v) = var("CONFAB_SQLITE_SYNC") {
            self.sqlite_sync = match v.as_str() {
                "full" => SyncMode::Full,
                "normal" => SyncMode::Normal,
                _ => anyhow::bail!("CONFAB_SQLITE_SYNC must be full or normal, not {v}"),
            };
        }
        if let Some(v) = var("CONFAB_RATE_LIMITS") {
            for pair in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (name, value) = pair
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("CONFAB_RATE_LIMITS: {pair} is not name=value"))?;
                let value = value.trim().parse().map_err(|e| anyhow::anyhow!("CONFAB_RATE_LIMITS: {pair}: {e}"))?;
                self.rate_limits.insert(name.trim().to_owned(), value);
            }
        }
        if let Some(v) = var("CONFAB_CONSOLE_PASSWORD") {
            self.console_password = Some(Secret(v)).filter(|v| !v.0.is_empty());
        }
        let text = |v: String| Some(v).filter(|v| !v.is_empty());
        if let Some(v) = var("CONFAB_CALLBACK_PRE_SEND_URL") {
            self.callbacks.pre_send_url = text(v);
        }
        if let Some(v) = var("CONFAB_CALLBACK_POST_SEND_URL") {
            self.callbacks.post_send_url = text(v);
        }
        if let Some(v) = var("CONFAB_CALLBACK_SECRET") {
            self.callbacks.secret = text(v).map(Secret);
        }
        if let Some(v) = var("CONFAB_CALLBACK_FORMAT") {
            self.callbacks.format = text(v);
        }
        if let Some(v) = var("CONFAB_CALLBACK_TIMEOUT_MS") {
            self.callbacks.timeout_ms =
                Some(v.parse().map_err(|e| anyhow::anyhow!("CONFAB_CALLBACK_TIMEOUT_MS={v}: {e}"))?);
        }
        if let Some(v) = var("CONFAB_CALLBACK_ON_FAILURE") {
            self.callbacks.on_failure = text(v);
        }
        if let Some(v) = var("CONFAB_PUSH_APNS_KEY_FILE") {
            self.push.apns_key_file = Some(v.into());
        }
        if let Some(v) = var("CONFAB_PUSH_APNS_KEY_ID") {
            self.push.apns_key_id = Some(v);
        }
        if let Some(v) = var("CONFAB_PUSH_APNS_TEAM_ID") {
            self.push.apns_team_id = Some(v);
        }
        if let Some(v) = var("CONFAB_PUSH_APNS_TOPIC") {
            self.push.apns_topic = Some(v);
        }
        if let Some(v) = var("CONFAB_PUSH_APNS_ENVIRONMENT") {
            self.push.apns_environment = Some(v);
        }
        if let Some(v) = var("CONFAB_PUSH_APNS_ENDPOINT") {
            self.push.apns_endpoint = Some(v);
        }
        if let Some(v) = var("CONFAB_PUSH_FCM_SERVICE_ACCOUNT_FILE") {
            self.push.fcm_service_account_file = Some(v.into());
        }
        if let Some(v) = var("CONFAB_PUSH_FCM_ENDPOINT") {
            self.push.fcm_endpoint = Some(v);
        }
        if let Some(v) = var("CONFAB_PUSH_WEBHOOK_URL") {
            self.push.webhook_url = Some(v);
        }
        if let Some(v) = var("CONFAB_PUSH_WEBHOOK_SECRET") {
            self.push.webhook_secret = Some(Secret(v));
        }
        if let Some(v) = var("CONFAB_PUSH_ACK_WAIT_MS") {
            self.push.ack_wait_ms = Some(v.parse().map_err(|e| anyhow::anyhow!("CONFAB_PUSH_ACK_WAIT_MS={v}: {e}"))?);
        }
        if let Some(v) = var("CONFAB_PUBLIC_URL") {
            self.public_url = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = var("CONFAB_FETCH_ALLOW_PRIVATE") {
            self.fetch_allow_private = crate::fetch::FetchPolicy::parse(&v)
                .map_err(|e| anyhow::anyhow!("CONFAB_FETCH_ALLOW_PRIVATE={v}: {e}"))?;
        }
        self.edge.apply_env(&var)?;
        if let Some(v) = var("CONFAB_TOKEN_TTL_SECS") {
            self.token_ttl_secs = v.parse().map_err(|e| anyhow::anyhow!("CONFAB_TOKEN_TTL_SECS={v}: {e}"))?;
        }
        if let Some(v) = var("CONFAB_MAX_TOKEN_TTL_SECS") {
            self.max_token_ttl_secs = v
                .parse()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| anyhow::anyhow!("CONFAB_MAX_TOKEN_TTL_SECS={v}: not a positive number"))?;
        }
        Ok(())
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("confab.db")
    }
}

/// What a connection may cost the server before it is closed or refused:
/// silent or slow clients must not hold descriptors, and failed
/// authentications are throttled per address, never charged to an app.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeSettings {
    /// `CONFAB_HEADER_READ_TIMEOUT_SECS`: a request's headers must arrive within this,
    /// counted from the connection's start or, on a kept-alive one, from the previous answer.
    pub header_read_timeout_secs: u64,
    /// `CONFAB_BODY_READ_TIMEOUT_SECS`: longest wait for the next part of a request body.
    pub body_read_timeout_secs: u64,
    /// `CONFAB_IDLE_TIMEOUT_SECS`: an HTTP connection with no request being handled and no
    /// byte moving either way for this long is closed (a stalled download, say).
    pub idle_timeout_secs: u64,
    /// `CONFAB_MAX_CONNECTIONS`: open connections (WebSocket sessions included); 0 means
    /// the process's descriptor limit less 128 kept for storage and files.
    pub max_connections: usize,
    /// `CONFAB_MAX_CONNECTIONS_PER_IP`: open connections from one address (one /64 for
    /// IPv6); 0 means half of `max_connections`.
    pub max_connections_per_ip: usize,
    /// `CONFAB_MAX_SESSIONS`: gateway sessions; 0 means `max_connections`.
    pub max_sessions: usize,
    /// `CONFAB_AUTH_FAILURES_PER_MINUTE`: failed authentications one address may make
    /// (a burst of as many, refilled over the minute) before its calls get 429; 0 is unlimited.
    pub auth_failures_per_minute: u32,
}

impl Default for EdgeSettings {
    fn default() -> Self {
        EdgeSettings {
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 30,
            idle_timeout_secs: 60,
            max_connections: 0,
            max_connections_per_ip: 0,
            max_sessions: 0,
            auth_failures_per_minute: 100,
        }
    }
}

impl EdgeSettings {
    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        fn number<T: std::str::FromStr>(name: &str, v: &str) -> anyhow::Result<T> {
            v.trim().parse().map_err(|_| anyhow::anyhow!("{name}={v}: not a whole number"))
        }
        fn positive(name: &str, v: &str) -> anyhow::Result<u64> {
            Some(number::<u64>(name, v)?)
                .filter(|n| *n > 0)
                .ok_or_else(|| anyhow::anyhow!("{name}={v}: must be at least 1"))
        }
        let read = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = read("CONFAB_HEADER_READ_TIMEOUT_SECS") {
            self.header_read_timeout_secs = positive("CONFAB_HEADER_READ_TIMEOUT_SECS", &v)?;
        }
        if let Some(v) = read("CONFAB_BODY_READ_TIMEOUT_SECS") {
            self.body_read_timeout_secs = positive("CONFAB_BODY_READ_TIMEOUT_SECS", &v)?;
        }
        if let Some(v) = read("CONFAB_IDLE_TIMEOUT_SECS") {
            self.idle_timeout_secs = positive("CONFAB_IDLE_TIMEOUT_SECS", &v)?;
        }
        if let Some(v) = read("CONFAB_MAX_CONNECTIONS") {
            self.max_connections = number("CONFAB_MAX_CONNECTIONS", &v)?;
        }
        if let Some(v) = read("CONFAB_MAX_CONNECTIONS_PER_IP") {
            self.max_connections_per_ip = number("CONFAB_MAX_CONNECTIONS_PER_IP", &v)?;
        }
        if let Some(v) = read("CONFAB_MAX_SESSIONS") {
            self.max_sessions = number("CONFAB_MAX_SESSIONS", &v)?;
        }
        if let Some(v) = read("CONFAB_AUTH_FAILURES_PER_MINUTE") {
            self.auth_failures_per_minute = number("CONFAB_AUTH_FAILURES_PER_MINUTE", &v)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_the_file() {
        let mut config: Config =
            toml::from_str("http_addr = \"127.0.0.1:9000\"\n[first_app]\norg = \"acme\"\n").unwrap();
        assert_eq!(config.first_app.org, "acme");
        config
            .apply_env(|name| match name {
                "CONFAB_HTTP_ADDR" => Some("127.0.0.1:9100".into()),
                "CONFAB_APP" => Some("support".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.http_addr.port(), 9100);
        assert_eq!(config.first_app.org, "acme");
        assert_eq!(config.first_app.app, "support");
    }

    #[test]
    fn rate_limits_default_to_the_vendors_and_can_be_overridden() {
        let mut config = Config::default();
        assert_eq!(config.rate_limits["easemob.requests_per_second"], 100);
        assert_eq!(config.rate_limits["easemob.message_receivers_per_minute"], 6000);
        config.apply_env(|n| (n == "CONFAB_RATE_LIMITS").then(|| "easemob.requests_per_second=0, x=5".into())).unwrap();
        assert_eq!(config.rate_limits["easemob.requests_per_second"], 0);
        assert_eq!(config.rate_limits["x"], 5);
        assert!(config.apply_env(|n| (n == "CONFAB_RATE_LIMITS").then(|| "nonsense".into())).is_err());
    }

    #[test]
    fn edge_settings_have_defaults_and_read_the_environment() {
        let mut config = Config::default();
        assert_eq!(config.edge.header_read_timeout_secs, 10);
        assert_eq!(config.edge.auth_failures_per_minute, 100);
        config
            .apply_env(|n| match n {
                "CONFAB_HEADER_READ_TIMEOUT_SECS" => Some("3".into()),
                "CONFAB_MAX_CONNECTIONS" => Some("500".into()),
                "CONFAB_AUTH_FAILURES_PER_MINUTE" => Some("0".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.edge.header_read_timeout_secs, 3);
        assert_eq!(config.edge.max_connections, 500);
        assert_eq!(config.edge.auth_failures_per_minute, 0);
        assert!(config.apply_env(|n| (n == "CONFAB_BODY_READ_TIMEOUT_SECS").then(|| "0".into())).is_err());
        assert!(config.apply_env(|n| (n == "CONFAB_MAX_SESSIONS").then(|| "many".into())).is_err());
        let from_file: Config = toml::from_str("[edge]\nidle_timeout_secs = 5\n").unwrap();
        assert_eq!(from_file.edge.idle_timeout_secs, 5);
    }

    #[test]
    fn the_longest_token_lifetime_is_configurable() {
        let mut config = Config::default();
        assert_eq!(config.max_token_ttl_secs, 365 * 24 * 3600);
        config.apply_env(|n| (n == "CONFAB_MAX_TOKEN_TTL_SECS").then(|| "3600".into())).unwrap();
        assert_eq!(config.max_token_ttl_secs, 3600);
        assert!(config.apply_env(|n| (n == "CONFAB_MAX_TOKEN_TTL_SECS").then(|| "0".into())).is_err());
        let file: Config = toml::from_str("max_token_ttl_secs = 60").unwrap();
        assert_eq!(file.max_token_ttl_secs, 60);
    }

    #[test]
    fn bad_values_are_reported() {
        let mut config = Config::default();
        assert!(config.apply_env(|n| (n == "CONFAB_HTTP_ADDR").then(|| "nope".into())).is_err());
        assert!(config.apply_env(|n| (n == "CONFAB_SQLITE_SYNC").then(|| "sometimes".into())).is_err());
        assert!(config.apply_env(|n| (n == "CONFAB_FETCH_ALLOW_PRIVATE").then(|| "localhost".into())).is_err());
    }

    #[test]
    fn fetches_are_public_only_unless_the_operator_allows_more() {
        let mut config = Config::default();
        assert_eq!(config.fetch_allow_private, crate::fetch::FetchPolicy::PublicOnly);
        assert_eq!(config.public_url, None);
        config
            .apply_env(|name| match name {
                "CONFAB_FETCH_ALLOW_PRIVATE" => Some("10.0.0.0/8".into()),
                "CONFAB_PUBLIC_URL" => Some("https://im.example.com".into()),
                _ => None,
            })
            .unwrap();
        assert!(config.fetch_allow_private.permits("10.1.1.1".parse().unwrap()));
        assert!(!config.fetch_allow_private.permits("127.0.0.1".parse().unwrap()));
        assert_eq!(config.public_url.as_deref(), Some("https://im.example.com"));
        let from_file: Config = toml::from_str("fetch_allow_private = \"all\"\npublic_url = \"https://x\"\n").unwrap();
        assert_eq!(from_file.fetch_allow_private, crate::fetch::FetchPolicy::AllButMetadata);
        assert!(toml::from_str::<Config>("fetch_allow_private = \"nonsense\"\n").is_err());
    }
}
