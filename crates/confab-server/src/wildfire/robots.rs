//! The vendor's robots (`CreateRobotAction`, `GetRobotAction`, and the
//! `get_user_robots` call of its SDKs): a robot is a user of type 1 with an
//! owner, a secret for the robot API, and a callback URL that hears every
//! message the robot receives.
//!
//! confab delivers to a callback through a gateway session of its own (the
//! robot's device `robot-callback`), so a callback gets what any client
//! gets: messages in order, the ones sent while it was unreachable later,
//! each acknowledged only once the callback answered 2xx. The vendor posts
//! once and forgets; retrying is the one difference, and a callback that
//! answers 2xx never sees a message twice. On a cluster the newest relay of a
//! robot replaces the others (one device per robot), so a callback hears
//! each message from one node.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::task::AbortHandle;

use confab_core::error::Error;
use confab_core::events::KickReason;
use confab_core::gateway::{LoginRequest, Outcome, Session, Tell};
use confab_core::model::{App, AppId, Message, SettingKey, Username};
use confab_core::Core;

use super::error::WildfireError;
use super::payload::{self, Conversation};
use super::profile::{info, upsert, UserInfo, ROBOT_TYPE};
use super::{ok, user, Admin};
use crate::fetch::Fetcher;

/// Settings namespace of robots (owner: the robot; key `""`).
const ROBOTS: &str = "wildfire.robot";
/// Settings namespace of who owns which robots (owner: the owner; key: the robot).
const ROBOTS_OF: &str = "wildfire.robot_of";
/// The device a robot's callback relay logs in as.
pub const RELAY_DEVICE: &str = "robot-callback";
/// Longest wait between two tries of a callback that fails.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Longest callback URL.
const MAX_URL: usize = 2048;

/// What is kept about a robot besides its user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Robot {
    pub owner: String,
    pub secret: String,
    #[serde(default)]
    pub callback: String,
    #[serde(default)]
    pub extra: String,
}

/// The robot `id`, if it is one.
pub async fn robot(core: &Core, app: AppId, id: &str) -> Result<Option<Robot>, WildfireError> {
    let found = core.settings.get(app, SettingKey::new(ROBOTS, id, "")).await?;
    Ok(found.and_then(|s| serde_json::from_str(&s.value).ok()))
}

/// Stores a robot (and its owner's index entry).
pub async fn save(core: &Core, app: AppId, id: &Username, robot: &Robot) -> Result<(), WildfireError> {
    if robot.callback.len() > MAX_URL {
        return Err(WildfireError::invalid(format!("callback is at most {MAX_URL} bytes")));
    }
    let value = serde_json::to_string(robot).map_err(|e| WildfireError::invalid(e.to_string()))?;
    let entries = vec![
        (SettingKey::new(ROBOTS, id.as_str(), ""), value),
        (SettingKey::new(ROBOTS_OF, &robot.owner, id.as_str()), String::new()),
    ];
    core.settings.put(app, entries).await?;
    Ok(())
}

/// Forgets a user's robot records (the user was destroyed).
pub async fn forget(core: &Core, app: AppId, id: &Username) -> Result<(), WildfireError> {
    let Some(found) = robot(core, app, id.as_str()).await? else {
        return Ok(());
    };
    let keys = vec![SettingKey::new(ROBOTS, id.as_str(), ""), SettingKey::new(ROBOTS_OF, &found.owner, id.as_str())];
    core.settings.remove(app, keys).await?;
    Ok(())
}

/// `/admin/robot/create`'s body: a user-info object with the robot's fields.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewRobot {
    #[serde(flatten)]
    user: UserInfo,
    /// The user who owns the robot; the robot itself when absent.
    #[schema(value_type = Option<String>)]
    owner: Option<Value>,
    /// The robot's API secret; made up when absent.
    #[schema(value_type = Option<String>)]
    secret: Option<Value>,
    /// Where messages to the robot are posted.
    #[schema(value_type = Option<String>)]
    callback: Option<Value>,
    #[schema(value_type = Option<String>)]
    robot_extra: Option<Value>,
}

