//! The request bodies of the LeanCloud dialect: what each handler reads, and
//! what the OpenAPI document shows (its schemas are derived from these types).
//!
//! Most fields are kept as JSON values and checked one by one where they are
//! used: the vendor answers a missing or mistyped field with its own code and
//! words (`1`, "from_client is required"), which a serde error could not give.
//! `value_type` says what the vendor documents for each.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// Keeps `null` apart from an absent field: `Some(Value::Null)` for `null`,
/// `None` when the field is not there (with `#[serde(default)]`). A
/// conversation's fields are removed by `null`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// A conversation's fields (L-conv-1 and L-conv-3, and the same for chat rooms
/// and service conversations). Any other field is the app's own and is kept
/// as given.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ConversationFields {
    /// The conversation's name.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Value>,
    /// Members (client IDs); on creation only, and not for chat rooms.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    pub m: Option<Value>,
    /// The creator's client ID.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub c: Option<Value>,
    /// A chat room (transient).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>)]
    pub tr: Option<Value>,
    /// A service conversation (system).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>)]
    pub sys: Option<Value>,
    /// The same members always get the same conversation.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>)]
    pub unique: Option<Value>,
    #[serde(default, rename = "uniqueId", deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub unique_id: Option<Value>,
    /// The time of the last message, as the app keeps it.
    #[serde(default, deserialize_with = "present")]
    pub lm: Option<Value>,
    /// Clients who turned the conversation's notifications off.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    pub mu: Option<Value>,
    /// The app's own fields.
    #[serde(flatten)]
    #[schema(ignore)]
    pub custom: Map<String, Value>,
}

/// A list of clients: joining, leaving, mutes, silences, blacklists, presence.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ClientIds {
    /// Client IDs.
    #[schema(value_type = Vec<String>)]
    pub client_ids: Option<Value>,
}

/// One client: a subscription.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ClientId {
    #[schema(value_type = String)]
    pub client_id: Option<Value>,
}

/// What a send says besides who sends it, in v1.2 and v1.1 alike.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct MessageOptions {
    /// The message: text of at most 5 KB (an object is kept as its JSON text).
    #[schema(value_type = String)]
    pub message: Option<Value>,
    /// Only for who is connected now, never stored (v1.1: true when absent).
    #[schema(value_type = Option<bool>)]
    pub transient: Option<Value>,
    /// Not copied to the sender's other devices.
    #[schema(value_type = Option<bool>)]
    pub no_sync: Option<Value>,
    /// Mentions everyone.
    #[schema(value_type = Option<bool>)]
    pub mention_all: Option<Value>,
    /// Clients mentioned (at most 20).
    #[schema(value_type = Option<Vec<String>>)]
    pub mention_client_ids: Option<Value>,
    /// `high`, `normal` or `low`.
    #[schema(value_type = Option<String>)]
    pub priority: Option<Value>,
    /// What an offline receiver's push says (`alert`, `title`, `badge`,
    /// `sound`, `_profile`, and the app's own fields): an object or its JSON
    /// text. Service conversations' broadcasts call it `push`.
    #[serde(alias = "push")]
    #[schema(value_type = Option<Object>)]
    pub push_data: Option<Value>,
}

/// A message sent as the app (L-msg-1, L-room-4, L-svc-3).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SendMessage {
    /// The sender's client ID.
    #[schema(value_type = String)]
    pub from_client: Option<Value>,
    #[serde(flatten)]
    pub options: MessageOptions,
}

/// A service conversation's message to chosen subscribers (L-svc-4).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SendToClients {
    #[serde(flatten)]
    pub message: SendMessage,
    /// The subscribers it is for (1 to 20).
    #[schema(value_type = Vec<String>)]
    pub to_clients: Option<Value>,
}

/// The message a change is about: its sender and time, which must match.
/// Deletes take them in the query.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct MessageRef {
    /// The sender's client ID.
    #[schema(value_type = String)]
    pub from_client: Option<Value>,
    /// When it was sent, in ms (a number or its digits).
    #[schema(value_type = i64)]
    pub timestamp: Option<Value>,
}

impl MessageRef {
    /// From a delete's query parameters.
    pub fn from_query(params: &std::collections::HashMap<String, String>) -> MessageRef {
        let field = |key: &str| params.get(key).map(|v| Value::String(v.clone()));
        MessageRef { from_client: field("from_client"), timestamp: field("timestamp") }
    }
}

/// New content for a message (L-msg-3).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct EditMessage {
    #[serde(flatten)]
    pub message_ref: MessageRef,
    /// The new message.
    #[schema(value_type = String)]
    pub message: Option<Value>,
    /// Service conversations: tell only these subscribers (1 to 20).
    #[schema(value_type = Option<Vec<String>>)]
    pub to_clients: Option<Value>,
}

