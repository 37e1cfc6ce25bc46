//! The vendor's answer to a failed call: HTTP 200 (its SDKs treat anything
//! else as a transport failure) with `{code, msg}`, codes from its `ErrorCode`.

use axum::response::{IntoResponse, Response};
use axum::Json;

use confab_core::error::{Error, Refusal};

/// A vendor error code and its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code(pub i64, pub &'static str);

pub const SERVER_ERROR: Code = Code(4, "server error");
pub const INVALID_MESSAGE: Code = Code(10, "invalid message");
pub const GROUP_ALREADY_EXIST: Code = Code(11, "group already exist");
pub const ALREADY_FRIENDS: Code = Code(23, "already friends");
pub const SENSITIVE_MATCHED: Code = Code(242, "sensitive matched");
pub const IN_BLACK_LIST: Code = Code(246, "user in black list");
pub const API_NOT_SIGNED: Code = Code(239, "api not signed or sign parameter not completion");
pub const GROUP_EXCEED_MAX_MEMBER_COUNT: Code = Code(240, "group exceed max member count");
pub const SIGN_EXPIRED: Code = Code(243, "sign expired");
pub const AUTH_FAILURE: Code = Code(244, "auth failure");
pub const NOT_RIGHT: Code = Code(248, "no right to operate");
pub const OVER_FREQUENCY: Code = Code(250, "over frequency");
pub const INVALID_PARAMETER: Code = Code(251, "Invalid parameter");
pub const NOT_EXIST: Code = Code(253, "not exist");
pub const NOT_IMPLEMENT: Code = Code(254, "not implement");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WildfireError {
    pub code: Code,
    /// What exactly was wrong, after the vendor's message.
    pub detail: Option<String>,
}

impl WildfireError {
    pub fn new(code: Code) -> WildfireError {
        WildfireError { code, detail: None }
    }

    pub fn invalid(detail: impl Into<String>) -> WildfireError {
        WildfireError { code: INVALID_PARAMETER, detail: Some(detail.into()) }
    }

    pub fn not_exist(detail: impl Into<String>) -> WildfireError {
        WildfireError { code: NOT_EXIST, detail: Some(detail.into()) }
    }
}

/// Every answer of the vendor's admin API, success or not: `{code, msg, result?}`
/// (the type the dialect renders with, and the OpenAPI document's schema).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = WildfireResult)]
pub struct Envelope {
    /// 0 for success; otherwise the vendor's error code.
    pub code: i64,
    pub msg: String,
    /// What the call answers, when it answers something.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub result: Option<serde_json::Value>,
}

impl IntoResponse for WildfireError {
    fn into_response(self) -> Response {
        let Code(code, msg) = self.code;
        let msg = match self.detail {
            Some(detail) => format!("{msg}: {detail}"),
            None => msg.to_owned(),
        };
        Json(Envelope { code, msg, result: None }).into_response()
    }
}

impl From<Error> for WildfireError {
    fn from(e: Error) -> WildfireError {
        let (code, detail) = match e {
            Error::InvalidArgument(m) | Error::TooLarge(m) => (INVALID_PARAMETER, m),
            Error::NotFound(m) => (NOT_EXIST, m),
            Error::Duplicate(m) => (GROUP_ALREADY_EXIST, m),
            Error::Forbidden(m) | Error::Deactivated(m) | Error::ReceiverOffline(m) => (NOT_RIGHT, m),
            Error::LimitExceeded(m) => (GROUP_EXCEED_MAX_MEMBER_COUNT, m),
            Error::Unauthenticated(_) => (AUTH_FAILURE, String::new()),
            Error::Storage(m) => {
                tracing::warn!("wildfire call failed: {m}");
                (SERVER_ERROR, String::new())
            }
            // The vendor's remote censor answers 403 for a message it blocks: 242.
            Error::Refused(r) if matches!(r.why, Refusal::SensitiveWords | Refusal::ByAppServer) => {
                (SENSITIVE_MATCHED, r.detail.clone().unwrap_or_default())
            }
            Error::Refused(r) if r.why == Refusal::Full => (GROUP_EXCEED_MAX_MEMBER_COUNT, r.to_string()),
            Error::Refused(r) => (NOT_RIGHT, r.to_string()),
            Error::Unavailable => (SERVER_ERROR, String::new()),
        };
        WildfireError { code, detail: (!detail.is_empty()).then_some(detail) }
    }
}
