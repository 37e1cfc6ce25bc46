-- A conversation's history is read newest first by time (imports may carry
-- older times than their sequence numbers say): without this index the
-- newest 50 of one conversation scanned the app's messages by time, 0.4 s
-- at a million stored messages (docs/benchmarks.md, history at scale).
CREATE INDEX messages_by_conversation_time ON messages (conv_id, created_ms, id);
