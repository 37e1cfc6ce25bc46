//! `confab app …`: apps (tenants) from the command line. Works on the same
//! data folder or database as the server, and while it runs.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use clap::builder::PossibleValuesParser;
use clap::{Args, Subcommand, ValueEnum};

use confab_core::apps::{new_signing_key, AppCredentials};
use confab_core::clock::SystemClock;
use confab_core::moderation::Strategy;
use confab_core::storage::CredentialChange;
use confab_server::config::Config;
use confab_server::node::{Node, Role};
use confab_server::{login_signatures, set_login_signatures, LoginSignatures};

/// Which app a command acts on. Every command defaults the same way: to the
/// server's first app (`CONFAB_ORG`/`CONFAB_APP` or the config file, else
/// demo/chat).
#[derive(Args)]
pub struct AppName {
    /// The app's org [default: the server's first app's, CONFAB_ORG, else demo]
    #[arg(long)]
    org: Option<String>,
    /// The app's name [default: the server's first app's, CONFAB_APP, else chat]
    #[arg(long)]
    app: Option<String>,
}

#[derive(Subcommand)]
pub enum AppCommand {
    /// Create an app and print its credentials (creates the data folder or
    /// database if there is none yet).
    Create {
        #[command(flatten)]
        name: AppName,
        /// Use this client ID instead of a generated one.
        #[arg(long)]
        client_id: Option<String>,
        /// Use this client secret instead of a generated one.
        #[arg(long)]
        client_secret: Option<String>,
    },
    /// List apps (without secrets).
    List,
    /// Set or clear one of an app's limits (0 = unlimited), overriding the
    /// server's default.
    Limit {
        #[command(flatten)]
        name: AppName,
        /// Which limit (the list below is every one the server knows).
        #[arg(long = "name", value_parser = limit_names())]
        limit: String,
        /// The new value; leave out to go back to the server's default.
        #[arg(long)]
        value: Option<u32>,
    },
    /// Say what happens to a user's own message (a client's or a robot's
    /// send) that contains one of the app's sensitive words: refuse it (the
    /// default), drop it (accepted, never delivered; WildfireChat's robot
    /// API only) or replace each word with ***. Without --strategy, print it.
    SensitiveStrategy {
        #[command(flatten)]
        name: AppName,
        #[arg(long, value_parser = ["refuse", "drop", "replace"])]
        strategy: Option<String>,
    },
    /// Set or show an app's callbacks to its own server: pre-send (the
    /// server may pass, refuse or change each message before it is sent) and
    /// post-send (each stored message is posted to it, in order, retried),
    /// in the vendor format its code expects. An empty URL removes it. The
    /// server must be allowed to reach a private address
    /// (CONFAB_FETCH_ALLOW_PRIVATE). Prints the settings (not the secret).
    Callbacks {
        #[command(flatten)]
        name: AppName,
        /// Where pre-send calls go (for `leancloud`, the engine's base URL).
        #[arg(long)]
        pre_send_url: Option<String>,
        /// Where post-send calls go (for `leancloud`, the engine's base URL).
        #[arg(long)]
        post_send_url: Option<String>,
        /// The secret that signs every call (Easemob's `security`, LeanCloud's
        /// hook key, confab's X-Confab-Signature).
        #[arg(long, conflicts_with = "new_secret")]
        secret: Option<String>,
        /// Make up a new secret and print it once.
        #[arg(long)]
        new_secret: bool,
        /// The vendor format: the shape of each call and of the answer read.
        #[arg(long, value_parser = ["easemob", "leancloud", "wildfire"])]
        format: Option<String>,
        /// How long a send waits for the pre-send answer (1 to 10000 ms).
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// What a pre-send call that fails or times out decides.
        #[arg(long, value_parser = ["pass", "refuse"])]
        on_failure: Option<String>,
        /// Remove every callback setting first.
        #[arg(long)]
        clear: bool,
    },
    /// Set or show an app's offline-push providers: Apple APNs (a .p8 key),
    /// Firebase Cloud Messaging (a service account's JSON key) and a webhook
    /// for other vendors. Devices bind tokens to a provider by its notifier
    /// name (Easemob's certificate name; by default apns, fcm, webhook). An
    /// empty file or URL removes that provider. Prints the settings (never a
    /// key or the webhook secret).
    Push {
        #[command(flatten)]
        name: AppName,
        /// The APNs auth key (.p8) file.
        #[arg(long)]
        apns_key_file: Option<std::path::PathBuf>,
        /// The key's ID (the `kid` of the provider token).
        #[arg(long)]
        apns_key_id: Option<String>,
        /// The Apple developer team ID.
        #[arg(long)]
        apns_team_id: Option<String>,
        /// The app's bundle ID (`apns-topic`).
        #[arg(long)]
        apns_topic: Option<String>,
        #[arg(long, value_parser = ["production", "sandbox"])]
        apns_environment: Option<String>,
        /// Another host than Apple's (a proxy); empty for Apple's.
        #[arg(long)]
        apns_endpoint: Option<String>,
        /// The name devices bind APNs tokens with (default apns).
        #[arg(long)]
        apns_notifier: Option<String>,
        /// The Firebase service account's JSON key file.
        #[arg(long)]
        fcm_service_account_file: Option<std::path::PathBuf>,
        /// Another host than fcm.googleapis.com; empty for Google's.
        #[arg(long)]
        fcm_endpoint: Option<String>,
        #[arg(long)]
        fcm_notifier: Option<String>,
        /// Where pushes for other vendors are posted.
        #[arg(long)]
        webhook_url: Option<String>,
        /// Signs webhook calls (X-Confab-Signature).
        #[arg(long)]
        webhook_secret: Option<String>,
        #[arg(long)]
        webhook_notifier: Option<String>,
        /// How long a receiver's devices have to acknowledge a message
        /// before it is pushed (1 to 60000 ms; default 2000).
        #[arg(long)]
        ack_wait_ms: Option<u64>,
        /// Remove every push setting first.
        #[arg(long)]
        clear: bool,
    },
    /// Set an app's WildfireChat admin secret to a chosen value (a new random
    /// one without --secret) and print it. Refused if another app has it.
    WildfireSecret {
        #[command(flatten)]
        name: AppName,
        /// The secret; printable and not empty.
        #[arg(long)]
        secret: Option<String>,
    },
    /// Set an app's LeanCloud credentials to chosen values (new random ones
    /// for those not given) and print them. Refused if another app has one.
    LeancloudKeys {
        #[command(flatten)]
        name: AppName,
        /// The LeanCloud app ID (X-LC-Id).
        #[arg(long)]
        app_id: Option<String>,
        /// The app key (X-LC-Key without `,master`).
        #[arg(long)]
        app_key: Option<String>,
        /// The master key (X-LC-Key with `,master`).
        #[arg(long)]
        master_key: Option<String>,
    },
    /// Say whether the app's LeanCloud clients must sign their logins
    /// (`_rtmClientSign`, the vendor's console switch): `required` refuses a
    /// session open without a signature made with the master key (4102);
    /// `optional`, the default, lets a client open by its ID. Without
    /// --signature, print the rule.
    LeancloudLogin {
        #[command(flatten)]
        name: AppName,
        #[arg(long, value_parser = ["optional", "required"])]
        signature: Option<String>,
    },
    /// Replace one of an app's credentials with a new random one and print
    /// it once. The old one stops working (running servers notice within
    /// 5 seconds).
    Rotate {
        #[command(flatten)]
        name: AppName,
        /// Which credential.
        #[arg(long, value_enum)]
        what: Rotated,
    },
    /// Print an app's credentials.
    Credentials {
        #[command(flatten)]
        name: AppName,
    },
}

