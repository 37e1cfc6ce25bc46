//! Domain types shared by every dialect and every storage engine.
//!
//! Over 600 lines, and kept whole for now: it is plain data (types, their
//! parsing and validation), read by type rather than top to bottom. Its seam
//! is known (identities, bodies and messages, groups, profiles and
//! settings). Message types carry no serde derives: their stored and
//! spoken shapes are `confab-wire`'s.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::ids::MessageId;

/// Database identity of an app (tenant). Every query is scoped by it, which
/// is what keeps one app's data invisible to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AppId(pub i64);

/// An app (tenant): owns users, conversations and messages.
#[derive(Clone)]
pub struct App {
    pub id: AppId,
    /// Stable public identifier (Easemob's `application` field).
    pub uuid: String,
    pub org: String,
    pub name: String,
    pub client_id: String,
    pub client_secret: String,
    /// Key that signs this app's tokens; never leaves the server.
    pub signing_key: Vec<u8>,
    pub created_ms: i64,
    /// Per-app overrides of the server's rate limits, by limit name.
    pub rate_limits: BTreeMap<String, u32>,
    /// Other dialects' credentials for this app, by name (`wildfire.secret`).
    pub credentials: BTreeMap<String, String>,
}

impl fmt::Debug for App {
    // Secrets stay out of logs even when an `App` is debug-printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("id", &self.id)
            .field("uuid", &self.uuid)
            .field("org", &self.org)
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// A name for an org or an app: 1 to 64 of `a-z A-Z 0-9 _ -`.
pub fn validate_tenant_name(kind: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!("{kind} name [{name}] is not legal")))
    }
}

/// A user ID exactly as the app named it.
///
/// The core's rule is the loosest of the vendors' (LeanCloud client IDs): 1 to
/// 64 characters, none of them a control character, kept case-sensitively, so
/// `BillGates` and `billgates` are two users and e-mail addresses, phone
/// numbers and CJK names are IDs. Control characters are refused because the
/// core builds conversation keys with `\u{1f}` between IDs.
///
/// Dialects apply their vendor's stricter rules at the edge before calling
/// the core: Easemob folds case and allows fewer characters
/// ([`Username::easemob`]); LeanCloud and WildfireChat use [`Username::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl TryFrom<String> for Username {
    type Error = Error;

    fn try_from(raw: String) -> Result<Username> {
        if Username::is_legal(&raw) {
            Ok(Username(raw))
        } else {
            Err(Username::illegal(&raw))
        }
    }
}

impl From<Username> for String {
    fn from(name: Username) -> String {
        name.0
    }
}

impl Username {
    /// In characters, not bytes: a CJK name of 64 characters is legal.
    pub const MAX_LEN: usize = 64;

    /// The core's rule, case-preserving (see the type's documentation).
    pub fn parse(raw: &str) -> Result<Username> {
        if Self::is_legal(raw) {
            Ok(Username(raw.to_owned()))
        } else {
            Err(Self::illegal(raw))
        }
    }

    /// Easemob's rule: user IDs are case-insensitive and stored lower-cased,
    /// at most 64 of `a-z 0-9 _ - .` once folded. A user another dialect
    /// created with other characters (`BillGates`, `a@b.c`) cannot be named
    /// through the Easemob dialect; it appears there as it is spelled.
    pub fn easemob(raw: &str) -> Result<Username> {
        let lowered = raw.to_ascii_lowercase();
        let ok = !lowered.is_empty()
            && lowered.len() <= Self::MAX_LEN
            && lowered.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.'));
        if ok {
            Ok(Username(lowered))
        } else {
            Err(Self::illegal(raw))
        }
    }

    fn is_legal(raw: &str) -> bool {
        !raw.is_empty() && raw.chars().count() <= Self::MAX_LEN && !raw.chars().any(char::is_control)
    }

