//! Conversations (L-conv), chat rooms (L-room) and service conversations'
//! shared endpoints: one set of handlers, generic over a [`Kind`]. Each is
//! a confab group of a kind (group, chat room, channel); `objectId` is its
//! ID. Their messages are in `messages.rs`; silences, roles and blacklists
//! in `permissions.rs`.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query};
use axum::response::Response;
use serde_json::{json, Value};

use confab_core::error::Error;
use confab_core::groups::GroupRef;
use confab_core::model::{ChatType, Group, SettingsPatch, Username};
use confab_core::Core;

use super::error::{self, LcError};
use super::requests::{ClientIds, ConversationFields};
pub use crate::leancloud_model::{document, updated_ms};

use super::{client, clients, ensure_clients, iso, ok, Master};
use crate::leancloud_model::{muted_list, set_notifications, FindError, NewConversation, Notifications};

/// What tells conversations, chat rooms and service conversations apart.
pub trait Kind: Send + Sync + 'static {
    /// Under `/1.2/rtm/`.
    const PATH: &'static str;
    const CHAT_TYPE: ChatType;
    /// Members are listed and changed here (not for rooms and services).
    const MEMBER_LIST: bool;
    /// Silences and member roles (conversations and rooms).
    const ROLES: bool;
    /// Most members, and most entries on a blacklist or silence list.
    const MAX_MEMBERS: u32;
    const BLACKLIST_CAP: usize;
    /// Whether a message is also sent to the sender's other devices unless `no_sync`.
    const SYNC_SENDER: bool;
}

/// Keys of the conversations behind a kind's own ones.
pub mod keys {
    /// Most subscribers one message (or its edit or recall) may name, and one page of subscribers.
    pub const MAX_TO_CLIENTS: usize = 20;

    /// The conversation that holds a service conversation's messages to chosen subscribers.
    pub fn private_key(id: &str) -> String {
        format!("service\u{1f}{id}")
    }

    /// The conversation that holds the app-wide broadcasts sent under a service conversation.
    pub fn broadcast_key(conv_id: &str) -> String {
        format!("broadcast\u{1f}{conv_id}")
    }
}

pub struct Conversations;
pub struct Chatrooms;
pub struct Services;

impl Kind for Conversations {
    const PATH: &'static str = "conversations";
    const CHAT_TYPE: ChatType = ChatType::GroupChat;
    const MEMBER_LIST: bool = true;
    const ROLES: bool = true;
    const MAX_MEMBERS: u32 = 500;
    const BLACKLIST_CAP: usize = 500;
    const SYNC_SENDER: bool = true;
}

impl Kind for Chatrooms {
    const PATH: &'static str = "chatrooms";
    const CHAT_TYPE: ChatType = ChatType::ChatRoom;
    const MEMBER_LIST: bool = false;
    const ROLES: bool = true;
    const MAX_MEMBERS: u32 = 10_000;
    const BLACKLIST_CAP: usize = 10_000;
    // The vendor: chat rooms do not sync a message to its sender.
    const SYNC_SENDER: bool = false;
}

impl Kind for Services {
    const PATH: &'static str = "service-conversations";
    const CHAT_TYPE: ChatType = ChatType::Channel;
    const MEMBER_LIST: bool = false;
    const ROLES: bool = false;
    const MAX_MEMBERS: u32 = 100_000;
    const BLACKLIST_CAP: usize = 10_000;
    const SYNC_SENDER: bool = true;
}

/// The vendor's own fields; the rest of a conversation's fields are the app's.
use crate::leancloud_model::BUILT_IN;
/// Dialect settings whose names start with this are confab's own
/// bookkeeping (temporary silences), never shown as fields.
pub(super) use crate::leancloud_model::PRIVATE;
/// Fields the server alone sets: an update naming one is refused, not ignored.
use crate::leancloud_model::SERVER_KEPT;

pub fn group_ref<K: Kind>(id: &str) -> GroupRef<'_> {
    GroupRef { kind: K::CHAT_TYPE, id }
}

/// The group a path names, or the vendor's "conversation not found".
pub async fn find<K: Kind>(core: &Core, app: confab_core::model::AppId, id: &str) -> Result<Group, LcError> {
    match core.groups.get(app, group_ref::<K>(id)).await {
        Ok(group) => Ok(group),
        Err(Error::NotFound(_)) => Err(LcError::conversation_not_found(id)),
        Err(e) => Err(e.into()),
    }
}

