-- confab SQLite schema, version 1. Every table that holds app data carries
-- app_id and every query filters on it.

CREATE TABLE apps (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid          TEXT NOT NULL UNIQUE,
    org           TEXT NOT NULL,
    name          TEXT NOT NULL,
    client_id     TEXT NOT NULL UNIQUE,
    client_secret TEXT NOT NULL,
    signing_key   BLOB NOT NULL,
    created_ms    INTEGER NOT NULL,
    UNIQUE (org, name)
);

-- `id` orders users by creation and is the paging cursor.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id        INTEGER NOT NULL,
    username      TEXT NOT NULL,
    uuid          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    nickname      TEXT,
    activated     INTEGER NOT NULL,
    generation    INTEGER NOT NULL,
    created_ms    INTEGER NOT NULL,
    modified_ms   INTEGER NOT NULL,
    UNIQUE (app_id, username)
);

-- kind: 0 one-to-one, 1 group, 2 chat room. `key` names the conversation
-- within its kind (for one-to-one, the two user IDs in order).
CREATE TABLE conversations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id     INTEGER NOT NULL,
    kind       INTEGER NOT NULL,
    key        TEXT NOT NULL,
    last_seq   INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    UNIQUE (app_id, kind, key)
);

-- A user's cursors in a conversation: one row per member, not per message.
CREATE TABLE members (
    app_id   INTEGER NOT NULL,
    username TEXT NOT NULL,
    conv_id  INTEGER NOT NULL,
    ack_seq  INTEGER NOT NULL,
    read_seq INTEGER NOT NULL,
    PRIMARY KEY (app_id, username, conv_id)
) WITHOUT ROWID;

-- Each message is stored once. `id` is the 64-bit time-ordered message ID.
CREATE TABLE messages (
    id            INTEGER PRIMARY KEY,
    app_id        INTEGER NOT NULL,
    conv_id       INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    chat_type     INTEGER NOT NULL,
    sender        TEXT NOT NULL,
    target        TEXT NOT NULL,
    body          TEXT NOT NULL,
    ext           TEXT,
    created_ms    INTEGER NOT NULL,
    sync_sender   INTEGER NOT NULL,
    origin_device TEXT
);
CREATE UNIQUE INDEX messages_by_conversation ON messages (conv_id, seq);
