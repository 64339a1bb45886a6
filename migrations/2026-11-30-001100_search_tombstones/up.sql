-- Tombstones in the search feed: when a document's row of `file_search` goes (the document
-- was purged from the trash, or its project was), the deleting transaction stamps its id
-- here, so derived indexes (the embedded tantivy index of each process) drop it as they
-- follow the feed. Before, a purged document stayed in those indexes until restart: its
-- hits were dropped by the check on PostgreSQL, but it still took places in a page (a page
-- could come back empty with live matches behind it) and its words were still offered as
-- completions.
CREATE TABLE file_search_gone (
    file_id  uuid PRIMARY KEY,
    xid      xid8 NOT NULL DEFAULT pg_current_xact_id(),
    gone_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX file_search_gone_xid_idx ON file_search_gone (xid, file_id);
CREATE INDEX file_search_gone_at_idx ON file_search_gone (gone_at);

CREATE FUNCTION mdz_file_search_gone() RETURNS trigger AS $$
BEGIN
    INSERT INTO file_search_gone (file_id) VALUES (OLD.file_id)
    ON CONFLICT (file_id) DO UPDATE SET xid = excluded.xid, gone_at = excluded.gone_at;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER file_search_gone_after_delete
    AFTER DELETE ON file_search
    FOR EACH ROW EXECUTE FUNCTION mdz_file_search_gone();
