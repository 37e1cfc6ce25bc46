//! History at scale (`--history-messages`): what reading history costs once
//! the store holds millions of messages.
//!
//! A server makes the app, its LeanCloud conversations and a few users, and
//! stops. The generator then writes the messages in this process through the
//! core's import path (`sent_at`), so they are stored exactly as imported
//! history is (sequence numbers, conversations, members), in batches of a
//! thousand receivers per append: far faster than REST calls, and nothing
//! about the stored shape is the bench's own. A server started again on the
//! same data then answers the queries a migrated app makes:
//!
//! - the newest 50 of one conversation (Easemob's `messageroaming`, what the
//!   SDK calls when a chat screen opens), warm;
//! - a page of Easemob's `ql` query over the whole app;
//! - a page of LeanCloud's conversation history;
//! - an hour's export file (Easemob's `chatmessages/{hour}`), written on demand.
//!
//! Conversations are `h-a{s}` ↔ `h-b{r}` pairs (1,000 receivers per sender)
//! plus 100 LeanCloud conversations; each round gives every conversation one
//! message, so a conversation's messages lie scattered through the table as
//! they do in a real app. Rounds are spread evenly over whole past hours, a
//! million messages an hour.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use confab_client::Endpoint;
use confab_core::clock::SystemClock;
use confab_core::groups::GroupSend;
use confab_core::messages::DirectSend;
use confab_core::model::{AppId, Body, ChatType, Delivery, Username};
use confab_server::config::{Config, SyncMode};
use confab_server::node::{Node, Role};

use super::{register, BenchArgs, BenchSchema, ServerProcess, APP, CLIENT_ID, CLIENT_SECRET, ORG};

const HOUR_MS: i64 = 3_600_000;
/// Receivers per sender: one append of this many messages.
const RECEIVERS: usize = 1_000;
/// LeanCloud conversations among the conversations.
const LEANCLOUD_CONVERSATIONS: usize = 100;
/// Appends in flight while generating (the writer folds them into commits).
const IN_FLIGHT: usize = 4;
/// Senders whose conversations are queried (their users are registered).
const QUERIED_SENDERS: usize = 10;
/// Requests per measured query kind, after as many to warm up.
const SAMPLES: usize = 1_000;
/// Messages per page asked for.
const PAGE: usize = 50;

/// What the generator made.
struct Generated {
    messages: u64,
    conversations: usize,
    senders: usize,
    leancloud: Vec<String>,
    first_hour_ms: i64,
    /// When the last round was sent.
    last_round_ms: i64,
    /// Messages stored in each whole hour.
    per_hour: u64,
    took: Duration,
}

