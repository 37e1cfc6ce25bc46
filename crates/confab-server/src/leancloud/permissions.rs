//! Who may do what in a conversation or chat room (L-sil, L-role,
//! L-black): silences, roles and blacklists, generic over a [`Kind`], and
//! the `limit`/`next` paging of the vendor's lists.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query};
use axum::response::Response;
use serde_json::{json, Value};

use confab_core::error::Error;
use confab_core::groups::ListRules;
use confab_core::model::{GroupList, Role, SettingsPatch, Username};
use confab_core::Core;

use super::conversations::{find, group_ref, touch, updated_ms, Kind, PRIVATE};
use super::error::{self, LcError};
use super::requests::{ClientIds, MemberRole, RoleChange, Silence};
use super::{client, clients, iso, ok, required, Master};

/// Most permanently silenced members of a conversation or room.
const MAX_SILENCED: usize = 500;
/// Longest temporary silence, in seconds.
const MAX_SILENCE_SECS: i64 = 24 * 3600;

fn list_error(e: Error, full_code: i64) -> LcError {
    match e {
        Error::LimitExceeded(m) => LcError::new(axum::http::StatusCode::BAD_REQUEST, full_code, m),
        other => other.into(),
    }
}

/// L-sil-1: silences a member for `ttl` seconds (at most 24 hours).
pub async fn silence<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body<Silence>,
) -> Result<Response, LcError> {
    let user = client(required(&body.client_id, "client_id")?, "client_id")?;
    let ttl = body.ttl.as_ref().and_then(Value::as_i64).ok_or_else(|| LcError::invalid("ttl (seconds) is required"))?;
    if !(1..=MAX_SILENCE_SECS).contains(&ttl) {
        return Err(LcError::invalid(format!("ttl must be 1 to {MAX_SILENCE_SECS} seconds")));
    }
    find::<K>(&target.core, target.app.id, &id).await?;
    let app = target.app.id;
    let until = target.core.now_ms().saturating_add(ttl * 1000);
    // A permanent silence outlasts the temporary one: the mute list keeps it.
    if !permanently_silenced::<K>(&target.core, app, &id, &user).await? {
        let rules = ListRules { members_only: false, cap: MAX_SILENCED, batch: 1 };
        let mute = vec![user.clone()];
        target
            .core
            .groups
            .add_to_list_with(app, group_ref::<K>(&id), GroupList::Mute, mute, Some(ttl * 1000), rules)
            .await
            .map_err(|e| list_error(e, error::SILENCED_LIST_FULL))?;
    }
    set_temporary_silence::<K>(&target.core, app, &id, &user, json!(until)).await?;
    Ok(ok(json!({})))
}

/// The vendor keeps temporary and permanent silences apart, and confab's
/// mute list holds one entry per member (the longer one); when the member's
/// temporary silence ends is kept beside it, under a private dialect key
/// (one per member, so concurrent changes do not overwrite each other).
fn temporary_silence_key(user: &Username) -> String {
    format!("{PRIVATE}silenced{PRIVATE}{user}")
}

async fn set_temporary_silence<K: Kind>(
    core: &Core,
    app: confab_core::model::AppId,
    id: &str,
    user: &Username,
    until: Value,
) -> Result<(), LcError> {
    let dialect = BTreeMap::from([(temporary_silence_key(user), until)]);
    let patch = SettingsPatch { dialect: Some(dialect), ..SettingsPatch::default() };
    // A timer beside the silence, which was announced itself.
    core.groups.update_unannounced(app, group_ref::<K>(id), patch).await?;
    Ok(())
}

async fn permanently_silenced<K: Kind>(
    core: &Core,
    app: confab_core::model::AppId,
    id: &str,
    user: &Username,
) -> Result<bool, LcError> {
    let entries = core.groups.list_entries(app, group_ref::<K>(id), GroupList::Mute).await?;
    Ok(entries.iter().any(|e| e.username == *user && e.until_ms == i64::MAX))
}

/// Ends a temporary silence; a permanent one stays.
pub async fn unsilence<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    let user = client(params.get("client_id").map(String::as_str).unwrap_or_default(), "client_id")?;
    find::<K>(&target.core, target.app.id, &id).await?;
    let app = target.app.id;
    set_temporary_silence::<K>(&target.core, app, &id, &user, Value::Null).await?;
    if !permanently_silenced::<K>(&target.core, app, &id, &user).await? {
        target.core.groups.remove_from_list(app, group_ref::<K>(&id), GroupList::Mute, vec![user]).await?;
    }
    Ok(ok(json!({})))
}

