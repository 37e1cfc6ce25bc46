//! Conversations (L-conv, L-msg, L-sil, L-role, L-black), chat rooms
//! (L-room) and service conversations' shared endpoints: one set of
//! handlers, generic over a [`Kind`]. Each is a confab group of a kind
//! (group, chat room, channel); `objectId` is its ID.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query};
use axum::response::Response;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use confab_core::error::Error;
use confab_core::groups::{GroupRef, GroupSend, ListRules};
use confab_core::ids::MessageId;
use confab_core::model::{
    Body, ChatType, ConversationId, Delivery, Group, GroupList, GroupSettings, Message, MessageState, Original, Role,
    SettingsPatch, Username,
};
use confab_core::Core;

use super::error::{self, LcError};
use super::history::{self, HistoryParams};
use super::{client, clients, ensure_clients, iso, ok, required, Master};
use crate::limits::{Per, LEANCLOUD_MESSAGES_PER_MINUTE};

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

/// Most permanently silenced members of a conversation or room.
const MAX_SILENCED: usize = 500;
/// Longest temporary silence, in seconds.
const MAX_SILENCE_SECS: i64 = 24 * 3600;
/// Most clients one message may mention.
const MAX_MENTIONS: usize = 20;
/// Largest message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 5 * 1024;
/// The vendor's own fields; the rest of a conversation's fields are the app's.
const BUILT_IN: [&str; 12] =
    ["objectId", "name", "m", "c", "mu", "tr", "sys", "unique", "uniqueId", "createdAt", "updatedAt", "lm"];
