//! The leancloud document's words: one line per served operation.

use super::{Dialect, Op};

pub(super) fn dialect() -> Dialect {
    Dialect {
        name: "leancloud",
        title: "confab: LeanCloud RTM REST API",
        description: "LeanCloud's real-time messaging REST API as confab serves it, under /1.2/rtm/ (and the older /1.1/rtm/). Requests carry X-LC-Id with the app ID and X-LC-Key with the master key followed by ,master (or X-LC-Sign). Errors are {code, error} with the HTTP status.",
        security: serde_json::json!({"lc_id": {"type": "apiKey", "in": "header", "name": "X-LC-Id"}, "lc_key": {"type": "apiKey", "in": "header", "name": "X-LC-Key", "description": "<master key>,master"}}),
        open: &["GET /v1/route"],
        error: ("LeanCloudError", super::schema_of::<crate::leancloud::ErrorBody>()),
        error_statuses: &["400", "401", "403", "404", "405", "408", "413", "415", "429", "503"],
        success: None,
        other_success: &[],
        request: request_body,
        ops: OPS,
    }
}

/// The body an operation takes: the type its handler reads it into
/// (`Body<T>`, from `leancloud::requests`).
fn request_body(method: &str, path: &str) -> Option<super::Schema> {
    use super::schema_with_parts as body;
    use crate::leancloud::requests::*;
    if (method, path) == ("POST", "/1.1/installations") {
        return Some(body::<NewInstallation>());
    }
    if let Some(v11) = path.strip_prefix("/1.1/rtm") {
        return match (method, v11) {
            ("POST", "/messages") => Some(body::<V11Send>()),
            ("POST", "/broadcast") => Some(body::<V11Broadcast>()),
            _ => None,
        };
    }
    let path = path.strip_prefix("/1.2/rtm")?;
    // The three kinds share their paths after the first part.
    let (kind, rest) = match path.strip_prefix('/')?.split_once('/') {
        Some((kind, rest)) => (kind, format!("/{rest}")),
        None => (path.trim_start_matches('/'), String::new()),
    };
    let kinds = ["conversations", "chatrooms", "service-conversations"];
    let schema = match (method, kind, rest.as_str()) {
        ("POST", "broadcasts", "") => body::<Broadcast>(),
        ("POST", "clients", "/check-online") => body::<ClientIds>(),
        ("POST", "clients", "/{client}/kick") => body::<KickReason>(),
        ("POST" | "DELETE", "clients", "/{client}/blacklists") => body::<ConvId>(),
        ("POST", "service-conversations", "/{id}/messages") => body::<SendToClients>(),
        ("POST", "service-conversations", "/{id}/broadcasts") => body::<SendMessage>(),
        ("POST", "service-conversations", "/{id}/subscribers") => body::<ClientId>(),
        ("POST", kind, "") if kinds.contains(&kind) => body::<ConversationFields>(),
        ("PUT", kind, "/{id}") if kinds.contains(&kind) => body::<ConversationFields>(),
        ("POST", kind, "/{id}/messages") if kinds.contains(&kind) => body::<SendMessage>(),
        ("PUT", kind, "/{id}/messages/{message}") if kinds.contains(&kind) => body::<EditMessage>(),
        ("PUT", kind, "/{id}/messages/{message}/recall") if kinds.contains(&kind) => body::<RecallMessage>(),
        (
            "POST" | "DELETE",
            kind,
            "/{id}/blacklists" | "/{id}/members" | "/{id}/mutes" | "/{id}/permanent-silenceds",
        ) if kinds.contains(&kind) => body::<ClientIds>(),
        ("POST", kind, "/{id}/temporary-silenceds") if kinds.contains(&kind) => body::<Silence>(),
        ("POST", kind, "/{id}/member-infos") if kinds.contains(&kind) => body::<MemberRole>(),
        ("PUT", kind, "/{id}/member-infos/{info}") if kinds.contains(&kind) => body::<RoleChange>(),
        _ => return None,
    };
    Some(schema)
}

