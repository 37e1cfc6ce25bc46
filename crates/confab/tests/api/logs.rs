//! What an operator reads at the default log level (issue 21).
//!
//! Needs PostgreSQL and NATS, as the cluster tests do
//! (`CONFAB_TEST_DATABASE_URL`, `CONFAB_TEST_NATS_URL`).

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::helpers::fresh_schema;

const BIN: &str = env!("CARGO_BIN_EXE_confab");

/// A cluster node's log, line by line.
struct Node {
    child: Child,
    log: mpsc::UnboundedReceiver<String>,
}

impl Node {
    fn start(data_dir: &std::path::Path, database_url: &str, nats_url: &str, cluster: &str) -> Node {
        let mut child = Command::new(BIN)
            .arg("serve")
            .env("CONFAB_HTTP_ADDR", "127.0.0.1:0")
            .env("CONFAB_DATA_DIR", data_dir)
            .env("CONFAB_DATABASE_URL", database_url)
            .env("CONFAB_NATS_URL", nats_url)
            .env("CONFAB_CLUSTER", cluster)
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("confab serve starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let (tx, log) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx.send(line);
            }
        });
        Node { child, log }
    }

    /// Waits for a line containing `wanted`; fails after `secs` seconds.
    async fn wait_for(&mut self, wanted: &str, secs: u64) -> String {
        let found = tokio::time::timeout(Duration::from_secs(secs), async {
            while let Some(line) = self.log.recv().await {
                if line.contains(wanted) {
                    return line;
                }
            }
            panic!("the node exited before logging {wanted}");
        });
        found.await.unwrap_or_else(|_| panic!("no {wanted:?} within {secs} s"))
    }
}

/// A node that dies sends no goodbye; the others log it as gone once its
/// heartbeats stop (before, they forgot it silently).
#[tokio::test]
async fn node_joins_and_a_dead_node_are_logged() {
    let base = std::env::var("CONFAB_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1/postgres".into());
    let nats = std::env::var("CONFAB_TEST_NATS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let database_url = fresh_schema(&base).await;
    let cluster = format!("logs{}", &confab_core::auth::random_uuid()[..8]);
    let data_dir = tempfile::tempdir().unwrap();
    let mut first = Node::start(data_dir.path(), &database_url, &nats, &cluster);
    first.wait_for("confab is listening", 30).await;
    let mut second = Node::start(data_dir.path(), &database_url, &nats, &cluster);
    second.wait_for("confab is listening", 30).await;
    let joined = first.wait_for("a node joined the cluster", 10).await;
    assert!(!joined.contains('\u{1b}'), "no colour codes in a piped log: {joined:?}");

    second.child.kill().await.unwrap();
    let gone = first.wait_for("a node is gone", 10).await;
    assert!(gone.contains("WARN"), "{gone}");
}
