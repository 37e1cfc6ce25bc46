//! What travels between nodes: events for a user or for many, presence
//! questions and answers. Messages and updates inside them are
//! `confab-wire`'s DTOs; the golden tests below fail when a shape changes,
//! which would break a rolling upgrade (nodes of two versions side by side).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use confab_core::events::{GroupEvent, GroupEventKind, KickReason, LiveEvent, MessageUpdate, Receipt, ReceiptKind};
use confab_core::ids::MessageId;
use confab_core::model::{AppId, ConversationId, Message, Username};
use confab_wire::{ChatTypeV1, MessageV1, UpdateV1};

/// An event as it travels between nodes. The subject names the user.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum WireEvent {
    Message {
        message: MessageV1,
    },
    Kick {
        reason: String,
        device: Option<String>,
    },
    Group {
        chat_type: ChatTypeV1,
        group: String,
        conversation: ConversationId,
        event: String,
        users: Vec<Username>,
        timestamp_ms: i64,
    },
    Update {
        update: UpdateV1,
    },
    Transient {
        message: MessageV1,
    },
    KickedByApp {
        why: String,
    },
    Receipt {
        conversation: ConversationId,
        to: String,
        chat_type: ChatTypeV1,
        by: Username,
        seq: i64,
        /// The message at `seq`, as a decimal string like a message's ID.
        message: String,
        /// `delivered` or `read`.
        receipt: String,
        at_ms: i64,
    },
}

impl WireEvent {
    /// The wire form of a live event.
    pub(crate) fn of(event: &LiveEvent) -> WireEvent {
        match event {
            LiveEvent::Message(message) => WireEvent::Message { message: message.as_ref().into() },
            LiveEvent::Kick(reason) => WireEvent::Kick { reason: reason.as_str().to_owned(), device: None },
            LiveEvent::Group(event) => WireEvent::group(event),
            LiveEvent::Update(update) => WireEvent::Update { update: update.as_ref().into() },
            LiveEvent::Transient(message) => WireEvent::Transient { message: message.as_ref().into() },
            LiveEvent::KickedByApp(why) => WireEvent::KickedByApp { why: why.to_string() },
            LiveEvent::Receipt(r) => WireEvent::Receipt {
                conversation: r.conversation,
                to: r.to.clone(),
                chat_type: r.chat_type.into(),
                by: r.by.clone(),
                seq: r.seq,
                message: r.message.to_string(),
                receipt: r.kind.as_str().to_owned(),
                at_ms: r.at_ms,
            },
        }
    }

    fn group(e: &GroupEvent) -> WireEvent {
        WireEvent::Group {
            chat_type: e.kind.into(),
            group: e.group.clone(),
            conversation: e.conversation,
            event: e.event.as_str().to_owned(),
            users: e.users.clone(),
            timestamp_ms: e.timestamp_ms,
        }
    }
}

