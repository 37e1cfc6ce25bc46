//! LeanCloud's error body `{code, error}` with an HTTP status: the storage
//! API's general codes (401, 403, 107, 101, 1) and the RTM 4xxx codes where
//! one names the failure (docs/research/leancloud-rtm.md, section 2).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use confab_core::error::{Error, Refusal};

#[derive(Debug)]
pub struct LcError {
    pub status: StatusCode,
    pub code: i64,
    pub error: String,
}

/// The vendor's error body, as it goes on the wire (and into the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = LeanCloudError)]
pub struct ErrorBody {
    /// LeanCloud's error code, such as 4303 (no such conversation) or 401.
    pub code: i64,
    pub error: String,
}

/// RTM codes.
pub const CONVERSATION_NOT_FOUND: i64 = 4303;
pub const CONVERSATION_FULL: i64 = 4304;
pub const INVALID_MESSAGING_TARGET: i64 = 4401;
pub const MESSAGE_NOT_FOUND: i64 = 4404;
pub const UNKNOWN_CONVERSATION_ROLE: i64 = 4321;
pub const BLACKLIST_FULL: i64 = 4543;
pub const SILENCED_LIST_FULL: i64 = 4561;
pub const SILENCED: i64 = 4563;

impl LcError {
    pub fn new(status: StatusCode, code: i64, error: impl Into<String>) -> LcError {
        LcError { status, code, error: error.into() }
    }

    pub fn unauthorized() -> LcError {
        LcError::new(StatusCode::UNAUTHORIZED, 401, "Unauthorized.")
    }

    pub fn forbidden(why: impl Into<String>) -> LcError {
        LcError::new(StatusCode::FORBIDDEN, 403, why)
    }

    pub fn malformed() -> LcError {
        LcError::new(StatusCode::BAD_REQUEST, 107, "Malformed json object. A json dictionary is expected.")
    }

    /// A missing or wrong parameter (the vendor's catch-all code 1, with what was wrong).
    pub fn invalid(why: impl Into<String>) -> LcError {
        LcError::new(StatusCode::BAD_REQUEST, 1, why)
    }

    pub fn conversation_not_found(id: &str) -> LcError {
        LcError::new(StatusCode::NOT_FOUND, CONVERSATION_NOT_FOUND, format!("Conversation {id} not found."))
    }

    pub fn message_not_found(id: &str) -> LcError {
        LcError::new(StatusCode::NOT_FOUND, MESSAGE_NOT_FOUND, format!("Message {id} not found."))
    }

    pub fn too_many_requests() -> LcError {
        LcError::new(StatusCode::TOO_MANY_REQUESTS, 429, "Too many requests.")
    }
}

impl IntoResponse for LcError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(ErrorBody { code: self.code, error: self.error })).into_response()
    }
}

impl From<Error> for LcError {
    fn from(e: Error) -> LcError {
        match e {
            Error::InvalidArgument(m) => LcError::invalid(m),
            Error::TooLarge(m) => LcError::new(StatusCode::PAYLOAD_TOO_LARGE, 413, m),
            Error::NotFound(m) => LcError::new(StatusCode::NOT_FOUND, 101, m),
            Error::Duplicate(m) => LcError::new(StatusCode::BAD_REQUEST, 137, m),
            Error::Forbidden(m) => LcError::new(StatusCode::FORBIDDEN, SILENCED, m),
            Error::Refused(r) if r.why == Refusal::SensitiveWords => LcError::forbidden(r.to_string()),
            // The app's `_messageReceived` hook dropped it: the vendor's MESSAGE_REJECTED_BY_APP.
            Error::Refused(r) if r.why == Refusal::ByAppServer => {
                LcError::new(StatusCode::FORBIDDEN, 4402, r.detail.clone().unwrap_or_else(|| r.to_string()))
            }
            Error::Refused(r) if r.why == Refusal::Full => {
                LcError::new(StatusCode::BAD_REQUEST, CONVERSATION_FULL, r.to_string())
            }
            Error::Refused(r) => LcError::new(StatusCode::FORBIDDEN, SILENCED, r.to_string()),
            Error::LimitExceeded(m) => LcError::new(StatusCode::BAD_REQUEST, CONVERSATION_FULL, m),
            Error::Deactivated(m) => LcError::forbidden(m),
            Error::ReceiverOffline(m) => LcError::invalid(m),
            Error::Unauthenticated(_) => LcError::unauthorized(),
            Error::Storage(m) => {
                tracing::error!("leancloud call failed: {m}");
                LcError::new(StatusCode::INTERNAL_SERVER_ERROR, 1, "Internal server error. No information available.")
            }
            Error::Unavailable => LcError::new(StatusCode::SERVICE_UNAVAILABLE, 503, "The server is shutting down."),
        }
    }
}
