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
    /// Valid credentials, but not allowed to do this. The core's own rules
    /// answer [`Error::Refused`]; this is for a dialect's own refusals.
    Forbidden(String),
    /// A documented cap (members of a group, entries of a list) would be exceeded.
    LimitExceeded(String),
    /// The user account is deactivated.
    Deactivated(String),
    /// `ROUTE_ONLINE` delivery was asked for and the receiver is not connected.
    ReceiverOffline(String),
    /// A rule refused the request; dialects word each refusal their vendor's way.
    Refused(Refused),
    /// Storage or the bus between nodes failed; the operation had no effect.
    Storage(String),
    /// The server is shutting down.
    Unavailable,
}

/// Why one key of a chat-room attribute call was refused; dialects word it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    /// Another member holds the key, and the call was not forced.
    HeldByOther,
    /// The room holds as many keys as it may.
    RoomFull { max: usize },
    /// No such key (on removal).
    Missing,
}

/// Keys refused by a change of room attributes, with the reason.
pub type RefusedKeys = Vec<(String, KeyRefusal)>;

/// Why a rule refused a request (or one user of it). Produced once, by the
/// core's rules and the storage engines; each dialect words it its vendor's
/// way ([`Refused`]'s `Display` is the core's own wording).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A user's own message contains one of the app's sensitive words.
    SensitiveWords,
    /// The user is a member already.
    AlreadyMember,
    /// The user is on the group's or room's block list.
    Blocked,
    /// The receiver blocked the sender.
    BlockedByReceiver,
    /// The user is not a member (of the group, or of a thread's parent).
    NotMember,
    /// The owner cannot be that (removed, listed, made an admin).
    IsOwner,
    /// The new owner owns the group already.
    AlreadyOwner,
    AlreadyAdmin,
    NotAdmin,
    /// The user is not on the list being changed.
    NotOnList,
    /// The user left a thread and keeps out of it.
    KeepsOut,
    /// The sender is muted in the group (`place`).
    Muted,
    /// Everyone in the group is muted.
    AllMuted,
    /// Only the channel's owner speaks in it.
    OwnerSpeaksOnly,
    /// The sender is muted app-wide in one kind of conversation (`place`
    /// names the kind).
    MutedGlobally,
    /// The group or room has as many members as it may (`place`).
    Full,
    /// Only a message's sender may change it.
    NotSender,
    /// The message was edited as often as a message may be.
    EditLimit,
    /// The message's kind cannot be edited (or not into that kind).
    NotEditable,
    /// The app's own server refused the message (its pre-send callback);
    /// `detail` holds its words, if it gave any.
    ByAppServer,
}

/// A refusal with whom and where it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub why: Refusal,
    pub user: Option<String>,
    /// The group, room, channel or thread (or, for [`Refusal::MutedGlobally`], the kind).
    pub place: Option<String>,
    /// Words from outside the core that go with the refusal (the app's
    /// server's, for [`Refusal::ByAppServer`]).
    pub detail: Option<String>,
}

impl Refused {
    pub fn new(why: Refusal) -> Refused {
        Refused { why, user: None, place: None, detail: None }
    }

    /// The refusal of `user`.
    pub fn of(why: Refusal, user: impl fmt::Display) -> Refused {
        Refused { why, user: Some(user.to_string()), place: None, detail: None }
    }

    /// The same, in `place`.
    pub fn at(self, place: impl fmt::Display) -> Refused {
        Refused { place: Some(place.to_string()), ..self }
    }

    /// The same, with words from outside the core.
    pub fn with_detail(self, detail: Option<String>) -> Refused {
        Refused { detail, ..self }
    }
}

impl From<Refused> for Error {
    fn from(refused: Refused) -> Error {
        Error::Refused(refused)
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = self.user.as_deref().unwrap_or("the user");
        let place = self.place.as_deref().unwrap_or("it");
        match (self.why, self.place.is_some()) {
            (Refusal::SensitiveWords, _) => f.write_str("the message contains a sensitive word"),
            (Refusal::AlreadyMember, _) => write!(f, "user {user} is already a member"),
            (Refusal::Blocked, true) => write!(f, "user {user} is blocked in {place}"),
            (Refusal::Blocked, false) => write!(f, "user {user} is blocked"),
            (Refusal::BlockedByReceiver, _) => write!(f, "user {user} is blocked by the receiver"),
            (Refusal::NotMember, true) => write!(f, "user {user} is not a member of {place}"),
            (Refusal::NotMember, false) => write!(f, "user {user} is not a member"),
            (Refusal::IsOwner, _) => write!(f, "user {user} is the owner"),
            (Refusal::AlreadyOwner, _) => write!(f, "user {user} is already the owner"),
            (Refusal::AlreadyAdmin, _) => write!(f, "user {user} is already an admin"),
            (Refusal::NotAdmin, _) => write!(f, "user {user} is not an admin"),
            (Refusal::NotOnList, _) => write!(f, "user {user} is not on the list"),
            (Refusal::KeepsOut, _) => write!(f, "user {user} keeps out of {place}"),
            (Refusal::Muted, _) => write!(f, "user {user} is muted in {place}"),
            (Refusal::AllMuted, _) => write!(f, "all members of {place} are muted"),
            (Refusal::OwnerSpeaksOnly, _) => write!(f, "only the owner of channel {place} speaks in it"),
            (Refusal::MutedGlobally, _) => write!(f, "user {user} is muted in {place} conversations"),
            (Refusal::Full, true) => write!(f, "{place} is full"),
            (Refusal::Full, false) => f.write_str("the group is full"),
            (Refusal::NotSender, _) => write!(f, "user {user} did not send the message"),
            (Refusal::EditLimit, _) => f.write_str("the message was edited as often as it may be"),
            (Refusal::NotEditable, _) => {
                f.write_str("only text and custom messages can be edited, each into its own kind")
            }
            (Refusal::ByAppServer, _) => match self.detail.as_deref() {
                Some(detail) if !detail.is_empty() => write!(f, "the app's server refused the message: {detail}"),
                _ => f.write_str("the app's server refused the message"),
            },
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
            Error::Refused(refused) => refused.fmt(f),
            Error::Unavailable => f.write_str("server is shutting down"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
