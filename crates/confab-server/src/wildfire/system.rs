//! The vendor's sensitive-word calls (`SensitiveWordAddAction`, `…Delete…`,
//! `…Query…`) over the core's word filter, and its system settings
//! (`GetSystemSettingAction`, `PutSystemSettingAction`).
//!
//! Sensitive words apply to what users send themselves (their clients, the
//! robot API), never to admin sends, as on the vendor's server. What a match
//! does is the app's strategy, set with `confab app sensitive-strategy`.

use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use confab_core::model::{AppId, SettingKey};
use confab_core::Core;

use super::error::WildfireError;
use super::{ok, Admin};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct WordsRequest {
    #[serde(default)]
    words: Vec<String>,
}

/// `/admin/sensitive/add`: an empty list is the vendor's invalid parameter.
pub async fn add(Admin { core, app, body }: Admin<WordsRequest>) -> Result<Response, WildfireError> {
    if body.words.is_empty() {
        return Err(WildfireError::invalid("words must not be empty"));
    }
    core.moderation.add_words(app.id, body.words).await?;
    Ok(ok(Value::Null))
}

/// `/admin/sensitive/del`.
pub async fn remove(Admin { core, app, body }: Admin<WordsRequest>) -> Result<Response, WildfireError> {
    if body.words.is_empty() {
        return Err(WildfireError::invalid("words must not be empty"));
    }
    core.moderation.remove_words(app.id, body.words).await?;
    Ok(ok(Value::Null))
}

/// `/admin/sensitive/query`: `{words}`, sorted.
pub async fn query(Admin { core, app, .. }: Admin<Value>) -> Result<Response, WildfireError> {
    let words = core.moderation.words(app.id).await?;
    Ok(ok(json!({"words": words})))
}

/// Settings namespace of system settings (owner `""`, key: the setting's ID).
const SYSTEM: &str = "wildfire.system";
/// The vendor's `SystemSettingType.Group_Max_Member_Count`: members a new
/// group may have when its creator does not say.
pub const GROUP_MAX_MEMBER_COUNT: i64 = 1;
/// Members a group may have when `max_member_count` is not given and the
/// app has no system setting 1 (the vendor's database comes with 2000).
pub const DEFAULT_MAX_MEMBERS: u32 = 2000;

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
struct Stored {
    value: String,
    desc: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SettingRequest {
    id: i64,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    desc: Option<String>,
}

async fn stored(core: &Core, app: AppId, id: i64) -> Result<Option<Stored>, WildfireError> {
    let found = core.settings.get(app, SettingKey::new(SYSTEM, "", &id.to_string())).await?;
    Ok(found.and_then(|s| serde_json::from_str(&s.value).ok()))
}

/// A system setting's value, if it was set.
pub async fn value_of(core: &Core, app: AppId, id: i64) -> Result<Option<String>, WildfireError> {
    Ok(stored(core, app, id).await?.map(|s| s.value))
}

/// `/admin/system/get_setting`: `{id, value, desc}`; 253 when never set,
/// except setting 1, which has the default cap until set (the vendor's
/// database comes with it).
pub async fn get_setting(Admin { core, app, body }: Admin<SettingRequest>) -> Result<Response, WildfireError> {
    let found = match stored(&core, app.id, body.id).await? {
        Some(found) => found,
        None if body.id == GROUP_MAX_MEMBER_COUNT => {
            Stored { value: DEFAULT_MAX_MEMBERS.to_string(), desc: String::new() }
        }
        None => return Err(WildfireError::not_exist(format!("system setting {}", body.id))),
    };
    Ok(ok(json!({"id": body.id, "value": found.value, "desc": found.desc})))
}

/// `/admin/system/put_setting`: needs a value or a description, as the
/// vendor's; setting 1 (`Group_Max_Member_Count`) must be a positive number.
pub async fn put_setting(Admin { core, app, body }: Admin<SettingRequest>) -> Result<Response, WildfireError> {
    let value = body.value.unwrap_or_default();
    let desc = body.desc.unwrap_or_default();
    if value.is_empty() && desc.is_empty() {
        return Err(WildfireError::invalid("value or desc must be given"));
    }
    if body.id == GROUP_MAX_MEMBER_COUNT && !value.is_empty() && value.parse::<u32>().map_or(true, |n| n == 0) {
        return Err(WildfireError::invalid("setting 1 (group max member count) must be a positive number"));
    }
    let encoded = serde_json::to_string(&Stored { value, desc }).map_err(|e| WildfireError::invalid(e.to_string()))?;
    core.settings.put(app.id, vec![(SettingKey::new(SYSTEM, "", &body.id.to_string()), encoded)]).await?;
    Ok(ok(Value::Null))
}
