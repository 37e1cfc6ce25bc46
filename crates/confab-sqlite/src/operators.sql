-- Version 13: the server's operators (console sign-in) and the audit log of
-- what they did (confab_core::operators). Not per app.
CREATE TABLE operators (
    name          TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_ms    INTEGER NOT NULL,
    changed_ms    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms    INTEGER NOT NULL,
    operator TEXT NOT NULL,
    app      TEXT,
    action   TEXT NOT NULL,
    target   TEXT,
    detail   TEXT
);
