//! Sending, storing and acknowledging messages.

use std::sync::Arc;

mod changes;
mod views;
pub use views::{ConversationSummary, Direction, HistoryPage, HistoryRequest, Unread};

use crate::deps::Deps;
use crate::error::{Error, Refusal, Refused, Result};
use crate::events::{LiveEvent, Receipt, ReceiptKind};
use crate::ids::MessageId;
use crate::model::{
    broadcast_conversation_key, direct_conversation_key_on_line, AppId, Audience, Body, ChatType, ConversationId,
    Delivery, Message, MessageState, NewMessage, Original, Username,
};
use crate::storage::{HiddenRange, MessageQuery};

/// Most edits of one message (Easemob's limit).
pub const MAX_EDITS: u32 = 10;

/// Most receivers of one multicast.
pub const MULTICAST_RECEIVERS: usize = 1000;

/// A one-to-one send: the same content to each receiver, one message each.
#[derive(Debug, Clone)]
pub struct DirectSend {
    pub from: Username,
    pub to: Vec<Username>,
    pub body: Body,
    pub ext: Option<serde_json::Value>,
    pub delivery: Delivery,
    /// The gateway device it came from, if any.
    pub origin_device: Option<String>,
    /// The conversation line (0: the conversation every dialect sees).
    pub line: u32,
    pub original: Option<Original>,
}

/// One message from a sender to many users (or to every user of the app),
/// stored once in the sender's broadcast conversation on `line`.
#[derive(Debug, Clone)]
pub struct Multicast {
    pub from: Username,
    /// Sends under a conversation of the app's naming (LeanCloud's service
    /// conversations) instead of the sender's own broadcast conversation.
    pub channel: Option<Channel>,
    /// `None`: every user of the app.
    pub to: Option<Vec<Username>>,
    pub line: u32,
    pub body: Body,
    pub ext: Option<serde_json::Value>,
    pub original: Option<Original>,
}

/// A broadcast conversation named by the app: its key, and the name its
/// messages are addressed to (`to`).
#[derive(Debug, Clone)]
pub struct Channel {
    pub key: String,
    pub name: String,
}

/// Whether a receiver has the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Delivered,
    Undelivered,
}

/// The largest badge a push shows: apps show "99+" beyond it, and counting
/// further would cost every push to a user with a long backlog a long scan.
pub const MAX_BADGE: u64 = 99;

#[derive(Clone)]
pub struct MessageService {
    deps: Arc<Deps>,
}

impl MessageService {
    pub(crate) fn new(deps: Arc<Deps>) -> MessageService {
        MessageService { deps }
    }

    /// Commits one message per receiver, then fans them out. Returns
    /// `(receiver, message)` pairs once the commit is durable. Receivers
    /// need not be registered yet: like the vendor, confab keeps the message
    /// for them.
    ///
    /// With `online_only`, receivers with no connected device get no message;
    /// if none is connected the send fails and nothing is stored.
    #[tracing::instrument(level = "debug", skip_all, fields(app = app.0, from = %send.from, receivers = send.to.len()))]
    pub async fn send_direct(&self, app: AppId, send: DirectSend) -> Result<Vec<(Username, Arc<Message>)>> {
        send.body.validate()?;
        if send.to.is_empty() {
            return Err(Error::InvalidArgument("a message needs at least one receiver".into()));
        }
        let mut to = send.to.clone();
        if send.from != Username::admin() && send.delivery.sent_at.is_none() {
            self.deps.restrictions.check_sender(app, &send.from, ChatType::Chat).await?;
            let mut allowed = Vec::with_capacity(to.len());
            for receiver in to {
                if !self.deps.restrictions.blocked(app, &receiver, &send.from).await? {
                    allowed.push(receiver);
                }
            }
            if allowed.is_empty() {
                return Err(Refused::of(Refusal::BlockedByReceiver, &send.from).into());
            }
            to = allowed;
        }
        let receivers = if send.delivery.online_only {
            let counts = self.deps.fanout.device_counts(app, &to).await;
            let online: Vec<Username> = to.iter().zip(counts).filter(|(_, n)| *n > 0).map(|(u, _)| u.clone()).collect();
            if online.is_empty() {
                return Err(Error::ReceiverOffline("receiver is offline".into()));
            }
            online
        } else {
            to
        };

        let now = self.deps.clock.now_ms();
        let sent_at = send.delivery.sent_at.unwrap_or(now);
        let mut drafts: Vec<NewMessage> = receivers
            .iter()
            .map(|to| NewMessage {
                id: self.deps.ids.next(now),
                chat_type: ChatType::Chat,
                conversation_key: direct_conversation_key_on_line(&send.from, to, send.line),
                members: vec![send.from.clone(), to.clone()],
                from: send.from.clone(),
                to: to.as_str().to_owned(),
                body: send.body.clone(),
                ext: send.ext.clone(),
                timestamp_ms: sent_at,
                sync_sender: send.delivery.sync_sender,
                origin_device: send.origin_device.clone(),
                original: send.original.clone(),
                audience: Audience::Members,
            })
            .collect();
        // An import (`sent_at`) is history being moved, not a message being sent.
        if send.delivery.sent_at.is_none() {
            self.deps.screen_by_app(app, &mut drafts).await?;
        }
        let stored = self.deps.store.append(app, drafts).await?;
        self.deps.activity.add_committed(stored.len());

        let mut sent = Vec::with_capacity(stored.len());
        for (to, message) in receivers.into_iter().zip(stored) {
            let message = Arc::new(message);
            // Both ends hear of every message in the conversation, so each of
            // their sessions sees every sequence number and can tell a gap
            // from a message that was not meant for it.
            let members = [message.from.clone(), to.clone()];
            self.deps.fanout.publish(app, &members, LiveEvent::Message(message.clone())).await;
            sent.push((to, message));
        }
        Ok(sent)
    }

