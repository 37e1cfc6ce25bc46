//! What happened, as the core tells sessions and nodes: live events, group
//! events, message updates and kick reasons. Services produce them, the
//! fan-out carries them, sessions turn them into what a device gets; none of
//! those needs another's module for them.

use std::sync::Arc;

use crate::ids::MessageId;
use crate::model::{ChatType, ConversationId, Message, Username};

/// Why a session is being closed by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KickReason {
    /// The account was deactivated (E-user-14).
    Deactivated,
    /// An operator forced the user offline (E-user-16).
    Disconnected,
    /// The password changed or the user was deleted: the token is void.
    CredentialsChanged,
    /// The session fell too far behind; it may reconnect and resume.
    SlowConsumer,
    /// The server is stopping.
    Shutdown,
    /// The same device logged in again elsewhere.
    Replaced,
    /// The app's backend closed the session (LeanCloud's kick, with a reason).
    KickedByApp,
}

impl KickReason {
    /// Every reason, for parsing [`KickReason::as_str`] back.
    pub const ALL: [KickReason; 7] = [
        KickReason::Deactivated,
        KickReason::Disconnected,
        KickReason::CredentialsChanged,
        KickReason::SlowConsumer,
        KickReason::Shutdown,
        KickReason::Replaced,
        KickReason::KickedByApp,
    ];

    pub fn parse(name: &str) -> Option<KickReason> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KickReason::Deactivated => "deactivated",
            KickReason::Disconnected => "disconnected",
            KickReason::CredentialsChanged => "credentials_changed",
            KickReason::SlowConsumer => "slow_consumer",
            KickReason::Shutdown => "shutdown",
            KickReason::Replaced => "replaced",
            KickReason::KickedByApp => "kicked_by_app",
        }
    }
}

/// Something that happened which connected sessions must hear about.
#[derive(Debug, Clone)]
pub enum LiveEvent {
    Message(Arc<Message>),
    /// A group, room or thread changed (not stored; live only).
    Group(Arc<GroupEvent>),
    /// A message was edited, recalled or deleted.
    Update(Arc<MessageUpdate>),
    /// A message for whoever is connected now: never stored, so it has no
    /// place (`seq` 0) in its conversation's order.
    Transient(Arc<Message>),
    /// The app closed the user's sessions, saying why in its own words.
    KickedByApp(Arc<str>),
    Kick(KickReason),
    /// A member received or read a conversation up to a message: its sender hears of it.
    Receipt(Arc<Receipt>),
}

/// A delivery or read receipt: `by` has the conversation's messages up to
/// `seq` on a device (delivered) or has read them. Told to the sender of
/// the message at `seq`, whose devices keep what they wait receipts for.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    pub conversation: ConversationId,
    /// The conversation as the dialects name it (a group's ID).
    pub to: String,
    pub chat_type: ChatType,
    pub by: Username,
    pub seq: i64,
    /// The message at `seq`.
    pub message: MessageId,
    pub kind: ReceiptKind,
    pub at_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptKind {
    Delivered,
    Read,
}

impl ReceiptKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptKind::Delivered => "delivered",
            ReceiptKind::Read => "read",
        }
    }

    pub fn parse(name: &str) -> Option<ReceiptKind> {
        [ReceiptKind::Delivered, ReceiptKind::Read].into_iter().find(|k| k.as_str() == name)
    }
}

/// Something that happened to a group which its connected members hear of.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupEvent {
    pub kind: ChatType,
    pub group: String,
    pub conversation: ConversationId,
    pub event: GroupEventKind,
    /// The users the event is about (added, removed, muted, …).
    pub users: Vec<Username>,
    pub timestamp_ms: i64,
}

macro_rules! event_kinds {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// What happened, named on the wire by [`GroupEventKind::as_str`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum GroupEventKind { $($variant),* }

        impl GroupEventKind {
            pub fn as_str(self) -> &'static str {
                match self { $(GroupEventKind::$variant => $name),* }
            }

            pub fn parse(name: &str) -> Option<GroupEventKind> {
                match name { $($name => Some(GroupEventKind::$variant),)* _ => None }
            }
        }
    };
}

event_kinds! {
    Created => "created",
    Updated => "updated",
    Destroyed => "destroyed",
    MembersAdded => "members_added",
    MembersRemoved => "members_removed",
    AdminsAdded => "admins_added",
    AdminsRemoved => "admins_removed",
    OwnerChanged => "owner_changed",
    Blocked => "blocked",
    Unblocked => "unblocked",
    AllowListed => "allow_listed",
    AllowListRemoved => "allow_list_removed",
    Muted => "muted",
    Unmuted => "unmuted",
    AllMuted => "all_muted",
    AllUnmuted => "all_unmuted",
    AttributesChanged => "attributes_changed",
    AttributesRemoved => "attributes_removed",
}

/// A message was edited, recalled or deleted: what sessions are told.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageUpdate {
    /// The message as it is now (for a change for some receivers only, as
    /// it was: the others keep it).
    pub message: Message,
    pub change: UpdateKind,
    /// Who changed it, when a user did.
    pub by: Option<Username>,
    /// When it changed for these receivers only: who.
    pub only: Option<Vec<Username>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateKind {
    Edited,
    Recalled,
    Deleted,
}

impl UpdateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateKind::Edited => "edited",
            UpdateKind::Recalled => "recalled",
            UpdateKind::Deleted => "deleted",
        }
    }
}
