//! Chat rooms: entering and leaving them, and their attributes.

use super::*;

impl GroupService {
    /// A user enters a chat room by themselves (as the clouds' SDKs do);
    /// the room's cap and block list hold as for any other join. Joining a
    /// room one is in already is not an error.
    pub async fn join_room(&self, app: AppId, room: &str, user: &Username) -> Result<Group> {
        let target = GroupRef { kind: ChatType::ChatRoom, id: room };
        let changed = self.add_members(app, target, vec![user.clone()]).await?;
        match changed.refused.first() {
            Some((_, Refusal::Blocked)) => Err(Refused::of(Refusal::Blocked, user).at(room).into()),
            _ => Ok(changed.group),
        }
    }

    /// A user leaves a chat room (the owner cannot).
    pub async fn leave_room(&self, app: AppId, room: &str, user: &Username) -> Result<()> {
        let target = GroupRef { kind: ChatType::ChatRoom, id: room };
        let changed = self.remove_members(app, target, vec![user.clone()]).await?;
        match changed.refused.first() {
            Some((who, why)) => Err(Refused::of(*why, who).into()),
            None => Ok(()),
        }
    }

    /// A room's custom attributes, all or the named keys.
    pub async fn room_attributes(&self, app: AppId, room: &str, keys: Option<&[String]>) -> Result<Vec<RoomAttribute>> {
        let group = self.get(app, GroupRef { kind: ChatType::ChatRoom, id: room }).await?;
        let all = self.deps.store.room_attributes(app, group.conversation).await?;
        Ok(match keys {
            Some(keys) => all.into_iter().filter(|a| keys.contains(&a.key)).collect(),
            None => all,
        })
    }

    /// Sets attributes as `user` (a member); returns refused keys with reasons.
    pub async fn set_room_attributes(
        &self,
        app: AppId,
        room: &str,
        user: &Username,
        values: Vec<(String, String)>,
        auto_delete: bool,
        force: bool,
    ) -> Result<RefusedKeys> {
        if values.is_empty() {
            return Err(Error::InvalidArgument("metaData can't be empty".into()));
        }
        check_batch("metaData", values.len(), limits::ROOM_ATTRIBUTES_PER_CALL)?;
        for (key, value) in &values {
            if key.is_empty() || key.chars().count() > limits::ROOM_ATTRIBUTE_KEY_CHARS {
                return Err(Error::InvalidArgument(format!(
                    "key [{key}] must be 1 to {} characters",
                    limits::ROOM_ATTRIBUTE_KEY_CHARS
                )));
            }
            if value.chars().count() > limits::ROOM_ATTRIBUTE_VALUE_CHARS {
                return Err(Error::InvalidArgument(format!(
                    "the value of {key} is longer than {} characters",
                    limits::ROOM_ATTRIBUTE_VALUE_CHARS
                )));
            }
        }
        let group = self.get(app, GroupRef { kind: ChatType::ChatRoom, id: room }).await?;
        let state = self.state(app, group).await?;
        if !state.roles.contains_key(user) {
            return Err(Refused::of(Refusal::NotMember, user).at(format!("chat room {room}")).into());
        }
        let attributes = values
            .into_iter()
            .map(|(key, value)| RoomAttribute { key, value, owner: user.clone(), auto_delete })
            .collect::<Vec<_>>();
        let refused = self
            .deps
            .store
            .set_room_attributes(app, state.group.conversation, attributes, force, limits::ROOM_ATTRIBUTES)
            .await?;
        self.notify(app, &state.group, GroupEventKind::AttributesChanged, vec![user.clone()], &[]).await;
        Ok(refused)
    }

    pub async fn remove_room_attributes(
        &self,
        app: AppId,
        room: &str,
        user: &Username,
        keys: Vec<String>,
        force: bool,
    ) -> Result<RefusedKeys> {
        if keys.is_empty() {
            return Err(Error::InvalidArgument("keys can't be empty".into()));
        }
        check_batch("keys", keys.len(), limits::ROOM_ATTRIBUTES_PER_CALL)?;
        let group = self.get(app, GroupRef { kind: ChatType::ChatRoom, id: room }).await?;
        let state = self.state(app, group).await?;
        if !state.roles.contains_key(user) {
            return Err(Refused::of(Refusal::NotMember, user).at(format!("chat room {room}")).into());
        }
        let group = &state.group;
        let refused = self.deps.store.remove_room_attributes(app, group.conversation, user, keys, force).await?;
        self.notify(app, group, GroupEventKind::AttributesRemoved, vec![user.clone()], &[]).await;
        Ok(refused)
    }
}
