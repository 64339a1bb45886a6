-- Personal access tokens get a scope and an optional list of projects they reach.
-- Tokens made before scopes existed could write (and mint tokens); they become `write`.
ALTER TABLE api_tokens
    ADD COLUMN scope text NOT NULL DEFAULT 'write'
        CHECK (scope IN ('read', 'write', 'admin')),
    ADD COLUMN project_ids uuid[]
        CHECK (project_ids IS NULL OR cardinality(project_ids) BETWEEN 1 AND 100);
