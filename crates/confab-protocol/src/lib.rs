//! Frames of confab's JSON gateway protocol, version 1.
//!
//! Every WebSocket text message is one JSON object with an `op` field.
//! `docs/protocol.md` is the prose description; this module is the
//! definition. Message and conversation IDs travel as decimal strings
//! because JavaScript numbers cannot hold 64-bit integers.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The path the gateway listens on.
pub const PATH: &str = "/ws";
/// Seconds between client pings the server asks for; a connection silent
/// for three of these is closed.
pub const HEARTBEAT_SECS: u64 = 30;
/// Largest frame a client may send, in bytes.
pub const MAX_CLIENT_FRAME: usize = 8 * 1024;

/// A frame from a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Must be the first frame.
    Login {
        /// A user token; empty when `leancloud` signs the login instead.
        #[serde(default)]
        token: String,
        /// A LeanCloud login signature (`GET /1.2/rtm/clients/sign`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leancloud: Option<SignedLogin>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<String>,
        /// Conversation ID → highest sequence this device already has.
        #[serde(default, skip_serializing_if = "HashMap::is_empty")]
        resume: HashMap<String, i64>,
    },
    /// Send a message. `body` is a typed body such as
    /// `{"type":"txt","msg":"hi"}`.
    Send {
        /// Echoed in the answer so the client can match it.
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// `chat` (the default: `to` is a user), `groupchat`, `chatroom` or
        /// `thread` (`to` is the group's, room's or thread's ID).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chat_type: Option<String>,
        to: String,
        body: serde_json::Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ext: Option<serde_json::Value>,
    },
    /// Join a chat room (its members hear what is said while they are
    /// connected). Answered with `joined` or an error.
    JoinRoom {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        room: String,
    },
    /// Leave a chat room. Answered with `left` or an error.
    LeaveRoom {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        room: String,
    },
    /// Binds this device's push token (an empty `token` unbinds it):
    /// offline pushes for the user go to it through the app's provider named
    /// `notifier` (`apns`, `fcm`, `webhook`, or the name the app gave one).
    /// Answered with `push_bound` or an error.
    PushToken {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        token: String,
        #[serde(default)]
        notifier: String,
    },
    /// The device has everything up to `seq` in `conv`.
    Ack {
        conv: String,
        seq: i64,
    },
    /// The user has read everything up to `seq` in `conv`.
    Read {
        conv: String,
        seq: i64,
    },
    Ping,
}

/// A login signed the LeanCloud way: `signature` is
/// `HMAC-SHA1(master key, app_id:client_id::timestamp:nonce)` in hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedLogin {
    pub app_id: String,
    pub client_id: String,
    pub timestamp: i64,
    pub nonce: String,
    pub signature: String,
}

/// A message as a device receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageFrame {
    pub msg_id: String,
    pub conv: String,
    pub seq: i64,
    /// `chat`, `groupchat` or `chatroom`.
    pub chat_type: String,
    pub from: String,
    pub to: String,
    pub body: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
    /// Unix milliseconds at which the server accepted it.
    pub timestamp: i64,
    /// The content as the dialect that took it received it, when that
    /// dialect's form says more than `body`: `{"wildfire": {"payload": {…}, "line": 0}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<serde_json::Value>,
    /// Never stored: for whoever was connected when it was sent (`seq` is 0).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub transient: bool,
}

/// A frame from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ServerFrame {
    LoginOk {
        user: String,
        device: String,
        session: String,
        heartbeat_secs: u64,
    },
    Msg(MessageFrame),
    /// Everything missed while away has been sent; live messages follow.
    Synced,
    SendOk {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        msg_id: String,
        conv: String,
        seq: i64,
        timestamp: i64,
    },
    Error {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        code: String,
        message: String,
    },
    /// The user is in the room now; `conv` is its conversation.
    Joined {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        room: String,
        conv: String,
    },
    Left {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        room: String,
    },
    /// The device's push token is bound (or, for an empty one, unbound).
    PushBound {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        device: String,
    },
    /// A group, chat room or thread the user belongs to (or just left)
    /// changed. Live only: a device that was offline does not get it.
    GroupEvent {
        /// `groupchat`, `chatroom` or `thread`.
        chat_type: String,
        group: String,
        conv: String,
        /// What happened: `members_added`, `members_removed`, `muted`, … (docs/protocol.md).
        event: String,
        /// Who it is about.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        users: Vec<String>,
        timestamp: i64,
    },
    /// A message was edited, recalled or deleted. Live only: a device that
    /// was offline gets the message as it is now (or not at all) instead.
    MsgUpdate {
        /// `edited`, `recalled` or `deleted`.
        change: String,
        msg_id: String,
        conv: String,
        seq: i64,
        /// Who recalled it, when a user did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        /// The message with its new content (`edited` only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        msg: Option<MessageFrame>,
    },
    /// The server is closing the connection; `reason` says why (and
    /// `detail`, the app's own words, when the app closed it).
    Kicked {
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    Pong,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_documented_shape() {
        let login: ClientFrame = serde_json::from_str(r#"{"op":"login","token":"t","resume":{"7":3}}"#).unwrap();
        assert_eq!(
            login,
            ClientFrame::Login {
                token: "t".into(),
                leancloud: None,
                device: None,
                resume: HashMap::from([("7".into(), 3)])
            }
        );
        let ok = ServerFrame::SendOk {
            reference: Some("1".into()),
            msg_id: "9".into(),
            conv: "7".into(),
            seq: 4,
            timestamp: 5,
        };
        assert_eq!(
            serde_json::to_value(ok).unwrap(),
            serde_json::json!({"op":"send_ok","ref":"1","msg_id":"9","conv":"7","seq":4,"timestamp":5})
        );
        assert_eq!(serde_json::to_string(&ServerFrame::Synced).unwrap(), r#"{"op":"synced"}"#);
    }
}
