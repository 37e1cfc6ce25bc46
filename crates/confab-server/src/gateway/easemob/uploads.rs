//! What a client sends in `SYNC`: an upload (a message, a receipt, a
//! recall, a chat-room join) answered with an acknowledgement naming its
//! `metaId`, which the SDK needs within 15 s; or a pull of a queue, which
//! first acknowledges the batch the key names.

use confab_core::error::{Error, Refusal};
use confab_core::gateway::Tell;
use confab_core::groups::GroupRef;
use confab_core::ids::MessageId;
use confab_core::model::GroupList;

use super::proto::message_body::EditScope;
use super::proto::mucbody::Operation as MucOperation;
use super::*;

/// The refusal of an upload, in the vendor's words (the SDK maps these
/// exact strings to its error codes: "blocked" is 603, "user is mute" …).
fn refusal(error: &Error) -> Status {
    match error {
        Error::Refused(refused) => match refused.why {
            Refusal::Blocked | Refusal::BlockedByReceiver => status(ErrorCode::Fail, "blocked"),
            Refusal::NotMember | Refusal::KeepsOut => status(ErrorCode::Fail, "not in group or chatroom"),
            // Muted in the group or room: the SDK's 507; muted app-wide by
            // the backend ("user is mute"): its 219.
            Refusal::Muted | Refusal::AllMuted | Refusal::OwnerSpeaksOnly => {
                status(ErrorCode::UserMuted, "you were muted")
            }
            Refusal::MutedGlobally => status(ErrorCode::PermissionDenied, "user is mute"),
            Refusal::SensitiveWords => status(ErrorCode::PermissionDenied, "sensitive words"),
            // The SDK's MESSAGE_EXTERNAL_LOGIC_BLOCKED, with the app's `code` as its reason.
            Refusal::ByAppServer => {
                status(ErrorCode::PermissionDeniedExternal, refused.detail.as_deref().unwrap_or("custom logic denied"))
            }
            _ => status(ErrorCode::Fail, &refused.to_string()),
        },
        Error::NotFound(_) => status(ErrorCode::Fail, "group not found"),
        Error::TooLarge(_) => status(ErrorCode::PermissionDenied, "Sorry, data is too large"),
        Error::InvalidArgument(why) => status(ErrorCode::WrongParameter, why),
        Error::Deactivated(_) => status(ErrorCode::Fail, "user is deactivated"),
        _ => status(ErrorCode::Fail, "the server could not take it; try again"),
    }
}

/// An edit's refusal, in the vendor's words (the SDK maps each to its own code).
fn edit_refusal(error: &Error) -> Status {
    match error {
        Error::NotFound(_) => status(ErrorCode::Fail, "Sorry, message does not exist"),
        Error::Refused(refused) => match refused.why {
            Refusal::NotSender => status(ErrorCode::Fail, "Sorry, You do not have permission"),
            Refusal::EditLimit => status(ErrorCode::Fail, "Sorry, edit limit reached"),
            Refusal::NotEditable => status(ErrorCode::Fail, "Sorry, format is incorrect"),
            _ => refusal(error),
        },
        Error::InvalidArgument(_) | Error::TooLarge(_) => status(ErrorCode::Fail, "Sorry, format is incorrect"),
        _ => status(ErrorCode::Fail, "Sorry, edit fail"),
    }
}

/// A chat room as its joiner's SDK reads it (`chatroomInfo`, keyed by the
/// user): whether everyone is muted, whether they are on the allow list,
/// until when they are muted (0: they are not), its member count and age.
async fn room_info(core: &Core, session: &Session, room: &str) -> serde_json::Value {
    let (app, me) = (session.app.id, &session.user);
    let target = || GroupRef { kind: ChatType::ChatRoom, id: room };
    let Ok(group) = core.groups.get(app, target()).await else {
        return serde_json::json!({});
    };
    let listed = |list| async move { core.groups.list_entries(app, target(), list).await.unwrap_or_default() };
    let allowed = listed(GroupList::Allow).await.iter().any(|e| e.username == *me);
    let now = core.now_ms();
    let muted = listed(GroupList::Mute).await.into_iter().find(|e| e.username == *me && e.until_ms > now);
    // A mute with no end is shown as one that ends in the year 9999.
    let muted_until = muted.map_or(0, |e| e.until_ms.min(253_402_300_799_999));
    serde_json::json!({ me.as_str(): {
        "is_all_mute": group.mute_all,
        "is_in_white_list": allowed,
        "mute_duration": muted_until,
        "member_count": group.member_count,
        "create_timestamp": group.created_ms,
    }})
}

