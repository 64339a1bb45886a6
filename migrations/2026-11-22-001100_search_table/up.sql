-- Search vectors leave `files` for a table of their own, so a save never touches the GIN
-- index: a save changes no indexed column of `files` (PostgreSQL can update the row in place,
-- a HOT update) and only queues the document for the indexer. Before this, every save that
-- flipped `search_dirty` wrote a new row version whose whole vector went into the GIN index
-- again, and VACUUM later merged those entries: most of the database's work under heavy
-- editing.

CREATE TABLE file_search (
    file_id     uuid PRIMARY KEY REFERENCES files (id) ON DELETE CASCADE,
    project_id  uuid NOT NULL,
    -- The queue number (below) the vector was computed for; a slower indexer holding an older
    -- vector never overwrites a newer one.
    seq         bigint NOT NULL,
    search      tsvector NOT NULL
);
DO $$
BEGIN
    ALTER TABLE file_search ALTER COLUMN search SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available; keeping the default TOAST compression';
END $$;
-- Vectors stay in the row (compressed) unless a row would not fit a page. Out of line, the
-- table's pages hold almost nothing, the planner prices a full scan as nearly free, and it
-- then reads every vector from TOAST instead of using the GIN index (seen: 10,000 documents,
-- 45-60 ms a search instead of 5-14 ms).
ALTER TABLE file_search ALTER COLUMN search SET STORAGE MAIN;

-- Documents whose vector is stale: one row per document however often it is saved. `seq`
-- grows with every change; `queued_at` is the first unindexed change.
CREATE SEQUENCE search_queue_seq;
CREATE TABLE search_queue (
    file_id     uuid PRIMARY KEY REFERENCES files (id) ON DELETE CASCADE,
    project_id  uuid NOT NULL,
    seq         bigint NOT NULL,
    queued_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX search_queue_project_idx ON search_queue (project_id);

INSERT INTO file_search (file_id, project_id, seq, search)
    SELECT id, project_id, 0, search FROM files WHERE search IS NOT NULL;
INSERT INTO search_queue (file_id, project_id, seq)
    SELECT id, project_id, nextval('search_queue_seq') FROM files
    WHERE search_dirty OR search IS NULL;
CREATE INDEX file_search_idx ON file_search USING gin (search);

DROP TRIGGER files_search_dirty ON files;
DROP FUNCTION mdz_files_mark_search_dirty();
DROP TRIGGER files_search_new ON files;
DROP FUNCTION mdz_files_index_new();
DROP INDEX files_search_dirty_idx;
DROP INDEX files_search_idx;
ALTER TABLE files DROP COLUMN search_dirty, DROP COLUMN search;

-- A new document is indexed as it is created: searchable at once.
CREATE FUNCTION mdz_files_index_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO file_search (file_id, project_id, seq, search)
    VALUES (NEW.id, NEW.project_id, nextval('search_queue_seq'),
            mdz_file_search(NEW.title, NEW.path, NEW.content));
    RETURN NULL;
END $$;
CREATE TRIGGER files_search_new
    AFTER INSERT ON files
    FOR EACH ROW EXECUTE FUNCTION mdz_files_index_new();

-- A change of what the vector is made of queues the document (or renumbers its queue entry).
CREATE FUNCTION mdz_files_queue_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_queue (file_id, project_id, seq)
    VALUES (NEW.id, NEW.project_id, nextval('search_queue_seq'))
    ON CONFLICT (file_id) DO UPDATE SET seq = EXCLUDED.seq;
    RETURN NULL;
END $$;
CREATE TRIGGER files_search_queue
    AFTER UPDATE OF content, path, title ON files
    FOR EACH ROW EXECUTE FUNCTION mdz_files_queue_search();

-- Room on each page for in-place (HOT) updates of a saved document's row.
ALTER TABLE files SET (fillfactor = 80);

-- `updated_at`: look at the cheap column first. A statement that sets it (every hot path
-- does) no longer compares whole rows, which meant reading and comparing a document's text.
CREATE OR REPLACE FUNCTION mdz_set_updated_at() RETURNS trigger AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        IF NEW IS DISTINCT FROM OLD THEN
            NEW.updated_at := now();
        END IF;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