    fn illegal(raw: &str) -> Error {
        // The ID may itself hold what makes it illegal: show it escaped.
        Error::InvalidArgument(format!("username [{}] is not legal", raw.escape_debug()))
    }

    /// The pseudo-user that server-side sends come from when no sender is named.
    pub fn admin() -> Username {
        Username("admin".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user account of an app.
#[derive(Debug, Clone)]
pub struct User {
    pub app: AppId,
    pub username: Username,
    pub uuid: String,
    pub nickname: Option<String>,
    pub activated: bool,
    /// Bumped whenever credentials change; tokens carry it so that a
    /// password change or re-registration invalidates older tokens.
    pub credential_generation: i64,
    pub created_ms: i64,
    pub modified_ms: i64,
    /// Profile attributes by name: Easemob's user attributes (`nickname`,
    /// `avatarurl`, `phone`, …), which WildfireChat's profile fields map onto.
    pub attributes: BTreeMap<String, String>,
    pub push: PushSettings,
}

/// How offline-push notices for a user look, and when they stay silent
/// (the edge's push worker reads them for each receiver).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSettings {
    /// 0: "you have a new message"; 1: with the sender and the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_style: Option<u8>,
    /// Do not disturb, between two whole hours of the day (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_disturb: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_disturb_start: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_disturb_end: Option<u8>,
}

/// A change to a user's profile; what is `None` stays as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub nickname: Option<Option<String>>,
    pub attributes: Option<AttributeChange>,
    pub push: Option<PushSettings>,
}

/// How a profile change treats the attributes.
#[derive(Debug, Clone)]
pub enum AttributeChange {
    /// These keys are set, the others kept; the result must serialise to at
    /// most `max_bytes` of JSON.
    Merge { set: BTreeMap<String, String>, max_bytes: usize },
    /// These become the attributes, whatever was there.
    Replace { set: BTreeMap<String, String>, max_bytes: usize },
    /// All attributes removed.
    Clear,
}

impl AttributeChange {
    /// The attributes after the change, applied by the storage engine to
    /// what it holds under the user's lock.
    pub fn apply(&self, current: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
        match self {
            AttributeChange::Clear => Ok(BTreeMap::new()),
            AttributeChange::Merge { set, max_bytes } | AttributeChange::Replace { set, max_bytes } => {
                let mut merged = match self {
                    AttributeChange::Merge { .. } => current.clone(),
                    _ => BTreeMap::new(),
                };
                merged.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
                let size = attributes_size(&merged);
                if size > *max_bytes {
                    return Err(Error::LimitExceeded(format!(
                        "size of metadata for this single user exceeds the user defined limit, {max_bytes}Bytes"
                    )));
                }
                Ok(merged)
            }
        }
    }
}

/// Bytes the attributes take, counted as their JSON text (as the vendor does).
pub fn attributes_size(attributes: &BTreeMap<String, String>) -> usize {
    if attributes.is_empty() {
        return 0;
    }
    serde_json::to_string(attributes).map_or(0, |s| s.len())
}

/// A stored user with its password hash; only the user service sees this.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub user: User,
    pub password_hash: String,
}

/// Database identity of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConversationId(pub i64);

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What kind of conversation a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatType {
    /// One-to-one.
    Chat,
    GroupChat,
    ChatRoom,
    /// A thread under a group message: its own members and messages.
    Thread,
    /// One sender's messages to many users at once (WildfireChat's multicast
    /// and broadcast): stored once, each receiver a member. A message names
    /// its receivers, or goes to every member.
    Broadcast,
    /// A group whose members subscribe to hear its owner (WildfireChat's
    /// channels): messages reach every subscriber, live and offline.
    Channel,
}

