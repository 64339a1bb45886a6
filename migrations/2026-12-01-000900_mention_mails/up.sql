-- Mention mails: a notification is mailed at most once, in a batch per person, at most one
-- mail per person per MENTION_MAIL_INTERVAL_SECS, and never once it was read in the app.
ALTER TABLE users ADD COLUMN mention_mails boolean NOT NULL DEFAULT true;

ALTER TABLE notifications ADD COLUMN mailed_at timestamptz;
-- Notifications from before this migration are not mailed.
UPDATE notifications SET mailed_at = created_at;
CREATE INDEX notifications_unmailed ON notifications (created_at) WHERE mailed_at IS NULL;

-- When each person was last mailed about mentions (the throttle; also the lock that keeps
-- two replicas from mailing one person twice).
CREATE TABLE mention_mail_sent (
    user_id     uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sent_at     timestamptz NOT NULL
);
