DROP TABLE auth_email_tokens;
ALTER TABLE users DROP COLUMN email_verified_at;
DROP TABLE mail_outbox;
