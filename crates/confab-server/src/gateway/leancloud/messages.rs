//! Messages: sends (`direct`), acknowledgements, history (`logs`), edits and
//! recalls (`patch`), and read cursors (`read`).

use super::*;
use confab_core::error::Refusal;

/// Messages a `logs` command returns at most (and by default, the vendor's 20).
const MAX_LOGS: usize = 100;
const DEFAULT_LOGS: usize = 20;

impl LeanCloud {
    /// A client's message to a conversation: stored, then acknowledged with
    /// its server ID (`uid`) and timestamp (`t`); a refusal is an `ack`
    /// with `code` and `reason`, which the SDK turns into its error.
    pub(super) async fn direct(
        &mut self,
        session: &Session,
        budget: Budget<'_>,
        command: &GenericCommand,
    ) -> GenericCommand {
        let direct = command.direct_message.clone().unwrap_or_default();
        let refused = |code: i32, reason: &str| refused_ack(command.i, code, reason);
        if let Some(why) = budget.charge_send(session).await {
            return refused(code::MESSAGE_SENT_QUOTA_EXCEEDED, why);
        }
        let Some(cid) = direct.cid.clone().filter(|c| !c.is_empty()) else {
            return refused(code::INVALID_MESSAGING_TARGET, "a message needs its conversation (cid)");
        };
        let Some(content) = Content::of(direct.msg.as_deref(), direct.binary_msg.as_deref()) else {
            return refused(code::MESSAGE_TOO_LONG, "a message may be at most 5 KB");
        };
        let kind = match find(&budget, session, &cid).await {
            Ok(group) => group.kind,
            Err(unfound) => return refused(unfound.code, &unfound.reason),
        };
        // The SDKs send `pushData` as an object's JSON text; the vendor
        // sends a message whose `pushData` is not one, with its default push.
        let push_data = direct.push_data.clone().map(serde_json::Value::String);
        let ext = crate::leancloud_data::push_ext(push_data.as_ref()).unwrap_or(None);
        let mentions: Vec<Username> = direct.mention_pids.iter().filter_map(|p| Username::parse(p).ok()).collect();
        let (body, original) = content.kept(direct.mention_all.unwrap_or(false), mentions);
        if direct.will == Some(true) {
            // Kept by this connection, sent if it ends without `session close`.
            self.will = Some(Box::new(Will { kind, cid: cid.clone(), body, original }));
            let now = budget.core().now_ms();
            let ack = AckCommand { cid: Some(cid), t: Some(now), ..Default::default() };
            return GenericCommand {
                cmd: Some(CommandType::Ack as i32),
                i: command.i,
                peer_id: Some(session.user.to_string()),
                server_ts: Some(now),
                ack_message: Some(ack),
                ..Default::default()
            };
        }
        let sent = if direct.transient == Some(true) {
            session.send_transient(kind, &cid, body, Some(original)).await
        } else {
            session.send_original(kind, &cid, body, ext, Some(original)).await
        };
        match sent {
            Ok(message) => {
                if direct.r == Some(true) && message.seq > 0 {
                    self.await_receipts(&message);
                }
                GenericCommand {
                    cmd: Some(CommandType::Ack as i32),
                    i: command.i,
                    peer_id: Some(session.user.to_string()),
                    server_ts: Some(message.timestamp_ms),
                    ack_message: Some(AckCommand {
                        uid: Some(message.id.to_string()),
                        cid: Some(cid),
                        t: Some(message.timestamp_ms),
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            }
            Err(Error::Refused(r)) if r.why == Refusal::ByAppServer => {
                refused(code::MESSAGE_REJECTED_BY_APP, r.detail.as_deref().unwrap_or_default())
            }
            Err(Error::Refused(r)) => refused(code::MESSAGE_REJECTED_BY_APP, &r.to_string()),
            Err(Error::NotFound(m)) => refused(code::CONVERSATION_NOT_FOUND, &m),
            Err(e @ (Error::InvalidArgument(_) | Error::TooLarge(_) | Error::Forbidden(_))) => {
                refused(code::INVALID_MESSAGING_TARGET, &e.to_string())
            }
            Err(e) => {
                tracing::warn!("leancloud send failed: {e}");
                refused(code::INTERNAL_ERROR, "nothing was sent; try again")
            }
        }
    }

    fn await_receipts(&mut self, message: &Message) {
        if self.awaiting.len() >= MAX_AWAITED {
            self.awaiting.remove(0);
        }
        let mid = message.id.to_string();
        self.awaiting.push(Awaited { conversation: message.conversation, seq: message.seq, mid, delivered: false });
    }

    /// The `rcp` commands a receipt makes: for a delivery, one per awaited
    /// message it covers; for a read, one naming the newest awaited message
    /// it covers (the SDK moves `lastReadAt` and marks that message), after
    /// which nothing it covers is awaited any more.
    pub(super) fn receipts(&mut self, session: &Session, receipt: &Receipt) -> Vec<GenericCommand> {
        let rcp = |mid: &str, read: bool| GenericCommand {
            cmd: Some(CommandType::Rcp as i32),
            peer_id: Some(session.user.to_string()),
            rcp_message: Some(proto::RcpCommand {
                id: Some(mid.to_owned()),
                cid: Some(receipt.to.clone()),
                t: Some(receipt.at_ms),
                read: read.then_some(true),
                from: Some(receipt.by.to_string()),
            }),
            ..Default::default()
        };
        let covered = |a: &Awaited| a.conversation == receipt.conversation && a.seq <= receipt.seq;
        match receipt.kind {
            ReceiptKind::Delivered => self
                .awaiting
                .iter_mut()
                .filter(|a| covered(a) && !a.delivered)
                .map(|a| {
                    a.delivered = true;
                    rcp(&a.mid, false)
                })
                .collect(),
            ReceiptKind::Read => {
                let newest = self.awaiting.iter().filter(|a| covered(a)).max_by_key(|a| a.seq).map(|a| a.mid.clone());
                self.awaiting.retain(|a| !covered(a));
                newest.map(|mid| rcp(&mid, true)).into_iter().collect()
            }
        }
    }

    /// The client has messages: their conversations' delivery cursors move.
    /// The SDK acknowledges a conversation's messages up to a time (`cid`,
    /// `tots`); by message ID (`mid`, `ids`) works too.
    pub(super) async fn acknowledged(&mut self, session: &Session, command: &GenericCommand) {
        let Some(ack) = &command.ack_message else { return };
        let mut done: Vec<String> = ack.mid.iter().chain(ack.ids.iter()).cloned().collect();
        if let (Some(cid), Some(until)) = (&ack.cid, ack.tots) {
            done.extend(
                self.pending.iter().filter(|(_, p)| &p.cid == cid && p.timestamp <= until).map(|(id, _)| id.clone()),
            );
        }
        let mut highest: HashMap<ConversationId, i64> = HashMap::new();
        for id in done {
            if let Some(Pending { conversation, seq, .. }) = self.pending.remove(&id) {
                let top = highest.entry(conversation).or_insert(seq);
                *top = (*top).max(seq);
            }
        }
        for (conversation, seq) in highest {
            if let Err(e) = session.acknowledge(conversation, seq, Tell::Sender).await {
                tracing::warn!("storing a cursor failed: {e}");
            }
        }
    }
}

/// `patch modify` from a client: edits or recalls its own messages (the
/// SDK's `conversation.update` and `recall`), which every receiver hears
/// as for an edit made anywhere else. Answered `patch modified`.
pub(super) async fn patch(
    session: &Session,
    budget: Budget<'_>,
    hooks: Option<&crate::fetch::Fetcher>,
    command: &GenericCommand,
) -> GenericCommand {
    let core = budget.core();
    let patches = command.patch_message.clone().unwrap_or_default().patches;
    for item in patches {
        let mid = item.mid.clone().unwrap_or_default();
        let not_found = || error_command(command.i, code::MESSAGE_NOT_FOUND, &format!("message {mid} not found"));
        let Some(id) = confab_core::ids::MessageId::parse(&mid) else { return not_found() };
        let message = match core.messages.get(session.app.id, id).await {
            Ok(Some(message)) => message,
            Ok(None) => return not_found(),
            Err(e) => {
                tracing::warn!("leancloud patch failed: {e}");
                return error_command(command.i, code::INTERNAL_ERROR, "nothing was changed; try again");
            }
        };
        let same_place = item.cid.as_deref() == Some(message.to.as_str())
            && item.timestamp.is_none_or(|t| t == message.timestamp_ms);
        if !same_place || matches!(message.chat_type, ChatType::Chat | ChatType::Broadcast) {
            return not_found();
        }
        if message.from != session.user {
            return error_command(command.i, code::MESSAGE_OWNERSHIP_REQUIRED, "only its sender changes a message");
        }
        let recall = item.recall == Some(true);
        // The app's server may reject the change or rewrite an edit (`_messageUpdate`).
        let mut data = item.data.clone();
        if let Some(fetcher) = hooks {
            let asked = if recall { None } else { Some(data.as_deref().unwrap_or_default()) };
            match crate::callbacks::may_update_message(core, fetcher, &session.app, &message, asked).await {
                Ok(None) => {}
                Ok(Some(rewritten)) => data = Some(rewritten),
                Err(detail) => {
                    let reason = detail.unwrap_or_else(|| "rejected by the app's server".into());
                    return error_command(command.i, code::MESSAGE_UPDATE_REJECTED_BY_APP, &reason);
                }
            }
        }
        let changed = if recall {
            core.messages.recall(session.app.id, id, &session.user, None).await
        } else {
            let Some(content) = Content::of(data.as_deref(), item.binary_msg.as_deref()) else {
                return error_command(command.i, code::MESSAGE_TOO_LONG, "a message may be at most 5 KB");
            };
            let mentions = item.mention_pids.iter().filter_map(|p| Username::parse(p).ok()).collect();
            let (body, original) = content.kept(item.mention_all.unwrap_or(false), mentions);
            core.messages.edit(session.app.id, id, body, Some(original), true).await
        };
        match changed {
            Ok(_) => {}
            Err(Error::InvalidArgument(m)) => return error_command(command.i, code::MESSAGE_NOT_FOUND, &m),
            Err(e) => {
                tracing::warn!("leancloud patch failed: {e}");
                return error_command(command.i, code::INTERNAL_ERROR, "nothing was changed; try again");
            }
        }
    }
    GenericCommand {
        cmd: Some(CommandType::Patch as i32),
        op: Some(OpType::Modified as i32),
        i: command.i,
        patch_message: Some(proto::PatchCommand { last_patch_time: Some(core.now_ms()), ..Default::default() }),
        ..Default::default()
    }
}

/// `read`: the client has read each named conversation up to a message
/// (`mid`) or a time (`timestamp`), as the SDK's `conversation.read()`
/// says; the user's read cursor moves, and with it the unread counts every
/// dialect reports.
pub(super) async fn read(session: &Session, budget: Budget<'_>, command: &GenericCommand) {
    let core = budget.core();
    let asked = command.read_message.clone().unwrap_or_default();
    let mut tuples = asked.convs;
    tuples.extend(asked.cid.into_iter().chain(asked.cids).map(|cid| proto::ReadTuple { cid, ..Default::default() }));
    for tuple in tuples {
        let Ok(group) = find(&budget, session, &tuple.cid).await else { continue };
        let by_id = match tuple.mid.as_deref().and_then(confab_core::ids::MessageId::parse) {
            Some(id) => core.messages.get(session.app.id, id).await.ok().flatten(),
            None => None,
        };
        let upto = match by_id {
            Some(message) if message.conversation == group.conversation => Some(message.seq),
            _ => {
                // The newest message at or before the time (now, without one).
                let at = tuple.timestamp.unwrap_or_else(|| core.now_ms());
                let query = MessageQuery {
                    conversation: Some(group.conversation),
                    from: None,
                    after: None,
                    before: Some(TimeBound { ms: at, id: None, inclusive: true }),
                    newest_first: true,
                    limit: 1,
                };
                core.messages.query(session.app.id, query).await.ok().and_then(|m| m.first().map(|m| m.seq))
            }
        };
        if let Some(seq) = upto {
            if let Err(e) = session.mark_read(group.conversation, seq, Tell::Sender).await {
                tracing::warn!("storing a read cursor failed: {e}");
            }
        }
    }
}

/// `logs`: a page of a conversation's history, oldest first, as the SDK's
/// `queryMessages` asks for it: from `t` (and `mid`) back in time, or, with
/// the direction NEW, forward, until `tt` (and `tmid`). Only members read a
/// conversation's history; anyone in the app reads a chat room's.
pub(super) async fn logs(session: &Session, budget: Budget<'_>, command: &GenericCommand) -> GenericCommand {
    let asked = command.logs_message.clone().unwrap_or_default();
    let cid = asked.cid.clone().unwrap_or_default();
    let core = budget.core();
    let kind = match find(&budget, session, &cid).await {
        Ok(group) => group.kind,
        Err(unfound) => return error_command(command.i, unfound.code, &unfound.reason),
    };
    let group = match core.groups.members(session.app.id, GroupRef { kind, id: &cid }).await {
        Ok((group, members)) => {
            if kind == ChatType::GroupChat && !members.iter().any(|m| m.username == session.user) {
                return error_command(command.i, code::CONVERSATION_LOG_REJECTED, "only members read its messages");
            }
            group
        }
        Err(e) => {
            tracing::warn!("leancloud logs failed: {e}");
            return error_command(command.i, code::INTERNAL_ERROR, "the query failed; try again");
        }
    };
    let limit = asked.limit.or(asked.l).map_or(DEFAULT_LOGS, |l| (l.max(1) as usize).min(MAX_LOGS));
    let id = |raw: &Option<String>| raw.as_deref().and_then(confab_core::ids::MessageId::parse);
    let newer = asked.direction == Some(proto::QueryDirection::New as i32);
    let now = core.now_ms();
    let start = TimeBound {
        ms: asked.t.unwrap_or(if newer { 0 } else { now }),
        id: id(&asked.mid),
        inclusive: asked.t.is_none() || asked.t_included == Some(true),
    };
    let stop = TimeBound {
        ms: asked.tt.unwrap_or(if newer { now } else { 0 }),
        id: id(&asked.tmid),
        inclusive: asked.tt.is_none() || asked.tt_included == Some(true),
    };
    let (after, before) = if newer { (start, stop) } else { (stop, start) };
    let query = MessageQuery {
        conversation: Some(group.conversation),
        from: None,
        after: Some(after),
        before: Some(before),
        newest_first: !newer,
        limit,
    };
    let mut found = match core.messages.query(session.app.id, query).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!("leancloud logs failed: {e}");
            return error_command(command.i, code::INTERNAL_ERROR, "the query failed; try again");
        }
    };
    found.sort_by_key(|m| (m.timestamp_ms, m.id));
    let logs = found.iter().map(|m| log_item(m, kind)).collect();
    GenericCommand {
        cmd: Some(CommandType::Logs as i32),
        i: command.i,
        logs_message: Some(proto::LogsCommand { logs, ..Default::default() }),
        ..Default::default()
    }
}

/// What a client sends: its `msg` string, or its `binaryMsg` bytes (the
/// SDK sends an `ArrayBuffer` payload as those).
enum Content {
    Text(String),
    Binary(Vec<u8>),
}

impl Content {
    /// The content of a `direct` or a patch; `None` when it is over the
    /// vendor's 5 KB.
    fn of(msg: Option<&str>, binary: Option<&[u8]>) -> Option<Content> {
        let content = match (binary, msg) {
            (Some(bytes), None) => Content::Binary(bytes.to_vec()),
            (_, msg) => Content::Text(msg.unwrap_or_default().to_owned()),
        };
        let size = match &content {
            Content::Text(data) => data.len(),
            Content::Binary(bytes) => bytes.len(),
        };
        (size <= crate::leancloud_data::MAX_MESSAGE_BYTES).then_some(content)
    }

