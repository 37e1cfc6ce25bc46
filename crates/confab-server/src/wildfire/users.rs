//! W-16, users: create (or overwrite), update, read, token, destroy.
//!
//! The vendor's `userId` is confab's user ID; its other fields are kept as
//! the user's profile attributes (`displayName` is also the nickname the
//! Easemob dialect shows).

use std::collections::BTreeMap;

use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use confab_core::auth;
use confab_core::error::Error;
use confab_core::model::{User, Username};
use confab_core::users::NewUser;

use super::error::WildfireError;
use super::{ok, Admin};

/// Text profile fields and the bits of `/admin/user/update`'s `flag` that select them.
const TEXT_FIELDS: [(&str, u32); 9] = [
    ("displayName", 0x01),
    ("portrait", 0x02),
    ("mobile", 0x08),
    ("email", 0x10),
    ("address", 0x20),
    ("company", 0x40),
    ("social", 0x80),
    ("extra", 0x100),
    ("name", 0x200),
];
/// Integer profile fields.
const NUMBER_FIELDS: [(&str, u32); 2] = [("gender", 0x04), ("type", 0)];
/// Longest profile field accepted.
const MAX_FIELD_CHARS: usize = 1024;

/// The profile fields of a user-info object, as stored attributes.
fn attributes(info: &Map<String, Value>, flag: u32) -> Result<BTreeMap<String, String>, WildfireError> {
    let mut out = BTreeMap::new();
    for (key, bit) in TEXT_FIELDS {
        match info.get(key) {
            Some(Value::String(v)) if flag & bit != 0 => {
                if v.chars().count() > MAX_FIELD_CHARS {
                    return Err(WildfireError::invalid(format!("{key} must be at most {MAX_FIELD_CHARS} characters")));
                }
                out.insert(key.to_owned(), v.clone());
            }
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(_) => return Err(WildfireError::invalid(format!("{key} must be a string"))),
        }
    }
    for (key, bit) in NUMBER_FIELDS {
        match info.get(key) {
            Some(Value::Number(n)) if bit == 0 || flag & bit != 0 => {
                let n = n.as_i64().ok_or_else(|| WildfireError::invalid(format!("{key} must be an integer")))?;
                out.insert(key.to_owned(), n.to_string());
            }
            None | Some(Value::Null) | Some(Value::Number(_)) => {}
            Some(_) => return Err(WildfireError::invalid(format!("{key} must be an integer"))),
        }
    }
    Ok(out)
}

fn info(user: &User) -> Value {
    let mut out = json!({"userId": user.username.as_str(), "updateDt": user.modified_ms});
    for (key, _) in TEXT_FIELDS {
        out[key] = json!(user.attributes.get(key).cloned().unwrap_or_default());
    }
    for (key, _) in NUMBER_FIELDS {
        out[key] = json!(user.attributes.get(key).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
    }
    out
}

fn text<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// `/admin/user/create`: creates a user, or overwrites one that exists (as
/// the vendor does). Without `userId`, the `name` is the ID when it is a
/// valid one, otherwise an ID is made up.
pub async fn create(Admin { core, app, body }: Admin<Map<String, Value>>) -> Result<Response, WildfireError> {
    let name = text(&body, "name").ok_or_else(|| WildfireError::invalid("name must be provided"))?;
    if let Some(kind) = body.get("type").and_then(Value::as_i64) {
        if ![0, 3, 100].contains(&kind) {
            return Err(WildfireError::invalid("type must be 0, 3 or 100 (robots have their own call)"));
        }
    }
    let username = match text(&body, "userId") {
        Some(id) => Username::parse(id).map_err(|e| WildfireError::invalid(e.to_string()))?,
        None => Username::parse(name).or_else(|_| Username::parse(&random_id()))?,
    };
    let mut profile = attributes(&body, u32::MAX)?;
    profile.entry("displayName".into()).or_insert_with(|| name.to_owned());
    let password = text(&body, "password").map(str::to_owned);
    let new = NewUser {
        username: username.as_str().to_owned(),
        password: password.clone().unwrap_or_else(|| auth::random_token(24)),
        nickname: profile.get("displayName").cloned(),
        attributes: profile.clone(),
    };
    match core.users.register(app.id, vec![new]).await?.pop() {
        Some(Ok(_)) => {}
        Some(Err(Error::Duplicate(_))) => {
            core.users.set_profile(app.id, &username, profile).await?;
            if let Some(password) = password {
                core.users.set_password(app.id, &username, password).await?;
            }
        }
        Some(Err(e)) => return Err(e.into()),
        None => return Err(WildfireError::new(super::error::SERVER_ERROR)),
    }
    Ok(ok(json!({"userId": username.as_str(), "name": name})))
}

/// A short made-up user ID, as the vendor makes them.
fn random_id() -> String {
    auth::random_token(8).to_ascii_lowercase().chars().filter(char::is_ascii_alphanumeric).collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRequest {
    flag: u32,
    user_info: Map<String, Value>,
}

/// `/admin/user/update`: changes the fields `flag` selects.
pub async fn update(Admin { core, app, body }: Admin<UpdateRequest>) -> Result<Response, WildfireError> {
    let id =
        text(&body.user_info, "userId").ok_or_else(|| WildfireError::invalid("userInfo.userId must be provided"))?;
    let username = Username::parse(id).map_err(|e| WildfireError::invalid(e.to_string()))?;
    let user = core.users.get(app.id, &username).await?;
    let mut profile = user.attributes.clone();
    profile.extend(attributes(&body.user_info, body.flag)?);
    core.users.set_profile(app.id, &username, profile).await?;
    Ok(ok(Value::Null))
}

/// `/admin/user/get_info`: by `userId`, or by `name` for users whose name is their ID.
pub async fn get_info(Admin { core, app, body }: Admin<Map<String, Value>>) -> Result<Response, WildfireError> {
    let (id, by_name) = match (text(&body, "userId"), text(&body, "name")) {
        (Some(id), _) => (id, false),
        (None, Some(name)) => (name, true),
        (None, None) => return Err(WildfireError::invalid("userId or name must be provided")),
    };
    let username = Username::parse(id).map_err(|_| WildfireError::not_exist(format!("user {id}")))?;
    let user = core.users.get(app.id, &username).await?;
    if by_name && user.attributes.get("name").map(String::as_str) != Some(id) {
        return Err(WildfireError::not_exist(format!("user named {id}")));
    }
    Ok(ok(info(&user)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRequest {
    user_id: String,
    #[serde(default)]
    client_id: String,
}

/// `/admin/user/get_token`: a user token for confab's gateway (`/ws`); the
/// vendor's `clientId` becomes the device name.
pub async fn get_token(Admin { core, app, body }: Admin<TokenRequest>) -> Result<Response, WildfireError> {
    let username = Username::parse(&body.user_id).map_err(|e| WildfireError::invalid(e.to_string()))?;
    let (token, _) = core.users.issue_token_by_id(&app, &username, false, None, &core.apps).await?;
    let mut result = json!({"userId": username.as_str(), "token": token.token});
    if !body.client_id.is_empty() {
        result["clientId"] = json!(body.client_id);
    }
    Ok(ok(result))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestroyRequest {
    user_id: String,
}

/// `/admin/user/destroy`: deletes the user; their sessions are closed.
pub async fn destroy(Admin { core, app, body }: Admin<DestroyRequest>) -> Result<Response, WildfireError> {
    let username = Username::parse(&body.user_id).map_err(|e| WildfireError::invalid(e.to_string()))?;
    core.users.delete(app.id, &username).await?;
    Ok(ok(Value::Null))
}
