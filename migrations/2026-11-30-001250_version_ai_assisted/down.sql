ALTER TABLE file_versions DROP COLUMN ai_assisted;
