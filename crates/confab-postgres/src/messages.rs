//! Messages, memberships and cursors as the core reads them, in PostgreSQL.

use super::*;

pub(crate) const MEMBERSHIP_SELECT: &str =
    "SELECT m.conv_id, m.ack_seq, m.read_seq, c.last_seq, m.joined_seq, c.kind, m.joined_ms \
     FROM members m JOIN conversations c ON c.id = m.conv_id \
     WHERE m.app_id = $1 AND m.username = $2";

pub(crate) fn membership_row(row: &Row) -> Membership {
    Membership {
        conversation: ConversationId(row.get(0)),
        ack_seq: row.get(1),
        read_seq: row.get(2),
        last_seq: row.get(3),
        joined_seq: row.get(4),
        chat_type: ChatType::from_code(row.get(5)).unwrap_or(ChatType::Chat),
        joined_ms: row.get(6),
    }
}

/// What `unread_count` counts after `FROM members m`: messages from others
/// after the user's read cursor, for them, not recalled, deleted or hidden,
/// outside chat rooms (parameters: app, user, conversation or NULL).
const UNREAD: &str = "JOIN conversations c ON c.id = m.conv_id \
     JOIN messages g ON g.conv_id = m.conv_id AND g.seq > m.read_seq \
     WHERE m.app_id = $1 AND m.username = $2 AND ($3::BIGINT IS NULL OR m.conv_id = $3) \
     AND g.sender <> $2 AND c.kind <> 2 AND g.state < 2 \
     AND (g.receivers IS NULL OR g.receivers ? $2) \
     AND NOT EXISTS (SELECT 1 FROM hidden h WHERE h.app_id = $1 AND h.username = $2 \
         AND h.conv_id = g.conv_id AND g.id BETWEEN h.from_id AND h.to_id)";

#[async_trait]
impl MessageData for PostgresStore {
    fn commit_stats(&self) -> Option<std::sync::Arc<confab_core::activity::CommitStats>> {
        Some(self.commits.clone())
    }

    async fn append(&self, app: AppId, messages: Vec<NewMessage>) -> Result<Vec<Message>> {
        let (reply, answer) = oneshot::channel();
        self.appends.send(AppendJob { app, messages, reply }).await.map_err(|_| Error::Unavailable)?;
        answer.await.map_err(|_| Error::Unavailable)?
    }

    async fn max_message_id(&self) -> Result<Option<MessageId>> {
        let client = self.client().await?;
        let row = client.query_one("SELECT MAX(id) FROM messages", &[]).await.map_err(pg)?;
        Ok(row.get::<_, Option<i64>>(0).map(|id| MessageId(id as u64)))
    }

    async fn message(&self, app: AppId, id: MessageId) -> Result<Option<Message>> {
        let client = self.client().await?;
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND app_id = $2");
        client.query_opt(&sql, &[&(id.0 as i64), &app.0]).await.map_err(pg)?.as_ref().map(message_row).transpose()
    }

    async fn memberships(&self, app: AppId, user: &Username) -> Result<Vec<Membership>> {
        let client = self.client().await?;
        let rows = client.query(MEMBERSHIP_SELECT, &[&app.0, &user.as_str()]).await.map_err(pg)?;
        Ok(rows.iter().map(membership_row).collect())
    }

    async fn membership(
        &self,
        app: AppId,
        user: &Username,
        conversation: ConversationId,
    ) -> Result<Option<Membership>> {
        let client = self.client().await?;
        let sql = format!("{MEMBERSHIP_SELECT} AND m.conv_id = $3");
        Ok(client
            .query_opt(&sql, &[&app.0, &user.as_str(), &conversation.0])
            .await
            .map_err(pg)?
            .as_ref()
            .map(membership_row))
    }

