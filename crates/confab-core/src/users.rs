//! User accounts: registration, credentials, activation, presence.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::apps::IssuedToken;
use crate::auth::{self, Principal};
use crate::deps::Deps;
use crate::error::{AuthFailure, Error, Result};
use crate::events::{KickReason, LiveEvent};
use crate::model::{App, AppId, ProfileChange, PushSettings, User, UserRecord, Username};
use crate::storage::Page;

/// A registration request: the name is checked by the dialect's rule at the
/// edge, the rest here.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub password: String,
    pub nickname: Option<String>,
    pub attributes: BTreeMap<String, String>,
}

/// Longest nickname accepted, as the vendor documents.
pub const MAX_NICKNAME_LEN: usize = 100;

#[derive(Clone)]
pub struct UserService {
    deps: Arc<Deps>,
}

impl UserService {
    pub(crate) fn new(deps: Arc<Deps>) -> UserService {
        UserService { deps }
    }

    /// Runs password hashing off the async runtime (see [`auth::Hashing`]).
    async fn hashing<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        self.deps.hashing.run(work).await
    }

    /// Registers users in order. The batch is checked whole first (a bad
    /// name or password, or a name given twice, fails it all, before any
    /// password is hashed: hashing is the expensive part); a name that
    /// already exists fails only its own entry.
    pub async fn register(&self, app: AppId, batch: Vec<NewUser>) -> Result<Vec<Result<User>>> {
        let mut checked = Vec::with_capacity(batch.len());
        let mut seen = std::collections::HashSet::with_capacity(batch.len());
        for new in batch {
            let username = new.username;
            if !seen.insert(username.clone()) {
                return Err(Error::InvalidArgument(format!("user {username} appears twice in the batch")));
            }
            check_password(&new.password)?;
            if new.nickname.as_ref().is_some_and(|n| n.chars().count() > MAX_NICKNAME_LEN) {
                return Err(Error::InvalidArgument(format!("nickname must be at most {MAX_NICKNAME_LEN} characters")));
            }
            checked.push((username, new.password, new.nickname, new.attributes));
        }
        let now = self.deps.clock.now_ms();
        let records = self
            .hashing(move || -> Result<Vec<UserRecord>> {
                checked
                    .into_iter()
                    .map(|(username, password, nickname, attributes)| {
                        Ok(UserRecord {
                            password_hash: auth::hash_password(&password)?,
                            user: User {
                                app,
                                username,
                                uuid: auth::random_uuid(),
                                nickname,
                                activated: true,
                                credential_generation: 0,
                                created_ms: now,
                                modified_ms: now,
                                attributes,
                                push: PushSettings::default(),
                            },
                        })
                    })
                    .collect()
            })
            .await??;
        let created = self.deps.store.insert_users(app, records).await?;
        let new: Vec<Username> = created.iter().filter_map(|r| r.as_ref().ok()).map(|u| u.username.clone()).collect();
        self.deps.lasting.join_new(app, &new).await?;
        Ok(created)
    }

    pub async fn get(&self, app: AppId, username: &Username) -> Result<User> {
        self.deps
            .store
            .user(app, username)
            .await?
            .map(|r| r.user)
            .ok_or_else(|| Error::NotFound(format!("user {username} not found")))
    }

    /// Users whose profile attribute `key` is `value`, oldest first.
    pub async fn with_attribute(&self, app: AppId, key: &str, value: &str, limit: usize) -> Result<Vec<User>> {
        self.deps.store.users_with_attribute(app, key, value, limit).await
    }

    pub async fn list(&self, app: AppId, after: Option<i64>, limit: usize) -> Result<Page<User>> {
        self.deps.store.list_users(app, after, limit).await
    }

    /// Users whose ID starts with `prefix`, in ID order (the console's search).
    pub async fn search(&self, app: AppId, prefix: &str, limit: usize) -> Result<Vec<User>> {
        self.deps.store.users_by_prefix(app, prefix, limit.clamp(1, 100)).await
    }

    /// Deletes a user and closes their sessions.
    pub async fn delete(&self, app: AppId, username: &Username) -> Result<User> {
        let user = self
            .deps
            .store
            .delete_user(app, username)
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {username} not found")))?;
        self.kick(app, username, KickReason::CredentialsChanged).await;
        Ok(user)
    }

    /// Deletes up to `limit` of the oldest users.
    pub async fn delete_oldest(&self, app: AppId, after: Option<i64>, limit: usize) -> Result<Page<User>> {
        let page = self.deps.store.delete_users(app, after, limit).await?;
        for user in &page.items {
            self.kick(app, &user.username, KickReason::CredentialsChanged).await;
        }
        Ok(page)
    }

    /// Sets a new password; older user tokens stop working and sessions close.
    pub async fn set_password(&self, app: AppId, username: &Username, password: String) -> Result<User> {
        check_password(&password)?;
        let hash = self.hashing(move || auth::hash_password(&password)).await??;
        let now = self.deps.clock.now_ms();
        let user = self
            .deps
            .store
            .set_password(app, username, hash, now)
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {username} not found")))?;
        self.kick(app, username, KickReason::CredentialsChanged).await;
        Ok(user)
    }

    /// Deactivates (bans) a user: sessions close now, logins are refused.
    /// Changes the user's nickname, attributes or push settings.
    pub async fn update_profile(&self, app: AppId, username: &Username, change: ProfileChange) -> Result<User> {
        if let Some(Some(nickname)) = &change.nickname {
            if nickname.chars().count() > MAX_NICKNAME_LEN {
                return Err(Error::InvalidArgument(format!("nickname must be at most {MAX_NICKNAME_LEN} characters")));
            }
        }
        let now = self.deps.clock.now_ms();
        let updated = self.deps.store.update_profile(app, username, change, now).await?;
        updated.ok_or_else(|| Error::NotFound(format!("username {username} doesn't exist!")))
    }

    /// Bytes every user's attributes take together (E-meta-5).
    pub async fn attributes_capacity(&self, app: AppId) -> Result<u64> {
        self.deps.store.attributes_capacity(app).await
    }

    pub async fn deactivate(&self, app: AppId, username: &Username) -> Result<User> {
        let user = self.set_activated(app, username, false).await?;
        self.kick(app, username, KickReason::Deactivated).await;
        Ok(user)
    }

    pub async fn activate(&self, app: AppId, username: &Username) -> Result<User> {
        self.set_activated(app, username, true).await
    }

    async fn set_activated(&self, app: AppId, username: &Username, activated: bool) -> Result<User> {
        let now = self.deps.clock.now_ms();
        self.deps
            .store
            .set_activated(app, username, activated, now)
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {username} not found")))
    }

    /// Forces every device of the user offline (E-user-16).
    pub async fn disconnect(&self, app: AppId, username: &Username) -> Result<()> {
        self.get(app, username).await?;
        self.kick(app, username, KickReason::Disconnected).await;
        Ok(())
    }

    /// Closes one device's sessions; false if it was not connected.
    pub async fn disconnect_device(&self, app: AppId, username: &Username, device: &str) -> Result<bool> {
        self.get(app, username).await?;
        let devices = self.devices(app, username).await;
        if !devices.iter().any(|d| d == device) {
            return Ok(false);
        }
        tracing::info!(app = app.0, user = %username, device, "disconnected a device");
        self.deps.fanout.kick_device(app, username, device, KickReason::Disconnected).await;
        Ok(true)
    }

    /// The user's connected devices, across the deployment.
    pub async fn devices(&self, app: AppId, username: &Username) -> Vec<String> {
        let mut devices = self.deps.fanout.devices(app, std::slice::from_ref(username)).await;
        let mut mine = devices.pop().unwrap_or_default();
        mine.sort();
        mine
    }

    /// Connected (user, device) pairs, by user, skipping `offset` and
    /// returning at most `limit`, with the total of pairs. Walks every user,
    /// so it is for operators, not for hot paths.
    pub async fn online_devices(
        &self,
        app: AppId,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<(Username, String)>, usize)> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = self.deps.store.list_users(app, after, 1000).await?;
            let names: Vec<Username> = page.items.into_iter().map(|u| u.username).collect();
            let devices = self.deps.fanout.devices(app, &names).await;
            for (name, mut theirs) in names.into_iter().zip(devices) {
                theirs.sort();
                all.extend(theirs.into_iter().map(|d| (name.clone(), d)));
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let total = all.len();
        Ok((all.into_iter().skip(offset).take(limit).collect(), total))
    }

    /// Closes the user's sessions on the app's word, telling them why.
    pub async fn kick_by_app(&self, app: AppId, username: &Username, why: &str) {
        // The app's reason is its own text, so it stays out of the log.
        tracing::info!(app = app.0, user = %username, reason = KickReason::KickedByApp.as_str(), "kicked a user");
        let event = LiveEvent::KickedByApp(why.into());
        self.deps.fanout.publish(app, std::slice::from_ref(username), event).await;
    }

    /// Users with at least one connected device, across the deployment
    /// (asked in batches of 1,000 users).
    pub async fn online_count(&self, app: AppId) -> Result<u64> {
        let mut online = 0u64;
        let mut after = None;
        loop {
            let page = self.deps.store.list_users(app, after, 1000).await?;
            let names: Vec<Username> = page.items.into_iter().map(|u| u.username).collect();
            online += self.deps.fanout.device_counts(app, &names).await.into_iter().filter(|n| *n > 0).count() as u64;
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(online),
            }
        }
    }

    /// Users whose devices logged in since `since_ms`.
    pub async fn active_since(&self, app: AppId, since_ms: i64) -> Result<u64> {
        self.deps.store.active_since(app, since_ms).await
    }

    async fn kick(&self, app: AppId, username: &Username, reason: KickReason) {
        tracing::info!(app = app.0, user = %username, reason = reason.as_str(), "kicked a user");
        self.deps.fanout.publish(app, std::slice::from_ref(username), LiveEvent::Kick(reason)).await;
    }

    /// Whether each user has at least one connected device.
    pub async fn online(&self, app: AppId, users: &[Username]) -> Vec<bool> {
        self.deps.fanout.device_counts(app, users).await.into_iter().map(|n| n > 0).collect()
    }

    /// Password login (E-auth-2): returns a user token.
    pub async fn issue_user_token(
        &self,
        app: &App,
        username: &Username,
        password: &str,
        ttl_secs: Option<i64>,
        apps: &crate::apps::AppService,
    ) -> Result<(IssuedToken, User)> {
        // Logins and failed logins are what an operator looks for first;
        // the password never reaches the log.
        let failed = |why: &str| tracing::info!(app = %app.name, user = %username, why, "failed login");
        let Some(record) = self.deps.store.user(app.id, username).await? else {
            failed("no such user");
            return Err(Error::NotFound("user not found".into()));
        };
        let password = password.to_owned();
        let hash = record.password_hash.clone();
        let ok = self.hashing(move || auth::verify_password(&password, &hash)).await?;
        if !ok {
            failed("wrong password");
            return Err(Error::Unauthenticated(AuthFailure::BadPassword));
        }
        if !record.user.activated {
            failed("deactivated");
            return Err(Error::Deactivated("user not activated".into()));
        }
        tracing::info!(app = %app.name, user = %username, "login");
        let (expires_at, expires_in) = apps.expiry(ttl_secs)?;
        let token = auth::issue_user_token(app, &record.user, expires_at);
        Ok((IssuedToken { token, expires_in }, record.user))
    }

    /// A user token issued on the app's word alone (the caller checked the
    /// app token). With `auto_create`, a missing user is created without a
    /// password: such a user can never log in by password.
    pub async fn issue_token_by_id(
        &self,
        app: &App,
        username: &Username,
        auto_create: bool,
        ttl_secs: Option<i64>,
        apps: &crate::apps::AppService,
    ) -> Result<(IssuedToken, User)> {
        let (expires_at, expires_in) = apps.expiry(ttl_secs)?;
        let user = match self.deps.store.user(app.id, username).await? {
            Some(record) => record.user,
            None if auto_create => {
                self.ensure_exist(app.id, std::slice::from_ref(username)).await?;
                self.get(app.id, username).await?
            }
            None => return Err(Error::NotFound("user not found".into())),
        };
        if !user.activated {
            return Err(Error::Deactivated("user not activated".into()));
        }
        let token = auth::issue_user_token(app, &user, expires_at);
        Ok((IssuedToken { token, expires_in }, user))
    }

    /// Creates the users that do not exist yet, without a password (they
    /// can never log in by password; the app issues their tokens). For
    /// dialects whose clients need no registration.
    pub async fn ensure_exist(&self, app: AppId, users: &[Username]) -> Result<()> {
        let mut missing = Vec::new();
        for user in users {
            if self.deps.store.user(app, user).await?.is_none() {
                missing.push(user.clone());
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let now = self.deps.clock.now_ms();
        let records = missing
            .into_iter()
            .map(|username| UserRecord {
                password_hash: String::new(),
                user: User {
                    app,
                    username,
                    uuid: auth::random_uuid(),
                    nickname: None,
                    activated: true,
                    credential_generation: 0,
                    created_ms: now,
                    modified_ms: now,
                    attributes: BTreeMap::new(),
                    push: PushSettings::default(),
                },
            })
            .collect();
        // A user created by a concurrent call a moment ago is as good.
        let created = self.deps.store.insert_users(app, records).await?;
        let new: Vec<Username> = created.into_iter().filter_map(|r| r.ok()).map(|u| u.username).collect();
        self.deps.lasting.join_new(app, &new).await
    }

    /// Checks a bearer token for `app`. User tokens are checked against the
    /// current account too: deleted, re-registered, re-passworded or
    /// deactivated users' tokens fail.
    pub async fn authenticate(&self, app: &App, token: &str) -> Result<Principal> {
        let verified = auth::verify(app, token, self.deps.clock.now_ms())?;
        if let Principal::User { username, uuid, generation } = &verified.principal {
            let current = self.deps.store.user(app.id, username).await?;
            let valid =
                current.as_ref().is_some_and(|r| &r.user.uuid == uuid && r.user.credential_generation == *generation);
            if !valid {
                return Err(Error::Unauthenticated(AuthFailure::BadToken));
            }
            if current.is_some_and(|r| !r.user.activated) {
                return Err(Error::Deactivated("user not activated".into()));
            }
        }
        Ok(verified.principal)
    }
}

fn check_password(password: &str) -> Result<()> {
    if password.is_empty() {
        return Err(Error::InvalidArgument("password or pin must provided".into()));
    }
    if password.chars().count() > auth::MAX_PASSWORD_LEN {
        return Err(Error::InvalidArgument("PASSWORD_TOO_LONG".into()));
    }
    Ok(())
}