pub(super) async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let schema = match &args.postgres {
        Some(url) => Some(BenchSchema::create(url).await?),
        None => None,
    };
    let database_url = schema.as_ref().map(|s| s.url.clone());
    let data = super::tempfile_dir::TempDir::new(0)?;
    let http = reqwest::Client::new();
    let storage = if database_url.is_some() { "postgres" } else { "sqlite" };
    println!(
        "== history at scale on {storage}: {} messages over about {} conversations",
        args.history_messages, args.history_conversations
    );

    // 1. A server makes the app, the LeanCloud conversations and the users queried.
    let (server, endpoint) = ServerProcess::start(args, &data.0, database_url.as_deref()).await?;
    let token = endpoint.app_token(&http, CLIENT_ID, CLIENT_SECRET).await?;
    let senders = (args.history_conversations.saturating_sub(LEANCLOUD_CONVERSATIONS) / RECEIVERS).max(1);
    let queried: Vec<String> = (0..QUERIED_SENDERS.min(senders)).map(|s| format!("h-a{s}")).collect();
    register(&http, &endpoint, &token, &queried).await?;
    let mut leancloud = Vec::with_capacity(LEANCLOUD_CONVERSATIONS);
    for i in 0..LEANCLOUD_CONVERSATIONS {
        let members = json!({"name": "history", "m": [format!("h-lc-a{i}"), format!("h-lc-b{i}")]});
        let made = super::leancloud::rest(&http, &endpoint.addr, "/1.2/rtm/conversations", members).await?;
        leancloud.push(made["objectId"].as_str().context("no conversation ID")?.to_owned());
    }
    drop(server);

    // 2. The messages, written through the core with no server running.
    let generated = generate(args, &data.0, database_url.as_deref(), senders, leancloud).await?;
    println!(
        "  generated {} messages in {} conversations in {:.0} s ({:.0} messages/s)",
        generated.messages,
        generated.conversations,
        generated.took.as_secs_f64(),
        generated.messages as f64 / generated.took.as_secs_f64()
    );
    if let Some(schema) = &schema {
        // Autovacuum would gather statistics within minutes of a bulk load;
        // until then the planner guesses, and guesses a scan of the app's
        // messages by time for one conversation's newest (0.6 s at 10 M).
        schema.analyze().await?;
    }
    let bytes = match &schema {
        Some(schema) => schema.size_bytes().await?,
        None => folder_bytes(&data.0)?,
    };
    println!(
        "  database: {:.1} MiB, {:.0} bytes per message (tables and indexes{})",
        bytes as f64 / 1048576.0,
        bytes as f64 / generated.messages as f64,
        if schema.is_some() { "" } else { ", the SQLite file and its WAL" }
    );

    // 3. The queries, against a server started again on the same data.
    let (server, endpoint) = ServerProcess::start(args, &data.0, database_url.as_deref()).await?;
    let token = endpoint.app_token(&http, CLIENT_ID, CLIENT_SECRET).await?;
    let queries = Queries { http: &http, endpoint: &endpoint, token: &token, generated: &generated };
    let newest = queries.measure("newest 50 of one conversation (Easemob messageroaming)", Queries::newest).await?;
    let ql = queries.measure("a page of Easemob's ql query", Queries::ql_page).await?;
    let lc = queries.measure("a page of LeanCloud conversation history", Queries::leancloud_page).await?;
    let export = queries.export().await?;
    println!(
        "  targets: newest 50 p99 {:.2} ms (≤ 2), ql page p99 {:.2} ms (≤ 5), LeanCloud page p99 {:.2} ms (≤ 5), \
         export {:.1} s per million (≤ 10)",
        newest.1, ql.1, lc.1, export
    );
    drop(server);
    if let Some(schema) = schema {
        schema.drop().await?;
    }
    Ok(())
}

