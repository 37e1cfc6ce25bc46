//! LeanCloud's conversations as its clients and backends see them: the
//! `_Conversation` document of a core group, and the `where` queries over
//! them. Shared by the REST dialect (`leancloud/`) and the SDK protocol
//! (`gateway/leancloud/`), so neither imports the other.

pub mod query;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use confab_core::error::Error;
use confab_core::groups::GroupRef;
use confab_core::model::{ChatType, Group, Username};
use confab_core::Core;

/// Marks a conversation's private settings (kept, never shown).
pub const PRIVATE: char = '\u{1f}';
/// Fields the server keeps and no request sets.
pub const SERVER_KEPT: [&str; 3] = ["objectId", "createdAt", "updatedAt"];

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
