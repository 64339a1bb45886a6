-- Messages of AI chat sessions. An assistant message is stored as it streams.
CREATE TABLE chat_messages (
    id                uuid PRIMARY KEY,
    session_id        uuid NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    role              text NOT NULL CHECK (role IN ('user', 'assistant')),
    content           text NOT NULL,
    author_id         uuid REFERENCES users (id) ON DELETE SET NULL,
    -- Who asked (for an answer: the user whose message it answers), for daily token quotas.
    requested_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    model             text,
    status            text NOT NULL CHECK (status IN ('complete', 'streaming', 'incomplete', 'failed', 'cancelled')),
    prompt_tokens     integer,
    completion_tokens integer,
    citations         jsonb NOT NULL DEFAULT '[]',
    error             text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_messages_by_session ON chat_messages (session_id, id);
CREATE INDEX chat_messages_usage ON chat_messages (requested_by, created_at) WHERE role = 'assistant';
SELECT mdz_manage_updated_at('chat_messages');