async fn generate(
    args: &BenchArgs,
    data: &std::path::Path,
    database_url: Option<&str>,
    senders: usize,
    leancloud: Vec<String>,
) -> anyhow::Result<Generated> {
    let config = Config {
        data_dir: data.to_owned(),
        database_url: database_url.map(str::to_owned),
        sqlite_sync: match args.sqlite_sync.as_str() {
            "normal" => SyncMode::Normal,
            _ => SyncMode::Full,
        },
        ..Config::default()
    };
    let node = Node::open(&config, Arc::new(SystemClock), Role::Admin).await?;
    let core = node.core.clone();
    let app = core.apps.by_name(ORG, APP).await?.context("the bench app is missing")?.id;
    let per_round = (senders * RECEIVERS + leancloud.len()) as u64;
    let rounds = (args.history_messages / per_round).max(1);
    let hours = (args.history_messages.div_ceil(1_000_000)).max(1) as i64;
    let first_hour_ms = (super::unix_ms() / HOUR_MS - hours) * HOUR_MS;
    let step_ms = (hours * HOUR_MS) as f64 / rounds as f64;
    let receivers: Vec<Username> =
        (0..RECEIVERS).map(|r| Username::parse(&format!("h-b{r}"))).collect::<Result<_, _>>()?;
    let started = Instant::now();
    let mut reported = 0;
    for round in 0..rounds {
        let at = first_hour_ms + (round as f64 * step_ms) as i64;
        let mut sends = JoinSet::new();
        for s in 0..senders {
            if sends.len() >= IN_FLIGHT {
                sends.join_next().await.context("a send task vanished")???;
            }
            let (core, to) = (core.clone(), receivers.clone());
            let from = Username::parse(&format!("h-a{s}"))?;
            sends.spawn(async move {
                let send = DirectSend {
                    from,
                    to,
                    body: text(round),
                    ext: None,
                    delivery: imported(at),
                    origin_device: None,
                    line: 0,
                    original: None,
                };
                core.messages.send_direct(app, send).await?;
                anyhow::Ok(())
            });
        }
        for (i, cid) in leancloud.iter().enumerate() {
            if sends.len() >= IN_FLIGHT * 4 {
                sends.join_next().await.context("a send task vanished")???;
            }
            let (core, cid) = (core.clone(), cid.clone());
            let from = Username::parse(&format!("h-lc-a{i}"))?;
            sends.spawn(async move { leancloud_send(&core, app, from, cid, round, at).await });
        }
        while let Some(done) = sends.join_next().await {
            done??;
        }
        let made = (round + 1) * per_round;
        if made / 1_000_000 > reported {
            reported = made / 1_000_000;
            println!("  … {made} messages ({:.0} s)", started.elapsed().as_secs_f64());
        }
    }
    let took = started.elapsed();
    drop(core);
    drop(node);
    // The SQLite writer thread closes its connection once its queue is dropped.
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(Generated {
        messages: rounds * per_round,
        conversations: senders * RECEIVERS + leancloud.len(),
        senders,
        leancloud,
        first_hour_ms,
        last_round_ms: first_hour_ms + ((rounds - 1) as f64 * step_ms) as i64,
        per_hour: rounds * per_round / hours as u64,
        took,
    })
}

async fn leancloud_send(
    core: &confab_core::Core,
    app: AppId,
    from: Username,
    cid: String,
    round: u64,
    at: i64,
) -> anyhow::Result<()> {
    let send = GroupSend {
        from,
        by_app: true,
        kind: ChatType::GroupChat,
        to: vec![cid],
        body: text(round),
        ext: None,
        delivery: imported(at),
        origin_device: None,
        original: None,
        receivers: None,
    };
    core.groups.send(app, send).await?;
    Ok(())
}

/// History being moved in, sent at `at`: no mutes, blocks or screening apply.
fn imported(at: i64) -> Delivery {
    Delivery { sync_sender: false, online_only: false, sent_at: Some(at) }
}

fn text(round: u64) -> Body {
    Body::Text { msg: format!("history message of round {round}") }
}

/// Bytes of the files directly in `folder` (the database and its WAL).
fn folder_bytes(folder: &std::path::Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(folder)? {
        let meta = entry?.metadata()?;
        if meta.is_file() {
            total += meta.len();
        }
    }
    Ok(total)
}

struct Queries<'a> {
    http: &'a reqwest::Client,
    endpoint: &'a Endpoint,
    token: &'a str,
    generated: &'a Generated,
}

