-- Personal access tokens may be limited to proposing edits (suggestions): the `suggest`
-- scope, between `read` and `write`, the default for tokens made for MCP.
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_scope_check;
ALTER TABLE api_tokens
    ADD CONSTRAINT api_tokens_scope_check
        CHECK (scope IN ('read', 'suggest', 'write', 'admin'));
