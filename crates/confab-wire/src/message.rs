//! A stored message as the bus and the history files carry it, and what
//! happened to it afterwards.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use confab_core::events::{MessageUpdate, UpdateKind};
use confab_core::ids::MessageId;
use confab_core::model::{AppId, ChatType, ConversationId, Message, MessageState, Original, Username};

use crate::{BodyV1, Invalid};

/// A committed message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageV1 {
    /// The 64-bit message ID as a decimal string.
    pub id: String,
    pub app: i64,
    pub conversation: i64,
    pub seq: i64,
    pub chat_type: ChatTypeV1,
    pub from: String,
    pub to: String,
    pub body: BodyV1,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<Value>,
    pub timestamp_ms: i64,
    pub sync_sender: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<OriginalV1>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receivers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "StateV1::is_normal")]
    pub state: StateV1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatTypeV1 {
    Chat,
    GroupChat,
    ChatRoom,
    Thread,
    Broadcast,
    Channel,
}

/// The content as the dialect that took it received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OriginalV1 {
    Wildfire {
        payload: Value,
        line: u32,
    },
    #[serde(rename = "leancloud")]
    LeanCloud {
        data: String,
        /// `data` is base64 of the bytes a client sent as a binary message.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        binary: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        mention_all: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        valid_till: Option<i64>,
    },
}

fn one() -> u32 {
    1
}

/// What happened to a message after it was sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StateV1 {
    #[default]
    Normal,
    Edited {
        at_ms: i64,
        /// How often it was edited; records from before counts were kept say 1.
        #[serde(default = "one")]
        count: u32,
    },
    Recalled {
        by: String,
        at_ms: i64,
    },
    Deleted {
        at_ms: i64,
    },
}

impl StateV1 {
    fn is_normal(&self) -> bool {
        *self == StateV1::Normal
    }
}

/// A message was edited, recalled or deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateV1 {
    pub message: MessageV1,
    pub change: ChangeV1,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeV1 {
    Edited,
    Recalled,
    Deleted,
}

fn user(name: &str) -> Result<Username, Invalid> {
    Username::parse(name).map_err(|e| Invalid(e.to_string()))
}

fn users(names: Vec<String>) -> Result<Vec<Username>, Invalid> {
    names.iter().map(|n| user(n)).collect()
}

fn names(users: &[Username]) -> Vec<String> {
    users.iter().map(|u| u.as_str().to_owned()).collect()
}

impl From<ChatType> for ChatTypeV1 {
    fn from(kind: ChatType) -> Self {
        match kind {
            ChatType::Chat => ChatTypeV1::Chat,
            ChatType::GroupChat => ChatTypeV1::GroupChat,
            ChatType::ChatRoom => ChatTypeV1::ChatRoom,
            ChatType::Thread => ChatTypeV1::Thread,
            ChatType::Broadcast => ChatTypeV1::Broadcast,
            ChatType::Channel => ChatTypeV1::Channel,
        }
    }
}

impl From<ChatTypeV1> for ChatType {
    fn from(kind: ChatTypeV1) -> Self {
        match kind {
            ChatTypeV1::Chat => ChatType::Chat,
            ChatTypeV1::GroupChat => ChatType::GroupChat,
            ChatTypeV1::ChatRoom => ChatType::ChatRoom,
            ChatTypeV1::Thread => ChatType::Thread,
            ChatTypeV1::Broadcast => ChatType::Broadcast,
            ChatTypeV1::Channel => ChatType::Channel,
        }
    }
}

impl From<&Original> for OriginalV1 {
    fn from(original: &Original) -> Self {
        match original {
            Original::Wildfire { payload, line } => OriginalV1::Wildfire { payload: payload.clone(), line: *line },
            Original::LeanCloud { data, binary, mention_all, mentions, valid_till } => OriginalV1::LeanCloud {
                data: data.clone(),
                binary: *binary,
                mention_all: *mention_all,
                mentions: names(mentions),
                valid_till: *valid_till,
            },
        }
    }
}

impl TryFrom<OriginalV1> for Original {
    type Error = Invalid;

    fn try_from(original: OriginalV1) -> Result<Self, Invalid> {
        Ok(match original {
            OriginalV1::Wildfire { payload, line } => Original::Wildfire { payload, line },
            OriginalV1::LeanCloud { data, binary, mention_all, mentions, valid_till } => {
                Original::LeanCloud { data, binary, mention_all, mentions: users(mentions)?, valid_till }
            }
        })
    }
}

