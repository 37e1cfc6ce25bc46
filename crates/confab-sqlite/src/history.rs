//! A conversation's messages in time order, read through its sequence index.
//!
//! Why not a time index per conversation: every entry a message adds to a
//! per-conversation index lands on that conversation's page, so each index
//! costs a commit one more page per conversation in it. A conversation's
//! messages are numbered in the order they are stored, which is nearly
//! always their time order, so `messages_by_conversation` (conversation,
//! sequence) gives time order too.
//!
//! Invariant: within a conversation, the messages with `late = 0` have
//! increasing (time, ID) as their sequence numbers increase. The writer
//! keeps it (appends.rs): a message older than the newest one not late before
//! it (an import's time, or two senders crossing in the same instant) is
//! stored with `late = 1`, and only those are in the partial index
//! `late_messages` (conversation, time, ID).
//!
//! A query therefore reads two sorted runs and merges them: the in-order
//! messages between two sequence numbers found by binary search on that
//! invariant, and the late ones by their index. Both runs also carry the
//! exact time filter, so the sequence range only has to hold every match.

use rusqlite::{params, Connection, OptionalExtension};

use confab_core::error::Result;
use confab_core::model::{ConversationId, Message};
use confab_core::storage::{MessageQuery, TimeBound};

use crate::convert::{self, LAST_SEQ, MESSAGE_COLUMNS};
use crate::storage;

/// The key before every message's: what a conversation without an in-order
/// message has as its newest.
pub(crate) const BEFORE_ALL: (i64, i64) = (i64::MIN, i64::MIN);

/// The (time, ID) of a conversation's newest in-order message: the one with
/// the highest sequence number that is not late.
pub(crate) fn newest_in_order(conn: &Connection, conversation: i64) -> Result<(i64, i64)> {
    conn.prepare_cached(
        "SELECT created_ms, id FROM messages INDEXED BY messages_by_conversation \
         WHERE conv_id = ?1 AND late = 0 ORDER BY seq DESC LIMIT 1",
    )
    .and_then(|mut s| s.query_row(params![conversation], |r| Ok((r.get(0)?, r.get(1)?))).optional())
    .map(|newest| newest.unwrap_or(BEFORE_ALL))
    .map_err(storage)
}

/// The messages of `query`, whose conversation is `conversation`, in its
/// order: the in-order run and the late run, merged.
pub(crate) fn conversation_messages(
    conn: &Connection,
    app: i64,
    conversation: ConversationId,
    query: &MessageQuery,
) -> Result<Vec<Message>> {
    let order = if query.newest_first { "DESC" } else { "ASC" };
    let (filters, values) = filters(app, query);
    // Both runs bind their own leading values, then the filters', then the limit.
    let select = |sql: String, leading: Vec<rusqlite::types::Value>| -> Result<Vec<Message>> {
        let limit: rusqlite::types::Value = (query.limit as i64).into();
        let all = leading.into_iter().chain(values.iter().cloned()).chain([limit]);
        let mut stmt = conn.prepare_cached(&sql).map_err(storage)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(all), convert::message).map_err(storage)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(storage)
    };
    let in_order = match seq_range(conn, conversation.0, query.after, query.before)? {
        Some((first, last)) => select(
            format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages INDEXED BY messages_by_conversation \
                 WHERE conv_id = ? AND seq BETWEEN ? AND ? AND late = 0 AND {filters} ORDER BY seq {order} LIMIT ?"
            ),
            vec![conversation.0.into(), first.into(), last.into()],
        )?,
        None => Vec::new(),
    };
    let late = select(
        format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages INDEXED BY late_messages \
             WHERE conv_id = ? AND late = 1 AND {filters} ORDER BY created_ms {order}, id {order} LIMIT ?"
        ),
        vec![conversation.0.into()],
    )?;
    Ok(merge(in_order, late, query.newest_first, query.limit))
}