impl ChatType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatType::Chat => "chat",
            ChatType::GroupChat => "groupchat",
            ChatType::ChatRoom => "chatroom",
            ChatType::Thread => "thread",
            ChatType::Broadcast => "broadcast",
            ChatType::Channel => "channel",
        }
    }

    pub fn code(self) -> i64 {
        match self {
            ChatType::Chat => 0,
            ChatType::GroupChat => 1,
            ChatType::ChatRoom => 2,
            ChatType::Thread => 3,
            ChatType::Broadcast => 4,
            ChatType::Channel => 5,
        }
    }

    pub fn from_code(code: i64) -> Option<ChatType> {
        match code {
            0 => Some(ChatType::Chat),
            1 => Some(ChatType::GroupChat),
            2 => Some(ChatType::ChatRoom),
            3 => Some(ChatType::Thread),
            4 => Some(ChatType::Broadcast),
            5 => Some(ChatType::Channel),
            _ => None,
        }
    }
}

/// The key that names a one-to-one conversation: the two user IDs in order,
/// so that A→B and B→A land in the same conversation.
pub fn direct_conversation_key(a: &Username, b: &Username) -> String {
    if a <= b {
        format!("{a}\u{1f}{b}")
    } else {
        format!("{b}\u{1f}{a}")
    }
}

/// The key of a one-to-one conversation on a `line`: WildfireChat lets two
/// users hold parallel conversations, told apart by a line number. Line 0 is
/// the conversation every other dialect sees.
pub fn direct_conversation_key_on_line(a: &Username, b: &Username, line: u32) -> String {
    let key = direct_conversation_key(a, b);
    if line == 0 {
        key
    } else {
        format!("{key}\u{1f}{line}")
    }
}

/// The key of a sender's broadcast conversation on a line.
pub fn broadcast_conversation_key(from: &Username, line: u32) -> String {
    format!("{from}\u{1f}{line}")
}

/// A latitude or longitude: the vendor's documents show strings, its SDKs send
/// numbers; both are accepted and kept as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Coordinate {
    Text(String),
    Number(serde_json::Number),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImageSize {
    // Numbers are kept as written (480 stays 480, not 480.0).
    pub width: serde_json::Number,
    pub height: serde_json::Number,
}

/// A message's content. Field names follow the Easemob vocabulary because it
/// is the richest of the three clouds; other dialects map onto it.
///
/// Every field the vendor documents for a body, on sends or in its history
/// records (`file_length` and the like), is a field here, kept and returned
/// as given, so what an export wrote imports again. Fields it does not
/// document are refused rather than silently dropped.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Text {
        msg: String,
    },
    Image {
        filename: String,
        secret: Option<String>,
        size: ImageSize,
        url: String,
        /// Bytes of the attachment (history records carry it).
        file_length: Option<u64>,
    },
    Audio {
        filename: String,
        secret: Option<String>,
        length: u64,
        url: String,
        file_length: Option<u64>,
    },
    Video {
        thumb: String,
        length: u64,
        secret: Option<String>,
        file_length: u64,
        thumb_secret: Option<String>,
        url: String,
        /// The file's name and the thumbnail's size, which history records carry.
        filename: Option<String>,
        size: Option<ImageSize>,
    },
    File {
        filename: String,
        secret: Option<String>,
        url: String,
        file_length: Option<u64>,
    },
    Location {
        lat: Coordinate,
        lng: Coordinate,
        addr: String,
    },
    Command {
        action: String,
    },
    Custom {
        custom_event: Option<String>,
        custom_exts: Option<serde_json::Map<String, serde_json::Value>>,
    },
}

impl Body {
    /// The attachment's URL and secret, for bodies that carry a file.
    pub fn attachment_mut(&mut self) -> Option<(&mut String, &mut Option<String>)> {
        match self {
            Body::Image { url, secret, .. }
            | Body::Audio { url, secret, .. }
            | Body::Video { url, secret, .. }
            | Body::File { url, secret, .. } => Some((url, secret)),
            _ => None,
        }
    }

    /// Maximum entries in a custom message's `customExts`.
    pub const MAX_CUSTOM_EXTS: usize = 16;

