-- Suggest-only tokens lose their write-free guarantee if widened, so they go.
DELETE FROM api_tokens WHERE scope = 'suggest';
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_scope_check;
ALTER TABLE api_tokens
    ADD CONSTRAINT api_tokens_scope_check
        CHECK (scope IN ('read', 'write', 'admin'));