/// The conversation, chat room or service conversation an ID names.
pub async fn find_any(core: &Core, app: confab_core::model::AppId, id: &str) -> Result<Group, LcError> {
    crate::leancloud_model::find_any(core, app, id).await?.ok_or_else(|| LcError::conversation_not_found(id))
}

fn changed(group: &Group) -> Response {
    ok(json!({"updatedAt": iso(updated_ms(group)), "objectId": group.id}))
}

/// The conversation's own fields, kept as given (everything but the built-in ones).
fn custom_fields(body: &ConversationFields) -> BTreeMap<String, Value> {
    body.custom
        .iter()
        .filter(|(k, _)| !BUILT_IN.contains(&k.as_str()) && !k.starts_with(PRIVATE))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The built-in fields a request may set besides `name`, `m` and `c`, checked
/// and kept as given: `tr`, `sys`, `unique` (true or false), `uniqueId` (a
/// string), `lm` (any value), `mu` (client IDs: the clients who turned the
/// conversation's notifications off, the list `…/mutes` changes). `null`
/// removes one.
fn built_in_fields<K: Kind>(body: &ConversationFields) -> Result<BTreeMap<String, Value>, LcError> {
    let mut fields = BTreeMap::new();
    for (key, value) in [("tr", &body.tr), ("sys", &body.sys), ("unique", &body.unique)] {
        match value {
            None => {}
            Some(value @ (Value::Bool(_) | Value::Null)) => {
                fields.insert(key.to_owned(), value.clone());
            }
            Some(_) => return Err(LcError::invalid(format!("{key} must be true or false"))),
        }
    }
    match &body.unique_id {
        None => {}
        Some(value @ (Value::String(_) | Value::Null)) => {
            fields.insert("uniqueId".to_owned(), value.clone());
        }
        Some(_) => return Err(LcError::invalid("uniqueId must be a string")),
    }
    if let Some(value) = &body.lm {
        fields.insert("lm".to_owned(), value.clone());
    }
    match &body.mu {
        None => {}
        Some(Value::Null) => {
            fields.insert("mu".to_owned(), Value::Null);
        }
        Some(_) => {
            let muted = clients(&body.mu, "mu", K::MAX_MEMBERS as usize)?;
            fields.insert("mu".to_owned(), json!(muted.iter().map(Username::as_str).collect::<Vec<_>>()));
        }
    }
    Ok(fields)
}

/// L-conv-1, L-room-1, L-svc-1: creates a conversation. With `unique: true`
/// the same members always get the same conversation.
pub async fn create<K: Kind>(
    target: Master,
    super::Body(body): super::Body<ConversationFields>,
) -> Result<Response, LcError> {
    let Master { core, app, .. } = target;
    let name = match &body.name {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(LcError::invalid("name must be a string")),
    };
    let members = match &body.m {
        Some(_) if K::MEMBER_LIST => clients(&body.m, "m", K::MAX_MEMBERS as usize)?,
        _ => Vec::new(),
    };
    let creator = match body.c.as_ref().and_then(Value::as_str) {
        Some(c) => client(c, "c")?,
        None => Username::admin(),
    };
    // Until it changes, a conversation's `updatedAt` is its `createdAt`.
    let mut fields = custom_fields(&body);
    fields.extend(built_in_fields::<K>(&body)?.into_iter().filter(|(_, v)| !v.is_null()));
    let unique = body.unique.as_ref().and_then(Value::as_bool) == Some(true);
    let new = NewConversation { kind: K::CHAT_TYPE, name, creator, members, fields, unique };
    let group = crate::leancloud_model::create(&core, app.id, new).await?;
    if K::CHAT_TYPE != ChatType::GroupChat {
        return Ok(ok(json!({"objectId": group.id, "createdAt": iso(group.created_ms)})));
    }
    let members = members_of(&core, app.id, &group).await?;
    Ok(ok(Value::Object(document(&group, Some(&members)))))
}

/// L-conv-2 and friends: `where`, `order`, `skip`, `limit` (default 100, at
/// most 1000; outside that, 100, as the vendor).
pub async fn query<K: Kind>(
    target: Master,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    let results = find_documents(&target.core, target.app.id, &[K::CHAT_TYPE], &params).await?;
    Ok(ok(json!({"results": results})))
}

/// The conversations of these kinds that match a query's parameters, as documents.
pub async fn find_documents(
    core: &Core,
    app: confab_core::model::AppId,
    kinds: &[ChatType],
    params: &HashMap<String, String>,
) -> Result<Vec<Value>, LcError> {
    crate::leancloud_model::find_documents(core, app, kinds, params).await.map_err(|e| match e {
        FindError::Where(m) => LcError::invalid(format!("where: {m}")),
        FindError::Skip => LcError::invalid("skip must be a number"),
        FindError::Core(e) => e.into(),
    })
}

/// L-conv-3: changes any field but the members (`m`) and what the server
/// keeps (`objectId`, `createdAt`, `updatedAt`), as the vendor's
/// `_Conversation` table allows.
pub async fn update<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body<ConversationFields>,
) -> Result<Response, LcError> {
    if body.m.is_some() {
        return Err(LcError::invalid("m cannot be changed here; use the members endpoints"));
    }
    if let Some(key) = SERVER_KEPT.iter().find(|k| body.custom.contains_key(**k)) {
        return Err(LcError::invalid(format!("{key} is set by the server and cannot be changed")));
    }
    let group = find::<K>(&target.core, target.app.id, &id).await?;
    let name = match &body.name {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(LcError::invalid("name must be a string")),
    };
    // Checked before anything is written: a new creator takes effect at once.
    let name_cap = confab_core::groups::limits::NAME_CHARS;
    if name.as_ref().is_some_and(|n| n.chars().count() > name_cap) {
        return Err(LcError::invalid(format!("name must be at most {name_cap} characters")));
    }
    let mut dialect = custom_fields(&body);
    dialect.extend(built_in_fields::<K>(&body)?);
    if let Some(c) = &body.c {
        let creator = match c {
            Value::String(raw) => Some(client(raw, "c")?),
            Value::Null => None,
            _ => return Err(LcError::invalid("c must be a client ID")),
        };
        dialect.insert("c".into(), set_creator::<K>(&target, &group, creator).await?);
    }
    dialect.insert("updatedAt".into(), json!(target.core.now_ms()));
    let patch = SettingsPatch { name, dialect: Some(dialect), ..SettingsPatch::default() };
    let group = target.core.groups.update(target.app.id, group_ref::<K>(&group.id), patch).await?;
    Ok(changed(&group))
}

