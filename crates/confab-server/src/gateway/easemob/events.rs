//! What the core tells a session, as msync: recalls and edits of messages,
//! group and chat-room events (MUC bodies), and threads (the `thread`
//! NOTIFY, THREAD_KICK, and what a thread message says of its thread).

use super::*;

/// What a thread message tells the SDK of its thread.
#[derive(Debug, Clone)]
pub(super) struct ThreadInfo {
    parent: String,
    message: Option<confab_core::ids::MessageId>,
    name: String,
}

impl ThreadInfo {
    pub(super) fn of(thread: &confab_core::model::Group) -> ThreadInfo {
        ThreadInfo {
            parent: thread.parent.clone().unwrap_or_default(),
            message: thread.parent_message,
            name: thread.settings.name.clone(),
        }
    }

    /// The body's `meta` of a message in the thread.
    pub(super) fn body_meta(&self) -> String {
        let message = self.message.map(|m| m.to_string()).unwrap_or_default();
        serde_json::json!({"thread": {"msg_parent_id": message, "muc_parent_id": self.parent, "thread_name": self.name}})
            .to_string()
    }
}

impl Msync {
    /// A recall, as the SDK's RECALL message naming the recalled one.
    pub(super) fn recalled(&mut self, session: &Session, update: &MessageUpdate) -> Option<WsMessage> {
        let message = &update.message;
        let by = update.by.clone().unwrap_or_else(|| message.from.clone());
        let queue = self.queue_of(&session.user, message.chat_type, &message.from, &message.to);
        let (_, domain) = body_type(message.chat_type);
        let to = self.jid(&message.to, domain);
        let body = MessageBody {
            r#type: Some(BodyType::Recall as i32),
            from: Some(Jid { name: Some(by.to_string()), ..Default::default() }),
            to: Some(Jid { name: Some(message.to.clone()), ..Default::default() }),
            ack_message_id: Some(message.id.0),
            ..Default::default()
        };
        let now = message.state.at_ms();
        let meta = self.signal(now, by.as_str(), &to, body);
        self.enqueue(queue, Item { meta, ack: None })
    }

    /// An edit, whichever dialect made it, as the SDK's EDIT message: the
    /// edited message's ID, its new content and `ext`, and the edit's count
    /// and time in the body's `meta` (its onModifiedMessage).
    pub(super) fn edited(&mut self, session: &Session, update: &MessageUpdate) -> Option<WsMessage> {
        let message = &update.message;
        if !message.state.is_visible() {
            return None;
        }
        let by = update.by.clone().unwrap_or_else(|| message.from.clone());
        let queue = self.queue_of(&session.user, message.chat_type, &message.from, &message.to);
        let (_, domain) = body_type(message.chat_type);
        let to = self.jid(&message.to, domain);
        let ext = match &message.ext {
            Some(serde_json::Value::Object(map)) => content::key_values(map),
            _ => Vec::new(),
        };
        let body = MessageBody {
            r#type: Some(BodyType::Edit as i32),
            from: Some(Jid { name: Some(message.from.to_string()), ..Default::default() }),
            to: Some(Jid { name: Some(message.to.clone()), ..Default::default() }),
            contents: vec![content::content_of(&message.body)],
            ext,
            edit_message_id: Some(message.id.0),
            edit_scope: Some(proto::message_body::EditScope::BodyAndExt as i32),
            meta: Some(edit_info(message, &by).to_string()),
            ..Default::default()
        };
        let meta = self.signal(message.state.at_ms(), by.as_str(), &to, body);
        self.enqueue(queue, Item { meta, ack: None })
    }

    /// A thread's event: its creation, renaming and end as the SDK's
    /// `thread` NOTIFY (its onChatThreadChange), in the parent group's
    /// queue; the user removed from it as THREAD_KICK. The user joining it
    /// only updates what this connection knows of their threads.
    pub(super) async fn thread_event(
        &mut self,
        session: &Session,
        core: &Core,
        event: &GroupEvent,
    ) -> Option<WsMessage> {
        let me = event.users.contains(&session.user);
        let current = || async {
            core.groups.get(session.app.id, GroupRef { kind: ChatType::Thread, id: &event.group }).await.ok()
        };
        let (operation, thread) = match event.event {
            GroupEventKind::Created => {
                let thread = current().await?;
                if thread.owner == session.user {
                    self.remember_thread(&thread);
                }
                ("create", ThreadInfo::of(&thread))
            }
            GroupEventKind::Updated => {
                let thread = current().await?;
                let info = ThreadInfo::of(&thread);
                if self.threads.contains_key(&thread.id) {
                    self.threads.insert(thread.id.clone(), info.clone());
                }
                ("update", info)
            }
            GroupEventKind::Destroyed => ("delete", self.threads.remove(&event.group)?),
            GroupEventKind::MembersAdded if me => {
                let thread = current().await?;
                self.remember_thread(&thread);
                return None;
            }
            GroupEventKind::MembersRemoved if me => {
                let thread = self.threads.remove(&event.group)?;
                return self.thread_kick(session, event, &thread);
            }
            _ => return None,
        };
        let owner = match operation {
            "create" => current().await.map(|t| t.owner.to_string()),
            _ => None,
        };
        let notify = serde_json::json!({"type": "thread", "data": {
            "operation": operation,
            "id": event.group,
            "name": thread.name,
            "muc_parent_id": thread.parent,
            "msg_parent_id": thread.message.map(|m| m.to_string()).unwrap_or_default(),
            "timestamp": event.timestamp_ms,
            "from": owner.as_deref().unwrap_or("admin"),
            "message_count": 0,
        }});
        let from = self.jid(owner.as_deref().unwrap_or("admin"), USER_DOMAIN);
        let to = self.jid(session.user.as_str(), USER_DOMAIN);
        let payload = notify.to_string().into_bytes();
        let meta = self.server_meta(event.timestamp_ms, Some(from), to, NameSpace::Notify, payload);
        let queue = self.jid(&thread.parent, GROUP_DOMAIN);
        self.enqueue(queue, Item { meta, ack: None })
    }

