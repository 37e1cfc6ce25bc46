//! E-hist-1 (hourly history files, their links and the job that writes them),
//! E-hist-2 (the `ql` query) and E-import-1/2 (imported history).

use std::io::Read as _;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::groups::create_group;
use crate::helpers::{assert_error, eventually, spawn_app, spawn_app_with, Storage, TestApp};

const HOUR_MS: i64 = 3_600_000;

/// `yyyyMMddHH` in UTC (days since 1970 to a civil date, computed here so
/// the test does not share the server's date code).
pub fn hour_of(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let hour = ms.rem_euclid(86_400_000) / HOUR_MS;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}{hour:02}")
}

/// Fetches an export link with a plain client (no token) and reads its records.
pub async fn records(url: &str) -> (StatusCode, Vec<Value>) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status();
    if status != StatusCode::OK {
        return (status, Vec::new());
    }
    let gz = response.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut text).unwrap();
    (status, text.lines().map(|l| serde_json::from_str(l).unwrap()).collect())
}

async fn link(app: &TestApp, hour: &str) -> (StatusCode, Value) {
    app.get(&format!("/chatmessages/{hour}")).await
}

/// Moves the clock to just after the start of the next hour, and returns that hour's start.
pub fn to_next_hour(app: &TestApp) -> i64 {
    use confab_core::clock::Clock;
    let now = app.clock.now_ms();
    let next = (now / HOUR_MS + 1) * HOUR_MS;
    app.clock.advance_ms(next - now + 1000);
    next
}

#[tokio::test]
async fn an_hours_file_holds_its_messages_behind_an_expiring_link() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    let hour_start = to_next_hour(&app);
    let hour = hour_of(hour_start);
    let first = app.send_text("alice", "bob", "first").await;
    let group = create_group(&app, "alice", &["bob"], json!({})).await;
    let in_group = json!({"from": "bob", "to": [group], "type": "txt", "body": {"msg": "to all"}, "ext": {"k": 1}});
    let (_, body) = app.post("/messages/chatgroups", in_group).await;
    let group_message = body["data"][&group].as_str().unwrap().to_owned();
    // A message sent through the WildfireChat dialect is in the same history.
    let wildfire = app.wildfire("/admin/message/send", json!({"sender": "bob", "conv": {"type": 0, "target": "alice", "line": 0}, "payload": {"type": 1, "searchableContent": "from wildfire"}})).await;
    let wildfire_id = wildfire["result"]["messageUid"].as_i64().unwrap().to_string();
    let recalled = app.send_text("alice", "bob", "oops").await;
    let (status, _) = app
        .post("/messages/msg_recall", json!({"msg_id": recalled, "to": "bob", "chat_type": "chat", "force": true}))
        .await;
    assert_eq!(status, StatusCode::OK);

    // The hour is not over: no file yet.
    let (status, body) = link(&app, &hour).await;
    assert_error(status, &body, 400, "illegal_argument");
    assert!(body["error_description"].as_str().unwrap().contains("expired or unstored"));

    to_next_hour(&app);
    app.send_text("alice", "bob", "next hour").await;
    let (status, body) = link(&app, &hour).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["data"][0]["url"].as_str().unwrap().to_owned();
    assert!(url.contains("Expires=") && url.contains("Signature="), "{url}");
    let (status, lines) = records(&url).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = lines.iter().map(|r| r["msg_id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [first.as_str(), group_message.as_str(), wildfire_id.as_str(), recalled.as_str()],
        "the hour's messages, in order"
    );
    assert_eq!(lines[0]["chat_type"], "chat");
    assert_eq!(lines[0]["direction"], "outgoing");
    assert_eq!(
        lines[0]["payload"],
        json!({"bodies": [{"type": "txt", "msg": "first"}], "ext": {}, "from": "alice", "to": "bob"})
    );
    assert_eq!(lines[1]["chat_type"], "groupchat");
    assert_eq!(lines[1]["payload"]["ext"], json!({"k": 1}));
    assert_eq!(lines[1]["to"], group);
    assert_eq!(lines[2]["payload"]["bodies"][0]["msg"], "from wildfire");
    assert!(lines[2]["timestamp"].is_i64());
    assert_eq!(lines[3]["recalled"], true);

    // The link is the only credential, and only for a while.
    let tampered = url.replace("Signature=", "Signature=x");
    assert_eq!(records(&tampered).await.0, StatusCode::UNAUTHORIZED);
    app.clock.advance_ms(31 * 60 * 1000);
    assert_eq!(records(&url).await.0, StatusCode::UNAUTHORIZED);

    // Hours past the app's retention (72 h by default), and malformed hours.
    let (status, body) = link(&app, &hour_of(hour_start - 80 * HOUR_MS)).await;
    assert_error(status, &body, 400, "illegal_argument");
    for bad in ["2018", "2018113217", "abcdefghij"] {
        let (status, body) = link(&app, bad).await;
        assert_error(status, &body, 400, "illegal_argument");
    }
    let bob = app.user_token("bob").await;
    let (status, _) = app.call(reqwest::Method::GET, &format!("/chatmessages/{hour}"), Some(&bob), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the app's token only");
}

#[tokio::test]
async fn a_background_job_writes_each_finished_hour() {
    let app = spawn_app_with(Storage::fresh().await, |config| config.history_export_secs = 1).await;
    app.register(&["alice", "bob"]).await;
    let hour_start = to_next_hour(&app);
    app.send_text("alice", "bob", "kept").await;
    to_next_hour(&app);
    let app_id = app.core.apps.by_name("demo", "chat").await.unwrap().unwrap().id.0;
    let file = app.storage.data_dir.path().join(format!("files/exports/{app_id}/{}.gz", hour_of(hour_start)));
    eventually(|| async { file.exists() }).await;
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&file).unwrap()).read_to_string(&mut text).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(text.contains("\"kept\""));
}

