-- Version 17: a conversation's latest sequence number is no longer stored.
-- It is the largest `seq` of its messages, one seek into
-- `messages_by_conversation` (messages are never deleted, only marked), and
-- storing it rewrote a random `conversations` page into the WAL for every
-- conversation that had a message in a commit (docs/benchmarks.md, issue 18,
-- the writer's pages per message).
ALTER TABLE conversations DROP COLUMN last_seq;
