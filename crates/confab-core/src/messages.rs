//! Sending, storing and acknowledging messages.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::fanout::LiveEvent;
use crate::ids::MessageId;
use crate::model::{
    direct_conversation_key, AppId, Body, ChatType, ConversationId, Delivery, Message, NewMessage, Username,
};
use crate::Deps;

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
}

/// Whether a receiver has the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Delivered,
    Undelivered,
}

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
    pub async fn send_direct(&self, app: AppId, send: DirectSend) -> Result<Vec<(Username, Arc<Message>)>> {
        send.body.validate()?;
        if send.to.is_empty() {
            return Err(Error::InvalidArgument("param to can't be empty".into()));
        }
        let receivers = if send.delivery.online_only {
            let counts = self.deps.fanout.device_counts(app, &send.to).await;
            let online: Vec<Username> =
                send.to.iter().zip(counts).filter(|(_, n)| *n > 0).map(|(u, _)| u.clone()).collect();
            if online.is_empty() {
                return Err(Error::ReceiverOffline("receiver is offline".into()));
            }
            online
        } else {
            send.to.clone()
        };

        let now = self.deps.clock.now_ms();
        let drafts = receivers
            .iter()
            .map(|to| NewMessage {
                id: self.deps.ids.next(now),
                chat_type: ChatType::Chat,
                conversation_key: direct_conversation_key(&send.from, to),
                members: vec![send.from.clone(), to.clone()],
                from: send.from.clone(),
                to: to.as_str().to_owned(),
                body: send.body.clone(),
                ext: send.ext.clone(),
                timestamp_ms: now,
                sync_sender: send.delivery.sync_sender,
                origin_device: send.origin_device.clone(),
            })
            .collect();
        let stored = self.deps.store.append(app, drafts).await?;

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

    pub async fn get(&self, app: AppId, id: MessageId) -> Result<Option<Message>> {
        self.deps.store.message(app, id).await
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

    pub async fn acknowledge(&self, app: AppId, user: &Username, conversation: ConversationId, seq: i64) -> Result<()> {
        self.deps.store.acknowledge(app, user, conversation, seq).await
    }

    pub async fn mark_read(&self, app: AppId, user: &Username, conversation: ConversationId, seq: i64) -> Result<()> {
        self.deps.store.mark_read(app, user, conversation, seq).await
    }
}
