DROP INDEX file_search_xid_idx;
ALTER TABLE file_search DROP COLUMN xid;
