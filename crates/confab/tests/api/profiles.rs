//! E-push-1 to E-push-3 (push nickname, display style, do-not-disturb) and
//! E-meta-1 to E-meta-5 (user attributes), and how WildfireChat's profile
//! fields show up as Easemob user attributes.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp};

async fn put_form(app: &TestApp, user: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = app
        .http
        .put(app.url(&format!("/metadata/user/{user}")))
        .bearer_auth(&app.app_token)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn push_settings_are_stored_and_shown_with_the_user() {
    let app = spawn_app().await;
    app.register(&["alice"]).await;
    let (_, body) = app.get("/users/alice").await;
    assert!(body["entities"][0].get("notification_display_style").is_none(), "not shown until set");

    let (status, body) = app.put("/users/alice", json!({"nickname": "Alice A."})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["entities"][0]["nickname"], "Alice A.");
    let (status, body) = app.put("/users/alice", json!({"notification_display_style": "1"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let dnd = json!({"notification_no_disturbing": true, "notification_no_disturbing_start": "22",
                     "notification_no_disturbing_end": 7});
    assert_eq!(app.put("/users/alice", dnd).await.0, StatusCode::OK);

    let (_, body) = app.get("/users/alice").await;
    let user = &body["entities"][0];
    assert_eq!(user["nickname"], "Alice A.");
    assert_eq!(user["notification_display_style"], 1);
    assert_eq!(user["notification_no_disturbing"], true);
    assert_eq!(
        (user["notification_no_disturbing_start"].clone(), user["notification_no_disturbing_end"].clone()),
        (json!(22), json!(7))
    );

    assert_eq!(app.put("/users/alice", json!({"notification_no_disturbing": false})).await.0, StatusCode::OK);
    assert_eq!(app.get("/users/alice").await.1["entities"][0]["notification_no_disturbing"], false);

    let (status, body) = app.put("/users/alice", json!({"notification_display_style": 3})).await;
    assert_error(status, &body, 400, "illegal_argument");
    let bad_hour = json!({"notification_no_disturbing": 1, "notification_no_disturbing_start": 25});
    let (status, body) = app.put("/users/alice", bad_hour).await;
    assert_error(status, &body, 400, "illegal_argument");
    let (status, body) = app.put("/users/alice", json!({"nickname": "n".repeat(101)})).await;
    assert_error(status, &body, 400, "illegal_argument");
    let (status, body) = app.put("/users/nobody", json!({"nickname": "x"})).await;
    assert_error(status, &body, 404, "service_resource_not_found");
}

#[tokio::test]
async fn user_attributes_merge_read_and_clear_within_their_limits() {
    let app = spawn_app().await;
    app.register(&["alice", "bob"]).await;
    let (status, body) = put_form(&app, "alice", &[("nickname", "Al"), ("avatarurl", "http://a/1.png")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"nickname": "Al", "avatarurl": "http://a/1.png"}));
    assert!(body.get("action").is_none(), "the vendor's short shape: {body}");
    put_form(&app, "alice", &[("ext", "x")]).await;
    let (_, body) = app.get("/metadata/user/alice").await;
    assert_eq!(body["data"], json!({"nickname": "Al", "avatarurl": "http://a/1.png", "ext": "x"}));
    assert_eq!(app.get("/metadata/user/nobody").await.1["data"], json!({}));

    put_form(&app, "bob", &[("nickname", "Bo"), ("phone", "1")]).await;
    let batch = json!({"targets": ["alice", "bob", "nobody"], "properties": ["nickname"]});
    let (status, body) = app.post("/metadata/user/get", batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!({"alice": {"nickname": "Al"}, "bob": {"nickname": "Bo"}}));
    let too_many: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    let (status, body) = app.post("/metadata/user/get", json!({"targets": too_many, "properties": []})).await;
    assert_error(status, &body, 400, "BAD_REQUEST");

    let (_, body) = app.get("/metadata/user/capacity").await;
    let used = body["data"].as_u64().unwrap();
    let expected =
        serde_json::to_string(&json!({"avatarurl": "http://a/1.png", "ext": "x", "nickname": "Al"})).unwrap().len()
            + serde_json::to_string(&json!({"nickname": "Bo", "phone": "1"})).unwrap().len();
    assert_eq!(used as usize, expected);

    // 2 KB per user, counted as the attributes' JSON.
    let big = "v".repeat(2000);
    let (status, body) = put_form(&app, "alice", &[("big", &big)]).await;
    assert_error(status, &body, 403, "FORBIDDEN");
    assert_eq!(app.get("/metadata/user/alice").await.1["data"]["ext"], "x", "nothing changed");
    let (status, _) = put_form(&app, "alice", &[("big", &"v".repeat(5000))]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // JSON bodies are refused, as the vendor does.
    let (status, body) = app.put("/metadata/user/alice", json!({"nickname": "x"})).await;
    assert_error(status, &body, 415, "UNSUPPORTED_MEDIA_TYPE");

    // A user may read and change their own attributes, not another's.
    let token = app.user_token("bob").await;
    let (status, _) = app.call(Method::GET, "/metadata/user/bob", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.call(Method::GET, "/metadata/user/alice", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, body) = app.delete("/metadata/user/alice").await;
    assert_eq!((status, body["data"].clone()), (StatusCode::OK, json!(true)));
    assert_eq!(app.get("/metadata/user/alice").await.1["data"], json!({}));
    assert_eq!(app.delete("/metadata/user/nobody").await.0, StatusCode::OK);
}

#[tokio::test]
async fn wildfire_profiles_are_easemob_user_attributes() {
    let app = spawn_app().await;
    let create =
        json!({"userId": "zoe", "name": "zoe", "displayName": "Zoe", "portrait": "http://p/z.png", "mobile": "123"});
    assert_eq!(app.wildfire("/admin/user/create", create).await["code"], 0);
    let (_, body) = app.get("/metadata/user/zoe").await;
    assert_eq!(body["data"]["nickname"], "Zoe");
    assert_eq!(body["data"]["avatarurl"], "http://p/z.png");
    assert_eq!(body["data"]["phone"], "123");
    put_form(&app, "zoe", &[("nickname", "Zoë")]).await;
    let info = app.wildfire("/admin/user/get_info", json!({"userId": "zoe"})).await;
    assert_eq!(info["result"]["displayName"], "Zoë");
}
