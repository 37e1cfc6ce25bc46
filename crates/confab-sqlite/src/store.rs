//! Messages in SQLite: the message store's reads, cursors and changes.
//! Appends and cursor writes, which run in the writer's group, are in
//! `appends.rs`; users are in `users.rs`; groups, relations, files,
//! settings, apps and operators have their own files.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use confab_core::error::{Error, Refusal, Refused, Result};
use confab_core::ids::MessageId;
use confab_core::model::{
    AppId, Body, ChatType, ConversationId, Membership, Message, MessageMark, NewMessage, Username,
};
use confab_core::storage::{HiddenRange, MessageChange, MessageData, MessageQuery};

use crate::convert::{self, MESSAGE_COLUMNS};
use crate::{appends, history, storage, CursorMove, SqliteStore};

fn membership_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Membership> {
    Ok(Membership {
        conversation: ConversationId(row.get(0)?),
        ack_seq: row.get(1)?,
        read_seq: row.get(2)?,
        last_seq: row.get(3)?,
        joined_seq: row.get(4)?,
        chat_type: ChatType::from_code(row.get(5)?).unwrap_or(ChatType::Chat),
        joined_ms: row.get(6)?,
    })
}

const MEMBERSHIP_SELECT: &str = "SELECT m.conv_id, m.ack_seq, m.read_seq, \
     COALESCE((SELECT MAX(g.seq) FROM messages g WHERE g.conv_id = m.conv_id), 0), m.joined_seq, c.kind, m.joined_ms \
     FROM members m JOIN conversations c ON c.id = m.conv_id \
     WHERE m.app_id = ?1 AND m.username = ?2";

/// What `unread_count` counts after `FROM members m`: messages from others
/// after the user's read cursor, for them, not recalled, deleted or hidden,
/// outside chat rooms (parameters: app, user, conversation or NULL).
const UNREAD: &str = "JOIN conversations c ON c.id = m.conv_id \
     JOIN messages g ON g.conv_id = m.conv_id AND g.seq > m.read_seq \
     WHERE m.app_id = ?1 AND m.username = ?2 AND (?3 IS NULL OR m.conv_id = ?3) \
     AND g.sender != ?2 AND c.kind <> 2 AND g.state < 2 \
     AND (g.receivers IS NULL OR EXISTS (SELECT 1 FROM json_each(g.receivers) r WHERE r.value = ?2)) \
     AND NOT EXISTS (SELECT 1 FROM hidden h WHERE h.app_id = ?1 AND h.username = ?2 \
         AND h.conv_id = g.conv_id AND g.id BETWEEN h.from_id AND h.to_id)";

#[async_trait]
impl MessageData for SqliteStore {
    fn commit_stats(&self) -> Option<std::sync::Arc<confab_core::activity::CommitStats>> {
        Some(self.commits.clone())
    }

    async fn append(&self, app: AppId, messages: Vec<NewMessage>) -> Result<Vec<Message>> {
        self.write(move |conn, cache| appends::append(conn, cache, app, messages)).await
    }

    async fn max_message_id(&self) -> Result<Option<MessageId>> {
        self.read(|conn| {
            conn.query_row("SELECT MAX(id) FROM messages", [], |r| r.get::<_, Option<i64>>(0))
                .map(|id| id.map(|id| MessageId(id as u64)))
                .map_err(storage)
        })
        .await
    }