#[tokio::test]
async fn ql_queries_page_oldest_first() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    use confab_core::clock::Clock;
    let start = app.clock.now_ms();
    let mut sent = Vec::new();
    for i in 0..25 {
        app.clock.advance_ms(10);
        sent.push(app.send_text("alice", "bob", &format!("m{i}")).await);
    }
    assert_eq!(ql_pages(&app, start, 10).await, sent);
    let middle = app
        .core
        .messages
        .get(
            app.core.apps.by_name("demo", "chat").await.unwrap().unwrap().id,
            confab_core::ids::MessageId::parse(&sent[10]).unwrap(),
        )
        .await
        .unwrap()
        .unwrap()
        .timestamp_ms;
    let (_, body) = app.get(&format!("/chatmessages?ql=select * where timestamp<{middle}&limit=1000")).await;
    let before: Vec<&str> =
        body["entities"].as_array().unwrap().iter().map(|e| e["msg_id"].as_str().unwrap()).collect();
    assert_eq!(before, sent[..10].iter().map(String::as_str).collect::<Vec<_>>());
    let (_, body) = app.get(&format!("/chatmessages?ql=select * where timestamp>{start}&limit=5000")).await;
    assert_eq!(body["count"], 25, "limit is capped at 1000, and there are 25");
    for bad in ["select * from x", "select * where timestamp=5", "select * where timestamp>1 and x=2"] {
        let (status, body) = app.get(&format!("/chatmessages?ql={bad}")).await;
        assert_error(status, &body, 400, "illegal_argument");
    }
}

/// Many messages stored in the same millisecond (a busy app stores dozens):
/// pages that end inside such a run go on where they stopped, each message
/// once, in order.
#[tokio::test]
async fn ql_pages_through_messages_of_the_same_millisecond() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    use confab_core::clock::Clock;
    let start = app.clock.now_ms();
    app.clock.advance_ms(10);
    let mut sent = Vec::new();
    for i in 0..23 {
        if i == 17 {
            app.clock.advance_ms(1);
        }
        sent.push(app.send_text("alice", "bob", &format!("m{i}")).await);
    }
    assert_eq!(ql_pages(&app, start, 5).await, sent);
}

/// Every message ID of `select * where timestamp>{start}`, `limit` at a time, following the cursors.
async fn ql_pages(app: &TestApp, start: i64, limit: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, body) =
            app.get(&format!("/chatmessages?ql=select+*+where+timestamp>{start}&limit={limit}&cursor={cursor}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let entities = body["entities"].as_array().unwrap();
        assert_eq!(body["count"], entities.len());
        seen.extend(entities.iter().map(|e| e["msg_id"].as_str().unwrap().to_owned()));
        match body["cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return seen,
        }
    }
}

