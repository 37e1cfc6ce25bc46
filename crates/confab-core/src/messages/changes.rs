//! Changing a message once it is stored: edits, recalls and deletions
//! (for everyone, for some receivers, or hidden from one user), and telling
//! the devices that hold it.

use std::sync::Arc;

use super::{MessageService, MAX_EDITS};
use crate::error::{Error, Refusal, Refused, Result};
use crate::events::{LiveEvent, MessageUpdate, UpdateKind};
use crate::ids::MessageId;
use crate::model::{AppId, Body, ChatType, Message, MessageState, Original, Username};
use crate::storage::{HiddenRange, MessageChange};

impl MessageService {
    /// Replaces a message's content. With `distribute`, its receivers'
    /// connected devices get the new content at once; the others get it
    /// whenever they next read the message.
    pub async fn edit(
        &self,
        app: AppId,
        id: MessageId,
        body: Body,
        original: Option<Original>,
        distribute: bool,
    ) -> Result<Message> {
        body.validate()?;
        let message = self.existing(app, id).await?;
        if let MessageState::Recalled { .. } = message.state {
            return Err(Error::InvalidArgument(format!("message {id} was recalled")));
        }
        let change =
            MessageChange::Edit { body, ext: None, original, at_ms: self.deps.clock.now_ms(), max_edits: None };
        let edited = self.change(app, id, change).await?;
        if distribute {
            self.tell(app, &edited, UpdateKind::Edited, None, None).await?;
        }
        Ok(edited)
    }

    /// A sender's edit of their own text or custom message (Easemob's SDK
    /// `modifyMessage`): new content of the same kind, and a new `ext` when
    /// given. Everyone in the conversation who is connected is told; the
    /// others read the new content whenever they next read the message.
    pub async fn edit_own(
        &self,
        app: AppId,
        id: MessageId,
        by: &Username,
        body: Body,
        ext: Option<serde_json::Value>,
    ) -> Result<Message> {
        body.validate()?;
        let message = self.existing(app, id).await?;
        if !message.state.is_visible() {
            return Err(Error::NotFound(format!("message {id} not found")));
        }
        if message.from != *by {
            return Err(Refused::of(Refusal::NotSender, by).into());
        }
        let editable = matches!(
            (&message.body, &body),
            (Body::Text { .. }, Body::Text { .. }) | (Body::Custom { .. }, Body::Custom { .. })
        );
        if !editable {
            return Err(Refused::of(Refusal::NotEditable, by).into());
        }
        if let MessageState::Edited { count, .. } = message.state {
            if count >= MAX_EDITS {
                return Err(Refused::of(Refusal::EditLimit, by).into());
            }
        }
        let at_ms = self.deps.clock.now_ms();
        let change = MessageChange::Edit { body, ext, original: None, at_ms, max_edits: Some(MAX_EDITS) };
        let edited = match self.change(app, id, change).await {
            // The engine's own check lost a race at the limit: name the editor.
            Err(Error::Refused(refused)) if refused.why == Refusal::EditLimit => {
                return Err(Refused::of(Refusal::EditLimit, by).into())
            }
            other => other?,
        };
        self.tell(app, &edited, UpdateKind::Edited, Some(by.clone()), None).await?;
        Ok(edited)
    }

    /// Replaces a message's content and tells only `only` of its receivers
    /// (LeanCloud's edit of a service message for chosen clients): the others
    /// are not told, and read the new content whenever they next read it.
    pub async fn edit_telling(
        &self,
        app: AppId,
        id: MessageId,
        body: Body,
        original: Option<Original>,
        only: Vec<Username>,
    ) -> Result<Message> {
        let edited = self.edit(app, id, body, original, false).await?;
        let only = self.receivers_among(app, &edited, only).await?;
        self.tell(app, &edited, UpdateKind::Edited, None, Some(only)).await?;
        Ok(edited)
    }

    /// Recalls a message, for everyone or (`only`) for some receivers.
    /// Connected receivers are told; the others never get it.
    pub async fn recall(
        &self,
        app: AppId,
        id: MessageId,
        by: &Username,
        only: Option<Vec<Username>>,
    ) -> Result<Message> {
        let message = self.existing(app, id).await?;
        if let MessageState::Recalled { .. } = message.state {
            return Err(Error::InvalidArgument(format!("message {id} was recalled already")));
        }
        self.withdraw(app, message, UpdateKind::Recalled, Some(by.clone()), only).await
    }