/// Whether a group message is for a thread (its body's `meta` has `thread`).
fn in_thread(body: &MessageBody) -> bool {
    let Some(meta) = body.meta.as_deref().filter(|m| !m.is_empty()) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(meta).is_ok_and(|m| m.get("thread").is_some())
}

/// What an upload did.
pub(super) enum Uploaded {
    /// A message, stored.
    Message(Arc<Message>),
    /// A message's new content, stored.
    Edited(Message),
    /// A receipt, a recall: nothing new stored.
    Signal,
}

impl Msync {
    /// An uploaded meta: done, then acknowledged (`metaId` echoed, with the
    /// stored message's `serverId` and time), or refused in its status.
    pub(super) async fn upload(&mut self, session: &Session, budget: Budget<'_>, meta: Meta) -> CommSyncDL {
        let meta_id = meta.id;
        let now = budget.core().now_ms();
        let ack = |status: Status, server_id: Option<u64>, at: i64| CommSyncDL {
            status: Some(status),
            meta_id,
            server_id,
            timestamp: u64::try_from(at).ok(),
            ..Default::default()
        };
        let namespace = meta.ns.and_then(|n| NameSpace::try_from(n).ok()).unwrap_or(NameSpace::Statistic);
        match namespace {
            NameSpace::Chat => match self.chat(session, budget, &meta).await {
                Ok(Uploaded::Message(message)) => ack(ok(), Some(message.id.0), message.timestamp_ms),
                Ok(Uploaded::Edited(message)) => {
                    // The SDK reads the edit's count and time from a NOTIFY
                    // meta in the acknowledgement (JSON, not protobuf).
                    let notify = Meta {
                        id: meta_id,
                        ns: Some(NameSpace::Notify as i32),
                        payload: Some(edit_info(&message, &session.user).to_string().into_bytes()),
                        ..Default::default()
                    };
                    CommSyncDL { metas: vec![notify], ..ack(ok(), Some(message.id.0), now) }
                }
                Ok(Uploaded::Signal) => ack(ok(), None, now),
                Err(status) => ack(status, None, now),
            },
            NameSpace::Muc => {
                let (status, metas) = self.room(session, budget.core(), &meta).await;
                CommSyncDL { metas, ..ack(status, None, now) }
            }
            // The SDK's statistics report after login and heartbeats.
            NameSpace::Statistic => ack(ok(), None, now),
            _ => ack(status(ErrorCode::UnknownCommand, "not served"), None, now),
        }
    }

