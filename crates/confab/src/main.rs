//! The `confab` binary: `serve`, `app`, `client` and `bench`.

mod admin;
mod bench;
mod client;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

// The server allocates many small, short-lived buffers (requests, frames,
// JSON) across threads; mimalloc handles that with far less contention and
// fragmentation than glibc's allocator (see docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "confab",
    version,
    about = "A self-hosted IM server speaking the Easemob, WildfireChat and LeanCloud server dialects"
)]
struct Cli {
    /// Configuration file (default: ./confab.toml when present). Environment variables override it.
    #[arg(long, global = true, env = "CONFAB_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve,
    /// Manage apps (tenants).
    #[command(subcommand)]
    App(admin::AppCommand),
    /// Act as a user over the gateway.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Measure throughput and latency against a server this command starts.
    Bench(bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,confab=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve => serve(cli.config).await,
            Command::App(command) => admin::run(cli.config, command).await,
            Command::Client(command) => client::run(command).await,
            Command::Bench(args) => bench::run(args).await,
        }
    })
}

async fn serve(config_file: Option<PathBuf>) -> anyhow::Result<()> {
    let config = confab_server::config::Config::load(config_file.as_deref())?;
    let app = confab_server::Application::build(config.clone()).await?;
    if let Some(created) = app.created_app() {
        // Shown once, on stdout only, so the operator can copy it; never logged.
        println!("Created app {}/{}", created.org, created.app);
        println!("  client_id:     {}", created.client_id);
        println!("  client_secret: {}", created.client_secret);
        println!("(shown once; `confab app credentials --org {} --app {}` shows them again)", created.org, created.app);
    }
    if let Some(created) = app.created_secret() {
        for (name, value) in &created.values {
            let label = match *name {
                "wildfire.secret" => "WildfireChat admin secret",
                "leancloud.app_id" => "LeanCloud app ID",
                "leancloud.app_key" => "LeanCloud app key",
                _ => "LeanCloud master key",
            };
            println!("{label} of {}/{}: {value}", created.org, created.app);
        }
        println!(
            "(CONFAB_WILDFIRE_SECRET and CONFAB_LEANCLOUD_* choose them; `confab app credentials` shows them again)"
        );
    }
    tracing::info!(addr = %app.local_addr(), data_dir = %config.data_dir.display(), "confab is listening");
    if let Some(addr) = app.wildfire_addr() {
        tracing::info!(%addr, "WildfireChat admin API is listening");
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    app.run_until(stopped).await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
