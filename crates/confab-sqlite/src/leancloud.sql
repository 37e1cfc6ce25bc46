-- Version 8: when each user last logged in (LeanCloud's daily active users).
ALTER TABLE users ADD COLUMN last_login_ms INTEGER NOT NULL DEFAULT 0;
CREATE INDEX users_by_login ON users (app_id, last_login_ms);
