DELETE FROM comments WHERE suggestion_id IS NOT NULL;
DROP INDEX comments_suggestion;
ALTER TABLE comments DROP CONSTRAINT comments_suggestion_flat, DROP COLUMN suggestion_id;