/// `/admin/robot/create`: creates (or overwrites) the robot's user; the
/// owner defaults to the robot itself and the secret to a random one, as the
/// vendor's. Answers `{userId, secret}`.
pub async fn create(
    axum::Extension(relays): axum::Extension<Arc<Relays>>,
    Admin { core, app, body }: Admin<NewRobot>,
) -> Result<Response, WildfireError> {
    let field = |value: &Option<Value>, key: &str| match value {
        Some(Value::String(s)) => Ok(s.clone()),
        None | Some(Value::Null) => Ok(String::new()),
        Some(_) => Err(WildfireError::invalid(format!("{key} must be a string"))),
    };
    let (owner, secret, callback, extra) = (
        field(&body.owner, "owner")?,
        field(&body.secret, "secret")?,
        field(&body.callback, "callback")?,
        field(&body.robot_extra, "robotExtra")?,
    );
    let mut profile = body.user;
    profile.kind = Some(json!(ROBOT_TYPE));
    let (id, _) = upsert(&core, app.id, &profile).await?;
    let owner = match owner.is_empty() {
        true => id.as_str().to_owned(),
        false => user(&owner, "owner")?.as_str().to_owned(),
    };
    let secret = match secret.is_empty() {
        true => confab_core::auth::random_key(16),
        false => secret,
    };
    if let Some(before) = robot(&core, app.id, id.as_str()).await? {
        if before.owner != owner {
            core.settings.remove(app.id, vec![SettingKey::new(ROBOTS_OF, &before.owner, id.as_str())]).await?;
        }
    }
    let robot = Robot { owner, secret: secret.clone(), callback, extra };
    save(&core, app.id, &id, &robot).await?;
    relays.restart(&core, &app, &id, &robot);
    Ok(ok(json!({"userId": id.as_str(), "secret": secret})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RobotIdRequest {
    robot_id: String,
}

/// The vendor's `OutputRobot`: the user's profile with the robot's fields.
pub fn output(profile: &confab_core::model::User, robot: &Robot) -> Value {
    let mut out = info(profile);
    out["owner"] = json!(robot.owner);
    out["secret"] = json!(robot.secret);
    out["callback"] = json!(robot.callback);
    out["robotExtra"] = json!(robot.extra);
    out
}

/// `/admin/user/get_robot_info`: 253 for a user that is not a robot.
pub async fn get_info(Admin { core, app, body }: Admin<RobotIdRequest>) -> Result<Response, WildfireError> {
    let id = user(&body.robot_id, "robotId")?;
    let Some(robot) = robot(&core, app.id, id.as_str()).await? else {
        return Err(WildfireError::not_exist(format!("robot {id}")));
    };
    let profile = core.users.get(app.id, &id).await?;
    Ok(ok(output(&profile, &robot)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserIdRequest {
    user_id: String,
}

/// `/admin/user/get_user_robots`: `{list}` of the robots the user owns.
pub async fn of_user(Admin { core, app, body }: Admin<UserIdRequest>) -> Result<Response, WildfireError> {
    let owner = user(&body.user_id, "userId")?;
    let robots: Vec<String> =
        core.settings.of(app.id, ROBOTS_OF, owner.as_str()).await?.into_iter().map(|s| s.key).collect();
    Ok(ok(json!({"list": robots})))
}

/// The callback relays running on this node.
pub struct Relays {
    fetcher: Arc<Fetcher>,
    running: Mutex<HashMap<(AppId, Username), AbortHandle>>,
}

impl Relays {
    pub fn new(fetcher: Arc<Fetcher>) -> Arc<Relays> {
        Arc::new(Relays { fetcher, running: Mutex::new(HashMap::new()) })
    }

    /// Starts (or restarts, with its new callback) a robot's relay; stops it
    /// when the robot has no callback.
    pub fn restart(self: &Arc<Self>, core: &Arc<Core>, app: &Arc<App>, id: &Username, robot: &Robot) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = running.remove(&(app.id, id.clone())) {
            old.abort();
        }
        if robot.callback.is_empty() {
            return;
        }
        let task =
            tokio::spawn(relay(core.clone(), self.fetcher.clone(), app.clone(), id.clone(), robot.callback.clone()));
        running.insert((app.id, id.clone()), task.abort_handle());
    }

    /// Starts the relays of every robot with a callback (at start-up).
    pub async fn start_all(self: &Arc<Self>, core: &Arc<Core>) -> Result<(), Error> {
        for app in core.apps.list().await? {
            let Some(app) = core.apps.by_uuid(&app.uuid).await? else { continue };
            for stored in core.settings.all(app.id, ROBOTS).await? {
                let (Ok(robot), Ok(id)) =
                    (serde_json::from_str::<Robot>(&stored.value), Username::parse(&stored.owner))
                else {
                    continue;
                };
                self.restart(core, &app, &id, &robot);
            }
        }
        Ok(())
    }
}

impl Relays {
    /// Stops every relay (at shutdown).
    pub fn stop_all(&self) {
        for (_, task) in self.running.lock().unwrap_or_else(|e| e.into_inner()).drain() {
            task.abort();
        }
    }
}

impl Drop for Relays {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Logs in as the robot and posts what it receives to its callback, until
/// another node's relay or a kick replaces it.
async fn relay(core: Arc<Core>, fetcher: Arc<Fetcher>, app: Arc<App>, id: Username, callback: String) {
    let mut pause = Duration::from_millis(250);
    loop {
        match relay_once(&core, &fetcher, &app, &id, &callback).await {
            Ok(Stop::ForGood) => return,
            Ok(Stop::Reconnect) => pause = Duration::from_millis(250),
            Err(e) => {
                tracing::warn!(app = app.id.0, robot = %id, error = %e, "robot callback relay failed; retrying");
                pause = (pause * 2).min(MAX_BACKOFF);
            }
        }
        tokio::time::sleep(pause).await;
    }
}

enum Stop {
    ForGood,
    Reconnect,
}

async fn relay_once(core: &Core, fetcher: &Fetcher, app: &App, id: &Username, callback: &str) -> Result<Stop, Error> {
    let (token, _) = core.users.issue_token_by_id(app, id, false, Some(3600), &core.apps).await?;
    let request = LoginRequest { token: token.token, device: Some(RELAY_DEVICE.into()), resume: HashMap::new() };
    let mut session = core.gateway.login(request).await?;
    while let Some(page) = session.next_backlog_page().await? {
        post_all(&session, fetcher, id, callback, page).await?;
    }
    loop {
        let wake = session.wait().await;
        match session.process(wake).await? {
            Outcome::Deliver(messages) => post_all(&session, fetcher, id, callback, messages).await?,
            Outcome::Close(KickReason::SlowConsumer) => return Ok(Stop::Reconnect),
            Outcome::Close(KickReason::Disconnected) => return Ok(Stop::Reconnect),
            Outcome::Close(_) | Outcome::CloseWith(..) => return Ok(Stop::ForGood),
            Outcome::Notify(_) | Outcome::Update(_) | Outcome::Receipt(_) => {}
        }
    }
}

/// Posts each message the robot did not send itself, in order, retrying one
/// until the callback takes it, then acknowledges it.
async fn post_all(
    session: &Session,
    fetcher: &Fetcher,
    id: &Username,
    callback: &str,
    messages: Vec<Arc<Message>>,
) -> Result<(), Error> {
    for message in messages {
        if message.from != *id {
            let body = callback_body(&message);
            let mut pause = Duration::from_millis(500);
            loop {
                match fetcher.post_json(callback, &body).await {
                    Ok(answer) if answer.status().is_success() => break,
                    Ok(answer) => {
                        tracing::warn!(robot = %id, status = %answer.status(), "robot callback refused a message")
                    }
                    Err(e) => tracing::warn!(robot = %id, error = %e, "robot callback unreachable"),
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_BACKOFF);
            }
        }
        if message.seq > 0 {
            session.acknowledge(message.conversation, message.seq, Tell::Nobody).await?;
        }
    }
    Ok(())
}

/// The vendor's `OutputMessageData`, as its server posts it.
fn callback_body(message: &Message) -> Value {
    json!({
        "messageId": message.id.0,
        "sender": message.from.as_str(),
        "conv": Conversation::of(message),
        "payload": payload::of(message),
        "timestamp": message.timestamp_ms,
    })
}