/// A new creator (`c`): a member of a conversation with roles becomes its
/// Owner (the vendor's Owner is the creator); anyone else is kept as the
/// conversation's `c` as given. Returns the stored `c` (`null`: the owner).
async fn set_creator<K: Kind>(target: &Master, group: &Group, creator: Option<Username>) -> Result<Value, LcError> {
    let Some(creator) = creator else {
        return Ok(Value::Null);
    };
    if creator == group.owner {
        return Ok(Value::Null);
    }
    if K::ROLES {
        let reference = group_ref::<K>(&group.id);
        let (_, members) = target.core.groups.members(target.app.id, reference).await?;
        if members.iter().any(|m| m.username == creator) {
            target.core.groups.transfer_owner(target.app.id, reference, creator).await?;
            return Ok(Value::Null);
        }
    }
    Ok(json!(creator.as_str()))
}

/// L-conv-4: deletes the conversation (its messages stay in history).
pub async fn remove<K: Kind>(target: Master, Path(id): Path<String>) -> Result<Response, LcError> {
    find::<K>(&target.core, target.app.id, &id).await?;
    target.core.groups.delete(target.app.id, group_ref::<K>(&id)).await?;
    Ok(ok(json!({})))
}

/// Marks the conversation changed now (for `updatedAt`).
pub(super) async fn touch<K: Kind>(core: &Core, app: confab_core::model::AppId, id: &str) -> Result<Group, LcError> {
    let dialect = BTreeMap::from([("updatedAt".to_owned(), json!(core.now_ms()))]);
    let patch = SettingsPatch { dialect: Some(dialect), ..SettingsPatch::default() };
    Ok(core.groups.update(app, group_ref::<K>(id), patch).await?)
}

