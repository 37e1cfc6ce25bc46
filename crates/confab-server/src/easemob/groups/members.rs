//! Members and admins of groups and rooms (E-grp-7..13, E-room-9/10).

use super::*;

/// E-grp-7 / E-room-9: members, `pagesize` (≤ 1000) at a time from page
/// `pagenum` (1-based); with a user's token, for members (`listGroupMembers`).
pub async fn members<K: Kind>(call: UserOnGroup<K>, Query(query): QueryMap) -> Result<Response, EasemobError> {
    call.allow(Role::Member).await?;
    let UserOnGroup { target, id, .. } = call;
    let id = id.as_str();
    let size = page_limit(&query, "pagesize", 1000, 1000)?;
    let number = page_limit(&query, "pagenum", 1, usize::MAX)?;
    let (_, members) = target.core.groups.members(target.app.id, group_ref::<K>(id)).await.map_err(|e| match e {
        Error::NotFound(_) => EasemobError::new(
            StatusCode::NOT_FOUND,
            "service_resource_not_found",
            "ServiceResourceNotFoundException",
            format!("do not find this group:{id}"),
        ),
        other => other.into(),
    })?;
    let page: Vec<Member> = members.into_iter().skip(size.saturating_mul(number - 1)).take(size).collect();
    Ok(target
        .envelope("get", &format!("{}/{id}/users", K::PATH))
        .with("params", echo_params(&query))
        .with("entities", json!([]))
        .with("count", json!(page.len()))
        .data(Value::Array(affiliations(&page)))
        .into_response())
}

/// E-grp-8 / E-room-9: add one member.
pub async fn add_member<K: Kind>(OnGroup { target, id, params, .. }: OnGroup<K>) -> Result<Response, EasemobError> {
    let id = id.as_str();
    let user = username(param(&params, "username"))?;
    let changed = target.core.groups.add_members(target.app.id, group_ref::<K>(id), vec![user.clone()]).await;
    let changed = changed.map_err(group_error)?;
    if let Some((_, why)) = changed.refused.first() {
        return Err(join_refused(&user, id, why));
    }
    let data = json!({"result": true, K::ID_KEY: id, "action": "add_member", "user": user.as_str()});
    Ok(target.envelope("post", &format!("{}/{id}/users/{user}", K::PATH)).data(data).into_response())
}

pub(super) fn join_refused(user: &Username, id: &str, why: &Refusal) -> EasemobError {
    let reason = match why {
        Refusal::AlreadyMember => format!("user: {user} already in group: {id}"),
        _ => format!("user: {user} is blocked in group: {id}"),
    };
    forbidden(StatusCode::FORBIDDEN, format!("can not join this group, reason:{reason}\n"))
}

/// The vendor's words for why one user of a batch was refused.
pub(super) fn reason(user: &Username, why: Refusal, id: &str) -> String {
    match why {
        Refusal::NotMember => format!("user: {user} doesn't exist in group: {id}"),
        other => Refused::of(other, user).at(id).to_string(),
    }
}

/// E-grp-9 / E-room-9: add up to 60 members; with a user's token, an
/// owner's or admin's (`addUsersToGroup`).
pub async fn add_members<K: Kind>(
    call: UserOnGroup<K>,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, UsersBody>,
) -> Result<Response, EasemobError> {
    call.allow(Role::Admin).await?;
    let UserOnGroup { target, id, .. } = call;
    let id = id.as_str();
    let users = body_users(&body.usernames)?;
    check_count("addMembers: addMembers", users.len(), limits::BATCH_USERS)?;
    let changed =
        target.core.groups.add_members(target.app.id, group_ref::<K>(id), users).await.map_err(group_error)?;
    if changed.changed.is_empty() {
        if let Some((user, why)) = changed.refused.first() {
            return Err(join_refused(user, id, why));
        }
    }
    let added: Vec<&str> = changed.changed.iter().map(Username::as_str).collect();
    let data = json!({"newmembers": added, K::ID_KEY: id, "action": "add_member"});
    Ok(target.envelope("post", &format!("{}/{id}/users", K::PATH)).data(data).into_response())
}

/// Per-user results, as the batch endpoints answer them.
pub(super) fn results(changed: &GroupChanged, id_key: &str, id: &str, action: &str) -> Vec<Value> {
    let mut out: Vec<Value> = changed
        .changed
        .iter()
        .map(|u| json!({"result": true, "action": action, "user": u.as_str(), id_key: id}))
        .collect();
    out.extend(
        changed
            .refused
            .iter()
            .map(|(u, why)| json!({"result": false, "action": action, "reason": reason(u, *why, id), "user": u.as_str(), id_key: id})),
    );
    out
}

