//! Appends in the writer's group: finding or making a message's
//! conversation and its members, joining a multicast's or broadcast's
//! audience, numbering the message, inserting it; and the delivery cursors
//! the cursor thread folds into the same groups. Everything here runs on the
//! writer thread inside the group's transaction, with its cache.

use rusqlite::{params, Connection, OptionalExtension};

use confab_core::error::Result;
use confab_core::model::{AppId, Audience, ConversationId, Message, MessageState, NewMessage};

use crate::convert::{self, INSERT_MESSAGE, LAST_SEQ};
use crate::history;
use crate::{storage, WriterCache};

/// Stores `messages` in order, each with the next sequence number of its
/// conversation.
pub(crate) fn append(
    conn: &Connection,
    cache: &mut WriterCache,
    app: AppId,
    messages: Vec<NewMessage>,
) -> Result<Vec<Message>> {
    let mut stored = Vec::with_capacity(messages.len());
    for m in messages {
        let conv = conversation_id(conn, cache, app, &m, m.timestamp_ms)?;
        join_audience(conn, cache, app, conv, &m)?;
        let seq = next_seq(conn, cache, conv)?;
        let late = arrives_late(conn, cache, conv, (m.timestamp_ms, m.id.0 as i64))?;
        let ext = m.ext.as_ref().map(convert::json).transpose()?;
        let original = m.original.as_ref().map(confab_wire::original_string);
        let receivers = m.audience.receivers();
        let receivers_text = receivers.as_ref().map(convert::json).transpose()?;
        conn.prepare_cached(INSERT_MESSAGE)
            .and_then(|mut s| {
                s.execute(params![
                    m.id.0 as i64,
                    app.0,
                    conv,
                    seq,
                    m.chat_type.code(),
                    m.from.as_str(),
                    m.to,
                    confab_wire::body_string(&m.body),
                    ext,
                    m.timestamp_ms,
                    m.sync_sender,
                    m.origin_device,
                    original,
                    receivers_text,
                    late
                ])
            })
            .map_err(storage)?;
        stored.push(Message {
            id: m.id,
            app,
            conversation: ConversationId(conv),
            seq,
            chat_type: m.chat_type,
            from: m.from,
            to: m.to,
            body: m.body,
            ext: m.ext,
            timestamp_ms: m.timestamp_ms,
            sync_sender: m.sync_sender,
            origin_device: m.origin_device,
            original: m.original,
            receivers,
            state: MessageState::Normal,
        });
    }
    Ok(stored)
}

/// Finds or creates a conversation and its memberships; returns its ID.
fn conversation_id(conn: &Connection, cache: &mut WriterCache, app: AppId, m: &NewMessage, now: i64) -> Result<i64> {
    let kind = m.chat_type.code();
    let key = (app.0, kind, m.conversation_key.clone());
    if let Some(id) = cache.conversations.get(&key) {
        return Ok(*id);
    }
    // Most misses are conversations the cache let go of: one seek finds them,
    // and their members joined when they were made.
    let known: Option<i64> = conn
        .prepare_cached("SELECT id FROM conversations WHERE app_id = ?1 AND kind = ?2 AND key = ?3")
        .and_then(|mut s| s.query_row(params![app.0, kind, m.conversation_key], |r| r.get(0)).optional())
        .map_err(storage)?;
    if let Some(id) = known {
        cache.conversations.insert(key, id);
        return Ok(id);
    }
    conn.prepare_cached("INSERT INTO conversations (app_id, kind, key, created_ms) VALUES (?1, ?2, ?3, ?4)")
        .and_then(|mut s| s.execute(params![app.0, kind, m.conversation_key, now]))
        .map_err(storage)?;
    let id = conn.last_insert_rowid();
    let mut join = conn
        .prepare_cached(
            "INSERT INTO members (app_id, username, conv_id, ack_seq, read_seq) VALUES (?1, ?2, ?3, 0, 0) \
             ON CONFLICT DO NOTHING",
        )
        .map_err(storage)?;
    for member in &m.members {
        join.execute(params![app.0, member.as_str(), id]).map_err(storage)?;
    }
    cache.conversations.insert(key, id);
    // A conversation made just now has no messages (IDs are never reused:
    // `AUTOINCREMENT`, and conversations are never deleted), so its first
    // sequence number needs no seek.
    cache.last_seq.insert(id, 0);
    cache.newest.insert(id, history::BEFORE_ALL);
    Ok(id)
}

