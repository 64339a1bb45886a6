DROP INDEX files_search_idx;
ALTER TABLE files DROP COLUMN search;
