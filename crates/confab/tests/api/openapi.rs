//! The dialects' OpenAPI documents: valid OpenAPI 3.1, made from the routes
//! the routers really serve, every one of them with its words, and served at
//! `/openapi/{dialect}.json`. (`tests/openapi/run.sh`, from `.ci/run`, runs
//! schemathesis against them.)

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::Value;

use confab_server::config::Config;
use confab_server::Application;

use crate::helpers::{spawn_app, Storage};

#[tokio::test]
async fn every_served_route_is_documented_and_nothing_else() {
    let storage = Storage::fresh().await;
    let config = Config {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: storage.data_dir.path().to_owned(),
        database_url: storage.database_url.clone(),
        ..Config::default()
    };
    let app = Application::build(config).await.unwrap();
    assert_eq!(app.documents().problems(), &[] as &[String]);
}

async fn document(dialect: &str) -> Value {
    let app = spawn_app().await;
    let response = app.http.get(format!("http://{}/openapi/{dialect}.json", app.addr)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_documents_are_openapi_3_1_with_the_vendors_error_bodies() {
    for (dialect, at_least, error) in
        [("easemob", 100, "EasemobError"), ("wildfire", 100, "WildfireResult"), ("leancloud", 70, "LeanCloudError")]
    {
        let doc = document(dialect).await;
        // The parts OpenAPI 3.1 requires (tests/openapi/run.sh also checks
        // each document against the specification's schema).
        assert_eq!(doc["openapi"], "3.1.0", "{dialect}");
        assert!(doc["info"]["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(doc["info"]["version"].is_string());
        let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
        for required in doc["security"][0].as_object().unwrap().keys() {
            assert!(schemes.contains_key(required), "{dialect}: {required}");
        }
        let schema = &doc["components"]["schemas"][error];
        assert_eq!(schema["type"], "object", "{dialect}: {schema}");
        let mut operations = 0;
        let mut ids = HashSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            let params: Vec<&str> =
                path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
            for (method, op) in item.as_object().unwrap() {
                operations += 1;
                let summary = op["summary"].as_str().unwrap();
                assert!(!summary.is_empty() && summary != "(undocumented)", "{dialect} {method} {path}");
                assert!(ids.insert(op["operationId"].as_str().unwrap().to_owned()), "{dialect}: unique IDs");
                let named: Vec<&str> =
                    op["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
                assert_eq!(named, params, "{dialect} {method} {path}");
                let reference = format!("#/components/schemas/{error}");
                assert_eq!(op["responses"]["404"]["content"]["application/json"]["schema"]["$ref"], reference.as_str());
            }
        }
        assert!(operations >= at_least, "{dialect}: {operations} operations");
        // Every reference resolves within the document.
        let text = doc.to_string();
        let refs = regex::Regex::new(r##""\$ref":"#/components/schemas/([^"]+)""##).unwrap();
        for name in refs.captures_iter(&text) {
            let name = &name[1];
            assert!(doc["components"]["schemas"].get(name).is_some(), "{dialect}: {name} is referred to but missing");
        }
    }
    // The seed's IDs are named where an operation has one.
    let easemob = document("easemob").await;
    let token = &easemob["paths"]["/{org}/{app}/token"]["post"];
    assert!(token["description"].as_str().unwrap().contains("E-auth-1"), "{token}");
    assert_eq!(token["security"], serde_json::json!([]), "the token call needs no token");
    assert!(token["responses"]["200"].get("content").is_none(), "a token is not an envelope");
    let users = &easemob["paths"]["/{org}/{app}/users"]["get"]["responses"]["200"];
    assert_eq!(users["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/EasemobEnvelope");
    let envelope = &easemob["components"]["schemas"]["EasemobEnvelope"];
    assert_eq!(envelope["required"], serde_json::json!(["timestamp", "duration"]), "{envelope}");
    let app = spawn_app().await;
    let response = app.http.get(format!("http://{}/openapi/nothing.json", app.addr)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_error_bodies_are_what_the_documents_say() {
    // One real error of each dialect, checked against its document's schema's required fields.
    let app = spawn_app().await;
    let (status, body) = app.get("/users/nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let doc = document("easemob").await;
    for field in doc["components"]["schemas"]["EasemobError"]["required"].as_array().unwrap() {
        assert!(body.get(field.as_str().unwrap()).is_some(), "{field} in {body}");
    }
    let (status, body) = app.leancloud(reqwest::Method::GET, "/1.2/rtm/nothing", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["code"].is_i64() && body["error"].is_string(), "{body}");
    let body = app.wildfire("/admin/user/get_info", serde_json::json!({"userId": "nobody"})).await;
    assert!(body["code"].is_i64() && body["msg"].is_string(), "{body}");
}