    async fn message(&self, app: AppId, id: MessageId) -> Result<Option<Message>> {
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1 AND app_id = ?2"))
                .and_then(|mut s| s.query_row(params![id.0 as i64, app.0], convert::message).optional())
                .map_err(storage)
        })
        .await
    }

    async fn memberships(&self, app: AppId, user: &Username) -> Result<Vec<Membership>> {
        let user = user.clone();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(MEMBERSHIP_SELECT).map_err(storage)?;
            let rows = stmt.query_map(params![app.0, user.as_str()], membership_row).map_err(storage)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(storage)
        })
        .await
    }

    async fn membership(
        &self,
        app: AppId,
        user: &Username,
        conversation: ConversationId,
    ) -> Result<Option<Membership>> {
        let user = user.clone();
        self.read(move |conn| {
            conn.prepare_cached(&format!("{MEMBERSHIP_SELECT} AND m.conv_id = ?3"))
                .and_then(|mut s| s.query_row(params![app.0, user.as_str(), conversation.0], membership_row).optional())
                .map_err(storage)
        })
        .await
    }

    async fn messages_between(
        &self,
        app: AppId,
        conversation: ConversationId,
        after: i64,
        up_to: i64,
        limit: usize,
    ) -> Result<Vec<Message>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages \
                     WHERE conv_id = ?1 AND app_id = ?2 AND seq > ?3 AND seq <= ?4 ORDER BY seq LIMIT ?5"
                ))
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![conversation.0, app.0, after, up_to, limit as i64], convert::message)
                .map_err(storage)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(storage)
        })
        .await
    }

    async fn acknowledge(&self, app: AppId, user: &Username, conversation: ConversationId, seq: i64) -> Result<()> {
        self.move_cursor(CursorMove { key: (app.0, user.as_str().to_owned(), conversation.0), ack: seq, read: 0 }).await
    }

    async fn mark_read(&self, app: AppId, user: &Username, conversation: ConversationId, seq: i64) -> Result<()> {
        self.move_cursor(CursorMove { key: (app.0, user.as_str().to_owned(), conversation.0), ack: seq, read: seq })
            .await
    }

    async fn unacknowledged_count(&self, app: AppId, user: &Username) -> Result<u64> {
        let user = user.clone();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT COUNT(*) FROM members m JOIN conversations c ON c.id = m.conv_id \
                 JOIN messages g ON g.conv_id = m.conv_id AND g.seq > m.ack_seq \
                 WHERE m.app_id = ?1 AND m.username = ?2 AND g.sender != ?2 AND c.kind <> 2 AND g.state < 2 \
                 AND (g.receivers IS NULL OR EXISTS (SELECT 1 FROM json_each(g.receivers) r WHERE r.value = ?2)) \
                 AND NOT EXISTS (SELECT 1 FROM hidden h WHERE h.app_id = ?1 AND h.username = ?2 \
                     AND h.conv_id = g.conv_id AND g.id BETWEEN h.from_id AND h.to_id)",
            )
            .and_then(|mut s| s.query_row(params![app.0, user.as_str()], |r| r.get::<_, i64>(0)))
            .map(|n| n as u64)
            .map_err(storage)
        })
        .await
    }

    async fn conversation(&self, app: AppId, kind: ChatType, key: &str) -> Result<Option<ConversationId>> {
        let key = key.to_owned();
        self.read(move |conn| {
            conn.prepare_cached("SELECT id FROM conversations WHERE app_id = ?1 AND kind = ?2 AND key = ?3")
                .and_then(|mut s| s.query_row(params![app.0, kind.code(), key], |r| r.get(0)).optional())
                .map(|id| id.map(ConversationId))
                .map_err(storage)
        })
        .await
    }

    async fn message_at(&self, app: AppId, conversation: ConversationId, seq: i64) -> Result<Option<Message>> {
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conv_id = ?1 AND app_id = ?2 AND seq = ?3"
            ))
            .and_then(|mut s| s.query_row(params![conversation.0, app.0, seq], convert::message).optional())
            .map_err(storage)
        })
        .await
    }

    async fn change_message(&self, app: AppId, id: MessageId, change: MessageChange) -> Result<Option<Message>> {
        fn edit_limit() -> Error {
            Error::Refused(Refused::new(Refusal::EditLimit))
        }
        self.write(move |conn, _| {
            let key = params![id.0 as i64, app.0];
            match change {
                MessageChange::Edit { body, ext, original, at_ms, max_edits } => {
                    let original = original.as_ref().map(confab_wire::original_string);
                    let ext = ext.as_ref().map(convert::json).transpose()?;
                    let limit = max_edits.map(i64::from);
                    let changed = conn
                        .execute(
                            "UPDATE messages SET body = ?3, original = ?4, state = 1, state_ms = ?5, \
                             ext = COALESCE(?6, ext), edits = edits + 1 \
                             WHERE id = ?1 AND app_id = ?2 AND (?7 IS NULL OR edits < ?7)",
                            params![id.0 as i64, app.0, confab_wire::body_string(&body), original, at_ms, ext, limit],
                        )
                        .map_err(storage)?;
                    if changed == 0 && limit.is_some() {
                        let exists = conn
                            .prepare_cached("SELECT 1 FROM messages WHERE id = ?1 AND app_id = ?2")
                            .and_then(|mut s| s.exists(key))
                            .map_err(storage)?;
                        if exists {
                            return Err(edit_limit());
                        }
                    }
                    Ok(changed)
                }
                MessageChange::Recall { by, at_ms } => conn
                    .execute(
                        "UPDATE messages SET state = 2, state_by = ?3, state_ms = ?4 WHERE id = ?1 AND app_id = ?2",
                        params![id.0 as i64, app.0, by.as_str(), at_ms],
                    )
                    .map_err(storage),
                MessageChange::Delete { at_ms } => conn
                    .execute(
                        "UPDATE messages SET body = ?3, ext = NULL, original = NULL, state = 3, state_ms = ?4 \
                         WHERE id = ?1 AND app_id = ?2",
                        params![
                            id.0 as i64,
                            app.0,
                            confab_wire::body_string(&Body::Text { msg: String::new() }),
                            at_ms
                        ],
                    )
                    .map_err(storage),
            }?;
            conn.prepare_cached(&format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1 AND app_id = ?2"))
                .and_then(|mut s| s.query_row(key, convert::message).optional())
                .map_err(storage)
        })
        .await
    }

    async fn hide_messages(&self, app: AppId, user: &Username, range: HiddenRange) -> Result<()> {
        let user = user.clone();
        self.write(move |conn, _| {
            conn.execute(
                "INSERT INTO hidden (app_id, username, conv_id, from_id, to_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![app.0, user.as_str(), range.conversation.0, range.from.0 as i64, range.to.0 as i64],
            )
            .map_err(storage)?;
            Ok(())
        })
        .await
    }

    async fn hidden_ranges(&self, app: AppId, user: &Username) -> Result<Vec<HiddenRange>> {
        let user = user.clone();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT conv_id, from_id, to_id FROM hidden WHERE app_id = ?1 AND username = ?2")
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![app.0, user.as_str()], |r| {
                    Ok(HiddenRange {
                        conversation: ConversationId(r.get(0)?),
                        from: MessageId(r.get::<_, i64>(1)? as u64),
                        to: MessageId(r.get::<_, i64>(2)? as u64),
                    })
                })
                .map_err(storage)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(storage)
        })
        .await
    }

    async fn messages_sent(
        &self,
        app: AppId,
        sent: std::ops::Range<i64>,
        after: Option<(i64, MessageId)>,
        limit: usize,
    ) -> Result<Vec<Message>> {
        let bounds = SentPage::new(&sent, after);
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&SentPage::sql(MESSAGE_COLUMNS)).map_err(storage)?;
            let rows = stmt.query_map(bounds.params(app, limit), convert::message).map_err(storage)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(storage)
        })
        .await
    }

    async fn message_marks(
        &self,
        app: AppId,
        sent: std::ops::Range<i64>,
        after: Option<(i64, MessageId)>,
        limit: usize,
    ) -> Result<Vec<MessageMark>> {
        let bounds = SentPage::new(&sent, after);
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&SentPage::sql("id, created_ms, state, state_ms")).map_err(storage)?;
            let rows = stmt
                .query_map(bounds.params(app, limit), |row| {
                    let state: i64 = row.get(2)?;
                    Ok(MessageMark {
                        id: MessageId(row.get::<_, i64>(0)? as u64),
                        timestamp_ms: row.get(1)?,
                        state,
                        state_at_ms: if state == 0 { 0 } else { row.get(3)? },
                    })
                })
                .map_err(storage)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(storage)
        })
        .await
    }

    async fn query_messages(&self, app: AppId, query: MessageQuery) -> Result<Vec<Message>> {
        self.read(move |conn| {
            if let Some(conversation) = query.conversation {
                return history::conversation_messages(conn, app.0, conversation, &query);
            }
            let (filters, mut values) = history::filters(app.0, &query);
            let order = if query.newest_first { "DESC" } else { "ASC" };
            let sql =
                format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE {filters} ORDER BY created_ms {order}, id {order} LIMIT ?");
            values.push((query.limit as i64).into());
            let mut stmt = conn.prepare_cached(&sql).map_err(storage)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(values), convert::message).map_err(storage)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(storage)
        })
        .await
    }

    async fn unread_count(&self, app: AppId, user: &Username, conversation: Option<ConversationId>) -> Result<u64> {
        let user = user.clone();
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT COUNT(*) FROM members m {UNREAD}"))
                .and_then(|mut s| {
                    s.query_row(params![app.0, user.as_str(), conversation.map(|c| c.0)], |r| r.get::<_, i64>(0))
                })
                .map(|n| n as u64)
                .map_err(storage)
        })
        .await
    }

    async fn unread_count_up_to(&self, app: AppId, user: &Username, at_most: u64) -> Result<u64> {
        let user = user.clone();
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT COUNT(*) FROM (SELECT 1 FROM members m {UNREAD} LIMIT ?4)"))
                .and_then(|mut s| {
                    s.query_row(params![app.0, user.as_str(), None::<i64>, at_most as i64], |r| r.get::<_, i64>(0))
                })
                .map(|n| n as u64)
                .map_err(storage)
        })
        .await
    }

    async fn delivered_until(&self, app: AppId, user: &Username) -> Result<Option<i64>> {
        let user = user.clone();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT MAX(g.created_ms) FROM members m \
                 JOIN messages g ON g.conv_id = m.conv_id AND g.seq = m.ack_seq \
                 WHERE m.app_id = ?1 AND m.username = ?2",
            )
            .and_then(|mut s| s.query_row(params![app.0, user.as_str()], |r| r.get(0)))
            .map_err(storage)
        })
        .await
    }

    async fn join_from(
        &self,
        app: AppId,
        users: Vec<Username>,
        conversation: ConversationId,
        seq: i64,
        now_ms: i64,
    ) -> Result<()> {
        self.write(move |conn, _| {
            let mut join = conn
                .prepare_cached(
                    "INSERT INTO members (app_id, username, conv_id, ack_seq, read_seq, joined_seq, joined_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?4, ?4, ?5) ON CONFLICT DO NOTHING",
                )
                .map_err(storage)?;
            for user in &users {
                join.execute(params![app.0, user.as_str(), conversation.0, seq - 1, now_ms]).map_err(storage)?;
            }
            Ok(())
        })
        .await
    }

    // `chat_type = 4` (broadcast) is written out, not bound, so the
    // partial index `app_wide_broadcasts` applies.
    async fn app_wide_broadcasts(&self, app: AppId, since_ms: i64) -> Result<Vec<Message>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE app_id = ?1 AND created_ms >= ?2 \
                     AND chat_type = 4 AND receivers IS NULL AND state < 2 ORDER BY conv_id, seq"
                ))
                .map_err(storage)?;
            let rows = stmt.query_map(params![app.0, since_ms], convert::message).map_err(storage)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(storage)
        })
        .await
    }
}