/// The conditions of `query` past its conversation, as SQL and the values
/// it binds: the app, not deleted, the sender, the time bounds.
pub(crate) fn filters(app: i64, query: &MessageQuery) -> (String, Vec<rusqlite::types::Value>) {
    let mut sql = String::from("app_id = ? AND state <> 3");
    let mut values: Vec<rusqlite::types::Value> = vec![app.into()];
    if let Some(from) = &query.from {
        sql.push_str(" AND sender = ?");
        values.push(from.as_str().to_owned().into());
    }
    for (bound, greater) in [(query.after, true), (query.before, false)] {
        let Some(bound) = bound else { continue };
        let op = match (greater, bound.inclusive) {
            (true, true) => ">=",
            (true, false) => ">",
            (false, true) => "<=",
            (false, false) => "<",
        };
        match bound.id {
            Some(id) => {
                // The plain bound lets an index on time seek; the row value only filters.
                let seek = if greater { ">=" } else { "<=" };
                sql.push_str(&format!(" AND created_ms {seek} ? AND (created_ms, id) {op} (?, ?)"));
                values.push(bound.ms.into());
                values.push(bound.ms.into());
                values.push((id.0 as i64).into());
            }
            None => {
                sql.push_str(&format!(" AND created_ms {op} ?"));
                values.push(bound.ms.into());
            }
        }
    }
    (sql, values)
}

/// The sequence numbers between which every in-order message within the
/// bounds lies; `None` when none can.
fn seq_range(
    conn: &Connection,
    conversation: i64,
    after: Option<TimeBound>,
    before: Option<TimeBound>,
) -> Result<Option<(i64, i64)>> {
    let last: i64 = conn
        .prepare_cached(LAST_SEQ)
        .and_then(|mut s| s.query_row(params![conversation], |r| r.get(0)))
        .map_err(storage)?;
    let first = match after {
        None => 1,
        Some(bound) => match at_bound(conn, conversation, bound)? {
            Some(seq) => seq,
            // Everything keyed below the bound's earliest key fails it.
            None => first_reaching(conn, conversation, last, (bound.ms, bound_id(bound, i64::MIN)), Reach::AtLeast)?,
        },
    };
    let end = match before {
        None => last,
        Some(bound) => match at_bound(conn, conversation, bound)? {
            Some(seq) => seq,
            // Everything keyed above the bound's latest key fails it.
            None => first_reaching(conn, conversation, last, (bound.ms, bound_id(bound, i64::MAX)), Reach::Past)? - 1,
        },
    };
    Ok((first <= end).then_some((first, end)))
}

fn bound_id(bound: TimeBound, otherwise: i64) -> i64 {
    bound.id.map_or(otherwise, |id| id.0 as i64)
}

/// A bound that names an in-order message of the conversation at its own
/// time (a page's cursor, nearly always) is that message's place: one seek
/// by ID instead of a search.
fn at_bound(conn: &Connection, conversation: i64, bound: TimeBound) -> Result<Option<i64>> {
    let Some(id) = bound.id else { return Ok(None) };
    conn.prepare_cached("SELECT seq FROM messages WHERE id = ?1 AND conv_id = ?2 AND created_ms = ?3 AND late = 0")
        .and_then(|mut s| s.query_row(params![id.0 as i64, conversation, bound.ms], |r| r.get(0)).optional())
        .map_err(storage)
}

#[derive(Clone, Copy)]
enum Reach {
    AtLeast,
    Past,
}

