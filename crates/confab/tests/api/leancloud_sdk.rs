//! The vendor's own LeanCloud real-time SDK, `leancloud-realtime` 4.3.1 and
//! 5.0.0-rc.8 from npm (pinned in `tests/sdk/leancloud/package-lock.json`),
//! run under Node.js against this confab: discovery, plain and signed
//! session opens, a forged signature, single sign-on by tag across two
//! processes, and a backend kick. The steps are `tests/sdk/leancloud/sessions.js`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp, LC_APP_ID, LC_APP_KEY, LC_MASTER_KEY};
use crate::node_sdk::Step;

fn ensure_installed() {
    crate::node_sdk::ensure_installed("leancloud", "node_modules/lc5/package.json");
}

/// One step of `sessions.js` with the SDK `sdk` (`lc4` or `lc5`).
fn start(app: &TestApp, sdk: &str, args: &[&str]) -> Step {
    let server = format!("http://{}", app.addr);
    let mut all = vec![sdk, server.as_str(), LC_APP_ID, LC_APP_KEY, LC_MASTER_KEY];
    all.extend_from_slice(args);
    Step::spawn("leancloud", "sessions.js", &all)
}

async fn sessions_work_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;

    let mut signed = start(&app, sdk, &["signed", "bob"]);
    assert_eq!(signed.next().await, json!({"opened": "bob"}), "{sdk}");
    signed.finished().await;
    let mut forged = start(&app, sdk, &["forged", "mallory"]);
    assert_eq!(forged.next().await, json!({"refused": 4102}), "{sdk}");
    forged.finished().await;

    // Two devices with the same tag: the second logs the first out.
    let mut first = start(&app, sdk, &["open", "Ann", "Mobile"]);
    assert_eq!(first.next().await, json!({"opened": "Ann"}), "{sdk}");
    let mut second = start(&app, sdk, &["open", "Ann", "Mobile"]);
    assert_eq!(second.next().await, json!({"opened": "Ann"}), "{sdk}");
    assert_eq!(first.next().await["conflict"], true, "{sdk}");
    first.finished().await;

    // The backend kicks the client: the SDK's CLOSE with 4115 and the reason.
    let (status, _) =
        app.leancloud(Method::POST, "/1.2/rtm/clients/Ann/kick", Some(json!({"reason": "maintenance"}))).await;
    assert!(status.is_success());
    assert_eq!(second.next().await, json!({"closed": 4115, "reason": "maintenance"}), "{sdk}");
    second.finished().await;
}

/// Two SDK clients in a conversation the backend made: one sends, the other
/// receives it; the REST history has it; a REST send reaches the SDK too.
/// The app's `_messageReceived` hook drops the message: the SDK's send
/// fails with MESSAGE_REJECTED_BY_APP (4402), and nothing is stored.
async fn hook_refusals_reach(sdk: &str) {
    ensure_installed();
    let server = crate::callbacks::AppServer::start(|_| {
        (200, json!({"result": {"drop": true, "code": 7, "detail": "not here"}}).to_string())
    })
    .await;
    let app =
        crate::callbacks::with_pre_send(&server, |config| config.callbacks.format = Some("leancloud".into())).await;
    let (_, made) =
        app.leancloud(Method::POST, "/1.2/rtm/conversations", Some(json!({"name": "team", "m": ["Ann", "bob"]}))).await;
    let cid = made["objectId"].as_str().unwrap().to_owned();
    let mut ann = start(&app, sdk, &["refused", "Ann", &cid, "buy now"]);
    let refused = ann.next().await;
    ann.finished().await;
    assert_eq!(refused["code"], 4402, "{sdk}: {refused}");
    // The hook gets the message's content as the SDK sent it: a typed message's JSON text.
    // (The session's _clientOnline and _clientOffline notices come too, in no order.)
    let call = crate::callbacks::last_call(&server, "/_messageReceived");
    assert_eq!(call.path, "/pre/1.1/functions/_messageReceived");
    let content: serde_json::Value = serde_json::from_str(call.body["content"].as_str().unwrap()).unwrap();
    assert_eq!(content, json!({"_lctext": "buy now", "_lctype": -1}), "{sdk}");
    let (_, history) = app.leancloud(Method::GET, &format!("/1.2/rtm/conversations/{cid}/messages"), None).await;
    assert_eq!(history, json!([]), "{sdk}: nothing stored");
}

