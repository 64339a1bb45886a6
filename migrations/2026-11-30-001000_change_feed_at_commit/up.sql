-- The change feed numbers a project's changes when the writing transaction commits, not when
-- it writes them. Before, each writer took the next number under the project's counter row
-- lock mid-transaction and held that lock through its COMMIT round trip: every other writer
-- of the project queued behind it (16 paced writers of one project: the counter upsert was
-- two thirds of a save's time in PostgreSQL, nearly all of it lock waits). Now a writer
-- inserts its change with `seq` NULL and a deferred constraint trigger takes the number at
-- COMMIT, inside the server: the lock is held from there to the end of the commit, no client
-- round trip in between. Numbers stay gap-free and in commit order (a writer waiting for the
-- lock gets it only after the holder's commit is visible; a rolled-back writer gives its
-- number back), so the feed's cursors and API are unchanged.
ALTER TABLE file_changes DROP CONSTRAINT file_changes_pkey;
ALTER TABLE file_changes ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
ALTER TABLE file_changes ALTER COLUMN seq DROP NOT NULL;
CREATE UNIQUE INDEX file_changes_project_seq_idx ON file_changes (project_id, seq);

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
