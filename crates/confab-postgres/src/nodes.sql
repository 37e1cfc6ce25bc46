-- Leases on node IDs (the 10 node bits of message IDs). A node holds its
-- ID while it renews the lease; an expired lease may be taken by another.
CREATE TABLE confab_nodes (
    node_id    INTEGER PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
