-- Version 12: how often a message's content was edited (Easemob's SDK
-- shows the count, and the vendor caps it).
ALTER TABLE messages ADD COLUMN edits INTEGER NOT NULL DEFAULT 0;
