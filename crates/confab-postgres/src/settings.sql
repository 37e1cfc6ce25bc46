-- Version 10 (SQLite: 11): apps' key-value settings (confab_core::settings):
-- state a dialect or feature keeps that nothing else interprets.
CREATE TABLE settings (
    app_id     BIGINT NOT NULL,
    namespace  TEXT NOT NULL,
    owner      TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, namespace, owner, key)
);