/// An hour's file holds every message once, in order, also when more
/// messages than one page of the writer share a millisecond.
#[tokio::test]
async fn an_hours_file_holds_every_message_of_a_busy_millisecond_once() {
    let app = spawn_app().await;
    let hour_start = to_next_hour(&app);
    let mut sent = Vec::new();
    for batch in 0..3 {
        // Receivers need not be registered; one request (at most 5 KiB) sends to 400.
        let to: Vec<String> = (0..400).map(|i| format!("r{batch}-{i}")).collect();
        let (status, body) =
            app.post("/messages/users", json!({"from": "boss", "to": to, "type": "txt", "body": {"msg": "all"}})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        sent.extend(to.iter().map(|r| body["data"][r].as_str().unwrap().to_owned()));
    }
    to_next_hour(&app);
    let (status, body) = link(&app, &hour_of(hour_start)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, lines) = records(body["data"][0]["url"].as_str().unwrap()).await;
    let mut ids: Vec<u64> = lines.iter().map(|r| r["msg_id"].as_str().unwrap().parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "by (time, ID), each once");
    let mut expected: Vec<u64> = sent.iter().map(|id| id.parse().unwrap()).collect();
    expected.sort_unstable();
    ids.sort_unstable();
    assert_eq!(ids, expected);
}

/// Serves `body` over plain HTTP/1.1 to every connection; returns its URL.
pub async fn serve(body: Vec<u8>, content_type: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = format!("HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    format!("http://{addr}/pictures/cat.png")
}

#[tokio::test]
async fn imports_keep_their_times_read_state_and_attachments() {
    // The attachments are served from this host: the operator allows it.
    let allow_loopback = |config: &mut confab_server::config::Config| {
        config.fetch_allow_private = confab_server::fetch::FetchPolicy::parse("127.0.0.0/8").unwrap()
    };
    let app = spawn_app_with(Storage::fresh().await, allow_loopback).await;
    app.register(&["alice", "bob"]).await;
    use confab_core::clock::Clock;
    let now = app.clock.now_ms();
    let import = |text: &str, at: i64, read: bool| json!({"from": "alice", "target": "bob", "type": "txt", "body": {"msg": text}, "msg_timestamp": at, "is_ack_read": read});
    let mut ids = Vec::new();
    for (text, at, read) in [("third", now - 1_000, false), ("first", now - 3_000, true), ("second", now - 2_000, true)]
    {
        let (status, body) = app.post("/messages/users/import", import(text, at, read)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.push(body["data"]["msg_id"].as_str().unwrap().to_owned());
    }
    // History is in the order the messages were first sent.
    let (_, body) = app.get(&format!("/chatmessages?ql=select * where timestamp>{}", now - 10_000)).await;
    let texts: Vec<&str> = body["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["bodies"][0]["msg"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["first", "second", "third"]);
    assert_eq!(body["entities"][0]["timestamp"], now - 3_000);
    // `is_ack_read` on the last one imported marks everything up to it read
    // (cursor moves are written a batch at a time, so shortly after).
    eventually(|| async { app.get("/users/bob/offline_msg_count").await.1["data"]["bob"] == 0 }).await;

    // An attachment fetched into confab's own storage.
    let picture = vec![9u8; 4096];
    let url = serve(picture.clone(), "image/png").await;
    let with_file = json!({"from": "alice", "target": "bob", "type": "file", "body": {"filename": "cat.png", "url": url}, "need_download": true});
    let (status, body) = app.post("/messages/users/import", with_file).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["data"]["msg_id"].as_str().unwrap();
    let (_, body) = app.get(&format!("/chatmessages?ql=select * where timestamp>{}", now - 1)).await;
    let record = body["entities"].as_array().unwrap().iter().find(|e| e["msg_id"] == id).unwrap().clone();
    let copied = record["payload"]["bodies"][0]["url"].as_str().unwrap().to_owned();
    assert!(copied.contains("/demo/chat/chatfiles/"), "{copied}");
    let path = copied.split("/demo/chat").nth(1).unwrap();
    let response = app.http.get(app.url(path)).bearer_auth(&app.app_token).send().await.unwrap();
    assert_eq!(response.bytes().await.unwrap().to_vec(), picture);

    // A download that fails is reported, and nothing is stored.
    let closed = json!({"from": "alice", "target": "bob", "type": "file", "body": {"filename": "x", "url": "http://127.0.0.1:1/x"}, "need_download": true});
    let (status, body) = app.post("/messages/users/import", closed).await;
    assert_error(status, &body, 400, "illegal_argument");
    assert!(body["error_description"].as_str().unwrap().contains("need_download"), "{body}");
    let huge = serve(vec![0u8; 10 * 1024 * 1024 + 10], "application/octet-stream").await;
    let too_big = json!({"from": "alice", "target": "bob", "type": "file", "body": {"filename": "x", "url": huge}, "need_download": true});
    let (status, body) = app.post("/messages/users/import", too_big).await;
    assert_error(status, &body, 400, "illegal_argument");

    for (bad, description) in [
        (json!({"from": "alice", "target": "bob", "type": "txt"}), "message body not allow empty"),
        (json!({"from": "alice", "target": "bob", "body": {"msg": "x"}}), "type not allow empty"),
    ] {
        let (status, body) = app.post("/messages/users/import", bad).await;
        assert_error(status, &body, 400, "illegal_argument");
        assert_eq!(body["error_description"], description);
    }
    let (_, body) = app.get(&format!("/chatmessages?ql=select * where timestamp>{}", now - 10_000)).await;
    assert_eq!(body["count"], 4, "nothing of the refused imports was stored");
}

#[tokio::test]
async fn group_imports_land_in_the_groups_history() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    let group = create_group(&app, "alice", &["bob"], json!({})).await;
    let import = json!({"from": "bob", "target": group, "type": "txt", "body": {"msg": "old news"}, "msg_timestamp": 1_600_000_000_000i64});
    let (status, body) = app.post("/messages/chatgroups/import", import).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = app.get("/chatmessages?ql=select * where timestamp<1600000000001").await;
    assert_eq!(body["entities"][0]["chat_type"], "groupchat");
    assert_eq!(body["entities"][0]["to"], group);
    let missing = json!({"from": "bob", "target": "404", "type": "txt", "body": {"msg": "x"}});
    let (status, _) = app.post("/messages/chatgroups/import", missing).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_hours_file_shows_what_was_imported_into_it_and_recalled_later() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    let hour_start = to_next_hour(&app);
    let hour = hour_of(hour_start);
    let first = app.send_text("alice", "bob", "first").await;
    to_next_hour(&app);
    let (status, body) = link(&app, &hour).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["data"][0]["url"].as_str().unwrap().to_owned();
    let (_, lines) = records(&url).await;
    assert_eq!(lines.len(), 1);
    // Checked again on download (by the messages' IDs, times and states) and
    // found current, the file is served as it was written.
    let app_id = app.core.apps.by_name("demo", "chat").await.unwrap().unwrap().id.0;
    let file = app.storage.data_dir.path().join(format!("files/exports/{app_id}/{hour}.gz"));
    let written = std::fs::metadata(&file).unwrap().modified().unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(records(&url).await.1, lines);
    assert_eq!(
        std::fs::metadata(&file).unwrap().modified().unwrap(),
        written,
        "an unchanged hour is not written again"
    );

    // After the file was written: a message imported into the hour, and a recall.
    let import = json!({"from": "bob", "target": "alice", "type": "txt", "body": {"msg": "imported"}, "msg_timestamp": hour_start + 10});
    let (status, body) = app.post("/messages/users/import", import).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let imported = body["data"]["msg_id"].as_str().unwrap().to_owned();
    let recall = json!({"msg_id": first, "to": "bob", "chat_type": "chat", "force": true});
    assert_eq!(app.post("/messages/msg_recall", recall).await.0, StatusCode::OK);

    // The link already handed out serves the hour as it is now, and so does a new one.
    let (_, lines) = records(&url).await;
    let ids: Vec<&str> = lines.iter().map(|r| r["msg_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [imported.as_str(), first.as_str()]);
    assert_eq!(lines[1]["recalled"], true);
    let (_, body) = link(&app, &hour).await;
    let (_, again) = records(body["data"][0]["url"].as_str().unwrap()).await;
    assert_eq!(again, lines);
}