    /// A `CHAT` upload: a message (stored), an edit, or a receipt or recall.
    async fn chat(&mut self, session: &Session, budget: Budget<'_>, meta: &Meta) -> Result<Uploaded, Status> {
        let payload = meta.payload.as_deref().unwrap_or_default();
        if payload.len() > crate::limits::EASEMOB_MAX_CONTENT_BYTES {
            return Err(status(ErrorCode::PermissionDenied, "Sorry, data is too large"));
        }
        let body = MessageBody::decode(payload).map_err(|_| status(ErrorCode::PbParserError, "not a message body"))?;
        let kind = body.r#type.and_then(|t| BodyType::try_from(t).ok()).unwrap_or(BodyType::Chat);
        let to =
            meta.to.as_ref().and_then(|j| j.name.clone()).or_else(|| body.to.as_ref().and_then(|j| j.name.clone()));
        let to = to.filter(|t| !t.is_empty()).ok_or_else(|| status(ErrorCode::MissingParameter, "to whom?"))?;
        let chat_type = match kind {
            BodyType::Chat | BodyType::Normal => ChatType::Chat,
            // A message in a thread says so in its `meta` ({"thread": …}).
            BodyType::Groupchat if in_thread(&body) => ChatType::Thread,
            BodyType::Groupchat => ChatType::GroupChat,
            BodyType::Chatroom => ChatType::ChatRoom,
            BodyType::ReadAck | BodyType::DeliverAck | BodyType::ChannelAck => {
                self.acked(session, budget, kind, &body).await?;
                return Ok(Uploaded::Signal);
            }
            BodyType::Recall => {
                self.recall(session, budget, &body).await?;
                return Ok(Uploaded::Signal);
            }
            BodyType::Edit => return self.edit(session, budget, &body).await.map(Uploaded::Edited),
        };
        if let Some(why) = budget.charge_send(session).await {
            let _ = why;
            return Err(status(ErrorCode::PermissionDenied, "traffic limit"));
        }
        let [content] = body.contents.as_slice() else {
            return Err(status(ErrorCode::WrongParameter, "a message has one content"));
        };
        let content = content::body_of(content).map_err(|why| status(ErrorCode::WrongParameter, &why))?;
        let ext = content::json_of(&body.ext).map_err(|why| status(ErrorCode::WrongParameter, &why))?;
        let ext = (!ext.is_empty()).then_some(serde_json::Value::Object(ext));
        // One-to-one IDs fold case, as Easemob's do.
        let to = if chat_type == ChatType::Chat { to.to_lowercase() } else { to };
        session.send(chat_type, &to, content, ext).await.map(Uploaded::Message).map_err(|e| refusal(&e))
    }

    /// An edit of the user's own message (`editMessageId`): new content,
    /// and a new `ext` when the scope says so; refused in the vendor's words.
    async fn edit(&mut self, session: &Session, budget: Budget<'_>, body: &MessageBody) -> Result<Message, Status> {
        let core = budget.core();
        let id = body.edit_message_id.map(MessageId).ok_or_else(|| edit_refusal(&Error::NotFound(String::new())))?;
        let [content] = body.contents.as_slice() else {
            return Err(status(ErrorCode::Fail, "Sorry, format is incorrect"));
        };
        let content = content::body_of(content).map_err(|_| status(ErrorCode::Fail, "Sorry, format is incorrect"))?;
        let ext = match body.edit_scope.and_then(|s| EditScope::try_from(s).ok()) {
            Some(EditScope::BodyAndExt) => {
                let ext = content::json_of(&body.ext).map_err(|why| status(ErrorCode::WrongParameter, &why))?;
                Some(serde_json::Value::Object(ext))
            }
            _ => None,
        };
        core.messages.edit_own(session.app.id, id, &session.user, content, ext).await.map_err(|e| edit_refusal(&e))
    }

    /// A delivery or read receipt for one message (`ackMessageId`), or a
    /// conversation read ("channel ack"): the user's cursors move, and the
    /// message's sender is told.
    async fn acked(
        &mut self,
        session: &Session,
        budget: Budget<'_>,
        kind: BodyType,
        body: &MessageBody,
    ) -> Result<(), Status> {
        let core = budget.core();
        let Some(id) = body.ack_message_id.map(MessageId) else {
            // A channel ack names the conversation, not a message: read up to
            // the newest message of it this connection handed over.
            let peer = body.to.as_ref().and_then(|j| j.name.clone()).unwrap_or_default();
            let Some(&(conversation, seq)) = self.seen.get(&peer) else { return Ok(()) };
            return session.mark_read(conversation, seq, Tell::Nobody).await.map_err(|e| refusal(&e));
        };
        let message = match core.messages.get(session.app.id, id).await {
            Ok(Some(message)) if message.seq > 0 => message,
            Ok(_) => return Ok(()),
            Err(e) => return Err(refusal(&e)),
        };
        let done = match kind {
            BodyType::DeliverAck => session.acknowledge(message.conversation, message.seq, Tell::Sender).await,
            _ => session.mark_read(message.conversation, message.seq, Tell::Sender).await,
        };
        done.map_err(|e| refusal(&e))
    }

