-- A feed of indexed documents for derived search indexes (the embedded tantivy index of each
-- mdz process): every write of a row of `file_search` stamps it with the writing transaction's
-- id. A reader remembers the oldest transaction still running when it last read
-- (`pg_snapshot_xmin`) and next reads the rows stamped with that id or later: a row committed
-- late by an old transaction is still seen, and nothing is consumed, so any number of
-- processes follow the feed, each at its own pace.
ALTER TABLE file_search ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX file_search_xid_idx ON file_search (xid, file_id);
