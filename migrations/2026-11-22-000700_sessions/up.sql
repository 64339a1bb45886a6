-- AI chat sessions: one conversation in a project.
CREATE TABLE chat_sessions (
    id               uuid PRIMARY KEY,
    project_id       uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_by       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title            text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    -- NULL: the deployment's default model.
    model            text CHECK (model IS NULL OR length(model) BETWEEN 1 AND 200),
    instructions     text NOT NULL DEFAULT '' CHECK (length(instructions) <= 20000),
    context_file_ids uuid[] NOT NULL DEFAULT '{}' CHECK (cardinality(context_file_ids) <= 50),
    visibility       text NOT NULL CHECK (visibility IN ('project', 'private')),
    -- Still named after the first message (the title was not chosen by a person).
    title_is_default boolean NOT NULL DEFAULT true,
    archived         boolean NOT NULL DEFAULT false,
    last_activity_at timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_sessions_by_activity ON chat_sessions (project_id, archived, last_activity_at DESC, id DESC);
SELECT mdz_manage_updated_at('chat_sessions');