    /// A recall of the user's own message (`ackMessageId`), within the
    /// app's recall window (Easemob's two minutes by default).
    async fn recall(&mut self, session: &Session, budget: Budget<'_>, body: &MessageBody) -> Result<(), Status> {
        let core = budget.core();
        let not_found = || status(ErrorCode::Fail, "message not found");
        let id = body.ack_message_id.map(MessageId).ok_or_else(not_found)?;
        let message = core.messages.get(session.app.id, id).await.map_err(|e| refusal(&e))?.ok_or_else(not_found)?;
        if !message.state.is_visible() {
            return Err(not_found());
        }
        if message.from != session.user {
            return Err(status(ErrorCode::Fail, "Sorry, you can only recall your own message"));
        }
        let window_secs = budget.limits().value(&session.app, crate::limits::EASEMOB_RECALL_WINDOW_SECS);
        if window_secs == 0 {
            return Err(status(ErrorCode::Fail, "message recall disabled"));
        }
        if core.now_ms() - message.timestamp_ms > i64::from(window_secs) * 1000 {
            return Err(status(ErrorCode::Fail, "exceed recall time limit"));
        }
        core.messages.recall(session.app.id, id, &session.user, None).await.map_err(|e| refusal(&e))?;
        Ok(())
    }

    /// A chat-room join or leave (`MUC` with `isChatroom`): the answer's
    /// first meta tells the SDK the room's state (`chatroomInfo`).
    async fn room(&mut self, session: &Session, core: &Core, meta: &Meta) -> (Status, Vec<Meta>) {
        let Ok(muc) = proto::MUCBody::decode(meta.payload.as_deref().unwrap_or_default()) else {
            return (status(ErrorCode::PbParserError, "not a MUC body"), Vec::new());
        };
        let room = muc.muc_id.as_ref().and_then(|j| j.name.clone()).unwrap_or_default();
        let operation = muc.operation.and_then(|o| MucOperation::try_from(o).ok());
        let done = match operation {
            Some(MucOperation::Join) if muc.is_chatroom == Some(true) => session.join_room(&room).await.map(|_| ()),
            Some(MucOperation::Leave) if muc.is_chatroom == Some(true) => session.leave_room(&room).await,
            _ => return (status(ErrorCode::UnknownCommand, "groups are changed over REST"), Vec::new()),
        };
        let muc_status = match &done {
            Ok(()) => proto::mucbody::Status {
                error_code: Some(0),
                chatroom_info: Some(room_info(core, session, &room).await.to_string()),
                ..Default::default()
            },
            Err(e) => proto::mucbody::Status {
                error_code: Some(proto::mucbody::status::ErrorCode::MucNotExist as i32),
                description: Some(e.to_string()),
                ..Default::default()
            },
        };
        let answer = proto::MUCBody {
            muc_id: muc.muc_id.clone(),
            operation: muc.operation,
            status: Some(muc_status),
            is_chatroom: Some(true),
            ..Default::default()
        };
        let metas = vec![Meta {
            id: meta.id,
            ns: Some(NameSpace::Muc as i32),
            payload: Some(answer.encode_to_vec()),
            ..Default::default()
        }];
        match done {
            Ok(()) => (ok(), metas),
            Err(e) => (refusal(&e), metas),
        }
    }

    /// A pull: the batch `key` names is acknowledged (the core's delivery
    /// cursors move), then the queue's next batch goes out, or, when it is
    /// empty, `isLast` (the SDK reads `isLast` with metas as "pull again").
    pub(super) async fn pull(
        &mut self,
        session: &Session,
        budget: Budget<'_>,
        queue: Jid,
        key: Option<u64>,
    ) -> CommSyncDL {
        if let Some(key) = key {
            for (conversation, seq) in self.queues.acknowledged(key) {
                if let Err(e) = session.acknowledge(conversation, seq, Tell::Nobody).await {
                    tracing::warn!("easemob delivery ack failed: {e}");
                }
            }
        }
        let now = u64::try_from(budget.core().now_ms()).ok();
        match self.queues.next_batch(&queue) {
            Some((next_key, metas)) => CommSyncDL {
                status: Some(ok()),
                queue: Some(queue),
                metas,
                next_key: Some(next_key),
                is_last: Some(false),
                timestamp: now,
                ..Default::default()
            },
            None => CommSyncDL {
                status: Some(ok()),
                queue: Some(queue),
                is_last: Some(true),
                timestamp: now,
                ..Default::default()
            },
        }
    }
}
