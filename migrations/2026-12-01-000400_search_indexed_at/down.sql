ALTER TABLE file_search DROP COLUMN indexed_at;
