-- Full-text search over documents: title (first heading) weighs most, then the path, then the
-- body. The 'simple' configuration (no stemming, no stop words) works for every language and
-- keeps prefix matching predictable; the body is indexed up to its first 500,000 characters
-- (PostgreSQL's tsvector is limited to 1 MB).
ALTER TABLE files ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', title), 'A') ||
    setweight(to_tsvector('simple', translate(path, '/._-', '    ')), 'B') ||
    setweight(to_tsvector('simple', left(content, 500000)), 'C')
) STORED;
CREATE INDEX files_search_idx ON files USING gin (search) WHERE deleted_at IS NULL;

DO $$
BEGIN
    ALTER TABLE files ALTER COLUMN search SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available; keeping the default TOAST compression';
END $$;
