-- Version 11: apps' key-value settings (confab_core::settings): state a
-- dialect or feature keeps that nothing else interprets.
CREATE TABLE settings (
    app_id     INTEGER NOT NULL,
    namespace  TEXT NOT NULL,
    owner      TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (app_id, namespace, owner, key)
) WITHOUT ROWID;
