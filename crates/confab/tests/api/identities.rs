//! User IDs are the vendor's, exactly: LeanCloud and WildfireChat keep case
//! and take any character but control characters; Easemob folds case and
//! keeps its own character rule. One core holds all three.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use confab_client::{ConnectOptions, Connection};

use crate::helpers::{assert_error, assert_quiet, backlog, next_message, spawn_app, TestApp};
use crate::leancloud::urlencode;

const IDS: [&str; 4] = ["BillGates", "billgates", "Steve.Jobs@apple.com", "张三 (Zhang San)"];

async fn wildfire_ok(app: &TestApp, path: &str, body: Value) -> Value {
    let answer = app.wildfire(path, body).await;
    assert_eq!(answer["code"], 0, "{path}: {answer}");
    answer["result"].clone()
}

/// A gateway connection for a WildfireChat user, after its backlog.
async fn connect(app: &TestApp, id: &str) -> Connection {
    let answer =
        wildfire_ok(app, "/admin/user/get_token", json!({"userId": id, "clientId": "c1", "platform": 5})).await;
    let token = answer["token"].as_str().expect("token");
    let mut connection =
        Connection::connect(&app.endpoint().ws_url(), token, ConnectOptions::default()).await.expect("gateway login");
    backlog(&mut connection).await;
    connection
}

fn sorted(values: &Value) -> Vec<String> {
    let mut out: Vec<String> = values.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    out.sort();
    out
}

#[tokio::test]
async fn leancloud_client_ids_are_kept_exactly() {
    let app = spawn_app().await;
    let (status, created) =
        app.leancloud(Method::POST, "/1.2/rtm/conversations", Some(json!({"name": "ids", "m": IDS}))).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["objectId"].as_str().unwrap();
    let mut want: Vec<String> = IDS.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(sorted(&created["m"]), want, "{created}");
    let query = urlencode(&json!({"objectId": id}).to_string());
    let (_, read) = app.leancloud(Method::GET, &format!("/1.2/rtm/conversations?where={query}"), None).await;
    assert_eq!(sorted(&read["results"][0]["m"]), want, "four members, not three: {read}");

    // A control character is not part of any vendor's IDs.
    let (status, body) =
        app.leancloud(Method::POST, "/1.2/rtm/conversations", Some(json!({"name": "bad", "m": ["a\u{7}b"]}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("not legal"), "{body}");
    let (status, body) = app
        .leancloud(Method::POST, "/1.2/rtm/conversations", Some(json!({"name": "long", "m": ["中".repeat(65)]})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = app
        .leancloud(Method::POST, "/1.2/rtm/conversations", Some(json!({"name": "long", "m": ["中".repeat(64)]})))
        .await;
    assert_eq!(status, StatusCode::OK, "64 characters is the limit, not 64 bytes: {body}");
}

#[tokio::test]
async fn wildfire_users_that_differ_by_case_are_two_users() {
    let app = spawn_app().await;
    for id in IDS {
        let created = wildfire_ok(&app, "/admin/user/create", json!({"userId": id, "name": id})).await;
        assert_eq!(created["userId"], id);
        let info = wildfire_ok(&app, "/admin/user/get_info", json!({"userId": id})).await;
        assert_eq!(info["userId"], id);
    }
    let mut upper = connect(&app, "BillGates").await;
    let mut lower = connect(&app, "billgates").await;
    let sent = wildfire_ok(
        &app,
        "/admin/message/send",
        json!({
            "sender": "Steve.Jobs@apple.com",
            "conv": {"type": 0, "target": "BillGates", "line": 0},
            "payload": {"type": 1, "searchableContent": "for Bill only"},
        }),
    )
    .await;
    assert!(sent["messageUid"].as_i64().is_some(), "{sent}");
    let message = next_message(&mut upper).await;
    assert_eq!((message.from.as_str(), message.to.as_str()), ("Steve.Jobs@apple.com", "BillGates"));
    assert_quiet(&mut lower).await;

    // billgates's own conversation with the sender is another one.
    wildfire_ok(
        &app,
        "/admin/message/send",
        json!({
            "sender": "张三 (Zhang San)",
            "conv": {"type": 0, "target": "billgates", "line": 0},
            "payload": {"type": 1, "searchableContent": "for billgates"},
        }),
    )
    .await;
    let message = next_message(&mut lower).await;
    assert_eq!((message.from.as_str(), message.to.as_str()), ("张三 (Zhang San)", "billgates"));
    assert_quiet(&mut upper).await;
}

#[tokio::test]
async fn easemob_folds_case_and_cannot_name_ids_it_cannot_spell() {
    let app = spawn_app().await;
    let (status, body) = app.post("/users", json!([{"username": "Alice", "password": "pw-123456"}])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["entities"][0]["username"], "alice");
    let (status, body) = app.get("/users/ALICE").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["entities"][0]["username"], "alice");
    let (status, body) = app.post("/users", json!([{"username": "a@b.c", "password": "pw-123456"}])).await;
    assert_error(status, &body, 400, "illegal_argument");

    // Users made by the other dialects.
    for id in ["BillGates", "Steve.Jobs@apple.com"] {
        wildfire_ok(&app, "/admin/user/create", json!({"userId": id, "name": id})).await;
    }
    // `BillGates` folds to `billgates`, who does not exist; an ID with `@` cannot be spelled.
    let (status, body) = app.get("/users/BillGates").await;
    assert_error(status, &body, 404, "service_resource_not_found");
    let (status, body) = app.get("/users/Steve.Jobs@apple.com").await;
    assert_error(status, &body, 404, "service_resource_not_found");

    // What Easemob lists, it lists as spelled.
    let (status, created) = app
        .leancloud(Method::POST, "/1.2/rtm/conversations", Some(json!({"name": "mixed", "m": ["BillGates", "alice"]})))
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["objectId"].as_str().unwrap();
    let (status, body) = app.get(&format!("/chatgroups/{id}/users")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let members: Vec<String> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m.as_object().unwrap().values().map(|v| v.as_str().unwrap().to_owned()))
        .collect();
    assert!(members.contains(&"BillGates".to_owned()), "{body}");
    assert!(members.contains(&"alice".to_owned()), "{body}");
}
