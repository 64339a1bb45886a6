DROP TABLE idempotency_keys;
DROP TABLE file_changes;
DROP TABLE file_change_counters;
DROP TABLE file_versions;
DROP TABLE files;
