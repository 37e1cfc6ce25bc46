//! Planning a message's pushes: who of its receivers has no device that
//! acknowledged it, what the app's server says (its push callback), and
//! the notice each device gets.

use super::*;

impl Pusher {
    /// The pushes one message makes.
    pub(super) async fn plan(
        &self,
        app: &App,
        settings: &Settings,
        message: &Message,
        memo: &mut Memo,
    ) -> confab_core::error::Result<Vec<Job>> {
        if !notice::pushable(message) {
            return Ok(Vec::new());
        }
        let receivers: Vec<Username> = match (&message.receivers, message.chat_type) {
            (Some(only), _) => only.clone(),
            (None, ChatType::Chat) => Username::parse(&message.to).into_iter().collect(),
            (None, kind @ (ChatType::GroupChat | ChatType::Thread | ChatType::Channel)) => {
                match self.core.groups.members(app.id, GroupRef { kind, id: &message.to }).await {
                    Ok((_, members)) => members.into_iter().map(|m| m.username).collect(),
                    Err(confab_core::error::Error::NotFound(_)) => Vec::new(),
                    Err(e) => return Err(e),
                }
            }
            // An app-wide broadcast: everyone, so everyone with a device.
            (None, ChatType::Broadcast) => devices::users_with_devices(&self.core, app.id).await?,
            (None, _) => Vec::new(),
        };
        // Who has devices at all, looked up a bounded number at a time.
        let unknown: Vec<Username> =
            receivers.iter().filter(|u| **u != message.from && !memo.devices.contains_key(*u)).cloned().collect();
        let found: Vec<(Username, confab_core::error::Result<Vec<Device>>)> = futures_util::stream::iter(unknown)
            .map(|user| async move {
                let devices = devices::of(&self.core, app.id, &user).await;
                (user, devices)
            })
            .buffer_unordered(LOOKUPS_AT_ONCE)
            .collect()
            .await;
        for (user, devices) in found {
            memo.devices.insert(user, Arc::new(devices?));
        }
        // Who did not take it: they have devices, and none acknowledged.
        let mut offline: Vec<(Username, Arc<Vec<Device>>)> = Vec::new();
        for user in receivers {
            let Some(devices) = memo.devices.get(&user).cloned().filter(|d| !d.is_empty()) else {
                continue;
            };
            if user == message.from {
                continue;
            }
            let key = (user, message.conversation);
            let acked = match memo.acked.get(&key) {
                Some(seq) => *seq,
                None => {
                    let seq = self.core.messages.acknowledged_seq(app.id, &key.0, key.1).await?;
                    memo.acked.insert(key.clone(), seq);
                    seq
                }
            };
            if acked >= message.seq {
                self.stats.skip("acknowledged");
                continue;
            }
            offline.push((key.0, devices));
        }
        if offline.is_empty() {
            return Ok(Vec::new());
        }
        let overrides = match self.ask_app_server(app, message, &mut offline, memo).await? {
            Some(overrides) => overrides,
            None => return Ok(Vec::new()),
        };
        let mut jobs = Vec::new();
        for (user, devices) in offline {
            let Some(notice) = self.notice(app, message, &user, &overrides, memo).await? else {
                continue;
            };
            for device in devices.iter() {
                let Some(provider) = settings.provider_for(&device.notifier) else {
                    self.stats.skip("no_provider");
                    continue;
                };
                let queued = Queued {
                    message: message.id.0,
                    user: user.to_string(),
                    device_id: device.device_id.clone(),
                    attempts: 0,
                    due_ms: 0,
                    push: overrides.push.clone(),
                    force: overrides.force,
                };
                jobs.push(Job { queued, user: user.clone(), device: device.clone(), provider, notice: notice.clone() });
            }
        }
        Ok(jobs)
    }

