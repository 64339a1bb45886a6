ALTER TABLE api_tokens
    DROP COLUMN project_ids,
    DROP COLUMN scope;
