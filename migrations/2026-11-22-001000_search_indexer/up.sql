-- Search indexing leaves the save: `search` becomes a column an indexer fills in batches
-- (FilesService::index_pending, every 200 ms) instead of a generated column computed by every
-- save. A save marks
-- the row dirty (a trigger on the columns the vector is made of); a search first indexes the
-- dirty rows of the projects it reads, so a user always finds what they just saved.
CREATE FUNCTION mdz_file_search(title text, path text, content text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('simple', title), 'A') ||
           setweight(to_tsvector('simple', translate(path, '/._-', '    ')), 'B') ||
           setweight(to_tsvector('simple', left(content, 500000)), 'C')
$$;

ALTER TABLE files ALTER COLUMN search DROP EXPRESSION;
-- Existing rows are indexed already; new and changed ones are marked by the trigger.
ALTER TABLE files ADD COLUMN search_dirty boolean NOT NULL DEFAULT false;
CREATE INDEX files_search_dirty_idx ON files (project_id, id) WHERE search_dirty;

-- A new document is indexed as it is created (no second row version, searchable at once);
-- a save of an existing one only marks it.
CREATE FUNCTION mdz_files_index_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := mdz_file_search(NEW.title, NEW.path, NEW.content);
    NEW.search_dirty := false;
    RETURN NEW;
END $$;
CREATE TRIGGER files_search_new
    BEFORE INSERT ON files
    FOR EACH ROW EXECUTE FUNCTION mdz_files_index_new();

CREATE FUNCTION mdz_files_mark_search_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_dirty := true;
    RETURN NEW;
END $$;
CREATE TRIGGER files_search_dirty
    BEFORE UPDATE OF content, path, title ON files
    FOR EACH ROW EXECUTE FUNCTION mdz_files_mark_search_dirty();
