//! `confab bench`: the load generator.
//!
//! Over 600 lines on purpose: one tool whose phases run in the order they
//! are written, each short, sharing the server it started and the figures
//! it prints; split, a reader would hop between files to follow one run.
//!
//! It starts its own server (this binary's `serve`, as a child process with a
//! fresh data folder), then measures in one run:
//! 1. persisted REST sends per second (`POST /messages/users`, each answered
//!    only after its commit);
//! 2. send-to-receive latency to WebSocket receivers at a fraction of that rate;
//! 3. the server's resident memory per idle WebSocket connection;
//! 4. fan-out to a large group with every member connected: one message at a
//!    time (from acceptance to the last member), then a burst (deliveries per
//!    second);
//! 5. registrations and password logins per second (Argon2id hashing).
//!
//! With `--nodes 1,3 --postgres URL --nats URL` it measures a single node and
//! then a three-node cluster in the same run. In a cluster, requests are
//! spread over the nodes and every message is sent through a node other than
//! the one its receiver is connected to.

mod callbacks;
mod easemob;
mod floor;
mod history;
mod leancloud;
mod logins;
mod open_loop;
mod push;
mod soak;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;
use futures_util::{StreamExt as _, TryStreamExt as _};
use serde_json::json;
use tokio::task::JoinSet;

use confab_client::{ConnectOptions, Connection, Endpoint, Event};

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Seconds each measured phase runs.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Concurrent HTTP requests in flight.
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    /// WebSocket receivers in the latency phase.
    #[arg(long, default_value_t = 200)]
    receivers: usize,
    /// Latency-phase send rate as a fraction of the measured maximum.
    #[arg(long, default_value_t = 0.5)]
    load_fraction: f64,
    /// Latency-phase send rate in sends/s, instead of `--load-fraction`: an
    /// A/B of two builds (`--server-binary`) then compares them at one rate.
    #[arg(long)]
    rate: Option<f64>,
    /// Idle WebSocket connections for the memory measurement.
    #[arg(long, default_value_t = 2000)]
    idle_connections: usize,
    /// SQLite durability of the server under test: full or normal.
    #[arg(long, default_value = "full")]
    sqlite_sync: String,
    /// Store in PostgreSQL instead: a database URL; the bench works in a
    /// schema of its own there and drops it afterwards.
    #[arg(long)]
    postgres: Option<String>,
    /// NATS URL for clusters (needed when a node count is above 1).
    #[arg(long)]
    nats: Option<String>,
    /// Node counts to measure, one configuration after the other (e.g. `1,3`).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    nodes: Vec<usize>,
    /// Members of the large group, every one connected (0 skips the phase).
    #[arg(long, default_value_t = 10_000)]
    group_members: usize,
    /// Messages sent to the large group one at a time, and again in a burst.
    #[arg(long, default_value_t = 50)]
    group_messages: usize,
    /// Users registered, then logged in by password for the duration (0
    /// skips the phase).
    #[arg(long, default_value_t = 300)]
    login_users: usize,
    /// Seconds of the soak: after the latency phase, its open loop at the
    /// same rate for this long, with p99 and the server's memory per minute
    /// and their slopes (0 skips it; see `bench/soak.rs`).
    #[arg(long, default_value_t = 0)]
    soak_secs: u64,
    /// Messages the history phase generates (0 skips it). When set, the bench
    /// measures history at scale only (see `bench/history.rs`).
    #[arg(long, default_value_t = 0)]
    history_messages: u64,
    /// Conversations the history phase's messages are spread over.
    #[arg(long, default_value_t = 100_000)]
    history_conversations: usize,
    /// The confab binary the servers under test run (default: this one):
    /// one load generator against two builds, for a before/after pair.
    #[arg(long)]
    server_binary: Option<std::path::PathBuf>,
    /// Internal: be the writing side of the socket floor (see `socket_floor`),
    /// a process of its own as confab's server is.
    #[arg(long, hide = true)]
    floor_writer: bool,
    /// Skip the per-message floor (see `bench/floor.rs`), which otherwise
    /// follows the latency phase of a single node on SQLite.
    #[arg(long)]
    skip_floor: bool,
    /// Internal: be the per-message floor's server (see `bench/floor.rs`).
    #[arg(long, hide = true)]
    floor_server: bool,
}

const ORG: &str = "bench";
const APP: &str = "load";
const CLIENT_ID: &str = "bench-client";
const CLIENT_SECRET: &str = "bench-secret";
const PASSWORD: &str = "bench-pass";

