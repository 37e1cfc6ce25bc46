//! What a group's members are called there and what the app keeps about
//! them (the vendor's member alias and extra), as app settings: the core's
//! members have neither.

use std::collections::HashMap;

use axum::response::Response;
use serde_json::Value;

use confab_core::groups::GroupRef;
use confab_core::model::{AppId, ChatType, SettingKey, Username};
use confab_core::Core;

use super::error::WildfireError;
use super::{ok, user};

/// Settings namespace of members' aliases and extras in a group (owner: the
/// group; key: `alias:<member>` or `extra:<member>`).
const MEMBER_NOTES: &str = "wildfire.member";

/// Each member's alias and extra in a group, by member.
pub(super) async fn member_notes(
    core: &Core,
    app: AppId,
    group_id: &str,
) -> Result<HashMap<String, (String, String)>, WildfireError> {
    let mut notes: HashMap<String, (String, String)> = HashMap::new();
    for s in core.settings.of(app, MEMBER_NOTES, group_id).await? {
        if let Some(member) = s.key.strip_prefix("alias:") {
            notes.entry(member.to_owned()).or_default().0 = s.value;
        } else if let Some(member) = s.key.strip_prefix("extra:") {
            notes.entry(member.to_owned()).or_default().1 = s.value;
        }
    }
    Ok(notes)
}

/// Forgets what was noted about members of a group (dismissed, or members gone).
pub(super) async fn forget_member_notes(
    core: &Core,
    app: AppId,
    group_id: &str,
    members: Option<&[Username]>,
) -> Result<(), WildfireError> {
    let keys: Vec<SettingKey> = match members {
        Some(members) => members
            .iter()
            .flat_map(|m| ["alias", "extra"].map(|k| SettingKey::new(MEMBER_NOTES, group_id, &format!("{k}:{m}"))))
            .collect(),
        None => core
            .settings
            .of(app, MEMBER_NOTES, group_id)
            .await?
            .into_iter()
            .map(|s| SettingKey::new(MEMBER_NOTES, group_id, &s.key))
            .collect(),
    };
    if !keys.is_empty() {
        core.settings.remove(app, keys).await?;
    }
    Ok(())
}

/// Most bytes of a member's alias or extra.
const MAX_NOTE: usize = 1024;

pub(super) async fn note_member(
    core: &Core,
    app: AppId,
    group_id: &str,
    member_id: &str,
    which: &str,
    value: Option<&str>,
) -> Result<Response, WildfireError> {
    let member = user(member_id, "memberId")?;
    let value = value.unwrap_or_default();
    if value.len() > MAX_NOTE {
        return Err(WildfireError::invalid(format!("{which} is at most {MAX_NOTE} bytes")));
    }
    // The group must exist; the member need not be in it now: the vendor
    // keeps what was noted about members who left (its checker sets an
    // alias for one it just removed).
    core.groups.get(app, GroupRef { kind: ChatType::GroupChat, id: group_id }).await?;
    let key = SettingKey::new(MEMBER_NOTES, group_id, &format!("{which}:{member}"));
    match value.is_empty() {
        true => {
            core.settings.remove(app, vec![key]).await?;
        }
        false => core.settings.put(app, vec![(key, value.to_owned())]).await?,
    }
    Ok(ok(Value::Null))
}
