-- Answers still streaming, by their last save: the sweeper ends those whose node stopped.
CREATE INDEX chat_messages_streaming ON chat_messages (updated_at) WHERE status = 'streaming';