    /// The wire name of the body's type (`txt`, `img`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Body::Text { .. } => "txt",
            Body::Image { .. } => "img",
            Body::Audio { .. } => "audio",
            Body::Video { .. } => "video",
            Body::File { .. } => "file",
            Body::Location { .. } => "loc",
            Body::Command { .. } => "cmd",
            Body::Custom { .. } => "custom",
        }
    }

    /// Checks the rules that a structurally valid body can still break.
    pub fn validate(&self) -> Result<()> {
        let Body::Custom { custom_event, custom_exts } = self else {
            return Ok(());
        };
        if let Some(event) = custom_event {
            if !custom_event_pattern().is_match(event) {
                return Err(Error::InvalidArgument(format!(
                    "customEvent [{event}] must match [a-zA-Z0-9-_/\\.]{{1,32}}"
                )));
            }
        }
        if let Some(exts) = custom_exts {
            if exts.len() > Self::MAX_CUSTOM_EXTS {
                return Err(Error::InvalidArgument(format!(
                    "customExts has {} entries, at most {} are allowed",
                    exts.len(),
                    Self::MAX_CUSTOM_EXTS
                )));
            }
        }
        Ok(())
    }
}

fn custom_event_pattern() -> &'static regex::Regex {
    static PATTERN: OnceLock<regex::Regex> = OnceLock::new();
    PATTERN.get_or_init(|| regex::Regex::new(r"^[a-zA-Z0-9\-_/.]{1,32}$").expect("valid regex"))
}

/// Who a message is addressed to, and how it travels.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Echo the message to the sender's other devices.
    pub sync_sender: bool,
    /// Only store and deliver when the receiver is connected.
    pub online_only: bool,
    /// When it was sent, for imported history (now when `None`). Imported
    /// history is not a new message from its sender: blocks and mutes do
    /// not apply to it.
    pub sent_at: Option<i64>,
}

/// A message's content as the dialect that took it received it, kept beside
/// the typed [`Body`] when that dialect's form holds more than `Body` does,
/// so the dialect can return it unchanged. Other dialects see `body`.
#[derive(Debug, Clone, PartialEq)]
pub enum Original {
    /// A WildfireChat message payload and the conversation line it was sent on.
    Wildfire { payload: serde_json::Value, line: u32 },
    /// A LeanCloud message: its `data` string as sent (for a `binary` one,
    /// the bytes in standard base64, as the vendor's histories show them),
    /// who it mentions, and (for an app-wide broadcast) until when it may
    /// still be delivered.
    LeanCloud { data: String, binary: bool, mention_all: bool, mentions: Vec<Username>, valid_till: Option<i64> },
}

/// What happened to a message after it was sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum MessageState {
    #[default]
    Normal,
    /// Its content was replaced, `count` times so far (the last at `at_ms`).
    Edited { at_ms: i64, count: u32 },
    /// Withdrawn by `by`: receivers who do not have it yet never get it.
    Recalled { by: Username, at_ms: i64 },
    /// Removed for everyone; its content is gone, its place in the order stays.
    Deleted { at_ms: i64 },
}

impl MessageState {
    pub fn is_normal(&self) -> bool {
        *self == MessageState::Normal
    }

    /// Whether the message is still to be shown (normal or edited).
    pub fn is_visible(&self) -> bool {
        matches!(self, MessageState::Normal | MessageState::Edited { .. })
    }

    pub fn code(&self) -> i64 {
        match self {
            MessageState::Normal => 0,
            MessageState::Edited { .. } => 1,
            MessageState::Recalled { .. } => 2,
            MessageState::Deleted { .. } => 3,
        }
    }

    /// Rebuilds a state from its code, the user who changed it, when, and
    /// how often its content was edited.
    pub fn from_parts(code: i64, by: Option<Username>, at_ms: i64, edits: i64) -> Option<MessageState> {
        Some(match (code, by) {
            (0, _) => MessageState::Normal,
            (1, _) => MessageState::Edited { at_ms, count: u32::try_from(edits).unwrap_or(u32::MAX).max(1) },
            (2, Some(by)) => MessageState::Recalled { by, at_ms },
            (3, _) => MessageState::Deleted { at_ms },
            _ => return None,
        })
    }

