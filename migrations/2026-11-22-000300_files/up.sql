-- Markdown documents addressed by path, their version history, the per-project change feed,
-- and idempotency keys for replayable writes.

CREATE TABLE files (
    id          uuid PRIMARY KEY,
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    path        text NOT NULL CHECK (octet_length(path) BETWEEN 4 AND 1024),
    title       text NOT NULL DEFAULT '',
    content     text NOT NULL,
    size        integer NOT NULL,
    revision    bigint NOT NULL DEFAULT 1,
    deleted_at  timestamptz,
    deleted_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    created_by  uuid NOT NULL,
    updated_by  uuid NOT NULL
);
-- One live file per path, compared without case.
CREATE UNIQUE INDEX files_live_path_key ON files (project_id, lower(path)) WHERE deleted_at IS NULL;
CREATE INDEX files_project_path_idx ON files (project_id, path) WHERE deleted_at IS NULL;
CREATE INDEX files_trash_idx ON files (deleted_at) WHERE deleted_at IS NOT NULL;
SELECT mdz_manage_updated_at('files');

-- Version n of a file: a full snapshot, or a compact edit script against version n-1.
CREATE TABLE file_versions (
    file_id       uuid NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    n             integer NOT NULL CHECK (n >= 1),
    snapshot      boolean NOT NULL,
    body          bytea NOT NULL,
    size          integer NOT NULL,
    lines_added   integer NOT NULL,
    lines_removed integer NOT NULL,
    label         text CHECK (label IS NULL OR char_length(label) BETWEEN 1 AND 100),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    created_by    uuid NOT NULL,
    updated_by    uuid NOT NULL,
    PRIMARY KEY (file_id, n)
);
SELECT mdz_manage_updated_at('file_versions');

-- The change feed: per project, `seq` grows by one per change in commit order (it is taken
-- under the project's counter row lock inside the writing transaction).
CREATE TABLE file_change_counters (
    project_id  uuid PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    seq         bigint NOT NULL DEFAULT 0,
    horizon     bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT mdz_manage_updated_at('file_change_counters');

CREATE TABLE file_changes (
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    seq         bigint NOT NULL,
    file_id     uuid NOT NULL, -- the document's or the attachment's id
    -- Documents: created, updated, renamed, deleted, restored; attachments: attachment_added,
    -- attachment_deleted (with the attachment's id and file name).
    kind        text NOT NULL CHECK (kind IN ('created', 'updated', 'renamed', 'deleted', 'restored',
                                              'attachment_added', 'attachment_deleted')),
    path        text NOT NULL,
    revision    bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    created_by  uuid NOT NULL,
    updated_by  uuid NOT NULL,
    PRIMARY KEY (project_id, seq)
);

-- A write replayed with the same Idempotency-Key returns the first answer.
CREATE TABLE idempotency_keys (
    user_id     uuid NOT NULL,
    key         text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    method      text NOT NULL,
    path        text NOT NULL,
    status      integer NOT NULL,
    etag        text,
    response    jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_age_idx ON idempotency_keys (created_at);

-- lz4 compresses large documents several times faster than the default pglz (PostgreSQL 14+
-- built with lz4, as Debian's is); elsewhere the default stays.
DO $$
BEGIN
    ALTER TABLE files ALTER COLUMN content SET COMPRESSION lz4;
    ALTER TABLE file_versions ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available; keeping the default TOAST compression';
END $$;