/// E-grp-10 / E-grp-11 / E-room-9: remove one member, or several separated
/// by commas; with a user's token, an owner's or admin's (`removeGroupMember`).
pub async fn remove_members<K: Kind>(call: UserOnGroup<K>) -> Result<Response, EasemobError> {
    let raw = param(&call.params, "username").to_owned();
    let users = path_users(&raw)?;
    call.allow_over(Role::Admin, &users).await?;
    let UserOnGroup { target, id, .. } = call;
    let id = id.as_str();
    let raw = raw.as_str();
    check_count("kickMember: kickMembers", users.len(), limits::BATCH_USERS)?;
    let changed =
        target.core.groups.remove_members(target.app.id, group_ref::<K>(id), users).await.map_err(group_error)?;
    let path = format!("{}/{id}/users/{raw}", K::PATH);
    if changed.changed.is_empty() {
        let refused: Vec<&str> = changed.refused.iter().map(|(u, _)| u.as_str()).collect();
        if changed.refused.iter().any(|(u, _)| u == &changed.group.owner) {
            return Err(forbidden(StatusCode::FORBIDDEN, "forbidden operation on group owner!"));
        }
        return Err(forbidden(
            K::NON_MEMBER_STATUS,
            format!("users [{}] are not members of this group!", refused.join(",")),
        ));
    }
    if !raw.contains(',') {
        let data = json!({"result": true, "action": "remove_member", "user": raw.to_ascii_lowercase(), K::ID_KEY: id});
        return Ok(target.envelope("delete", &path).data(data).into_response());
    }
    let data = Value::Array(results(&changed, K::ID_KEY, id, "remove_member"));
    Ok(target.envelope("delete", &path).data(data).into_response())
}

/// E-grp-12 / E-room-10: list admins.
pub async fn admins<K: Kind>(OnGroup { target, id, .. }: OnGroup<K>) -> Result<Response, EasemobError> {
    let id = id.as_str();
    let admins = target.core.groups.admins(target.app.id, group_ref::<K>(id)).await.map_err(group_error)?;
    let names: Vec<&str> = admins.iter().map(Username::as_str).collect();
    Ok(target
        .envelope("get", &format!("{}/{id}/admin", K::PATH))
        .with("count", json!(names.len()))
        .data(json!(names))
        .into_response())
}

/// E-grp-12 / E-room-10's body for a new admin.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct NewAdmin {
    /// The member to make an admin.
    #[schema(value_type = String)]
    newadmin: Option<Value>,
}

/// E-grp-12 / E-room-10: make a member an admin (`{"newadmin": u}`).
pub async fn add_admin<K: Kind>(
    OnGroup { target, id, .. }: OnGroup<K>,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, NewAdmin>,
) -> Result<Response, EasemobError> {
    let id = id.as_str();
    let user =
        body.newadmin.as_ref().and_then(Value::as_str).ok_or_else(|| invalid_parameter("newadmin must be provided"))?;
    let user = username(user)?;
    match target.core.groups.set_admin(target.app.id, group_ref::<K>(id), user.clone(), true).await {
        Ok(_) => {}
        Err(Error::Refused(r)) if r.why == Refusal::NotMember => {
            return Err(group_error(Error::NotFound(format!("user: {user} doesn't exist in group: {id}"))))
        }
        Err(e) => return Err(group_error(e)),
    }
    let data = json!({"result": "success", "newadmin": user.as_str()});
    Ok(target.envelope("post", &format!("{}/{id}/admin", K::PATH)).data(data).into_response())
}

/// E-grp-13 / E-room-10: an admin back to a member.
pub async fn remove_admin<K: Kind>(OnGroup { target, id, params, .. }: OnGroup<K>) -> Result<Response, EasemobError> {
    let id = id.as_str();
    let user = username(param(&params, "username"))?;
    match target.core.groups.set_admin(target.app.id, group_ref::<K>(id), user.clone(), false).await {
        Ok(_) => {}
        Err(Error::Refused(_)) => {
            return Err(forbidden(StatusCode::FORBIDDEN, format!("user:{user} is not admin of group:{id}")))
        }
        Err(e) => return Err(group_error(e)),
    }
    let data = json!({"result": "success", "oldadmin": user.as_str()});
    Ok(target.envelope("delete", &format!("{}/{id}/admin/{user}", K::PATH)).data(data).into_response())
}