/// L-conv-5: members join.
pub async fn add_members<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body<ClientIds>,
) -> Result<Response, LcError> {
    let users = clients(&body.client_ids, "client_ids", K::MAX_MEMBERS as usize)?;
    find::<K>(&target.core, target.app.id, &id).await?;
    ensure_clients(&target.core, &target.app, &users).await?;
    // The vendor documents no limit per call but the conversation's size.
    let per_call = K::MAX_MEMBERS as usize;
    let added = target.core.groups.add_members_up_to(target.app.id, group_ref::<K>(&id), users, per_call).await;
    if let Err(Error::LimitExceeded(m)) = added {
        return Err(LcError::new(axum::http::StatusCode::BAD_REQUEST, error::CONVERSATION_FULL, m));
    }
    added?;
    Ok(changed(&touch::<K>(&target.core, target.app.id, &id).await?))
}

/// L-conv-5: members leave.
pub async fn remove_members<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body<ClientIds>,
) -> Result<Response, LcError> {
    let users = clients(&body.client_ids, "client_ids", K::MAX_MEMBERS as usize)?;
    find::<K>(&target.core, target.app.id, &id).await?;
    let per_call = K::MAX_MEMBERS as usize;
    target.core.groups.remove_members_up_to(target.app.id, group_ref::<K>(&id), users, per_call).await?;
    Ok(changed(&touch::<K>(&target.core, target.app.id, &id).await?))
}

/// L-conv-5: the members.
pub async fn members<K: Kind>(target: Master, Path(id): Path<String>) -> Result<Response, LcError> {
    let group = find::<K>(&target.core, target.app.id, &id).await?;
    let members = members_of(&target.core, target.app.id, &group).await?;
    Ok(ok(json!({"result": members})))
}

async fn set_muted(target: &Master, id: &str, body: &ClientIds, to: Notifications) -> Result<Response, LcError> {
    let users = clients(&body.client_ids, "client_ids", Conversations::MAX_MEMBERS as usize)?;
    let group = find::<Conversations>(&target.core, target.app.id, id).await?;
    let group = set_notifications(&target.core, target.app.id, &group, &users, to).await?;
    Ok(changed(&group))
}

/// L-conv-6: members who turned the conversation's notifications off.
pub async fn mute(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body<ClientIds>,
) -> Result<Response, LcError> {
    set_muted(&target, &id, &body, Notifications::Off).await
}

pub async fn unmute(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body<ClientIds>,
) -> Result<Response, LcError> {
    set_muted(&target, &id, &body, Notifications::On).await
}

pub async fn mutes(target: Master, Path(id): Path<String>) -> Result<Response, LcError> {
    let group = find::<Conversations>(&target.core, target.app.id, &id).await?;
    Ok(ok(json!({"result": muted_list(&group)})))
}

/// L-room-2: members of a chat room who are connected now, in random order.
pub async fn online_members(target: Master, Path(id): Path<String>) -> Result<Response, LcError> {
    let online = online_room_members(&target, &id).await?;
    Ok(ok(json!({"result": online})))
}

/// L-room-3.
pub async fn online_count(target: Master, Path(id): Path<String>) -> Result<Response, LcError> {
    let online = online_room_members(&target, &id).await?;
    Ok(ok(json!({"result": online.len()})))
}

async fn online_room_members(target: &Master, id: &str) -> Result<Vec<String>, LcError> {
    find::<Chatrooms>(&target.core, target.app.id, id).await?;
    let (_, members) = target.core.groups.members(target.app.id, group_ref::<Chatrooms>(id)).await?;
    let users: Vec<Username> = members.into_iter().map(|m| m.username).filter(|u| *u != Username::admin()).collect();
    let online = target.core.users.online(target.app.id, &users).await;
    let mut names: Vec<String> =
        users.into_iter().zip(online).filter(|(_, on)| *on).map(|(u, _)| u.to_string()).collect();
    use rand::seq::SliceRandom;
    names.shuffle(&mut rand::thread_rng());
    Ok(names)
}

/// The members of a normal conversation (rooms and services show none).
pub async fn members_of(core: &Core, app: confab_core::model::AppId, group: &Group) -> Result<Vec<Username>, LcError> {
    Ok(crate::leancloud_model::members_of(core, app, group).await?)
}
