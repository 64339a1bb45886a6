DROP TRIGGER attachments_queue_blob_deletion ON attachments;
DROP FUNCTION mdz_queue_blob_deletion();
DROP TABLE blob_deletions;
ALTER TABLE blob_grants DROP COLUMN used_at;
