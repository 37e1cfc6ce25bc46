//! What an operator watches (issue 16, first part): the liveness and
//! readiness probes, `/metrics` in Prometheus's format with bounded labels,
//! request IDs in and out, and JSON logs that carry them.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use confab_client::ConnectOptions;
use confab_server::limits::GATEWAY_USER_MESSAGES_PER_SECOND;

use crate::helpers::{eventually, spawn_app, spawn_app_in, spawn_app_with, Storage};

const BIN: &str = env!("CARGO_BIN_EXE_confab");

async fn text(app: &crate::helpers::TestApp, path: &str) -> (StatusCode, String) {
    let response = app.http.get(format!("http://{}{path}", app.addr)).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn the_probes_answer() {
    let app = spawn_app().await;
    assert_eq!(text(&app, "/healthz").await, (StatusCode::OK, "ok".to_owned()));
    assert_eq!(text(&app, "/readyz").await, (StatusCode::OK, "ready".to_owned()));
}

/// The value of one sample line of `/metrics` (0 when absent).
fn sample(metrics: &str, series: &str) -> f64 {
    metrics.lines().find_map(|line| line.strip_prefix(series).and_then(|rest| rest.trim().parse().ok())).unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_count_requests_sessions_deliveries_and_refusals_without_ids() {
    let storage = Storage::fresh().await;
    let on_sqlite = storage.database_url.is_none();
    let app = spawn_app_with(storage, |config| {
        config.rate_limits.insert(GATEWAY_USER_MESSAGES_PER_SECOND.into(), 2);
    })
    .await;
    app.register(&["alice", "bob"]).await;
    let (status, _) = app.get("/users/alice").await;
    assert_eq!(status, StatusCode::OK);
    let bob = app.connect_with("bob", ConnectOptions::default()).await;
    let alice = app.connect_with("alice", ConnectOptions::default()).await;
    app.send_text("alice", "bob", "counted").await;
    let sends = (0..6).map(|i| alice.send("bob", json!({"type": "txt", "msg": format!("m{i}")}), None));
    let answers = futures_util::future::join_all(sends).await;
    assert!(answers.iter().any(|a| a.is_err()), "the burst is over the limit");

    eventually(|| async {
        let metrics = text(&app, "/metrics").await.1;
        sample(&metrics, r#"confab_gateway_deliveries_total{protocol="json"}"#) >= 2.0
            // Bob's client acknowledges what it got (a moment after it came).
            && sample(&metrics, "confab_gateway_acks_total ") >= 1.0
    })
    .await;
    let (status, metrics) = text(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let users = r#"confab_http_requests_total{dialect="easemob",route="/{org}/{app}/users/{username}",status="200"}"#;
    assert_eq!(sample(&metrics, users), 1.0, "{metrics}");
    let timed =
        r#"confab_http_request_duration_seconds_count{dialect="easemob",route="/{org}/{app}/users/{username}"}"#;
    assert_eq!(sample(&metrics, timed), 1.0, "{metrics}");
    assert_eq!(sample(&metrics, r#"confab_gateway_sessions{protocol="json"}"#), 2.0, "{metrics}");
    let sent = sample(&metrics, r#"confab_gateway_sends_total{protocol="json"}"#);
    assert!((1.0..=5.0).contains(&sent), "{metrics}");
    let refused = sample(&metrics, r#"confab_rate_limit_refusals_total{limit="gateway.user_messages_per_second"}"#);
    assert!(refused >= 1.0, "{metrics}");
    // What the core, the storage engine and the export job did.
    assert!(sample(&metrics, "confab_messages_committed_total ") >= 2.0, "{metrics}");
    assert!(sample(&metrics, "confab_storage_commit_batch_size_count ") >= 2.0, "{metrics}");
    assert!(sample(&metrics, r#"confab_storage_commit_batch_size_bucket{le="+Inf"} "#) >= 2.0, "{metrics}");
    assert!(sample(&metrics, "confab_storage_commit_duration_seconds_sum ") > 0.0, "{metrics}");
    assert_eq!(sample(&metrics, "confab_storage_commit_failures_total "), 0.0, "{metrics}");
    // SQLite's page caches live in the server's memory; PostgreSQL's do not.
    let engine_memory = sample(&metrics, "confab_storage_memory_bytes ");
    if on_sqlite {
        assert!(engine_memory > 64.0 * 1024.0, "SQLite holds at least its schemas and first pages: {metrics}");
        // A few messages are far below a checkpoint's threshold; the
        // counts are there from the start (the engine's tests make some).
        for by in ["background", "writer"] {
            let line = format!("confab_storage_checkpoints_total{{by=\"{by}\"}} ");
            assert_eq!(sample(&metrics, &line), 0.0, "{metrics}");
        }
    } else {
        assert!(!metrics.contains("confab_storage_memory_bytes"), "{metrics}");
        assert!(!metrics.contains("confab_storage_checkpoints"), "{metrics}");
    }
    assert!(sample(&metrics, r#"confab_history_export_runs_total{outcome="ok"} "#) >= 1.0, "{metrics}");
    assert!(!metrics.contains("confab_nats_"), "alone, there is no bus: {metrics}");
    for id in ["alice", "bob", "counted", "demo"] {
        assert!(!metrics.contains(id), "no user, app or content in labels: {id} in {metrics}");
    }
    assert!(metrics.trim_end().ends_with("# EOF"), "OpenMetrics text");

    drop(alice);
    drop(bob);
    eventually(|| async {
        let metrics = text(&app, "/metrics").await.1;
        sample(&metrics, r#"confab_gateway_sessions{protocol="json"}"#) == 0.0
    })
    .await;
}

#[tokio::test]
async fn every_request_has_an_id_in_and_out() {
    let app = spawn_app().await;
    let url = format!("http://{}/healthz", app.addr);
    let made = app.http.get(&url).send().await.unwrap();
    let id = made.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let kept = app.http.get(&url).header("x-request-id", "trace-me-42").send().await.unwrap();
    assert_eq!(kept.headers()["x-request-id"], "trace-me-42");
    let long = "x".repeat(200);
    let replaced = app.http.get(&url).header("x-request-id", &long).send().await.unwrap();
    assert_eq!(replaced.headers()["x-request-id"].len(), 36, "an unusable ID is replaced");
    // The dialects answer with it too.
    let response = app.http.get(app.url("/users/nobody")).header("x-request-id", "dialect-7").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "dialect-7");
}

/// `CONFAB_LOG_FORMAT=json`: every line is a JSON object, and a request's
/// lines name its ID.
#[tokio::test]
async fn json_logs_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(BIN)
        .arg("serve")
        .env("CONFAB_HTTP_ADDR", "127.0.0.1:0")
        .env("CONFAB_DATA_DIR", dir.path())
        .env("CONFAB_LOG_FORMAT", "json")
        .env("RUST_LOG", "info,tower_http=debug")
        .env_remove("CONFAB_DATABASE_URL")
        .env_remove("CONFAB_NATS_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = next_json(&mut lines).await;
        if line["fields"]["message"] == "confab is listening" {
            break line["fields"]["addr"].as_str().unwrap().to_owned();
        }
    };
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/healthz"))
        .header("x-request-id", "find-me-314")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    loop {
        let line = next_json(&mut lines).await;
        if line.to_string().contains("find-me-314") {
            assert_eq!(line["span"]["request_id"], "find-me-314", "{line}");
            break;
        }
    }
    let _ = child.kill().await;
}

async fn next_json(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStderr>>) -> serde_json::Value {
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await.unwrap().unwrap().unwrap();
    serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
}

/// The Grafana dashboard in the repository asks only for series the server
/// exports.
#[tokio::test]
async fn the_grafana_dashboard_reads_exported_series() {
    let storage = Storage::fresh().await;
    let on_sqlite = storage.database_url.is_none();
    let app = spawn_app_in(storage).await;
    app.register(&["alice"]).await;
    let _alice = app.connect_with("alice", ConnectOptions::default()).await;
    app.get("/users/alice").await;
    let metrics = text(&app, "/metrics").await.1;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/grafana/confab.json");
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let names = regex::Regex::new(r"confab_[a-z_]+").unwrap();
    let mut asked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            for name in names.find_iter(target["expr"].as_str().unwrap()) {
                if name.as_str().starts_with("confab_nats_") {
                    // Only a cluster node has a bus (cluster::messages_and_presence_cross_nodes reads them).
                    continue;
                }
                if name.as_str().starts_with("confab_storage_checkpoints") && !on_sqlite {
                    // Only SQLite runs inside the server and checkpoints there.
                    continue;
                }
                asked += 1;
                let family = ["_total", "_bucket", "_sum", "_count"]
                    .iter()
                    .fold(name.as_str(), |n, suffix| n.strip_suffix(suffix).unwrap_or(n));
                assert!(metrics.contains(&format!("# TYPE {family} ")), "{} is not exported", name.as_str());
            }
        }
    }
    assert!(asked >= 6);
}
