DROP TABLE blob_grants;
DROP TABLE attachments;
