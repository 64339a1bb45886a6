DROP TABLE mention_mail_sent;
DROP INDEX notifications_unmailed;
ALTER TABLE notifications DROP COLUMN mailed_at;
ALTER TABLE users DROP COLUMN mention_mails;
