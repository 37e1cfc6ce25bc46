//! Block and allow lists, and mutes (E-grp-15..18, E-room-11..13).

use super::*;

/// How each list is named on the wire.
struct ListNames {
    list: GroupList,
    segment: &'static str,
    add: &'static str,
    remove: &'static str,
}

const BLOCK: ListNames =
    ListNames { list: GroupList::Block, segment: "blocks/users", add: "add_blocks", remove: "remove_blocks" };
const ALLOW: ListNames = ListNames {
    list: GroupList::Allow,
    segment: "white/users",
    add: "add_user_whitelist",
    remove: "remove_user_whitelist",
};

fn names(list: &str) -> Result<&'static ListNames, EasemobError> {
    match list {
        "blocks" => Ok(&BLOCK),
        "white" => Ok(&ALLOW),
        _ => Err(EasemobError::not_found()),
    }
}

/// Refuses a list change that changed nothing, the way the vendor words it.
fn list_refusal<K: Kind>(changed: &GroupChanged) -> Option<EasemobError> {
    if !changed.changed.is_empty() {
        return None;
    }
    if changed.refused.iter().any(|(u, _)| u == &changed.group.owner) {
        return Some(forbidden(StatusCode::FORBIDDEN, "forbidden operation on group owner!"));
    }
    let users: Vec<&str> = changed.refused.iter().map(|(u, _)| u.as_str()).collect();
    Some(forbidden(K::NON_MEMBER_STATUS, format!("users [{}] are not members of this group!", users.join(","))))
}

/// E-grp-15/16, E-room-11/12: the block (`blocks`) or allow (`white`) list.
pub async fn list_users<K: Kind>(OnGroup { target, id, params, .. }: OnGroup<K>) -> Result<Response, EasemobError> {
    let id = id.as_str();
    let names = names(param(&params, "list"))?;
    let entries = target.core.groups.list_entries(target.app.id, group_ref::<K>(id), names.list).await;
    let users: Vec<String> = entries.map_err(group_error)?.into_iter().map(|e| e.username.to_string()).collect();
    Ok(target
        .envelope("get", &format!("{}/{id}/{}", K::PATH, names.segment))
        .with("count", json!(users.len()))
        .data(json!(users))
        .into_response())
}

/// Adds users named in the path (one, or several with commas) to a list.
pub async fn list_add_path<K: Kind>(OnGroup { target, id, params, .. }: OnGroup<K>) -> Result<Response, EasemobError> {
    let raw = param(&params, "username");
    let users = path_users(raw)?;
    // The answer names the user of the path, whether or not the list changed.
    let named = users.first().cloned();
    let (changed, names) = list_add::<K>(&target, &params, users).await?;
    let id = id.as_str();
    let path = format!("{}/{id}/{}/{raw}", K::PATH, names.segment);
    if raw.contains(',') {
        let data = Value::Array(results(&changed, K::LIST_ID_KEY, id, names.add));
        return Ok(target.envelope("post", &path).data(data).into_response());
    }
    if let Some(e) = list_refusal::<K>(&changed) {
        return Err(e);
    }
    let user = changed.changed.first().or(named.as_ref()).map(Username::as_str);
    let data = json!({"result": true, "action": names.add, "user": user, K::LIST_ID_KEY: id});
    Ok(target.envelope("post", &path).data(data).into_response())
}

/// Adds the body's `usernames` (≤ 60) to a list.
pub async fn list_add_body<K: Kind>(
    OnGroup { target, id, params, .. }: OnGroup<K>,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, UsersBody>,
) -> Result<Response, EasemobError> {
    let (changed, names) = list_add::<K>(&target, &params, body_users(&body.usernames)?).await?;
    let id = id.as_str();
    let data = Value::Array(results(&changed, K::LIST_ID_KEY, id, names.add));
    Ok(target.envelope("post", &format!("{}/{id}/{}", K::PATH, names.segment)).data(data).into_response())
}

async fn list_add<K: Kind>(
    target: &crate::easemob::Target,
    params: &HashMap<String, String>,
    users: Vec<Username>,
) -> Result<(GroupChanged, &'static ListNames), EasemobError> {
    let names = names(param(params, "list"))?;
    check_count("usernames", users.len(), limits::LIST_BATCH)?;
    let id = param(params, "id");
    let changed = target
        .core
        .groups
        .add_to_list(target.app.id, group_ref::<K>(id), names.list, users, None)
        .await
        .map_err(group_error)?;
    Ok((changed, names))
}

/// Removes users named in the path from a list.
pub async fn list_remove<K: Kind>(OnGroup { target, id, params, .. }: OnGroup<K>) -> Result<Response, EasemobError> {
    let id = id.as_str();
    let names = names(param(&params, "list"))?;
    let raw = param(&params, "username");
    let users = path_users(raw)?;
    check_count("usernames", users.len(), limits::LIST_BATCH)?;
    let named = users.first().cloned();
    let changed = target
        .core
        .groups
        .remove_from_list(target.app.id, group_ref::<K>(id), names.list, users)
        .await
        .map_err(group_error)?;
    let path = format!("{}/{id}/{}/{raw}", K::PATH, names.segment);
    if names.list == GroupList::Block && !raw.contains(',') && changed.refused.is_empty() {
        let user = changed.changed.first().or(named.as_ref()).map(Username::as_str);
        let data = json!({"result": true, "action": names.remove, "user": user, K::LIST_ID_KEY: id});
        return Ok(target.envelope("delete", &path).data(data).into_response());
    }
    let data = Value::Array(results(&changed, K::LIST_ID_KEY, id, names.remove));
    Ok(target.envelope("delete", &path).data(data).into_response())
}

