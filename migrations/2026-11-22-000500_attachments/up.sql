-- Attachments: objects in S3 (or the local store), announced, uploaded by the client with a
-- presigned URL, then completed once their size is verified.
CREATE TABLE attachments (
    id           uuid PRIMARY KEY,
    project_id   uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    object_key   text NOT NULL UNIQUE,
    filename     text NOT NULL CHECK (char_length(filename) BETWEEN 1 AND 255),
    content_type text NOT NULL,
    size         bigint NOT NULL CHECK (size >= 0),
    ready        boolean NOT NULL DEFAULT false,
    completed_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    created_by   uuid NOT NULL,
    updated_by   uuid NOT NULL
);
CREATE INDEX attachments_stale_idx ON attachments (created_at) WHERE NOT ready;
SELECT mdz_manage_updated_at('attachments');

-- The local store's signed URLs: random, single-purpose (put or get one object), expiring.
CREATE TABLE blob_grants (
    token_hash   bytea PRIMARY KEY,
    object_key   text NOT NULL,
    purpose      text NOT NULL CHECK (purpose IN ('put', 'get')),
    content_type text NOT NULL,
    max_size     bigint NOT NULL,
    filename     text NOT NULL,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX blob_grants_expiry_idx ON blob_grants (expires_at);