/// Fields the server alone sets: an update naming one is refused, not ignored.
const SERVER_KEPT: [&str; 3] = ["objectId", "createdAt", "updatedAt"];
/// Built-in fields stored as given (after a type check) and returned in queries.
const FLAGS: [&str; 3] = ["tr", "sys", "unique"];
/// Dialect settings whose names start with this are confab's own
/// bookkeeping (temporary silences), never shown as fields.
const PRIVATE: char = '\u{1f}';

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
    for kind in [ChatType::GroupChat, ChatType::ChatRoom, ChatType::Channel] {
        match core.groups.get(app, GroupRef { kind, id }).await {
            Ok(group) => return Ok(group),
            Err(Error::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(LcError::conversation_not_found(id))
}

fn updated_ms(group: &Group) -> i64 {
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
pub async fn members_of(core: &Core, app: confab_core::model::AppId, group: &Group) -> Result<Vec<Username>, LcError> {
    if group.kind != ChatType::GroupChat {
        return Ok(Vec::new());
    }
    let (_, members) = core.groups.members(app, GroupRef { kind: group.kind, id: &group.id }).await?;
    // The app itself owns what the master key made without a creator; it is not a member to show.
    Ok(members.into_iter().map(|m| m.username).filter(|u| *u != Username::admin()).collect())
}

fn changed(group: &Group) -> Response {
    ok(json!({"updatedAt": iso(updated_ms(group)), "objectId": group.id}))
}

/// The conversation's own fields, kept as given (everything but the built-in ones).
fn custom_fields(body: &Map<String, Value>) -> BTreeMap<String, Value> {
    body.iter()
        .filter(|(k, _)| !BUILT_IN.contains(&k.as_str()) && !k.starts_with(PRIVATE))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The built-in fields a request may set besides `name`, `m` and `c`, checked
/// and kept as given: `tr`, `sys`, `unique` (true or false), `uniqueId` (a
/// string), `lm` (any value), `mu` (client IDs: the clients who turned the
/// conversation's notifications off, the list `…/mutes` changes). `null`
/// removes one.
fn built_in_fields<K: Kind>(body: &Map<String, Value>) -> Result<BTreeMap<String, Value>, LcError> {
    let mut fields = BTreeMap::new();
    for key in FLAGS {
        match body.get(key) {
            None => {}
            Some(value @ (Value::Bool(_) | Value::Null)) => {
                fields.insert(key.to_owned(), value.clone());
            }
            Some(_) => return Err(LcError::invalid(format!("{key} must be true or false"))),
        }
    }
    match body.get("uniqueId") {
        None => {}
        Some(value @ (Value::String(_) | Value::Null)) => {
            fields.insert("uniqueId".to_owned(), value.clone());
        }
        Some(_) => return Err(LcError::invalid("uniqueId must be a string")),
    }
    if let Some(value) = body.get("lm") {
        fields.insert("lm".to_owned(), value.clone());
    }
    match body.get("mu") {
        None => {}
        Some(Value::Null) => {
            fields.insert("mu".to_owned(), Value::Null);
        }
        Some(_) => {
            let muted = clients(body, "mu", K::MAX_MEMBERS as usize)?;
            fields.insert("mu".to_owned(), json!(muted.iter().map(Username::as_str).collect::<Vec<_>>()));
        }
    }
    Ok(fields)
}

/// L-conv-1, L-room-1, L-svc-1: creates a conversation. With `unique: true`
/// the same members always get the same conversation.
pub async fn create<K: Kind>(target: Master, super::Body(body): super::Body) -> Result<Response, LcError> {
    let Master { core, app, .. } = target;
    let name = match body.get("name") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(LcError::invalid("name must be a string")),
    };
    let members = if K::MEMBER_LIST && body.contains_key("m") {
        clients(&body, "m", K::MAX_MEMBERS as usize)?
    } else {
        Vec::new()
    };
    let creator = match body.get("c").and_then(Value::as_str) {
        Some(c) => client(c, "c")?,
        None => Username::admin(),
    };
    let mut everyone = members.clone();
    if creator != Username::admin() {
        everyone.push(creator.clone());
    }
    ensure_clients(&core, &app, &everyone).await?;
    // Until it changes, a conversation's `updatedAt` is its `createdAt`.
    let mut dialect = custom_fields(&body);
    dialect.extend(built_in_fields::<K>(&body)?.into_iter().filter(|(_, v)| !v.is_null()));
    let unique = K::CHAT_TYPE == ChatType::GroupChat && body.get("unique").and_then(Value::as_bool) == Some(true);
    let id = if unique {
        let (object_id, unique_id) = unique_ids(&everyone);
        dialect.insert("unique".into(), json!(true));
        dialect.insert("uniqueId".into(), json!(unique_id));
        Some(object_id)
    } else {
        None
    };
    let settings =
        GroupSettings { public: true, allow_invites: true, dialect, ..GroupSettings::named(name, K::MAX_MEMBERS) };
    let created = core.groups.create(app.id, K::CHAT_TYPE, id.clone(), creator, settings, members).await;
    let group = match (created, &id) {
        (Ok(group), _) => group,
        // The same members made a unique conversation before: that one.
        (Err(Error::Duplicate(_)), Some(id)) => find::<K>(&core, app.id, id).await?,
        (Err(Error::LimitExceeded(m)), _) => {
            return Err(LcError::new(axum::http::StatusCode::BAD_REQUEST, error::CONVERSATION_FULL, m))
        }
        (Err(e), _) => return Err(e.into()),
    };
    if K::CHAT_TYPE != ChatType::GroupChat {
        return Ok(ok(json!({"objectId": group.id, "createdAt": iso(group.created_ms)})));
    }
    let members = members_of(&core, app.id, &group).await?;
    Ok(ok(Value::Object(document(&group, Some(&members)))))
}

/// A unique conversation's ID and `uniqueId`, from its member set.
fn unique_ids(members: &[Username]) -> (String, String) {
    let mut sorted: Vec<&str> = members.iter().map(Username::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let digest: String = Sha256::digest(format!("unique\u{1f}{}", sorted.join("\u{1f}")).as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (digest[..24].to_owned(), digest[24..56].to_owned())
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
    let filter = match params.get("where").filter(|w| !w.is_empty()) {
        Some(raw) => Some(super::query::parse(raw).map_err(|e| LcError::invalid(format!("where: {e}")))?),
        None => None,
    };
    let skip = params
        .get("skip")
        .map(|s| s.parse::<usize>())
        .transpose()
        .map_err(|_| LcError::invalid("skip must be a number"))?;
    // Outside 1 to 1000 the vendor quietly uses 100.
    let limit =
        params.get("limit").and_then(|l| l.parse::<usize>().ok()).filter(|n| (1..=1000).contains(n)).unwrap_or(100);
    let order = super::query::parse_order(params.get("order").map(String::as_str).unwrap_or_default());
    let mut groups = Vec::new();
    for kind in kinds {
        match filter.as_ref().and_then(|f| f.required_member()) {
            // Only that member's conversations can match.
            Some(member) if *kind == ChatType::GroupChat => {
                if let Ok(member) = Username::parse(&member) {
                    groups.extend(core.groups.joined(app, *kind, &member).await?);
                }
            }
            _ => {
                let mut after = None;
                loop {
                    let page = core.groups.list(app, *kind, after, 1000, false).await?;
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
        let members = if group.kind == ChatType::GroupChat { Some(members_of(core, app, group).await?) } else { None };
        let doc = document(group, members.as_deref());
        if filter.as_ref().is_none_or(|f| f.matches(&Value::Object(doc.clone()))) {
            docs.push(doc);
        }
    }
    if !order.is_empty() {
        super::query::sort(&mut docs, &order);
    }
    Ok(docs.into_iter().skip(skip.unwrap_or(0)).take(limit).map(Value::Object).collect())
}

/// L-conv-3: changes any field but the members (`m`) and what the server
/// keeps (`objectId`, `createdAt`, `updatedAt`), as the vendor's
/// `_Conversation` table allows.
pub async fn update<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body,
) -> Result<Response, LcError> {
    if body.contains_key("m") {
        return Err(LcError::invalid("m cannot be changed here; use the members endpoints"));
    }
    if let Some(key) = SERVER_KEPT.iter().find(|k| body.contains_key(**k)) {
        return Err(LcError::invalid(format!("{key} is set by the server and cannot be changed")));
    }
    let group = find::<K>(&target.core, target.app.id, &id).await?;
    let name = match body.get("name") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(LcError::invalid("name must be a string")),
    };
    let mut dialect = custom_fields(&body);
    dialect.extend(built_in_fields::<K>(&body)?);
    if let Some(c) = body.get("c") {
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
async fn touch<K: Kind>(core: &Core, app: confab_core::model::AppId, id: &str) -> Result<Group, LcError> {
    let dialect = BTreeMap::from([("updatedAt".to_owned(), json!(core.now_ms()))]);
    let patch = SettingsPatch { dialect: Some(dialect), ..SettingsPatch::default() };
    Ok(core.groups.update(app, group_ref::<K>(id), patch).await?)
}

/// L-conv-5: members join.
pub async fn add_members<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body,
) -> Result<Response, LcError> {
    let users = clients(&body, "client_ids", K::MAX_MEMBERS as usize)?;
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
    super::Body(body): super::Body,
) -> Result<Response, LcError> {
    let users = clients(&body, "client_ids", K::MAX_MEMBERS as usize)?;
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

fn muted_list(group: &Group) -> Vec<String> {
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

async fn set_muted(target: &Master, id: &str, body: &Map<String, Value>, muted: bool) -> Result<Response, LcError> {
    let users = clients(body, "client_ids", Conversations::MAX_MEMBERS as usize)?;
    let group = find::<Conversations>(&target.core, target.app.id, id).await?;
    let mut list = muted_list(&group);
    for user in users {
        let name = user.to_string();
        if muted && !list.contains(&name) {
            list.push(name);
        } else if !muted {
            list.retain(|u| *u != name);
        }
    }
    let dialect =
        BTreeMap::from([("mu".to_owned(), json!(list)), ("updatedAt".to_owned(), json!(target.core.now_ms()))]);
    let patch = SettingsPatch { dialect: Some(dialect), ..SettingsPatch::default() };
    let group = target.core.groups.update(target.app.id, group_ref::<Conversations>(id), patch).await?;
    Ok(changed(&group))
}

/// L-conv-6: members who turned the conversation's notifications off.
pub async fn mute(target: Master, Path(id): Path<String>, super::Body(body): super::Body) -> Result<Response, LcError> {
    set_muted(&target, &id, &body, true).await
}

pub async fn unmute(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body,
) -> Result<Response, LcError> {
    set_muted(&target, &id, &body, false).await
}

pub async fn mutes(target: Master, Path(id): Path<String>) -> Result<Response, LcError> {
    let group = find::<Conversations>(&target.core, target.app.id, &id).await?;
    Ok(ok(json!({"result": muted_list(&group)})))
}

/// The text other dialects see for a LeanCloud message: a rich-media
/// message's `_lctext`, otherwise the string itself.
pub fn body_of(data: &str) -> Body {
    let text = match serde_json::from_str::<Value>(data) {
        Ok(Value::Object(rich)) if rich.contains_key("_lctype") => {
            rich.get("_lctext").and_then(Value::as_str).unwrap_or_default().to_owned()
        }
        _ => data.to_owned(),
    };
    Body::Text { msg: text }
}

/// The `message` field: a string of at most 5 KB.
pub fn message_field(body: &Map<String, Value>) -> Result<String, LcError> {
    let message = match body.get("message") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        // The vendor's SDKs send an object when given one: kept as its JSON text.
        Some(value @ Value::Object(_)) => value.to_string(),
        _ => return Err(LcError::invalid("message is required")),
    };
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(LcError::new(axum::http::StatusCode::BAD_REQUEST, 4109, "message is larger than 5 KB"));
    }
    Ok(message)
}

fn flag(body: &Map<String, Value>, key: &str) -> Result<bool, LcError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(LcError::invalid(format!("{key} must be true or false"))),
    }
}

/// What a send asks for, parsed once for every endpoint that sends.
pub struct Outgoing {
    pub from: Username,
    pub data: String,
    pub transient: bool,
    pub no_sync: bool,
    pub mention_all: bool,
    pub mentions: Vec<Username>,
}

pub fn outgoing(body: &Map<String, Value>, from_key: &str) -> Result<Outgoing, LcError> {
    let from = client(required(body, from_key)?, from_key)?;
    let data = message_field(body)?;
    let mentions = if body.contains_key("mention_client_ids") {
        clients(body, "mention_client_ids", MAX_MENTIONS)?
    } else {
        Vec::new()
    };
    if let Some(priority) = body.get("priority").and_then(Value::as_str) {
        if !["high", "normal", "low"].contains(&priority.to_ascii_lowercase().as_str()) {
            return Err(LcError::invalid("priority must be high, normal or low"));
        }
    }
    Ok(Outgoing {
        from,
        data,
        transient: flag(body, "transient")?,
        no_sync: flag(body, "no_sync")?,
        mention_all: flag(body, "mention_all")?,
        mentions,
    })
}

/// Sends to a conversation of this kind as the app (membership is not
/// checked, as the vendor does); returns the message.
pub async fn send_as_app<K: Kind>(
    core: &Core,
    app: &confab_core::model::App,
    id: &str,
    out: Outgoing,
    receivers: Option<Vec<Username>>,
) -> Result<std::sync::Arc<Message>, LcError> {
    ensure_clients(core, app, std::slice::from_ref(&out.from)).await?;
    let original = Original::LeanCloud {
        data: out.data.clone(),
        mention_all: out.mention_all,
        mentions: out.mentions,
        valid_till: None,
    };
    let send = GroupSend {
        from: out.from,
        by_app: true,
        kind: K::CHAT_TYPE,
        to: vec![id.to_owned()],
        body: body_of(&out.data),
        ext: None,
        delivery: Delivery { sync_sender: K::SYNC_SENDER && !out.no_sync, online_only: false, sent_at: None },
        origin_device: None,
        original: Some(original),
        receivers,
    };
    let sent = if out.transient {
        core.groups.send_transient(app.id, send).await
    } else {
        core.groups
            .send(app.id, send)
            .await
            .map(|mut sent| sent.pop().map(|(_, m)| m).expect("one target, one message"))
    };
    match sent {
        Ok(message) => Ok(message),
        Err(Error::NotFound(_)) => Err(LcError::new(
            axum::http::StatusCode::NOT_FOUND,
            error::INVALID_MESSAGING_TARGET,
            format!("Conversation {id} not found."),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Counts one call against the app's per-minute quota of message calls (sends, edits, recalls).
pub fn message_quota(target: &Master) -> Result<(), LcError> {
    if !target.limits.allow(&target.app, LEANCLOUD_MESSAGES_PER_MINUTE, Per::Minute, 1) {
        return Err(LcError::too_many_requests());
    }
    Ok(())
}

pub fn sent(message: &Message) -> Response {
    ok(json!({"msg-id": message.id.to_string(), "timestamp": message.timestamp_ms}))
}

/// L-msg-1 (and L-room-4): sends a message; `transient` ones reach only who is connected.
pub async fn send<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body,
) -> Result<Response, LcError> {
    message_quota(&target)?;
    if K::CHAT_TYPE == ChatType::Channel {
        return super::service::send_to_some(target, id, body).await;
    }
    let out = outgoing(&body, "from_client")?;
    let message = send_as_app::<K>(&target.core, &target.app, &id, out, None).await?;
    Ok(sent(&message))
}

/// The conversations whose messages a conversation's history holds: its
/// own, and for a service conversation, what it sent to chosen subscribers.
pub async fn history_conversations<K: Kind>(
    core: &Core,
    app: confab_core::model::AppId,
    group: &Group,
) -> Result<Vec<ConversationId>, LcError> {
    let mut conversations = vec![group.conversation];
    if K::CHAT_TYPE == ChatType::Channel {
        if let Some(private) =
            core.messages.conversation(app, ChatType::Broadcast, &super::service::private_key(&group.id)).await?
        {
            conversations.push(private);
        }
    }
    Ok(conversations)
}

/// L-msg-2: history, by the seed's rules for `timestamp`/`msgid`,
/// `till_timestamp`/`till_msgid`, `include_start`/`include_stop`, `reversed`, `limit`.
pub async fn history<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    let group = find::<K>(&target.core, target.app.id, &id).await?;
    let params = HistoryParams::parse(&params, target.core.now_ms())?;
    let conversations = history_conversations::<K>(&target.core, target.app.id, &group).await?;
    let messages = history::read(&target.core, target.app.id, &conversations, None, &params).await?;
    Ok(ok(Value::Array(messages.iter().map(history::record).collect())))
}

/// The message a path names, checked against the conversation, sender and time given.
pub async fn owned_message<K: Kind>(
    target: &Master,
    id: &str,
    message_id: &str,
    body: &Map<String, Value>,
) -> Result<Message, LcError> {
    let group = find::<K>(&target.core, target.app.id, id).await?;
    let not_found = || LcError::message_not_found(message_id);
    let parsed = MessageId::parse(message_id).ok_or_else(not_found)?;
    let message = target.core.messages.get(target.app.id, parsed).await?.ok_or_else(not_found)?;
    let mut conversations = history_conversations::<K>(&target.core, target.app.id, &group).await?;
    if K::CHAT_TYPE == ChatType::Channel {
        // The app-wide broadcasts sent under it are edited here too (the seed's "修改广播消息").
        let key = super::global::broadcast_key(&group.id);
        if let Some(broadcasts) = target.core.messages.conversation(target.app.id, ChatType::Broadcast, &key).await? {
            conversations.push(broadcasts);
        }
    }
    if !conversations.contains(&message.conversation) || matches!(message.state, MessageState::Deleted { .. }) {
        return Err(not_found());
    }
    let from = client(required(body, "from_client")?, "from_client")?;
    let timestamp = body.get("timestamp").and_then(|t| t.as_i64().or_else(|| t.as_str().and_then(|s| s.parse().ok())));
    let Some(timestamp) = timestamp else {
        return Err(LcError::invalid("timestamp is required"));
    };
    if message.from != from || message.timestamp_ms != timestamp {
        return Err(not_found());
    }
    Ok(message)
}

/// `to_clients` of an edit or recall of a service conversation's message:
/// the subscribers it is for (at most 20).
fn chosen_clients<K: Kind>(body: &Map<String, Value>) -> Result<Option<Vec<Username>>, LcError> {
    if K::CHAT_TYPE != ChatType::Channel || !body.contains_key("to_clients") {
        return Ok(None);
    }
    let to = clients(body, "to_clients", super::service::MAX_TO_CLIENTS)?;
    if to.is_empty() {
        return Err(LcError::invalid("to_clients must name at least one client"));
    }
    Ok(Some(to))
}

/// L-msg-3: new content; connected receivers are told. With `to_clients`
/// (service conversations) only those are told. An app-wide broadcast keeps
/// its expiry and, as the vendor's, reaches only devices that have not
/// received it yet.
pub async fn edit<K: Kind>(
    target: Master,
    Path((id, message_id)): Path<(String, String)>,
    super::Body(body): super::Body,
) -> Result<Response, LcError> {
    message_quota(&target)?;
    let message = owned_message::<K>(&target, &id, &message_id, &body).await?;
    let data = message_field(&body)?;
    let to = chosen_clients::<K>(&body)?;
    let valid_till = match &message.original {
        Some(Original::LeanCloud { valid_till, .. }) => *valid_till,
        _ => None,
    };
    let original = Original::LeanCloud { data: data.clone(), mention_all: false, mentions: Vec::new(), valid_till };
    let (app, messages, content) = (target.app.id, &target.core.messages, body_of(&data));
    match (to, valid_till) {
        (Some(to), _) => messages.edit_telling(app, message.id, content, Some(original), to).await?,
        (None, Some(_)) => messages.edit(app, message.id, content, Some(original), false).await?,
        (None, None) => messages.edit(app, message.id, content, Some(original), true).await?,
    };
    Ok(ok(json!({})))
}

/// L-msg-4: recalls a message (the vendor sets no time limit here); with
/// `to_clients` (service conversations), for those clients only.
pub async fn recall<K: Kind>(
    target: Master,
    Path((id, message_id)): Path<(String, String)>,
    super::Body(body): super::Body,
) -> Result<Response, LcError> {
    message_quota(&target)?;
    let message = owned_message::<K>(&target, &id, &message_id, &body).await?;
    let to = chosen_clients::<K>(&body)?;
    if !matches!(message.state, MessageState::Recalled { .. }) {
        target.core.messages.recall(target.app.id, message.id, &message.from, to).await?;
    }
    Ok(ok(json!({})))
}

/// L-msg-5: deletes a message on the server only (devices keep their copy).
pub async fn delete_message<K: Kind>(
    target: Master,
    Path((id, message_id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    let message = owned_message::<K>(&target, &id, &message_id, &query_fields(params)).await?;
    target.core.messages.delete_on_server(target.app.id, message.id).await?;
    Ok(ok(json!({})))
}

/// Query parameters as the fields of a body (the vendor's deletes take them in the query).
pub fn query_fields(params: HashMap<String, String>) -> Map<String, Value> {
    params.into_iter().map(|(k, v)| (k, Value::String(v))).collect()
}

fn list_error(e: Error, full_code: i64) -> LcError {
    match e {
        Error::LimitExceeded(m) => LcError::new(axum::http::StatusCode::BAD_REQUEST, full_code, m),
        other => other.into(),
    }
}

/// L-sil-1: silences a member for `ttl` seconds (at most 24 hours).
pub async fn silence<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body,
) -> Result<Response, LcError> {
    let user = client(required(&body, "client_id")?, "client_id")?;
    let ttl = body.get("ttl").and_then(Value::as_i64).ok_or_else(|| LcError::invalid("ttl (seconds) is required"))?;
    if !(1..=MAX_SILENCE_SECS).contains(&ttl) {
        return Err(LcError::invalid(format!("ttl must be 1 to {MAX_SILENCE_SECS} seconds")));
    }
    find::<K>(&target.core, target.app.id, &id).await?;
    let app = target.app.id;
    let until = target.core.now_ms().saturating_add(ttl * 1000);
    // A permanent silence outlasts the temporary one: the mute list keeps it.
    if !permanently_silenced::<K>(&target.core, app, &id, &user).await? {
        let rules = ListRules { members_only: false, cap: MAX_SILENCED, batch: 1 };
        let mute = vec![user.clone()];
        target
            .core
            .groups
            .add_to_list_with(app, group_ref::<K>(&id), GroupList::Mute, mute, Some(ttl * 1000), rules)
            .await
            .map_err(|e| list_error(e, error::SILENCED_LIST_FULL))?;
    }
    set_temporary_silence::<K>(&target.core, app, &id, &user, json!(until)).await?;
    Ok(ok(json!({})))
}

/// The vendor keeps temporary and permanent silences apart, and confab's
/// mute list holds one entry per member (the longer one); when the member's
/// temporary silence ends is kept beside it, under a private dialect key
/// (one per member, so concurrent changes do not overwrite each other).
fn temporary_silence_key(user: &Username) -> String {
    format!("{PRIVATE}silenced{PRIVATE}{user}")
}

async fn set_temporary_silence<K: Kind>(
    core: &Core,
    app: confab_core::model::AppId,
    id: &str,
    user: &Username,
    until: Value,
) -> Result<(), LcError> {
    let dialect = BTreeMap::from([(temporary_silence_key(user), until)]);
    let patch = SettingsPatch { dialect: Some(dialect), ..SettingsPatch::default() };
    core.groups.update(app, group_ref::<K>(id), patch).await?;
    Ok(())
}

async fn permanently_silenced<K: Kind>(
    core: &Core,
    app: confab_core::model::AppId,
    id: &str,
    user: &Username,
) -> Result<bool, LcError> {
    let entries = core.groups.list_entries(app, group_ref::<K>(id), GroupList::Mute).await?;
    Ok(entries.iter().any(|e| e.username == *user && e.until_ms == i64::MAX))
}

/// Ends a temporary silence; a permanent one stays.
pub async fn unsilence<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    let user = client(params.get("client_id").map(String::as_str).unwrap_or_default(), "client_id")?;
    find::<K>(&target.core, target.app.id, &id).await?;
    let app = target.app.id;
    set_temporary_silence::<K>(&target.core, app, &id, &user, Value::Null).await?;
    if !permanently_silenced::<K>(&target.core, app, &id, &user).await? {
        target.core.groups.remove_from_list(app, group_ref::<K>(&id), GroupList::Mute, vec![user]).await?;
    }
    Ok(ok(json!({})))
}

/// L-sil-2: silences members until they are let speak again (at most 500).
pub async fn silence_for_ever<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body,
) -> Result<Response, LcError> {
    let users = clients(&body, "client_ids", MAX_SILENCED)?;
    find::<K>(&target.core, target.app.id, &id).await?;
    let rules = ListRules { members_only: false, cap: MAX_SILENCED, batch: MAX_SILENCED };
    target
        .core
        .groups
        .add_to_list_with(target.app.id, group_ref::<K>(&id), GroupList::Mute, users, None, rules)
        .await
        .map_err(|e| list_error(e, error::SILENCED_LIST_FULL))?;
    Ok(ok(json!({})))
}

pub async fn unsilence_for_ever<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body,
) -> Result<Response, LcError> {
    let users = clients(&body, "client_ids", MAX_SILENCED)?;
    let group = find::<K>(&target.core, target.app.id, &id).await?;
    let (app, now) = (target.app.id, target.core.now_ms());
    let mut lift = Vec::with_capacity(users.len());
    for user in users {
        let temporary = group.settings.dialect.get(&temporary_silence_key(&user)).and_then(Value::as_i64);
        match temporary.filter(|until| *until > now) {
            // Still silenced for a while: back to the temporary silence.
            Some(until) => {
                let rules = ListRules { members_only: false, cap: MAX_SILENCED, batch: 1 };
                target
                    .core
                    .groups
                    .add_to_list_with(app, group_ref::<K>(&id), GroupList::Mute, vec![user], Some(until - now), rules)
                    .await
                    .map_err(|e| list_error(e, error::SILENCED_LIST_FULL))?;
            }
            None => lift.push(user),
        }
    }
    for chunk in lift.chunks(50) {
        target.core.groups.remove_from_list(app, group_ref::<K>(&id), GroupList::Mute, chunk.to_vec()).await?;
    }
    Ok(ok(json!({})))
}

/// A page of a list by `limit` (default 10) and `next`: the last entry of
/// the previous page (the vendor's `next` is opaque). Entries are in
/// byte order, so a page continues after where `next` is or would be, even
/// when that entry was removed meanwhile.
pub fn list_page(mut names: Vec<String>, params: &HashMap<String, String>, key: &str) -> Result<Response, LcError> {
    let limit = match params.get("limit") {
        None => 10,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| LcError::invalid("limit must be 1 to 1000"))?,
    };
    names.sort_unstable();
    names.dedup();
    let start = match params.get("next").filter(|n| !n.is_empty()) {
        None => 0,
        Some(after) => names.partition_point(|name| name.as_str() <= after.as_str()),
    };
    let end = (start + limit).min(names.len());
    let page = names.get(start..end).unwrap_or_default();
    let mut answer = json!({ key: page });
    if let (true, Some(last)) = (end < names.len(), page.last()) {
        answer["next"] = json!(last);
    }
    Ok(ok(answer))
}

pub async fn silenced<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    find::<K>(&target.core, target.app.id, &id).await?;
    let entries = target.core.groups.list_entries(target.app.id, group_ref::<K>(&id), GroupList::Mute).await?;
    let names = entries.into_iter().filter(|e| e.until_ms == i64::MAX).map(|e| e.username.to_string()).collect();
    list_page(names, &params, "client_ids")
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Owner => "Owner",
        Role::Admin => "Manager",
        Role::Member => "Member",
    }
}

async fn apply_role<K: Kind>(target: &Master, id: &str, user: Username, role: &str) -> Result<Response, LcError> {
    let group = find::<K>(&target.core, target.app.id, id).await?;
    let app = target.app.id;
    let reference = group_ref::<K>(id);
    match role {
        "Owner" => {
            target.core.groups.transfer_owner(app, reference, user.clone()).await?;
            // The Owner is the creator: a `c` the app set before gives way.
            let patch = SettingsPatch {
                dialect: Some(BTreeMap::from([("c".to_owned(), Value::Null)])),
                ..SettingsPatch::default()
            };
            target.core.groups.update(app, reference, patch).await?;
        }
        "Manager" => {
            target.core.groups.set_admin(app, reference, user.clone(), true).await?;
        }
        "Member" if user == group.owner => {
            return Err(LcError::new(
                axum::http::StatusCode::BAD_REQUEST,
                4324,
                "a conversation needs its owner; make another member Owner first",
            ));
        }
        "Member" => {
            let (_, members) = target.core.groups.members(app, reference).await?;
            let role = members.iter().find(|m| m.username == user).map(|m| m.role);
            match role {
                Some(Role::Admin) => {
                    target.core.groups.set_admin(app, reference, user.clone(), false).await?;
                }
                Some(_) => {}
                None => {
                    return Err(LcError::new(axum::http::StatusCode::NOT_FOUND, 101, format!("{user} is not a member")))
                }
            }
        }
        other => {
            return Err(LcError::new(
                axum::http::StatusCode::BAD_REQUEST,
                error::UNKNOWN_CONVERSATION_ROLE,
                format!("unknown role {other}: Owner, Manager or Member"),
            ));
        }
    }
    let group = touch::<K>(&target.core, app, id).await?;
    Ok(ok(json!({"updatedAt": iso(updated_ms(&group)), "objectId": user.as_str()})))
}

/// L-role-1: gives a member a role (Owner, Manager or Member); the roles
/// hold: the owner cannot be removed, managers speak when all are silenced.
pub async fn set_role<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body,
) -> Result<Response, LcError> {
    let user = client(required(&body, "clientId")?, "clientId")?;
    let role = required(&body, "role")?.to_owned();
    apply_role::<K>(&target, &id, user, &role).await
}

pub async fn update_role<K: Kind>(
    target: Master,
    Path((id, info)): Path<(String, String)>,
    super::Body(body): super::Body,
) -> Result<Response, LcError> {
    let user = client(&info, "info-id")?;
    match body.get("role") {
        None | Some(Value::Null) => {
            // `role` is optional here: without it nothing changes.
            let group = find::<K>(&target.core, target.app.id, &id).await?;
            Ok(ok(json!({"updatedAt": iso(updated_ms(&group)), "objectId": user.as_str()})))
        }
        Some(Value::String(role)) => apply_role::<K>(&target, &id, user, role).await,
        Some(_) => Err(LcError::invalid("role must be Owner, Manager or Member")),
    }
}

pub async fn clear_role<K: Kind>(
    target: Master,
    Path((id, info)): Path<(String, String)>,
) -> Result<Response, LcError> {
    let user = client(&info, "info-id")?;
    apply_role::<K>(&target, &id, user, "Member").await?;
    Ok(ok(json!({})))
}

pub async fn member_infos<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    find::<K>(&target.core, target.app.id, &id).await?;
    let (_, members) = target.core.groups.members(target.app.id, group_ref::<K>(&id)).await?;
    let wanted = params.get("role").map(String::as_str);
    let skip = params.get("skip").and_then(|s| s.parse().ok()).unwrap_or(0);
    let limit = params.get("limit").and_then(|s| s.parse().ok()).filter(|n| (1..=1000).contains(n)).unwrap_or(100);
    // Every member has a role, Member included; the app itself (owner of
    // what the master key made without a creator) is not a member to show.
    let results: Vec<Value> = members
        .iter()
        .filter(|m| m.username != Username::admin())
        .filter(|m| wanted.is_none_or(|w| w == role_name(m.role)))
        .skip(skip)
        .take(limit)
        .map(|m| json!({"clientId": m.username.as_str(), "objectId": m.username.as_str(), "role": role_name(m.role)}))
        .collect();
    Ok(ok(json!({"results": results})))
}

