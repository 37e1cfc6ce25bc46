//! Making a group or chat room and changing its settings (E-grp-4/5/14,
//! E-room-4/5): the two bodies, read field by field for the vendor's error
//! words, and the room's documented limits.

use super::*;

fn bool_field(value: &Option<Value>, key: &str) -> Result<Option<bool>, EasemobError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(invalid_parameter(format!("{key} must be true or false"))),
    }
}

fn text_field(value: &Option<Value>, key: &str) -> Result<Option<String>, EasemobError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid_parameter(format!("{key} must be a string"))),
    }
}

fn max_users_field(value: &Option<Value>) -> Result<Option<u32>, EasemobError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| invalid_parameter("maxusers must be a positive whole number")),
    }
}

/// The settings a group or chat room is made with or changed to. Groups are
/// named by `groupname`, rooms by `name`; a room has only `name`,
/// `description` and `maxusers`. Each is read for the vendor's error when it
/// has the wrong type.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct GroupSettingsBody {
    /// A group's name.
    #[schema(value_type = Option<String>)]
    groupname: Option<Value>,
    /// A chat room's name (required to make one).
    #[schema(value_type = Option<String>)]
    name: Option<Value>,
    #[schema(value_type = Option<String>)]
    description: Option<Value>,
    /// The most members it may have.
    #[schema(value_type = Option<u32>)]
    maxusers: Option<Value>,
    /// Joining needs an admin's approval.
    #[schema(value_type = Option<bool>)]
    membersonly: Option<Value>,
    /// Members may invite (private groups only).
    #[schema(value_type = Option<bool>)]
    allowinvites: Option<Value>,
    /// Invitees must accept.
    #[schema(value_type = Option<bool>)]
    invite_need_confirm: Option<Value>,
    /// Whether anyone may find and join it (required to make a group).
    #[schema(value_type = Option<bool>)]
    public: Option<Value>,
    /// The app's own data about the group.
    #[schema(value_type = Option<String>)]
    custom: Option<Value>,
    /// A link to the group's picture.
    #[schema(value_type = Option<String>)]
    avatar: Option<Value>,
}

/// E-grp-4 / E-room-4's body.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct NewGroup {
    /// The owner's username.
    #[schema(value_type = String)]
    owner: Option<Value>,
    /// A group's description, the older key.
    #[schema(value_type = Option<String>)]
    desc: Option<Value>,
    /// Members to add besides the owner.
    #[schema(value_type = Option<Vec<String>>)]
    members: Option<Value>,
    #[serde(flatten)]
    settings: GroupSettingsBody,
}

/// E-grp-5 / E-grp-14 / E-room-5's body: settings to change, or `newowner`
/// alone to transfer.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct GroupPatch {
    /// Transfers ownership to this member; nothing else changes.
    #[schema(value_type = Option<String>)]
    newowner: Option<Value>,
    #[serde(flatten)]
    settings: GroupSettingsBody,
    /// Any other key, which is refused with the vendor's words (declared
    /// last: it gets what the fields above did not take).
    #[serde(flatten)]
    #[schema(ignore)]
    unknown: Map<String, Value>,
}

impl GroupPatch {
    /// The settings sent, by the vendor's key.
    fn sent(&self) -> impl Iterator<Item = &'static str> + '_ {
        [
            ("groupname", &self.settings.groupname),
            ("name", &self.settings.name),
            ("description", &self.settings.description),
            ("maxusers", &self.settings.maxusers),
            ("membersonly", &self.settings.membersonly),
            ("allowinvites", &self.settings.allowinvites),
            ("invite_need_confirm", &self.settings.invite_need_confirm),
            ("public", &self.settings.public),
            ("custom", &self.settings.custom),
            ("avatar", &self.settings.avatar),
        ]
        .into_iter()
        .filter(|(_, value)| value.is_some())
        .map(|(key, _)| key)
    }
}

/// E-grp-4 / E-room-4: create.
/// A user's own token may create a group they own (the SDK's `createGroup`).
pub async fn create<K: Kind>(
    auth: AnyAuth,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, NewGroup>,
) -> Result<Response, EasemobError> {
    let owner = text_field(&body.owner, "owner")?.ok_or_else(|| invalid_parameter("owner must be provided"))?;
    let owner = username(&owner)?;
    auth.require_self_or_app(&owner)?;
    let target = &auth.0;
    let (name_key, name_field, description_keys) = match K::CHAT_TYPE {
        ChatType::ChatRoom => ("name", &body.settings.name, vec![("description", &body.settings.description)]),
        _ => (
            "groupname",
            &body.settings.groupname,
            vec![("description", &body.settings.description), ("desc", &body.desc)],
        ),
    };
    let public = match K::CHAT_TYPE {
        ChatType::ChatRoom => bool_field(&body.settings.public, "public")?.unwrap_or(true),
        _ => bool_field(&body.settings.public, "public")?
            .ok_or_else(|| invalid_parameter("group must contain public field!"))?,
    };
    let mut description = String::new();
    for (key, value) in description_keys {
        if let Some(text) = text_field(value, key)? {
            description = text;
            break;
        }
    }
    // A group's name is optional in the vendor's current documents (a chat
    // room's is not); one that is given must say something.
    let name = match (K::CHAT_TYPE, text_field(name_field, name_key)?) {
        (_, Some(name)) if !name.trim().is_empty() => name,
        (ChatType::GroupChat, None) => String::new(),
        _ => return Err(invalid_parameter(format!("{name_key} must be provided"))),
    };
    let settings = GroupSettings {
        name,
        description,
        public,
        max_users: max_users_field(&body.settings.maxusers)?.unwrap_or(K::DEFAULT_MAX_USERS),
        // A public group's members may not invite, as the vendor forces.
        allow_invites: !public && bool_field(&body.settings.allowinvites, "allowinvites")?.unwrap_or(false),
        members_only: bool_field(&body.settings.membersonly, "membersonly")?.unwrap_or(false),
        invite_need_confirm: bool_field(&body.settings.invite_need_confirm, "invite_need_confirm")?.unwrap_or(true),
        custom: text_field(&body.settings.custom, "custom")?.unwrap_or_default(),
        announcement: String::new(),
        avatar: text_field(&body.settings.avatar, "avatar")?.unwrap_or_default(),
        dialect: Default::default(),
    };
    let members = match &body.members {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().ok_or_else(|| invalid_parameter("members must be strings")).and_then(username))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid_parameter("members must be an array")),
    };
    let group = target
        .core
        .groups
        .create(target.app.id, K::CHAT_TYPE, None, owner, settings, members)
        .await
        .map_err(group_error)?;
    let data = json!({ K::ID_KEY: group.id });
    Ok(target.envelope("post", K::PATH).data(data).into_response())
}