    /// LeanCloud's `_receiversOffline`, for apps whose callbacks speak its
    /// hooks: the app's server may skip the push (`None`), narrow who gets
    /// it, set its words, or reach members who muted the conversation.
    async fn ask_app_server(
        &self,
        app: &App,
        message: &Message,
        offline: &mut Vec<(Username, Arc<Vec<Device>>)>,
        memo: &mut Memo,
    ) -> confab_core::error::Result<Option<Overrides>> {
        let hooks = match &memo.hooks {
            Some(hooks) => hooks.clone(),
            None => {
                let read = Arc::new(crate::callbacks::settings(&self.core, app.id).await?);
                memo.hooks = Some(read.clone());
                read
            }
        };
        let names: Vec<&str> = offline.iter().map(|(u, _)| u.as_str()).collect();
        let mentioned: Vec<&str> =
            offline.iter().filter(|(u, _)| notice::mentions(message, u)).map(|(u, _)| u.as_str()).collect();
        let now = self.core.now_ms();
        let answer =
            crate::callbacks::receivers_offline(&self.fetcher, app, &hooks, message, &names, &mentioned, now).await;
        let Some(answer) = answer else {
            return Ok(Some(Overrides::default()));
        };
        if answer.skip {
            self.stats.skip("app_server");
            return Ok(None);
        }
        if let Some(peers) = &answer.peers {
            offline.retain(|(u, _)| {
                let kept = peers.iter().any(|p| p == u.as_str());
                if !kept {
                    self.stats.skip("app_server");
                }
                kept
            });
        }
        Ok(Some(Overrides { push: answer.push, force: answer.force }))
    }

    /// A queued push planned again (the receiver may have read it, unbound
    /// the device or entered quiet hours since); none when it is no longer due.
    pub(super) async fn replan(
        &self,
        app: &App,
        settings: &Settings,
        q: &Queued,
        memo: &mut Memo,
    ) -> confab_core::error::Result<Option<Job>> {
        let Ok(user) = Username::parse(&q.user) else { return Ok(None) };
        let Some(message) = self.core.messages.get(app.id, MessageId(q.message)).await? else {
            return Ok(None);
        };
        let Some(device) =
            devices::of(&self.core, app.id, &user).await?.into_iter().find(|d| d.device_id == q.device_id)
        else {
            return Ok(None);
        };
        let Some(provider) = settings.provider_for(&device.notifier) else { return Ok(None) };
        if self.core.messages.reached(app.id, &user, &message).await? {
            self.stats.skip("acknowledged");
            return Ok(None);
        }
        let overrides = Overrides { push: q.push.clone(), force: q.force };
        let Some(notice) = self.notice(app, &message, &user, &overrides, memo).await? else { return Ok(None) };
        Ok(Some(Job { queued: q.clone(), user, device, provider, notice }))
    }

    /// The notification `user` gets for `message`, if they are to get one.
    async fn notice(
        &self,
        app: &App,
        message: &Message,
        user: &Username,
        overrides: &Overrides,
        memo: &mut Memo,
    ) -> confab_core::error::Result<Option<Notice>> {
        let core = &self.core;
        let Some((push, _)) = self.person(app.id, user, memo).await? else { return Ok(None) };
        let sender = match self.person(app.id, &message.from, memo).await? {
            Some((_, name)) => name,
            None => message.from.to_string(),
        };
        let muted = match message.chat_type {
            ChatType::Chat => false,
            kind => {
                if !memo.muted.contains_key(&message.to) {
                    let list = match core.groups.get(app.id, GroupRef { kind, id: &message.to }).await {
                        Ok(group) => crate::leancloud_model::muted_list(&group),
                        Err(_) => Vec::new(),
                    };
                    memo.muted.insert(message.to.clone(), Arc::new(list));
                }
                memo.muted[&message.to].iter().any(|u| u == user.as_str())
            }
        };
        let unread = match memo.unread.get(user) {
            Some(n) => *n,
            None => {
                let n = core.messages.badge(app.id, user).await?;
                memo.unread.insert(user.clone(), n);
                n
            }
        };
        let receiver = Receiver { user, push: &push, muted, unread };
        match notice::decide(message, &sender, &receiver, overrides, core.now_ms()) {
            Decision::Push(notice) => Ok(Some(*notice)),
            Decision::Skip(reason) => {
                self.stats.skip(reason);
                Ok(None)
            }
        }
    }

    /// A user's push settings and push nickname (their nickname, else their name).
    async fn person(
        &self,
        app: AppId,
        user: &Username,
        memo: &mut Memo,
    ) -> confab_core::error::Result<Option<(PushSettings, String)>> {
        if let Some(known) = memo.users.get(user) {
            return Ok(known.clone());
        }
        let found = match self.core.users.get(app, user).await {
            Ok(u) => Some((
                u.push.clone(),
                u.nickname.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| u.username.to_string()),
            )),
            Err(confab_core::error::Error::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        memo.users.insert(user.clone(), found.clone());
        Ok(found)
    }
}