impl Queries<'_> {
    /// Runs `SAMPLES` warm-up requests, then `SAMPLES` timed ones, one at a
    /// time; prints and returns p50 and p99 in ms.
    async fn measure<'q, F, Fut>(&'q self, what: &str, query: F) -> anyhow::Result<(f64, f64)>
    where
        F: Fn(&'q Self, usize) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>>,
    {
        for n in 0..SAMPLES {
            query(self, n).await?;
        }
        let mut samples = Vec::with_capacity(SAMPLES);
        for n in 0..SAMPLES {
            let started = Instant::now();
            query(self, n).await?;
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        samples.sort_by(f64::total_cmp);
        let pick = |q: f64| super::quantile(&samples, q).unwrap_or(0.0);
        println!("  {what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms", pick(0.5), pick(0.99), pick(1.0));
        Ok((pick(0.5), pick(0.99)))
    }

    /// The `n`-th of 200 conversations of the registered senders.
    async fn newest(&self, n: usize) -> anyhow::Result<()> {
        let senders = QUERIED_SENDERS.min(self.generated.senders);
        let (s, r) = (n % senders, (n * 7) % 20);
        let url = format!("{}/users/h-a{s}/messageroaming", self.endpoint.http_base());
        let body = json!({"queue": format!("h-b{r}@easemob.com"), "pull_number": PAGE});
        let page: Value = self.http.post(url).bearer_auth(self.token).json(&body).send().await?.json().await?;
        let got = page["data"]["msgs"].as_array().map_or(0, Vec::len);
        let stored = self.generated.messages as usize / self.generated.conversations;
        anyhow::ensure!(got == PAGE.min(stored), "messageroaming gave {got} messages: {page}");
        Ok(())
    }

    /// A page from a time spread over the generated hours (before the last
    /// round, so that a whole page follows).
    async fn ql_page(&self, n: usize) -> anyhow::Result<()> {
        let span = self.generated.last_round_ms - self.generated.first_hour_ms;
        let at = self.generated.first_hour_ms + (n as i64 * 7_919_000) % span.max(1);
        let url = format!("{}/chatmessages", self.endpoint.http_base());
        let ql = format!("select * where timestamp>{at}");
        let answer = self.http.get(url).query(&[("ql", ql.as_str()), ("limit", "50")]).bearer_auth(self.token);
        let page: Value = answer.send().await?.json().await?;
        let got = page["entities"].as_array().map_or(0, Vec::len);
        anyhow::ensure!(got == PAGE, "the ql query gave {got} messages: {page}");
        Ok(())
    }

    async fn leancloud_page(&self, n: usize) -> anyhow::Result<()> {
        let cid = &self.generated.leancloud[n % self.generated.leancloud.len()];
        let url = format!("http://{}/1.2/rtm/conversations/{cid}/messages", self.endpoint.addr);
        let answer = self
            .http
            .get(url)
            .query(&[("limit", PAGE)])
            .header("X-LC-Id", super::leancloud::APP_ID)
            .header("X-LC-Key", format!("{},master", super::leancloud::MASTER_KEY));
        let page: Value = answer.send().await?.json().await?;
        let got = page.as_array().map_or(0, Vec::len);
        let stored = (self.generated.messages / (self.generated.conversations as u64)) as usize;
        anyhow::ensure!(got == PAGE.min(stored), "LeanCloud history gave {got} messages: {page}");
        Ok(())
    }

    /// Asks for the middle hour's file (written on demand) and downloads it;
    /// returns seconds per million messages.
    async fn export(&self) -> anyhow::Result<f64> {
        let hours = (self.generated.messages / self.generated.per_hour.max(1)) as i64;
        let hour_ms = self.generated.first_hour_ms + hours / 2 * HOUR_MS;
        let hour = chrono_hour(hour_ms);
        let started = Instant::now();
        let url = format!("{}/chatmessages/{hour}", self.endpoint.http_base());
        let link: Value = self.http.get(url).bearer_auth(self.token).send().await?.json().await?;
        let written = started.elapsed();
        let file = link["data"][0]["url"].as_str().with_context(|| format!("no export link: {link}"))?;
        let gz = self.http.get(file).send().await?.error_for_status()?.bytes().await?;
        let took = started.elapsed().as_secs_f64();
        let per_million = took / (self.generated.per_hour as f64 / 1e6);
        println!(
            "  an hour's export ({} messages, {:.1} MiB gzip): written in {:.1} s, downloaded after {:.1} s: \
             {per_million:.1} s per million messages",
            self.generated.per_hour,
            gz.len() as f64 / 1048576.0,
            written.as_secs_f64(),
            took
        );
        Ok(per_million)
    }
}

/// `yyyyMMddHH` in UTC, as the export path names an hour.
fn chrono_hour(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y%m%d%H").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn hours_are_named_as_the_export_path_names_them() {
        assert_eq!(super::chrono_hour(1_543_338_000_000), "2018112717");
        assert_eq!(super::chrono_hour(951_782_400_000 + 3 * super::HOUR_MS), "2000022903");
    }
}