    /// The user who changed it, if the state records one.
    pub fn by(&self) -> Option<&Username> {
        match self {
            MessageState::Recalled { by, .. } => Some(by),
            _ => None,
        }
    }

    pub fn at_ms(&self) -> i64 {
        match self {
            MessageState::Normal => 0,
            MessageState::Edited { at_ms, .. }
            | MessageState::Recalled { at_ms, .. }
            | MessageState::Deleted { at_ms } => *at_ms,
        }
    }
}

/// What a history file's digest covers of one message: its ID, time and
/// state, read without its contents (see `Storage::message_marks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageMark {
    pub id: crate::ids::MessageId,
    pub timestamp_ms: i64,
    /// [`MessageState::code`].
    pub state: i64,
    /// [`MessageState::at_ms`]: 0 for a message never changed.
    pub state_at_ms: i64,
}

impl MessageMark {
    pub fn of(message: &Message) -> MessageMark {
        MessageMark {
            id: message.id,
            timestamp_ms: message.timestamp_ms,
            state: message.state.code(),
            state_at_ms: message.state.at_ms(),
        }
    }
}

/// A committed message. It is stored once; receivers find it through their
/// conversation membership.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: MessageId,
    pub app: AppId,
    pub conversation: ConversationId,
    /// Position in the conversation: 1, 2, 3, … with no gaps.
    pub seq: i64,
    pub chat_type: ChatType,
    pub from: Username,
    /// The receiving user (one-to-one) or the group or room ID.
    pub to: String,
    pub body: Body,
    pub ext: Option<serde_json::Value>,
    pub timestamp_ms: i64,
    /// Whether the sender's own devices receive it too.
    pub sync_sender: bool,
    /// The device that sent it over the gateway, which already has it.
    pub origin_device: Option<String>,
    pub original: Option<Original>,
    /// When only some members of the conversation are to get it (a
    /// multicast, a group message to chosen members): who.
    pub receivers: Option<Vec<Username>>,
    pub state: MessageState,
}

impl Audience {
    /// The receivers a message records, when not every member gets it.
    pub fn receivers(&self) -> Option<Vec<Username>> {
        match self {
            Audience::Only(users) | Audience::Join(users) => Some(users.clone()),
            Audience::Members | Audience::AllUsers => None,
        }
    }
}

impl Message {
    /// Whether `device` of `user` should be handed this message.
    ///
    /// Every receiver gets it; the sender's devices get it only when it is
    /// synced to them, and never the device it came from.
    pub fn is_for(&self, user: &Username, device: &str) -> bool {
        if &self.from != user {
            return self.is_addressed_to(user);
        }
        self.sync_sender && self.origin_device.as_deref() != Some(device)
    }

    /// Whether `user` is one of its receivers (every member is, unless it names some).
    pub fn is_addressed_to(&self, user: &Username) -> bool {
        self.receivers.as_ref().is_none_or(|r| r.contains(user))
    }

    /// The line of the conversation it was sent on (0 unless WildfireChat chose one).
    pub fn line(&self) -> u32 {
        match &self.original {
            Some(Original::Wildfire { line, .. }) => *line,
            Some(Original::LeanCloud { .. }) | None => 0,
        }
    }

    /// Whether it may no longer be delivered (an app-wide broadcast past its time).
    pub fn expired(&self, now_ms: i64) -> bool {
        self.deliverable_until().is_some_and(|till| till <= now_ms)
    }

    /// Until when it may still be delivered, when that is limited (a
    /// LeanCloud app-wide broadcast's `valid_till`).
    pub fn deliverable_until(&self) -> Option<i64> {
        match &self.original {
            Some(Original::LeanCloud { valid_till, .. }) => *valid_till,
            Some(Original::Wildfire { .. }) | None => None,
        }
    }
}