/// L-sil-2: silences members until they are let speak again (at most 500).
pub async fn silence_for_ever<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body<ClientIds>,
) -> Result<Response, LcError> {
    add_to_list::<K>(&target, &id, &body, GroupList::Mute, MAX_SILENCED, error::SILENCED_LIST_FULL).await
}

/// Puts the body's `client_ids` on one of the conversation's lists, which
/// holds at most `cap` (LeanCloud answers `full_code` past it).
async fn add_to_list<K: Kind>(
    target: &Master,
    id: &str,
    body: &ClientIds,
    list: GroupList,
    cap: usize,
    full_code: i64,
) -> Result<Response, LcError> {
    let users = clients(&body.client_ids, "client_ids", cap)?;
    find::<K>(&target.core, target.app.id, id).await?;
    let rules = ListRules { members_only: false, cap, batch: cap };
    target
        .core
        .groups
        .add_to_list_with(target.app.id, group_ref::<K>(id), list, users, None, rules)
        .await
        .map_err(|e| list_error(e, full_code))?;
    Ok(ok(json!({})))
}

pub async fn unsilence_for_ever<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body<ClientIds>,
) -> Result<Response, LcError> {
    let users = clients(&body.client_ids, "client_ids", MAX_SILENCED)?;
    let group = find::<K>(&target.core, target.app.id, &id).await?;
    let (app, now) = (target.app.id, target.core.now_ms());
    let mut lift = Vec::with_capacity(users.len());
    for user in users {
        let temporary = group.settings.dialect.get(&temporary_silence_key(&user)).and_then(Value::as_i64);
        match temporary.filter(|until| *until > now) {
            // Still silenced for a while: back to the temporary silence.
            Some(until) => {
                let rules = ListRules { members_only: false, cap: MAX_SILENCED, batch: 1 };
                target
                    .core
                    .groups
                    .add_to_list_with(app, group_ref::<K>(&id), GroupList::Mute, vec![user], Some(until - now), rules)
                    .await
                    .map_err(|e| list_error(e, error::SILENCED_LIST_FULL))?;
            }
            None => lift.push(user),
        }
    }
    for chunk in lift.chunks(50) {
        target.core.groups.remove_from_list(app, group_ref::<K>(&id), GroupList::Mute, chunk.to_vec()).await?;
    }
    Ok(ok(json!({})))
}

/// A page of a list by `limit` (default 10) and `next`: the last entry of
/// the previous page (the vendor's `next` is opaque). Entries are in
/// byte order, so a page continues after where `next` is or would be, even
/// when that entry was removed meanwhile.
pub fn list_page(mut names: Vec<String>, params: &HashMap<String, String>, key: &str) -> Result<Response, LcError> {
    let limit = match params.get("limit") {
        None => 10,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| LcError::invalid("limit must be 1 to 1000"))?,
    };
    names.sort_unstable();
    names.dedup();
    let start = match params.get("next").filter(|n| !n.is_empty()) {
        None => 0,
        Some(after) => names.partition_point(|name| name.as_str() <= after.as_str()),
    };
    let end = (start + limit).min(names.len());
    let page = names.get(start..end).unwrap_or_default();
    let mut answer = json!({ key: page });
    if let (true, Some(last)) = (end < names.len(), page.last()) {
        answer["next"] = json!(last);
    }
    Ok(ok(answer))
}

pub async fn silenced<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    find::<K>(&target.core, target.app.id, &id).await?;
    let entries = target.core.groups.list_entries(target.app.id, group_ref::<K>(&id), GroupList::Mute).await?;
    let names = entries.into_iter().filter(|e| e.until_ms == i64::MAX).map(|e| e.username.to_string()).collect();
    list_page(names, &params, "client_ids")
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Owner => "Owner",
        Role::Admin => "Manager",
        Role::Member => "Member",
    }
}

