//! LeanCloud's conversations as its clients and backends see them: the
//! `_Conversation` document of a core group, and the `where` queries over
//! them. Shared by the REST dialect (`leancloud/`) and the SDK protocol
//! (`gateway/leancloud/`), so neither imports the other.

pub mod query;
pub mod temporary;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use confab_core::error::Error;
use confab_core::groups::GroupRef;
use confab_core::model::{AppId, ChatType, Group, GroupSettings, Username};
use confab_core::Core;
use sha2::{Digest, Sha256};

/// Marks a conversation's private settings (kept, never shown).
pub const PRIVATE: char = '\u{1f}';
/// Fields the server keeps and no request sets.
pub const SERVER_KEPT: [&str; 3] = ["objectId", "createdAt", "updatedAt"];

/// A conversation's built-in fields: everything else a request names is the
/// app's own, kept as given.
pub const BUILT_IN: [&str; 12] =
    ["objectId", "name", "m", "c", "mu", "tr", "sys", "unique", "uniqueId", "createdAt", "updatedAt", "lm"];

/// Most members of a conversation, clients of a chat room and subscribers of
/// a service conversation (the vendor's).
pub fn max_members(kind: ChatType) -> u32 {
    match kind {
        ChatType::ChatRoom => 10_000,
        ChatType::Channel => 100_000,
        _ => 500,
    }
}

