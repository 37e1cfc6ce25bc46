//! Password hashing: what a registration batch costs before it is stored.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, spawn_app, PASSWORD};

/// Issue 13: a name given twice in one registration batch is refused
/// before any password is hashed (hashing is the expensive part): the whole
/// batch fails and nobody is registered.
#[tokio::test]
async fn a_name_twice_in_a_registration_batch_refuses_the_batch() {
    let app = spawn_app().await;
    let batch = json!([
        {"username": "alice", "password": PASSWORD},
        {"username": "bob", "password": PASSWORD},
        {"username": "alice", "password": "another-1"},
    ]);
    let (status, body) = app.post("/users", batch).await;
    assert_error(status, &body, 400, "illegal_argument");
    assert!(body["error_description"].as_str().unwrap().contains("alice"), "{body}");
    for name in ["alice", "bob"] {
        let (status, _) = app.get(&format!("/users/{name}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name} was not registered");
    }
    let (status, body) = app.post("/users", json!([{"username": "alice", "password": PASSWORD}])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