const OPS: &[Op] = &[
    Op {
        method: "GET",
        path: "/1.2/rtm/conversations/{id}/messages",
        summary: "A conversation's history",
        id: Some("L-msg-2"),
    },
    Op {
        method: "POST",
        path: "/1.2/rtm/conversations/{id}/messages",
        summary: "Send to a conversation as the app",
        id: Some("L-msg-1"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/conversations/{id}/blacklists",
        summary: "A conversation's blacklist",
        id: Some("L-black-1"),
    },
    Op {
        method: "POST",
        path: "/1.2/rtm/conversations/{id}/blacklists",
        summary: "Blacklist clients (they leave and may not come back)",
        id: Some("L-black-1"),
    },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/conversations/{id}/blacklists",
        summary: "Take clients off the blacklist",
        id: Some("L-black-1"),
    },
    Op {
        method: "POST",
        path: "/1.1/rtm/broadcast",
        summary: "Broadcast to every client (v1.1)",
        id: Some("L-glob-3"),
    },
    Op {
        method: "POST",
        path: "/1.1/installations",
        summary: "Register a device's push token (_Installation); a session opening with it binds it to the client",
        id: None,
    },
    Op {
        method: "POST",
        path: "/1.1/rtm/messages",
        summary: "Send a message (v1.1: from_peer, to_peers; transient by default)",
        id: Some("L-msg-1"),
    },
    Op {
        method: "GET",
        path: "/1.1/rtm/messages/history",
        summary: "History by conversation, sender or app (v1.1)",
        id: Some("L-glob-4"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/all-conversations",
        summary: "Find conversations of every kind",
        id: Some("L-glob-2"),
    },
    Op { method: "GET", path: "/1.2/rtm/broadcasts", summary: "Broadcasts still deliverable", id: Some("L-glob-3") },
    Op {
        method: "POST",
        path: "/1.2/rtm/broadcasts",
        summary: "Broadcast to every client of the app",
        id: Some("L-glob-3"),
    },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/broadcasts/{message}",
        summary: "Delete a broadcast (clients not reached yet never get it)",
        id: Some("L-glob-3"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/chatrooms",
        summary: "Find chat rooms (where, order, skip, limit)",
        id: Some("L-room-1"),
    },
    Op { method: "POST", path: "/1.2/rtm/chatrooms", summary: "Create a chat room", id: Some("L-room-1") },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/chatrooms/{id}",
        summary: "Delete a chat room (its messages stay in history)",
        id: Some("L-room-1"),
    },
    Op { method: "PUT", path: "/1.2/rtm/chatrooms/{id}", summary: "Change a chat room's fields", id: Some("L-room-1") },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/chatrooms/{id}/blacklists",
        summary: "Take clients off the blacklist",
        id: Some("L-room-5"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/chatrooms/{id}/blacklists",
        summary: "A chat room's blacklist",
        id: Some("L-room-5"),
    },
    Op {
        method: "POST",
        path: "/1.2/rtm/chatrooms/{id}/blacklists",
        summary: "Blacklist clients (they leave and may not come back)",
        id: Some("L-room-5"),
    },
    Op { method: "GET", path: "/1.2/rtm/chatrooms/{id}/member-infos", summary: "Members' roles", id: Some("L-role-1") },
    Op {
        method: "POST",
        path: "/1.2/rtm/chatrooms/{id}/member-infos",
        summary: "Give a member a role",
        id: Some("L-role-1"),
    },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/chatrooms/{id}/member-infos/{info}",
        summary: "Clear a member's role",
        id: Some("L-role-1"),
    },
    Op {
        method: "PUT",
        path: "/1.2/rtm/chatrooms/{id}/member-infos/{info}",
        summary: "Change a member's role",
        id: Some("L-role-1"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/chatrooms/{id}/members",
        summary: "Members of a chat room connected now",
        id: Some("L-room-2"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/chatrooms/{id}/members/online-count",
        summary: "How many members of a chat room are connected now",
        id: Some("L-room-3"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/chatrooms/{id}/messages",
        summary: "A chat room's history",
        id: Some("L-room-4"),
    },
    Op {
        method: "POST",
        path: "/1.2/rtm/chatrooms/{id}/messages",
        summary: "Send to a chat room as the app",
        id: Some("L-room-4"),
    },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/chatrooms/{id}/messages/{message}",
        summary: "Delete a message on the server only",
        id: Some("L-msg-5"),
    },
    Op {
        method: "PUT",
        path: "/1.2/rtm/chatrooms/{id}/messages/{message}",
        summary: "Change a sent message",
        id: Some("L-msg-3"),
    },
    Op {
        method: "PUT",
        path: "/1.2/rtm/chatrooms/{id}/messages/{message}/recall",
        summary: "Recall a message",
        id: Some("L-msg-4"),
    },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/chatrooms/{id}/permanent-silenceds",
        summary: "Let silenced members speak again",
        id: Some("L-sil-2"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/chatrooms/{id}/permanent-silenceds",
        summary: "Members silenced until let speak again",
        id: Some("L-sil-2"),
    },
    Op {
        method: "POST",
        path: "/1.2/rtm/chatrooms/{id}/permanent-silenceds",
        summary: "Silence members until let speak again",
        id: Some("L-sil-2"),
    },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/chatrooms/{id}/temporary-silenceds",
        summary: "End a temporary silence (client_id in the query)",
        id: Some("L-sil-1"),
    },
    Op {
        method: "POST",
        path: "/1.2/rtm/chatrooms/{id}/temporary-silenceds",
        summary: "Silence a member for ttl seconds",
        id: Some("L-sil-1"),
    },
    Op {
        method: "POST",
        path: "/1.2/rtm/clients/check-online",
        summary: "Which of up to 20 clients are connected",
        id: Some("L-cli-1"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/clients/sign",
        summary: "A login signature for a user's session token",
        id: Some("L-cli-7"),
    },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/clients/{client}/blacklists",
        summary: "A client may be added to a conversation again",
        id: Some("L-cli-6"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/clients/{client}/blacklists",
        summary: "The conversations a client keeps out of",
        id: Some("L-cli-6"),
    },
    Op {
        method: "POST",
        path: "/1.2/rtm/clients/{client}/blacklists",
        summary: "A client keeps out of a conversation",
        id: Some("L-cli-6"),
    },
    Op {
        method: "POST",
        path: "/1.2/rtm/clients/{client}/kick",
        summary: "Close a client's sessions, telling them why",
        id: Some("L-cli-3"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/clients/{client}/messages",
        summary: "What a client sent, in any conversation",
        id: Some("L-cli-5"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/clients/{client}/service-conversations",
        summary: "The service conversations a client subscribed to",
        id: Some("L-cli-4"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/clients/{client}/unread-count",
        summary: "Messages a client has not read",
        id: Some("L-cli-2"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/conversations",
        summary: "Find conversations (where, order, skip, limit)",
        id: Some("L-conv-2"),
    },
    Op { method: "POST", path: "/1.2/rtm/conversations", summary: "Create a conversation", id: Some("L-conv-1") },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/conversations/{id}",
        summary: "Delete a conversation (its messages stay in history)",
        id: Some("L-conv-4"),
    },
    Op {
        method: "PUT",
        path: "/1.2/rtm/conversations/{id}",
        summary: "Change a conversation's fields",
        id: Some("L-conv-3"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/conversations/{id}/member-infos",
        summary: "Members' roles",
        id: Some("L-role-1"),
    },
    Op {
        method: "POST",
        path: "/1.2/rtm/conversations/{id}/member-infos",
        summary: "Give a member a role",
        id: Some("L-role-1"),
    },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/conversations/{id}/member-infos/{info}",
        summary: "Clear a member's role",
        id: Some("L-role-1"),
    },
    Op {
        method: "PUT",
        path: "/1.2/rtm/conversations/{id}/member-infos/{info}",
        summary: "Change a member's role",
        id: Some("L-role-1"),
    },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/conversations/{id}/members",
        summary: "Remove members",
        id: Some("L-conv-5"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/conversations/{id}/members",
        summary: "A conversation's members",
        id: Some("L-conv-5"),
    },
    Op { method: "POST", path: "/1.2/rtm/conversations/{id}/members", summary: "Add members", id: Some("L-conv-5") },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/conversations/{id}/messages/{message}",
        summary: "Delete a message on the server only",
        id: Some("L-msg-5"),
    },
    Op {
        method: "PUT",
        path: "/1.2/rtm/conversations/{id}/messages/{message}",
        summary: "Change a sent message",
        id: Some("L-msg-3"),
    },
    Op {
        method: "PUT",
        path: "/1.2/rtm/conversations/{id}/messages/{message}/recall",
        summary: "Recall a message",
        id: Some("L-msg-4"),
    },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/conversations/{id}/mutes",
        summary: "Turn a conversation's notifications on again for members",
        id: Some("L-conv-6"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/conversations/{id}/mutes",
        summary: "Members who turned a conversation's notifications off",
        id: Some("L-conv-6"),
    },
    Op {
        method: "POST",
        path: "/1.2/rtm/conversations/{id}/mutes",
        summary: "Turn a conversation's notifications off for members",
        id: Some("L-conv-6"),
    },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/conversations/{id}/permanent-silenceds",
        summary: "Let silenced members speak again",
        id: Some("L-sil-2"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/conversations/{id}/permanent-silenceds",
        summary: "Members silenced until let speak again",
        id: Some("L-sil-2"),
    },
    Op {
        method: "POST",
        path: "/1.2/rtm/conversations/{id}/permanent-silenceds",
        summary: "Silence members until let speak again",
        id: Some("L-sil-2"),
    },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/conversations/{id}/temporary-silenceds",
        summary: "End a temporary silence (client_id in the query)",
        id: Some("L-sil-1"),
    },
    Op {
        method: "POST",
        path: "/1.2/rtm/conversations/{id}/temporary-silenceds",
        summary: "Silence a member for ttl seconds",
        id: Some("L-sil-1"),
    },
    Op { method: "GET", path: "/1.2/rtm/messages", summary: "The whole app's history", id: Some("L-glob-4") },
    Op {
        method: "GET",
        path: "/1.2/rtm/service-conversations",
        summary: "Find service conversations (where, order, skip, limit)",
        id: Some("L-svc-1"),
    },
    Op {
        method: "POST",
        path: "/1.2/rtm/service-conversations",
        summary: "Create a service conversation",
        id: Some("L-svc-1"),
    },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/service-conversations/{id}",
        summary: "Delete a service conversation (its messages stay in history)",
        id: Some("L-svc-1"),
    },
    Op {
        method: "PUT",
        path: "/1.2/rtm/service-conversations/{id}",
        summary: "Change a service conversation's fields",
        id: Some("L-svc-1"),
    },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/service-conversations/{id}/blacklists",
        summary: "Take clients off the blacklist",
        id: Some("L-svc-5"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/service-conversations/{id}/blacklists",
        summary: "A service conversation's blacklist",
        id: Some("L-svc-5"),
    },
    Op {
        method: "POST",
        path: "/1.2/rtm/service-conversations/{id}/blacklists",
        summary: "Blacklist clients (they leave and may not come back)",
        id: Some("L-svc-5"),
    },
    Op {
        method: "POST",
        path: "/1.2/rtm/service-conversations/{id}/broadcasts",
        summary: "Send to every subscriber",
        id: Some("L-svc-3"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/service-conversations/{id}/messages",
        summary: "A service conversation's history",
        id: Some("L-svc-4"),
    },
    Op {
        method: "POST",
        path: "/1.2/rtm/service-conversations/{id}/messages",
        summary: "Send to chosen subscribers (at most 20), who alone see it",
        id: Some("L-svc-4"),
    },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/service-conversations/{id}/messages/{message}",
        summary: "Delete a message on the server only",
        id: Some("L-svc-4"),
    },
    Op {
        method: "PUT",
        path: "/1.2/rtm/service-conversations/{id}/messages/{message}",
        summary: "Change a sent message",
        id: Some("L-svc-4"),
    },
    Op {
        method: "PUT",
        path: "/1.2/rtm/service-conversations/{id}/messages/{message}/recall",
        summary: "Recall a message",
        id: Some("L-svc-4"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/service-conversations/{id}/subscribers",
        summary: "Subscribers, by page after a client ID",
        id: Some("L-svc-2"),
    },
    Op {
        method: "POST",
        path: "/1.2/rtm/service-conversations/{id}/subscribers",
        summary: "Subscribe a client",
        id: Some("L-svc-2"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/service-conversations/{id}/subscribers/count",
        summary: "How many subscribers",
        id: Some("L-svc-2"),
    },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/service-conversations/{id}/subscribers/{client}",
        summary: "Unsubscribe a client",
        id: Some("L-svc-2"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/service-conversations/{id}/subscribers/{client}/messages",
        summary: "What one subscriber got from the service conversation",
        id: Some("L-svc-4"),
    },
    Op {
        method: "DELETE",
        path: "/1.2/rtm/service-conversations/{id}/subscribers/{client}/messages/{message}",
        summary: "Delete a message for one subscriber only",
        id: Some("L-svc-4"),
    },
    Op {
        method: "GET",
        path: "/1.2/rtm/stats",
        summary: "The app's counts (online clients, conversations)",
        id: Some("L-glob-1"),
    },
    Op {
        method: "GET",
        path: "/v1/route",
        summary: "Where the client SDK opens its real-time connection (the vendor's router)",
        id: None,
    },
];
