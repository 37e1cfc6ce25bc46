//! W-16, groups: create, dismiss, read, list, add and remove members. A
//! vendor group is a confab group: the Easemob dialect sees the same group.

use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use confab_core::groups::GroupRef;
use confab_core::model::{ChatType, Group, GroupSettings, Role};

use super::error::{self, WildfireError};
use super::{ok, user, Admin};

/// Group settings only the vendor knows, kept as given and shown back.
const VENDOR_SETTINGS: [&str; 6] =
    ["type", "join_type", "private_chat", "searchable", "history_message", "super_group"];

/// The vendor's `GroupMemberType`s that confab keeps.
pub(super) const MEMBER_NORMAL: i64 = 0;
pub(super) const MEMBER_MANAGER: i64 = 1;
pub(super) const MEMBER_OWNER: i64 = 2;
pub(super) const MEMBER_SILENT: i64 = 3;
pub(super) const MEMBER_ALLOWED: i64 = 5;

pub(super) fn member_type(role: Role) -> i64 {
    match role {
        Role::Member => MEMBER_NORMAL,
        Role::Admin => MEMBER_MANAGER,
        Role::Owner => MEMBER_OWNER,
    }
}

pub(super) fn group_ref(id: &str) -> GroupRef<'_> {
    GroupRef { kind: ChatType::GroupChat, id }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Member {
    member_id: String,
    /// 0 member, 1 manager (2 owner is taken from the group's owner).
    #[serde(default, rename = "type")]
    kind: i64,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewGroup {
    group_info: Map<String, Value>,
    #[serde(default)]
    members: Vec<Member>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateRequest {
    #[serde(default)]
    operator: String,
    group: NewGroup,
}

fn text(info: &Map<String, Value>, key: &str) -> Result<String, WildfireError> {
    match info.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(WildfireError::invalid(format!("group_info.{key} must be a string"))),
    }
}

/// `/admin/group/create`: a group with its owner (`group_info.owner`, else
/// the operator) and members; `target_id` chooses its ID.
pub async fn create(Admin { core, app, body }: Admin<CreateRequest>) -> Result<Response, WildfireError> {
    let info = &body.group.group_info;
    let owner = match text(info, "owner")? {
        o if !o.is_empty() => o,
        _ => body.operator.clone(),
    };
    let owner = user(&owner, "group_info.owner")?;
    let max_users = match info.get("max_member_count").and_then(Value::as_u64) {
        Some(n) if n > 0 => u32::try_from(n).map_err(|_| WildfireError::invalid("max_member_count is too large"))?,
        _ => {
            let set = super::system::value_of(&core, app.id, super::system::GROUP_MAX_MEMBER_COUNT).await?;
            set.and_then(|v| v.parse().ok()).unwrap_or(super::system::DEFAULT_MAX_MEMBERS)
        }
    };
    let dialect = VENDOR_SETTINGS
        .iter()
        .filter_map(|key| info.get(*key).filter(|v| v.is_number()).map(|v| ((*key).to_owned(), v.clone())))
        .collect();
    let name = text(info, "name")?;
    let settings = GroupSettings {
        allow_invites: true,
        custom: text(info, "extra")?,
        avatar: text(info, "portrait")?,
        dialect,
        ..GroupSettings::named(name, max_users)
    };
    let mut members = Vec::with_capacity(body.group.members.len());
    let mut managers = Vec::new();
    for m in &body.group.members {
        let member = user(&m.member_id, "members.member_id")?;
        if m.kind == 1 {
            managers.push(member.clone());
        }
        members.push(member);
    }
    let id = Some(text(info, "target_id")?).filter(|id| !id.is_empty());
    // The vendor's server takes members (and owners) it never heard of.
    let mut named = members.clone();
    named.push(owner.clone());
    core.users.ensure_exist(app.id, &named).await?;
    let group = core.groups.create(app.id, ChatType::GroupChat, id, owner, settings, members).await?;
    for manager in managers {
        core.groups.set_admin(app.id, group_ref(&group.id), manager, true).await?;
    }
    Ok(ok(json!({"group_id": group.id})))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct GroupRequest {
    group_id: String,
}

/// `/admin/group/del`: dismisses a group.
pub async fn dismiss(Admin { core, app, body }: Admin<GroupRequest>) -> Result<Response, WildfireError> {
    core.groups.delete(app.id, group_ref(&body.group_id)).await?;
    super::member_notes::forget_member_notes(&core, app.id, &body.group_id, None).await?;
    Ok(ok(Value::Null))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupIdRequest {
    group_id: String,
}

/// `/admin/group/get_info` (its body says `groupId`, unlike the other calls).
pub async fn get_info(Admin { core, app, body }: Admin<GroupIdRequest>) -> Result<Response, WildfireError> {
    let group = core.groups.get(app.id, group_ref(&body.group_id)).await?;
    Ok(ok(info(&group)))
}

pub(super) fn info(group: &Group) -> Value {
    let s = &group.settings;
    let mut out = json!({
        "target_id": group.id,
        "name": s.name,
        "portrait": s.avatar,
        "owner": group.owner.as_str(),
        "extra": s.custom,
        "mute": i64::from(group.mute_all),
        "max_member_count": s.max_users,
        "member_count": group.member_count,
        "updateDt": group.version,
    });
    for key in VENDOR_SETTINGS {
        out[key] = s.dialect.get(key).cloned().unwrap_or(json!(0));
    }
    out
}

/// `/admin/group/member/list` (also `groupId`): `{members: [{member_id, type}]}`.
pub async fn members(Admin { core, app, body }: Admin<GroupIdRequest>) -> Result<Response, WildfireError> {
    let (_, members) = core.groups.members(app.id, group_ref(&body.group_id)).await?;
    let notes = super::member_notes::member_notes(&core, app.id, &body.group_id).await?;
    let members: Vec<Value> = members
        .iter()
        .map(|m| {
            let kind = member_type(m.role);
            let mut member = json!({"member_id": m.username.as_str(), "type": kind, "createDt": m.joined_ms});
            if let Some((alias, extra)) = notes.get(m.username.as_str()) {
                member["alias"] = json!(alias);
                member["extra"] = json!(extra);
            }
            member
        })
        .collect();
    Ok(ok(json!({"members": members})))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct AddRequest {
    group_id: String,
    members: Vec<Member>,
}

/// `/admin/group/member/add`: members join now (managers with `type: 1`).
pub async fn add_members(Admin { core, app, body }: Admin<AddRequest>) -> Result<Response, WildfireError> {
    let mut users = Vec::with_capacity(body.members.len());
    for m in &body.members {
        if ![0, 1].contains(&m.kind) {
            return Err(WildfireError::invalid("members.type must be 0 or 1"));
        }
        users.push(user(&m.member_id, "members.member_id")?);
    }
    if users.is_empty() {
        return Err(WildfireError::invalid("members must not be empty"));
    }
    core.users.ensure_exist(app.id, &users).await?;
    core.groups.add_members(app.id, group_ref(&body.group_id), users).await?;
    for m in body.members.iter().filter(|m| m.kind == 1) {
        core.groups.set_admin(app.id, group_ref(&body.group_id), user(&m.member_id, "member_id")?, true).await?;
    }
    Ok(ok(Value::Null))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RemoveRequest {
    group_id: String,
    members: Vec<String>,
}

/// `/admin/group/member/del`: removes members; the owner cannot be removed.
pub async fn remove_members(Admin { core, app, body }: Admin<RemoveRequest>) -> Result<Response, WildfireError> {
    let users = body.members.iter().map(|m| user(m, "members")).collect::<Result<Vec<_>, _>>()?;
    if users.is_empty() {
        return Err(WildfireError::invalid("members must not be empty"));
    }
    let group = core.groups.get(app.id, group_ref(&body.group_id)).await?;
    if users.contains(&group.owner) {
        return Err(WildfireError { code: error::NOT_RIGHT, detail: Some("the owner cannot be removed".into()) });
    }
    let removed = core.groups.remove_members(app.id, group_ref(&body.group_id), users).await?;
    super::member_notes::forget_member_notes(&core, app.id, &body.group_id, Some(&removed.changed)).await?;
    Ok(ok(Value::Null))
}
