//! Easemob's error body: `{error, exception, timestamp, duration,
//! error_description}` (plus `error_code` on message-send errors), with the
//! HTTP status the vendor uses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use confab_core::error::{AuthFailure, Error, Refusal};

#[derive(Debug)]
pub struct EasemobError {
    pub status: StatusCode,
    pub error: &'static str,
    pub exception: &'static str,
    pub description: String,
    pub code: Option<u32>,
}

const ILLEGAL_ARGUMENT: &str = "java.lang.IllegalArgumentException";
const SECURITY: &str = "org.apache.usergrid.rest.exceptions.SecurityException";

impl EasemobError {
    pub fn new(
        status: StatusCode,
        error: &'static str,
        exception: &'static str,
        description: impl Into<String>,
    ) -> Self {
        EasemobError { status, error, exception, description: description.into(), code: None }
    }

    pub fn illegal_argument(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "illegal_argument", ILLEGAL_ARGUMENT, description)
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "service_resource_not_found",
            "org.apache.usergrid.services.exceptions.ServiceResourceNotFoundException",
            "Service resource not found",
        )
    }

    /// A request body that is not the JSON the endpoint expects.
    pub fn invalid_body(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_body",
            "InvalidRequestBodyException",
            format!("Request body is invalid. Please check body is correct. ({detail})"),
        )
    }

    pub fn json_parse(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "json_parse",
            "com.fasterxml.jackson.core.JsonParseException",
            detail.to_string(),
        )
    }

    pub fn too_large(size: usize, limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_entity_too_large",
            "RequestEntityTooLargeException",
            format!("Request Entity Too Large: the body is over {limit} bytes ({size} read)"),
        )
    }

    /// A message-send failure, with the vendor's numeric code where it has one.
    pub fn send(description: impl Into<String>, code: Option<u32>) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "message_send_error", "MessageSendException", description);
        e.code = code;
        e
    }

    pub fn unauthorized(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", SECURITY, description)
    }

    pub fn app_not_found(org: &str, app: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "organization_application_not_found",
            "org.apache.usergrid.rest.exceptions.OrganizationApplicationNotFoundException",
            format!("Could not find application for {org}/{app} from URI: {org}/{app}"),
        )
    }
}

impl From<Error> for EasemobError {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidArgument(m) => Self::illegal_argument(m),
            Error::TooLarge(m) => Self::send(m, Some(14007)),
            Error::NotFound(_) => Self::not_found(),
            Error::Duplicate(m) => Self::new(
                StatusCode::BAD_REQUEST,
                "duplicate_unique_property_exists",
                "org.apache.usergrid.persistence.exceptions.DuplicateUniquePropertyExistsException",
                m,
            ),
            Error::Unauthenticated(why) => match why {
                AuthFailure::MissingToken | AuthFailure::ExpiredToken => {
                    Self::unauthorized("Unable to authenticate due to expired access token")
                }
                AuthFailure::BadToken => Self::new(
                    StatusCode::UNAUTHORIZED,
                    "auth_bad_access_token",
                    SECURITY,
                    "Unable to authenticate due to corrupt access token",
                ),
                AuthFailure::WrongTokenKind => Self::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "org.apache.shiro.authz.UnauthorizedException",
                    "Subject does not have permission",
                ),
                AuthFailure::BadClientCredentials => Self::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    SECURITY,
                    "client_id or client_secret does not match",
                ),
                AuthFailure::BadPassword => {
                    Self::new(StatusCode::BAD_REQUEST, "invalid_grant", SECURITY, "invalid password")
                }
            },
            Error::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, "forbidden_op", "EasemobForbiddenOpException", m),
            // The vendor's words for a full group or room.
            Error::Refused(r) if r.why == Refusal::Full => Self::new(
                StatusCode::FORBIDDEN,
                "exceed_limit",
                "ExceedLimitException",
                "members size is greater than max user size !",
            ),
            // The app's pre-send callback said `valid: false`; its `code` is the description.
            Error::Refused(r) if r.why == Refusal::ByAppServer => Self::new(
                StatusCode::FORBIDDEN,
                "forbidden_op",
                "EasemobForbiddenOpException",
                r.detail.unwrap_or_else(|| "custom logic denied".into()),
            ),
            e @ Error::Refused(_) => {
                Self::new(StatusCode::FORBIDDEN, "forbidden_op", "EasemobForbiddenOpException", e.to_string())
            }
            Error::LimitExceeded(m) => Self::new(StatusCode::FORBIDDEN, "exceed_limit", "ExceedLimitException", m),
            Error::Deactivated(m) => Self::unauthorized(m),
            Error::ReceiverOffline(m) => Self::send(m, None),
            Error::Storage(m) => {
                tracing::error!("storage failure: {m}");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "InternalServerErrorException",
                    "internal error",
                )
            }
            Error::Unavailable => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "ServiceUnavailableException",
                "the server is shutting down",
            ),
        }
    }
}

/// The vendor's error body, as it goes on the wire (and into the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = EasemobError)]
pub struct ErrorBody {
    /// A short code such as `illegal_argument` or `unauthorized`.
    pub error: &'static str,
    /// The Java exception the vendor names, such as `java.lang.IllegalArgumentException`.
    pub exception: &'static str,
    /// Unix milliseconds.
    pub timestamp: i64,
    pub duration: i64,
    pub error_description: String,
    /// A numeric code, on the errors the vendor numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
}

impl IntoResponse for EasemobError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.error,
            exception: self.exception,
            timestamp: super::now_ms(),
            duration: 0,
            error_description: self.description,
            error_code: self.code.map(i64::from),
        };
        (self.status, axum::Json(body)).into_response()
    }
}
