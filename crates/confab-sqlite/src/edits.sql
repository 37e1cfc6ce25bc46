-- Version 5: what happens to messages after they are sent, per-user
-- deletions, dialects' own message forms, and per-app dialect credentials.

-- `original`: the content as the sending dialect received it (JSON), when
-- its form holds more than `body`. `receivers`: JSON list of the members a
-- message is for, when not all of them. `state`: 0 normal, 1 edited,
-- 2 recalled, 3 deleted; `state_by`/`state_ms`: who changed it and when.
ALTER TABLE messages ADD COLUMN original TEXT;
ALTER TABLE messages ADD COLUMN receivers TEXT;
ALTER TABLE messages ADD COLUMN state INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN state_by TEXT;
ALTER TABLE messages ADD COLUMN state_ms INTEGER NOT NULL DEFAULT 0;

-- Messages hidden from one user only, as ranges of message IDs (IDs grow
-- with time, so "everything between two instants" is one row).
CREATE TABLE hidden (
    app_id   INTEGER NOT NULL,
    username TEXT NOT NULL,
    conv_id  INTEGER NOT NULL,
    from_id  INTEGER NOT NULL,
    to_id    INTEGER NOT NULL
);
CREATE INDEX hidden_by_user ON hidden (app_id, username, conv_id);

ALTER TABLE apps ADD COLUMN credentials TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