    async fn messages_between(
        &self,
        app: AppId,
        conversation: ConversationId,
        after: i64,
        up_to: i64,
        limit: usize,
    ) -> Result<Vec<Message>> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages \
             WHERE conv_id = $1 AND app_id = $2 AND seq > $3 AND seq <= $4 ORDER BY seq LIMIT $5"
        );
        let rows = client.query(&sql, &[&conversation.0, &app.0, &after, &up_to, &(limit as i64)]).await.map_err(pg)?;
        rows.iter().map(message_row).collect()
    }

    async fn acknowledge(&self, app: AppId, user: &Username, conversation: ConversationId, seq: i64) -> Result<()> {
        let key = (app.0, user.as_str().to_owned(), conversation.0);
        self.cursors.send(CursorMove { key, ack: seq, read: 0 }).await.map_err(|_| Error::Unavailable)
    }

    async fn mark_read(&self, app: AppId, user: &Username, conversation: ConversationId, seq: i64) -> Result<()> {
        let key = (app.0, user.as_str().to_owned(), conversation.0);
        self.cursors.send(CursorMove { key, ack: seq, read: seq }).await.map_err(|_| Error::Unavailable)
    }

    async fn unacknowledged_count(&self, app: AppId, user: &Username) -> Result<u64> {
        let client = self.client().await?;
        let row = client
            .query_one(
                // Chat rooms keep no backlog for their members, so their messages
                // never wait for anyone.
                "SELECT COUNT(*) FROM members m JOIN conversations c ON c.id = m.conv_id \
                 JOIN messages g ON g.conv_id = m.conv_id AND g.seq > m.ack_seq \
                 WHERE m.app_id = $1 AND m.username = $2 AND g.sender <> $2 AND c.kind <> 2 AND g.state < 2 \
                 AND (g.receivers IS NULL OR g.receivers ? $2) \
                 AND NOT EXISTS (SELECT 1 FROM hidden h WHERE h.app_id = $1 AND h.username = $2 \
                     AND h.conv_id = g.conv_id AND g.id BETWEEN h.from_id AND h.to_id)",
                &[&app.0, &user.as_str()],
            )
            .await
            .map_err(pg)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn conversation(&self, app: AppId, kind: ChatType, key: &str) -> Result<Option<ConversationId>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT id FROM conversations WHERE app_id = $1 AND kind = $2 AND key = $3",
                &[&app.0, &kind.code(), &key],
            )
            .await
            .map_err(pg)?;
        Ok(row.map(|r| ConversationId(r.get(0))))
    }

    async fn message_at(&self, app: AppId, conversation: ConversationId, seq: i64) -> Result<Option<Message>> {
        let client = self.client().await?;
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE conv_id = $1 AND app_id = $2 AND seq = $3");
        client
            .query_opt(&sql, &[&conversation.0, &app.0, &seq])
            .await
            .map_err(pg)?
            .as_ref()
            .map(message_row)
            .transpose()
    }

    async fn change_message(&self, app: AppId, id: MessageId, change: MessageChange) -> Result<Option<Message>> {
        let client = self.client().await?;
        let id = id.0 as i64;
        let row = match change {
            MessageChange::Edit { body, ext, original, at_ms, max_edits } => {
                // The limit is checked in the UPDATE itself: the row lock
                // orders edits racing at the limit, and the later one sees it.
                let sql = format!(
                    "UPDATE messages SET body = $3, original = $4, state = 1, state_ms = $5, \
                     ext = COALESCE($6, ext), edits = edits + 1 \
                     WHERE id = $1 AND app_id = $2 AND ($7::BIGINT IS NULL OR edits < $7) RETURNING {MESSAGE_COLUMNS}"
                );
                let original = original.as_ref().map(confab_wire::original_string);
                let ext = ext.as_ref().map(serde_json::Value::to_string);
                let body = confab_wire::body_string(&body);
                let limit = max_edits.map(i64::from);
                let row = client.query_opt(&sql, &[&id, &app.0, &body, &original, &at_ms, &ext, &limit]).await;
                if let (Ok(None), Some(_)) = (&row, limit) {
                    let exists = client
                        .query_opt("SELECT 1 FROM messages WHERE id = $1 AND app_id = $2", &[&id, &app.0])
                        .await
                        .map_err(pg)?;
                    if exists.is_some() {
                        let why = confab_core::error::Refusal::EditLimit;
                        return Err(Error::Refused(confab_core::error::Refused::new(why)));
                    }
                }
                row
            }
            MessageChange::Recall { by, at_ms } => {
                let sql = format!(
                    "UPDATE messages SET state = 2, state_by = $3, state_ms = $4 \
                     WHERE id = $1 AND app_id = $2 RETURNING {MESSAGE_COLUMNS}"
                );
                client.query_opt(&sql, &[&id, &app.0, &by.as_str(), &at_ms]).await
            }
            MessageChange::Delete { at_ms } => {
                let sql = format!(
                    "UPDATE messages SET body = $3, ext = NULL, original = NULL, state = 3, state_ms = $4 \
                     WHERE id = $1 AND app_id = $2 RETURNING {MESSAGE_COLUMNS}"
                );
                let empty = confab_wire::body_string(&Body::Text { msg: String::new() });
                client.query_opt(&sql, &[&id, &app.0, &empty, &at_ms]).await
            }
        };
        row.map_err(pg)?.as_ref().map(message_row).transpose()
    }

    async fn hide_messages(&self, app: AppId, user: &Username, range: HiddenRange) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO hidden (app_id, username, conv_id, from_id, to_id) VALUES ($1, $2, $3, $4, $5)",
                &[&app.0, &user.as_str(), &range.conversation.0, &(range.from.0 as i64), &(range.to.0 as i64)],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    async fn hidden_ranges(&self, app: AppId, user: &Username) -> Result<Vec<HiddenRange>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT conv_id, from_id, to_id FROM hidden WHERE app_id = $1 AND username = $2",
                &[&app.0, &user.as_str()],
            )
            .await
            .map_err(pg)?;
        Ok(rows
            .iter()
            .map(|r| HiddenRange {
                conversation: ConversationId(r.get(0)),
                from: MessageId(r.get::<_, i64>(1) as u64),
                to: MessageId(r.get::<_, i64>(2) as u64),
            })
            .collect())
    }

    async fn messages_sent(
        &self,
        app: AppId,
        sent: std::ops::Range<i64>,
        after: Option<(i64, MessageId)>,
        limit: usize,
    ) -> Result<Vec<Message>> {
        let page = SentPage::new(&sent, after);
        let client = self.client().await?;
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE {}", page.condition());
        let (app_id, limit) = (app.0, limit as i64);
        let rows = client.query(&sql, &page.params(&app_id, &limit)).await.map_err(pg)?;
        rows.iter().map(message_row).collect()
    }

    async fn message_marks(
        &self,
        app: AppId,
        sent: std::ops::Range<i64>,
        after: Option<(i64, MessageId)>,
        limit: usize,
    ) -> Result<Vec<MessageMark>> {
        let page = SentPage::new(&sent, after);
        let client = self.client().await?;
        let sql = format!("SELECT id, created_ms, state, state_ms FROM messages WHERE {}", page.condition());
        let (app_id, limit) = (app.0, limit as i64);
        let rows = client.query(&sql, &page.params(&app_id, &limit)).await.map_err(pg)?;
        Ok(rows
            .iter()
            .map(|row| {
                let state: i64 = row.get(2);
                MessageMark {
                    id: MessageId(row.get::<_, i64>(0) as u64),
                    timestamp_ms: row.get(1),
                    state,
                    state_at_ms: if state == 0 { 0 } else { row.get(3) },
                }
            })
            .collect())
    }

    async fn query_messages(&self, app: AppId, query: MessageQuery) -> Result<Vec<Message>> {
        let client = self.client().await?;
        let mut sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE app_id = $1 AND state <> 3");
        let mut values: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(app.0)];
        // Adds a value and names its placeholder.
        fn bind(values: &mut Vec<Box<dyn ToSql + Sync + Send>>, value: Box<dyn ToSql + Sync + Send>) -> String {
            values.push(value);
            format!("${}", values.len())
        }
        if let Some(conversation) = query.conversation {
            let p = bind(&mut values, Box::new(conversation.0));
            sql.push_str(&format!(" AND conv_id = {p}"));
        }
        if let Some(from) = &query.from {
            let p = bind(&mut values, Box::new(from.as_str().to_owned()));
            sql.push_str(&format!(" AND sender = {p}"));
        }
        for (bound, greater) in [(query.after, true), (query.before, false)] {
            let Some(bound) = bound else { continue };
            let op = match (greater, bound.inclusive) {
                (true, true) => ">=",
                (true, false) => ">",
                (false, true) => "<=",
                (false, false) => "<",
            };
            let ms = bind(&mut values, Box::new(bound.ms));
            match bound.id {
                Some(id) => {
                    let id = bind(&mut values, Box::new(id.0 as i64));
                    sql.push_str(&format!(" AND (created_ms, id) {op} ({ms}, {id})"));
                }
                None => sql.push_str(&format!(" AND created_ms {op} {ms}")),
            }
        }
        let order = if query.newest_first { "DESC" } else { "ASC" };
        let limit = bind(&mut values, Box::new(query.limit as i64));
        sql.push_str(&format!(" ORDER BY created_ms {order}, id {order} LIMIT {limit}"));
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref() as &(dyn ToSql + Sync)).collect();
        let rows = client.query(&sql, &params).await.map_err(pg)?;
        rows.iter().map(message_row).collect()
    }

    async fn unread_count(&self, app: AppId, user: &Username, conversation: Option<ConversationId>) -> Result<u64> {
        let client = self.client().await?;
        let row = client
            .query_one(
                &format!("SELECT COUNT(*) FROM members m {UNREAD}"),
                &[&app.0, &user.as_str(), &conversation.map(|c| c.0)],
            )
            .await
            .map_err(pg)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn unread_count_up_to(&self, app: AppId, user: &Username, at_most: u64) -> Result<u64> {
        let client = self.client().await?;
        let row = client
            .query_one(
                &format!("SELECT COUNT(*) FROM (SELECT 1 FROM members m {UNREAD} LIMIT $4) u"),
                &[&app.0, &user.as_str(), &None::<i64>, &(at_most as i64)],
            )
            .await
            .map_err(pg)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn delivered_until(&self, app: AppId, user: &Username) -> Result<Option<i64>> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT MAX(g.created_ms) FROM members m \
                 JOIN messages g ON g.conv_id = m.conv_id AND g.seq = m.ack_seq \
                 WHERE m.app_id = $1 AND m.username = $2",
                &[&app.0, &user.as_str()],
            )
            .await
            .map_err(pg)?;
        Ok(row.get(0))
    }

    async fn join_from(
        &self,
        app: AppId,
        users: Vec<Username>,
        conversation: ConversationId,
        seq: i64,
        now_ms: i64,
    ) -> Result<()> {
        let client = self.client().await?;
        let names: Vec<&str> = users.iter().map(Username::as_str).collect();
        client
            .execute(
                "INSERT INTO members (app_id, username, conv_id, ack_seq, read_seq, joined_seq, joined_ms) \
                 SELECT $1, username, $3, $4, $4, $4, $5 FROM UNNEST($2::TEXT[]) AS u(username) \
                 ON CONFLICT DO NOTHING",
                &[&app.0, &names, &conversation.0, &(seq - 1), &now_ms],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    // `chat_type = 4` (broadcast) is written out, not bound, so the
    // partial index `app_wide_broadcasts` applies.
    async fn app_wide_broadcasts(&self, app: AppId, since_ms: i64) -> Result<Vec<Message>> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE app_id = $1 AND created_ms >= $2 \
             AND chat_type = 4 AND receivers IS NULL AND state < 2 ORDER BY conv_id, seq"
        );
        let rows = client.query(&sql, &[&app.0, &since_ms]).await.map_err(pg)?;
        rows.iter().map(message_row).collect()
    }
}