/// E-grp-17 / E-room-13: muted members and when their mute ends.
pub async fn mutes<K: Kind>(OnGroup { target, id, .. }: OnGroup<K>) -> Result<Response, EasemobError> {
    let id = id.as_str();
    let entries = target.core.groups.list_entries(target.app.id, group_ref::<K>(id), GroupList::Mute).await;
    let data: Vec<Value> = entries
        .map_err(group_error)?
        .iter()
        .map(|e| json!({"user": e.username.as_str(), "expire": expire(e.until_ms)}))
        .collect();
    Ok(target.envelope("get", &format!("{}/{id}/mute", K::PATH)).data(Value::Array(data)).into_response())
}

/// A mute's end as the vendor shows it: -1 for permanent.
fn expire(until_ms: i64) -> i64 {
    if until_ms == i64::MAX {
        -1
    } else {
        until_ms
    }
}

/// E-grp-17 / E-room-13's body.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct MuteRequest {
    /// The members to mute.
    #[schema(value_type = Vec<String>)]
    usernames: Option<Value>,
    /// Milliseconds; -1 until lifted, 0 lifts it.
    #[schema(value_type = i64)]
    mute_duration: Option<Value>,
}

/// E-grp-17 / E-room-13: mute members for `mute_duration` ms (-1: until lifted; 0: lift).
pub async fn mute<K: Kind>(
    OnGroup { target, id, .. }: OnGroup<K>,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, MuteRequest>,
) -> Result<Response, EasemobError> {
    let id = id.as_str();
    let users = body_users(&body.usernames)?;
    check_count("userNames size", users.len(), limits::LIST_BATCH)?;
    let duration = body
        .mute_duration
        .as_ref()
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid_parameter("mute_duration must be provided as milliseconds"))?;
    let groups = &target.core.groups;
    let path = format!("{}/{id}/mute", K::PATH);
    let changed = match duration {
        0 => groups.remove_from_list(target.app.id, group_ref::<K>(id), GroupList::Mute, users).await,
        -1 => groups.add_to_list(target.app.id, group_ref::<K>(id), GroupList::Mute, users, None).await,
        d if d > 0 => groups.add_to_list(target.app.id, group_ref::<K>(id), GroupList::Mute, users, Some(d)).await,
        _ => return Err(invalid_parameter("mute_duration must be -1, 0 or a positive number of milliseconds")),
    }
    .map_err(group_error)?;
    if let Some(e) = list_refusal::<K>(&changed) {
        return Err(e);
    }
    let entries = groups.list_entries(target.app.id, group_ref::<K>(id), GroupList::Mute).await.map_err(group_error)?;
    let data: Vec<Value> = changed
        .changed
        .iter()
        .map(|u| {
            let until = entries.iter().find(|e| &e.username == u).map_or(0, |e| expire(e.until_ms));
            json!({"result": true, "expire": until, "user": u.as_str()})
        })
        .collect();
    Ok(target.envelope("post", &path).data(Value::Array(data)).into_response())
}

/// E-grp-17 / E-room-13: lift the mute of members named in the path.
pub async fn unmute<K: Kind>(OnGroup { target, id, params, .. }: OnGroup<K>) -> Result<Response, EasemobError> {
    let id = id.as_str();
    let raw = param(&params, "username");
    let users = path_users(raw)?;
    check_count("removeMute member size", users.len(), limits::LIST_BATCH)?;
    let changed = target
        .core
        .groups
        .remove_from_list(target.app.id, group_ref::<K>(id), GroupList::Mute, users)
        .await
        .map_err(group_error)?;
    let mut data: Vec<Value> = changed.changed.iter().map(|u| json!({"result": true, "user": u.as_str()})).collect();
    data.extend(
        changed
            .refused
            .iter()
            .map(|(u, why)| json!({"result": false, "user": u.as_str(), "reason": reason(u, *why, id)})),
    );
    Ok(target.envelope("delete", &format!("{}/{id}/mute/{raw}", K::PATH)).data(Value::Array(data)).into_response())
}

/// E-grp-18 / E-room-13: mute everyone but the owner, admins and the allow list.
pub async fn mute_all<K: Kind>(call: OnGroup<K>) -> Result<Response, EasemobError> {
    set_mute_all(call, true).await
}

pub async fn unmute_all<K: Kind>(call: OnGroup<K>) -> Result<Response, EasemobError> {
    set_mute_all(call, false).await
}

async fn set_mute_all<K: Kind>(OnGroup { target, id, .. }: OnGroup<K>, muted: bool) -> Result<Response, EasemobError> {
    let id = id.as_str();
    target.core.groups.set_mute_all(target.app.id, group_ref::<K>(id), muted).await.map_err(group_error)?;
    let action = if muted { "post" } else { "delete" };
    Ok(target.envelope(action, &format!("{}/{id}/ban", K::PATH)).data(json!({"mute": muted})).into_response())
}
