//! The vendor's group administration beyond W-16 (`TransferGroupAction`,
//! `ModifyGroupInfoAction`, `GetGroupMemberAction`, `QuitGroupMemberAction`,
//! `SetGroupManagerAction`, the mute and allow calls, `GetUserGroupsAction`,
//! `GetUserGroupsByTypeAction`, `GetCommonGroupsAction`), over the core's
//! groups: the Easemob dialect sees every change made here.

use std::collections::BTreeMap;

use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use confab_core::error::Error;
use confab_core::model::{ChatType, Group, GroupList, Member, SettingsPatch, Username};

use super::error::{self, WildfireError};
use super::groups::{group_ref, member_type, MEMBER_ALLOWED, MEMBER_SILENT};
use super::member_notes::{forget_member_notes, member_notes, note_member};
use super::{ok, user, Admin};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TransferRequest {
    group_id: String,
    new_owner: String,
}

/// `/admin/group/transfer`: the new owner must be a member.
pub async fn transfer(Admin { core, app, body }: Admin<TransferRequest>) -> Result<Response, WildfireError> {
    let owner = user(&body.new_owner, "new_owner")?;
    core.groups.transfer_owner(app.id, group_ref(&body.group_id), owner).await?;
    Ok(ok(Value::Null))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ModifyRequest {
    group_id: String,
    #[serde(rename = "type")]
    kind: i64,
    #[serde(default)]
    value: String,
}

/// The vendor settings `modify` types 4 to 7 and 9 name, kept as numbers.
fn vendor_setting(kind: i64) -> Option<&'static str> {
    match kind {
        4 => Some("join_type"),
        5 => Some("private_chat"),
        6 => Some("searchable"),
        7 => Some("history_message"),
        9 => Some("super_group"),
        _ => None,
    }
}

fn number(value: &str) -> Result<i64, WildfireError> {
    value.trim().parse().map_err(|_| WildfireError::invalid(format!("value must be a number, not {value:?}")))
}

/// `/admin/group/modify`: one field, by the vendor's `ModifyGroupInfoType`
/// (0 name, 1 portrait, 2 extra, 3 mute, 4 join type, 5 private chat,
/// 6 searchable, 7 history, 8 member cap, 9 super group).
pub async fn modify(Admin { core, app, body }: Admin<ModifyRequest>) -> Result<Response, WildfireError> {
    let target = group_ref(&body.group_id);
    let mut patch = SettingsPatch::default();
    match body.kind {
        0 => patch.name = Some(body.value),
        1 => patch.avatar = Some(body.value),
        2 => patch.custom = Some(body.value),
        3 => {
            let muted = number(&body.value)? != 0;
            core.groups.set_mute_all(app.id, target, muted).await?;
            return Ok(ok(Value::Null));
        }
        8 => {
            let cap = u32::try_from(number(&body.value)?)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| WildfireError::invalid("the member cap must be a positive number"))?;
            patch.max_users = Some(cap);
        }
        kind => {
            let key = vendor_setting(kind).ok_or_else(|| WildfireError::invalid(format!("type {kind} is unknown")))?;
            patch.dialect = Some(BTreeMap::from([(key.to_owned(), json!(number(&body.value)?))]));
        }
    }
    core.groups.update(app.id, target, patch).await?;
    Ok(ok(Value::Null))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberRequest {
    group_id: String,
    member_id: String,
}

