//! The cursor writer: delivery and read cursors, coalesced and written in batches.

use super::*;

/// Writes delivery and read cursors in batches: every move waiting is folded
/// into one `UPDATE` (the highest value per user and conversation wins).
///
/// Acknowledgements are the most frequent write there is, so they are
/// answered once queued and committed without waiting for the disk
/// (`synchronous_commit` off). That is safe because cursors only move
/// forward and a lost move only means a message is offered again, which the
/// device recognises by its sequence number.
pub(crate) async fn run_cursor_writer(pool: Pool, mut queue: mpsc::Receiver<CursorMove>) {
    while let Some(first) = queue.recv().await {
        let mut latest: BTreeMap<(i64, String, i64), (i64, i64)> = BTreeMap::new();
        let mut next = Some(first);
        while let Some(CursorMove { key, ack, read }) = next.take() {
            let entry = latest.entry(key).or_insert((0, 0));
            *entry = (entry.0.max(ack), entry.1.max(read));
            if latest.len() < 4096 {
                next = queue.try_recv().ok();
            }
        }
        if let Err(e) = write_cursors(&pool, latest).await {
            tracing::warn!("writing delivery cursors failed: {e}");
        }
    }
}

pub(crate) async fn write_cursors(pool: &Pool, latest: BTreeMap<(i64, String, i64), (i64, i64)>) -> Result<()> {
    let (mut apps, mut users, mut convs, mut acks, mut reads) = (vec![], vec![], vec![], vec![], vec![]);
    for ((app, user, conv), (ack, read)) in latest {
        apps.push(app);
        users.push(user);
        convs.push(conv);
        acks.push(ack);
        reads.push(read);
    }
    let mut client = pool.get().await.map_err(|e| Error::Storage(format!("postgres: {e}")))?;
    let tx = client.transaction().await.map_err(pg)?;
    tx.batch_execute("SET LOCAL synchronous_commit TO OFF").await.map_err(pg)?;
    // Never past a conversation's end, so no future message counts as delivered.
    let update = tx
        .prepare_cached(
            "UPDATE members m SET \
               ack_seq = GREATEST(m.ack_seq, LEAST(v.ack, c.last_seq)), \
               read_seq = GREATEST(m.read_seq, LEAST(v.read, c.last_seq)) \
             FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[]) \
               AS v(app_id, username, conv_id, ack, read) \
             JOIN conversations c ON c.id = v.conv_id \
             WHERE m.app_id = v.app_id AND m.username = v.username AND m.conv_id = v.conv_id",
        )
        .await
        .map_err(pg)?;
    tx.execute(&update, &[&apps, &users, &convs, &acks, &reads]).await.map_err(pg)?;
    tx.commit().await.map_err(pg)
}
