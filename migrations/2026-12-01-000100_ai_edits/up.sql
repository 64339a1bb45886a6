-- AI edits and completions of a document: the answer is stored as it streams (like a chat
-- answer); an edit that completes becomes an open suggestion (`suggestion_id`). The range is
-- anchored at the start of the stream (Yjs relative positions, base64) so that it follows
-- concurrent typing while the model writes (the anchors live with the stream, in memory).
CREATE TABLE ai_edits (
    id                uuid PRIMARY KEY,
    project_id        uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    file_id           uuid NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    requested_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    kind              text NOT NULL CHECK (kind IN ('edit', 'complete')),
    instruction       text NOT NULL CHECK (length(instruction) <= 4000),
    quote             text,
    content           text NOT NULL DEFAULT '',
    status            text NOT NULL
                      CHECK (status IN ('streaming', 'complete', 'cancelled', 'incomplete', 'failed')),
    provider          text NOT NULL CHECK (length(provider) <= 100),
    model             text NOT NULL CHECK (length(model) <= 200),
    prompt_tokens     integer,
    completion_tokens integer,
    error             text,
    reserved_tokens   integer,
    suggestion_id     uuid REFERENCES suggestions (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_edits_file ON ai_edits (file_id, id);
CREATE INDEX ai_edits_streaming ON ai_edits (updated_at) WHERE status = 'streaming';
-- Foreign keys: deleting a project, user or suggestion finds the rows by these.
CREATE INDEX ai_edits_project ON ai_edits (project_id);
CREATE INDEX ai_edits_requested_by ON ai_edits (requested_by);
CREATE INDEX ai_edits_suggestion ON ai_edits (suggestion_id) WHERE suggestion_id IS NOT NULL;
-- The sweeper purges ended completions by age.
CREATE INDEX ai_edits_completions ON ai_edits (created_at) WHERE kind = 'complete';
SELECT mdz_manage_updated_at('ai_edits');
