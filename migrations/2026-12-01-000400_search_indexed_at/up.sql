-- When each vector was computed. The background indexer takes a queued document only when its
-- vector is at least the settling delay old: a document edited without pause kept a queue
-- entry whose `queued_at` (its first unindexed change) stayed in the past, since every round
-- found the entry renumbered by a newer save and left it, and so was re-indexed on every
-- round (every 200 ms) instead of about once per delay.
ALTER TABLE file_search ADD COLUMN indexed_at timestamptz NOT NULL DEFAULT now();
