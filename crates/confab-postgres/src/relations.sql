-- Version 5 (SQLite: 6): contacts and block lists (kind 0 contact, 1 block; a contact is
-- stored both ways), app-wide mutes per kind of conversation, and users' push settings.
CREATE TABLE relations (
    app_id     BIGINT NOT NULL,
    owner      TEXT NOT NULL,
    kind       BIGINT NOT NULL,
    other      TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, owner, kind, other)
);
CREATE INDEX relations_by_kind ON relations (app_id, kind);

-- until_ms: when the mute lapses (i64::MAX: never).
CREATE TABLE global_mutes (
    app_id    BIGINT NOT NULL,
    username  TEXT NOT NULL,
    chat_type BIGINT NOT NULL,
    until_ms  BIGINT NOT NULL,
    PRIMARY KEY (app_id, username, chat_type)
);

-- Users' offline-push settings (JSON), and a way to sum attributes' sizes.
ALTER TABLE users ADD COLUMN push TEXT NOT NULL DEFAULT '{}';
