//! The vendor's error codes (`src/error.js` of its SDK) and the `error`
//! commands that carry them to the client.

use super::proto::{CommandType, ErrorCommand, GenericCommand};

/// The vendor's error codes (`src/error.js` of the SDK).
pub(super) mod code {
    pub const APP_NOT_AVAILABLE: i32 = 4100;
    pub const SIGNATURE_FAILED: i32 = 4102;
    pub const INVALID_LOGIN: i32 = 4103;
    pub const SESSION_REQUIRED: i32 = 4105;
    pub const SESSION_CONFLICT: i32 = 4111;
    pub const SESSION_TOKEN_EXPIRED: i32 = 4112;
    pub const MESSAGE_SENT_QUOTA_EXCEEDED: i32 = 4116;
    pub const INTERNAL_ERROR: i32 = 4200;
    pub const CONVERSATION_API_FAILED: i32 = 4301;
    pub const CONVERSATION_NOT_FOUND: i32 = 4303;
    pub const CONVERSATION_REJECTED_BY_APP: i32 = 4305;
    pub const CONVERSATION_FULL: i32 = 4304;
    pub const CONVERSATION_UPDATE_REJECTED: i32 = 4309;
    pub const CONVERSATION_QUERY_FAILED: i32 = 4310;
    pub const CONVERSATION_LOG_REJECTED: i32 = 4312;
    pub const INVALID_MESSAGING_TARGET: i32 = 4401;
    pub const MESSAGE_OWNERSHIP_REQUIRED: i32 = 4403;
    pub const MESSAGE_NOT_FOUND: i32 = 4404;
    pub const MESSAGE_REJECTED_BY_APP: i32 = 4402;
    pub const MESSAGE_UPDATE_REJECTED_BY_APP: i32 = 4405;
    /// A frame or message over the size limit (the SDK's FRAME_TOO_LONG).
    pub const MESSAGE_TOO_LONG: i32 = 4109;
    /// An operator or the app closed the session (the vendor's KICKED_BY_APP).
    pub const KICKED_BY_APP: i32 = 4115;
    /// The client sent a command this server does not serve.
    pub const UNSUPPORTED: i32 = 4200;
}

/// The app's server rejected a conversation change: 4305, with its code and words.
pub(super) fn rejected_by_app(i: Option<i32>, (app_code, detail): (Option<i32>, String)) -> GenericCommand {
    GenericCommand {
        cmd: Some(CommandType::Error as i32),
        i,
        error_message: Some(ErrorCommand {
            code: code::CONVERSATION_REJECTED_BY_APP,
            reason: detail.clone(),
            app_code,
            app_msg: Some(detail),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(super) fn error_command(i: Option<i32>, code: i32, reason: &str) -> GenericCommand {
    GenericCommand {
        cmd: Some(CommandType::Error as i32),
        i,
        error_message: Some(ErrorCommand { code, reason: reason.to_owned(), ..Default::default() }),
        ..Default::default()
    }
}
