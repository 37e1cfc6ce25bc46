//! Conversations: `conv start`, `conv query`, `conv add` and `conv remove`.

use super::*;
use crate::leancloud_model::temporary;

/// `conv start`: makes a conversation (`transient`: a chat room) with the
/// client as its creator and `m` as its members, its `attr` (name and the
/// app's own fields) kept as the REST API keeps them; `unique` (the SDK's
/// default) finds the one these members made before. Answered `conv
/// started` with `cid` and `cdate`.
pub(super) async fn start(
    session: &Session,
    budget: Budget<'_>,
    hooks: Option<&Arc<crate::fetch::Fetcher>>,
    command: &GenericCommand,
) -> GenericCommand {
    let asked = command.conv_message.clone().unwrap_or_default();
    let failed = |why: &str| error_command(command.i, code::CONVERSATION_API_FAILED, why);
    let kind = if asked.transient == Some(true) { ChatType::ChatRoom } else { ChatType::GroupChat };
    let attributes = match asked.attr.map(|a| a.data) {
        None => serde_json::Map::new(),
        Some(text) => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => return failed("attr must be a JSON object"),
        },
    };
    let name = match attributes.get("name") {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(name)) => name.clone(),
        Some(_) => return failed("name must be a string"),
    };
    let mut members = Vec::new();
    if kind == ChatType::GroupChat {
        for raw in &asked.m {
            match Username::parse(raw) {
                Ok(user) if user != session.user && !members.contains(&user) => members.push(user),
                Ok(_) => {}
                Err(_) => return failed(&format!("{raw} is not a client ID")),
            }
        }
    }
    if members.len() as u32 + 1 > crate::leancloud_model::max_members(kind) {
        return error_command(command.i, code::CONVERSATION_FULL, "too many members");
    }
    // The app's server may reject it (`_conversationStart`), temporary ones included.
    if let Some(fetcher) = hooks {
        let names: Vec<String> = members.iter().map(Username::to_string).collect();
        let change = crate::callbacks::hooks::ConversationChange::Start { members: &names, attr: &attributes };
        let init_by = session.user.to_string();
        let decided =
            crate::callbacks::may_change_conversation(budget.core(), fetcher, &session.app, &init_by, &change).await;
        if let Err(rejected) = decided {
            return rejected_by_app(command.i, rejected);
        }
    }
    if asked.temp_conv == Some(true) {
        return start_temporary(session, budget, command.i, members, asked.temp_conv_t_t_l).await;
    }
    // The app's own fields; the built-in ones are the server's to set.
    let fields = attributes
        .into_iter()
        .filter(|(key, _)| {
            !crate::leancloud_model::BUILT_IN.contains(&key.as_str())
                && !key.starts_with(crate::leancloud_model::PRIVATE)
        })
        .collect();
    let new = crate::leancloud_model::NewConversation {
        kind,
        name,
        creator: session.user.clone(),
        members,
        fields,
        unique: asked.unique == Some(true),
    };
    match crate::leancloud_model::create(budget.core(), session.app.id, new).await {
        Ok(group) => {
            if let Some(fetcher) = hooks {
                let started = serde_json::json!({"convId": group.id});
                let hook = crate::callbacks::hooks::CONVERSATION_STARTED;
                crate::callbacks::tell_leancloud(budget.core(), fetcher, &session.app, hook, started).await;
            }
            started(command.i, &group)
        }
        Err(Error::Refused(r)) => error_command(command.i, code::CONVERSATION_FULL, &r.to_string()),
        Err(Error::InvalidArgument(m)) => failed(&m),
        Err(e) => {
            tracing::warn!("leancloud conversation start failed: {e}");
            error_command(command.i, code::INTERNAL_ERROR, "no conversation was made; try again")
        }
    }
}

