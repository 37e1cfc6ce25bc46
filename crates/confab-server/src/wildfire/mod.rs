//! The WildfireChat (野火IM) server admin dialect (`/admin/…`).
//!
//! Every call is a `POST` with a JSON body, signed with the app's admin
//! secret (`auth.rs`), answered with HTTP 200 and `{code, msg, result}`
//! (`error.rs` has the vendor's codes). The vendor's server serves one app;
//! confab finds the app whose secret signed the request. Notes on the
//! vendor's behaviour are in `docs/research/wildfirechat-admin-api.md`.

mod auth;
pub(crate) mod channels;
mod error;
pub(crate) mod group_admin;
pub(crate) mod groups;
pub(crate) mod member_notes;
pub(crate) mod messages;
pub(crate) mod payload;
pub(crate) mod profile;
pub(crate) mod relations;
pub(crate) mod robots;
pub(crate) mod room_admin;
pub(crate) mod services;
pub(crate) mod system;
pub(crate) mod user_admin;
pub(crate) mod users;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::Value;

use confab_core::model::{App, Username};
use confab_core::Core;

pub use auth::SECRET_CREDENTIAL;
pub use error::{Envelope, WildfireError};

use crate::limits::{Per, WILDFIRE_REQUESTS_PER_SECOND};

/// Largest request body: a payload may carry a base64 thumbnail.
const BODY_LIMIT: usize = 64 * 1024;

/// What every WildfireChat handler can reach: the server's one state.
pub(crate) type State = crate::state::AppState;

pub use robots::Relays;