/// A recall (L-msg-4).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RecallMessage {
    #[serde(flatten)]
    pub message_ref: MessageRef,
    /// Service conversations: recall for these subscribers only (1 to 20).
    #[schema(value_type = Option<Vec<String>>)]
    pub to_clients: Option<Value>,
}

/// What an app-wide broadcast says besides who sends it, in v1.2 and v1.1 alike.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct BroadcastContent {
    /// The service conversation it goes out under.
    #[schema(value_type = String)]
    pub conv_id: Option<Value>,
    #[schema(value_type = String)]
    pub message: Option<Value>,
    /// Deliverable until this time in ms (at most a month ahead; a month by default).
    #[schema(value_type = Option<i64>)]
    pub valid_till: Option<Value>,
    /// Only for clients connected now.
    #[schema(value_type = Option<bool>)]
    pub transient: Option<Value>,
    /// What the push to clients without a connected device says (as a
    /// message's `push_data`; v1.1 also calls it `push_data`).
    #[serde(alias = "push_data")]
    #[schema(value_type = Option<Object>)]
    pub push: Option<Value>,
}

/// A message to every client of the app (L-glob-3).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Broadcast {
    #[schema(value_type = String)]
    pub from_client: Option<Value>,
    #[serde(flatten)]
    pub content: BroadcastContent,
}

/// `POST /1.1/rtm/messages`: the older send, `from_peer` for the sender and
/// `to_peers` for a service conversation's chosen receivers.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct V11Send {
    #[schema(value_type = String)]
    pub conv_id: Option<Value>,
    #[schema(value_type = String)]
    pub from_peer: Option<Value>,
    #[serde(flatten)]
    pub options: MessageOptions,
    /// Service conversations only: the subscribers it is for.
    #[schema(value_type = Option<Vec<String>>)]
    pub to_peers: Option<Value>,
}

impl V11Send {
    /// The same send as v1.2 has it: transient unless it says otherwise.
    pub fn into_v12(self) -> SendMessage {
        let mut options = self.options;
        options.transient = Some(options.transient.unwrap_or(Value::Bool(true)));
        SendMessage { from_client: self.from_peer, options }
    }
}

/// `POST /1.1/rtm/broadcast`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct V11Broadcast {
    #[schema(value_type = String)]
    pub from_peer: Option<Value>,
    #[serde(flatten)]
    pub content: BroadcastContent,
}

/// L-cli-3.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct KickReason {
    /// Told to the client's sessions; at most 20 characters.
    #[schema(value_type = Option<String>)]
    pub reason: Option<Value>,
}

/// L-cli-6: a conversation.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ConvId {
    #[schema(value_type = String)]
    pub conv_id: Option<Value>,
}

/// A temporary silence (L-perm).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Silence {
    #[schema(value_type = String)]
    pub client_id: Option<Value>,
    /// Seconds.
    #[schema(value_type = i64)]
    pub ttl: Option<Value>,
}

/// A member's role (L-perm): `Manager` or `Member`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct MemberRole {
    #[serde(rename = "clientId")]
    #[schema(value_type = String)]
    pub client_id: Option<Value>,
    #[schema(value_type = String)]
    pub role: Option<Value>,
}

/// A new role for a member named in the path.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RoleChange {
    #[schema(value_type = String)]
    pub role: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_absent_are_apart_in_a_conversation() {
        let fields: ConversationFields = serde_json::from_value(serde_json::json!({"tr": null, "x": 1})).unwrap();
        assert_eq!(fields.tr, Some(Value::Null));
        assert_eq!(fields.sys, None);
        assert_eq!(fields.custom.get("x"), Some(&serde_json::json!(1)));
        assert!(!fields.custom.contains_key("tr"));
    }

    #[test]
    fn a_v11_send_is_transient_unless_it_says_otherwise() {
        let send: V11Send = serde_json::from_value(serde_json::json!({"from_peer": "a"})).unwrap();
        let v12 = send.into_v12();
        assert_eq!(v12.options.transient, Some(Value::Bool(true)));
        assert_eq!(v12.from_client, Some(Value::String("a".into())));
        let send: V11Send = serde_json::from_value(serde_json::json!({"transient": false})).unwrap();
        assert_eq!(send.into_v12().options.transient, Some(Value::Bool(false)));
    }
}

/// A device registering for pushes.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewInstallation {
    /// `ios` or `android`.
    #[schema(value_type = String)]
    pub device_type: Option<Value>,
    /// APNs's token (iOS).
    #[schema(value_type = Option<String>)]
    pub device_token: Option<Value>,
    /// FCM's registration token (Android).
    #[schema(value_type = Option<String>)]
    pub registration_id: Option<Value>,
}