/// `conv started`: the conversation's ID and when it was made.
fn started(i: Option<i32>, group: &confab_core::model::Group) -> GenericCommand {
    GenericCommand {
        cmd: Some(CommandType::Conv as i32),
        op: Some(OpType::Started as i32),
        i,
        conv_message: Some(ConvCommand {
            cid: Some(group.id.clone()),
            cdate: Some(crate::leancloud_model::iso(group.created_ms)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `conv start` with `tempConv`: a temporary conversation of the client
/// and `members`, answered with its `_tmp:` ID and the seconds it lives
/// (`tempConvTTL`).
async fn start_temporary(
    session: &Session,
    budget: Budget<'_>,
    i: Option<i32>,
    members: Vec<Username>,
    ttl: Option<i32>,
) -> GenericCommand {
    let ttl = temporary::ttl_secs(ttl);
    match temporary::create(budget.core(), session.app.id, session.user.clone(), members, ttl).await {
        Ok(group) => GenericCommand {
            cmd: Some(CommandType::Conv as i32),
            op: Some(OpType::Started as i32),
            i,
            conv_message: Some(ConvCommand {
                cid: Some(group.id.clone()),
                cdate: Some(crate::leancloud_model::iso(group.created_ms)),
                temp_conv_t_t_l: i32::try_from(ttl).ok(),
                ..Default::default()
            }),
            ..Default::default()
        },
        Err(Error::InvalidArgument(m)) => error_command(i, code::CONVERSATION_API_FAILED, &m),
        Err(e) => {
            tracing::warn!("leancloud temporary conversation failed: {e}");
            error_command(i, code::INTERNAL_ERROR, "no conversation was made; try again")
        }
    }
}

/// `conv query` by `tempConvIds`: those of the named temporary
/// conversations the client is in and that have not expired.
async fn query_temporary(session: &Session, budget: Budget<'_>, i: Option<i32>, ids: &[String]) -> GenericCommand {
    let core = budget.core();
    let mut found = Vec::new();
    for id in ids.iter().filter(|id| temporary::is_temporary(id)).take(MAX_TEMPORARY_QUERIED) {
        let Ok(Some(group)) = crate::leancloud_model::find_any(core, session.app.id, id).await else { continue };
        let Ok(members) = crate::leancloud_model::members_of(core, session.app.id, &group).await else { continue };
        if members.contains(&session.user) {
            found.push(temporary::document(&group, &members, core.now_ms()));
        }
    }
    query_results(i, found)
}

/// Temporary conversations one query names at most.
const MAX_TEMPORARY_QUERIED: usize = 100;

/// `conv add` / `conv remove` (the SDK's `add`, `remove`, `join`, `quit`):
/// members of the conversation add or remove others; anyone joins or quits
/// by naming themselves. Answered `added` / `removed` with `allowedPids`
/// and, per refused client, `failedPids`.
pub(super) async fn membership(
    session: &Session,
    budget: Budget<'_>,
    hooks: Option<&Arc<crate::fetch::Fetcher>>,
    command: &GenericCommand,
    op: OpType,
) -> GenericCommand {
    let add = op == OpType::Add;
    let core = budget.core();
    let asked = command.conv_message.clone().unwrap_or_default();
    let cid = asked.cid.clone().unwrap_or_default();
    let kind = match find(&budget, session, &cid).await {
        Ok(group) => group.kind,
        Err(unfound) => return error_command(command.i, unfound.code, &unfound.reason),
    };
    let target = GroupRef { kind, id: &cid };
    let mut users = Vec::with_capacity(asked.m.len());
    for raw in &asked.m {
        match Username::parse(raw) {
            Ok(user) => users.push(user),
            Err(_) => {
                return error_command(command.i, code::CONVERSATION_API_FAILED, &format!("{raw} is not a client ID"))
            }
        }
    }
    let only_self = users.iter().all(|u| *u == session.user);
    if !only_self {
        let member = match core.groups.members(session.app.id, target).await {
            Ok((_, members)) => members.iter().any(|m| m.username == session.user),
            Err(_) => false,
        };
        if !member {
            return error_command(command.i, code::CONVERSATION_UPDATE_REJECTED, "only members change the members");
        }
    }
    // The app's server may reject an addition or a join (`_conversationAdd`),
    // or removing others (`_conversationRemove`; leaving is not asked about).
    if let (true, Some(fetcher)) = (add || !only_self, hooks) {
        let names: Vec<String> = users.iter().map(Username::to_string).collect();
        let change = match add {
            true => crate::callbacks::hooks::ConversationChange::Add { conv: &cid, members: &names },
            false => crate::callbacks::hooks::ConversationChange::Remove { conv: &cid, members: &names },
        };
        let init_by = session.user.to_string();
        if let Err(rejected) =
            crate::callbacks::may_change_conversation(core, fetcher, &session.app, &init_by, &change).await
        {
            return rejected_by_app(command.i, rejected);
        }
    }
    let max = crate::leancloud_model::max_members(kind) as usize;
    let changed = if add {
        if let Err(e) = core.users.ensure_exist(session.app.id, &users).await {
            tracing::warn!("leancloud add failed: {e}");
            return error_command(command.i, code::INTERNAL_ERROR, "nobody was added; try again");
        }
        core.groups.add_members_up_to(session.app.id, target, users, max).await
    } else {
        core.groups.remove_members_up_to(session.app.id, target, users, max).await
    };
    match changed {
        Ok(changed) => {
            if let (Some(fetcher), false) = (hooks, changed.changed.is_empty()) {
                let members: Vec<&str> = changed.changed.iter().map(Username::as_str).collect();
                let done = serde_json::json!({"initBy": session.user.as_str(), "convId": cid, "members": members});
                let hook = match add {
                    true => crate::callbacks::hooks::CONVERSATION_ADDED,
                    false => crate::callbacks::hooks::CONVERSATION_REMOVED,
                };
                crate::callbacks::tell_leancloud(core, fetcher, &session.app, hook, done).await;
            }
            let failed = changed
                .refused
                .iter()
                .map(|(user, why)| ErrorCommand {
                    code: code::CONVERSATION_UPDATE_REJECTED,
                    reason: confab_core::error::Refused::of(*why, user).to_string(),
                    pids: vec![user.to_string()],
                    ..Default::default()
                })
                .collect();
            GenericCommand {
                cmd: Some(CommandType::Conv as i32),
                op: Some(if add { OpType::Added } else { OpType::Removed } as i32),
                i: command.i,
                conv_message: Some(ConvCommand {
                    cid: Some(cid.clone()),
                    allowed_pids: changed.changed.iter().map(Username::to_string).collect(),
                    failed_pids: failed,
                    ..Default::default()
                }),
                ..Default::default()
            }
        }
        Err(Error::Refused(r)) if r.why == confab_core::error::Refusal::Full => {
            error_command(command.i, code::CONVERSATION_FULL, &r.to_string())
        }
        Err(e @ (Error::InvalidArgument(_) | Error::LimitExceeded(_) | Error::Refused(_))) => {
            error_command(command.i, code::CONVERSATION_UPDATE_REJECTED, &e.to_string())
        }
        Err(e) => {
            tracing::warn!("leancloud membership change failed: {e}");
            error_command(command.i, code::INTERNAL_ERROR, "nothing was changed; try again")
        }
    }
}

/// `conv query`: the conversations, chat rooms and service conversations
/// matching the SDK's `where` (its `getConversation` asks by `objectId`), as
/// `_Conversation` documents, the same the REST API returns.
pub(super) async fn query(session: &Session, budget: Budget<'_>, command: &GenericCommand) -> GenericCommand {
    let asked = command.conv_message.clone().unwrap_or_default();
    if !asked.temp_conv_ids.is_empty() {
        return query_temporary(session, budget, command.i, &asked.temp_conv_ids).await;
    }
    let mut params = HashMap::new();
    if let Some(filter) = asked.r#where.map(|w| w.data) {
        params.insert("where".to_owned(), filter);
    }
    if let Some(order) = asked.sort {
        params.insert("order".to_owned(), order);
    }
    if let Some(limit) = asked.limit {
        params.insert("limit".to_owned(), limit.to_string());
    }
    if let Some(skip) = asked.skip {
        params.insert("skip".to_owned(), skip.max(0).to_string());
    }
    let kinds = [ChatType::GroupChat, ChatType::ChatRoom, ChatType::Channel];
    match crate::leancloud_model::find_documents(budget.core(), session.app.id, &kinds, &params).await {
        Ok(found) => query_results(command.i, found),
        Err(crate::leancloud_model::FindError::Where(why)) => {
            error_command(command.i, code::CONVERSATION_QUERY_FAILED, &format!("where: {why}"))
        }
        Err(crate::leancloud_model::FindError::Skip) => {
            error_command(command.i, code::CONVERSATION_QUERY_FAILED, "skip must be a number")
        }
        Err(crate::leancloud_model::FindError::Core(e)) => {
            tracing::warn!("leancloud query failed: {e}");
            error_command(command.i, code::INTERNAL_ERROR, "the query failed; try again")
        }
    }
}

pub(super) fn query_results(i: Option<i32>, found: Vec<serde_json::Value>) -> GenericCommand {
    GenericCommand {
        cmd: Some(CommandType::Conv as i32),
        op: Some(OpType::Results as i32),
        i,
        conv_message: Some(ConvCommand {
            results: Some(JsonObjectMessage { data: serde_json::Value::Array(found).to_string() }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Why a command's conversation could not be had: the code and reason to answer.
pub(super) struct Unfound {
    pub code: i32,
    pub reason: String,
}

/// The conversation, chat room or service conversation a command names.
pub(super) async fn find(budget: &Budget<'_>, session: &Session, cid: &str) -> Result<Group, Unfound> {
    match crate::leancloud_model::find_any(budget.core(), session.app.id, cid).await {
        Ok(Some(group)) => Ok(group),
        Ok(None) => {
            Err(Unfound { code: code::CONVERSATION_NOT_FOUND, reason: format!("conversation {cid} not found") })
        }
        Err(e) => {
            tracing::warn!("finding a leancloud conversation failed: {e}");
            Err(Unfound { code: code::INTERNAL_ERROR, reason: "the conversation could not be read; try again".into() })
        }
    }
}

/// The vendor's `convType` of the conversation `cid` of kind `kind`: 1
/// conversation, 2 chat room, 3 service, 4 temporary.
pub(super) fn conv_type(kind: ChatType, cid: &str) -> i32 {
    match kind {
        ChatType::ChatRoom => 2,
        ChatType::Channel | ChatType::Broadcast => 3,
        _ if temporary::is_temporary(cid) => 4,
        _ => 1,
    }
}

/// `conv max_read` (the SDK's `fetchReceiptTimestamps`): when the newest
/// messages the other members had delivered and had read were sent, the
/// latest over them, or per member with `queryAllMembers`.
pub(super) async fn max_read(session: &Session, budget: Budget<'_>, command: &GenericCommand) -> GenericCommand {
    let asked = command.conv_message.clone().unwrap_or_default();
    let cid = asked.cid.clone().unwrap_or_default();
    let core = budget.core();
    let group = match find(&budget, session, &cid).await {
        Ok(group) => group,
        Err(unfound) => return error_command(command.i, unfound.code, &unfound.reason),
    };
    let members = match core.groups.members(session.app.id, GroupRef { kind: group.kind, id: &cid }).await {
        Ok((_, members)) => members,
        Err(e) => {
            tracing::warn!("leancloud max_read failed: {e}");
            return error_command(command.i, code::INTERNAL_ERROR, "the query failed; try again");
        }
    };
    if !members.iter().any(|m| m.username == session.user) {
        return error_command(command.i, code::CONVERSATION_LOG_REJECTED, "only members see its receipts");
    }
    let mut tuples = Vec::new();
    for member in members.iter().filter(|m| m.username != session.user).take(MAX_RECEIPT_MEMBERS) {
        match core.messages.cursor_times(session.app.id, &member.username, group.conversation).await {
            Ok(times) => tuples.push(proto::MaxReadTuple {
                pid: Some(member.username.to_string()),
                max_ack_timestamp: Some(times.delivered_ms).filter(|t| *t > 0),
                max_read_timestamp: Some(times.read_ms).filter(|t| *t > 0),
            }),
            Err(e) => {
                tracing::warn!("leancloud max_read failed: {e}");
                return error_command(command.i, code::INTERNAL_ERROR, "the query failed; try again");
            }
        }
    }
    let latest = |f: fn(&proto::MaxReadTuple) -> Option<i64>| tuples.iter().filter_map(f).max().unwrap_or(0);
    let conv = ConvCommand {
        cid: Some(cid.clone()),
        max_ack_timestamp: Some(latest(|t| t.max_ack_timestamp)).filter(|t| *t > 0),
        max_read_timestamp: Some(latest(|t| t.max_read_timestamp)).filter(|t| *t > 0),
        max_read_tuples: if asked.query_all_members == Some(true) { tuples } else { Vec::new() },
        ..Default::default()
    };
    GenericCommand {
        cmd: Some(CommandType::Conv as i32),
        op: Some(OpType::MaxRead as i32),
        i: command.i,
        conv_message: Some(conv),
        ..Default::default()
    }
}

/// Members whose receipts `max_read` reads at most: receipts are for small
/// conversations, and each member costs a read.
const MAX_RECEIPT_MEMBERS: usize = 50;

/// Whether the client is a member of the conversation.
async fn is_member(budget: &Budget<'_>, session: &Session, group: &Group) -> confab_core::error::Result<bool> {
    let (_, members) =
        budget.core().groups.members(session.app.id, GroupRef { kind: group.kind, id: &group.id }).await?;
    Ok(members.iter().any(|m| m.username == session.user))
}

/// `conv count`: a conversation's members, or how many of a chat room's are
/// connected now (the SDK's `count`). Answered `conv result` with `count`.
pub(super) async fn count(session: &Session, budget: Budget<'_>, command: &GenericCommand) -> GenericCommand {
    let cid = command.conv_message.as_ref().and_then(|c| c.cid.clone()).unwrap_or_default();
    let core = budget.core();
    let group = match find(&budget, session, &cid).await {
        Ok(group) => group,
        Err(unfound) => return error_command(command.i, unfound.code, &unfound.reason),
    };
    let members = match core.groups.members(session.app.id, GroupRef { kind: group.kind, id: &cid }).await {
        Ok((_, members)) => members,
        Err(e) => {
            tracing::warn!("leancloud count failed: {e}");
            return error_command(command.i, code::INTERNAL_ERROR, "the count failed; try again");
        }
    };
    let users: Vec<Username> = members.into_iter().map(|m| m.username).filter(|u| *u != Username::admin()).collect();
    let count = if group.kind == ChatType::ChatRoom {
        core.users.online(session.app.id, &users).await.into_iter().filter(|on| *on).count()
    } else {
        users.len()
    };
    GenericCommand {
        cmd: Some(CommandType::Conv as i32),
        op: Some(OpType::Result as i32),
        i: command.i,
        conv_message: Some(ConvCommand { count: Some(i32::try_from(count).unwrap_or(i32::MAX)), ..Default::default() }),
        ..Default::default()
    }
}

/// `conv mute` / `conv unmute`: the client turns the conversation's
/// notifications off or on (its `mu`, which the REST API and queries show).
pub(super) async fn notifications(
    session: &Session,
    budget: Budget<'_>,
    hooks: Option<&crate::fetch::Fetcher>,
    command: &GenericCommand,
    mut to: crate::leancloud_model::Notifications,
) -> GenericCommand {
    use crate::leancloud_model::Notifications;
    let cid = command.conv_message.as_ref().and_then(|c| c.cid.clone()).unwrap_or_default();
    let group = match find(&budget, session, &cid).await {
        Ok(group) => group,
        Err(unfound) => return error_command(command.i, unfound.code, &unfound.reason),
    };
    // The app's server may reject the mute or turn it around (`_conversationUpdate`).
    if let Some(fetcher) = hooks {
        let mute = Some(to == Notifications::Off);
        let change = crate::callbacks::hooks::ConversationChange::Update { conv: &cid, attr: None, mute };
        let init_by = session.user.to_string();
        match crate::callbacks::may_update_conversation(budget.core(), fetcher, &session.app, &init_by, &change).await {
            Ok(instead) => {
                if let Some(mute) = instead.mute {
                    to = if mute { Notifications::Off } else { Notifications::On };
                }
            }
            Err(rejected) => return rejected_by_app(command.i, rejected),
        }
    }
    let me = std::slice::from_ref(&session.user);
    match crate::leancloud_model::set_notifications(budget.core(), session.app.id, &group, me, to).await {
        Ok(_) => GenericCommand {
            cmd: Some(CommandType::Conv as i32),
            op: Some(OpType::Updated as i32),
            i: command.i,
            ..Default::default()
        },
        Err(e) => {
            tracing::warn!("leancloud mute failed: {e}");
            error_command(command.i, code::INTERNAL_ERROR, "nothing was changed; try again")
        }
    }
}

/// `conv update` (the SDK's `save`): a member changes the conversation's
/// name and the app's own fields (`attr`), as the REST API's update does;
/// built-in fields are the server's (4301). Answered `conv updated` with `udate`.
pub(super) async fn update(
    session: &Session,
    budget: Budget<'_>,
    hooks: Option<&crate::fetch::Fetcher>,
    command: &GenericCommand,
) -> GenericCommand {
    let asked = command.conv_message.clone().unwrap_or_default();
    let cid = asked.cid.clone().unwrap_or_default();
    let failed = |why: &str| error_command(command.i, code::CONVERSATION_API_FAILED, why);
    let mut changes = match asked.attr.map(|a| a.data).map(|text| serde_json::from_str::<serde_json::Value>(&text)) {
        Some(Ok(serde_json::Value::Object(map))) => map,
        _ => return failed("attr must be a JSON object"),
    };
    // The app's server may reject the change or change it (`_conversationUpdate`).
    if let Some(fetcher) = hooks {
        let change =
            crate::callbacks::hooks::ConversationChange::Update { conv: &cid, attr: Some(&changes), mute: None };
        let init_by = session.user.to_string();
        match crate::callbacks::may_update_conversation(budget.core(), fetcher, &session.app, &init_by, &change).await {
            Ok(instead) => changes = instead.attr.unwrap_or(changes),
            Err(rejected) => return rejected_by_app(command.i, rejected),
        }
    }
    let name = match changes.get("name") {
        None => None,
        Some(serde_json::Value::String(name)) => Some(name.clone()),
        Some(_) => return failed("name must be a string"),
    };
    let name_cap = confab_core::groups::limits::NAME_CHARS;
    if name.as_ref().is_some_and(|n| n.chars().count() > name_cap) {
        return failed(&format!("name must be at most {name_cap} characters"));
    }
    let mut fields = std::collections::BTreeMap::new();
    for (key, value) in changes {
        if key == "name" {
            continue;
        }
        if crate::leancloud_model::BUILT_IN.contains(&key.as_str()) || key.starts_with(crate::leancloud_model::PRIVATE)
        {
            return failed(&format!("{key} is the server's to set"));
        }
        fields.insert(key, value);
    }
    let group = match find(&budget, session, &cid).await {
        Ok(group) => group,
        Err(unfound) => return error_command(command.i, unfound.code, &unfound.reason),
    };
    match is_member(&budget, session, &group).await {
        Ok(true) => {}
        Ok(false) => return error_command(command.i, code::CONVERSATION_UPDATE_REJECTED, "only members change it"),
        Err(e) => {
            tracing::warn!("leancloud update failed: {e}");
            return error_command(command.i, code::INTERNAL_ERROR, "nothing was changed; try again");
        }
    }
    let core = budget.core();
    fields.insert("updatedAt".into(), serde_json::json!(core.now_ms()));
    let patch = confab_core::model::SettingsPatch { name, dialect: Some(fields), ..Default::default() };
    match core.groups.update(session.app.id, GroupRef { kind: group.kind, id: &cid }, patch).await {
        Ok(group) => GenericCommand {
            cmd: Some(CommandType::Conv as i32),
            op: Some(OpType::Updated as i32),
            i: command.i,
            conv_message: Some(ConvCommand {
                cid: Some(cid.clone()),
                udate: Some(crate::leancloud_model::iso(crate::leancloud_model::updated_ms(&group))),
                ..Default::default()
            }),
            ..Default::default()
        },
        Err(e @ (Error::InvalidArgument(_) | Error::Refused(_))) => failed(&e.to_string()),
        Err(e) => {
            tracing::warn!("leancloud update failed: {e}");
            error_command(command.i, code::INTERNAL_ERROR, "nothing was changed; try again")
        }
    }
}

impl LeanCloud {
    /// `conv updated`, the SDK's INFO_UPDATED: the conversation's name and
    /// the app's own fields as they are now (the event does not say which
    /// changed; the SDK sets each it is given).
    pub(super) async fn info_updated(
        &mut self,
        session: &Session,
        core: &Core,
        event: &GroupEvent,
    ) -> Option<WsMessage> {
        let group = match core.groups.get(session.app.id, GroupRef { kind: event.kind, id: &event.group }).await {
            Ok(group) => group,
            Err(e) => {
                tracing::debug!("a changed conversation could not be read: {e}");
                return None;
            }
        };
        let attributes = crate::leancloud_model::attributes(&group);
        let command = GenericCommand {
            cmd: Some(CommandType::Conv as i32),
            op: Some(OpType::Updated as i32),
            peer_id: Some(session.user.to_string()),
            conv_message: Some(ConvCommand {
                cid: Some(event.group.clone()),
                attr: Some(proto::JsonObjectMessage { data: serde_json::Value::Object(attributes).to_string() }),
                udate: Some(crate::leancloud_model::iso(crate::leancloud_model::updated_ms(&group))),
                ..Default::default()
            }),
            ..Default::default()
        };
        Some(self.encode(&command))
    }
}