struct ServerProcess {
    child: std::process::Child,
    /// The data folder, when it is the server's alone.
    data: Option<tempfile_dir::TempDir>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A throwaway data folder, removed on drop.
mod tempfile_dir {
    pub struct TempDir(pub std::path::PathBuf);
    impl TempDir {
        pub fn new(node: usize) -> std::io::Result<TempDir> {
            let path = std::env::temp_dir().join(format!("confab-bench-{}-{node}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path)?;
            Ok(TempDir(path))
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.floor_writer {
        return floor_writer(args.group_members, args.group_messages).await;
    }
    if args.floor_server {
        return floor::serve(&args.sqlite_sync).await;
    }
    if args.history_messages > 0 {
        return history::run(&args).await;
    }
    if args.nodes.iter().any(|&n| n > 1) && (args.postgres.is_none() || args.nats.is_none()) {
        bail!("a cluster (--nodes above 1) needs --postgres and --nats");
    }
    if args.nodes.contains(&0) {
        bail!("--nodes counts start at 1");
    }
    let mut measured = Vec::new();
    for &nodes in &args.nodes {
        measured.push((nodes, run_configuration(&args, nodes).await?));
    }
    if let [(first_nodes, first), rest @ ..] = measured.as_slice() {
        for (nodes, result) in rest {
            println!(
                "{nodes} nodes vs {first_nodes}: sends/s ×{:.2}, latency p50 ×{:.2}, p99 ×{:.2}",
                result.sends_per_sec / first.sends_per_sec,
                result.p50_ms / first.p50_ms,
                result.p99_ms / first.p99_ms
            );
        }
    }
    Ok(())
}

/// The headline figures of one configuration, for comparing configurations.
struct Measured {
    sends_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Servers under test: one, or the nodes of a cluster.
struct Servers {
    processes: Vec<ServerProcess>,
    endpoints: Vec<Endpoint>,
}

impl Servers {
    async fn start(args: &BenchArgs, nodes: usize, database_url: Option<&str>) -> anyhow::Result<Servers> {
        let cluster = format!("bench{}", std::process::id());
        let mut processes = Vec::new();
        let mut endpoints = Vec::new();
        for node in 0..nodes {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let addr = format!("127.0.0.1:{port}");
            let data = tempfile_dir::TempDir::new(node)?;
            let mut command = serve_command(args, &addr, &data.0, database_url)?;
            if nodes > 1 {
                command
                    .env("CONFAB_NATS_URL", args.nats.as_deref().unwrap_or_default())
                    .env("CONFAB_CLUSTER", &cluster);
            }
            let child = command.spawn().context("cannot start the server")?;
            processes.push(ServerProcess { child, data: Some(data) });
            endpoints.push(Endpoint { addr, org: ORG.into(), app: APP.into() });
        }
        Ok(Servers { processes, endpoints })
    }

    fn cpu_seconds(&self) -> anyhow::Result<f64> {
        self.processes.iter().map(|p| cpu_seconds(p.child.id())).sum()
    }
}

/// `confab serve` for the bench: its app, rate limits off, warnings only.
/// The binary the servers run: `--server-binary`, else this one.
fn server_binary(args: &BenchArgs) -> anyhow::Result<std::path::PathBuf> {
    match &args.server_binary {
        Some(path) => Ok(path.clone()),
        None => Ok(std::env::current_exe()?),
    }
}

fn serve_command(
    args: &BenchArgs,
    addr: &str,
    data: &std::path::Path,
    database_url: Option<&str>,
) -> anyhow::Result<std::process::Command> {
    let mut command = std::process::Command::new(server_binary(args)?);
    if let Some(url) = database_url {
        command.env("CONFAB_DATABASE_URL", url);
    }
    command
        .arg("serve")
        .env("CONFAB_HTTP_ADDR", addr)
        .env("CONFAB_DATA_DIR", data)
        .env("CONFAB_ORG", ORG)
        .env("CONFAB_APP", APP)
        .env("CONFAB_CLIENT_ID", CLIENT_ID)
        .env("CONFAB_CLIENT_SECRET", CLIENT_SECRET)
        .env("CONFAB_SQLITE_SYNC", &args.sqlite_sync)
        .env("CONFAB_LEANCLOUD_APP_ID", leancloud::APP_ID)
        .env("CONFAB_LEANCLOUD_APP_KEY", leancloud::APP_KEY)
        .env("CONFAB_LEANCLOUD_MASTER_KEY", leancloud::MASTER_KEY)
        // The vendor's default limits would cap the load long before the server does.
        .env(
            "CONFAB_RATE_LIMITS",
            "easemob.requests_per_second=0,easemob.message_receivers_per_minute=0,\
             easemob.group_messages_per_second=0,leancloud.messages_per_minute=0",
        )
        // The post-send phase's stand-in for the app's server is local.
        .env("CONFAB_FETCH_ALLOW_PRIVATE", "127.0.0.1")
        // CONFAB_BENCH_SERVER_LOG: the servers' log filter (warnings only by default).
        .env("RUST_LOG", std::env::var("CONFAB_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(std::process::Stdio::null());
    Ok(command)
}

impl ServerProcess {
    /// One server on `data` (which outlives it), up and answering.
    async fn start(
        args: &BenchArgs,
        data: &std::path::Path,
        database_url: Option<&str>,
    ) -> anyhow::Result<(ServerProcess, Endpoint)> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = format!("127.0.0.1:{port}");
        let child = serve_command(args, &addr, data, database_url)?.spawn().context("cannot start the server")?;
        let server = ServerProcess { child, data: None };
        wait_until_up(&reqwest::Client::new(), &addr).await?;
        Ok((server, Endpoint { addr, org: ORG.into(), app: APP.into() }))
    }
}

async fn run_configuration(args: &BenchArgs, nodes: usize) -> anyhow::Result<Measured> {
    let schema = match &args.postgres {
        Some(url) => Some(BenchSchema::create(url).await?),
        None => None,
    };
    let servers = Servers::start(args, nodes, schema.as_ref().map(|s| s.url.as_str())).await?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency * 2).build()?;
    for endpoint in &servers.endpoints {
        wait_until_up(&http, &endpoint.addr).await?;
    }
    let app_token = servers.endpoints[0].app_token(&http, CLIENT_ID, CLIENT_SECRET).await?;
    let storage = match &args.postgres {
        Some(_) => "postgres".to_owned(),
        None => format!("sqlite, sqlite_sync={}", args.sqlite_sync),
    };
    let addrs: Vec<&str> = servers.endpoints.iter().map(|e| e.addr.as_str()).collect();
    println!("== {nodes} node(s) on {}, storage={storage}", addrs.join(" "));
    if std::env::var_os("CONFAB_CONSOLE_PASSWORD").is_some() {
        // The servers inherit the variable: an operator can watch the run live.
        println!("   console: http://{}/console/ (operator admin, CONFAB_CONSOLE_PASSWORD)", addrs[0]);
    }

    let duration = Duration::from_secs(args.duration_secs);
    let cpu_before = servers.cpu_seconds()?;
    let rate = throughput(&http, &servers.endpoints, &app_token, args.concurrency, duration, OFFLINE).await?;
    let server_cpu = servers.cpu_seconds()? - cpu_before;
    println!(
        "persisted sends: {:.0}/s ({} concurrent requests, {}s)",
        rate.per_sec, args.concurrency, args.duration_secs
    );
    // What one send costs the servers, whatever the load generator took: the
    // rate two cores would sustain for the servers alone.
    let cpu_per_send_us = server_cpu * 1e6 / (rate.per_sec * args.duration_secs as f64);
    println!(
        "  server CPU: {:.0}% of one core, {:.1} µs per send (≈ {:.0} sends/s on 2 cores for the server alone)",
        server_cpu * 100.0 / args.duration_secs as f64,
        cpu_per_send_us,
        2e6 / cpu_per_send_us
    );
    if rate.errors > 0 {
        println!("  errors: {}", rate.errors);
    }

    // Idle memory comes before the phases that open and drop hundreds of
    // connections and queue thousands of messages: the allocator would hand
    // what they freed to the idle connections, which would then seem free.
    // Each protocol's connections stay open while the next is measured, for
    // the same reason.
    if args.idle_connections > 0 {
        let pid = servers.processes[0].child.id();
        let endpoint = &servers.endpoints[0];
        let start = footprint(pid)?;
        let (per_connection, json_held, tokens) =
            idle_memory(&http, endpoint, &app_token, pid, args.idle_connections).await?;
        let threads = footprint(pid)?.threads;
        println!(
            "idle memory, JSON protocol: {per_connection} ({} connections, password logins; threads {} before, {threads} after)",
            args.idle_connections, start.threads
        );
        let (lc, lc_held) = leancloud::idle_memory(&http, endpoint, &app_token, pid, args.idle_connections).await?;
        println!("  through lc.protobuf2.3 (plain session open): {lc} (threads {})", footprint(pid)?.threads);
        let (em, em_held) = easemob::idle_memory(&http, endpoint, &app_token, pid, args.idle_connections).await?;
        println!(
            "  through msync (PROVISION with a token from a password login): {em} (threads {})",
            footprint(pid)?.threads
        );
        let held = footprint(pid)?;
        drop((json_held, lc_held, em_held));
        // The sessions end as their sockets close; give the server a moment.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let closed = footprint(pid)?;
        let mib = |kib: u64| kib as f64 / 1024.0;
        let taken = held.resident_kib.saturating_sub(start.resident_kib);
        let returned = held.resident_kib.saturating_sub(closed.resident_kib);
        println!(
            "  after all {} sessions closed: RSS {:.1} MiB ({:.1} MiB before the idle phase, {:.1} MiB while held: \
             {:.0} % of what the phase took came back), threads {}",
            3 * args.idle_connections,
            mib(closed.resident_kib),
            mib(start.resident_kib),
            mib(held.resident_kib),
            returned as f64 * 100.0 / taken.max(1) as f64,
            closed.threads
        );
        let (per_sec, reopened) = log_in_with_tokens(endpoint, &tokens, 64).await?;
        println!(
            "  token logins: {per_sec:.0}/s ({} JSON WebSocket logins with the tokens issued earlier, 64 at a time)",
            tokens.len()
        );
        drop(reopened);
        // Let those sessions end before the latency phase starts.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }

    let target_rate = args.rate.unwrap_or(rate.per_sec * args.load_fraction).max(1.0);
    let latency = latency(
        &http,
        &servers.endpoints,
        &app_token,
        ("receiver", args.receivers),
        args.concurrency,
        target_rate,
        duration,
        &|| servers.cpu_seconds(),
    )
    .await?;
    println!(
        "latency at {:.0} sends/s to {} receivers: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} of {} received)",
        latency.achieved_rate,
        args.receivers,
        latency.p50_ms,
        latency.p99_ms,
        latency.max_ms,
        latency.received,
        latency.sent
    );
    println!(
        "  of which accepted → received (commit and delivery): p50 {:.0} ms, p99 {:.0} ms",
        latency.after_accept_p50_ms, latency.after_accept_p99_ms
    );
    println!(
        "  send → success answer (commit): p50 {:.2} ms, p99 {:.2} ms",
        latency.answered_p50_ms, latency.answered_p99_ms
    );
    println!(
        "  server CPU per delivered message (REST send, commit, fan-out, WebSocket frame, ack): {:.1} µs",
        latency.cpu_per_delivered_us
    );
    if nodes == 1 && args.postgres.is_none() && !args.skip_floor {
        let floor = floor::measure(args, latency.achieved_rate).await?;
        println!(
            "the per-message floor on this machine (a stand-in server: axum, serde_json, one SQLite insert per message \
             with the same durability and group commit, the JSON protocol's frames, acks written; nothing else):"
        );
        println!(
            "  persisted sends: {:.0}/s, server CPU {:.1} µs per send; confab: sends/s ×{:.2}, CPU per send ×{:.2}",
            floor.throughput.per_sec,
            floor.cpu_per_send_us,
            rate.per_sec / floor.throughput.per_sec,
            cpu_per_send_us / floor.cpu_per_send_us
        );
        println!(
            "  latency at {:.0} sends/s: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} of {} received); \
             CPU per delivered message {:.1} µs; confab: p50 ×{:.2}, p99 ×{:.2}, CPU per delivered message ×{:.2}",
            floor.latency.achieved_rate,
            floor.latency.p50_ms,
            floor.latency.p99_ms,
            floor.latency.max_ms,
            floor.latency.received,
            floor.latency.sent,
            floor.latency.cpu_per_delivered_us,
            latency.p50_ms / floor.latency.p50_ms,
            latency.p99_ms / floor.latency.p99_ms,
            latency.cpu_per_delivered_us / floor.latency.cpu_per_delivered_us
        );
        println!(
            "  latency at {:.0} sends/s ({:.0} % of the floor's own maximum): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms \
             ({} of {} received); CPU per delivered message {:.1} µs",
            floor.own_load.achieved_rate,
            args.load_fraction * 100.0,
            floor.own_load.p50_ms,
            floor.own_load.p99_ms,
            floor.own_load.max_ms,
            floor.own_load.received,
            floor.own_load.sent,
            floor.own_load.cpu_per_delivered_us
        );
        if let Some(kib) = floor.idle_kib {
            println!(
                "  idle memory: {kib:.1} KiB per WebSocket session (JSON protocol, {} sessions)",
                args.idle_connections
            );
        }
    }
    if args.soak_secs > 0 {
        let cpu = || servers.cpu_seconds();
        let soaked = self::latency(
            &http,
            &servers.endpoints,
            &app_token,
            ("soak", args.receivers),
            args.concurrency,
            target_rate,
            Duration::from_secs(args.soak_secs),
            &cpu,
        );
        let servers: Vec<(Endpoint, u32)> =
            servers.endpoints.iter().cloned().zip(servers.processes.iter().map(|p| p.child.id())).collect();
        soak::report(soaked, &http, &servers, args.soak_secs).await?;
    }

    if nodes == 1 {
        // The same load through LeanCloud's SDK protocol: REST sends to
        // one-to-one conversations, receivers speaking `lc.protobuf2.3`.
        let addr = &servers.endpoints[0].addr;
        let lc = leancloud::latency(&http, addr, args.receivers, args.concurrency, target_rate, duration).await?;
        println!(
            "latency through lc.protobuf2.3 at {:.0} sends/s to {} receivers (LeanCloud REST send → SDK-protocol \
             receive): p50 {:.2} ms, p99 {:.2} ms ({} of {} received); JSON above: p50 {:.2} ms, p99 {:.2} ms",
            lc.achieved_rate,
            args.receivers,
            lc.p50_ms,
            lc.p99_ms,
            lc.received,
            lc.sent,
            latency.p50_ms,
            latency.p99_ms
        );
        // And through Easemob's msync: the same REST sends, receivers
        // pulling and acknowledging as the web SDK does.
        let em = easemob::latency(
            &http,
            &servers.endpoints[0],
            &app_token,
            args.receivers,
            args.concurrency,
            target_rate,
            duration,
        )
        .await?;
        println!(
            "latency through msync at {:.0} sends/s to {} receivers (Easemob REST send → msync NOTICE, pull, \
             receive): p50 {:.2} ms, p99 {:.2} ms ({} of {} received)",
            em.achieved_rate, args.receivers, em.p50_ms, em.p99_ms, em.received, em.sent
        );
    }

    if nodes == 1 {
        let data_dir = &servers.processes[0].data.as_ref().context("the server's data folder")?.0;
        let database_url = schema.as_ref().map(|s| s.url.as_str());
        let endpoint = &servers.endpoints[0];
        let figures =
            callbacks::post_send(&http, endpoint, &app_token, args.concurrency, duration, data_dir, database_url)
                .await?;
        println!(
            "post-send callback (a local stand-in for the app's server): {:.0} sends/s with it, {:.0} without \
             (×{:.2}); {:.0} posts/s during the phase, {}",
            figures.on_per_sec,
            figures.off_per_sec,
            figures.on_per_sec / figures.off_per_sec,
            figures.posted_per_sec,
            match figures.caught_up_after {
                Some(after) => format!("caught up {:.1} s after the sends stopped", after.as_secs_f64()),
                None => "not caught up 60 s after the sends stopped".to_owned(),
            }
        );
        let figures =
            push::offline_push(&http, endpoint, &app_token, args.concurrency, duration, data_dir, database_url).await?;
        println!(
            "offline push (a local HTTP/2 stand-in for APNs, {} receivers with a device each): {:.0} sends/s with it, \
             {:.0} without (×{:.2}); {:.0} pushes/s during the phase, {}",
            100,
            figures.on_per_sec,
            figures.off_per_sec,
            figures.on_per_sec / figures.off_per_sec,
            figures.pushed_per_sec,
            match figures.caught_up_after {
                Some(after) => format!("caught up {:.1} s after the sends stopped", after.as_secs_f64()),
                None => "not caught up 60 s after the sends stopped".to_owned(),
            }
        );
    }

    if args.login_users > 0 {
        // Server CPU per hash is the figure that travels: on a busy machine
        // the rates say as much about the neighbours as about confab.
        let cpu_before = servers.cpu_seconds()?;
        let made = logins::register_users(&http, &servers.endpoints[0], &app_token, args.login_users).await?;
        let cpu_between = servers.cpu_seconds()?;
        let logins = logins::log_in(&http, &servers.endpoints, args.login_users, args.concurrency, duration).await?;
        let cpu_after = servers.cpu_seconds()?;
        let per_registration_ms = (cpu_between - cpu_before) * 1e3 / made.done.max(1) as f64;
        let per_login_ms = (cpu_after - cpu_between) * 1e3 / logins.done.max(1) as f64;
        println!(
            "password hashing (Argon2id): {:.0} registrations/s ({} users, batches of 60), server CPU {:.1} ms each; \
             {:.0} logins/s ({} concurrent), server CPU {:.1} ms each (≈ {:.0} logins/s on 2 cores for the server alone){}",
            made.per_sec,
            args.login_users,
            per_registration_ms,
            logins.per_sec,
            args.concurrency,
            per_login_ms,
            2e3 / per_login_ms,
            if logins.failures > 0 { format!(", {} failed", logins.failures) } else { String::new() }
        );
    }
    // After the idle measurement: 10,000 connections come and go here, and
    // the allocator keeps what they used, which would hide idle connections' cost.
    if args.group_members > 0 {
        let group = large_group(&http, &servers.endpoints, &app_token, args.group_members, args.group_messages).await?;
        println!(
            "group of {} connected members, {} messages one at a time: accepted → last member p50 {:.1} ms, \
             p99 {:.1} ms; send → last member p50 {:.1} ms, p99 {:.1} ms; send → median member p50 {:.1} ms",
            args.group_members,
            args.group_messages,
            group.accepted_to_last_p50_ms,
            group.accepted_to_last_p99_ms,
            group.last_p50_ms,
            group.last_p99_ms,
            group.median_p50_ms,
        );
        println!(
            "  burst of {} messages: {:.0} deliveries/s ({} delivered)",
            args.group_messages, group.deliveries_per_sec, group.burst_deliveries
        );
        let floor = socket_floor(args.group_members, args.group_messages, FLOOR_FRAME).await?;
        println!(
            "  the floor on this machine (bare tokio, one loopback TCP socket per member, {FLOOR_FRAME}-byte frames, \
             nothing else): send → last member p50 {:.1} ms, p99 {:.1} ms; burst {:.0} deliveries/s",
            floor.last_p50_ms, floor.last_p99_ms, floor.deliveries_per_sec
        );
        println!(
            "  confab vs the floor: last member p50 ×{:.1}, deliveries/s ×{:.2}",
            group.last_p50_ms / floor.last_p50_ms,
            group.deliveries_per_sec / floor.deliveries_per_sec
        );
    }

    drop(servers);
    if let Some(schema) = schema {
        schema.drop().await?;
    }
    Ok(Measured { sends_per_sec: rate.per_sec, p50_ms: latency.p50_ms, p99_ms: latency.p99_ms })
}

/// A schema of the bench's own in a PostgreSQL database.
struct BenchSchema {
    client: tokio_postgres::Client,
    name: String,
    url: String,
}

impl BenchSchema {
    async fn create(base: &str) -> anyhow::Result<BenchSchema> {
        let (client, connection) =
            tokio_postgres::connect(base, tokio_postgres::NoTls).await.context("cannot reach PostgreSQL")?;
        tokio::spawn(connection);
        let name = format!("confab_bench_{}", std::process::id());
        client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}")).await?;
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{name}");
        Ok(BenchSchema { client, name, url })
    }

    /// Gathers the planner's statistics on the schema's tables.
    async fn analyze(&self) -> anyhow::Result<()> {
        self.client.batch_execute(&format!("SET search_path = {}; ANALYZE", self.name)).await?;
        Ok(())
    }

    /// Bytes of the schema's tables, their indexes and TOAST.
    async fn size_bytes(&self) -> anyhow::Result<u64> {
        let row = self
            .client
            .query_one(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
                &[&self.name],
            )
            .await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn drop(self) -> anyhow::Result<()> {
        self.client.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name)).await?;
        Ok(())
    }
}

async fn wait_until_up(http: &reqwest::Client, addr: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("http://{addr}/health")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("server did not come up on {addr}")
}

struct Throughput {
    per_sec: f64,
    errors: u64,
}

/// Closed loop: `concurrency` workers each send as fast as answers come.
/// Runs `confab app {command} {args}` for the bench's app on the server's data
/// (the phases that turn callbacks or push on and off).
fn app_command(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
    command: &str,
    args: &[&str],
) -> anyhow::Result<()> {
    let mut run = std::process::Command::new(std::env::current_exe()?);
    run.args(["app", command, "--org", ORG, "--app", APP]).args(args);
    run.env("CONFAB_DATA_DIR", data_dir).env_remove("CONFAB_DATABASE_URL");
    if let Some(database_url) = database_url {
        run.env("CONFAB_DATABASE_URL", database_url);
    }
    let out = run.output().with_context(|| format!("cannot run confab app {command}"))?;
    anyhow::ensure!(out.status.success(), "confab app {command}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

/// How long after a phase a stand-in's count reached `sent` beyond `before`
/// (`None`: not within 60 s).
async fn caught_up(taken: &AtomicU64, before: u64, sent: u64) -> Option<Duration> {
    let ended = Instant::now();
    while ended.elapsed() < Duration::from_secs(60) {
        if taken.load(Ordering::Relaxed) - before >= sent {
            return Some(ended.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Who the closed loop sends to: `{prefix}0` … `{prefix}{count - 1}` in turn.
#[derive(Clone, Copy)]
pub(crate) struct Receivers {
    pub prefix: &'static str,
    pub count: u64,
}

/// Users that need not exist: the server keeps their messages.
pub(crate) const OFFLINE: Receivers = Receivers { prefix: "offline-", count: 1000 };

async fn throughput(
    http: &reqwest::Client,
    endpoints: &[Endpoint],
    token: &str,
    concurrency: usize,
    duration: Duration,
    receivers: Receivers,
) -> anyhow::Result<Throughput> {
    let urls: Vec<String> = endpoints.iter().map(|e| format!("{}/messages/users", e.http_base())).collect();
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for worker in 0..concurrency {
        let url = urls[worker % urls.len()].clone();
        let (http, token, ok, errors) = (http.clone(), token.to_owned(), ok.clone(), errors.clone());
        workers.spawn(async move {
            let mut n = 0u64;
            while started.elapsed() < duration {
                let to = format!("{}{}", receivers.prefix, n % receivers.count);
                let body = json!({"from": format!("sender-{worker}"), "to": [to],
                                  "type": "txt", "body": {"msg": "hello from the load generator"}});
                n += 1;
                match http.post(&url).bearer_auth(&token).json(&body).send().await {
                    Ok(r) if r.status().is_success() => ok.fetch_add(1, Ordering::Relaxed),
                    _ => errors.fetch_add(1, Ordering::Relaxed),
                };
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Throughput { per_sec: ok.load(Ordering::Relaxed) as f64 / elapsed, errors: errors.load(Ordering::Relaxed) })
}

pub(crate) async fn register(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    token: &str,
    names: &[String],
) -> anyhow::Result<()> {
    for chunk in names.chunks(60) {
        let users: Vec<_> = chunk.iter().map(|n| json!({"username": n, "password": PASSWORD})).collect();
        let r = http.post(format!("{}/users", endpoint.http_base())).bearer_auth(token).json(&users).send().await?;
        if !r.status().is_success() {
            bail!("registration failed: {}", r.text().await.unwrap_or_default());
        }
    }
    Ok(())
}

/// Logs every user in, user `i` on `endpoints[i % endpoints.len()]`.
async fn connect_all(
    http: &reqwest::Client,
    endpoints: &[Endpoint],
    names: &[String],
) -> anyhow::Result<Vec<Connection>> {
    Ok(log_in_by_password(http, endpoints, names).await?.into_iter().map(|(c, _)| c).collect())
}

/// [`connect_all`], with each user's token.
async fn log_in_by_password(
    http: &reqwest::Client,
    endpoints: &[Endpoint],
    names: &[String],
) -> anyhow::Result<Vec<(Connection, String)>> {
    let mut set = JoinSet::new();
    let mut connections = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (http, endpoint, name) = (http.clone(), endpoints[i % endpoints.len()].clone(), name.clone());
        set.spawn(async move {
            let token = endpoint.user_token(&http, &name, PASSWORD).await?;
            let connection = Connection::connect(&endpoint.ws_url(), &token, ConnectOptions::default()).await?;
            anyhow::Ok((i, connection, token))
        });
        // Logins hash passwords; a few at a time keeps the server responsive.
        if set.len() >= 16 {
            if let Some(done) = set.join_next().await {
                connections.push(done??);
            }
        }
    }
    while let Some(done) = set.join_next().await {
        connections.push(done??);
    }
    connections.sort_by_key(|(i, _, _)| *i);
    Ok(connections.into_iter().map(|(_, c, t)| (c, t)).collect())
}

struct Latency {
    achieved_rate: f64,
    sent: u64,
    received: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// From the server's acceptance stamp (before the commit) to receipt, in whole milliseconds.
    after_accept_p50_ms: f64,
    after_accept_p99_ms: f64,
    /// From the send to the sender's success answer (accepted and committed).
    answered_p50_ms: f64,
    answered_p99_ms: f64,
    /// The servers' CPU time over the sending and receiving, per message
    /// delivered: the REST send parsed and committed, fanned out, one
    /// WebSocket frame written, and the receiver's acknowledgement taken.
    cpu_per_delivered_us: f64,
    /// Every message received: when it was sent (µs after the phase's
    /// epoch) and how long it took (µs), for figures over time.
    by_send_time: Vec<(u64, u64)>,
}

/// Open loop at `rate` sends/s; each message carries its send instant.
/// `server_cpu` reads the servers' CPU seconds so far.
#[allow(clippy::too_many_arguments)]
async fn latency(
    http: &reqwest::Client,
    endpoints: &[Endpoint],
    token: &str,
    (prefix, receivers): (&str, usize),
    concurrency: usize,
    rate: f64,
    duration: Duration,
    server_cpu: &dyn Fn() -> anyhow::Result<f64>,
) -> anyhow::Result<Latency> {
    let names: Vec<String> = (0..receivers).map(|i| format!("{prefix}-{i}")).collect();
    register(http, &endpoints[0], token, &names).await?;
    let connections = connect_all(http, endpoints, &names).await?;
    let epoch = Instant::now();

    let mut listeners = JoinSet::new();
    for mut connection in connections {
        listeners.spawn(async move {
            let mut samples = Vec::new();
            loop {
                match connection.next_event().await {
                    Event::Message(m) => {
                        let Some(sent_us) = m.ext.as_ref().and_then(|e| e["t"].as_u64()) else {
                            continue;
                        };
                        if sent_us == u64::MAX {
                            return samples;
                        }
                        // The server stamps a message when it accepts it, before the
                        // commit: what follows is commit plus delivery.
                        let accepted_ago_ms = unix_ms() - m.timestamp;
                        samples.push((sent_us, epoch.elapsed().as_micros() as u64 - sent_us, accepted_ago_ms));
                    }
                    Event::Kicked { reason } => {
                        eprintln!("receiver kicked: {reason}");
                        return samples;
                    }
                    Event::Closed => {
                        eprintln!("receiver closed");
                        return samples;
                    }
                    _ => {}
                }
            }
        });
    }

    // Receiver `i` is on node `i % n`; its messages go through node `i + 1`.
    let urls: Vec<String> = endpoints.iter().map(|e| format!("{}/messages/users", e.http_base())).collect();
    let url_for = move |receiver: usize| urls[(receiver + 1) % urls.len()].clone();
    let sent = Arc::new(AtomicU64::new(0));
    let workers = concurrency.min((rate as usize).max(1));
    let interval = Duration::from_secs_f64(workers as f64 / rate);
    // After the receivers logged in: their password hashing is not a message's cost.
    let cpu_before = server_cpu()?;
    let started = Instant::now();
    let mut senders = JoinSet::new();
    for worker in 0..workers {
        let (http, url_for, token, names, sent) =
            (http.clone(), url_for.clone(), token.to_owned(), names.clone(), sent.clone());
        senders.spawn(async move {
            // Staggered, so the workers together send evenly rather than in bursts.
            let offset = interval.mul_f64(worker as f64 / workers as f64);
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut n = worker;
            // How long each successful send took to be answered (accepted and committed).
            let mut answered_us = Vec::new();
            while started.elapsed() < duration {
                ticks.tick().await;
                let receiver = n % names.len();
                let (to, url) = (&names[receiver], url_for(receiver));
                n += workers;
                let t = epoch.elapsed().as_micros() as u64;
                let body = json!({"from": "bench-sender", "to": [to], "type": "txt", "body": {"msg": "ping"}, "ext": {"t": t}});
                if let Ok(r) = http.post(&url).bearer_auth(&token).json(&body).send().await {
                    if r.status().is_success() {
                        sent.fetch_add(1, Ordering::Relaxed);
                        answered_us.push(epoch.elapsed().as_micros() as u64 - t);
                    }
                }
            }
            answered_us
        });
    }
    let mut answered_us = Vec::new();
    while let Some(done) = senders.join_next().await {
        answered_us.extend(done?);
    }
    answered_us.sort_unstable();
    let achieved_rate = sent.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    // A final marker to every receiver ends its listener once all before it arrived.
    for chunk in names.chunks(600) {
        let body = json!({"from": "bench-sender", "to": chunk, "type": "txt", "body": {"msg": "done"}, "ext": {"t": u64::MAX}});
        http.post(url_for(0)).bearer_auth(token).json(&body).send().await?;
    }
    let mut samples = Vec::new();
    let collect = async {
        while let Some(done) = listeners.join_next().await {
            samples.extend(done?);
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(30), collect).await.context("receivers did not finish")??;
    // The receivers acknowledge 250 ms after a message; their last acks land within that.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu_used = server_cpu()? - cpu_before;
    let delivered = samples.len().max(1) as f64;
    let by_send_time: Vec<(u64, u64)> = samples.iter().map(|(sent, total, _)| (*sent, *total)).collect();
    let (mut total_us, mut after_accept_ms): (Vec<u64>, Vec<i64>) =
        samples.into_iter().map(|(_, total, after_accept)| (total, after_accept)).unzip();
    total_us.sort_unstable();
    after_accept_ms.sort_unstable();
    let pick = |q: f64| quantile(&total_us, q).unwrap_or(0) as f64 / 1000.0;
    let pick_after_accept = |q: f64| quantile(&after_accept_ms, q).unwrap_or(0) as f64;
    let pick_answered = |q: f64| quantile(&answered_us, q).unwrap_or(0) as f64 / 1000.0;
    Ok(Latency {
        achieved_rate,
        sent: sent.load(Ordering::Relaxed),
        received: total_us.len(),
        p50_ms: pick(0.50),
        p99_ms: pick(0.99),
        max_ms: total_us.last().copied().unwrap_or(0) as f64 / 1000.0,
        after_accept_p50_ms: pick_after_accept(0.50),
        after_accept_p99_ms: pick_after_accept(0.99),
        answered_p50_ms: pick_answered(0.50),
        answered_p99_ms: pick_answered(0.99),
        cpu_per_delivered_us: cpu_used * 1e6 / delivered,
        by_send_time,
    })
}

struct GroupFanout {
    /// Per message, from the server's acceptance stamp to the last member's receipt (ms resolution).
    accepted_to_last_p50_ms: f64,
    accepted_to_last_p99_ms: f64,
    /// Per message, from the REST send to the last member's receipt.
    last_p50_ms: f64,
    last_p99_ms: f64,
    /// Per message, from the REST send to the median member's receipt.
    median_p50_ms: f64,
    deliveries_per_sec: f64,
    burst_deliveries: usize,
}

/// One group of `members` users, all connected (member `i` on node `i % n`);
/// the app sends to it through node 0.
async fn large_group(
    http: &reqwest::Client,
    endpoints: &[Endpoint],
    app_token: &str,
    members: usize,
    messages: usize,
) -> anyhow::Result<GroupFanout> {
    let names: Vec<String> = (0..members).map(|i| format!("group-member-{i}")).collect();
    // Tokens by user ID (the users are created with them): no password hashing.
    let mut tokens = Vec::with_capacity(members);
    for chunk in names.chunks(64) {
        let asked = chunk.iter().map(|name| endpoints[0].user_token_by_id(http, app_token, name));
        for token in futures_util::future::join_all(asked).await {
            tokens.push(token?);
        }
    }
    let base = endpoints[0].http_base();
    let group = json!({"groupname": "large", "public": true, "owner": names[0], "maxusers": members});
    let reply: serde_json::Value =
        http.post(format!("{base}/chatgroups")).bearer_auth(app_token).json(&group).send().await?.json().await?;
    let id = reply["data"]["groupid"].as_str().with_context(|| format!("group not created: {reply}"))?.to_owned();
    for chunk in names[1..].chunks(60) {
        let r = http
            .post(format!("{base}/chatgroups/{id}/users"))
            .bearer_auth(app_token)
            .json(&json!({"usernames": chunk}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("adding members failed: {}", r.text().await.unwrap_or_default());
        }
    }

    let mut connections = Vec::with_capacity(members);
    for (chunk_index, chunk) in tokens.chunks(64).enumerate() {
        let opened = chunk.iter().enumerate().map(|(offset, token)| async move {
            let endpoint = &endpoints[(chunk_index * 64 + offset) % endpoints.len()];
            Connection::connect(&endpoint.ws_url(), token, ConnectOptions::default()).await
        });
        for connection in futures_util::future::join_all(opened).await {
            connections.push(connection?);
        }
    }

    // Each member records, per message index, when it arrived (µs since
    // `epoch`) and the server's acceptance stamp (Unix ms), and counts it in
    // `arrived` so the sender knows when a message has reached everyone.
    let epoch = Instant::now();
    let arrived: Arc<Vec<AtomicU64>> = Arc::new((0..2 * messages).map(|_| AtomicU64::new(0)).collect());
    let mut listeners = JoinSet::new();
    for mut connection in connections {
        let arrived = arrived.clone();
        listeners.spawn(async move {
            let mut arrivals: Vec<(u64, u64, i64, i64)> = Vec::new();
            loop {
                match connection.next_event().await {
                    Event::Message(m) => {
                        let Some(index) = m.ext.as_ref().and_then(|e| e["i"].as_u64()) else { continue };
                        if index == u64::MAX {
                            return arrivals;
                        }
                        arrivals.push((index, epoch.elapsed().as_micros() as u64, unix_ms(), m.timestamp));
                        if let Some(count) = arrived.get(index as usize) {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Event::Closed | Event::Kicked { .. } => return arrivals,
                    _ => {}
                }
            }
        });
    }

    let url = format!("{base}/messages/chatgroups");
    let send = |index: u64| {
        let body = json!({"to": [id], "type": "txt", "body": {"msg": "to everyone"}, "ext": {"i": index}});
        http.post(&url).bearer_auth(app_token).json(&body).send()
    };
    // One at a time: each once the previous one has reached every member
    // (and the acks it brought have settled), so each message's latency is its own.
    let mut sent_at = Vec::with_capacity(messages * 2);
    for index in 0..messages as u64 {
        sent_at.push(epoch.elapsed().as_micros() as u64);
        let r = send(index).await?;
        if !r.status().is_success() {
            bail!("group send failed: {}", r.text().await.unwrap_or_default());
        }
        reached_everyone(&arrived[index as usize], members).await;
        tokio::time::sleep(SETTLE).await;
    }
    // Then a burst, each sent as soon as the previous one is answered.
    let burst_started = epoch.elapsed().as_micros() as u64;
    for index in messages as u64..2 * messages as u64 {
        sent_at.push(epoch.elapsed().as_micros() as u64);
        send(index).await?;
    }
    send(u64::MAX).await?;

    let mut per_message: Vec<Vec<(u64, i64, i64)>> = vec![Vec::new(); 2 * messages];
    let collect = async {
        while let Some(done) = listeners.join_next().await {
            for (index, at_us, at_ms, accepted_ms) in done? {
                per_message[index as usize].push((at_us, at_ms, accepted_ms));
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(120), collect).await.context("members did not finish")??;

    let mut last_ms = Vec::new();
    let mut median_ms = Vec::new();
    let mut accepted_to_last_ms = Vec::new();
    for (index, arrivals) in per_message.iter_mut().enumerate().take(messages) {
        if arrivals.len() < members {
            bail!("message {index} reached {} of {members} members", arrivals.len());
        }
        arrivals.sort_unstable();
        let since_send = |at_us: u64| at_us.saturating_sub(sent_at[index]) as f64 / 1000.0;
        last_ms.push(since_send(arrivals[members - 1].0));
        median_ms.push(since_send(arrivals[members / 2].0));
        let latest_ms = arrivals.iter().map(|a| a.1).max().unwrap_or(0);
        accepted_to_last_ms.push((latest_ms - arrivals[0].2) as f64);
    }
    let burst: Vec<&(u64, i64, i64)> = per_message[messages..].iter().flatten().collect();
    let burst_end = burst.iter().map(|a| a.0).max().unwrap_or(burst_started);
    let burst_secs = (burst_end - burst_started) as f64 / 1e6;
    let sort_and_pick = |values: &mut Vec<f64>, q: f64| {
        values.sort_by(f64::total_cmp);
        quantile(values, q).unwrap_or(0.0)
    };
    Ok(GroupFanout {
        accepted_to_last_p50_ms: sort_and_pick(&mut accepted_to_last_ms, 0.5),
        accepted_to_last_p99_ms: sort_and_pick(&mut accepted_to_last_ms, 0.99),
        last_p50_ms: sort_and_pick(&mut last_ms, 0.5),
        last_p99_ms: sort_and_pick(&mut last_ms, 0.99),
        median_p50_ms: sort_and_pick(&mut median_ms, 0.5),
        deliveries_per_sec: burst.len() as f64 / burst_secs.max(1e-6),
        burst_deliveries: burst.len(),
    })
}

/// Pause after a message reached everyone, before the next: longer than the
/// clients' ack delay, so a message's acks do not meet the next one's fan-out.
const SETTLE: Duration = Duration::from_millis(400);

/// Waits until `count` reaches `members`, or five seconds.
async fn reached_everyone(count: &AtomicU64, members: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while (count.load(Ordering::Relaxed) as usize) < members && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Bytes of a group message frame as confab sends it (measured: about 230).
const FLOOR_FRAME: usize = 256;

struct Floor {
    last_p50_ms: f64,
    last_p99_ms: f64,
    deliveries_per_sec: f64,
}

/// The same fan-out with nothing but tokio and loopback TCP: in a process of
/// its own (as confab's server is), a task per connection writes a
/// ready-made frame when a broadcast tells it to; here each member reads
/// whole frames. Connections, wake-ups and socket writes and reads are all it
/// costs, so what confab takes beyond it is confab's own.
async fn socket_floor(members: usize, messages: usize, frame_len: usize) -> anyhow::Result<Floor> {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
    let mut writer = tokio::process::Command::new(std::env::current_exe()?)
        .args(["bench", "--floor-writer", "--group-members", &members.to_string()])
        .args(["--group-messages", &messages.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the floor's writer")?;
    let mut commands = writer.stdin.take().context("writer stdin")?;
    let mut lines = tokio::io::BufReader::new(writer.stdout.take().context("writer stdout")?).lines();
    let addr = lines.next_line().await?.context("the floor's writer did not say its address")?;

    let epoch = Instant::now();
    let arrived: Arc<Vec<AtomicU64>> = Arc::new((0..2 * messages).map(|_| AtomicU64::new(0)).collect());
    let mut readers = JoinSet::new();
    for _ in 0..members {
        let mut socket = tokio::net::TcpStream::connect(&addr).await?;
        socket.set_nodelay(true)?;
        let arrived = arrived.clone();
        readers.spawn(async move {
            let mut frame = vec![0u8; frame_len];
            let mut arrivals = Vec::new();
            while socket.read_exact(&mut frame).await.is_ok() {
                let index = u64::from_le_bytes(frame[..8].try_into().expect("8 bytes"));
                if index == u64::MAX {
                    break;
                }
                arrivals.push((index, epoch.elapsed().as_micros() as u64));
                if let Some(count) = arrived.get(index as usize) {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
            arrivals
        });
    }
    // The writer says when every connection has its task.
    lines.next_line().await?.context("the floor's writer stopped")?;
    let mut sent_at = Vec::with_capacity(2 * messages);
    for index in 0..messages as u64 {
        sent_at.push(epoch.elapsed().as_micros() as u64);
        commands.write_all(format!("{index}\n").as_bytes()).await?;
        reached_everyone(&arrived[index as usize], members).await;
        tokio::time::sleep(SETTLE).await;
    }
    let burst_started = epoch.elapsed().as_micros() as u64;
    for index in messages as u64..2 * messages as u64 {
        sent_at.push(epoch.elapsed().as_micros() as u64);
        commands.write_all(format!("{index}\n").as_bytes()).await?;
    }
    commands.write_all(format!("{}\n", u64::MAX).as_bytes()).await?;
    let mut last = vec![0u64; 2 * messages];
    let mut burst_deliveries = 0usize;
    let mut burst_end = burst_started;
    while let Some(done) = readers.join_next().await {
        for (index, at_us) in done? {
            let index = index as usize;
            last[index] = last[index].max(at_us);
            if index >= messages {
                burst_deliveries += 1;
                burst_end = burst_end.max(at_us);
            }
        }
    }
    let _ = writer.wait().await;
    let mut last_ms: Vec<f64> = (0..messages).map(|i| last[i].saturating_sub(sent_at[i]) as f64 / 1000.0).collect();
    last_ms.sort_by(f64::total_cmp);
    let at = |q: f64| quantile(&last_ms, q).expect("a message was sent");
    Ok(Floor {
        last_p50_ms: at(0.5),
        last_p99_ms: at(0.99),
        deliveries_per_sec: burst_deliveries as f64 / ((burst_end - burst_started) as f64 / 1e6).max(1e-6),
    })
}

/// The writing side of [`socket_floor`]: prints its address, accepts
/// `members` connections, prints a line once all are served, then writes
/// the frame numbered by each line read from stdin to every connection.
async fn floor_writer(members: usize, messages: usize) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?);
    let (announce, _) = tokio::sync::broadcast::channel::<u64>(2 * messages + 2);
    for _ in 0..members {
        let (mut socket, _) = listener.accept().await?;
        socket.set_nodelay(true)?;
        let mut told = announce.subscribe();
        tokio::spawn(async move {
            let mut frame = vec![b'x'; FLOOR_FRAME];
            while let Ok(index) = told.recv().await {
                frame[..8].copy_from_slice(&index.to_le_bytes());
                if socket.write_all(&frame).await.is_err() || index == u64::MAX {
                    return;
                }
            }
        });
    }
    println!("ready");
    // stdin is read on a thread of its own: commands are few and the
    // runtime's threads stay free for the writers.
    let told = announce.clone();
    let reading = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        for line in std::io::stdin().lines() {
            let index: u64 = line?.trim().parse()?;
            told.send(index)?;
            if index == u64::MAX {
                break;
            }
        }
        Ok(())
    });
    reading.await??;
    // Let the last frames go out before the process ends.
    while announce.receiver_count() > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// The value at quantile `q` (0 to 1) of `sorted` (none when it is empty).
fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    let at = ((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(at).copied()
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// User plus system CPU time of a process, in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("odd /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

fn resident_kib(pid: u32) -> anyhow::Result<u64> {
    Ok(footprint(pid)?.resident_kib)
}

/// A server process's resident memory and threads, from `/proc`.
#[derive(Clone, Copy)]
struct Footprint {
    resident_kib: u64,
    threads: u64,
}

fn footprint(pid: u32) -> anyhow::Result<Footprint> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no {name} in /proc status"))
    };
    Ok(Footprint { resident_kib: field("VmRSS:")?, threads: field("Threads:")? })
}

/// A server's resident memory, and how much of it its storage engine holds
/// (SQLite's page caches: a cache of what is stored, bounded by
/// `cache_size`, not a session's cost).
#[derive(Clone, Copy)]
struct Memory {
    resident_kib: u64,
    engine_kib: u64,
}

async fn memory(http: &reqwest::Client, endpoint: &Endpoint, pid: u32) -> anyhow::Result<Memory> {
    let metrics = http.get(format!("http://{}/metrics", endpoint.addr)).send().await?.text().await?;
    let engine_bytes = metrics
        .lines()
        .find_map(|line| line.strip_prefix("confab_storage_memory_bytes "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    Ok(Memory { resident_kib: resident_kib(pid)?, engine_kib: (engine_bytes / 1024.0) as u64 })
}

/// What each of `count` sessions added to the server's memory, in KiB, and
/// of that, what the storage engine's caches grew by meanwhile.
#[derive(Clone, Copy)]
struct PerSession {
    kib: f64,
    engine_kib: f64,
}

impl PerSession {
    fn between(before: Memory, after: Memory, count: usize) -> PerSession {
        let count = count.max(1) as f64;
        PerSession {
            kib: after.resident_kib.saturating_sub(before.resident_kib) as f64 / count,
            engine_kib: (after.engine_kib as f64 - before.engine_kib as f64) / count,
        }
    }
}

impl std::fmt::Display for PerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.1} KiB per connection ({:.1} KiB of it SQLite's page caches growing)", self.kib, self.engine_kib)
    }
}

/// Resident memory per idle JSON session, in KiB; the sessions, held while
/// the next protocol is measured; and each user's token. Every user logs in
/// by password (a token from `POST /token`, one Argon2id verification), so
/// what the hashing leaves behind is in the figure.
async fn idle_memory(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    token: &str,
    pid: u32,
    count: usize,
) -> anyhow::Result<(PerSession, Vec<Connection>, Vec<String>)> {
    let names: Vec<String> = (0..count).map(|i| format!("idle-{i}")).collect();
    register(http, endpoint, token, &names).await?;
    // Log a first batch in and out, so memory the login path keeps for good
    // (the hashing threads' buffers, allocator arenas) is in the baseline,
    // not per connection.
    drop(connect_all(http, std::slice::from_ref(endpoint), &names[..names.len().min(64)]).await?);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = memory(http, endpoint, pid).await?;
    let (connections, tokens) =
        log_in_by_password(http, std::slice::from_ref(endpoint), &names).await?.into_iter().unzip();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = memory(http, endpoint, pid).await?;
    Ok((PerSession::between(before, after, count), connections, tokens))
}

/// WebSocket logins with tokens issued earlier, `in_flight` at a time: the
/// logins per second and the sessions.
async fn log_in_with_tokens(
    endpoint: &Endpoint,
    tokens: &[String],
    in_flight: usize,
) -> anyhow::Result<(f64, Vec<Connection>)> {
    let started = Instant::now();
    let url = endpoint.ws_url();
    let logins = futures_util::stream::iter(tokens.iter().map(|token| {
        let url = url.clone();
        async move { Connection::connect(&url, token, ConnectOptions::default()).await }
    }))
    .buffer_unordered(in_flight);
    let connections: Vec<Connection> = logins.try_collect().await?;
    Ok((tokens.len() as f64 / started.elapsed().as_secs_f64(), connections))
}
