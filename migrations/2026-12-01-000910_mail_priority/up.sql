-- Mail a person is waiting for (address verification, password reset) goes out before the
-- rest: a flood of invitations or mentions must not delay a reset link. 0 = account mail,
-- 1 = everything else.
ALTER TABLE mail_outbox ADD COLUMN priority smallint NOT NULL DEFAULT 1 CHECK (priority IN (0, 1));
DROP INDEX mail_outbox_due;
CREATE INDEX mail_outbox_due ON mail_outbox (priority, next_attempt_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;
