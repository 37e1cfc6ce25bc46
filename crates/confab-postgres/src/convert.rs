//! Rows to core types: users and messages.

use super::*;

pub(crate) const USER_COLUMNS: &str =
    "id, app_id, username, uuid, password_hash, nickname, activated, generation, created_ms, modified_ms, attributes, push";

pub(crate) fn user_row(row: &Row) -> Result<(i64, UserRecord)> {
    let username: String = row.get(2);
    let record = UserRecord {
        password_hash: row.get(4),
        user: User {
            app: AppId(row.get(1)),
            username: Username::parse(&username)?,
            uuid: row.get(3),
            nickname: row.get(5),
            activated: row.get(6),
            credential_generation: row.get(7),
            created_ms: row.get(8),
            modified_ms: row.get(9),
            attributes: serde_json::from_str(row.get::<_, &str>(10))
                .map_err(|e| Error::Storage(format!("bad user attributes: {e}")))?,
            push: serde_json::from_str(row.get::<_, &str>(11))
                .map_err(|e| Error::Storage(format!("bad push settings: {e}")))?,
        },
    };
    Ok((row.get(0), record))
}

/// The columns a new message is written with.
pub(crate) const NEW_MESSAGE_COLUMNS: &str = "id, app_id, conv_id, seq, chat_type, sender, target, body, ext, \
     created_ms, sync_sender, origin_device, original, receivers, state, state_by, state_ms";
/// The columns a message is read with: those, and how often it was edited.
pub(crate) const MESSAGE_COLUMNS: &str = "id, app_id, conv_id, seq, chat_type, sender, target, body, ext, created_ms, \
     sync_sender, origin_device, original, receivers, state, state_by, state_ms, edits";

pub(crate) fn message_row(row: &Row) -> Result<Message> {
    let sender: String = row.get(5);
    let body: String = row.get(7);
    let ext: Option<String> = row.get(8);
    let bad = |e: serde_json::Error| Error::Storage(format!("bad stored message: {e}"));
    let bad_original = |e: confab_wire::Invalid| Error::Storage(format!("bad stored message: {e}"));
    let chat_type: i64 = row.get(4);
    Ok(Message {
        id: MessageId(row.get::<_, i64>(0) as u64),
        app: AppId(row.get(1)),
        conversation: ConversationId(row.get(2)),
        seq: row.get(3),
        chat_type: ChatType::from_code(chat_type)
            .ok_or_else(|| Error::Storage(format!("bad chat type {chat_type}")))?,
        from: Username::parse(&sender)?,
        to: row.get(6),
        body: confab_wire::body_from_str(&body).map_err(bad)?,
        ext: ext.map(|e| serde_json::from_str(&e)).transpose().map_err(bad)?,
        timestamp_ms: row.get(9),
        sync_sender: row.get(10),
        origin_device: row.get(11),
        original: row
            .get::<_, Option<&str>>(12)
            .map(confab_wire::original_from_str)
            .transpose()
            .map_err(bad_original)?,
        receivers: row.get::<_, Option<serde_json::Value>>(13).map(serde_json::from_value).transpose().map_err(bad)?,
        state: {
            let code: i64 = row.get(14);
            let by = row.get::<_, Option<&str>>(15).map(Username::parse).transpose()?;
            MessageState::from_parts(code, by, row.get(16), row.get::<_, i64>(17))
                .ok_or_else(|| Error::Storage(format!("bad message state {code}")))?
        },
    })
}