    /// Sends one message to many users, or to every user of the app, storing
    /// it once. Returns it with the number of receivers.
    #[tracing::instrument(level = "debug", skip_all, fields(app = app.0, from = %send.from))]
    pub async fn multicast(&self, app: AppId, send: Multicast) -> Result<(Arc<Message>, u64)> {
        send.body.validate()?;
        let audience = match send.to {
            Some(to) => {
                let mut unique: Vec<Username> = Vec::with_capacity(to.len());
                for user in to {
                    if user != send.from && !unique.contains(&user) {
                        unique.push(user);
                    }
                }
                if unique.is_empty() {
                    return Err(Error::InvalidArgument("targets can't be empty".into()));
                }
                if unique.len() > MULTICAST_RECEIVERS {
                    return Err(Error::InvalidArgument(format!(
                        "at most {MULTICAST_RECEIVERS} targets are allowed, got {}",
                        unique.len()
                    )));
                }
                Audience::Join(unique)
            }
            None => Audience::AllUsers,
        };
        let now = self.deps.clock.now_ms();
        let draft = NewMessage {
            id: self.deps.ids.next(now),
            chat_type: ChatType::Broadcast,
            conversation_key: match &send.channel {
                Some(channel) => channel.key.clone(),
                None => broadcast_conversation_key(&send.from, send.line),
            },
            members: vec![send.from.clone()],
            from: send.from.clone(),
            to: send.channel.as_ref().map_or_else(|| send.from.as_str().to_owned(), |c| c.name.clone()),
            body: send.body,
            ext: send.ext,
            timestamp_ms: now,
            sync_sender: false,
            origin_device: None,
            original: send.original,
            audience,
        };
        let app_wide = draft.audience == Audience::AllUsers;
        let mut drafts = vec![draft];
        self.deps.screen_by_app(app, &mut drafts).await?;
        let message = self.deps.store.append(app, drafts).await?.pop();
        self.deps.activity.add_committed(message.iter().len());
        let message = Arc::new(message.ok_or_else(|| Error::Storage("send stored nothing".into()))?);
        if app_wide {
            self.deps.lasting.forget(app);
        }
        let recipients = self.audience(app, &message).await?;
        let receivers = recipients.iter().filter(|u| **u != message.from).count() as u64;
        self.deps.fanout.publish(app, &recipients, LiveEvent::Message(message.clone())).await;
        Ok((message, receivers))
    }

    /// Everyone who hears of a message and of changes to it: its receivers and its sender.
    async fn audience(&self, app: AppId, message: &Message) -> Result<Vec<Username>> {
        if let Some(receivers) = &message.receivers {
            let mut all = receivers.clone();
            all.push(message.from.clone());
            return Ok(all);
        }
        if message.chat_type == ChatType::Chat {
            let to = Username::parse(&message.to)?;
            return Ok(vec![message.from.clone(), to]);
        }
        let members = self.deps.store.members(app, message.conversation).await?;
        Ok(members.into_iter().map(|m| m.username).collect())
    }