/// Who gets a new message, and whom it makes members first.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Audience {
    /// The conversation's members (on first use, the message's `members`).
    #[default]
    Members,
    /// Only these members get it (a group message to chosen members).
    Only(Vec<Username>),
    /// These users become members from this message on (those who are not
    /// yet), and only they get it (a multicast).
    Join(Vec<Username>),
    /// Every user of the app becomes a member from this message on (a broadcast).
    AllUsers,
}

/// A message to be committed: everything but its sequence number.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: MessageId,
    pub chat_type: ChatType,
    /// Storage key of the conversation (see [`direct_conversation_key`]).
    pub conversation_key: String,
    /// The users who belong to the conversation (created on first message).
    pub members: Vec<Username>,
    pub from: Username,
    pub to: String,
    pub body: Body,
    pub ext: Option<serde_json::Value>,
    pub timestamp_ms: i64,
    pub sync_sender: bool,
    pub origin_device: Option<String>,
    pub original: Option<Original>,
    pub audience: Audience,
}

/// A user's place in one conversation: what their devices acknowledged and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    pub conversation: ConversationId,
    /// The conversation's kind: chat rooms keep no backlog for their members.
    pub chat_type: ChatType,
    /// Highest sequence number any of the user's devices acknowledged.
    pub ack_seq: i64,
    pub read_seq: i64,
    /// The conversation's latest sequence number when this was read.
    pub last_seq: i64,
    /// The sequence number the user joined at: nothing at or before it is theirs.
    pub joined_seq: i64,
    /// When the user joined, in ms.
    pub joined_ms: i64,
}

/// A member's standing in a group, chat room or thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn code(self) -> i64 {
        match self {
            Role::Member => 0,
            Role::Admin => 1,
            Role::Owner => 2,
        }
    }

    pub fn from_code(code: i64) -> Option<Role> {
        match code {
            0 => Some(Role::Member),
            1 => Some(Role::Admin),
            2 => Some(Role::Owner),
            _ => None,
        }
    }
}

/// The settings of a group or chat room that its owner may change.
/// Stored as one JSON document, so new settings need no schema change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSettings {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Listed publicly and joinable without an invitation.
    #[serde(default)]
    pub public: bool,
    /// Most members, owner included.
    pub max_users: u32,
    /// Members may invite others.
    #[serde(default)]
    pub allow_invites: bool,
    /// Joining needs the owner's or an admin's approval.
    #[serde(default)]
    pub members_only: bool,
    /// An invited user must accept before joining.
    #[serde(default)]
    pub invite_need_confirm: bool,
    /// The app's own data, kept as given.
    #[serde(default)]
    pub custom: String,
    #[serde(default)]
    pub announcement: String,
    /// URL of the group's picture.
    #[serde(default)]
    pub avatar: String,
    /// Settings only one dialect knows (WildfireChat's group `type`,
    /// `join_type`, …), kept as that dialect gave them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dialect: BTreeMap<String, serde_json::Value>,
}

impl GroupSettings {
    /// A private group with a name and a size and nothing else set; callers
    /// change what their dialect sets with struct update syntax.
    pub fn named(name: String, max_users: u32) -> GroupSettings {
        GroupSettings {
            name,
            description: String::new(),
            public: false,
            max_users,
            allow_invites: false,
            members_only: false,
            invite_need_confirm: false,
            custom: String::new(),
            announcement: String::new(),
            avatar: String::new(),
            dialect: BTreeMap::new(),
        }
    }
}

/// A change to some settings, the rest left as they are. Applied by the
/// storage engine to the settings it holds under the group's lock, so two
/// concurrent changes of different settings both take effect.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingsPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub public: Option<bool>,
    pub max_users: Option<u32>,
    pub allow_invites: Option<bool>,
    pub members_only: Option<bool>,
    pub invite_need_confirm: Option<bool>,
    pub custom: Option<String>,
    pub announcement: Option<String>,
    pub avatar: Option<String>,
    /// Dialect settings to set (a JSON `null` removes one); the others stay.
    pub dialect: Option<BTreeMap<String, serde_json::Value>>,
}

