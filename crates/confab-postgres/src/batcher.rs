//! The append batcher: every waiting append of this node in one transaction.

use super::*;

/// Takes every append that is waiting (up to [`MAX_BATCH`]) and commits them
/// in one transaction: one commit, one sequence update per conversation and
/// one multi-row insert, however many callers. If the transaction fails,
/// every caller in it gets the error and nothing of the batch is stored.
///
/// A node has one batcher, so one append transaction in flight: appends that
/// arrive during a commit wait and form the next, larger batch. Measured
/// against four batchers per node (docs/benchmarks.md), one gave more sends
/// per second and lower latency, alone and in a cluster, where the database's
/// concurrent transactions add up over the nodes.
pub(crate) async fn run_batcher(pool: Pool, mut queue: mpsc::Receiver<AppendJob>, stats: Arc<CommitStats>) {
    loop {
        let Some(first) = queue.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let jobs: Vec<(AppId, &[NewMessage])> = batch.iter().map(|j| (j.app, j.messages.as_slice())).collect();
        let started = std::time::Instant::now();
        match commit_batch(&pool, &jobs).await {
            Ok(mut stored) => {
                stats.committed(batch.len(), started.elapsed().as_secs_f64());
                for job in batch.into_iter().rev() {
                    let mine = stored.split_off(stored.len() - job.messages.len());
                    let _ = job.reply.send(Ok(mine));
                }
            }
            Err(e) => {
                stats.failed();
                tracing::warn!("postgres append batch of {} failed: {e}", batch.len());
                for job in batch {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Commits the messages of several appends; returns them stored, in order.
pub(crate) async fn commit_batch(pool: &Pool, jobs: &[(AppId, &[NewMessage])]) -> Result<Vec<Message>> {
    let all: Vec<(AppId, &NewMessage)> =
        jobs.iter().flat_map(|(app, messages)| messages.iter().map(move |m| (*app, m))).collect();
    // Conversations in one global order, so concurrent batches take their
    // row locks in the same order and cannot deadlock.
    let mut conversations: BTreeMap<(i64, i64, &str), Vec<usize>> = BTreeMap::new();
    for (index, (app, m)) in all.iter().enumerate() {
        conversations.entry((app.0, m.chat_type.code(), m.conversation_key.as_str())).or_default().push(index);
    }

    // Column arrays of the batch's conversations, in lock order.
    let mut apps = Vec::with_capacity(conversations.len());
    let mut kinds = Vec::with_capacity(conversations.len());
    let mut keys = Vec::with_capacity(conversations.len());
    let mut counts = Vec::with_capacity(conversations.len());
    let mut created_at = Vec::with_capacity(conversations.len());
    for ((app, kind, key), indexes) in &conversations {
        apps.push(*app);
        kinds.push(*kind);
        keys.push(key.to_string());
        counts.push(indexes.len() as i64);
        created_at.push(all[indexes[0]].1.timestamp_ms);
    }

    let mut client = pool.get().await.map_err(|e| Error::Storage(format!("postgres: {e}")))?;
    let tx = client.transaction().await.map_err(pg)?;
    // One statement creates the new conversations and reserves every
    // conversation's sequence numbers. Rows are upserted in key order, so
    // concurrent batches take their row locks in the same order and cannot
    // deadlock; the locks are held until the commit. A row inserted here has
    // xmax = 0, which tells new conversations (their members join) apart.
    let reserve = tx
        .prepare_cached(
            "INSERT INTO conversations AS c (app_id, kind, key, last_seq, created_ms) \
             SELECT app_id, kind, key, n, created_ms \
             FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[]) \
                  AS v(app_id, kind, key, n, created_ms) \
             ORDER BY app_id, kind, key \
             ON CONFLICT (app_id, kind, key) DO UPDATE SET last_seq = c.last_seq + EXCLUDED.last_seq \
             RETURNING c.app_id, c.kind, c.key, c.id, c.last_seq, (c.xmax = 0) AS created",
        )
        .await
        .map_err(pg)?;
    let mut reserved: BTreeMap<(i64, i64, String), (i64, i64)> = BTreeMap::new();
    let mut created = std::collections::BTreeSet::new();
    for row in tx.query(&reserve, &[&apps, &kinds, &keys, &counts, &created_at]).await.map_err(pg)? {
        let key: (i64, i64, String) = (row.get(0), row.get(1), row.get(2));
        if row.get::<_, bool>(5) {
            created.insert(key.clone());
        }
        reserved.insert(key, (row.get(3), row.get(4)));
    }

    // Conversation and sequence number of every message, by position in `all`.
    let mut placed = vec![(0i64, 0i64); all.len()];
    let (mut member_apps, mut member_names, mut member_convs) = (Vec::new(), Vec::new(), Vec::new());
    for ((app, kind, key), indexes) in &conversations {
        let owned = (*app, *kind, key.to_string());
        let (conv, last) =
            *reserved.get(&owned).ok_or_else(|| Error::Storage(format!("conversation {key} was not reserved")))?;
        if created.contains(&owned) {
            for member in &all[indexes[0]].1.members {
                member_apps.push(*app);
                member_names.push(member.as_str().to_owned());
                member_convs.push(conv);
            }
        }
        let start = last - indexes.len() as i64;
        for (offset, index) in indexes.iter().enumerate() {
            placed[*index] = (conv, start + 1 + offset as i64);
        }
    }
    if !member_apps.is_empty() {
        let join = tx
            .prepare_cached(
                "INSERT INTO members (app_id, username, conv_id, ack_seq, read_seq) \
                 SELECT app_id, username, conv_id, 0, 0 \
                 FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[]) AS m(app_id, username, conv_id) \
                 ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(pg)?;
        tx.execute(&join, &[&member_apps, &member_names, &member_convs]).await.map_err(pg)?;
    }

    // A multicast's receivers, or a broadcast's every user, become members
    // from just before their message: in message order, so the first wins.
    for ((app, m), (conv, seq)) in all.iter().zip(&placed) {
        match &m.audience {
            Audience::Members | Audience::Only(_) => {}
            Audience::Join(users) => {
                let names: Vec<&str> = users.iter().map(Username::as_str).collect();
                tx.execute(
                    "INSERT INTO members (app_id, username, conv_id, ack_seq, read_seq, joined_seq, joined_ms) \
                     SELECT $1, username, $3, $4, $4, $4, $5 FROM UNNEST($2::TEXT[]) AS u(username) \
                     ON CONFLICT DO NOTHING",
                    &[&app.0, &names, conv, &(seq - 1), &m.timestamp_ms],
                )
                .await
                .map_err(pg)?;
            }
            Audience::AllUsers => {
                tx.execute(
                    "INSERT INTO members (app_id, username, conv_id, ack_seq, read_seq, joined_seq, joined_ms) \
                     SELECT $1, username, $2, $3, $3, $3, $4 FROM users WHERE app_id = $1 ON CONFLICT DO NOTHING",
                    &[&app.0, conv, &(seq - 1), &m.timestamp_ms],
                )
                .await
                .map_err(pg)?;
            }
        }
    }

    let mut columns = MessageColumns::default();
    for ((app, m), (conv, seq)) in all.iter().zip(&placed) {
        columns.push(*app, m, *conv, *seq)?;
    }
    let insert = tx
        .prepare_cached(&format!(
            "INSERT INTO messages ({NEW_MESSAGE_COLUMNS}) SELECT * FROM UNNEST(\
             $1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[], $6::TEXT[], $7::TEXT[], \
             $8::TEXT[], $9::TEXT[], $10::BIGINT[], $11::BOOLEAN[], $12::TEXT[], $13::TEXT[], $14::JSONB[], \
             $15::BIGINT[], $16::TEXT[], $17::BIGINT[])"
        ))
        .await
        .map_err(pg)?;
    let c = &columns;
    tx.execute(
        &insert,
        &[
            &c.id,
            &c.app,
            &c.conv,
            &c.seq,
            &c.kind,
            &c.sender,
            &c.target,
            &c.body,
            &c.ext,
            &c.created,
            &c.sync,
            &c.device,
            &c.original,
            &c.receivers,
            &c.state,
            &c.state_by,
            &c.state_ms,
        ],
    )
    .await
    .map_err(pg)?;
    tx.commit().await.map_err(pg)?;

    Ok(all
        .iter()
        .zip(placed)
        .map(|((app, m), (conv, seq))| Message {
            id: m.id,
            app: *app,
            conversation: ConversationId(conv),
            seq,
            chat_type: m.chat_type,
            from: m.from.clone(),
            to: m.to.clone(),
            body: m.body.clone(),
            ext: m.ext.clone(),
            timestamp_ms: m.timestamp_ms,
            sync_sender: m.sync_sender,
            origin_device: m.origin_device.clone(),
            original: m.original.clone(),
            receivers: m.audience.receivers(),
            state: MessageState::Normal,
        })
        .collect())
}

/// Message rows as column arrays, for one `INSERT … SELECT * FROM UNNEST(…)`.
#[derive(Default)]
pub(crate) struct MessageColumns {
    id: Vec<i64>,
    app: Vec<i64>,
    conv: Vec<i64>,
    seq: Vec<i64>,
    kind: Vec<i64>,
    sender: Vec<String>,
    target: Vec<String>,
    body: Vec<String>,
    ext: Vec<Option<String>>,
    created: Vec<i64>,
    sync: Vec<bool>,
    device: Vec<Option<String>>,
    original: Vec<Option<String>>,
    receivers: Vec<Option<serde_json::Value>>,
    state: Vec<i64>,
    state_by: Vec<Option<String>>,
    state_ms: Vec<i64>,
}

impl MessageColumns {
    fn push(&mut self, app: AppId, m: &NewMessage, conv: i64, seq: i64) -> Result<()> {
        self.id.push(m.id.0 as i64);
        self.app.push(app.0);
        self.conv.push(conv);
        self.seq.push(seq);
        self.kind.push(m.chat_type.code());
        self.sender.push(m.from.as_str().to_owned());
        self.target.push(m.to.clone());
        self.body.push(confab_wire::body_string(&m.body));
        self.ext.push(m.ext.as_ref().map(json).transpose()?);
        self.created.push(m.timestamp_ms);
        self.sync.push(m.sync_sender);
        self.device.push(m.origin_device.clone());
        self.original.push(m.original.as_ref().map(confab_wire::original_string));
        let receivers = m.audience.receivers().map(serde_json::to_value).transpose();
        self.receivers.push(receivers.map_err(|e| Error::Storage(format!("cannot encode: {e}")))?);
        self.state.push(0);
        self.state_by.push(None);
        self.state_ms.push(0);
        Ok(())
    }
}
