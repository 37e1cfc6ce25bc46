-- Version 4: what happens to messages after they are sent, per-user
-- deletions, dialects' own message forms, per-app dialect credentials and
-- user profiles (the same model as SQLite's version 5; see edits.sql there).
ALTER TABLE messages ADD COLUMN original TEXT;
ALTER TABLE messages ADD COLUMN receivers JSONB;
ALTER TABLE messages ADD COLUMN state BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN state_by TEXT;
ALTER TABLE messages ADD COLUMN state_ms BIGINT NOT NULL DEFAULT 0;

CREATE TABLE hidden (
    app_id   BIGINT NOT NULL,
    username TEXT NOT NULL,
    conv_id  BIGINT NOT NULL,
    from_id  BIGINT NOT NULL,
    to_id    BIGINT NOT NULL
);
CREATE INDEX hidden_by_user ON hidden (app_id, username, conv_id);

ALTER TABLE apps ADD COLUMN credentials TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