impl From<&MessageState> for StateV1 {
    fn from(state: &MessageState) -> Self {
        match state {
            MessageState::Normal => StateV1::Normal,
            MessageState::Edited { at_ms, count } => StateV1::Edited { at_ms: *at_ms, count: *count },
            MessageState::Recalled { by, at_ms } => StateV1::Recalled { by: by.as_str().to_owned(), at_ms: *at_ms },
            MessageState::Deleted { at_ms } => StateV1::Deleted { at_ms: *at_ms },
        }
    }
}

impl TryFrom<StateV1> for MessageState {
    type Error = Invalid;

    fn try_from(state: StateV1) -> Result<Self, Invalid> {
        Ok(match state {
            StateV1::Normal => MessageState::Normal,
            StateV1::Edited { at_ms, count } => MessageState::Edited { at_ms, count },
            StateV1::Recalled { by, at_ms } => MessageState::Recalled { by: user(&by)?, at_ms },
            StateV1::Deleted { at_ms } => MessageState::Deleted { at_ms },
        })
    }
}

impl From<&Message> for MessageV1 {
    fn from(m: &Message) -> Self {
        MessageV1 {
            id: m.id.0.to_string(),
            app: m.app.0,
            conversation: m.conversation.0,
            seq: m.seq,
            chat_type: m.chat_type.into(),
            from: m.from.as_str().to_owned(),
            to: m.to.clone(),
            body: (&m.body).into(),
            ext: m.ext.clone(),
            timestamp_ms: m.timestamp_ms,
            sync_sender: m.sync_sender,
            origin_device: m.origin_device.clone(),
            original: m.original.as_ref().map(OriginalV1::from),
            receivers: m.receivers.as_deref().map(names),
            state: (&m.state).into(),
        }
    }
}

impl TryFrom<MessageV1> for Message {
    type Error = Invalid;

    fn try_from(m: MessageV1) -> Result<Self, Invalid> {
        Ok(Message {
            id: MessageId::parse(&m.id).ok_or_else(|| Invalid(format!("bad message ID {}", m.id)))?,
            app: AppId(m.app),
            conversation: ConversationId(m.conversation),
            seq: m.seq,
            chat_type: m.chat_type.into(),
            from: user(&m.from)?,
            to: m.to,
            body: m.body.into(),
            ext: m.ext,
            timestamp_ms: m.timestamp_ms,
            sync_sender: m.sync_sender,
            origin_device: m.origin_device,
            original: m.original.map(Original::try_from).transpose()?,
            receivers: m.receivers.map(users).transpose()?,
            state: m.state.try_into()?,
        })
    }
}

impl From<UpdateKind> for ChangeV1 {
    fn from(kind: UpdateKind) -> Self {
        match kind {
            UpdateKind::Edited => ChangeV1::Edited,
            UpdateKind::Recalled => ChangeV1::Recalled,
            UpdateKind::Deleted => ChangeV1::Deleted,
        }
    }
}

impl From<ChangeV1> for UpdateKind {
    fn from(kind: ChangeV1) -> Self {
        match kind {
            ChangeV1::Edited => UpdateKind::Edited,
            ChangeV1::Recalled => UpdateKind::Recalled,
            ChangeV1::Deleted => UpdateKind::Deleted,
        }
    }
}

impl From<&MessageUpdate> for UpdateV1 {
    fn from(u: &MessageUpdate) -> Self {
        UpdateV1 {
            message: (&u.message).into(),
            change: u.change.into(),
            by: u.by.as_ref().map(|b| b.as_str().to_owned()),
            only: u.only.as_deref().map(names),
        }
    }
}

impl TryFrom<UpdateV1> for MessageUpdate {
    type Error = Invalid;

    fn try_from(u: UpdateV1) -> Result<Self, Invalid> {
        Ok(MessageUpdate {
            message: u.message.try_into()?,
            change: u.change.into(),
            by: u.by.as_deref().map(user).transpose()?,
            only: u.only.map(users).transpose()?,
        })
    }
}

/// The original content as JSON text (the stored `original` column).
pub fn original_string(original: &Original) -> String {
    serde_json::to_string(&OriginalV1::from(original)).unwrap_or_default()
}

/// The original content from JSON text.
pub fn original_from_str(text: &str) -> Result<Original, Invalid> {
    let read: OriginalV1 = serde_json::from_str(text).map_err(|e| Invalid(e.to_string()))?;
    read.try_into()
}