/// Makes a multicast's receivers, or a broadcast's every user, members of
/// the conversation from the message about to be appended on.
fn join_audience(conn: &Connection, cache: &mut WriterCache, app: AppId, conv: i64, m: &NewMessage) -> Result<()> {
    let now = m.timestamp_ms;
    match &m.audience {
        Audience::Members | Audience::Only(_) => Ok(()),
        Audience::Join(users) => {
            let seq = last_seq(conn, cache, conv)?;
            let mut join = conn
                .prepare_cached(
                    "INSERT INTO members (app_id, username, conv_id, ack_seq, read_seq, joined_seq, joined_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?4, ?4, ?5) ON CONFLICT DO NOTHING",
                )
                .map_err(storage)?;
            for user in users {
                join.execute(params![app.0, user.as_str(), conv, seq, now]).map_err(storage)?;
            }
            Ok(())
        }
        Audience::AllUsers => {
            let seq = last_seq(conn, cache, conv)?;
            conn.prepare_cached(
                "INSERT INTO members (app_id, username, conv_id, ack_seq, read_seq, joined_seq, joined_ms) \
                 SELECT ?1, username, ?2, ?3, ?3, ?3, ?4 FROM users WHERE app_id = ?1 ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![app.0, conv, seq, now]))
            .map_err(storage)?;
            Ok(())
        }
    }
}

/// The conversation's latest sequence number as the writer knows it.
pub(crate) fn last_seq(conn: &Connection, cache: &mut WriterCache, conversation: i64) -> Result<i64> {
    if let Some(seq) = cache.last_seq.get(&conversation) {
        return Ok(*seq);
    }
    let seq: i64 = conn
        .prepare_cached(LAST_SEQ)
        .and_then(|mut s| s.query_row(params![conversation], |r| r.get(0)))
        .map_err(storage)?;
    cache.last_seq.insert(conversation, seq);
    Ok(seq)
}

/// Takes the next sequence number of a conversation; written at commit.
fn next_seq(conn: &Connection, cache: &mut WriterCache, conversation: i64) -> Result<i64> {
    let seq = last_seq(conn, cache, conversation)? + 1;
    cache.last_seq.insert(conversation, seq);
    Ok(seq)
}

/// Whether a message keyed `key` (time, ID) is stored out of time order in
/// its conversation: older than the newest message before it that was not.
/// Those that are not become the conversation's newest (history.rs).
fn arrives_late(conn: &Connection, cache: &mut WriterCache, conversation: i64, key: (i64, i64)) -> Result<bool> {
    let newest = match cache.newest.get(&conversation) {
        Some(newest) => *newest,
        None => history::newest_in_order(conn, conversation)?,
    };
    if key < newest {
        cache.newest.insert(conversation, newest);
        return Ok(true);
    }
    cache.newest.insert(conversation, key);
    Ok(false)
}

/// Writes a batch of cursor moves (the highest per user and conversation),
/// never past a conversation's end, so no future message counts as delivered.
pub(crate) fn write_cursors(
    conn: &Connection,
    cache: &mut WriterCache,
    moves: &std::collections::HashMap<(i64, String, i64), (i64, i64)>,
) -> Result<()> {
    let mut stmt = conn
        .prepare_cached(
            "UPDATE members SET ack_seq = MAX(ack_seq, ?4), read_seq = MAX(read_seq, ?5) \
             WHERE app_id = ?1 AND username = ?2 AND conv_id = ?3",
        )
        .map_err(storage)?;
    for ((app, user, conversation), (ack, read)) in moves {
        let end = last_seq(conn, cache, *conversation)?;
        stmt.execute(params![app, user, conversation, (*ack).min(end), (*read).min(end)]).map_err(storage)?;
    }
    Ok(())
}