/// A page of an app's messages sent within a time range, by (time, ID),
/// after the previous page's last (time, ID).
///
/// PostgreSQL seeks an index by a row comparison such as `(created_ms, id) >
/// ($4, $5)`, but given that and a plain `created_ms >= $4` as well it may
/// enter the index at the looser of the two and filter from there (a quarter
/// of a second into ten million messages). So a page states one lower bound:
/// the previous page's last message, or the range's start.
struct SentPage {
    start: i64,
    end: i64,
    after: Option<(i64, i64)>,
}

impl SentPage {
    fn new(sent: &std::ops::Range<i64>, after: Option<(i64, MessageId)>) -> SentPage {
        let after = after.map(|(ms, id)| (ms, id.0 as i64)).filter(|(ms, _)| *ms >= sent.start);
        SentPage { start: sent.start, end: sent.end, after }
    }

    /// The condition, order and limit: `$1` app, `$2` limit, `$3` end, then the lower bound.
    fn condition(&self) -> &'static str {
        match self.after {
            Some(_) => {
                "app_id = $1 AND created_ms < $3 AND (created_ms, id) > ($4, $5) ORDER BY created_ms, id LIMIT $2"
            }
            None => "app_id = $1 AND created_ms < $3 AND created_ms >= $4 ORDER BY created_ms, id LIMIT $2",
        }
    }

    fn params<'a>(&'a self, app: &'a i64, limit: &'a i64) -> Vec<&'a (dyn ToSql + Sync)> {
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![app, limit, &self.end];
        match &self.after {
            Some((ms, id)) => params.extend([ms as &(dyn ToSql + Sync), id]),
            None => params.push(&self.start),
        }
        params
    }
}
