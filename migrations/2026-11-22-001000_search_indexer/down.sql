DROP TRIGGER files_search_dirty ON files;
DROP FUNCTION mdz_files_mark_search_dirty();
DROP TRIGGER files_search_new ON files;
DROP FUNCTION mdz_files_index_new();
DROP INDEX files_search_dirty_idx;
ALTER TABLE files DROP COLUMN search_dirty;
ALTER TABLE files DROP COLUMN search;
ALTER TABLE files ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', title), 'A') ||
    setweight(to_tsvector('simple', translate(path, '/._-', '    ')), 'B') ||
    setweight(to_tsvector('simple', left(content, 500000)), 'C')
) STORED;
CREATE INDEX files_search_idx ON files USING gin (search) WHERE deleted_at IS NULL;
DROP FUNCTION mdz_file_search(text, text, text);
