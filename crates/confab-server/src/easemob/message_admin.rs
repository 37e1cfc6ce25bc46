//! Changing what was said: recall (E-recall-1), one-sided conversation
//! delete (E-conv-1). Shapes: docs/research/easemob-files-history-recall.md.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use confab_core::groups::GroupRef;
use confab_core::ids::MessageId;
use confab_core::model::{direct_conversation_key, ChatType, Username};

use super::{path_user, AnyAuth, AppAuth, EasemobError, JsonBody, DEFAULT_BODY_LIMIT};
use crate::limits::EASEMOB_RECALL_WINDOW_SECS;

fn recall_error(status: StatusCode, description: &str) -> EasemobError {
    EasemobError::new(status, "message_recall_error", "MessageRecallException", description)
}

/// A required text field; the vendor's "param X can't be empty" otherwise.
fn required<'a>(body: &'a Value, key: &str) -> Result<&'a str, EasemobError> {
    match body.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(recall_error(StatusCode::BAD_REQUEST, &format!("param {key} can't be empty"))),
    }
}

/// E-recall-1: recalls a message within the app's recall window (or any
/// time with `force`). Connected receivers are told; the others never get it.
pub async fn recall(
    AppAuth(target): AppAuth,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT>,
) -> Result<Response, EasemobError> {
    let id = required(&body, "msg_id")?;
    let to = required(&body, "to")?;
    let chat_type = required(&body, "chat_type")?;
    let force = match body.get("force") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
        _ => return Err(recall_error(StatusCode::BAD_REQUEST, "param force can't be empty")),
    };
    let from = match body.get("from") {
        None | Some(Value::Null) => Username::admin(),
        Some(Value::String(s)) => Username::parse(s).map_err(|e| EasemobError::illegal_argument(e.to_string()))?,
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
    if message.to != to || message.chat_type.as_str() != chat_type {
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

/// E-conv-1: deletes a conversation from one user's side. With
/// `delete_roam` their copy of its messages goes too; without, it only
/// stops counting as unread. The other side keeps everything.
pub async fn delete_conversation(
    auth: AnyAuth,
    Path(path): Path<UserPath>,
    JsonBody(body): JsonBody<DEFAULT_BODY_LIMIT>,
) -> Result<Response, EasemobError> {
    let user = path_user(&path.username)?;
    auth.require_self_or_app(&user)?;
    if !body.is_object() {
        return Err(EasemobError::invalid_body("the body must be a JSON object"));
    }
    let channel = match body.get("channel") {
        Some(Value::String(s)) if !s.is_empty() => s.as_str(),
        _ => return Err(field_error("field channel cannot be null or empty")),
    };
    let kind = match body.get("type").and_then(Value::as_str) {
        Some("chat") => ChatType::Chat,
        Some("groupchat") => ChatType::GroupChat,
        Some("") | None => return Err(field_error("field type cannot be null or empty")),
        Some(other) => return Err(field_error(&format!("field type must be chat or groupchat, not {other}"))),
    };
    let delete_roam = match body.get("delete_roam") {
        Some(Value::Bool(b)) => *b,
        _ => return Err(field_error("field delete_roam cannot be null")),
    };
    let target = &auth.0;
    let app = target.app.id;
    let conversation = match kind {
        ChatType::Chat => {
            let peer = Username::parse(channel).map_err(|e| field_error(&e.to_string()))?;
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
