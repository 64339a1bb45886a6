-- Public share links: a document or a folder of a project, readable by anyone with the URL.
-- Only the SHA-256 of the token is kept (shown once at creation); an optional password is an
-- argon2id hash like account passwords; `cookie_key` signs this share's unlock cookies.
CREATE TABLE shares (
    id             uuid PRIMARY KEY,
    project_id     uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    file_id        uuid REFERENCES files (id) ON DELETE CASCADE,
    -- A folder prefix ('' = the whole project, else ending in '/').
    folder         text,
    token_hash     bytea NOT NULL UNIQUE,
    password_hash  text,
    cookie_key     bytea NOT NULL,
    allow_indexing boolean NOT NULL DEFAULT false,
    expires_at     timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    created_by     uuid NOT NULL,
    updated_by     uuid NOT NULL,
    CONSTRAINT shares_one_target CHECK ((file_id IS NULL) <> (folder IS NULL))
);
CREATE INDEX shares_project_idx ON shares (project_id, created_at);
CREATE INDEX shares_file_idx ON shares (file_id) WHERE file_id IS NOT NULL;
SELECT mdz_manage_updated_at('shares');