/// A credential `confab app rotate` replaces.
#[derive(Clone, Copy, ValueEnum)]
pub enum Rotated {
    /// The Easemob client secret (app tokens already issued keep working
    /// until they expire; rotate the signing key to end them too).
    ClientSecret,
    /// The WildfireChat admin secret.
    WildfireSecret,
    /// The LeanCloud app key and master key (the app ID, which ships in
    /// client apps, stays).
    LeancloudKeys,
    /// The key that signs the app's tokens: every token issued so far (app
    /// and user tokens, file links) is refused afterwards.
    SigningKey,
}

const WILDFIRE_SECRET: &str = "wildfire.secret";
const LEANCLOUD_APP_ID: &str = "leancloud.app_id";
const LEANCLOUD_APP_KEY: &str = "leancloud.app_key";
const LEANCLOUD_MASTER_KEY: &str = "leancloud.master_key";

/// Every limit name the server knows; `--help` lists them and anything else
/// is refused (a misspelt name would be stored and never read).
fn limit_names() -> PossibleValuesParser {
    // clap keeps names as `&'static str`; this runs once per command line.
    let names = confab_server::limits::vendor_defaults().into_keys().map(|name| &*String::leak(name));
    PossibleValuesParser::new(names)
}

#[derive(Subcommand)]
pub enum ConsoleCommand {
    /// Set an operator's console password (creating the operator), or make
    /// up a new one and print it. Their open console sessions end.
    Password {
        /// The operator [default: admin, the one the first start makes]
        #[arg(long, default_value = confab_server::FIRST_OPERATOR)]
        name: String,
        /// The password (12 to 64 characters); made up and printed when left out.
        #[arg(long, env = "CONFAB_NEW_CONSOLE_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

/// `confab console …`, on the server's data folder or database.
pub async fn console(config_file: Option<PathBuf>, command: ConsoleCommand) -> anyhow::Result<()> {
    let config = Config::load(config_file.as_deref())?;
    let node = Node::open(&config, Arc::new(SystemClock), Role::Admin).await?;
    match command {
        ConsoleCommand::Password { name, password } => {
            let made_up = password.is_none();
            let password = password.unwrap_or_else(|| confab_core::auth::random_key(20));
            node.core.operators.set_password(&name, password.clone()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut out = std::io::stdout().lock();
            match made_up {
                true => writeln!(out, "console operator {name}: password {password}")?,
                false => writeln!(out, "console operator {name}: password set")?,
            }
        }
    }
    Ok(())
}

pub async fn run(config_file: Option<PathBuf>, command: AppCommand) -> anyhow::Result<()> {
    let config = Config::load(config_file.as_deref())?;
    // Said first, so an answer such as "no app" can be read against it.
    match &config.database_url {
        Some(url) => eprintln!("confab: using the PostgreSQL database {}", without_password(url)),
        None => eprintln!("confab: using the data folder {}", config.data_dir.display()),
    }
    let role = match command {
        AppCommand::Create { .. } => Role::AdminCreating,
        _ => Role::Admin,
    };
    let node = Node::open(&config, Arc::new(SystemClock), role).await?;
    let apps = &node.core.apps;
    let first = &config.first_app;
    let named =
        |name: AppName| (name.org.unwrap_or_else(|| first.org.clone()), name.app.unwrap_or_else(|| first.app.clone()));
    let mut out = std::io::stdout().lock();
    match command {
        AppCommand::Create { name, client_id, client_secret } => {
            let (org, app) = named(name);
            let created = apps
                .create(&org, &app, AppCredentials { client_id, client_secret })
                .await
                .map_err(|e| anyhow::anyhow!("cannot create app {org}/{app}: {e}"))?;
            print_credentials(&mut out, &created)?;
        }
        AppCommand::List => {
            for app in apps.list().await.map_err(|e| anyhow::anyhow!("{e}"))? {
                writeln!(out, "{}/{}\tapplication={}\tclient_id={}", app.org, app.name, app.uuid, app.client_id)?;
            }
        }
        AppCommand::Limit { name, limit, value } => {
            let (org, app) = named(name);
            let updated = apps.set_rate_limit(&org, &app, &limit, value).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            writeln!(
                out,
                "{}/{} rate limits: {:?} (others: server defaults)",
                updated.org, updated.name, updated.rate_limits
            )?;
        }
        AppCommand::SensitiveStrategy { name, strategy } => {
            let (org, app) = named(name);
            let found = existing(apps, &org, &app).await?;
            let moderation = &node.core.moderation;
            if let Some(strategy) = strategy.as_deref().and_then(Strategy::parse) {
                moderation.set_strategy(found.id, strategy).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            let now = moderation.strategy(found.id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            writeln!(out, "{org}/{app} sensitive words: {}", now.as_str())?;
        }
        AppCommand::LeancloudLogin { name, signature } => {
            let (org, app) = named(name);
            let found = existing(apps, &org, &app).await?;
            if let Some(rule) = signature.as_deref().and_then(LoginSignatures::parse) {
                set_login_signatures(&node.core, found.id, rule).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            let now = login_signatures(&node.core, found.id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            writeln!(out, "{org}/{app} LeanCloud login signatures: {}", now.as_str())?;
        }
        AppCommand::Callbacks {
            name,
            pre_send_url,
            post_send_url,
            secret,
            new_secret,
            format,
            timeout_ms,
            on_failure,
            clear,
        } => {
            use confab_server::callbacks::{self, Format, OnFailure, Settings};
            let (org, app) = named(name);
            let found = existing(apps, &org, &app).await?;
            let core = &node.core;
            let mut settings = match clear {
                true => Settings::default(),
                false => callbacks::settings(core, found.id).await.map_err(|e| anyhow::anyhow!("{e}"))?,
            };
            let url = |given: String| Some(given).filter(|u| !u.is_empty());
            if let Some(given) = pre_send_url {
                settings.pre_send_url = url(given);
            }
            if let Some(given) = post_send_url {
                settings.post_send_url = url(given);
            }
            let made_up = new_secret.then(|| confab_core::auth::random_key(32));
            if let Some(given) = secret.or_else(|| made_up.clone()) {
                settings.secret = Some(given).filter(|s| !s.is_empty());
            }
            if let Some(given) = format.as_deref().and_then(Format::parse) {
                settings.format = given;
            }
            if let Some(ms) = timeout_ms {
                settings.timeout_ms = ms;
            }
            match on_failure.as_deref() {
                Some("refuse") => settings.on_failure = OnFailure::Refuse,
                Some(_) => settings.on_failure = OnFailure::Pass,
                None => {}
            }
            callbacks::set_settings(core, found.id, &settings).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let shown = |u: &Option<String>| u.clone().unwrap_or_else(|| "(none)".into());
            writeln!(out, "{org}/{app} callbacks:")?;
            writeln!(out, "  format      {}", settings.format.as_str())?;
            writeln!(out, "  pre-send    {}", shown(&settings.pre_send_url))?;
            writeln!(out, "  post-send   {}", shown(&settings.post_send_url))?;
            writeln!(out, "  wait        {} ms, then {:?}", settings.timeout_ms, settings.on_failure)?;
            writeln!(out, "  secret      {}", if settings.secret.is_some() { "set" } else { "(none)" })?;
            if let Some(made_up) = made_up {
                writeln!(out, "New secret (shown once): {made_up}")?;
            }
        }
        AppCommand::Push {
            name,
            apns_key_file,
            apns_key_id,
            apns_team_id,
            apns_topic,
            apns_environment,
            apns_endpoint,
            apns_notifier,
            fcm_service_account_file,
            fcm_endpoint,
            fcm_notifier,
            webhook_url,
            webhook_secret,
            webhook_notifier,
            ack_wait_ms,
            clear,
        } => {
            use confab_server::push;
            let (org, app) = named(name);
            let found = existing(apps, &org, &app).await?;
            let core = &node.core;
            let mut settings = match clear {
                true => push::Settings::default(),
                false => push::settings(core, found.id).await.map_err(|e| anyhow::anyhow!("{e}"))?,
            };
            let change = push::Change {
                apns_key_file,
                apns_key_id,
                apns_team_id,
                apns_topic,
                apns_environment,
                apns_endpoint,
                apns_notifier,
                fcm_service_account_file,
                fcm_endpoint,
                fcm_notifier,
                webhook_url,
                webhook_secret: webhook_secret.map(confab_server::config::Secret),
                webhook_notifier,
                ack_wait_ms,
            };
            change.apply(&mut settings).map_err(|e| anyhow::anyhow!("{e}"))?;
            push::set_settings(core, found.id, &settings).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            writeln!(out, "{org}/{app} push:")?;
            writeln!(out, "{}", serde_json::to_string_pretty(&settings.shown())?)?;
        }
        AppCommand::WildfireSecret { name, secret } => {
            let (org, app) = named(name);
            let secret = secret.unwrap_or_else(|| confab_core::auth::random_key(24));
            if secret.is_empty() || secret.chars().any(char::is_control) {
                anyhow::bail!("the secret must be printable and not empty");
            }
            let change = CredentialChange { replace: [(WILDFIRE_SECRET.into(), secret)].into(), ..Default::default() };
            let updated = apps.change_credentials(&org, &app, change).await.map_err(|e| refused(&org, &app, e))?;
            print_credentials(&mut out, &updated)?;
        }
        AppCommand::LeancloudKeys { name, app_id, app_key, master_key } => {
            let (org, app) = named(name);
            let mut change = CredentialChange::default();
            for (name, value) in
                [(LEANCLOUD_APP_ID, app_id), (LEANCLOUD_APP_KEY, app_key), (LEANCLOUD_MASTER_KEY, master_key)]
            {
                let value = value.unwrap_or_else(|| confab_core::auth::random_key(18));
                if value.is_empty() || value.chars().any(|c| c.is_control() || c == ',') {
                    anyhow::bail!("{name} must be printable, without commas, and not empty");
                }
                change.replace.insert(name.into(), value);
            }
            let updated = apps.change_credentials(&org, &app, change).await.map_err(|e| refused(&org, &app, e))?;
            print_credentials(&mut out, &updated)?;
        }
        AppCommand::Rotate { name, what } => {
            let (org, app) = named(name);
            let mut change = CredentialChange::default();
            match what {
                Rotated::ClientSecret => {
                    change.client_secret = Some(format!("CF{}", confab_core::auth::random_token(24)))
                }
                Rotated::WildfireSecret => {
                    change.replace.insert(WILDFIRE_SECRET.into(), confab_core::auth::random_key(24));
                }
                Rotated::LeancloudKeys => {
                    change.replace.insert(LEANCLOUD_APP_KEY.into(), confab_core::auth::random_key(18));
                    change.replace.insert(LEANCLOUD_MASTER_KEY.into(), confab_core::auth::random_key(18));
                }
                Rotated::SigningKey => change.signing_key = Some(new_signing_key()),
            }
            let updated =
                apps.change_credentials(&org, &app, change.clone()).await.map_err(|e| refused(&org, &app, e))?;
            writeln!(out, "org:           {}", updated.org)?;
            writeln!(out, "app:           {}", updated.name)?;
            if change.client_secret.is_some() {
                writeln!(out, "client_secret: {}", updated.client_secret)?;
            }
            for name in change.replace.keys() {
                writeln!(out, "{}: {}", label(name), updated.credentials.get(name).map_or("", String::as_str))?;
            }
            if change.signing_key.is_some() {
                // The key itself never leaves the server.
                writeln!(out, "signing key replaced: every token issued before is refused")?;
            }
        }
        AppCommand::Credentials { name } => {
            let (org, app) = named(name);
            let found = apps.by_name(&org, &app).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let found = found.ok_or_else(|| anyhow::anyhow!("no app {org}/{app} in this database"))?;
            print_credentials(&mut out, &found)?;
        }
    }
    Ok(())
}

fn refused(org: &str, app: &str, e: confab_core::error::Error) -> anyhow::Error {
    anyhow::anyhow!("cannot change the credentials of {org}/{app}: {e}")
}

fn label(name: &str) -> &str {
    match name {
        WILDFIRE_SECRET => "wildfire_secret",
        LEANCLOUD_APP_ID => "leancloud_app_id",
        LEANCLOUD_APP_KEY => "leancloud_app_key",
        LEANCLOUD_MASTER_KEY => "leancloud_master_key",
        other => other,
    }
}

/// A database URL as it may be shown: without its password.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((user_info, host)) = rest.rsplit_once('@') else { return url.to_owned() };
    let user = user_info.split(':').next().unwrap_or_default();
    format!("{scheme}://{user}@{host}")
}

fn print_credentials(out: &mut impl std::io::Write, app: &confab_core::model::App) -> std::io::Result<()> {
    writeln!(out, "org:           {}", app.org)?;
    writeln!(out, "app:           {}", app.name)?;
    writeln!(out, "application:   {}", app.uuid)?;
    writeln!(out, "client_id:     {}", app.client_id)?;
    writeln!(out, "client_secret: {}", app.client_secret)?;
    for name in [WILDFIRE_SECRET, LEANCLOUD_APP_ID, LEANCLOUD_APP_KEY, LEANCLOUD_MASTER_KEY] {
        if let Some(value) = app.credentials.get(name) {
            writeln!(out, "{}: {value}", label(name))?;
        }
    }
    Ok(())
}

/// The app named `org`/`app`; an error naming it when there is none.
async fn existing(
    apps: &confab_core::apps::AppService,
    org: &str,
    app: &str,
) -> anyhow::Result<std::sync::Arc<confab_core::model::App>> {
    apps.by_name(org, app)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .ok_or_else(|| anyhow::anyhow!("there is no app {org}/{app}"))
}