    /// The core body other dialects see, and what LeanCloud keeps beside it.
    fn kept(self, mention_all: bool, mentions: Vec<Username>) -> (confab_core::model::Body, Original) {
        let (data, binary, body) = match self {
            Content::Text(data) => {
                let body = crate::leancloud_data::body_of(&data);
                (data, false, body)
            }
            Content::Binary(bytes) => {
                let (data, body) = crate::leancloud_data::binary_content(&bytes);
                (data, true, body)
            }
        };
        (body, Original::LeanCloud { data, binary, mention_all, mentions, valid_till: None })
    }
}

/// Whom a message mentions, when a LeanCloud client sent it.
pub(super) fn mentions_of(message: &Message) -> (bool, Vec<String>) {
    match &message.original {
        Some(Original::LeanCloud { mention_all, mentions, .. }) => {
            (*mention_all, mentions.iter().map(Username::to_string).collect())
        }
        _ => (false, Vec::new()),
    }
}

pub(super) fn log_item(message: &Message, kind: ChatType) -> proto::LogItem {
    let (mention_all, mentions) = mentions_of(message);
    let patched = match message.state {
        confab_core::model::MessageState::Normal => None,
        ref state => Some(state.at_ms()),
    };
    proto::LogItem {
        from: Some(message.from.to_string()),
        data: Some(crate::leancloud_data::data(message)),
        bin: crate::leancloud_data::binary(message).is_some().then_some(true),
        timestamp: Some(message.timestamp_ms),
        msg_id: Some(message.id.to_string()),
        patch_timestamp: patched,
        mention_all: mention_all.then_some(true),
        mention_pids: mentions,
        conv_type: Some(conv_type(kind, &message.to)),
        ..Default::default()
    }
}

/// A refused message: an `ack` with the code and reason.
pub(super) fn refused_ack(i: Option<i32>, code: i32, reason: &str) -> GenericCommand {
    GenericCommand {
        cmd: Some(CommandType::Ack as i32),
        i,
        ack_message: Some(AckCommand { code: Some(code), reason: Some(reason.to_owned()), ..Default::default() }),
        ..Default::default()
    }
}
