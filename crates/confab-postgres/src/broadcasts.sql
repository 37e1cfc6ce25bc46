-- Version 9: messages to every member of a broadcast conversation (kind 4,
-- no chosen receivers), by time: users first seen after a broadcast that is
-- still deliverable join from it, and the list of those is read from here.
CREATE INDEX app_wide_broadcasts ON messages (app_id, created_ms) WHERE chat_type = 4 AND receivers IS NULL;
