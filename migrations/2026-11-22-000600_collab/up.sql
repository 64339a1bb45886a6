-- Live collaboration: each document's Yjs state as a snapshot plus the updates after it.
-- An update is appended here (group commit) before any client is told about it.

CREATE TABLE collab_docs (
    file_id       uuid PRIMARY KEY REFERENCES files (id) ON DELETE CASCADE,
    -- Sequence number of the newest stored update; bumped under this row's lock, so the
    -- committed updates of a document are numbered 1, 2, 3 … with no holes.
    last_seq      bigint NOT NULL DEFAULT 0,
    -- Yjs state (v1 update encoding) that already contains every update up to snapshot_seq.
    snapshot      bytea NOT NULL,
    snapshot_seq  bigint NOT NULL DEFAULT 0,
    -- The file revision whose text the Yjs state last agreed with (to notice REST edits
    -- made while no room was open).
    file_revision bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE collab_updates (
    file_id    uuid NOT NULL REFERENCES collab_docs (file_id) ON DELETE CASCADE,
    seq        bigint NOT NULL,
    data       bytea NOT NULL,
    -- Who made it; NULL for changes the server made (REST merges, reconciliation).
    user_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (file_id, seq)
);

-- Comments anchored to a range of a document; replies point at their thread's root.
CREATE TABLE comments (
    id          uuid PRIMARY KEY,
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    file_id     uuid NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    parent_id   uuid REFERENCES comments (id) ON DELETE CASCADE,
    author_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    quote       text CHECK (quote IS NULL OR length(quote) <= 2000),
    anchor_start text CHECK (anchor_start IS NULL OR length(anchor_start) <= 1024),
    anchor_end  text CHECK (anchor_end IS NULL OR length(anchor_end) <= 1024),
    resolved_at timestamptz,
    resolved_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id IS NULL OR (quote IS NULL AND anchor_start IS NULL AND anchor_end IS NULL))
);
CREATE INDEX comments_file ON comments (file_id, created_at, id) WHERE parent_id IS NULL;
CREATE INDEX comments_thread ON comments (parent_id, created_at, id) WHERE parent_id IS NOT NULL;
SELECT mdz_manage_updated_at('comments');

-- Notifications (today: @mentions in comments).
CREATE TABLE notifications (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('mention')),
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    file_id     uuid REFERENCES files (id) ON DELETE CASCADE,
    comment_id  uuid REFERENCES comments (id) ON DELETE CASCADE,
    actor_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    excerpt     text NOT NULL DEFAULT '',
    read_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_inbox ON notifications (user_id, (read_at IS NOT NULL), created_at DESC, id DESC);