/// `/admin/group/member/get`: one member; not a member is 253.
pub async fn member(Admin { core, app, body }: Admin<MemberRequest>) -> Result<Response, WildfireError> {
    let wanted = user(&body.member_id, "memberId")?;
    let (_, members) = core.groups.members(app.id, group_ref(&body.group_id)).await?;
    let found = members
        .iter()
        .find(|m| m.username == wanted)
        .ok_or_else(|| WildfireError::not_exist(format!("member {wanted} of group {}", body.group_id)))?;
    let notes = member_notes(&core, app.id, &body.group_id).await?;
    let (alias, extra) = notes.get(found.username.as_str()).cloned().unwrap_or_default();
    Ok(ok(json!({
        "member_id": found.username.as_str(),
        "alias": alias,
        "type": member_type(found.role),
        "extra": extra,
        "createDt": found.joined_ms,
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct QuitRequest {
    group_id: String,
    operator: String,
}

/// `/admin/group/member/quit`: the operator leaves; the owner must hand the
/// group over first. One who is not a member has nothing to leave: a
/// success, as the vendor answers.
pub async fn quit(Admin { core, app, body }: Admin<QuitRequest>) -> Result<Response, WildfireError> {
    let leaving = user(&body.operator, "operator")?;
    let group = core.groups.get(app.id, group_ref(&body.group_id)).await?;
    if group.owner == leaving {
        return Err(WildfireError { code: error::NOT_RIGHT, detail: Some("the owner cannot quit".into()) });
    }
    let changed = core.groups.remove_members(app.id, group_ref(&body.group_id), vec![leaving.clone()]).await?;
    forget_member_notes(&core, app.id, &body.group_id, Some(&changed.changed)).await?;
    Ok(ok(Value::Null))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct MembersFlagRequest {
    group_id: String,
    members: Vec<String>,
    /// The vendor names the flag `is_manager` in all three calls.
    is_manager: bool,
}

fn users(raw: &[String]) -> Result<Vec<Username>, WildfireError> {
    if raw.is_empty() {
        return Err(WildfireError::invalid("members must not be empty"));
    }
    raw.iter().map(|m| user(m, "members")).collect()
}

/// `/admin/group/manager/set`: makes members managers, or members again.
pub async fn set_manager(Admin { core, app, body }: Admin<MembersFlagRequest>) -> Result<Response, WildfireError> {
    for member in users(&body.members)? {
        core.groups.set_admin(app.id, group_ref(&body.group_id), member, body.is_manager).await?;
    }
    Ok(ok(Value::Null))
}

/// `/admin/group/manager/mute`: mutes members for ever, or lifts it.
pub async fn mute(admin: Admin<MembersFlagRequest>) -> Result<Response, WildfireError> {
    set_list(admin, GroupList::Mute).await
}

/// `/admin/group/manager/allow`: who may speak while the group is muted.
pub async fn allow(admin: Admin<MembersFlagRequest>) -> Result<Response, WildfireError> {
    set_list(admin, GroupList::Allow).await
}

async fn set_list(
    Admin { core, app, body }: Admin<MembersFlagRequest>,
    list: GroupList,
) -> Result<Response, WildfireError> {
    let members = users(&body.members)?;
    let target = group_ref(&body.group_id);
    if body.is_manager {
        core.groups.add_to_list(app.id, target, list, members, None).await?;
    } else {
        core.groups.remove_from_list(app.id, target, list, members).await?;
    }
    Ok(ok(Value::Null))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserGroupsRequest {
    user_id: String,
    #[serde(default)]
    group_member_types: Option<Vec<i64>>,
}

/// The vendor's member types a user has in a group: its role, and silent
/// or allowed where it is on those lists.
async fn types_in(
    core: &confab_core::Core,
    app: confab_core::model::AppId,
    group: &Group,
    member: &Member,
) -> Result<Vec<i64>, WildfireError> {
    let mut types = vec![member_type(member.role)];
    let now = core.relations.now_ms();
    for (list, kind) in [(GroupList::Mute, MEMBER_SILENT), (GroupList::Allow, MEMBER_ALLOWED)] {
        let entries = core.groups.list_entries(app, group_ref(&group.id), list).await?;
        if entries.iter().any(|e| e.username == member.username && e.until_ms > now) {
            types.push(kind);
        }
    }
    Ok(types)
}

/// `/admin/group/of_user`, and `/admin/group/of_user_by_type` with
/// `groupMemberTypes` (0 member, 1 manager, 2 owner, 3 muted, 5 allowed).
pub async fn of_user(Admin { core, app, body }: Admin<UserGroupsRequest>) -> Result<Response, WildfireError> {
    let member = user(&body.user_id, "userId")?;
    let groups = core.groups.joined(app.id, ChatType::GroupChat, &member).await?;
    let Some(wanted) = body.group_member_types.filter(|t| !t.is_empty()) else {
        return Ok(ok(json!({"groupIds": groups.iter().map(|g| g.id.as_str()).collect::<Vec<_>>()})));
    };
    let mut ids = Vec::new();
    for group in &groups {
        let (_, members) = core.groups.members(app.id, group_ref(&group.id)).await?;
        let Some(me) = members.iter().find(|m| m.username == member) else { continue };
        let types = types_in(&core, app.id, group, me).await?;
        if types.iter().any(|t| wanted.contains(t)) {
            ids.push(group.id.clone());
        }
    }
    Ok(ok(json!({"groupIds": ids})))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PairRequest {
    first: String,
    second: String,
}

/// `/admin/group/common_group`: the groups both users are in.
pub async fn common(Admin { core, app, body }: Admin<PairRequest>) -> Result<Response, WildfireError> {
    let first = user(&body.first, "first")?;
    let second = user(&body.second, "second")?;
    let theirs = core.groups.joined(app.id, ChatType::GroupChat, &second).await?;
    let ids: Vec<String> = core
        .groups
        .joined(app.id, ChatType::GroupChat, &first)
        .await?
        .into_iter()
        .filter(|g| theirs.iter().any(|t| t.id == g.id))
        .map(|g| g.id)
        .collect();
    Ok(ok(json!({"groupIds": ids})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberNoteRequest {
    #[serde(rename = "group_id")]
    group_id: String,
    member_id: String,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    extra: Option<String>,
}

/// `/admin/group/member/set_alias`: the member's name in this group (empty: none).
pub async fn set_member_alias(Admin { core, app, body }: Admin<MemberNoteRequest>) -> Result<Response, WildfireError> {
    note_member(&core, app.id, &body.group_id, &body.member_id, "alias", body.alias.as_deref()).await
}

/// `/admin/group/member/set_extra`: what the app keeps about the member in this group.
pub async fn set_member_extra(Admin { core, app, body }: Admin<MemberNoteRequest>) -> Result<Response, WildfireError> {
    note_member(&core, app.id, &body.group_id, &body.member_id, "extra", body.extra.as_deref()).await
}

/// Most groups one `batch_infos` call names.
const MAX_BATCH: usize = 500;

/// `/admin/group/batch_infos`: the body is a list of group IDs; the groups
/// of those that exist, in the order asked.
pub async fn batch_infos(Admin { core, app, body }: Admin<Vec<String>>) -> Result<Response, WildfireError> {
    if body.len() > MAX_BATCH {
        return Err(WildfireError::invalid(format!("at most {MAX_BATCH} groups")));
    }
    let mut infos = Vec::with_capacity(body.len());
    for id in &body {
        match core.groups.get(app.id, group_ref(id)).await {
            Ok(group) => infos.push(super::groups::info(&group)),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ok(json!({"groupInfos": infos})))
}
