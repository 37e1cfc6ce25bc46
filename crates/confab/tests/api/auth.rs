//! E-auth-1, E-auth-2 and token checks on every call.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{assert_error, spawn_app, CLIENT_ID, CLIENT_SECRET, PASSWORD};

#[tokio::test]
async fn app_token_comes_from_client_credentials() {
    let app = spawn_app().await;
    let body = json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET});
    let (status, reply) = app.call(Method::POST, "/token", None, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(reply["access_token"].as_str().unwrap().len() > 20);
    assert_eq!(reply["expires_in"], 60 * 24 * 3600);
    assert_eq!(reply["application"], app.core.apps.by_name("demo", "chat").await.unwrap().unwrap().uuid);

    let wrong = json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "nope"});
    let (status, reply) = app.call(Method::POST, "/token", None, Some(wrong)).await;
    assert_error(status, &reply, 400, "invalid_grant");

    let unknown = json!({"grant_type": "magic"});
    let (status, reply) = app.call(Method::POST, "/token", None, Some(unknown)).await;
    assert_error(status, &reply, 400, "unsupported_grant_type");
}

#[tokio::test]
async fn ttl_is_honoured_and_expired_tokens_are_refused() {
    let app = spawn_app().await;
    // The vendor's examples send ttl as a string.
    let body = json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "ttl": "100"});
    let (_, reply) = app.call(Method::POST, "/token", None, Some(body)).await;
    assert_eq!(reply["expires_in"], 100);
    let token = reply["access_token"].as_str().unwrap().to_owned();
    let (status, _) = app.call(Method::GET, "/users", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);

    app.clock.advance_ms(101_000);
    let (status, reply) = app.call(Method::GET, "/users", Some(&token), None).await;
    assert_error(status, &reply, 401, "unauthorized");
    assert_eq!(reply["error_description"], "Unable to authenticate due to expired access token");
}

#[tokio::test]
async fn user_token_comes_from_password_grant() {
    let app = spawn_app().await;
    app.register(&["alice"]).await;
    let body = json!({"grant_type": "password", "username": "alice", "password": PASSWORD});
    let (status, reply) = app.call(Method::POST, "/token", None, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(reply["access_token"].is_string());
    assert!(reply["expires_in"].as_i64().unwrap() > 0);
    assert_eq!(reply["user"]["username"], "alice");
    assert_eq!(reply["user"]["type"], "user");
    assert_eq!(reply["user"]["activated"], true);

    let bad = json!({"grant_type": "password", "username": "alice", "password": "wrong"});
    let (status, reply) = app.call(Method::POST, "/token", None, Some(bad)).await;
    assert_error(status, &reply, 400, "invalid_grant");
    assert_eq!(reply["error_description"], "invalid password");

    let nobody = json!({"grant_type": "password", "username": "nobody", "password": PASSWORD});
    let (status, reply) = app.call(Method::POST, "/token", None, Some(nobody)).await;
    assert_error(status, &reply, 404, "invalid_grant");
    assert_eq!(reply["error_description"], "user not found");
}

#[tokio::test]
async fn the_app_may_issue_user_tokens_by_user_id() {
    let app = spawn_app().await;
    let by_id = json!({"grant_type": "inherit", "username": "Backend_User", "ttl": 3600});

    // Only with the app token: none, or a user's, is refused.
    let (status, reply) = app.call(Method::POST, "/token", None, Some(by_id.clone())).await;
    assert_error(status, &reply, 401, "unauthorized");
    app.register(&["someone"]).await;
    let user_token = app.user_token("someone").await;
    let (status, reply) = app.call(Method::POST, "/token", Some(&user_token), Some(by_id.clone())).await;
    assert_error(status, &reply, 401, "unauthorized");

    // A missing user is 404 unless the app asks to create them.
    let (status, reply) = app.post("/token", by_id.clone()).await;
    assert_error(status, &reply, 404, "invalid_grant");
    let (status, reply) = app
        .post(
            "/token",
            json!({"grant_type": "inherit", "username": "Backend_User", "autoCreateUser": true, "ttl": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["expires_in"], 3600);
    assert_eq!(reply["user"]["username"], "backend_user");
    let token = reply["access_token"].as_str().unwrap().to_owned();
    let (status, _) = app.call(Method::GET, "/users/backend_user", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "the token speaks for the user");

    // Created without a password: password logins never succeed.
    let password_login = json!({"grant_type": "password", "username": "backend_user", "password": ""});
    let (status, _) = app.call(Method::POST, "/token", None, Some(password_login)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Existing users get tokens too; deactivated ones do not.
    let (status, reply) = app.post("/token", json!({"grant_type": "inherit", "username": "someone"})).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    app.post("/users/someone/deactivate", json!({})).await;
    let (status, reply) = app.post("/token", json!({"grant_type": "inherit", "username": "someone"})).await;
    assert_error(status, &reply, 400, "invalid_grant");
    assert_eq!(reply["error_description"], "user not activated", "as the password grant answers");
}

#[tokio::test]
async fn every_call_checks_its_token() {
    let app = spawn_app().await;
    app.register(&["alice"]).await;

    let (status, reply) = app.call(Method::GET, "/users", None, None).await;
    assert_error(status, &reply, 401, "unauthorized");

    let (status, reply) = app.call(Method::GET, "/users", Some("cf1.garbage.token"), None).await;
    assert_error(status, &reply, 401, "auth_bad_access_token");

    // A user token does not open the app's admin endpoints.
    let user_token = app.user_token("alice").await;
    let (status, reply) = app.call(Method::GET, "/users", Some(&user_token), None).await;
    assert_error(status, &reply, 401, "unauthorized");
    let (status, reply) = app
        .call(
            Method::POST,
            "/messages/users",
            Some(&user_token),
            Some(json!({"to": ["bob"], "type": "txt", "body": {"msg": "x"}})),
        )
        .await;
    assert_error(status, &reply, 401, "unauthorized");
}

#[tokio::test]
async fn one_apps_tokens_and_data_are_invisible_to_another() {
    let app = spawn_app().await;
    app.register(&["alice"]).await;
    let other = app.core.apps.create("acme", "other", Default::default()).await.unwrap();
    let other_token =
        app.core.apps.issue_app_token(&other, &other.client_id, &other.client_secret, None).unwrap().token;

    // The demo app's token is refused by the other app, and the reverse.
    let url = format!("http://{}/acme/other/users", app.addr);
    let reply = app.http.get(&url).bearer_auth(&app.app_token).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = app.call(Method::GET, "/users", Some(&other_token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // With its own token, the other app sees none of demo's users.
    let reply: serde_json::Value =
        app.http.get(&url).bearer_auth(&other_token).send().await.unwrap().json().await.unwrap();
    assert_eq!(reply["entities"], json!([]));
    let reply = app.http.get(format!("{url}/alice")).bearer_auth(&other_token).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_apps_are_404() {
    let app = spawn_app().await;
    let reply =
        app.http.get(format!("http://{}/nope/none/users", app.addr)).bearer_auth(&app.app_token).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(body["error"], "organization_application_not_found");
}
