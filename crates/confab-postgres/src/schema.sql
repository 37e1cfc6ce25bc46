-- confab PostgreSQL schema, version 1 (the same model as the SQLite one).
CREATE TABLE apps (
    id            BIGSERIAL PRIMARY KEY,
    uuid          TEXT NOT NULL UNIQUE,
    org           TEXT NOT NULL,
    name          TEXT NOT NULL,
    client_id     TEXT NOT NULL UNIQUE,
    client_secret TEXT NOT NULL,
    signing_key   BYTEA NOT NULL,
    created_ms    BIGINT NOT NULL,
    rate_limits   TEXT NOT NULL DEFAULT '{}',
    UNIQUE (org, name)
);

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    app_id        BIGINT NOT NULL,
    username      TEXT NOT NULL,
    uuid          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    nickname      TEXT,
    activated     BOOLEAN NOT NULL,
    generation    BIGINT NOT NULL,
    created_ms    BIGINT NOT NULL,
    modified_ms   BIGINT NOT NULL,
    UNIQUE (app_id, username)
);

CREATE TABLE conversations (
    id         BIGSERIAL PRIMARY KEY,
    app_id     BIGINT NOT NULL,
    kind       BIGINT NOT NULL,
    key        TEXT NOT NULL,
    last_seq   BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (app_id, kind, key)
);

CREATE TABLE members (
    app_id   BIGINT NOT NULL,
    username TEXT NOT NULL,
    conv_id  BIGINT NOT NULL,
    ack_seq  BIGINT NOT NULL,
    read_seq BIGINT NOT NULL,
    joined_seq BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, username, conv_id)
);

CREATE TABLE messages (
    id            BIGINT PRIMARY KEY,
    app_id        BIGINT NOT NULL,
    conv_id       BIGINT NOT NULL,
    seq           BIGINT NOT NULL,
    chat_type     BIGINT NOT NULL,
    sender        TEXT NOT NULL,
    target        TEXT NOT NULL,
    body          TEXT NOT NULL,
    ext           TEXT,
    created_ms    BIGINT NOT NULL,
    sync_sender   BOOLEAN NOT NULL,
    origin_device TEXT
);
CREATE UNIQUE INDEX messages_by_conversation ON messages (conv_id, seq);
