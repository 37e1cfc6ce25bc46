//! The core's error type. Dialects map each variant to their own status
//! codes and envelopes; the core never decides how an error looks on a wire.

use std::fmt;

/// What went wrong, in domain terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The request is malformed or breaks a documented rule.
    InvalidArgument(String),
    /// A request or message is larger than a documented limit.
    TooLarge(String),
    /// The named thing does not exist (in this app).
    NotFound(String),
    /// A unique name is already taken.
    Duplicate(String),
    /// Credentials (token, password, client secret) were missing, wrong or expired.
    Unauthenticated(AuthFailure),
    /// Valid credentials, but not allowed to do this.
    Forbidden(String),
    /// A documented cap (members of a group, entries of a list) would be exceeded.
    LimitExceeded(String),
    /// The user account is deactivated.
    Deactivated(String),
    /// `ROUTE_ONLINE` delivery was asked for and the receiver is not connected.
    ReceiverOffline(String),
    /// A rule of the app refused the request; dialects word each refusal
    /// their vendor's way.
    Refused(Refusal),
    /// Storage or the bus between nodes failed; the operation had no effect.
    Storage(String),
    /// The server is shutting down.
    Unavailable,
}

/// Why a rule refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A user's own message contains one of the app's sensitive words.
    SensitiveWords,
}

impl Refusal {
    fn describe(self) -> &'static str {
        match self {
            Refusal::SensitiveWords => "the message contains a sensitive word",
        }
    }
}

/// Why authentication failed; dialects report these differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    MissingToken,
    BadToken,
    ExpiredToken,
    /// A user token was presented where an app token is required, or the reverse.
    WrongTokenKind,
    BadClientCredentials,
    BadPassword,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(m)
            | Error::TooLarge(m)
            | Error::NotFound(m)
            | Error::Duplicate(m)
            | Error::Forbidden(m)
            | Error::LimitExceeded(m)
            | Error::Deactivated(m)
            | Error::ReceiverOffline(m)
            | Error::Storage(m) => f.write_str(m),
            Error::Unauthenticated(why) => write!(f, "unauthenticated: {why:?}"),
            Error::Refused(why) => f.write_str(why.describe()),
            Error::Unavailable => f.write_str("server is shutting down"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
