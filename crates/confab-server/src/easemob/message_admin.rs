//! Changing what was said: recall (E-recall-1), one-sided conversation
//! delete (E-conv-1), importing history (E-import-1/2). Shapes:
//! docs/research/easemob-files-history-recall.md.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use futures_util::TryStreamExt;

use confab_core::files::{ByteStream, NewFile};
use confab_core::groups::{GroupRef, GroupSend};
use confab_core::ids::MessageId;
use confab_core::messages::DirectSend;
use confab_core::model::{direct_conversation_key, Body, ChatType, Delivery, Username};

use serde::Deserialize;

use super::{path_user, AnyAuth, AppAuth, EasemobError, JsonBody, DEFAULT_BODY_LIMIT, MESSAGE_BODY_LIMIT};
use crate::fetch::Fetcher;
use crate::limits::EASEMOB_RECALL_WINDOW_SECS;

fn recall_error(status: StatusCode, description: &str) -> EasemobError {
    EasemobError::new(status, "message_recall_error", "MessageRecallException", description)
}

/// A required text field; the vendor's "param X can't be empty" otherwise.
fn required<'a>(value: &'a Option<Value>, key: &str) -> Result<&'a str, EasemobError> {
    match value {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(recall_error(StatusCode::BAD_REQUEST, &format!("param {key} can't be empty"))),
    }
}

/// E-recall-1's body, read field by field for the vendor's errors.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RecallRequest {
    /// The message's ID.
    #[schema(value_type = String)]
    msg_id: Option<Value>,
    /// Who it was sent to: a username, group ID or chat room ID.
    #[schema(value_type = String)]
    to: Option<Value>,
    /// `chat`, `groupchat` or `chatroom`.
    #[schema(value_type = String)]
    chat_type: Option<Value>,
    /// Recall even after the app's recall window: true or false (also as strings).
    #[schema(value_type = bool)]
    force: Option<Value>,
    /// Who recalls it; `admin` when absent.
    #[schema(value_type = Option<String>)]
    from: Option<Value>,
}

/// E-recall-1: recalls a message within the app's recall window (or any
/// time with `force`). Connected receivers are told; the others never get it.
pub async fn recall(
    AppAuth(target): AppAuth,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, RecallRequest>,
) -> Result<Response, EasemobError> {
    let id = required(&body.msg_id, "msg_id")?;
    let to = required(&body.to, "to")?;
    let chat_type = required(&body.chat_type, "chat_type")?;
    let force = match &body.force {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
        _ => return Err(recall_error(StatusCode::BAD_REQUEST, "param force can't be empty")),
    };
    let from = match &body.from {
        None | Some(Value::Null) => Username::admin(),
        Some(Value::String(s)) => Username::easemob(s).map_err(|e| EasemobError::illegal_argument(e.to_string()))?,
        Some(_) => return Err(EasemobError::illegal_argument("from must be a string")),
    };
    let window_secs = target.limits.value(&target.app, EASEMOB_RECALL_WINDOW_SECS);
    if window_secs == 0 {
        return Err(EasemobError::new(
            StatusCode::FORBIDDEN,
            "forbidden_op",
            "EasemobForbiddenOpException",
            "message recall service is unopened",
        ));
    }
    let not_found = || recall_error(StatusCode::FORBIDDEN, "not_found msg");
    let id = MessageId::parse(id).ok_or_else(not_found)?;
    let message = target.core.messages.get(target.app.id, id).await?.ok_or_else(not_found)?;
    if !message.state.is_visible() {
        return Err(not_found());
    }
    // The chat type as the history export names it (a thread's messages are
    // `groupchat` there); confab's own name is accepted too.
    let known_as = super::history::easemob_chat_type(message.chat_type);
    if message.to != to || (known_as != chat_type && message.chat_type.as_str() != chat_type) {
        return Err(recall_error(StatusCode::BAD_REQUEST, "can't find msg to"));
    }
    let age_ms = target.core.now_ms() - message.timestamp_ms;
    if !force && age_ms > i64::from(window_secs) * 1000 {
        return Err(recall_error(StatusCode::FORBIDDEN, "exceed recall time limit"));
    }
    target.core.messages.recall(target.app.id, id, &from, None).await?;
    let data =
        json!({"recalled": "yes", "chattype": chat_type, "from": from.as_str(), "to": to, "msg_id": id.to_string()});
    Ok(target.envelope("post", "/messages/msg_recall").data(data).into_response())
}

#[derive(serde::Deserialize)]
pub struct UserPath {
    username: String,
}

fn field_error(description: &str) -> EasemobError {
    EasemobError::illegal_argument(description)
}

