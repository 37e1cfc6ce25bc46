-- Version 4: groups, chat rooms and threads. Each is a conversation (kind 1,
-- 2 or 3; key = its public ID) with a row here; its members are the
-- conversation's membership rows, now with a role and a joining time.
ALTER TABLE members ADD COLUMN role INTEGER NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN joined_ms INTEGER NOT NULL DEFAULT 0;
CREATE INDEX members_by_conversation ON members (conv_id, joined_ms, username);

-- `version` moves with every change, so caches on any node see staleness;
-- `member_count` is kept here so a send need not count members.
CREATE TABLE groups (
    conv_id      INTEGER PRIMARY KEY,
    app_id       INTEGER NOT NULL,
    kind         INTEGER NOT NULL,
    gid          TEXT NOT NULL,
    owner        TEXT NOT NULL,
    settings     TEXT NOT NULL,
    mute_all     INTEGER NOT NULL DEFAULT 0,
    parent       TEXT,
    parent_msg   INTEGER,
    created_ms   INTEGER NOT NULL,
    member_count INTEGER NOT NULL,
    version      INTEGER NOT NULL,
    UNIQUE (app_id, kind, gid)
);
CREATE INDEX groups_by_parent ON groups (app_id, parent) WHERE parent IS NOT NULL;

-- list: 0 block, 1 allow, 2 mute. until_ms is when a mute lapses.
CREATE TABLE group_lists (
    conv_id    INTEGER NOT NULL,
    list       INTEGER NOT NULL,
    username   TEXT NOT NULL,
    until_ms   INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (conv_id, list, username)
) WITHOUT ROWID;

CREATE TABLE room_attributes (
    conv_id     INTEGER NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    owner       TEXT NOT NULL,
    auto_delete INTEGER NOT NULL,
    PRIMARY KEY (conv_id, key)
) WITHOUT ROWID;
