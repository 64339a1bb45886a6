-- The change feed is numbered after commit, by a sequencer, instead of at COMMIT by the
-- writer. Numbering at COMMIT (the trigger dropped here) held the project's counter row lock
-- until the commit was visible, which includes its WAL flush: a project's commits flushed one
-- after the other and could not share a flush, so 16 paced writers of one project queued on
-- that row (run C/D in docs/BENCHMARKS.md: `Lock:transactionid` was the top wait, save p99
-- 4.9x the raw PostgreSQL floor). Now a writer inserts its entry with `seq` NULL and takes no
-- lock at all; the sequencer (`changes::repo::number_committed`, run every 250 ms by each
-- process and by every feed read first) locks the counter row, numbers every committed
-- unnumbered entry of the project in one statement and commits. Numbers stay gap-free and a
-- reader never finds a new entry below a number it has seen (only committed entries get
-- numbers, each batch above the last, visible all at once); the order is the order the
-- sequencer sees commits, not the exact commit order.
DROP TRIGGER file_changes_number_at_commit ON file_changes;
DROP FUNCTION mdz_number_file_change();
CREATE INDEX file_changes_unnumbered_idx ON file_changes (project_id, id) WHERE seq IS NULL;