/// E-conv-1's body, read field by field for the vendor's errors.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct DeleteConversation {
    /// The peer's username, or the group's ID.
    #[schema(value_type = String)]
    channel: Option<Value>,
    /// `chat` or `groupchat`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    kind: Option<Value>,
    /// Also delete the user's copy of the messages.
    #[schema(value_type = bool)]
    delete_roam: Option<Value>,
}

/// E-conv-1: deletes a conversation from one user's side. With
/// `delete_roam` their copy of its messages goes too; without, it only
/// stops counting as unread. The other side keeps everything.
pub async fn delete_conversation(
    auth: AnyAuth,
    Path(path): Path<UserPath>,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT, DeleteConversation>,
) -> Result<Response, EasemobError> {
    let user = path_user(&path.username)?;
    auth.require_self_or_app(&user)?;
    let channel = match &body.channel {
        Some(Value::String(s)) if !s.is_empty() => s.as_str(),
        _ => return Err(field_error("field channel cannot be null or empty")),
    };
    let kind = match body.kind.as_ref().and_then(Value::as_str) {
        Some("chat") => ChatType::Chat,
        Some("groupchat") => ChatType::GroupChat,
        Some("") | None => return Err(field_error("field type cannot be null or empty")),
        Some(other) => return Err(field_error(&format!("field type must be chat or groupchat, not {other}"))),
    };
    let delete_roam = match &body.delete_roam {
        Some(Value::Bool(b)) => *b,
        _ => return Err(field_error("field delete_roam cannot be null")),
    };
    let target = &auth.0;
    let app = target.app.id;
    let conversation = match kind {
        ChatType::Chat => {
            let peer = Username::easemob(channel).map_err(|e| field_error(&e.to_string()))?;
            target.core.messages.conversation(app, kind, &direct_conversation_key(&user, &peer)).await?
        }
        _ => match target.core.groups.get(app, GroupRef { kind, id: channel }).await {
            Ok(group) => Some(group.conversation),
            Err(confab_core::error::Error::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        },
    };
    if let Some(conversation) = conversation {
        if delete_roam {
            target.core.messages.delete_conversation_for_user(app, &user, conversation).await?;
        } else {
            target.core.messages.mark_conversation_read(app, &user, conversation).await?;
        }
    }
    let path = format!("/users/{user}/user_channel");
    Ok(target.envelope("delete", &path).entities(Vec::new()).data(json!({"result": "ok"})).into_response())
}

fn import_error(description: &str) -> EasemobError {
    EasemobError::illegal_argument(description)
}

/// E-import-1: one message into a one-to-one conversation's history.
pub async fn import_to_user(
    AppAuth(target): AppAuth,
    outbound: Outbound,
    JsonBody(body): JsonBody<MESSAGE_BODY_LIMIT, ImportRequest>,
) -> Result<Response, EasemobError> {
    import(target, outbound, body, ChatType::Chat, "/messages/users/import").await
}

/// E-import-2: one message into a group's history.
pub async fn import_to_group(
    AppAuth(target): AppAuth,
    outbound: Outbound,
    JsonBody(body): JsonBody<MESSAGE_BODY_LIMIT, ImportRequest>,
) -> Result<Response, EasemobError> {
    import(target, outbound, body, ChatType::GroupChat, "/messages/chatgroups/import").await
}

/// What an import needs to copy an attachment: the vetted fetcher and the
/// start of the link it writes.
pub struct Outbound {
    fetcher: Arc<Fetcher>,
    origin: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Outbound {
    type Rejection = EasemobError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let fetcher = parts.extensions.get::<Arc<Fetcher>>().cloned().ok_or_else(|| {
            EasemobError::from(confab_core::error::Error::Storage("the fetcher is not configured".into()))
        })?;
        Ok(Outbound { fetcher, origin: crate::links::origin(parts) })
    }
}

/// The body of an import (E-import-1, E-import-2), read field by field in
/// `import` for the vendor's error for each.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ImportRequest {
    /// The sender's username.
    #[schema(value_type = String)]
    from: Option<Value>,
    /// The receiving username, or the group's ID.
    #[schema(value_type = String)]
    target: Option<Value>,
    /// The message type, as in a send.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    kind: Option<Value>,
    /// The message body for its type.
    #[schema(value_type = Object)]
    body: Option<Value>,
    #[schema(value_type = Option<Object>)]
    ext: Option<Value>,
    /// When it was first sent, in ms; now when absent.
    #[schema(value_type = Option<i64>)]
    msg_timestamp: Option<Value>,
    /// Mark it read.
    #[schema(value_type = Option<bool>)]
    is_ack_read: Option<Value>,
    /// Copy the attachment into confab's file storage.
    #[schema(value_type = Option<bool>)]
    need_download: Option<Value>,
}

