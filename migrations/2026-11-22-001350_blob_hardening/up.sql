-- Upload URLs of the local store are single use: the first PUT claims the grant.
ALTER TABLE blob_grants ADD COLUMN used_at timestamptz;

-- Stored objects whose attachment row is gone (deleted, never completed, or its project
-- purged by cascade): queued in the deleting transaction, removed from the store by the
-- attachment cleanup task, so no path that deletes a row can leave its bytes behind.
CREATE TABLE blob_deletions (
    object_key text PRIMARY KEY,
    queued_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION mdz_queue_blob_deletion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO blob_deletions (object_key) VALUES (OLD.object_key) ON CONFLICT DO NOTHING;
    -- Nobody may upload to or download the object any more.
    DELETE FROM blob_grants WHERE object_key = OLD.object_key;
    RETURN NULL;
END;
$$;

CREATE TRIGGER attachments_queue_blob_deletion AFTER DELETE ON attachments
    FOR EACH ROW EXECUTE FUNCTION mdz_queue_blob_deletion();