/// A page of an app's messages sent within a time range, by (time, ID),
/// after the previous page's last (time, ID).
///
/// SQLite seeks an index by a plain bound but only filters by a row value
/// such as `(created_ms, id) > (?, ?)`, so a page that starts inside a run of
/// messages with the same time would scan the run (a busy app stores dozens
/// in one millisecond; the history bench a hundred thousand). A page is
/// therefore two seeks: the rest of the run, then what follows it.
struct SentPage {
    start: i64,
    end: i64,
    after_ms: i64,
    after_id: i64,
    /// Where the second seek begins: after the run, or at the range's start.
    later_from: i64,
}

impl SentPage {
    fn new(sent: &std::ops::Range<i64>, after: Option<(i64, MessageId)>) -> SentPage {
        let (after_ms, after_id) = after.map_or((i64::MIN, 0), |(ms, id)| (ms, id.0 as i64));
        let later_from = if after.is_some() { sent.start.max(after_ms.saturating_add(1)) } else { sent.start };
        SentPage { start: sent.start, end: sent.end, after_ms, after_id, later_from }
    }

    /// The query for `columns`, which must include `created_ms` and `id`.
    fn sql(columns: &str) -> String {
        format!(
            "SELECT {columns} FROM (SELECT {columns} FROM messages WHERE app_id = ?1 AND created_ms = ?4 \
             AND ?4 >= ?2 AND ?4 < ?3 AND id > ?5 ORDER BY id LIMIT ?6) \
             UNION ALL SELECT {columns} FROM (SELECT {columns} FROM messages WHERE app_id = ?1 \
             AND created_ms >= ?7 AND created_ms < ?3 ORDER BY created_ms, id LIMIT ?6) \
             ORDER BY created_ms, id LIMIT ?6"
        )
    }

    fn params(&self, app: AppId, limit: usize) -> [i64; 7] {
        [app.0, self.start, self.end, self.after_ms, self.after_id, limit as i64, self.later_from]
    }
}