/// An event for many users, on the fan-out subject.
#[derive(Serialize, Deserialize)]
pub(crate) struct Broadcast {
    pub(crate) app: AppId,
    pub(crate) recipients: Vec<Username>,
    pub(crate) event: WireEvent,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct PresenceQuery {
    pub(crate) app: AppId,
    pub(crate) users: Vec<Username>,
    /// Asks for the devices' names too (nodes before this field answer counts only).
    #[serde(default)]
    pub(crate) devices: bool,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct PresenceAnswer {
    pub(crate) node: u16,
    pub(crate) counts: Vec<usize>,
    /// Per user, the devices' names, when asked for.
    #[serde(default)]
    pub(crate) devices: Vec<Vec<String>>,
}

/// A message from another node that maps to a core message; one that does
/// not (a newer node's value this one does not know) is logged and skipped.
fn readable<T>(read: std::result::Result<T, confab_wire::Invalid>) -> Option<T> {
    read.map_err(|e| tracing::warn!(error = %e, "unreadable message from another node")).ok()
}

/// The event a node's sessions get for an event from another node.
pub(crate) fn live_event(wire: WireEvent) -> Option<LiveEvent> {
    match wire {
        WireEvent::Message { message } => readable(Message::try_from(message)).map(|m| LiveEvent::Message(Arc::new(m))),
        WireEvent::Update { update } => {
            readable(MessageUpdate::try_from(update)).map(|u| LiveEvent::Update(Arc::new(u)))
        }
        WireEvent::Transient { message } => {
            readable(Message::try_from(message)).map(|m| LiveEvent::Transient(Arc::new(m)))
        }
        WireEvent::KickedByApp { why } => Some(LiveEvent::KickedByApp(why.into())),
        WireEvent::Receipt { conversation, to, chat_type, by, seq, message, receipt, at_ms } => {
            let (Some(message), Some(kind)) = (MessageId::parse(&message), ReceiptKind::parse(&receipt)) else {
                tracing::warn!(receipt, "unreadable receipt from another node");
                return None;
            };
            let chat_type = chat_type.into();
            Some(LiveEvent::Receipt(Arc::new(Receipt { conversation, to, chat_type, by, seq, message, kind, at_ms })))
        }
        WireEvent::Kick { reason, .. } => match KickReason::parse(&reason) {
            Some(reason) => Some(LiveEvent::Kick(reason)),
            None => {
                tracing::warn!(reason, "unknown kick reason from another node");
                None
            }
        },
        WireEvent::Group { chat_type, group, conversation, event, users, timestamp_ms } => {
            match GroupEventKind::parse(&event) {
                Some(event) => Some(LiveEvent::Group(Arc::new(GroupEvent {
                    kind: chat_type.into(),
                    group,
                    conversation,
                    event,
                    users,
                    timestamp_ms,
                }))),
                None => {
                    tracing::warn!(event, "unknown group event from another node");
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Subjects;

    use confab_core::events::{GroupEvent, GroupEventKind, MessageUpdate, UpdateKind};
    use confab_core::model::{Body, ChatType, MessageState};

    fn message() -> Message {
        Message {
            id: MessageId(1234),
            app: AppId(7),
            conversation: ConversationId(42),
            seq: 3,
            chat_type: ChatType::Chat,
            from: Username::parse("Ann").unwrap(),
            to: "bob".into(),
            body: Body::Text { msg: "hi".into() },
            ext: Some(serde_json::json!({"k": 1})),
            timestamp_ms: 1_700_000_000_000,
            sync_sender: true,
            origin_device: Some("phone".into()),
            original: None,
            receivers: None,
            state: MessageState::Normal,
        }
    }

    /// The events nodes exchange, exactly as they travel. A node of the
    /// next version must read these, so a change here is a change of the
    /// protocol between nodes: it needs a version of its own, not an edit.
    const GOLDEN: [&str; 5] = [
        r#"{"kind":"message","message":{"id":"1234","app":7,"conversation":42,"seq":3,"chat_type":"chat","from":"Ann","to":"bob","body":{"type":"txt","msg":"hi"},"ext":{"k":1},"timestamp_ms":1700000000000,"sync_sender":true,"origin_device":"phone"}}"#,
        r#"{"kind":"kick","reason":"disconnected","device":null}"#,
        r#"{"kind":"group","chat_type":"groupchat","group":"g1","conversation":42,"event":"members_added","users":["Ann"],"timestamp_ms":5}"#,
        r#"{"kind":"update","update":{"message":{"id":"1234","app":7,"conversation":42,"seq":3,"chat_type":"chat","from":"Ann","to":"bob","body":{"type":"txt","msg":"hi"},"ext":{"k":1},"timestamp_ms":1700000000000,"sync_sender":true,"origin_device":"phone"},"change":"recalled","by":"Ann"}}"#,
        r#"{"kind":"receipt","conversation":42,"to":"g1","chat_type":"groupchat","by":"Ann","seq":3,"message":"1234","receipt":"read","at_ms":9}"#,
    ];

    fn events() -> [LiveEvent; 5] {
        let ann = Username::parse("Ann").unwrap();
        [
            LiveEvent::Message(Arc::new(message())),
            LiveEvent::Kick(KickReason::Disconnected),
            LiveEvent::Group(Arc::new(GroupEvent {
                kind: ChatType::GroupChat,
                group: "g1".into(),
                conversation: ConversationId(42),
                event: GroupEventKind::MembersAdded,
                users: vec![ann.clone()],
                timestamp_ms: 5,
            })),
            LiveEvent::Update(Arc::new(MessageUpdate {
                message: message(),
                change: UpdateKind::Recalled,
                by: Some(ann.clone()),
                only: None,
            })),
            LiveEvent::Receipt(Arc::new(Receipt {
                conversation: ConversationId(42),
                to: "g1".into(),
                chat_type: ChatType::GroupChat,
                by: ann,
                seq: 3,
                message: MessageId(1234),
                kind: ReceiptKind::Read,
                at_ms: 9,
            })),
        ]
    }

    #[test]
    fn events_travel_in_the_golden_shape() {
        for (event, golden) in events().iter().zip(GOLDEN) {
            let encoded = serde_json::to_string(&WireEvent::of(event)).unwrap();
            let (got, want): (serde_json::Value, serde_json::Value) =
                (serde_json::from_str(&encoded).unwrap(), serde_json::from_str(golden).unwrap());
            assert_eq!(got, want, "the wire shape changed: {encoded}");
        }
    }

    #[test]
    fn golden_events_read_back_as_what_was_sent() {
        for (event, golden) in events().iter().zip(GOLDEN) {
            let read = live_event(serde_json::from_str(golden).unwrap()).expect("a known event");
            assert_eq!(format!("{read:?}"), format!("{event:?}"));
        }
    }

    #[test]
    fn user_subjects_are_single_tokens() {
        let user = Username::parse("a.b-c_d").unwrap();
        let subjects = Subjects { cluster: "prod".into() };
        assert_eq!(subjects.user(AppId(7), &user), "prod.user.7.a~2eb-c_d");
    }
}
