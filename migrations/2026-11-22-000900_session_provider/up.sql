-- A session may choose one of the deployment's named model providers (NULL: the default).
ALTER TABLE chat_sessions
    ADD COLUMN provider text CHECK (provider IS NULL OR length(provider) BETWEEN 1 AND 64);
