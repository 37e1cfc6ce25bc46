-- Version 7: files (their bytes are in the blob store under a name the
-- server made), and messages by time for the history export.
CREATE TABLE files (
    app_id       INTEGER NOT NULL,
    uuid         TEXT NOT NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    secret       TEXT NOT NULL,
    restricted   INTEGER NOT NULL,
    created_ms   INTEGER NOT NULL,
    PRIMARY KEY (app_id, uuid)
) WITHOUT ROWID;

CREATE INDEX messages_by_time ON messages (app_id, created_ms, id);