    /// Deletes a message on the server, for everyone or (`only`) for some receivers.
    pub async fn delete(&self, app: AppId, id: MessageId, only: Option<Vec<Username>>) -> Result<Message> {
        let message = self.existing(app, id).await?;
        self.withdraw(app, message, UpdateKind::Deleted, None, only).await
    }

    /// [`MessageService::delete`] naming who deleted it (WildfireChat's
    /// `operator`), which receivers are told.
    pub async fn delete_by(
        &self,
        app: AppId,
        id: MessageId,
        by: &Username,
        only: Option<Vec<Username>>,
    ) -> Result<Message> {
        let message = self.existing(app, id).await?;
        self.withdraw(app, message, UpdateKind::Deleted, Some(by.clone()), only).await
    }

    /// The ranges of messages deleted or recalled for this user only.
    pub async fn hidden_from(&self, app: AppId, user: &Username) -> Result<Vec<HiddenRange>> {
        self.deps.store.hidden_ranges(app, user).await
    }

    /// Deletes a message in storage only: devices that have it are not told
    /// (LeanCloud's server-side delete); those that do not never get it.
    pub async fn delete_on_server(&self, app: AppId, id: MessageId) -> Result<Message> {
        self.existing(app, id).await?;
        self.change(app, id, MessageChange::Delete { at_ms: self.deps.clock.now_ms() }).await
    }

    async fn withdraw(
        &self,
        app: AppId,
        message: Message,
        kind: UpdateKind,
        by: Option<Username>,
        only: Option<Vec<Username>>,
    ) -> Result<Message> {
        let now = self.deps.clock.now_ms();
        let Some(only) = only else {
            let change = match (kind, by.clone()) {
                (UpdateKind::Recalled, Some(by)) => MessageChange::Recall { by, at_ms: now },
                _ => MessageChange::Delete { at_ms: now },
            };
            let changed = self.change(app, message.id, change).await?;
            self.tell(app, &changed, kind, by, None).await?;
            return Ok(changed);
        };
        let only = self.receivers_among(app, &message, only).await?;
        let range = HiddenRange { conversation: message.conversation, from: message.id, to: message.id };
        for user in &only {
            self.deps.store.hide_messages(app, user, range).await?;
        }
        self.tell(app, &message, kind, by, Some(only)).await?;
        Ok(message)
    }

    /// Those of `users` who received the message (not its sender): a change
    /// for some receivers never reaches, or hides anything from, anyone else.
    async fn receivers_among(&self, app: AppId, message: &Message, users: Vec<Username>) -> Result<Vec<Username>> {
        let audience = match &message.receivers {
            Some(receivers) => receivers.clone(),
            None => self.audience(app, message).await?,
        };
        Ok(users.into_iter().filter(|u| audience.contains(u) && *u != message.from).collect())
    }

    async fn change(&self, app: AppId, id: MessageId, change: MessageChange) -> Result<Message> {
        let changed = self.deps.store.change_message(app, id, change).await?;
        let changed = changed.ok_or_else(|| Error::NotFound(format!("message {id} not found")))?;
        if changed.chat_type == ChatType::Broadcast && changed.receivers.is_none() {
            // It may be a broadcast that stays deliverable: new users must
            // now join from another message, or get the new content.
            self.deps.lasting.forget(app);
        }
        Ok(changed)
    }

    async fn tell(
        &self,
        app: AppId,
        message: &Message,
        change: UpdateKind,
        by: Option<Username>,
        only: Option<Vec<Username>>,
    ) -> Result<()> {
        let recipients = match &only {
            Some(users) => users.clone(),
            None => self.audience(app, message).await?,
        };
        if recipients.is_empty() {
            return Ok(());
        }
        let update = MessageUpdate { message: message.clone(), change, by, only };
        self.deps.fanout.publish(app, &recipients, LiveEvent::Update(Arc::new(update))).await;
        Ok(())
    }
}
