ALTER TABLE chat_messages DROP COLUMN reserved_tokens;
DROP TABLE chat_token_use;
