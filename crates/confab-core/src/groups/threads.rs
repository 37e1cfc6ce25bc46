//! Threads: groups under a group's message, whose members must be the
//! parent group's.

use super::*;

impl GroupService {
    /// Renames a thread.
    pub async fn rename_thread(&self, app: AppId, id: &str, name: String) -> Result<Group> {
        check_name(&name, limits::THREAD_NAME_CHARS)?;
        let patch = SettingsPatch { name: Some(name), ..SettingsPatch::default() };
        self.update(app, GroupRef { kind: ChatType::Thread, id }, patch).await
    }

    /// Starts a thread under a message of a group; `owner` must be a member.
    pub async fn create_thread(
        &self,
        app: AppId,
        group_id: &str,
        name: String,
        owner: Username,
        message: MessageId,
    ) -> Result<Group> {
        check_name(&name, limits::THREAD_NAME_CHARS)?;
        let group = self.get(app, GroupRef { kind: ChatType::GroupChat, id: group_id }).await?;
        let state = self.state(app, group).await?;
        if !state.roles.contains_key(&owner) {
            return Err(Refused::of(Refusal::NotMember, owner).at(format!("group {group_id}")).into());
        }
        let parent = self.deps.store.message(app, message).await?;
        let parent = parent.ok_or_else(|| Error::NotFound("msg not exist.".into()))?;
        if parent.conversation != state.group.conversation {
            return Err(Error::InvalidArgument("msg not belong to group .".into()));
        }
        let threads = self.deps.store.threads_of(app, group_id).await?;
        if threads.iter().any(|t| t.parent_message == Some(message)) {
            return Err(Error::Duplicate("msg already create thread.not allow to create.".into()));
        }
        let now = self.now();
        let settings = GroupSettings { allow_invites: true, ..GroupSettings::named(name, limits::THREAD_MAX_USERS) };
        let thread = NewGroup {
            id: self.new_id(now),
            kind: ChatType::Thread,
            owner,
            settings,
            parent: Some(group_id.to_owned()),
            parent_message: Some(message),
            members: Vec::new(),
            created_ms: now,
        };
        let thread = self.deps.store.create_group(app, thread).await?;
        // Everyone in the group hears of a new thread, not only its members.
        self.publish(app, &state.recipients, event(&thread, GroupEventKind::Created, Vec::new(), now)).await;
        Ok(thread)
    }
}
