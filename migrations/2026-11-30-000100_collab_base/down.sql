ALTER TABLE collab_docs DROP COLUMN base_text;