    pub async fn get(&self, app: AppId, id: MessageId) -> Result<Option<Message>> {
        self.deps.store.message(app, id).await
    }

    async fn existing(&self, app: AppId, id: MessageId) -> Result<Message> {
        match self.deps.store.message(app, id).await? {
            Some(m) if !matches!(m.state, MessageState::Deleted { .. }) => Ok(m),
            _ => Err(Error::NotFound(format!("message {id} not found"))),
        }
    }

    /// The conversation of a kind and key, if it exists.
    pub async fn conversation(&self, app: AppId, kind: ChatType, key: &str) -> Result<Option<ConversationId>> {
        self.deps.store.conversation(app, kind, key).await
    }

    /// Deletes, for `user` only, their messages of a conversation sent
    /// between two instants (inclusive); the other members keep theirs.
    pub async fn clear_for_user(
        &self,
        app: AppId,
        user: &Username,
        conversation: ConversationId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<()> {
        // Only what exists now: a message sent later is not covered, even if
        // its time falls inside the range.
        let now = self.deps.clock.now_ms();
        let mut to = MessageId::last_at(to_ms.min(now));
        if to_ms >= now {
            // An ID may run a little ahead of the clock (see `IdGenerator`).
            if let Some(m) = self.deps.store.membership(app, user, conversation).await? {
                if let Some(newest) = self.deps.store.message_at(app, conversation, m.last_seq).await? {
                    to = to.max(newest.id);
                }
            }
        }
        let from = MessageId::first_at(from_ms);
        if from > to {
            return Ok(());
        }
        let range = HiddenRange { conversation, from, to };
        self.deps.store.hide_messages(app, user, range).await
    }

    /// Deletes a whole conversation for `user` only.
    pub async fn delete_conversation_for_user(
        &self,
        app: AppId,
        user: &Username,
        conversation: ConversationId,
    ) -> Result<()> {
        self.clear_for_user(app, user, conversation, 0, i64::MAX).await
    }

    /// Marks a message read by all its receivers (imported history that was read).
    pub async fn mark_read_by_receivers(&self, app: AppId, message: &Message) -> Result<()> {
        for user in self.audience(app, message).await? {
            if user != message.from {
                self.deps.store.mark_read(app, &user, message.conversation, message.seq).await?;
            }
        }
        Ok(())
    }

    /// Marks everything in a conversation read by `user` (a conversation
    /// deleted from their list without its messages: nothing is unread).
    pub async fn mark_conversation_read(
        &self,
        app: AppId,
        user: &Username,
        conversation: ConversationId,
    ) -> Result<()> {
        if let Some(m) = self.deps.store.membership(app, user, conversation).await? {
            self.deps.store.mark_read(app, user, conversation, m.last_seq).await?;
        }
        Ok(())
    }

    /// When the newest message the user read in a conversation was sent (0: none).
    pub async fn read_until(&self, app: AppId, user: &Username, conversation: ConversationId) -> Result<i64> {
        let Some(membership) = self.deps.store.membership(app, user, conversation).await? else {
            return Ok(0);
        };
        if membership.read_seq <= 0 {
            return Ok(0);
        }
        let message = self.deps.store.message_at(app, conversation, membership.read_seq).await?;
        Ok(message.map_or(0, |m| m.timestamp_ms))
    }

    /// When the newest messages the user had on a device and had read in a
    /// conversation were sent (0: none), for receipts' timestamps.
    pub async fn cursor_times(&self, app: AppId, user: &Username, conversation: ConversationId) -> Result<CursorTimes> {
        let Some(membership) = self.deps.store.membership(app, user, conversation).await? else {
            return Ok(CursorTimes::default());
        };
        let at = |seq: i64| async move {
            if seq <= 0 {
                return Ok::<i64, Error>(0);
            }
            Ok(self.deps.store.message_at(app, conversation, seq).await?.map_or(0, |m| m.timestamp_ms))
        };
        let delivered_ms = at(membership.ack_seq.max(membership.read_seq)).await?;
        let read_ms = at(membership.read_seq).await?;
        Ok(CursorTimes { delivered_ms, read_ms })
    }

    /// Messages by time for history queries (one conversation, one sender, or the whole app).
    pub async fn query(&self, app: AppId, query: MessageQuery) -> Result<Vec<Message>> {
        self.deps.store.query_messages(app, query).await
    }

    /// Messages from others the user has not read, in one conversation or all.
    /// A push's badge: the user's unread count, up to [`MAX_BADGE`].
    pub async fn badge(&self, app: AppId, user: &Username) -> Result<u64> {
        self.deps.store.unread_count_up_to(app, user, MAX_BADGE).await
    }

    pub async fn unread_count(&self, app: AppId, user: &Username, conversation: Option<ConversationId>) -> Result<u64> {
        self.deps.store.unread_count(app, user, conversation).await
    }

    /// An app's messages sent within a time range, oldest first, a page at a time.
    pub async fn sent_between(
        &self,
        app: AppId,
        sent: std::ops::Range<i64>,
        after: Option<(i64, MessageId)>,
        limit: usize,
    ) -> Result<Vec<Message>> {
        self.deps.store.messages_sent(app, sent, after, limit).await
    }

    /// [`MessageService::sent_between`] without the contents (what a history file's digest covers).
    pub async fn marks_between(
        &self,
        app: AppId,
        sent: std::ops::Range<i64>,
        after: Option<(i64, MessageId)>,
        limit: usize,
    ) -> Result<Vec<crate::model::MessageMark>> {
        self.deps.store.message_marks(app, sent, after, limit).await
    }

    /// When the newest message any of the user's devices received was sent (0: none).
    pub async fn delivered_until(&self, app: AppId, user: &Username) -> Result<i64> {
        Ok(self.deps.store.delivered_until(app, user).await?.unwrap_or(0))
    }

    /// Messages from others that none of the user's devices acknowledged (E-user-12).
    pub async fn offline_count(&self, app: AppId, user: &Username) -> Result<u64> {
        self.deps.store.unacknowledged_count(app, user).await
    }

    /// Whether a message addressed to `user` reached one of their devices (E-user-13).
    pub async fn delivery_state(&self, app: AppId, user: &Username, id: MessageId) -> Result<DeliveryState> {
        let not_found = || Error::NotFound(format!("message {id} not found"));
        let message = self.deps.store.message(app, id).await?.ok_or_else(not_found)?;
        if message.from == *user {
            return Err(not_found());
        }
        let membership = self.deps.store.membership(app, user, message.conversation).await?.ok_or_else(not_found)?;
        Ok(if membership.ack_seq >= message.seq { DeliveryState::Delivered } else { DeliveryState::Undelivered })
    }

    /// How far `user`'s devices acknowledged a conversation (0: nothing, or
    /// not a member).
    pub async fn acknowledged_seq(&self, app: AppId, user: &Username, conversation: ConversationId) -> Result<i64> {
        Ok(self.deps.store.membership(app, user, conversation).await?.map_or(0, |m| m.ack_seq))
    }

    /// Whether one of `user`'s devices acknowledged `message` (offline push
    /// asks before pushing).
    pub async fn reached(&self, app: AppId, user: &Username, message: &Message) -> Result<bool> {
        let membership = self.deps.store.membership(app, user, message.conversation).await?;
        Ok(membership.is_some_and(|m| m.ack_seq >= message.seq))
    }

    pub async fn acknowledge(&self, app: AppId, user: &Username, conversation: ConversationId, seq: i64) -> Result<()> {
        self.deps.store.acknowledge(app, user, conversation, seq).await
    }

    pub async fn mark_read(&self, app: AppId, user: &Username, conversation: ConversationId, seq: i64) -> Result<()> {
        self.deps.store.mark_read(app, user, conversation, seq).await
    }

    /// Tells the sender of the message at `seq` that `by` received or read
    /// the conversation up to there (nobody, when `by` sent it).
    pub async fn tell_receipt(
        &self,
        app: AppId,
        by: &Username,
        conversation: ConversationId,
        seq: i64,
        kind: ReceiptKind,
    ) -> Result<()> {
        let Some(message) = self.deps.store.message_at(app, conversation, seq).await? else {
            return Ok(());
        };
        if message.from == *by {
            return Ok(());
        }
        let receipt = Receipt {
            conversation,
            to: message.to.clone(),
            chat_type: message.chat_type,
            by: by.clone(),
            seq,
            message: message.id,
            kind,
            at_ms: self.deps.clock.now_ms(),
        };
        self.deps.fanout.publish(app, std::slice::from_ref(&message.from), LiveEvent::Receipt(Arc::new(receipt))).await;
        Ok(())
    }
}

/// When the newest messages a member had delivered and had read were sent (0: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CursorTimes {
    pub delivered_ms: i64,
    pub read_ms: i64,
}
