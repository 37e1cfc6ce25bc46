//! Sessions: `session open` (plain, signed, or with the session token) and
//! how a refused one is answered.

use super::*;

impl LeanCloud {
    /// The session opened (or refused) for a `session open`.
    pub(super) async fn open(
        &mut self,
        core: &Arc<Core>,
        command: &GenericCommand,
    ) -> Result<(Session, GenericCommand), i32> {
        let asked = command.session_message.clone().unwrap_or_default();
        let app_id = command.app_id.clone().unwrap_or_default();
        let app = crate::signed_login::app_by_leancloud_id(core, &app_id)
            .await
            .map_err(|_| code::INTERNAL_ERROR)?
            .ok_or(code::APP_NOT_AVAILABLE)?;
        let peer = command.peer_id.clone().unwrap_or_default();
        let user = Username::parse(&peer).map_err(|_| code::INVALID_LOGIN)?;
        let token = match (&asked.s, &asked.st) {
            (Some(signature), _) => {
                let signed = confab_protocol::SignedLogin {
                    app_id: app_id.clone(),
                    client_id: peer.clone(),
                    timestamp: asked.t.unwrap_or_default(),
                    nonce: asked.n.clone().unwrap_or_default(),
                    signature: signature.clone(),
                };
                crate::signed_login::token_for_signed_login(core, &signed).await.map_err(|_| code::SIGNATURE_FAILED)?
            }
            (None, Some(st)) => st.clone(),
            // The vendor's default: an app that has not turned on login
            // signatures lets a client open a session by its ID.
            (None, None) => {
                let rule =
                    crate::signed_login::login_signatures(core, app.id).await.map_err(|_| code::INTERNAL_ERROR)?;
                if rule == crate::signed_login::LoginSignatures::Required {
                    return Err(code::SIGNATURE_FAILED);
                }
                issue(core, &app, &user, 60).await?
            }
        };
        // The device: a tag names one (a second login with it replaces the
        // first, as the vendor's tags do); otherwise the SDK's device ID.
        let device = asked.tag.clone().filter(|t| !t.is_empty()).or(asked.device_id.clone());
        let session = match core.gateway.login(LoginRequest { token, device, resume: HashMap::new() }).await {
            Ok(session) if session.user == user => session,
            Ok(_) => return Err(code::INVALID_LOGIN),
            Err(Error::Unauthenticated(AuthFailure::ExpiredToken)) => return Err(code::SESSION_TOKEN_EXPIRED),
            Err(Error::Unauthenticated(_)) if asked.st.is_some() => return Err(code::SESSION_TOKEN_EXPIRED),
            Err(Error::Unauthenticated(_)) => return Err(code::SIGNATURE_FAILED),
            Err(Error::Deactivated(_)) => return Err(code::KICKED_BY_APP),
            Err(_) => return Err(code::INTERNAL_ERROR),
        };
        // The iOS SDK names its APNs token: offline pushes for this client go
        // there (a failure here costs the push, not the session).
        if let Some(token) = asked.device_token.as_deref().filter(|t| !t.is_empty()) {
            let device = asked.device_id.as_deref().filter(|d| !d.is_empty());
            if let Err(e) = crate::push::devices::bind_leancloud(core, app.id, &user, device, token).await {
                tracing::warn!(app = app.id.0, error = %e, "cannot bind the session's device token");
            }
        }
        let st = issue(core, &app, &user, SESSION_TOKEN_TTL).await?;
        self.app_id = app_id;
        let opened = GenericCommand {
            cmd: Some(CommandType::Session as i32),
            op: Some(OpType::Opened as i32),
            i: command.i,
            app_id: Some(self.app_id.clone()),
            peer_id: Some(peer),
            server_ts: Some(core.now_ms()),
            session_message: Some(SessionCommand {
                st: Some(st),
                st_ttl: Some(SESSION_TOKEN_TTL as i32),
                ..Default::default()
            }),
            ..Default::default()
        };
        Ok((session, opened))
    }
}

/// A user token for `user` that lasts `ttl_secs`, the client created if new
/// (the vendor's clients need no registration).
pub(super) async fn issue(core: &Core, app: &App, user: &Username, ttl_secs: i64) -> Result<String, i32> {
    match core.users.issue_token_by_id(app, user, true, Some(ttl_secs), &core.apps).await {
        Ok((token, _)) => Ok(token.token),
        Err(Error::Deactivated(_)) => Err(code::KICKED_BY_APP),
        Err(Error::InvalidArgument(_)) => Err(code::INVALID_LOGIN),
        Err(_) => Err(code::INTERNAL_ERROR),
    }
}

pub(super) fn session_closed(i: Option<i32>, code: i32, reason: &str) -> GenericCommand {
    GenericCommand {
        cmd: Some(CommandType::Session as i32),
        op: Some(OpType::Closed as i32),
        i,
        session_message: Some(SessionCommand {
            code: Some(code),
            reason: Some(reason.to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(super) fn refusal_reason(code: i32) -> &'static str {
    match code {
        code::APP_NOT_AVAILABLE => "App not exists or realtime message service is disabled.",
        code::SIGNATURE_FAILED => "Login signature mismatch.",
        code::INVALID_LOGIN => "Malformed clientId.",
        code::SESSION_TOKEN_EXPIRED => "Session token expired.",
        code::KICKED_BY_APP => "The client is not allowed to log in.",
        _ => "Internal error.",
    }
}
