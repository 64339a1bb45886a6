-- E-mail: an outbox written in the transaction of the event that causes the mail, delivered
-- by a sender task on any node (rows are claimed with FOR UPDATE SKIP LOCKED); verified
-- addresses; single-use tokens for verification and password reset (SHA-256 at rest).

CREATE TABLE mail_outbox (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL,
    recipient       text NOT NULL,
    subject         text NOT NULL,
    body_text       text NOT NULL,
    body_html       text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    sent_at         timestamptz,
    failed_at       timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- What the sender reads: the mails still to deliver, by when they are due.
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX mail_outbox_done ON mail_outbox (updated_at)
    WHERE sent_at IS NOT NULL OR failed_at IS NOT NULL;
SELECT mdz_manage_updated_at('mail_outbox');

ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

-- One row per token mailed: `verify` proves an address, `reset` sets a new password.
CREATE TABLE auth_email_tokens (
    token_hash bytea PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text NOT NULL CHECK (purpose IN ('verify', 'reset')),
    email      text NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auth_email_tokens_user ON auth_email_tokens (user_id, purpose);
CREATE INDEX auth_email_tokens_expires ON auth_email_tokens (expires_at);
