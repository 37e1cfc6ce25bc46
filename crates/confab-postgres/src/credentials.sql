-- Version 8: every dialect credential belongs to one app. WildfireChat finds
-- an app by its secret and LeanCloud by its app ID, so a value two apps
-- share would let one tenant act as the other. `apps.credentials` stays the
-- record the code reads; this table makes the database refuse duplicates.
CREATE TABLE app_credentials (
    name   TEXT NOT NULL,
    value  TEXT NOT NULL,
    app_id BIGINT NOT NULL REFERENCES apps (id),
    PRIMARY KEY (name, value)
);
CREATE INDEX app_credentials_by_app ON app_credentials (app_id);
-- Existing values: the oldest app keeps a shared one; later apps lose it and
-- must be given their own (`confab app rotate`).
INSERT INTO app_credentials (name, value, app_id)
    SELECT j.key, j.value, a.id FROM apps a, jsonb_each_text(a.credentials::jsonb) j ORDER BY a.id
    ON CONFLICT DO NOTHING;
UPDATE apps SET credentials = COALESCE(
    (SELECT jsonb_object_agg(c.name, c.value) FROM app_credentials c WHERE c.app_id = apps.id), '{}'::jsonb)::text;
