//! W-16, users: create (or overwrite), update, read, token, destroy. How a
//! vendor user-info object maps onto a confab profile is in `profile.rs`.

use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use confab_core::error::Error;
use confab_core::model::Username;

use super::error::WildfireError;
use super::profile::{attributes, info, profile_change, text, upsert, UserInfo};
use super::{ok, user, Admin};

/// `/admin/user/create`: creates a user, or overwrites one that exists (as
/// the vendor does). Without `userId`, an ID is made up, as the vendor's
/// `CreateUserAction` does.
pub async fn create(Admin { core, app, body }: Admin<UserInfo>) -> Result<Response, WildfireError> {
    if let Some(kind) = body.kind.as_ref().and_then(Value::as_i64) {
        if ![0, 3, 100].contains(&kind) {
            return Err(WildfireError::invalid("type must be 0, 3 or 100 (robots have their own call)"));
        }
    }
    let (username, name) = upsert(&core, app.id, &body).await?;
    Ok(ok(json!({"userId": username.as_str(), "name": name})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRequest {
    /// Which fields change (the vendor's bits: 0x01 displayName, 0x02 portrait, 0x04 gender, 0x08 mobile,
    /// 0x10 email, 0x20 address, 0x40 company, 0x80 social, 0x100 extra, 0x200 name).
    flag: u32,
    user_info: UserInfo,
}

/// `/admin/user/update`: changes the fields `flag` selects.
pub async fn update(Admin { core, app, body }: Admin<UpdateRequest>) -> Result<Response, WildfireError> {
    let id = text(&body.user_info.user_id).ok_or_else(|| WildfireError::invalid("userInfo.userId must be provided"))?;
    let username = user(id, "userInfo.userId")?;
    let change = profile_change(attributes(&body.user_info, body.flag)?, false);
    core.users.update_profile(app.id, &username, change).await?;
    Ok(ok(Value::Null))
}

/// `/admin/user/get_info`'s body: one of the three.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserLookup {
    #[schema(value_type = Option<String>)]
    user_id: Option<Value>,
    #[schema(value_type = Option<String>)]
    name: Option<Value>,
    #[schema(value_type = Option<String>)]
    mobile: Option<Value>,
}

/// `/admin/user/get_info`: by `userId`, else by `name`, else by `mobile`, as
/// the vendor's `GetUserAction` looks them up (the oldest user with that name
/// or mobile number when several have it).
pub async fn get_info(Admin { core, app, body }: Admin<UserLookup>) -> Result<Response, WildfireError> {
    if let Some(id) = text(&body.user_id) {
        let username = Username::parse(id).map_err(|_| WildfireError::not_exist(format!("user {id}")))?;
        let user = core.users.get(app.id, &username).await?;
        return Ok(ok(info(&user)));
    }
    let (field, stored, value) = match (text(&body.name), text(&body.mobile)) {
        (Some(name), _) => ("name", "name", name),
        (None, Some(mobile)) => ("mobile", "phone", mobile),
        (None, None) => return Err(WildfireError::invalid("userId, name or mobile must be provided")),
    };
    let found = core.users.with_attribute(app.id, stored, value, 1).await?;
    let user = found.first().ok_or_else(|| WildfireError::not_exist(format!("user with {field} {value}")))?;
    Ok(ok(info(user)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenRequest {
    user_id: String,
    #[serde(default)]
    client_id: String,
}

/// `/admin/user/get_token`: a user token for confab's gateway (`/ws`); the
/// vendor's `clientId` becomes the device name.
pub async fn get_token(Admin { core, app, body }: Admin<TokenRequest>) -> Result<Response, WildfireError> {
    let username = user(&body.user_id, "userId")?;
    let (token, _) = core.users.issue_token_by_id(&app, &username, false, None, &core.apps).await?;
    let mut result = json!({"userId": username.as_str(), "token": token.token});
    if !body.client_id.is_empty() {
        result["clientId"] = json!(body.client_id);
    }
    Ok(ok(result))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DestroyRequest {
    user_id: String,
}

/// `/admin/user/destroy`: deletes the user; their sessions are closed. A
/// user that does not exist is no failure, as on the vendor's server.
pub async fn destroy(Admin { core, app, body }: Admin<DestroyRequest>) -> Result<Response, WildfireError> {
    let username = user(&body.user_id, "userId")?;
    match core.users.delete(app.id, &username).await {
        Ok(_) | Err(Error::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    super::robots::forget(&core, app.id, &username).await?;
    Ok(ok(Value::Null))
}
