//! The vendor's user-info object as a confab profile: its `userId` is
//! confab's user ID; its other fields are kept as the user's profile
//! attributes (`displayName` is also the nickname the Easemob dialect shows).
//! Users and robots are both made from one.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use confab_core::auth;
use confab_core::error::Error;
use confab_core::model::{attributes_size, AppId, AttributeChange, ProfileChange, User, Username};
use confab_core::users::NewUser;
use confab_core::Core;

use super::error::WildfireError;
use super::user;

/// Text profile fields: the vendor's name, the attribute it is kept as (the
/// Easemob dialect's user-attribute names where one means the same), and
/// the bit of `/admin/user/update`'s `flag` that selects it.
const TEXT_FIELDS: [(&str, &str, u32); 9] = [
    ("displayName", "nickname", 0x01),
    ("portrait", "avatarurl", 0x02),
    ("mobile", "phone", 0x08),
    ("email", "mail", 0x10),
    ("address", "address", 0x20),
    ("company", "company", 0x40),
    ("social", "social", 0x80),
    ("extra", "ext", 0x100),
    ("name", "name", 0x200),
];
/// Integer profile fields (`type` cannot be changed by `update`).
const NUMBER_FIELDS: [(&str, &str, u32); 2] = [("gender", "gender", 0x04), ("type", "type", 0)];
/// Longest profile field accepted.
const MAX_FIELD_CHARS: usize = 1024;
/// Most bytes a profile may take (all fields at their longest fit).
const MAX_PROFILE_BYTES: usize = 32 * 1024;

/// The vendor's user-info object (its `InputOutputUserInfo`), as `user/create`,
/// `user/update` and `robot/create` take it. Fields are checked one by one
/// (`attributes`, `upsert`) for the vendor's error words.
#[derive(Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    /// The user's ID; made up when absent on creation.
    #[schema(value_type = Option<String>)]
    pub user_id: Option<Value>,
    /// The login name (required on creation).
    #[schema(value_type = Option<String>)]
    pub name: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub password: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub portrait: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub mobile: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub email: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub address: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub company: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub social: Option<Value>,
    #[schema(value_type = Option<String>)]
    pub extra: Option<Value>,
    #[schema(value_type = Option<i64>)]
    pub gender: Option<Value>,
    /// 0 a user, 3 a device, 100 an admin; robots are made by `robot/create`.
    #[serde(rename = "type")]
    #[schema(value_type = Option<i64>)]
    pub kind: Option<Value>,
}

impl UserInfo {
    /// The field behind each of `TEXT_FIELDS`, in their order.
    fn text_fields(&self) -> [&Option<Value>; 9] {
        [
            &self.display_name,
            &self.portrait,
            &self.mobile,
            &self.email,
            &self.address,
            &self.company,
            &self.social,
            &self.extra,
            &self.name,
        ]
    }

    /// The field behind each of `NUMBER_FIELDS`, in their order.
    fn number_fields(&self) -> [&Option<Value>; 2] {
        [&self.gender, &self.kind]
    }
}

/// The profile fields of a user-info object, as stored attributes.
pub(super) fn attributes(info: &UserInfo, flag: u32) -> Result<BTreeMap<String, String>, WildfireError> {
    let mut out = BTreeMap::new();
    for ((key, stored, bit), value) in TEXT_FIELDS.into_iter().zip(info.text_fields()) {
        match value {
            Some(Value::String(v)) if flag & bit != 0 => {
                if v.chars().count() > MAX_FIELD_CHARS {
                    return Err(WildfireError::invalid(format!("{key} must be at most {MAX_FIELD_CHARS} characters")));
                }
                out.insert(stored.to_owned(), v.clone());
            }
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(_) => return Err(WildfireError::invalid(format!("{key} must be a string"))),
        }
    }
    for ((key, stored, bit), value) in NUMBER_FIELDS.into_iter().zip(info.number_fields()) {
        match value {
            Some(Value::Number(n)) if bit == 0 || flag & bit != 0 => {
                let n = n.as_i64().ok_or_else(|| WildfireError::invalid(format!("{key} must be an integer")))?;
                out.insert(stored.to_owned(), n.to_string());
            }
            None | Some(Value::Null) | Some(Value::Number(_)) => {}
            Some(_) => return Err(WildfireError::invalid(format!("{key} must be an integer"))),
        }
    }
    Ok(out)
}

pub(super) fn info(user: &User) -> Value {
    let mut out = json!({"userId": user.username.as_str(), "updateDt": user.modified_ms});
    for (key, stored, _) in TEXT_FIELDS {
        out[key] = json!(user.attributes.get(stored).cloned().unwrap_or_default());
    }
    for (key, stored, _) in NUMBER_FIELDS {
        out[key] = json!(user.attributes.get(stored).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
    }
    out
}

/// A profile change that sets these attributes (and the nickname with `nickname`).
pub(super) fn profile_change(set: BTreeMap<String, String>, replace: bool) -> ProfileChange {
    let nickname = set.get("nickname").cloned().map(Some);
    let attributes = if replace {
        AttributeChange::Replace { set, max_bytes: MAX_PROFILE_BYTES }
    } else {
        AttributeChange::Merge { set, max_bytes: MAX_PROFILE_BYTES }
    };
    ProfileChange { nickname, attributes: Some(attributes), push: None }
}

/// A text field that is there and not empty.
pub(super) fn text(value: &Option<Value>) -> Option<&str> {
    value.as_ref().and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The vendor's user type of a robot.
pub(super) const ROBOT_TYPE: i64 = 1;

/// Creates or overwrites the user a user-info object describes; its ID and name.
pub(super) async fn upsert(core: &Core, app: AppId, body: &UserInfo) -> Result<(Username, String), WildfireError> {
    let name = text(&body.name).ok_or_else(|| WildfireError::invalid("name must be provided"))?.to_owned();
    let username = match text(&body.user_id) {
        Some(id) => user(id, "userId")?,
        // The vendor makes up an ID whenever none is given, whatever the name.
        None => Username::parse(&random_id())?,
    };
    let mut profile = attributes(body, u32::MAX)?;
    profile.entry("nickname".into()).or_insert_with(|| name.to_owned());
    if attributes_size(&profile) > MAX_PROFILE_BYTES {
        return Err(WildfireError::invalid(format!("the profile must take at most {MAX_PROFILE_BYTES} bytes")));
    }
    let password = text(&body.password).map(str::to_owned);
    let new = NewUser {
        username: username.clone(),
        password: password.clone().unwrap_or_else(|| auth::random_token(24)),
        nickname: profile.get("nickname").cloned(),
        attributes: profile.clone(),
    };
    match core.users.register(app, vec![new]).await?.pop() {
        Some(Ok(_)) => {}
        Some(Err(Error::Duplicate(_))) => {
            core.users.update_profile(app, &username, profile_change(profile, true)).await?;
            if let Some(password) = password {
                core.users.set_password(app, &username, password).await?;
            }
        }
        Some(Err(e)) => return Err(e.into()),
        None => return Err(WildfireError::new(super::error::SERVER_ERROR)),
    }
    Ok((username, name))
}

/// A short made-up user ID, as the vendor makes them.
fn random_id() -> String {
    auth::random_key(8).to_ascii_lowercase()
}
