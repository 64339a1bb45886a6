DROP TRIGGER file_changes_number_at_commit ON file_changes;
DROP FUNCTION mdz_number_file_change();
DROP INDEX file_changes_project_seq_idx;
DELETE FROM file_changes WHERE seq IS NULL;
ALTER TABLE file_changes ALTER COLUMN seq SET NOT NULL;
ALTER TABLE file_changes DROP COLUMN id;
ALTER TABLE file_changes ADD PRIMARY KEY (project_id, seq);