/// Stores a message with the time it was first sent (`msg_timestamp`), so
/// history reads in its original order; `is_ack_read` marks it read;
/// `need_download` copies its attachment into confab's file storage.
async fn import(
    target: super::Target,
    outbound: Outbound,
    body: ImportRequest,
    kind: ChatType,
    path: &str,
) -> Result<Response, EasemobError> {
    let content = match body.body {
        Some(Value::Object(map)) if !map.is_empty() => map,
        _ => return Err(import_error("message body not allow empty")),
    };
    let type_name = match body.kind {
        Some(Value::String(s)) if !s.is_empty() => s,
        _ => return Err(import_error("type not allow empty")),
    };
    let text = |value: Option<Value>, key: &str| match value {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(import_error(&format!("{key} not allow empty"))),
    };
    let from = Username::easemob(&text(body.from, "from")?).map_err(|e| import_error(&e.to_string()))?;
    let to = text(body.target, "target")?;
    let flag = |value: Option<Value>, key: &str| match value {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(b),
        Some(_) => Err(import_error(&format!("{key} must be true or false"))),
    };
    let (ack_read, need_download) =
        (flag(body.is_ack_read, "is_ack_read")?, flag(body.need_download, "need_download")?);
    let sent_at = match body.msg_timestamp {
        None | Some(Value::Null) => target.core.now_ms(),
        Some(v) => v.as_i64().filter(|t| *t > 0).ok_or_else(|| import_error("msg_timestamp must be a time in ms"))?,
    };
    let ext = match body.ext {
        None | Some(Value::Null) => None,
        Some(ext @ Value::Object(_)) => Some(ext),
        Some(_) => return Err(import_error("ext must be a JSON object")),
    };
    let mut content = super::messages::typed_body(&type_name, content)?;
    content.validate().map_err(|e| import_error(&e.to_string()))?;
    if need_download {
        copy_attachment(&target, &outbound, &mut content).await?;
    }
    let delivery = Delivery { sync_sender: false, online_only: false, sent_at: Some(sent_at) };
    let app = target.app.id;
    let message = if kind == ChatType::Chat {
        let to = Username::easemob(&to).map_err(|e| import_error(&e.to_string()))?;
        let send = DirectSend {
            from,
            to: vec![to],
            body: content,
            ext,
            delivery,
            origin_device: None,
            line: 0,
            original: None,
        };
        target.core.messages.send_direct(app, send).await?.pop().map(|(_, m)| m)
    } else {
        let send = GroupSend {
            from,
            by_app: true,
            kind,
            to: vec![to],
            body: content,
            ext,
            delivery,
            origin_device: None,
            original: None,
            receivers: None,
        };
        target.core.groups.send(app, send).await.map_err(super::groups::group_error)?.pop().map(|(_, m)| m)
    };
    let message =
        message.ok_or_else(|| EasemobError::from(confab_core::error::Error::Storage("nothing stored".into())))?;
    if ack_read {
        target.core.messages.mark_read_by_receivers(app, &message).await?;
    }
    let data = json!({"msg_id": message.id.to_string()});
    Ok(target.envelope("post", path).entities(Vec::new()).data(data).into_response())
}

/// Fetches an attachment from its URL into confab's file storage (only
/// from addresses the fetch policy permits, bounded in size and time) and
/// points the body at the copy.
async fn copy_attachment(target: &super::Target, outbound: &Outbound, content: &mut Body) -> Result<(), EasemobError> {
    let Some((url, secret)) = content.attachment_mut() else {
        return Ok(());
    };
    let failed = |why: String| import_error(&format!("need_download: cannot fetch {url}: {why}"));
    let response = outbound.fetcher.get(url).await.map_err(|e| failed(e.to_string()))?;
    if !response.status().is_success() {
        return Err(failed(format!("the server answered {}", response.status())));
    }
    let content_type =
        response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let filename = url.rsplit('/').next().and_then(|n| n.split('?').next()).unwrap_or("file").to_owned();
    // The file store stops reading at its size cap (10 MB).
    let body: ByteStream<'_> = Box::pin(response.bytes_stream().map_err(std::io::Error::other));
    let new = NewFile { filename, content_type, restricted: secret.is_some() };
    let file = match target.core.files.upload(target.app.id, new, body).await {
        Ok(file) => file,
        Err(confab_core::error::Error::TooLarge(m)) => return Err(failed(m)),
        Err(confab_core::error::Error::InvalidArgument(m)) => return Err(failed(m)),
        Err(e) => return Err(e.into()),
    };
    let app = &target.app;
    *url = format!("{}/{}/{}/chatfiles/{}", outbound.origin, app.org, app.name, file.uuid);
    if secret.is_some() {
        *secret = Some(file.secret);
    }
    Ok(())
}
