-- Suggestions: edits proposed to a live document, accepted or rejected by its editors.
-- The range is anchored by Yjs relative positions (base64, as comments), resolved by the
-- server when the suggestion is accepted.
CREATE TABLE suggestions (
    id           uuid PRIMARY KEY,
    project_id   uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    file_id      uuid NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    anchor_start text NOT NULL CHECK (length(anchor_start) BETWEEN 1 AND 1024),
    anchor_end   text NOT NULL CHECK (length(anchor_end) BETWEEN 1 AND 1024),
    quote        text NOT NULL,
    proposed     text NOT NULL,
    explanation  text CHECK (explanation IS NULL OR length(explanation) <= 4000),
    created_by   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     text CHECK (provider IS NULL OR length(provider) <= 100),
    model        text CHECK (model IS NULL OR length(model) <= 200),
    status       text NOT NULL DEFAULT 'open'
                 CHECK (status IN ('open', 'accepted', 'rejected', 'stale')),
    decided_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    decided_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX suggestions_file ON suggestions (file_id, created_at, id);
CREATE INDEX suggestions_open ON suggestions (file_id) WHERE status = 'open';
SELECT mdz_manage_updated_at('suggestions');

