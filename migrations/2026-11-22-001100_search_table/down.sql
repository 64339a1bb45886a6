CREATE OR REPLACE FUNCTION mdz_set_updated_at() RETURNS trigger AS $$
BEGIN
    IF NEW IS DISTINCT FROM OLD AND NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
ALTER TABLE files RESET (fillfactor);

DROP TRIGGER files_search_queue ON files;
DROP FUNCTION mdz_files_queue_search();
DROP TRIGGER files_search_new ON files;
DROP FUNCTION mdz_files_index_new();

ALTER TABLE files ADD COLUMN search tsvector;
ALTER TABLE files ADD COLUMN search_dirty boolean NOT NULL DEFAULT false;
UPDATE files f SET search = s.search FROM file_search s WHERE s.file_id = f.id;
UPDATE files f SET search_dirty = true FROM search_queue q WHERE q.file_id = f.id;
UPDATE files SET search = mdz_file_search(title, path, content) WHERE search IS NULL;
CREATE INDEX files_search_dirty_idx ON files (project_id, id) WHERE search_dirty;
CREATE INDEX files_search_idx ON files USING gin (search) WHERE deleted_at IS NULL;
DROP TABLE search_queue;
DROP SEQUENCE search_queue_seq;
DROP TABLE file_search;

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
