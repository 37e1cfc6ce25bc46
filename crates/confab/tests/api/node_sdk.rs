//! Running a vendor's client SDK under Node.js: the pinned packages of
//! `tests/sdk/<name>` installed once, and one step of its script as a
//! child process whose stdout is read as JSON lines.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

pub(crate) fn sdk_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sdk").join(name)
}

/// Installs the pinned packages of `tests/sdk/<name>` unless `marker` (a
/// file under it) shows they are there (`.ci/run` installs them first;
/// this covers a plain `cargo test` on a machine with npm).
pub(crate) fn ensure_installed(name: &str, marker: &str) {
    ensure_installed_in(&sdk_dir(name), marker);
}

/// [`ensure_installed`] for a package folder anywhere.
pub(crate) fn ensure_installed_in(dir: &Path, marker: &str) {
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if dir.join(marker).exists() {
        return;
    }
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .status()
        .expect("npm runs (Node.js and npm are needed for the SDK and console tests)");
    assert!(status.success(), "npm ci failed in {}", dir.display());
}

/// One step of an SDK script, its output read line by line.
pub(crate) struct Step {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Step {
    /// `node <script> <args…>` in `tests/sdk/<name>`. CONFAB_SDK_LOG=1 shows
    /// the SDK's own log (stderr), to see why a step failed.
    pub(crate) fn spawn(name: &str, script: &str, args: &[&str]) -> Step {
        Step::spawn_in(&sdk_dir(name), script, args)
    }

    /// [`Step::spawn`] in a package folder anywhere.
    pub(crate) fn spawn_in(dir: &Path, script: &str, args: &[&str]) -> Step {
        let log = std::env::var_os("CONFAB_SDK_LOG").is_some();
        let mut child = Command::new("node")
            .arg(script)
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(if log { Stdio::inherit() } else { Stdio::null() })
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Step { child, lines }
    }

    pub(crate) async fn next(&mut self) -> Value {
        self.next_within(Duration::from_secs(30)).await
    }

    /// The next line, waiting at most `limit`.
    pub(crate) async fn next_within(&mut self, limit: Duration) -> Value {
        let line = tokio::time::timeout(limit, self.lines.next_line())
            .await
            .expect("the SDK answers in time")
            .unwrap()
            .expect("a line from the SDK");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
    }

    pub(crate) async fn finished(mut self) {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.unwrap().unwrap();
        assert!(status.success());
    }
}
