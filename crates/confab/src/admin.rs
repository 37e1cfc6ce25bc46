//! `confab app …`: apps (tenants) from the command line. Works on the same
//! data folder as the server, and while it runs.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Subcommand;

use confab_core::apps::AppCredentials;
use confab_core::clock::SystemClock;
use confab_server::config::Config;
use confab_server::node::{Node, Role};

#[derive(Subcommand)]
pub enum AppCommand {
    /// Create an app and print its credentials.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        app: String,
        /// Use this client ID instead of a generated one.
        #[arg(long)]
        client_id: Option<String>,
        /// Use this client secret instead of a generated one.
        #[arg(long)]
        client_secret: Option<String>,
    },
    /// List apps (without secrets).
    List,
    /// Set or clear one of an app's rate limits (0 = unlimited), overriding
    /// the server's default. Names: easemob.requests_per_second,
    /// easemob.message_receivers_per_minute.
    Limit {
        #[arg(long)]
        org: String,
        #[arg(long)]
        app: String,
        #[arg(long)]
        name: String,
        /// The new value; leave out to go back to the server's default.
        #[arg(long)]
        value: Option<u32>,
    },
    /// Set an app's WildfireChat admin secret (a new random one without
    /// --secret) and print it.
    WildfireSecret {
        #[arg(long)]
        org: String,
        #[arg(long)]
        app: String,
        #[arg(long)]
        secret: Option<String>,
    },
    /// Set an app's LeanCloud credentials (new random ones for those not
    /// given) and print them.
    LeancloudKeys {
        #[arg(long)]
        org: String,
        #[arg(long)]
        app: String,
        #[arg(long)]
        app_id: Option<String>,
        #[arg(long)]
        app_key: Option<String>,
        #[arg(long)]
        master_key: Option<String>,
    },
    /// Print an app's credentials.
    Credentials {
        #[arg(long, env = "CONFAB_ORG", default_value = "demo")]
        org: String,
        #[arg(long, env = "CONFAB_APP", default_value = "chat")]
        app: String,
    },
}

pub async fn run(config_file: Option<PathBuf>, command: AppCommand) -> anyhow::Result<()> {
    let config = Config::load(config_file.as_deref())?;
    let node = Node::open(&config, Arc::new(SystemClock), Role::Admin).await?;
    let core = node.core.clone();
    match command {
        AppCommand::Create { org, app, client_id, client_secret } => {
            let created = core
                .apps
                .create(&org, &app, AppCredentials { client_id, client_secret })
                .await
                .map_err(|e| anyhow::anyhow!("cannot create app {org}/{app}: {e}"))?;
            print_credentials(&created);
        }
        AppCommand::List => {
            for app in core.apps.list().await.map_err(|e| anyhow::anyhow!("{e}"))? {
                println!("{}/{}\tapplication={}\tclient_id={}", app.org, app.name, app.uuid, app.client_id);
            }
        }
        AppCommand::Limit { org, app, name, value } => {
            let updated =
                core.apps.set_rate_limit(&org, &app, &name, value).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "{}/{} rate limits: {:?} (others: server defaults)",
                updated.org, updated.name, updated.rate_limits
            );
        }
        AppCommand::WildfireSecret { org, app, secret } => {
            let secret = secret.unwrap_or_else(|| confab_core::auth::random_key(24));
            if secret.is_empty() || secret.chars().any(char::is_control) {
                anyhow::bail!("the secret must be printable and not empty");
            }
            let updated = core
                .apps
                .set_credential(&org, &app, "wildfire.secret", Some(secret))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            print_credentials(&updated);
        }
        AppCommand::LeancloudKeys { org, app, app_id, app_key, master_key } => {
            let mut updated = None;
            for (name, value) in
                [("leancloud.app_id", app_id), ("leancloud.app_key", app_key), ("leancloud.master_key", master_key)]
            {
                let value = value.unwrap_or_else(|| confab_core::auth::random_key(18));
                if value.is_empty() || value.chars().any(|c| c.is_control() || c == ',') {
                    anyhow::bail!("{name} must be printable, without commas, and not empty");
                }
                updated = Some(
                    core.apps
                        .set_credential(&org, &app, name, Some(value))
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                );
            }
            if let Some(updated) = updated {
                print_credentials(&updated);
            }
        }
        AppCommand::Credentials { org, app } => {
            let found = core.apps.by_name(&org, &app).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let found = found.ok_or_else(|| anyhow::anyhow!("no app {org}/{app}"))?;
            print_credentials(&found);
        }
    }
    Ok(())
}

fn print_credentials(app: &confab_core::model::App) {
    println!("org:           {}", app.org);
    println!("app:           {}", app.name);
    println!("application:   {}", app.uuid);
    println!("client_id:     {}", app.client_id);
    println!("client_secret: {}", app.client_secret);
    for (name, label) in [
        ("wildfire.secret", "wildfire_secret"),
        ("leancloud.app_id", "leancloud_app_id"),
        ("leancloud.app_key", "leancloud_app_key"),
        ("leancloud.master_key", "leancloud_master_key"),
    ] {
        if let Some(value) = app.credentials.get(name) {
            println!("{label}: {value}");
        }
    }
}