    /// The user removed from a thread, as the SDK's THREAD_KICK MUC body
    /// (its onChatThreadChange `userRemove`).
    fn thread_kick(&mut self, session: &Session, event: &GroupEvent, thread: &ThreadInfo) -> Option<WsMessage> {
        use proto::mucbody::Operation as Op;
        let muc = proto::MUCBody {
            muc_id: Some(self.jid(&event.group, GROUP_DOMAIN)),
            operation: Some(Op::ThreadKick as i32),
            from: Some(self.jid("admin", USER_DOMAIN)),
            to: vec![self.jid(session.user.as_str(), USER_DOMAIN)],
            is_thread: Some(true),
            muc_parent_id: Some(self.jid(&thread.parent, GROUP_DOMAIN)),
            muc_name: Some(thread.name.clone()),
            ..Default::default()
        };
        let to = self.jid(session.user.as_str(), USER_DOMAIN);
        let meta = self.server_meta(event.timestamp_ms, muc.from.clone(), to, NameSpace::Muc, muc.encode_to_vec());
        let queue = self.jid(&thread.parent, GROUP_DOMAIN);
        self.enqueue(queue, Item { meta, ack: None })
    }

    pub(super) fn remember_thread(&mut self, thread: &confab_core::model::Group) {
        if self.threads.len() >= MAX_SEEN {
            self.threads.clear();
        }
        self.threads.insert(thread.id.clone(), ThreadInfo::of(thread));
    }

    /// The MUC body of a group event, as this user is told it; `None` for
    /// events the SDK has no operation for.
    pub(super) fn muc_of(&self, session: &Session, event: &GroupEvent) -> Option<proto::MUCBody> {
        use proto::mucbody::Operation as Op;
        if event.kind == ChatType::Thread {
            // The SDK reads a thread event's parent unchecked; not told yet.
            return None;
        }
        let me = event.users.contains(&session.user);
        let operation = match (event.event, me) {
            (GroupEventKind::MembersAdded, true) => Op::DirectJoined,
            (GroupEventKind::MembersAdded, false) => Op::Presence,
            (GroupEventKind::MembersRemoved, true) => Op::Kick,
            (GroupEventKind::MembersRemoved, false) => Op::Absence,
            (GroupEventKind::Destroyed, _) => Op::Destroy,
            (GroupEventKind::Updated, _) => Op::Update,
            (GroupEventKind::OwnerChanged, _) => Op::AssignOwner,
            (GroupEventKind::AdminsAdded, _) => Op::AddAdmin,
            (GroupEventKind::AdminsRemoved, _) => Op::RemoveAdmin,
            (GroupEventKind::Muted, _) => Op::AddMute,
            (GroupEventKind::Unmuted, _) => Op::RemoveMute,
            (GroupEventKind::Blocked, _) => Op::Ban,
            (GroupEventKind::Unblocked, _) => Op::Allow,
            (GroupEventKind::AllMuted, _) => Op::BanGroup,
            (GroupEventKind::AllUnmuted, _) => Op::RemoveBanGroup,
            (GroupEventKind::AllowListed, _) => Op::AddUserWhiteList,
            (GroupEventKind::AllowListRemoved, _) => Op::RemoveUserWhiteList,
            (GroupEventKind::Created | GroupEventKind::AttributesChanged | GroupEventKind::AttributesRemoved, _) => {
                return None;
            }
        };
        // Who did it is not in the core's event: a member joining or leaving
        // is its own actor (the SDK reads `from` as the member then); for the
        // rest the app (`admin`), as for the backend's calls.
        let actor = match operation {
            Op::Presence | Op::Absence => event.users.first().map(Username::to_string),
            _ => None,
        };
        let from = self.jid(actor.as_deref().unwrap_or("admin"), USER_DOMAIN);
        let is_chatroom = event.kind == ChatType::ChatRoom;
        Some(proto::MUCBody {
            muc_id: Some(self.jid(&event.group, GROUP_DOMAIN)),
            operation: Some(operation as i32),
            from: Some(from),
            to: event.users.iter().map(|u| self.jid(u.as_str(), USER_DOMAIN)).collect(),
            is_chatroom: Some(is_chatroom),
            ..Default::default()
        })
    }
}

/// An edited message's `edit_msg`, as the SDK reads it from an edit's
/// acknowledgement and from the EDIT message others get.
pub(super) fn edit_info(message: &Message, by: &Username) -> serde_json::Value {
    let (count, at_ms) = match message.state {
        confab_core::model::MessageState::Edited { count, at_ms } => (count, at_ms),
        _ => (0, message.state.at_ms()),
    };
    let chat_type = match message.chat_type {
        ChatType::Chat | ChatType::Broadcast => "chat:user",
        ChatType::ChatRoom => "chat:room",
        ChatType::GroupChat | ChatType::Thread | ChatType::Channel => "chat:group",
    };
    serde_json::json!({"edit_msg": {
        "count": count,
        "operator": by.as_str(),
        "edit_time": at_ms,
        "sender": message.from.as_str(),
        "send_time": message.timestamp_ms,
        "chat_type": chat_type,
    }})
}
