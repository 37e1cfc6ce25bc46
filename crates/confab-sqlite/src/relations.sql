-- Version 6: contacts and block lists (kind 0 contact, 1 block; a contact is
-- stored both ways), app-wide mutes per kind of conversation, and users' push settings.
CREATE TABLE relations (
    app_id     INTEGER NOT NULL,
    owner      TEXT NOT NULL,
    kind       INTEGER NOT NULL,
    other      TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (app_id, owner, kind, other)
) WITHOUT ROWID;
CREATE INDEX relations_by_kind ON relations (app_id, kind);

-- until_ms: when the mute lapses (i64::MAX: never).
CREATE TABLE global_mutes (
    app_id    INTEGER NOT NULL,
    username  TEXT NOT NULL,
    chat_type INTEGER NOT NULL,
    until_ms  INTEGER NOT NULL,
    PRIMARY KEY (app_id, username, chat_type)
) WITHOUT ROWID;

-- Users' offline-push settings (JSON), and a way to sum attributes' sizes.
ALTER TABLE users ADD COLUMN push TEXT NOT NULL DEFAULT '{}';
