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

/// The property names a request schema allows: through `$ref`, `allOf`
/// (flattened parts), `oneOf` (one or a batch) and arrays of objects.
fn properties(doc: &Value, schema: &Value) -> Vec<String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return properties(doc, &doc["components"]["schemas"][name]);
    }
    let mut names: Vec<String> =
        schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
    for part in ["allOf", "oneOf", "anyOf"] {
        for sub in schema[part].as_array().into_iter().flatten() {
            names.extend(properties(doc, sub));
        }
    }
    if schema["type"] == "array" {
        names.extend(properties(doc, &schema["items"]));
    }
    names.sort();
    names.dedup();
    names
}

fn request_schema<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    let body = &doc["paths"][path][method]["requestBody"];
    assert_eq!(body["required"], true, "{method} {path}: {body}");
    &body["content"]["application/json"]["schema"]
}

/// The request bodies are the types the handlers read (`JsonBody<_, T>`,
/// `Body<T>`, `Admin<T>`): each operation that reads one documents its
/// fields, under the vendor's names.
#[tokio::test]
async fn request_bodies_are_the_types_the_handlers_read() {
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "easemob",
            "post",
            "/{org}/{app}/messages/users",
            &["body", "ext", "from", "routetype", "sync_device", "to", "type"],
        ),
        ("easemob", "post", "/{org}/{app}/users", &["nickname", "password", "username"]),
        (
            "easemob",
            "put",
            "/{org}/{app}/chatgroups/{id}",
            &[
                "allowinvites",
                "avatar",
                "custom",
                "description",
                "groupname",
                "invite_need_confirm",
                "maxusers",
                "membersonly",
                "name",
                "newowner",
                "public",
            ],
        ),
        ("easemob", "post", "/{org}/{app}/chatrooms/{id}/mute", &["mute_duration", "usernames"]),
        (
            "easemob",
            "post",
            "/{org}/{app}/users/{username}/messageroaming",
            &["endTime", "is_positive", "msgType", "pull_number", "queue", "start", "startTime", "userId"],
        ),
        (
            "leancloud",
            "post",
            "/1.2/rtm/conversations",
            &["c", "lm", "m", "mu", "name", "sys", "tr", "unique", "uniqueId"],
        ),
        (
            "leancloud",
            "put",
            "/1.2/rtm/chatrooms/{id}/messages/{message}",
            &["from_client", "message", "timestamp", "to_clients"],
        ),
        (
            "leancloud",
            "post",
            "/1.1/rtm/messages",
            &[
                "conv_id",
                "from_peer",
                "mention_all",
                "mention_client_ids",
                "message",
                "no_sync",
                "priority",
                "push_data",
                "to_peers",
                "transient",
            ],
        ),
        (
            "wildfire",
            "post",
            "/admin/robot/create",
            &[
                "address",
                "callback",
                "company",
                "displayName",
                "email",
                "extra",
                "gender",
                "mobile",
                "name",
                "owner",
                "password",
                "portrait",
                "robotExtra",
                "secret",
                "social",
                "type",
                "userId",
            ],
        ),
        ("wildfire", "post", "/robot/message/send", &["conv", "payload", "sender", "toUsers"]),
    ];
    let mut docs = std::collections::HashMap::new();
    for dialect in ["easemob", "leancloud", "wildfire"] {
        docs.insert(dialect, document(dialect).await);
    }
    for (dialect, method, path, fields) in cases {
        let doc = &docs[dialect];
        let found = properties(doc, request_schema(doc, method, path));
        assert_eq!(found, *fields, "{dialect} {method} {path}");
    }
    // Forms and uploads say what they are.
    let easemob = &docs["easemob"];
    let form = &easemob["paths"]["/{org}/{app}/metadata/user/{username}"]["put"]["requestBody"]["content"];
    assert!(form.get("application/x-www-form-urlencoded").is_some(), "{form}");
    let upload = &easemob["paths"]["/{org}/{app}/chatfiles"]["post"]["requestBody"]["content"];
    assert_eq!(upload["multipart/form-data"]["schema"]["required"], serde_json::json!(["file"]), "{upload}");
    // Every operation that writes has a body schema, but those whose
    // handlers read none (their path and query say it all).
    for (dialect, doc) in &docs {
        let mut without = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if ["post", "put", "delete"].contains(&method.as_str()) && op["requestBody"]["required"] != true {
                    without.push(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
        without.sort();
        assert_without_body(dialect, &without);
    }
}

/// The operations that read no body, per dialect: a new handler that reads
/// one must say so in the document's table (`openapi/<dialect>.rs`).
fn assert_without_body(dialect: &str, without: &[String]) {
    let expected: &[&str] = match dialect {
        "easemob" => EASEMOB_WITHOUT_BODY,
        "leancloud" => LEANCLOUD_WITHOUT_BODY,
        _ => WILDFIRE_WITHOUT_BODY,
    };
    assert_eq!(without, expected, "{dialect}: write operations without a documented body");
}

const EASEMOB_WITHOUT_BODY: &[&str] = &[
    "DELETE /{org}/{app}/chatgroups/{id}",
    "DELETE /{org}/{app}/chatgroups/{id}/admin/{username}",
    "DELETE /{org}/{app}/chatgroups/{id}/ban",
    "DELETE /{org}/{app}/chatgroups/{id}/mute/{username}",
    "DELETE /{org}/{app}/chatgroups/{id}/quit",
    "DELETE /{org}/{app}/chatgroups/{id}/users/{username}",
    "DELETE /{org}/{app}/chatgroups/{id}/{list}/users/{username}",
    "DELETE /{org}/{app}/chatrooms/{id}",
    "DELETE /{org}/{app}/chatrooms/{id}/admin/{username}",
    "DELETE /{org}/{app}/chatrooms/{id}/ban",
    "DELETE /{org}/{app}/chatrooms/{id}/mute/{username}",
    "DELETE /{org}/{app}/chatrooms/{id}/quit",
    "DELETE /{org}/{app}/chatrooms/{id}/users/{username}",
    "DELETE /{org}/{app}/chatrooms/{id}/{list}/users/{username}",
    "DELETE /{org}/{app}/metadata/user/{username}",
    "DELETE /{org}/{app}/thread/{id}",
    "DELETE /{org}/{app}/thread/{id}/user/{username}/quit",
    "DELETE /{org}/{app}/users",
    "DELETE /{org}/{app}/users/{owner}/blocks/users/{other}",
    "DELETE /{org}/{app}/users/{owner}/contacts/users/{other}",
    "DELETE /{org}/{app}/users/{username}",
    "POST /{org}/{app}/chatgroups/{id}/ban",
    "POST /{org}/{app}/chatgroups/{id}/mute/{username}",
    "POST /{org}/{app}/chatgroups/{id}/users/{username}",
    "POST /{org}/{app}/chatgroups/{id}/{list}/users/{username}",
    "POST /{org}/{app}/chatrooms/{id}/ban",
    "POST /{org}/{app}/chatrooms/{id}/users/{username}",
    "POST /{org}/{app}/chatrooms/{id}/{list}/users/{username}",
    "POST /{org}/{app}/metadata/chatroom/{id}",
    "POST /{org}/{app}/thread/{id}/user/{username}/join",
    "POST /{org}/{app}/users/{owner}/contacts/users/{other}",
    "POST /{org}/{app}/users/{username}/activate",
    "POST /{org}/{app}/users/{username}/deactivate",
    "PUT /{org}/{app}/chatgroups/{id}/ban",
    "PUT /{org}/{app}/chatrooms/{id}/ban",
];

const LEANCLOUD_WITHOUT_BODY: &[&str] = &[
    "DELETE /1.2/rtm/broadcasts/{message}",
    "DELETE /1.2/rtm/chatrooms/{id}",
    "DELETE /1.2/rtm/chatrooms/{id}/member-infos/{info}",
    "DELETE /1.2/rtm/chatrooms/{id}/messages/{message}",
    "DELETE /1.2/rtm/chatrooms/{id}/temporary-silenceds",
    "DELETE /1.2/rtm/conversations/{id}",
    "DELETE /1.2/rtm/conversations/{id}/member-infos/{info}",
    "DELETE /1.2/rtm/conversations/{id}/messages/{message}",
    "DELETE /1.2/rtm/conversations/{id}/temporary-silenceds",
    "DELETE /1.2/rtm/service-conversations/{id}",
    "DELETE /1.2/rtm/service-conversations/{id}/messages/{message}",
    "DELETE /1.2/rtm/service-conversations/{id}/subscribers/{client}",
    "DELETE /1.2/rtm/service-conversations/{id}/subscribers/{client}/messages/{message}",
];

const WILDFIRE_WITHOUT_BODY: &[&str] = &[
    "POST /admin/health",
    "POST /admin/sensitive/query",
    "POST /admin/user/get_blocked_list",
    "POST /admin/user/online_count",
    "POST /channel/get_profile",
    "POST /channel/subscriber_list",
    "POST /robot/delete_callback",
    "POST /robot/get_callback",
    "POST /robot/profile",
];