/// The dialect's routes. The robots' relays are started and stopped by the
/// application (`Relays::start_all`, `stop_all`), not here.
pub fn router(state: State, relays: Arc<Relays>) -> Router {
    Router::new()
        .route("/admin/health", post(|| async { ok(Value::Null) }).get(|| async { ok(Value::Null) }))
        .route("/admin/message/send", post(messages::send))
        .route("/admin/message/update", post(messages::update))
        .route("/admin/message/recall", post(messages::recall))
        .route("/admin/message/multicast", post(messages::multicast))
        .route("/admin/message/broadcast", post(messages::broadcast))
        .route("/admin/message/delete", post(messages::delete))
        .route("/admin/message/clear_by_user", post(messages::clear_by_user))
        .route("/admin/conversation/delete", post(messages::delete_conversation))
        .route("/admin/message/get_one", post(messages::get_one))
        .route("/admin/message/recall_broadcast", post(messages::recall_broadcast))
        .route("/admin/message/recall_multicast", post(messages::recall_multicast))
        .route("/admin/message/delete_broadcast", post(messages::delete_broadcast))
        .route("/admin/message/delete_multicast", post(messages::delete_multicast))
        .route("/admin/message/conv_read", post(messages::conv_read))
        .route("/admin/message/delivery", post(messages::delivery))
        .route("/admin/user/create", post(users::create))
        .route("/admin/user/update", post(users::update))
        .route("/admin/user/get_info", post(users::get_info))
        .route("/admin/user/get_token", post(users::get_token))
        .route("/admin/user/destroy", post(users::destroy))
        .route("/admin/user/update_block_status", post(user_admin::update_block_status))
        .route("/admin/user/check_block_status", post(user_admin::check_block_status))
        .route("/admin/user/get_blocked_list", post(user_admin::get_blocked_list))
        .route("/admin/user/all", post(user_admin::all))
        .route("/admin/user/get_info_by_email", post(user_admin::get_info_by_email))
        .route("/admin/user/online_count", post(user_admin::online_count))
        .route("/admin/user/onlinestatus", post(user_admin::online_status))
        .route("/admin/user/kickoff_client", post(user_admin::kickoff_client))
        .route("/admin/user/online_list", post(user_admin::online_list))
        .route("/admin/user/session_list", post(user_admin::session_list))
        .route("/admin/user/batch_get_infos", post(user_admin::batch_get_infos))
        .route("/admin/user/put_setting", post(user_admin::put_setting))
        .route("/admin/user/get_setting", post(user_admin::get_setting))
        .route("/admin/robot/create", post(robots::create))
        .route("/admin/user/get_robot_info", post(robots::get_info))
        .route("/admin/user/get_user_robots", post(robots::of_user))
        .route("/admin/friend/status", post(relations::friend_status))
        .route("/admin/friend/list", post(relations::friend_list))
        .route("/admin/blacklist/status", post(relations::blacklist_status))
        .route("/admin/blacklist/list", post(relations::blacklist_list))
        .route("/admin/relation/get", post(relations::relation_get))
        .route("/admin/friend/send_request", post(relations::send_request))
        .route("/admin/friend/get_requests", post(relations::get_requests))
        .route("/admin/friend/set_alias", post(relations::set_alias))
        .route("/admin/friend/get_alias", post(relations::get_alias))
        .route("/admin/friend/set_extra", post(relations::set_extra))
        .route("/admin/group/create", post(groups::create))
        .route("/admin/group/del", post(groups::dismiss))
        .route("/admin/group/get_info", post(groups::get_info))
        .route("/admin/group/member/list", post(groups::members))
        .route("/admin/group/member/add", post(groups::add_members))
        .route("/admin/group/member/del", post(groups::remove_members))
        .route("/admin/group/transfer", post(group_admin::transfer))
        .route("/admin/group/modify", post(group_admin::modify))
        .route("/admin/group/member/get", post(group_admin::member))
        .route("/admin/group/member/quit", post(group_admin::quit))
        .route("/admin/group/manager/set", post(group_admin::set_manager))
        .route("/admin/group/manager/mute", post(group_admin::mute))
        .route("/admin/group/manager/allow", post(group_admin::allow))
        .route("/admin/group/of_user", post(group_admin::of_user))
        .route("/admin/group/of_user_by_type", post(group_admin::of_user))
        .route("/admin/group/common_group", post(group_admin::common))
        .route("/admin/group/member/set_alias", post(group_admin::set_member_alias))
        .route("/admin/group/member/set_extra", post(group_admin::set_member_extra))
        .route("/admin/group/batch_infos", post(group_admin::batch_infos))
        .route("/admin/sensitive/add", post(system::add))
        .route("/admin/sensitive/del", post(system::remove))
        .route("/admin/sensitive/query", post(system::query))
        .route("/admin/system/get_setting", post(system::get_setting))
        .route("/admin/system/put_setting", post(system::put_setting))
        .route("/admin/chatroom/create", post(channels::create_room))
        .route("/admin/chatroom/info", post(channels::room_info))
        .route("/admin/chatroom/del", post(channels::delete_room))
        .route("/admin/chatroom/members", post(room_admin::members))
        .route("/admin/chatroom/user_chatroom", post(room_admin::user_chatroom))
        .route("/admin/chatroom/set_black_status", post(room_admin::set_black_status))
        .route("/admin/chatroom/get_black_status", post(room_admin::get_black_status))
        .route("/admin/chatroom/set_manager", post(room_admin::set_manager))
        .route("/admin/chatroom/get_manager_list", post(room_admin::get_manager_list))
        .route("/admin/chatroom/mute_all", post(room_admin::mute_all))
        .route("/admin/channel/is_subscribed", post(room_admin::is_subscribed))
        .route("/admin/channel/create", post(channels::create_channel))
        .route("/admin/channel/get", post(channels::get_channel))
        .route("/admin/channel/destroy", post(channels::destroy_channel))
        .route("/admin/channel/subscribe", post(channels::subscribe))
        .route("/robot/message/send", post(services::robot_send))
        .route("/robot/message/recall", post(services::robot_recall))
        .route("/robot/message/update", post(services::robot_update))
        .route("/robot/user_info", post(services::user_info))
        .route("/robot/profile", post(services::robot_profile))
        .route("/robot/update_profile", post(services::robot_update_profile))
        .route("/robot/set_callback", post(services::robot_set_callback))
        .route("/robot/get_callback", post(services::robot_get_callback))
        .route("/robot/delete_callback", post(services::robot_delete_callback))
        .route("/robot/group/create", post(services::robot_group_create))
        .route("/robot/group/del", post(services::robot_group_dismiss))
        .route("/robot/group/get_info", post(services::robot_group_info))
        .route("/robot/group/member/list", post(services::robot_group_members))
        .route("/robot/group/member/get", post(services::robot_group_member))
        .route("/robot/group/member/add", post(services::robot_group_add))
        .route("/robot/group/member/del", post(services::robot_group_kick))
        .route("/robot/group/member/quit", post(services::robot_group_quit))
        .route("/robot/group/member/set_alias", post(services::robot_group_member_alias))
        .route("/robot/group/member/set_extra", post(services::robot_group_member_extra))
        .route("/robot/group/modify", post(services::robot_group_modify))
        .route("/robot/group/transfer", post(services::robot_group_transfer))
        .route("/robot/group/manager/set", post(services::robot_group_set_manager))
        .route("/robot/group/manager/mute", post(services::robot_group_mute))
        .route("/robot/group/manager/allow", post(services::robot_group_allow))
        .route("/channel/user_info", post(services::user_info))
        .route("/channel/get_profile", post(services::channel_profile))
        .route("/channel/update_profile", post(services::channel_update))
        .route("/channel/message/send", post(services::channel_send))
        .route("/channel/subscribe", post(services::channel_subscribe))
        .route("/channel/subscriber_list", post(services::channel_subscribers))
        .route("/channel/is_subscriber", post(services::channel_is_subscriber))
        .method_not_allowed_fallback(unknown_call)
        .fallback(unknown_call)
        .with_state(state)
        .layer(axum::Extension(relays))
}

