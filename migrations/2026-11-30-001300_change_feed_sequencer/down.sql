DROP INDEX file_changes_unnumbered_idx;
CREATE FUNCTION mdz_number_file_change() RETURNS trigger AS $$
DECLARE
    n bigint;
BEGIN
    -- Gone already (its project deleted in the same transaction): take no number.
    PERFORM 1 FROM file_changes WHERE id = NEW.id AND seq IS NULL;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO file_change_counters (project_id, seq) VALUES (NEW.project_id, 1)
    ON CONFLICT (project_id) DO UPDATE SET seq = file_change_counters.seq + 1
    RETURNING seq INTO n;
    UPDATE file_changes SET seq = n WHERE id = NEW.id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER file_changes_number_at_commit
    AFTER INSERT ON file_changes
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.seq IS NULL)
    EXECUTE FUNCTION mdz_number_file_change();