impl SettingsPatch {
    pub fn apply(&self, s: &mut GroupSettings) {
        fn set<T: Clone>(field: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *field = v.clone();
            }
        }
        set(&mut s.name, &self.name);
        set(&mut s.description, &self.description);
        set(&mut s.public, &self.public);
        set(&mut s.max_users, &self.max_users);
        set(&mut s.allow_invites, &self.allow_invites);
        set(&mut s.members_only, &self.members_only);
        set(&mut s.invite_need_confirm, &self.invite_need_confirm);
        set(&mut s.custom, &self.custom);
        set(&mut s.announcement, &self.announcement);
        set(&mut s.avatar, &self.avatar);
        for (key, value) in self.dialect.iter().flatten() {
            if value.is_null() {
                s.dialect.remove(key);
            } else {
                s.dialect.insert(key.clone(), value.clone());
            }
        }
    }
}

/// A group, chat room or thread: a conversation with members, roles and lists.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Public ID, unique in the app (decimal digits).
    pub id: String,
    /// `GroupChat`, `ChatRoom` or `Thread`.
    pub kind: ChatType,
    pub conversation: ConversationId,
    pub owner: Username,
    pub settings: GroupSettings,
    /// Only the owner, admins and allow-listed members may speak.
    pub mute_all: bool,
    /// For a thread: the group it belongs to and the message it started from.
    pub parent: Option<String>,
    pub parent_message: Option<MessageId>,
    pub created_ms: i64,
    pub member_count: u64,
    /// Bumped by every change to settings, members or lists, so cached
    /// copies (on any node) can tell that they are stale.
    pub version: i64,
}

/// A group to be created with its first members.
#[derive(Debug, Clone)]
pub struct NewGroup {
    pub id: String,
    pub kind: ChatType,
    pub owner: Username,
    pub settings: GroupSettings,
    pub parent: Option<String>,
    pub parent_message: Option<MessageId>,
    pub members: Vec<Username>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub username: Username,
    pub role: Role,
    pub joined_ms: i64,
}

/// The per-group user lists besides membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupList {
    /// Removed and may not rejoin.
    Block,
    /// May speak while everyone else is muted.
    Allow,
    /// May not speak until `until_ms`.
    Mute,
}

impl GroupList {
    pub fn code(self) -> i64 {
        match self {
            GroupList::Block => 0,
            GroupList::Allow => 1,
            GroupList::Mute => 2,
        }
    }