/// An admin path the vendor does not have, or a method it does not take
/// there. The vendor's server answers these with an empty HTTP 500
/// (`UnknownErrorAction`), which its SDKs take as a failure; confab answers
/// 404 (405 for a wrong method) with the vendor's `{code, msg}` and its code
/// 254, so a client sees a failure and why, and nothing is mistaken for success.
async fn unknown_call(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let error::Code(code, msg) = error::NOT_IMPLEMENT;
    let status = match method {
        axum::http::Method::POST => axum::http::StatusCode::NOT_FOUND,
        _ => axum::http::StatusCode::METHOD_NOT_ALLOWED,
    };
    let msg = format!("{msg}: {method} {}", uri.path());
    (status, Json(error::Envelope { code, msg, result: None })).into_response()
}

/// A signed admin request: the app whose secret signed it and the parsed body.
pub struct Admin<T> {
    pub core: Arc<Core>,
    pub app: Arc<App>,
    pub body: T,
}

impl<T: DeserializeOwned> FromRequest<State> for Admin<T> {
    type Rejection = WildfireError;

    async fn from_request(request: Request, state: &State) -> Result<Self, Self::Rejection> {
        // Authenticated first, then charged: a stranger's bad signatures are
        // counted against their address, never against the app's budget.
        let peer = crate::peer_ip(request.extensions());
        if state.limits.failures.blocked(peer) {
            return Err(WildfireError::new(error::OVER_FREQUENCY));
        }
        let app = match auth::authenticate(&state.core, &state.nonces, request.headers()).await {
            Ok(app) => app,
            Err(e) => {
                state.limits.failures.record(peer);
                return Err(e);
            }
        };
        if !state.limits.allow(&app, WILDFIRE_REQUESTS_PER_SECOND, Per::Second, 1) {
            return Err(WildfireError::new(error::OVER_FREQUENCY));
        }
        let bytes =
            axum::body::to_bytes(request.into_body(), BODY_LIMIT).await.map_err(|e| {
                match crate::body_timed_out(&e) {
                    true => WildfireError::invalid("the body did not arrive in time"),
                    false => WildfireError::invalid(format!("the body must be at most {BODY_LIMIT} bytes")),
                }
            })?;
        Ok(Admin { core: state.core.clone(), app, body: parse(&bytes)? })
    }
}

/// A user ID from field `field`, or the vendor's "Invalid parameter" naming it.
pub fn user(raw: &str, field: &str) -> Result<Username, WildfireError> {
    Username::parse(raw).map_err(|e| WildfireError::invalid(format!("{field}: {e}")))
}

fn parse<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, WildfireError> {
    // Calls that take no input may come with no body at all.
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return serde_json::from_slice(b"null").map_err(|_| WildfireError::invalid("a body is required"));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| WildfireError::invalid(e.to_string()))?;
    check_user_ids(&value)?;
    serde_json::from_value(value).map_err(|e| WildfireError::invalid(e.to_string()))
}

/// Refuses a `userId` anywhere in a body that is not a string (or null, the
/// vendor's "absent"): a handler reading it as optional text would otherwise
/// take a number, list or object for a missing ID and act on another user
/// (`user/create` made one up).
fn check_user_ids(value: &Value) -> Result<(), WildfireError> {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                let given = match field {
                    Value::String(_) | Value::Null => None,
                    Value::Number(_) => Some("a number"),
                    Value::Bool(_) => Some("a boolean"),
                    Value::Array(_) => Some("a list"),
                    Value::Object(_) => Some("an object"),
                };
                if let (true, Some(given)) = (key == "userId", given) {
                    return Err(WildfireError::invalid(format!("userId must be a string, not {given}")));
                }
                check_user_ids(field)?;
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(check_user_ids),
        _ => Ok(()),
    }
}

/// A success answer; `result` is left out when there is none, as the vendor does.
pub fn ok(result: Value) -> Response {
    let result = (!result.is_null()).then_some(result);
    Json(error::Envelope { code: 0, msg: "success".to_owned(), result }).into_response()
}
