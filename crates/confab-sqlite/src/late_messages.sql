-- Version 18: a conversation's history is read through its sequence index.
-- Nearly every message is stored in time order (by time, then ID) within
-- its conversation, so `messages_by_conversation` already gives time order;
-- only a message stored older than one before it (an import's time) breaks
-- it. Those are marked `late` and kept in a partial index, and the full
-- per-conversation time index goes: each message's entry in it was one more
-- page rewritten per conversation in a commit (docs/benchmarks.md, issue 18,
-- a conversation's time index). See history.rs for how reads combine the two.
ALTER TABLE messages ADD COLUMN late INTEGER NOT NULL DEFAULT 0;

-- A message is late when it sorts before any earlier message of its
-- conversation. Keys are compared as zero-padded text, which orders
-- non-negative pairs as numbers; a negative time or ID is marked late, which
-- is always safe (only the messages not marked must be in order).
UPDATE messages SET late = 1 WHERE id IN (
    SELECT id FROM (
        SELECT id, created_ms < 0 OR id < 0
            OR printf('%020d %020d', created_ms, id) < MAX(printf('%020d %020d', created_ms, id)) OVER (
                PARTITION BY conv_id ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
            ) AS out_of_order
        FROM messages
    ) WHERE out_of_order
);

CREATE INDEX late_messages ON messages (conv_id, created_ms, id) WHERE late = 1;
DROP INDEX messages_by_conversation_time;
