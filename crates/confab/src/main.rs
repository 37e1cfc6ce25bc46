//! The `confab` binary: `serve`, `app`, `client` and `bench`.

mod admin;
mod bench;
mod client;

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

// The server allocates many small, short-lived buffers (requests, frames,
// JSON) across threads; mimalloc handles that with far less contention and
// fragmentation than glibc's allocator (see docs/benchmarks.md). Built
// without the `mimalloc` feature, the binary uses the system's allocator,
// which heap profilers (heaptrack, valgrind) can follow.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How a thread hands back the pages mimalloc keeps for it: called through
/// [`confab_core::memory::idle`] by runtime workers when they park and by
/// the storage threads before they wait, at most once a second each.
/// mimalloc keeps freed pages per thread for reuse, and a thread that then
/// goes idle never gets to return them: after a burst of sessions had
/// closed, none of their memory came back; with this, about 70 % does
/// (docs/benchmarks.md).
#[cfg(feature = "mimalloc")]
fn return_freed_memory() {
    // SAFETY: a call into the allocator itself, on the calling thread.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

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
    #[command(long_about = SERVE_HELP)]
    Serve,
    /// Manage apps (tenants).
    #[command(subcommand)]
    App(admin::AppCommand),
    /// Manage who may sign in to the web console (/console).
    #[command(subcommand)]
    Console(admin::ConsoleCommand),
    /// Act as a user over the gateway.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Measure throughput and latency against a server this command starts.
    Bench(bench::BenchArgs),
}

/// `confab serve --help`: where the data lives and what configures it.
const SERVE_HELP: &str = "Run the server.

Data folder: ./confab-data (CONFAB_DATA_DIR) holds the SQLite database (confab.db) and uploaded files \
(files/). The first start creates it, and the first app, printing its generated credentials once.

Configuration: ./confab.toml (or --config FILE), then these environment variables, which override the file \
(README.md, Configuration, describes each):
  CONFAB_HTTP_ADDR (127.0.0.1:8080)       REST and WebSocket listener
  CONFAB_DATA_DIR (./confab-data)         data folder
  CONFAB_DATABASE_URL                     postgres://… instead of SQLite (needed for a cluster)
  CONFAB_NATS_URL, CONFAB_CLUSTER         join a cluster over NATS
  CONFAB_ORG, CONFAB_APP (demo, chat)     the first app
  CONFAB_CLIENT_ID, CONFAB_CLIENT_SECRET  its Easemob credentials (applied on every start)
  CONFAB_WILDFIRE_SECRET, CONFAB_WILDFIRE_ADDR
  CONFAB_LEANCLOUD_APP_ID, CONFAB_LEANCLOUD_APP_KEY, CONFAB_LEANCLOUD_MASTER_KEY
  CONFAB_TOKEN_TTL_SECS, CONFAB_MAX_TOKEN_TTL_SECS   token lifetimes
  CONFAB_RATE_LIMITS (name=value,…)       default limits (see `confab app limit --help`)
  CONFAB_SQLITE_SYNC (full|normal), CONFAB_HISTORY_EXPORT_SECS
  CONFAB_S3_BUCKET, CONFAB_S3_ENDPOINT, CONFAB_S3_REGION, CONFAB_S3_ACCESS_KEY_ID, CONFAB_S3_SECRET_ACCESS_KEY
  RUST_LOG (info)                         log filter; NO_COLOR turns colours off
  CONFAB_LOG_FORMAT (text|json)           json: one JSON object per log line
  CONFAB_CONSOLE_PASSWORD                 the console operator admin's password (else made up at first start)
  CONFAB_CALLBACK_PRE_SEND_URL, CONFAB_CALLBACK_POST_SEND_URL, CONFAB_CALLBACK_SECRET
                                          the first app's callbacks to its server (see `confab app callbacks --help`;
                                          also CONFAB_CALLBACK_FORMAT, _TIMEOUT_MS, _ON_FAILURE)
  CONFAB_PUSH_APNS_KEY_FILE, _KEY_ID, _TEAM_ID, _TOPIC, _ENVIRONMENT; CONFAB_PUSH_FCM_SERVICE_ACCOUNT_FILE;
  CONFAB_PUSH_WEBHOOK_URL, _SECRET; CONFAB_PUSH_ACK_WAIT_MS
                                          the first app's offline-push providers (see `confab app push --help`)
  CONFAB_FETCH_ALLOW_PRIVATE              private addresses server-side calls may reach (all, or CIDRs)";

fn main() -> std::process::ExitCode {
    // Before any SQLite connection exists (see the module's doc).
    confab_sqlite::page_cache::install();
    let cli = Cli::parse();
    use std::io::IsTerminal as _;
    // Colour escape codes only for a person at a terminal, never in a file.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let filter = || tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,confab=info".into());
    // CONFAB_LOG_FORMAT=json: one JSON object per line, with the spans
    // (request ID, session) each line is in, for log collectors.
    if std::env::var("CONFAB_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        tracing_subscriber::fmt().json().with_env_filter(filter()).with_writer(std::io::stderr).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter()).with_ansi(colour).with_writer(std::io::stderr).init();
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    #[cfg(feature = "mimalloc")]
    confab_core::memory::set_release(return_freed_memory);
    runtime.on_thread_park(confab_core::memory::idle);
    let outcome = runtime.build().map_err(anyhow::Error::from).and_then(|runtime| {
        runtime.block_on(async move {
            match cli.command {
                Command::Serve => serve(cli.config).await,
                Command::App(command) => admin::run(cli.config, command).await,
                Command::Console(command) => admin::console(cli.config, command).await,
                Command::Client(command) => client::run(command).await,
                Command::Bench(args) => bench::run(args).await,
            }
        })
    });
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader went away (`confab app list | head`): nothing to say.
        Err(e) if is_broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

async fn serve(config_file: Option<PathBuf>) -> anyhow::Result<()> {
    let config = confab_server::config::Config::load(config_file.as_deref())?;
    let app = confab_server::Application::build(config.clone()).await?;
    let first = app.first_start();
    let (org, name) = (&first.app.org, &first.app.name);
    // Shown once, on stdout only, so the operator can copy them; never logged.
    // The values are those stored, which on a cluster starting together are
    // the same on every node (one node makes them up).
    let mut out = std::io::stdout();
    if first.created {
        writeln!(out, "Created app {org}/{name}")?;
    }
    for (label, value) in &first.made_up {
        writeln!(out, "{label} of {org}/{name}: {value}")?;
    }
    if !first.made_up.is_empty() {
        writeln!(out, "(shown once; `confab app credentials --org {org} --app {name}` shows them again)")?;
    }
    if let Some(password) = &first.console_password {
        let operator = confab_server::FIRST_OPERATOR;
        writeln!(out, "Console at http://{}/console/: operator {operator}, password {password}", app.local_addr())?;
        writeln!(out, "(shown once; `confab console password` sets a new one)")?;
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

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
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
