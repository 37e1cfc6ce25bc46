-- Version 3: groups, chat rooms and threads (the same model as SQLite's
-- version 4). Each is a conversation (kind 1, 2 or 3; key = its public ID)
-- with a row here; its members are the conversation's membership rows, now
-- with a role and a joining time.
ALTER TABLE members ADD COLUMN role BIGINT NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN joined_ms BIGINT NOT NULL DEFAULT 0;
CREATE INDEX members_by_conversation ON members (conv_id, joined_ms, username);

-- `version` moves with every change, so caches on any node see staleness;
-- `member_count` is kept here so a send need not count members. A change
-- locks its group's row, which serialises the changes of one group across
-- nodes.
CREATE TABLE groups (
    conv_id      BIGINT PRIMARY KEY,
    app_id       BIGINT NOT NULL,
    kind         BIGINT NOT NULL,
    gid          TEXT NOT NULL,
    owner        TEXT NOT NULL,
    settings     TEXT NOT NULL,
    mute_all     BOOLEAN NOT NULL DEFAULT FALSE,
    parent       TEXT,
    parent_msg   BIGINT,
    created_ms   BIGINT NOT NULL,
    member_count BIGINT NOT NULL,
    version      BIGINT NOT NULL,
    UNIQUE (app_id, kind, gid)
);
CREATE INDEX groups_by_parent ON groups (app_id, parent) WHERE parent IS NOT NULL;

-- list: 0 block, 1 allow, 2 mute. until_ms is when a mute lapses.
CREATE TABLE group_lists (
    conv_id    BIGINT NOT NULL,
    list       BIGINT NOT NULL,
    username   TEXT NOT NULL,
    until_ms   BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (conv_id, list, username)
);

CREATE TABLE room_attributes (
    conv_id     BIGINT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    owner       TEXT NOT NULL,
    auto_delete BOOLEAN NOT NULL,
    PRIMARY KEY (conv_id, key)
);