/// The conversation, chat room or service conversation an ID names
/// (`None`: none does).
pub async fn find_any(core: &Core, app: AppId, id: &str) -> confab_core::error::Result<Option<Group>> {
    for kind in [ChatType::GroupChat, ChatType::ChatRoom, ChatType::Channel] {
        match core.groups.get(app, GroupRef { kind, id }).await {
            // A temporary conversation past its time is gone.
            Ok(group) if temporary::expired(&group, core.now_ms()) => return Ok(None),
            Ok(group) => return Ok(Some(group)),
            Err(Error::NotFound(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Members who turned a conversation's notifications off (`mu`).
pub fn muted_list(group: &Group) -> Vec<String> {
    group
        .settings
        .dialect
        .get("mu")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Whether clients turn a conversation's notifications off or back on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notifications {
    Off,
    On,
}

/// Turns a conversation's notifications off or on for these clients (its `mu`).
pub async fn set_notifications(
    core: &Core,
    app: AppId,
    group: &Group,
    users: &[Username],
    to: Notifications,
) -> confab_core::error::Result<Group> {
    let mut list = muted_list(group);
    for user in users {
        let name = user.to_string();
        match to {
            Notifications::Off if !list.contains(&name) => list.push(name),
            Notifications::Off => {}
            Notifications::On => list.retain(|u| *u != name),
        }
    }
    let dialect = BTreeMap::from([("mu".to_owned(), json!(list)), ("updatedAt".to_owned(), json!(core.now_ms()))]);
    let patch = confab_core::model::SettingsPatch { dialect: Some(dialect), ..Default::default() };
    // One client's own setting: the other members hear of no change.
    core.groups.update_unannounced(app, GroupRef { kind: group.kind, id: &group.id }, patch).await
}

/// A conversation to make.
pub struct NewConversation {
    pub kind: ChatType,
    pub name: String,
    /// Who made it (`c`); `admin` when the app made it without naming one.
    pub creator: Username,
    pub members: Vec<Username>,
    /// Its fields as the vendor keeps them (custom and built-in ones).
    pub fields: BTreeMap<String, Value>,
    /// The same members always get the same conversation (normal ones only).
    pub unique: bool,
}

/// Makes a conversation, creating its clients if they are new (LeanCloud's
/// clients need no registration). A unique conversation's ID is made from
/// its members, so making it again finds the first.
pub async fn create(core: &Core, app: AppId, new: NewConversation) -> confab_core::error::Result<Group> {
    let NewConversation { kind, name, creator, members, mut fields, unique } = new;
    let mut everyone = members.clone();
    if creator != Username::admin() {
        everyone.push(creator.clone());
    }
    core.users.ensure_exist(app, &everyone).await?;
    let id = if unique && kind == ChatType::GroupChat {
        let (object_id, unique_id) = unique_ids(&everyone);
        fields.insert("unique".into(), json!(true));
        fields.insert("uniqueId".into(), json!(unique_id));
        Some(object_id)
    } else {
        None
    };
    let settings = GroupSettings {
        public: true,
        allow_invites: true,
        dialect: fields,
        ..GroupSettings::named(name, max_members(kind))
    };
    match core.groups.create(app, kind, id.clone(), creator, settings, members).await {
        // The same members made a unique conversation before: that one.
        Err(Error::Duplicate(_)) if id.is_some() => {
            core.groups.get(app, GroupRef { kind, id: id.as_deref().unwrap_or_default() }).await
        }
        made => made,
    }
}

/// A unique conversation's `objectId` and `uniqueId`, from its members.
fn unique_ids(members: &[Username]) -> (String, String) {
    let mut sorted: Vec<&str> = members.iter().map(Username::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let digest = confab_core::auth::hex(&Sha256::digest(format!("unique\u{1f}{}", sorted.join("\u{1f}")).as_bytes()));
    (digest[..24].to_owned(), digest[24..56].to_owned())
}

/// What a client may set on a conversation, as it is now: its `name` and
/// the app's own fields (no built-in or private ones).
pub fn attributes(group: &Group) -> Map<String, Value> {
    let mut attributes: Map<String, Value> = group
        .settings
        .dialect
        .iter()
        .filter(|(key, _)| !key.starts_with(PRIVATE) && !BUILT_IN.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    attributes.insert("name".into(), json!(group.settings.name));
    attributes
}

/// Why a conversation query could not run.
#[derive(Debug)]
pub enum FindError {
    /// The `where` is not the query language (why).
    Where(String),
    /// `skip` is not a number.
    Skip,
    Core(Error),
}

/// The vendor's time format: ISO 8601 in UTC with milliseconds.
pub fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

pub fn updated_ms(group: &Group) -> i64 {
    group.settings.dialect.get("updatedAt").and_then(Value::as_i64).unwrap_or(group.created_ms)
}

/// A conversation as the vendor shows it; `members` for normal conversations.
pub fn document(group: &Group, members: Option<&[Username]>) -> Map<String, Value> {
    let mut doc = Map::new();
    for (key, value) in &group.settings.dialect {
        let hidden = key.starts_with(PRIVATE) || ["m", "name"].contains(&key.as_str());
        if !hidden && !SERVER_KEPT.contains(&key.as_str()) {
            doc.insert(key.clone(), value.clone());
        }
    }
    doc.insert("objectId".into(), json!(group.id));
    doc.insert("name".into(), json!(group.settings.name));
    doc.insert("createdAt".into(), json!(iso(group.created_ms)));
    doc.insert("updatedAt".into(), json!(iso(updated_ms(group))));
    // A `c` the app set to a client outside the conversation is kept as
    // given; otherwise the creator is whoever owns it now.
    if !doc.contains_key("c") && group.owner != Username::admin() {
        doc.insert("c".into(), json!(group.owner.as_str()));
    }
    // Until the app sets them, `tr` and `sys` say what the conversation is.
    match group.kind {
        ChatType::ChatRoom => {
            doc.entry("tr").or_insert(json!(true));
        }
        ChatType::Channel => {
            doc.entry("sys").or_insert(json!(true));
        }
        _ => {}
    }
    if let Some(members) = members {
        doc.insert("m".into(), json!(members.iter().map(Username::as_str).collect::<Vec<_>>()));
    }
    doc
}

/// The members of a normal conversation (rooms and services show none).
pub async fn members_of(
    core: &Core,
    app: confab_core::model::AppId,
    group: &Group,
) -> confab_core::error::Result<Vec<Username>> {
    if group.kind != ChatType::GroupChat {
        return Ok(Vec::new());
    }
    let (_, members) = core.groups.members(app, GroupRef { kind: group.kind, id: &group.id }).await?;
    // The app itself owns what the master key made without a creator; it is not a member to show.
    Ok(members.into_iter().map(|m| m.username).filter(|u| *u != Username::admin()).collect())
}

/// Conversations of these kinds matching `where`, in `order`, from `skip`, at most `limit` (1 to 1000; else 100).
pub async fn find_documents(
    core: &Core,
    app: confab_core::model::AppId,
    kinds: &[ChatType],
    params: &HashMap<String, String>,
) -> Result<Vec<Value>, FindError> {
    let filter = match params.get("where").filter(|w| !w.is_empty()) {
        Some(raw) => Some(query::parse(raw).map_err(FindError::Where)?),
        None => None,
    };
    let skip = params.get("skip").map(|s| s.parse::<usize>()).transpose().map_err(|_| FindError::Skip)?;
    // Outside 1 to 1000 the vendor quietly uses 100.
    let limit =
        params.get("limit").and_then(|l| l.parse::<usize>().ok()).filter(|n| (1..=1000).contains(n)).unwrap_or(100);
    let order = query::parse_order(params.get("order").map(String::as_str).unwrap_or_default());
    let mut groups = Vec::new();
    for kind in kinds {
        match filter.as_ref().and_then(|f| f.required_member()) {
            // Only that member's conversations can match.
            Some(member) if *kind == ChatType::GroupChat => {
                if let Ok(member) = Username::parse(&member) {
                    groups.extend(core.groups.joined(app, *kind, &member).await.map_err(FindError::Core)?);
                }
            }
            _ => {
                let mut after = None;
                loop {
                    let page = core.groups.list(app, *kind, after, 1000, false).await.map_err(FindError::Core)?;
                    groups.extend(page.items);
                    match page.next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
            }
        }
    }
    let mut docs = Vec::with_capacity(groups.len());
    // Temporary conversations are found by their IDs only, as the vendor's.
    groups.retain(|g| !temporary::is_temporary(&g.id));
    for group in &groups {
        let members = if group.kind == ChatType::GroupChat {
            Some(members_of(core, app, group).await.map_err(FindError::Core)?)
        } else {
            None
        };
        let doc = document(group, members.as_deref());
        if filter.as_ref().is_none_or(|f| f.matches(&Value::Object(doc.clone()))) {
            docs.push(doc);
        }
    }
    if !order.is_empty() {
        query::sort(&mut docs, &order);
    }
    Ok(docs.into_iter().skip(skip.unwrap_or(0)).take(limit).map(Value::Object).collect())
}
