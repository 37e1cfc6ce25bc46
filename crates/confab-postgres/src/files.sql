-- Version 6 (SQLite: 7): files (their bytes are in the blob store under a name the
-- server made), and messages by time for the history export.
CREATE TABLE files (
    app_id       BIGINT NOT NULL,
    uuid         TEXT NOT NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    secret       TEXT NOT NULL,
    restricted   BOOLEAN NOT NULL,
    created_ms   BIGINT NOT NULL,
    PRIMARY KEY (app_id, uuid)
);

CREATE INDEX messages_by_time ON messages (app_id, created_ms, id);
