//! Row ↔ domain type conversions.

use confab_core::error::{Error, Result};
use confab_core::ids::MessageId;
use confab_core::model::{App, AppId, ChatType, ConversationId, Message, MessageState, User, UserRecord, Username};
use rusqlite::Row;

pub(crate) const APP_COLUMNS: &str =
    "id, uuid, org, name, client_id, client_secret, signing_key, created_ms, rate_limits, credentials";

pub(crate) fn app(row: &Row<'_>) -> rusqlite::Result<App> {
    Ok(App {
        id: AppId(row.get(0)?),
        uuid: row.get(1)?,
        org: row.get(2)?,
        name: row.get(3)?,
        client_id: row.get(4)?,
        client_secret: row.get(5)?,
        signing_key: row.get(6)?,
        created_ms: row.get(7)?,
        rate_limits: serde_json::from_str(&row.get::<_, String>(8)?).map_err(|e| conversion(8, e))?,
        credentials: serde_json::from_str(&row.get::<_, String>(9)?).map_err(|e| conversion(9, e))?,
    })
}

pub(crate) const USER_COLUMNS: &str =
    "id, app_id, username, uuid, password_hash, nickname, activated, generation, created_ms, modified_ms, attributes, push";

/// A user row and its position (the paging cursor).
pub(crate) fn user(row: &Row<'_>) -> rusqlite::Result<(i64, UserRecord)> {
    let username: String = row.get(2)?;
    let record = UserRecord {
        password_hash: row.get(4)?,
        user: User {
            app: AppId(row.get(1)?),
            // Stored names were validated on the way in.
            username: Username::parse(&username).map_err(|e| conversion(2, e))?,
            uuid: row.get(3)?,
            nickname: row.get(5)?,
            activated: row.get(6)?,
            credential_generation: row.get(7)?,
            created_ms: row.get(8)?,
            modified_ms: row.get(9)?,
            attributes: serde_json::from_str(&row.get::<_, String>(10)?).map_err(|e| conversion(10, e))?,
            push: serde_json::from_str(&row.get::<_, String>(11)?).map_err(|e| conversion(11, e))?,
        },
    };
    Ok((row.get(0)?, record))
}

/// A new message's row: fifteen parameters, then a normal state. One
/// constant rather than a string formatted per message, so the writer's
/// statement cache finds it without building its key.
pub(crate) const INSERT_MESSAGE: &str = "INSERT INTO messages (id, app_id, conv_id, seq, chat_type, sender, target, \
     body, ext, created_ms, sync_sender, origin_device, original, receivers, late, state, state_by, state_ms) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, 0, NULL, 0)";
/// A conversation's latest sequence number: its messages' largest, one seek
/// into `messages_by_conversation` (0 before its first message).
pub(crate) const LAST_SEQ: &str = "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE conv_id = ?1";
/// The columns a message is read with: those, and how often it was edited.
pub(crate) const MESSAGE_COLUMNS: &str = "id, app_id, conv_id, seq, chat_type, sender, target, body, ext, created_ms, \
     sync_sender, origin_device, original, receivers, state, state_by, state_ms, edits";

pub(crate) fn message(row: &Row<'_>) -> rusqlite::Result<Message> {
    let sender: String = row.get(5)?;
    let body: String = row.get(7)?;
    let ext: Option<String> = row.get(8)?;
    let chat_type: i64 = row.get(4)?;
    Ok(Message {
        id: MessageId(row.get::<_, i64>(0)? as u64),
        app: AppId(row.get(1)?),
        conversation: ConversationId(row.get(2)?),
        seq: row.get(3)?,
        chat_type: ChatType::from_code(chat_type)
            .ok_or_else(|| conversion(4, Error::Storage(format!("unknown chat type {chat_type}"))))?,
        from: Username::parse(&sender).map_err(|e| conversion(5, e))?,
        to: row.get(6)?,
        body: confab_wire::body_from_str(&body).map_err(|e| conversion(7, e))?,
        ext: ext.map(|e| serde_json::from_str(&e)).transpose().map_err(|e| conversion(8, e))?,
        timestamp_ms: row.get(9)?,
        sync_sender: row.get(10)?,
        origin_device: row.get(11)?,
        original: {
            let text: Option<String> = row.get(12)?;
            text.map(|t| confab_wire::original_from_str(&t)).transpose().map_err(|e| conversion(12, e))?
        },
        receivers: optional_json(row, 13)?,
        state: {
            let by: Option<String> = row.get(15)?;
            let by = by.map(|b| Username::parse(&b)).transpose().map_err(|e| conversion(15, e))?;
            let code: i64 = row.get(14)?;
            MessageState::from_parts(code, by, row.get(16)?, row.get(17)?)
                .ok_or_else(|| conversion(14, Error::Storage(format!("unknown message state {code}"))))?
        },
    })
}

fn optional_json<T: serde::de::DeserializeOwned>(row: &Row<'_>, column: usize) -> rusqlite::Result<Option<T>> {
    let text: Option<String> = row.get(column)?;
    text.map(|t| serde_json::from_str(&t)).transpose().map_err(|e| conversion(column, e))
}

fn conversion<E: std::error::Error + Send + Sync + 'static>(column: usize, e: E) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(e))
}

pub(crate) fn json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Storage(format!("cannot encode: {e}")))
}
