DROP INDEX chat_messages_streaming;