/// The lowest sequence number `s` in 1..=last+1 such that the first
/// in-order message at or after `s` reaches `key` (or there is none). By
/// the invariant that holds for every `s` above it too, so it is found by
/// halving: about log2(last) seeks.
fn first_reaching(conn: &Connection, conversation: i64, last: i64, key: (i64, i64), reach: Reach) -> Result<i64> {
    let mut probe = conn
        .prepare_cached(
            "SELECT created_ms, id FROM messages INDEXED BY messages_by_conversation \
             WHERE conv_id = ?1 AND seq >= ?2 AND late = 0 ORDER BY seq LIMIT 1",
        )
        .map_err(storage)?;
    let (mut low, mut high) = (1, last + 1);
    while low < high {
        let middle = low + (high - low) / 2;
        let found: Option<(i64, i64)> = probe
            .query_row(params![conversation, middle], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(storage)?;
        let reached = match (found, reach) {
            (None, _) => true,
            (Some(found), Reach::AtLeast) => found >= key,
            (Some(found), Reach::Past) => found > key,
        };
        if reached {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    Ok(low)
}

/// Two runs, each in the asked order, as one of at most `limit`.
fn merge(in_order: Vec<Message>, late: Vec<Message>, newest_first: bool, limit: usize) -> Vec<Message> {
    if late.is_empty() {
        return in_order;
    }
    if in_order.is_empty() {
        return late;
    }
    let key = |m: &Message| (m.timestamp_ms, m.id.0 as i64);
    let mut merged = Vec::with_capacity(limit.min(in_order.len() + late.len()));
    let (mut a, mut b) = (in_order.into_iter().peekable(), late.into_iter().peekable());
    while merged.len() < limit {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => (key(x) < key(y)) != newest_first,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        merged.extend(if take_a { a.next() } else { b.next() });
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{appends, WriterCache};
    use confab_core::ids::MessageId;
    use confab_core::model::{AppId, Body, ChatType, NewMessage, Username};
    use proptest::prelude::*;

    /// A message of the one conversation "a:b", from `a` or `b`.
    fn message(ms: i64, id: i64, from_a: bool) -> NewMessage {
        let user = |name: &str| Username::parse(name).unwrap();
        let (from, to) = if from_a { ("a", "b") } else { ("b", "a") };
        NewMessage {
            id: MessageId(id as u64),
            chat_type: ChatType::Chat,
            conversation_key: "a:b".into(),
            members: vec![user("a"), user("b")],
            from: user(from),
            to: to.into(),
            body: Body::Text { msg: format!("{id}") },
            ext: None,
            timestamp_ms: ms,
            sync_sender: false,
            origin_device: None,
            original: None,
            audience: Default::default(),
        }
    }

    /// What a query must return: every message that passes it, sorted, cut.
    fn reference(stored: &[(i64, i64, bool, bool)], query: &MessageQuery) -> Vec<i64> {
        let passes = |key: (i64, i64), bound: TimeBound, greater: bool| {
            let other = match bound.id {
                Some(id) => (bound.ms, id.0 as i64),
                None if greater => (bound.ms, if bound.inclusive { i64::MIN } else { i64::MAX }),
                None => (bound.ms, if bound.inclusive { i64::MAX } else { i64::MIN }),
            };
            match (greater, bound.inclusive) {
                (true, true) => key >= other,
                (true, false) => key > other,
                (false, true) => key <= other,
                (false, false) => key < other,
            }
        };
        let mut keys: Vec<(i64, i64)> = stored
            .iter()
            .filter(|(_, _, from_a, deleted)| {
                !deleted && query.from.as_ref().is_none_or(|f| (f.as_str() == "a") == *from_a)
            })
            .map(|(ms, id, _, _)| (*ms, *id))
            .filter(|key| query.after.is_none_or(|b| passes(*key, b, true)))
            .filter(|key| query.before.is_none_or(|b| passes(*key, b, false)))
            .collect();
        keys.sort_unstable();
        if query.newest_first {
            keys.reverse();
        }
        keys.into_iter().take(query.limit).map(|(_, id)| id).collect()
    }

    fn bound() -> impl Strategy<Value = Option<(i64, Option<usize>, bool)>> {
        // A time alone, or the time and ID of one of the messages (an index
        // into them, taken modulo their number).
        proptest::option::of((0i64..24, proptest::option::of(0usize..64), any::<bool>()))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Whatever order the messages are stored in (times going back,
        /// ties within a millisecond), every query of the conversation
        /// returns exactly what a scan of all its messages would.
        #[test]
        fn a_conversation_query_returns_what_a_full_scan_would(
            stored in proptest::collection::vec((0i64..20, 0i64..1_000, any::<bool>(), proptest::bool::weighted(0.1)), 0..60),
            queries in proptest::collection::vec(
                (bound(), bound(), any::<bool>(), 1usize..12, proptest::option::of(any::<bool>())), 1..12),
        ) {
            let mut conn = Connection::open_in_memory().unwrap();
            crate::migrate(&mut conn).unwrap();
            // Unique IDs in a random order: the drawn value, then the place.
            let stored: Vec<(i64, i64, bool, bool)> =
                stored.iter().enumerate().map(|(n, (ms, id, a, del))| (*ms, id * 64 + n as i64 + 1, *a, *del)).collect();
            let mut cache = WriterCache::default();
            for (ms, id, from_a, _) in &stored {
                appends::append(&conn, &mut cache, AppId(1), vec![message(*ms, *id, *from_a)]).unwrap();
            }
            for (_, id, _, deleted) in &stored {
                if *deleted {
                    conn.execute("UPDATE messages SET state = 3 WHERE id = ?1", params![id]).unwrap();
                }
            }
            let conversation = ConversationId(conn.query_row("SELECT id FROM conversations", [], |r| r.get(0)).unwrap_or(1));
            let to_bound = |b: Option<(i64, Option<usize>, bool)>| {
                b.map(|(ms, message, inclusive)| match message.filter(|_| !stored.is_empty()) {
                    Some(n) => {
                        let (ms, id, _, _) = stored[n % stored.len()];
                        TimeBound { ms, id: Some(MessageId(id as u64)), inclusive }
                    }
                    None => TimeBound { ms, id: None, inclusive },
                })
            };
            for (after, before, newest_first, limit, from) in queries {
                let query = MessageQuery {
                    conversation: Some(conversation),
                    from: from.map(|a| Username::parse(if a { "a" } else { "b" }).unwrap()),
                    after: to_bound(after),
                    before: to_bound(before),
                    newest_first,
                    limit,
                };
                let found: Vec<i64> =
                    conversation_messages(&conn, 1, conversation, &query).unwrap().iter().map(|m| m.id.0 as i64).collect();
                prop_assert_eq!(found, reference(&stored, &query), "{:?}", query);
            }
            // The writer kept the invariant the reads rely on.
            let in_order: Vec<(i64, i64)> = conn
                .prepare("SELECT created_ms, id FROM messages WHERE late = 0 ORDER BY seq").unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap()
                .collect::<rusqlite::Result<_>>().unwrap();
            prop_assert!(in_order.windows(2).all(|w| w[0] < w[1]));
        }

        /// The migration that introduced `late` marks an existing
        /// database's messages so that the invariant holds, and marks none
        /// of a conversation stored in time order.
        #[test]
        fn the_migration_marks_every_message_out_of_order(
            stored in proptest::collection::vec((0i64..3, 0i64..20, 0i64..1_000), 0..60),
        ) {
            let conn = Connection::open_in_memory().unwrap();
            let version = crate::MIGRATIONS.iter().position(|m| m.contains("ADD COLUMN late")).unwrap();
            for sql in &crate::MIGRATIONS[..version] {
                conn.execute_batch(sql).unwrap();
            }
            let mut seqs = [0i64; 3];
            for (n, (conv, ms, id)) in stored.iter().enumerate() {
                seqs[*conv as usize] += 1;
                conn.execute(
                    "INSERT INTO messages (id, app_id, conv_id, seq, chat_type, sender, target, body, created_ms, sync_sender) \
                     VALUES (?1, 1, ?2, ?3, 0, 'a', 'b', '{}', ?4, 0)",
                    params![id * 64 + n as i64 + 1, conv, seqs[*conv as usize], ms],
                ).unwrap();
            }
            conn.execute_batch(crate::MIGRATIONS[version]).unwrap();
            for conv in 0..3 {
                let rows: Vec<(i64, i64, bool)> = conn
                    .prepare("SELECT created_ms, id, late FROM messages WHERE conv_id = ?1 ORDER BY seq").unwrap()
                    .query_map([conv], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap()
                    .collect::<rusqlite::Result<_>>().unwrap();
                let mut newest = BEFORE_ALL;
                for (ms, id, late) in rows {
                    // Late exactly when older than a message before it.
                    prop_assert_eq!(late, (ms, id) < newest);
                    newest = newest.max((ms, id));
                }
            }
        }
    }
}