/// E-grp-5 / E-grp-14 / E-room-5: change settings, or transfer ownership with `newowner`.
pub async fn modify<K: Kind>(
    OnGroup { target, id, .. }: OnGroup<K>,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, GroupPatch>,
) -> Result<Response, EasemobError> {
    let id = id.as_str();
    let path = format!("{}/{id}", K::PATH);
    if let Some(owner) = text_field(&body.newowner, "newowner")? {
        let owner = username(&owner)?;
        match target.core.groups.transfer_owner(target.app.id, group_ref::<K>(id), owner).await {
            Ok(_) => {}
            Err(Error::Refused(r)) if r.why == Refusal::AlreadyOwner => {
                return Err(forbidden(StatusCode::FORBIDDEN, "new owner and old owner are the same"))
            }
            Err(e) => return Err(group_error(e)),
        }
        return Ok(target.envelope("put", &path).data(json!({"newowner": true})).into_response());
    }
    let allowed: &[&str] = match K::CHAT_TYPE {
        ChatType::ChatRoom => &["name", "description", "maxusers"],
        _ => &[
            "groupname",
            "description",
            "maxusers",
            "membersonly",
            "allowinvites",
            "invite_need_confirm",
            "public",
            "custom",
            "avatar",
        ],
    };
    let unknown = body.unknown.keys().next().map(String::as_str);
    if let Some(bad) = body.sent().find(|k| !allowed.contains(k)).or(unknown) {
        return Err(invalid_parameter(format!("some of [{bad}] are not valid fields")));
    }
    let (name_key, name_field) = if K::CHAT_TYPE == ChatType::ChatRoom {
        ("name", &body.settings.name)
    } else {
        ("groupname", &body.settings.groupname)
    };
    let name = text_field(name_field, name_key)?;
    if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(invalid_parameter(format!("{name_key} can't be empty")));
    }
    let description = text_field(&body.settings.description, "description")?;
    if K::CHAT_TYPE == ChatType::ChatRoom {
        room_limits(name.as_deref(), description.as_deref(), max_users_field(&body.settings.maxusers)?)?;
    }
    let patch = SettingsPatch {
        name,
        description,
        custom: text_field(&body.settings.custom, "custom")?,
        avatar: text_field(&body.settings.avatar, "avatar")?,
        max_users: max_users_field(&body.settings.maxusers)?,
        members_only: bool_field(&body.settings.membersonly, "membersonly")?,
        allow_invites: bool_field(&body.settings.allowinvites, "allowinvites")?,
        invite_need_confirm: bool_field(&body.settings.invite_need_confirm, "invite_need_confirm")?,
        public: bool_field(&body.settings.public, "public")?,
        announcement: None,
        dialect: None,
    };
    target.core.groups.update(target.app.id, group_ref::<K>(id), patch).await.map_err(group_error)?;
    // The vendor answers each field it was sent with `true`; a room's name
    // is reported as `groupname`.
    let mut data = Map::new();
    for key in body.sent() {
        let key = if key == "name" { "groupname" } else { key };
        data.insert(key.to_owned(), json!(true));
    }
    Ok(target.envelope("put", &path).data(Value::Object(data)).into_response())
}

/// A room's documented limits, refused with the vendor's `exceed_limit` words.
fn room_limits(name: Option<&str>, description: Option<&str>, max_users: Option<u32>) -> Result<(), EasemobError> {
    let exceed = |m: String| EasemobError::from(Error::LimitExceeded(m));
    if name.is_some_and(|n| n.chars().count() > limits::NAME_CHARS) {
        return Err(exceed(format!("title cannot exceed to {}", limits::NAME_CHARS)));
    }
    if description.is_some_and(|d| d.chars().count() > limits::DESCRIPTION_CHARS) {
        return Err(exceed(format!("desc cannot exceed to {}", limits::DESCRIPTION_CHARS)));
    }
    if max_users.is_some_and(|m| m > limits::ROOM_MAX_USERS) {
        return Err(exceed(format!("maxUsers cannot exceed {}", limits::ROOM_MAX_USERS)));
    }
    Ok(())
}
