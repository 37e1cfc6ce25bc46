//! Sending to groups, rooms and threads: every target checked, then one
//! commit, then the fan-out from the cached member list.

use std::sync::Arc;

use super::rules::check_sender;
use super::*;

/// A send to groups, rooms or threads: one message per target.
#[derive(Debug, Clone)]
pub struct GroupSend {
    pub from: Username,
    /// The app itself speaks (a server-side send naming no sender): no
    /// membership or mute applies. Never true for a gateway user, whatever
    /// their name.
    pub by_app: bool,
    pub kind: ChatType,
    pub to: Vec<String>,
    pub body: Body,
    pub ext: Option<serde_json::Value>,
    pub delivery: Delivery,
    pub origin_device: Option<String>,
    pub original: Option<Original>,
    /// Only these members get it (the others see a gap in the order).
    pub receivers: Option<Vec<Username>>,
}

impl GroupService {
    /// Sends one message to each target, all or none: every target is
    /// checked first (it exists; the sender is a member who may speak now),
    /// then every message is committed together, then fanned out. Returns
    /// `(target, message)` pairs in the order of `to`.
    #[tracing::instrument(level = "debug", skip_all, fields(app = app.0, from = %send.from, targets = send.to.len()))]
    pub async fn send(&self, app: AppId, send: GroupSend) -> Result<Vec<(String, Arc<Message>)>> {
        send.body.validate()?;
        let cap = if send.kind == ChatType::ChatRoom { limits::SEND_ROOMS } else { limits::SEND_GROUPS };
        if send.to.is_empty() {
            return Err(Error::InvalidArgument("a message needs at least one receiver".into()));
        }
        if send.to.len() > cap {
            return Err(Error::InvalidArgument(format!("a message may name at most {cap} receivers")));
        }
        let now = self.now();
        if !send.by_app && send.delivery.sent_at.is_none() {
            self.deps.restrictions.check_sender(app, &send.from, send.kind).await?;
        }
        let mut states = Vec::with_capacity(send.to.len());
        for target in &send.to {
            let target = GroupRef { kind: send.kind, id: target };
            let state = self.state(app, self.get(app, target).await?).await?;
            if !send.by_app {
                check_sender(&state, &send.from, now)?;
            }
            if let (false, Some(parent)) = (send.by_app, &state.group.parent) {
                // A member muted in the group is muted in its threads too.
                let parent = GroupRef { kind: ChatType::GroupChat, id: parent };
                let parent = self.state(app, self.get(app, parent).await?).await?;
                if parent.muted_until.get(&send.from).is_some_and(|until| *until > now) {
                    return Err(Refused::of(Refusal::Muted, &send.from).at(&parent.group.id).into());
                }
            }
            if let Some(outsider) = send.receivers.iter().flatten().find(|u| !state.roles.contains_key(*u)) {
                return Err(Error::InvalidArgument(format!("{outsider} is not a member of {}", state.group.id)));
            }
            states.push(state);
        }
        // Who each message is for: the named receivers, or, for an online-only
        // send to groups (Easemob's `ROUTE_ONLINE`), each group's members
        // connected now, found before anything is stored so that the whole
        // send stays one commit.
        let mut receivers = Vec::with_capacity(states.len());
        for state in &states {
            let chosen = match &send.receivers {
                Some(users) => Some(users.clone()),
                None if send.delivery.online_only && send.kind != ChatType::ChatRoom => {
                    let others: Vec<Username> = state.recipients.iter().filter(|u| **u != send.from).cloned().collect();
                    let devices = self.deps.fanout.device_counts(app, &others).await;
                    Some(others.into_iter().zip(devices).filter(|(_, n)| *n > 0).map(|(u, _)| u).collect())
                }
                None => None,
            };
            receivers.push(chosen);
        }
        let mut drafts: Vec<NewMessage> = states
            .iter()
            .zip(&receivers)
            .map(|(state, chosen)| NewMessage {
                id: self.deps.ids.next(now),
                chat_type: send.kind,
                conversation_key: state.group.id.clone(),
                members: Vec::new(),
                from: send.from.clone(),
                to: state.group.id.clone(),
                body: send.body.clone(),
                ext: send.ext.clone(),
                timestamp_ms: send.delivery.sent_at.unwrap_or(now),
                sync_sender: send.delivery.sync_sender,
                origin_device: send.origin_device.clone(),
                original: send.original.clone(),
                audience: match chosen {
                    Some(users) => Audience::Only(users.clone()),
                    None => Audience::Members,
                },
            })
            .collect();
        if send.delivery.sent_at.is_none() {
            self.deps.screen_by_app(app, &mut drafts).await?;
        }
        let stored = self.deps.store.append(app, drafts).await?;
        self.deps.activity.add_committed(stored.len());
        let mut sent = Vec::with_capacity(stored.len());
        for ((state, message), chosen) in states.into_iter().zip(stored).zip(receivers) {
            let message = Arc::new(message);
            let event = LiveEvent::Message(message.clone());
            match &chosen {
                Some(users) => {
                    let mut chosen = users.clone();
                    chosen.push(send.from.clone());
                    self.deps.fanout.publish(app, &chosen, event).await;
                }
                None => self.deps.fanout.publish(app, &state.recipients, event).await,
            }
            sent.push((state.group.id.clone(), message));
        }
        Ok(sent)
    }

    /// A message to one group, room or channel for whoever is connected
    /// now: checked like [`GroupService::send`], never stored.
    pub async fn send_transient(&self, app: AppId, send: GroupSend) -> Result<Arc<Message>> {
        send.body.validate()?;
        let [target] = send.to.as_slice() else {
            return Err(Error::InvalidArgument("a transient message goes to one conversation".into()));
        };
        let now = self.now();
        if !send.by_app {
            self.deps.restrictions.check_sender(app, &send.from, send.kind).await?;
        }
        let state = self.state(app, self.get(app, GroupRef { kind: send.kind, id: target }).await?).await?;
        if !send.by_app {
            check_sender(&state, &send.from, now)?;
        }
        // Asked like a stored message: the app's server cannot tell them apart.
        let mut drafts = vec![NewMessage {
            id: self.deps.ids.next(now),
            chat_type: send.kind,
            conversation_key: state.group.id.clone(),
            members: Vec::new(),
            from: send.from.clone(),
            to: state.group.id.clone(),
            body: send.body,
            ext: send.ext,
            timestamp_ms: now,
            sync_sender: send.delivery.sync_sender,
            origin_device: send.origin_device,
            original: send.original,
            audience: Audience::Members,
        }];
        self.deps.screen_by_app(app, &mut drafts).await?;
        let draft = drafts.pop().ok_or_else(|| Error::Storage("a send lost its message".into()))?;
        let message = Arc::new(Message {
            id: draft.id,
            app,
            conversation: state.group.conversation,
            seq: 0,
            chat_type: send.kind,
            from: draft.from,
            to: draft.to,
            body: draft.body,
            ext: draft.ext,
            timestamp_ms: now,
            sync_sender: draft.sync_sender,
            origin_device: draft.origin_device,
            original: draft.original,
            receivers: send.receivers.clone(),
            state: MessageState::Normal,
        });
        let recipients: Vec<Username> = match send.receivers {
            Some(mut users) => {
                users.push(send.from);
                users
            }
            None => state.recipients.to_vec(),
        };
        self.deps.fanout.publish(app, &recipients, LiveEvent::Transient(message.clone())).await;
        Ok(message)
    }
}