/// L-black-1: blacklisted clients leave and may not come back (at most 500;
/// 10,000 for rooms and service conversations).
pub async fn add_blacklist<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body,
) -> Result<Response, LcError> {
    let users = clients(&body, "client_ids", K::BLACKLIST_CAP)?;
    find::<K>(&target.core, target.app.id, &id).await?;
    let rules = ListRules { members_only: false, cap: K::BLACKLIST_CAP, batch: K::BLACKLIST_CAP };
    target
        .core
        .groups
        .add_to_list_with(target.app.id, group_ref::<K>(&id), GroupList::Block, users, None, rules)
        .await
        .map_err(|e| list_error(e, error::BLACKLIST_FULL))?;
    Ok(ok(json!({})))
}

pub async fn remove_blacklist<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    super::Body(body): super::Body,
) -> Result<Response, LcError> {
    let users = clients(&body, "client_ids", K::BLACKLIST_CAP)?;
    find::<K>(&target.core, target.app.id, &id).await?;
    for chunk in users.chunks(50) {
        target
            .core
            .groups
            .remove_from_list(target.app.id, group_ref::<K>(&id), GroupList::Block, chunk.to_vec())
            .await?;
    }
    Ok(ok(json!({})))
}

pub async fn blacklist<K: Kind>(
    target: Master,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, LcError> {
    find::<K>(&target.core, target.app.id, &id).await?;
    let entries = target.core.groups.list_entries(target.app.id, group_ref::<K>(&id), GroupList::Block).await?;
    list_page(entries.into_iter().map(|e| e.username.to_string()).collect(), &params, "client_ids")
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