async fn apply_role<K: Kind>(target: &Master, id: &str, user: Username, role: &str) -> Result<Response, LcError> {
    let group = find::<K>(&target.core, target.app.id, id).await?;
    let app = target.app.id;
    let reference = group_ref::<K>(id);
    match role {
        "Owner" => {
            target.core.groups.transfer_owner(app, reference, user.clone()).await?;
            // The Owner is the creator: a `c` the app set before gives way.
            let patch = SettingsPatch {
                dialect: Some(BTreeMap::from([("c".to_owned(), Value::Null)])),
                ..SettingsPatch::default()
            };
            // Part of the owner's change, announced as that.
            target.core.groups.update_unannounced(app, reference, patch).await?;
        }
        "Manager" => {
            target.core.groups.set_admin(app, reference, user.clone(), true).await?;
        }
        "Member" if user == group.owner => {
            return Err(LcError::new(
                axum::http::StatusCode::BAD_REQUEST,
                4324,
                "a conversation needs its owner; make another member Owner first",
            ));
        }
        "Member" => {
            let (_, members) = target.core.groups.members(app, reference).await?;
            let role = members.iter().find(|m| m.username == user).map(|m| m.role);
            match role {
                Some(Role::Admin) => {
                    target.core.groups.set_admin(app, reference, user.clone(), false).await?;
                }
                Some(_) => {}
                None => {
                    return Err(LcError::new(axum::http::StatusCode::NOT_FOUND, 101, format!("{user} is not a member")))
                }
            }
        }
        other => {
            return Err(LcError::new(
                axum::http::StatusCode::BAD_REQUEST,
                error::UNKNOWN_CONVERSATION_ROLE,
                format!("unknown role {other}: Owner, Manager or Member"),
            ));
        }
    }
    let group = touch::<K>(&target.core, app, id).await?;
    Ok(ok(json!({"updatedAt": iso(updated_ms(&group)), "objectId": user.as_str()})))
}

/// L-role-1: gives a member a role (Owner, Manager or Member); the roles
/// hold: the owner cannot be removed, managers speak when all are silenced.
pub async fn set_role<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body<MemberRole>,
) -> Result<Response, LcError> {
    let user = client(required(&body.client_id, "clientId")?, "clientId")?;
    let role = required(&body.role, "role")?.to_owned();
    apply_role::<K>(&target, &id, user, &role).await
}

pub async fn update_role<K: Kind>(
    target: Master,
    Path((id, info)): Path<(String, String)>,
    super::Body(body): super::Body<RoleChange>,
) -> Result<Response, LcError> {
    let user = client(&info, "info-id")?;
    match &body.role {
        None | Some(Value::Null) => {
            // `role` is optional here: without it nothing changes.
            let group = find::<K>(&target.core, target.app.id, &id).await?;
            Ok(ok(json!({"updatedAt": iso(updated_ms(&group)), "objectId": user.as_str()})))
        }
        Some(Value::String(role)) => apply_role::<K>(&target, &id, user, role).await,
        Some(_) => Err(LcError::invalid("role must be Owner, Manager or Member")),
    }
}

pub async fn clear_role<K: Kind>(
    target: Master,
    Path((id, info)): Path<(String, String)>,
) -> Result<Response, LcError> {
    let user = client(&info, "info-id")?;
    apply_role::<K>(&target, &id, user, "Member").await?;
    Ok(ok(json!({})))
}

pub async fn member_infos<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    find::<K>(&target.core, target.app.id, &id).await?;
    let (_, members) = target.core.groups.members(target.app.id, group_ref::<K>(&id)).await?;
    let wanted = params.get("role").map(String::as_str);
    let skip = params.get("skip").and_then(|s| s.parse().ok()).unwrap_or(0);
    let limit = params.get("limit").and_then(|s| s.parse().ok()).filter(|n| (1..=1000).contains(n)).unwrap_or(100);
    // Every member has a role, Member included; the app itself (owner of
    // what the master key made without a creator) is not a member to show.
    let results: Vec<Value> = members
        .iter()
        .filter(|m| m.username != Username::admin())
        .filter(|m| wanted.is_none_or(|w| w == role_name(m.role)))
        .skip(skip)
        .take(limit)
        .map(|m| json!({"clientId": m.username.as_str(), "objectId": m.username.as_str(), "role": role_name(m.role)}))
        .collect();
    Ok(ok(json!({"results": results})))
}

/// L-black-1: blacklisted clients leave and may not come back (at most 500;
/// 10,000 for rooms and service conversations).
pub async fn add_blacklist<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body<ClientIds>,
) -> Result<Response, LcError> {
    add_to_list::<K>(&target, &id, &body, GroupList::Block, K::BLACKLIST_CAP, error::BLACKLIST_FULL).await
}

pub async fn remove_blacklist<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body<ClientIds>,
) -> Result<Response, LcError> {
    let users = clients(&body.client_ids, "client_ids", K::BLACKLIST_CAP)?;
    find::<K>(&target.core, target.app.id, &id).await?;
    for chunk in users.chunks(50) {
        target
            .core
            .groups
            .remove_from_list(target.app.id, group_ref::<K>(&id), GroupList::Block, chunk.to_vec())
            .await?;
    }
    Ok(ok(json!({})))
}

pub async fn blacklist<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    find::<K>(&target.core, target.app.id, &id).await?;
    let entries = target.core.groups.list_entries(target.app.id, group_ref::<K>(&id), GroupList::Block).await?;
    list_page(entries.into_iter().map(|e| e.username.to_string()).collect(), &params, "client_ids")
}