#[tokio::test]
async fn the_4x_sdk_hears_a_hook_refuse() {
    hook_refusals_reach("lc4").await;
}

#[tokio::test]
async fn the_5x_sdk_hears_a_hook_refuse() {
    hook_refusals_reach("lc5").await;
}

async fn messages_work_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    let (_, made) =
        app.leancloud(Method::POST, "/1.2/rtm/conversations", Some(json!({"name": "team", "m": ["Ann", "bob"]}))).await;
    let cid = made["objectId"].as_str().unwrap().to_owned();

    let mut bob = start(&app, sdk, &["listen", "bob"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let mut ann = start(&app, sdk, &["send", "Ann", &cid, "hello from the SDK"]);
    let sent = ann.next().await;
    let id = sent["sent"].as_str().unwrap_or_else(|| panic!("{sdk}: {sent}")).to_owned();
    assert!(sent["timestamp"].as_i64().unwrap() > 0, "{sent}");
    assert_eq!(sent["members"], json!(["Ann", "bob"]), "the conversation as the SDK found it");
    ann.finished().await;
    let got = bob.next().await;
    assert_eq!(got, json!({"received": "hello from the SDK", "from": "Ann", "id": id, "cid": cid}), "{sdk}");
    bob.finished().await;

    let (_, history) = app.leancloud(Method::GET, &format!("/1.2/rtm/conversations/{cid}/messages"), None).await;
    assert_eq!(history[0]["msg-id"], id.as_str(), "{history}");
    assert_eq!(history[0]["from"], "Ann");

    // From the backend, as LeanCloud's typed text message.
    let mut bob = start(&app, sdk, &["listen", "bob"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let body = json!({"from_client": "Ann", "message": {"_lctype": -1, "_lctext": "from the backend"}});
    let (status, _) = app.leancloud(Method::POST, &format!("/1.2/rtm/conversations/{cid}/messages"), Some(body)).await;
    assert!(status.is_success());
    assert_eq!(bob.next().await["received"], "from the backend", "{sdk}");
    bob.finished().await;

    // The history, as `queryMessages` reads it: members only.
    let mut ann = start(&app, sdk, &["history", "Ann", &cid]);
    let read = ann.next().await;
    assert_eq!(read["history"], json!(["hello from the SDK", "from the backend"]), "{sdk}: {read}");
    assert_eq!(read["from"], json!(["Ann", "Ann"]), "{sdk}");
    ann.finished().await;
    let mut carol = start(&app, sdk, &["history", "carol", &cid]);
    assert_eq!(carol.next().await, json!({"refused": 4312}), "{sdk}");
    carol.finished().await;

    // A mention: bob's SDK sees itself mentioned.
    let mut bob = start(&app, sdk, &["listen", "bob"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let mut ann = start(&app, sdk, &["mention", "Ann", &cid, "bob"]);
    let id = ann.next().await["sent"].as_str().unwrap_or_default().to_owned();
    ann.finished().await;
    let got = bob.next().await;
    let mentioned = json!({"received": "@bob look", "from": "Ann", "id": id, "cid": cid, "mentioned": true, "mentionList": ["bob"]});
    assert_eq!(got, mentioned, "{sdk}");
    bob.finished().await;

    // A binary message (an ArrayBuffer payload): the same bytes live, in
    // the SDK's history and, base64 with `bin`, in the REST history.
    let mut bob = start(&app, sdk, &["listen", "bob"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let mut ann = start(&app, sdk, &["bytes", "Ann", &cid, "00ff10c3a9"]);
    let sent = ann.next().await;
    let id = sent["sent"].as_str().unwrap_or_else(|| panic!("{sdk}: {sent}")).to_owned();
    assert_eq!(ann.next().await, json!({"history": "00ff10c3a9", "id": id}), "{sdk}");
    ann.finished().await;
    assert_eq!(bob.next().await, json!({"binary": "00ff10c3a9", "from": "Ann", "id": id, "cid": cid}), "{sdk}");
    bob.finished().await;
    let (_, history) = app.leancloud(Method::GET, &format!("/1.2/rtm/conversations/{cid}/messages"), None).await;
    assert_eq!((&history[0]["msg-id"], &history[0]["bin"]), (&json!(id), &json!(true)), "{history}");
    assert_eq!(history[0]["data"], "AP8Qw6k=", "the bytes in base64: {history}");
}

/// A conversation the SDK makes: unique by its members, its name and the
/// app's own fields kept, the REST API sees it, the other member hears in it.
async fn conversations_are_made_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    let mut bob = start(&app, sdk, &["listen", "bob"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let mut ann = start(&app, sdk, &["start", "Ann", "bob", "made by the SDK"]);
    let made = ann.next().await;
    let cid = made["cid"].as_str().unwrap_or_else(|| panic!("{sdk}: {made}")).to_owned();
    assert_eq!(made["again"], cid.as_str(), "unique: the same members find the same conversation");
    assert_eq!(made["name"], "duo", "{made}");
    ann.finished().await;
    let got = bob.next().await;
    assert_eq!((got["received"].as_str(), got["cid"].as_str()), (Some("made by the SDK"), Some(cid.as_str())), "{got}");
    bob.finished().await;

    let (_, doc) =
        app.leancloud(Method::GET, &format!("/1.2/rtm/conversations?where={{\"objectId\":\"{cid}\"}}"), None).await;
    let doc = &doc["results"][0];
    assert_eq!(
        (doc["name"].as_str(), doc["c"].as_str(), doc["topic"].as_str()),
        (Some("duo"), Some("Ann"), Some("sdk")),
        "{doc}"
    );
    assert_eq!(doc["unique"], true);
    let mut members: Vec<&str> = doc["m"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    members.sort_unstable();
    assert_eq!(members, ["Ann", "bob"]);

    // A temporary conversation: the other member's SDK hears in it (and
    // finds it by its ID); the REST API's queries do not list it.
    let mut bob = start(&app, sdk, &["listen", "bob"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let mut ann = start(&app, sdk, &["temporary", "Ann", "bob", "for an hour"]);
    let made = ann.next().await;
    let cid = made["cid"].as_str().unwrap_or_else(|| panic!("{sdk}: {made}")).to_owned();
    assert!(cid.starts_with("_tmp:"), "{made}");
    assert_eq!(made["members"], json!(["Ann", "bob"]), "{made}");
    assert!((3590..=3600).contains(&made["expiresIn"].as_i64().unwrap_or(0)), "{made}");
    ann.finished().await;
    let got = bob.next().await;
    assert_eq!((got["received"].as_str(), got["cid"].as_str()), (Some("for an hour"), Some(cid.as_str())), "{got}");
    bob.finished().await;
    let (_, listed) = app.leancloud(Method::GET, "/1.2/rtm/conversations", None).await;
    assert!(listed["results"].as_array().unwrap().iter().all(|c| c["objectId"] != json!(cid)), "{listed}");
}

/// The backend edits one message and recalls another: the SDK's
/// MESSAGE_UPDATE and MESSAGE_RECALL events.
async fn edits_and_recalls_reach(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    let (_, made) =
        app.leancloud(Method::POST, "/1.2/rtm/conversations", Some(json!({"name": "team", "m": ["Ann", "bob"]}))).await;
    let cid = made["objectId"].as_str().unwrap().to_owned();
    let mut sent = Vec::new();
    for text in ["first", "second"] {
        let body = json!({"from_client": "Ann", "message": {"_lctype": -1, "_lctext": text}});
        let (_, answer) =
            app.leancloud(Method::POST, &format!("/1.2/rtm/conversations/{cid}/messages"), Some(body)).await;
        sent.push((answer["msg-id"].as_str().unwrap().to_owned(), answer["timestamp"].as_i64().unwrap()));
    }
    let mut bob = start(&app, sdk, &["watch", "bob"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let (first, first_ts) = &sent[0];
    let edit = json!({"from_client": "Ann", "timestamp": first_ts, "message": "first, edited"});
    let path = format!("/1.2/rtm/conversations/{cid}/messages/{first}");
    assert!(app.leancloud(Method::PUT, &path, Some(edit)).await.0.is_success());
    assert_eq!(bob.next().await, json!({"updated": first, "text": "first, edited"}), "{sdk}");
    let (second, second_ts) = &sent[1];
    let recall = json!({"from_client": "Ann", "timestamp": second_ts});
    let path = format!("/1.2/rtm/conversations/{cid}/messages/{second}/recall");
    assert!(app.leancloud(Method::PUT, &path, Some(recall)).await.0.is_success());
    assert_eq!(bob.next().await, json!({"recalled": second}), "{sdk}");
    bob.finished().await;

    // The SDK edits and recalls its own messages.
    let mut bob = start(&app, sdk, &["watch", "bob"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let mut ann = start(&app, sdk, &["amend", "Ann", &cid]);
    let amended = ann.next().await;
    let ids = amended["amended"].as_array().unwrap_or_else(|| panic!("{sdk}: {amended}")).clone();
    ann.finished().await;
    // The server tells them in order; the SDK may raise them in either (it
    // looks a conversation up before raising the first).
    let mut heard = vec![bob.next().await, bob.next().await];
    heard.sort_by_key(|e| e.get("recalled").is_some());
    assert_eq!(heard, [json!({"updated": ids[0], "text": "first, edited"}), json!({"recalled": ids[1]})], "{sdk}");
    bob.finished().await;
}

#[tokio::test]
async fn the_4x_sdk_hears_edits_and_recalls() {
    edits_and_recalls_reach("lc4").await;
}

#[tokio::test]
async fn the_5x_sdk_hears_edits_and_recalls() {
    edits_and_recalls_reach("lc5").await;
}

/// Members added and leaving: the one added hears INVITED, the others
/// MEMBERS_JOINED and MEMBERS_LEFT, and the REST API sees the members.
async fn members_come_and_go_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    let (_, made) =
        app.leancloud(Method::POST, "/1.2/rtm/conversations", Some(json!({"name": "team", "m": ["Ann", "bob"]}))).await;
    let cid = made["objectId"].as_str().unwrap().to_owned();

    let mut carol = start(&app, sdk, &["events", "carol"]);
    assert_eq!(carol.next().await, json!({"opened": "carol"}), "{sdk}");
    let mut ann = start(&app, sdk, &["add", "Ann", &cid, "carol"]);
    assert_eq!(ann.next().await, json!({"added": ["carol"]}), "{sdk}");
    ann.finished().await;
    assert_eq!(carol.next().await, json!({"invited": cid}), "{sdk}");
    carol.finished().await;

    let mut bob = start(&app, sdk, &["events", "bob"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let mut carol = start(&app, sdk, &["quit", "carol", &cid]);
    assert_eq!(carol.next().await, json!({"quit": cid}), "{sdk}");
    carol.finished().await;
    assert_eq!(bob.next().await, json!({"left": ["carol"], "cid": cid}), "{sdk}");
    bob.finished().await;

    let path = format!("/1.2/rtm/conversations?where={{\"objectId\":\"{cid}\"}}");
    let (_, found) = app.leancloud(Method::GET, &path, None).await;
    let doc = &found["results"][0];
    let mut members: Vec<&str> =
        doc["m"].as_array().map(|m| m.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    members.sort_unstable();
    assert_eq!(members, ["Ann", "bob"], "{doc}");
}

#[tokio::test]
async fn the_4x_sdk_adds_and_quits() {
    members_come_and_go_with("lc4").await;
}

#[tokio::test]
async fn the_5x_sdk_adds_and_quits() {
    members_come_and_go_with("lc5").await;
}

/// A chat room the SDK makes, joined by two clients: what one says, the
/// other hears while there.
async fn chat_rooms_work_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    let mut ann = start(&app, sdk, &["room", "Ann"]);
    let made = ann.next().await;
    let room = made["room"].as_str().unwrap_or_else(|| panic!("{sdk}: {made}")).to_owned();
    ann.finished().await;
    let mut bob = start(&app, sdk, &["roomlisten", "bob", &room]);
    assert_eq!(bob.next().await, json!({"joined": room}), "{sdk}");
    let mut carol = start(&app, sdk, &["roomsay", "carol", &room, "hello, room"]);
    assert!(carol.next().await["said"].is_string(), "{sdk}");
    carol.finished().await;
    assert_eq!(bob.next().await, json!({"received": "hello, room", "from": "carol"}), "{sdk}");
    bob.finished().await;
    // The REST API sees a chat room.
    let (status, _) =
        app.leancloud(Method::GET, &format!("/1.2/rtm/chatrooms/{room}/members/online-count"), None).await;
    assert!(status.is_success());
}

#[tokio::test]
async fn the_4x_sdk_uses_chat_rooms() {
    chat_rooms_work_with("lc4").await;
}

#[tokio::test]
async fn the_5x_sdk_uses_chat_rooms() {
    chat_rooms_work_with("lc5").await;
}

#[tokio::test]
async fn the_4x_sdk_makes_conversations() {
    conversations_are_made_with("lc4").await;
}

#[tokio::test]
async fn the_5x_sdk_makes_conversations() {
    conversations_are_made_with("lc5").await;
}

#[tokio::test]
async fn the_4x_sdk_sends_and_receives() {
    messages_work_with("lc4").await;
}

#[tokio::test]
async fn the_5x_sdk_sends_and_receives() {
    messages_work_with("lc5").await;
}

#[tokio::test]
async fn the_4x_sdk_opens_signs_and_is_kicked() {
    sessions_work_with("lc4").await;
}

#[tokio::test]
async fn the_5x_sdk_opens_signs_and_is_kicked() {
    sessions_work_with("lc5").await;
}

/// Receipts and unread counts: Ann asks for receipts; bob's SDK takes the
/// message (a delivery receipt reaches Ann), is away while the backend sends
/// two more, logs in to the server's unread count (3: the first one was
/// delivered, not read), and reads them all (a read receipt reaches Ann).
async fn receipts_and_unread_counts_work_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    let (_, made) =
        app.leancloud(Method::POST, "/1.2/rtm/conversations", Some(json!({"name": "duo", "m": ["Ann", "bob"]}))).await;
    let cid = made["objectId"].as_str().unwrap().to_owned();

    let mut bob = start(&app, sdk, &["listen", "bob"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let mut ann = start(&app, sdk, &["receipts", "Ann", &cid]);
    let sent = ann.next().await;
    let id = sent["sent"].as_str().unwrap_or_else(|| panic!("{sdk}: {sent}")).to_owned();
    assert_eq!(bob.next().await["id"], json!(id), "{sdk}");
    bob.finished().await;
    let delivered = ann.next().await;
    assert_eq!(delivered["delivered"], json!(id), "{sdk}: {delivered}");

    for text in ["two", "three"] {
        let body = json!({"from_client": "Ann", "message": {"_lctype": -1, "_lctext": text}});
        let (status, _) =
            app.leancloud(Method::POST, &format!("/1.2/rtm/conversations/{cid}/messages"), Some(body)).await;
        assert!(status.is_success());
    }
    let mut back = start(&app, sdk, &["unread", "bob", &cid]);
    assert_eq!(back.next().await, json!({"unread": 3}), "{sdk}: the server's count");
    assert_eq!(back.next().await, json!({"messages": ["two", "three"]}), "{sdk}: what was missed");
    assert_eq!(back.next().await, json!({"read": cid}), "{sdk}");
    back.finished().await;

    assert_eq!(ann.next().await, json!({"read": id}), "{sdk}: the read receipt");
    let times = ann.next().await;
    assert!(times["lastDeliveredAt"].as_i64().unwrap_or(0) > 0, "{sdk}: {times}");
    assert!(times["lastReadAt"].as_i64().unwrap_or(0) > 0, "{sdk}: {times}");
    ann.finished().await;
    let (_, unread) = app.leancloud(Method::GET, "/1.2/rtm/clients/bob/unread-count", None).await;
    assert_eq!(unread["count"], 0, "{unread}");
}

#[tokio::test]
async fn the_4x_sdk_gets_receipts_and_unread_counts() {
    receipts_and_unread_counts_work_with("lc4").await;
}

#[tokio::test]
async fn the_5x_sdk_gets_receipts_and_unread_counts() {
    receipts_and_unread_counts_work_with("lc5").await;
}

/// A service conversation: the SDK finds it (`getServiceConversationQuery`),
/// subscribes (the REST API counts the subscriber), and hears the backend's
/// broadcast to all subscribers and its message to chosen ones.
async fn service_conversations_work_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    let (_, made) = app.leancloud(Method::POST, "/1.2/rtm/service-conversations", Some(json!({"name": "news"}))).await;
    let sid = made["objectId"].as_str().unwrap().to_owned();

    let mut bob = start(&app, sdk, &["subscribe", "bob", &sid]);
    assert_eq!(bob.next().await, json!({"subscribed": sid, "system": true}), "{sdk}");
    let (_, count) =
        app.leancloud(Method::GET, &format!("/1.2/rtm/service-conversations/{sid}/subscribers/count"), None).await;
    assert_eq!(count["count"], 1, "{sdk}: {count}");

    let text = |t: &str| json!({"_lctype": -1, "_lctext": t});
    let body = json!({"from_client": "news-desk", "message": text("to every subscriber")});
    let (status, _) =
        app.leancloud(Method::POST, &format!("/1.2/rtm/service-conversations/{sid}/broadcasts"), Some(body)).await;
    assert!(status.is_success());
    assert_eq!(bob.next().await, json!({"received": "to every subscriber", "cid": sid}), "{sdk}");
    let body = json!({"from_client": "news-desk", "to_clients": ["bob"], "message": text("to bob alone")});
    let (status, _) =
        app.leancloud(Method::POST, &format!("/1.2/rtm/service-conversations/{sid}/messages"), Some(body)).await;
    assert!(status.is_success());
    assert_eq!(bob.next().await, json!({"received": "to bob alone", "cid": sid}), "{sdk}");
    bob.finished().await;
}

#[tokio::test]
async fn the_4x_sdk_subscribes_to_service_conversations() {
    service_conversations_work_with("lc4").await;
}

#[tokio::test]
async fn the_5x_sdk_subscribes_to_service_conversations() {
    service_conversations_work_with("lc5").await;
}

/// Two devices of one client both get a message; when the server restarts,
/// the SDK reconnects by itself (`goaway`, then its session token) and gets
/// what was sent meanwhile, once, after what it had.
async fn reconnects_and_devices_work_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    let (_, made) =
        app.leancloud(Method::POST, "/1.2/rtm/conversations", Some(json!({"name": "duo", "m": ["Ann", "bob"]}))).await;
    let cid = made["objectId"].as_str().unwrap().to_owned();
    let say = |text: &str| json!({"from_client": "Ann", "message": {"_lctype": -1, "_lctext": text}});

    let mut phone = start(&app, sdk, &["stay", "bob", "2"]);
    assert_eq!(phone.next().await, json!({"opened": "bob"}), "{sdk}");
    let mut laptop = start(&app, sdk, &["listen", "bob"]);
    assert_eq!(laptop.next().await, json!({"opened": "bob"}), "{sdk}");
    let path = format!("/1.2/rtm/conversations/{cid}/messages");
    let (status, _) = app.leancloud(Method::POST, &path, Some(say("one"))).await;
    assert!(status.is_success());
    assert_eq!(phone.next().await, json!({"received": "one"}), "{sdk}: the first device");
    assert_eq!(laptop.next().await["received"], "one", "{sdk}: the second device");
    laptop.finished().await;

    // The server restarts on the same address and storage; a message is
    // sent before the SDK is back.
    let addr = app.addr;
    let storage = app.stop().await;
    assert_eq!(phone.next().await, json!({"disconnected": true}), "{sdk}");
    let app = crate::helpers::spawn_app_with(storage, |config| config.http_addr = addr).await;
    let (status, _) = app.leancloud(Method::POST, &path, Some(say("two"))).await;
    assert!(status.is_success());
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.push(phone.next().await);
    }
    seen.sort_by_key(|v| v.to_string());
    assert_eq!(seen, vec![json!({"received": "two"}), json!({"reconnected": true})], "{sdk}");
    phone.finished().await;
}

#[tokio::test]
async fn the_4x_sdk_reconnects_and_serves_two_devices() {
    reconnects_and_devices_work_with("lc4").await;
}

#[tokio::test]
async fn the_5x_sdk_reconnects_and_serves_two_devices() {
    reconnects_and_devices_work_with("lc5").await;
}

/// The backend's silences and blacklists reach the SDK: the client concerned
/// hears MUTED, then BLOCKED (and is out); the other members hear
/// MEMBERS_MUTED and MEMBERS_BLOCKED.
async fn moderation_reaches(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    let body = json!({"name": "trio", "m": ["Ann", "bob", "cat"]});
    let (_, made) = app.leancloud(Method::POST, "/1.2/rtm/conversations", Some(body)).await;
    let cid = made["objectId"].as_str().unwrap().to_owned();

    let mut bob = start(&app, sdk, &["events", "bob", "1"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let mut cat = start(&app, sdk, &["events", "cat", "2"]);
    assert_eq!(cat.next().await, json!({"opened": "cat"}), "{sdk}");
    let silence = json!({"client_id": "bob", "ttl": 600});
    let (status, _) =
        app.leancloud(Method::POST, &format!("/1.2/rtm/conversations/{cid}/temporary-silenceds"), Some(silence)).await;
    assert!(status.is_success());
    assert_eq!(bob.next().await, json!({"muted": cid}), "{sdk}");
    bob.finished().await;
    assert_eq!(cat.next().await, json!({"members_muted": ["bob"], "cid": cid}), "{sdk}");

    let mut bob = start(&app, sdk, &["events", "bob", "1"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let block = json!({"client_ids": ["bob"]});
    let (status, _) =
        app.leancloud(Method::POST, &format!("/1.2/rtm/conversations/{cid}/blacklists"), Some(block)).await;
    assert!(status.is_success());
    assert_eq!(bob.next().await, json!({"blocked": cid}), "{sdk}");
    bob.finished().await;
    assert_eq!(cat.next().await, json!({"members_blocked": ["bob"], "cid": cid}), "{sdk}");
    cat.finished().await;
    let (_, found) = app.leancloud(Method::GET, &format!("/1.2/rtm/conversations/{cid}/members"), None).await;
    assert_eq!(found["result"], json!(["Ann", "cat"]), "blocked means out: {found}");
}

#[tokio::test]
async fn the_4x_sdk_hears_silences_and_blacklists() {
    moderation_reaches("lc4").await;
}

#[tokio::test]
async fn the_5x_sdk_hears_silences_and_blacklists() {
    moderation_reaches("lc5").await;
}

/// A member counts, mutes and changes a conversation from the SDK; the REST
/// API sees the new name, the app's own field and the muted member.
async fn conversations_are_managed_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    let body = json!({"name": "trio", "m": ["Ann", "bob", "cat"]});
    let (_, made) = app.leancloud(Method::POST, "/1.2/rtm/conversations", Some(body)).await;
    let cid = made["objectId"].as_str().unwrap().to_owned();

    // Bob hears the change as INFO_UPDATED (Ann's muting of her own
    // notifications is hers alone: no one is told).
    let mut bob = start(&app, sdk, &["events", "bob", "1"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let mut ann = start(&app, sdk, &["manage", "Ann", &cid]);
    assert_eq!(ann.next().await, json!({"count": 3}), "{sdk}");
    assert_eq!(ann.next().await, json!({"muted": true}), "{sdk}");
    assert_eq!(ann.next().await, json!({"name": "renamed", "color": "blue", "mutedMembers": ["Ann"]}), "{sdk}");
    ann.finished().await;
    let heard = bob.next().await;
    assert_eq!(
        (&heard["info_updated"], &heard["name"], &heard["color"]),
        (&json!(cid), &json!("renamed"), &json!("blue")),
        "{sdk}: {heard}"
    );
    bob.finished().await;
    let (_, found) =
        app.leancloud(Method::GET, &format!("/1.2/rtm/conversations?where={{\"objectId\":\"{cid}\"}}"), None).await;
    let doc = &found["results"][0];
    assert_eq!(
        (&doc["name"], &doc["color"], &doc["mu"]),
        (&json!("renamed"), &json!("blue"), &json!(["Ann"])),
        "{found}"
    );
}

#[tokio::test]
async fn the_4x_sdk_counts_mutes_and_changes_conversations() {
    conversations_are_managed_with("lc4").await;
}

#[tokio::test]
async fn the_5x_sdk_counts_mutes_and_changes_conversations() {
    conversations_are_managed_with("lc5").await;
}

/// A transient message reaches who is connected and is not kept; a `will`
/// message goes out when its sender's connection drops without a goodbye,
/// and is kept like any other.
async fn transient_and_will_messages_work_with(sdk: &str) {
    ensure_installed();
    let app = spawn_app().await;
    let (_, made) =
        app.leancloud(Method::POST, "/1.2/rtm/conversations", Some(json!({"name": "duo", "m": ["Ann", "bob"]}))).await;
    let cid = made["objectId"].as_str().unwrap().to_owned();

    let mut bob = start(&app, sdk, &["stay", "bob", "2"]);
    assert_eq!(bob.next().await, json!({"opened": "bob"}), "{sdk}");
    let mut ann = start(&app, sdk, &["farewell", "Ann", &cid]);
    assert_eq!(ann.next().await, json!({"sent": true}), "{sdk}");
    ann.finished().await;
    assert_eq!(bob.next().await, json!({"received": "passing by"}), "{sdk}: the transient message");
    assert_eq!(bob.next().await, json!({"received": "gone"}), "{sdk}: the will message");
    bob.finished().await;
    let (_, history) = app.leancloud(Method::GET, &format!("/1.2/rtm/conversations/{cid}/messages"), None).await;
    let kept: Vec<&Value> = history.as_array().unwrap().iter().map(|m| &m["data"]).collect();
    assert_eq!(kept.len(), 1, "only the will message is kept: {history}");
    assert!(kept[0].as_str().unwrap().contains("gone"), "{history}");
}

#[tokio::test]
async fn the_4x_sdk_sends_transient_and_will_messages() {
    transient_and_will_messages_work_with("lc4").await;
}

#[tokio::test]
async fn the_5x_sdk_sends_transient_and_will_messages() {
    transient_and_will_messages_work_with("lc5").await;
}