    pub fn from_code(code: i64) -> Option<GroupList> {
        match code {
            0 => Some(GroupList::Block),
            1 => Some(GroupList::Allow),
            2 => Some(GroupList::Mute),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub username: Username,
    /// When the entry lapses (mutes); `i64::MAX` for never.
    pub until_ms: i64,
    pub created_ms: i64,
}

/// A chat room's custom attribute: a key, its value and the user who set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomAttribute {
    pub key: String,
    pub value: String,
    pub owner: Username,
    /// Removed when its owner leaves the room.
    pub auto_delete: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_vendor_rules() {
        assert_eq!(Username::easemob("User_1.a-b").unwrap().as_str(), "user_1.a-b");
        assert!(Username::easemob("").is_err());
        assert!(Username::easemob("has space").is_err());
        assert!(Username::easemob("中文").is_err());
        assert!(Username::easemob("a@b.c").is_err());
        assert!(Username::easemob(&"a".repeat(64)).is_ok());
        assert!(Username::easemob(&"a".repeat(65)).is_err());
        // The core keeps case and takes any character but control characters.
        assert_eq!(Username::parse("BillGates").unwrap().as_str(), "BillGates");
        assert_ne!(Username::parse("BillGates").unwrap(), Username::parse("billgates").unwrap());
        for legal in ["Steve.Jobs@apple.com", "+86 138 0000 0000", "张三", "has space", &"中".repeat(64)] {
            assert_eq!(Username::parse(legal).unwrap().as_str(), legal);
        }
        for illegal in ["", "a\u{1f}b", "tab\t", "new\nline", "nul\0", &"中".repeat(65)] {
            assert!(Username::parse(illegal).is_err(), "{illegal:?}");
        }
        // Reading a name (a wire frame, a stored row) checks it as parse does.
        assert!(serde_json::from_str::<Username>("\"a\\u0001\"").is_err());
        assert_eq!(serde_json::from_str::<Username>("\"Bob\"").unwrap().as_str(), "Bob");
    }

    #[test]
    fn direct_keys_do_not_depend_on_direction() {
        let a = Username::parse("a").unwrap();
        let b = Username::parse("b").unwrap();
        assert_eq!(direct_conversation_key(&a, &b), direct_conversation_key(&b, &a));
    }

    #[test]
    fn custom_event_pattern_is_enforced() {
        let ok = Body::Custom { custom_event: Some("a-b_c/d.e".into()), custom_exts: None };
        assert!(ok.validate().is_ok());
        let bad = Body::Custom { custom_event: Some("no spaces".into()), custom_exts: None };
        assert!(bad.validate().is_err());
        let long = Body::Custom { custom_event: Some("x".repeat(33)), custom_exts: None };
        assert!(long.validate().is_err());
    }
}

/// One entry of an app's key-value settings: state a dialect or a feature
/// keeps that no other part interprets (WildfireChat's user settings and
/// aliases, robots' owners and callbacks, sensitive words). `namespace`
/// says whose it is; `owner` is the user, group or `""` it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub namespace: String,
    pub owner: String,
    pub key: String,
    pub value: String,
    pub updated_ms: i64,
}

/// Where one setting lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SettingKey {
    pub namespace: String,
    pub owner: String,
    pub key: String,
}

impl SettingKey {
    pub fn new(namespace: &str, owner: &str, key: &str) -> SettingKey {
        SettingKey { namespace: namespace.to_owned(), owner: owner.to_owned(), key: key.to_owned() }
    }
}

/// A relation one user keeps to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relation {
    /// Both ways: each user is in the other's list.
    Contact,
    /// One way: the owner does not hear from the other.
    Block,
    /// The owner may not be added to a conversation (`other` is its ID,
    /// which fits the user-ID alphabet): LeanCloud's client blacklists.
    ConversationBlock,
}

impl Relation {
    pub fn code(self) -> i64 {
        match self {
            Relation::Contact => 0,
            Relation::Block => 1,
            Relation::ConversationBlock => 2,
        }
    }
}

/// A user muted app-wide in one kind of conversation until `until_ms`
/// (`i64::MAX`: until unmuted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalMute {
    pub username: Username,
    pub kind: ChatType,
    pub until_ms: i64,
}

/// What is known about a stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub uuid: String,
    /// The name the uploader gave; shown, never used as a path.
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    /// Needed to download it when `restricted`.
    pub secret: String,
    pub restricted: bool,
    pub created_ms: i64,
}

/// Someone who runs the server and signs in to its console. Not a user of
/// any app: operators act on every app, through the same services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub created_ms: i64,
    /// When the password last changed; console sessions made before it end.
    pub changed_ms: i64,
}

/// One thing an operator did, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Grows with each entry.
    pub id: i64,
    pub at_ms: i64,
    pub operator: String,
    /// `org/name` of the app acted on, if the action concerned one.
    pub app: Option<String>,
    /// What was done, such as `user.deactivate`.
    pub action: String,
    /// What it was done to (a user, group or message ID), if anything.
    pub target: Option<String>,
    /// Anything else worth knowing (never a secret).
    pub detail: Option<String>,
}
