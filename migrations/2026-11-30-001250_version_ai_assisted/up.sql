-- A version some of whose text came from an accepted AI suggestion.
ALTER TABLE file_versions ADD COLUMN ai_assisted boolean NOT NULL DEFAULT false;
