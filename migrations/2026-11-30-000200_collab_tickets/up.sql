-- Single-use, 60-second tickets that open one collab WebSocket in place of a credential in
-- its URL (`?ticket=`): who asked, with which credential, scope and project limit.
CREATE TABLE collab_tickets (
    hash        bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id  uuid,
    token_id    uuid,
    scope       text NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    project_ids uuid[],
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((session_id IS NULL) <> (token_id IS NULL))
);
CREATE INDEX collab_tickets_expires ON collab_tickets (expires_at);
