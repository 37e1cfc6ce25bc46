-- Version 12 (SQLite: 13): the server's operators (console sign-in) and the
-- audit log of what they did (confab_core::operators). Not per app.
CREATE TABLE operators (
    name          TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    changed_ms    BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id       BIGSERIAL PRIMARY KEY,
    at_ms    BIGINT NOT NULL,
    operator TEXT NOT NULL,
    app      TEXT,
    action   TEXT NOT NULL,
    target   TEXT,
    detail   TEXT
);
