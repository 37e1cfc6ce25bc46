//! Group calls the client SDK makes with its user's own token (creating a
//! group, adding, removing and listing members, leaving, destroying): the
//! user may do what their role in the group allows, as the vendor's rules
//! say; the app's token may do anything.

use confab_core::auth::Principal;

use super::*;
use crate::easemob::AnyAuth;

/// Like [`OnGroup`], but a user's token is accepted too: `caller` names the
/// user, and the handler must [`UserOnGroup::allow`] them before anything.
pub struct UserOnGroup<K> {
    pub target: crate::easemob::Target,
    pub id: String,
    pub params: HashMap<String, String>,
    /// `None`: the app itself.
    pub caller: Option<Username>,
    kind: std::marker::PhantomData<K>,
}

impl<K: Kind> axum::extract::FromRequestParts<crate::easemob::State> for UserOnGroup<K> {
    type Rejection = EasemobError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::easemob::State,
    ) -> Result<Self, Self::Rejection> {
        let AnyAuth(target, principal) = AnyAuth::from_request_parts(parts, state).await?;
        let Path(params) =
            Params::from_request_parts(parts, state).await.map_err(|e| invalid_parameter(format!("bad path: {e}")))?;
        let id = param(&params, "id").to_owned();
        let caller = match principal {
            Principal::App => None,
            Principal::User { username, .. } => Some(username),
        };
        Ok(UserOnGroup { target, id, params, caller, kind: std::marker::PhantomData })
    }
}

impl<K: Kind> UserOnGroup<K> {
    /// Nothing for the app; a user must hold at least `least` in the group
    /// (403 otherwise, as the vendor answers a member acting as an owner).
    pub async fn allow(&self, least: Role) -> Result<(), EasemobError> {
        self.allow_over(least, &[]).await
    }

    /// [`UserOnGroup::allow`], and the user must also rank above each of
    /// `targets` (an admin removes members, not other admins; the owner
    /// anyone).
    pub async fn allow_over(&self, least: Role, targets: &[Username]) -> Result<(), EasemobError> {
        let Some(me) = &self.caller else {
            return Ok(());
        };
        let target = &self.target;
        let (group, members) =
            target.core.groups.members(target.app.id, group_ref::<K>(&self.id)).await.map_err(group_error)?;
        let role_of = |user: &Username| {
            if group.owner == *user {
                Some(Role::Owner)
            } else {
                members.iter().find(|m| m.username == *user).map(|m| m.role)
            }
        };
        let refused = |why: String| Err(forbidden(StatusCode::FORBIDDEN, why));
        let mine = match role_of(me) {
            Some(role) if role >= least => role,
            _ => return refused(format!("user {me} does not have permission to do this in group {}", self.id)),
        };
        for other in targets.iter().filter(|other| *other != me) {
            if role_of(other).is_some_and(|theirs| theirs >= mine) {
                return refused(format!(
                    "user {me} may not do this to {other}, whose role in group {} is as high",
                    self.id
                ));
            }
        }
        Ok(())
    }
}

/// The SDK's `leaveGroup`: the user leaves (the owner may not; they
/// transfer or destroy the group instead).
pub async fn quit<K: Kind>(call: UserOnGroup<K>) -> Result<Response, EasemobError> {
    let Some(me) = call.caller.clone() else {
        return Err(invalid_parameter("quit is for a user's own token"));
    };
    call.allow(Role::Member).await?;
    let target = &call.target;
    let id = call.id.as_str();
    let group = target.core.groups.get(target.app.id, group_ref::<K>(id)).await.map_err(group_error)?;
    if group.owner == me {
        return Err(forbidden(StatusCode::FORBIDDEN, "forbidden operation on group owner!"));
    }
    target.core.groups.remove_members(target.app.id, group_ref::<K>(id), vec![me]).await.map_err(group_error)?;
    let data = json!({"result": true});
    Ok(target.envelope("delete", &format!("{}/{id}/quit", K::PATH)).data(data).into_response())
}

/// The SDK's `inviteUsersToGroup`: the owner or an admin (any member when
/// the group allows invitations) adds users at once. Invitations the
/// invitee must accept (`invite_need_confirm`) are not served.
pub async fn invite<K: Kind>(
    call: UserOnGroup<K>,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, UsersBody>,
) -> Result<Response, EasemobError> {
    let target = &call.target;
    let id = call.id.as_str();
    let group = target.core.groups.get(target.app.id, group_ref::<K>(id)).await.map_err(group_error)?;
    if call.caller.is_some() {
        call.allow(if group.settings.allow_invites { Role::Member } else { Role::Admin }).await?;
        if group.settings.invite_need_confirm {
            return Err(forbidden(
                StatusCode::FORBIDDEN,
                "invitations that need the invitee's confirmation are not served; add members directly",
            ));
        }
    }
    let users = body_users(&body.usernames)?;
    check_count("invite: invitees", users.len(), limits::BATCH_USERS)?;
    let changed =
        target.core.groups.add_members(target.app.id, group_ref::<K>(id), users).await.map_err(group_error)?;
    let data = Value::Array(members::results(&changed, K::ID_KEY, id, "invite"));
    Ok(target.envelope("post", &format!("{}/{id}/invite", K::PATH)).data(data).into_response())
}
