DROP INDEX project_invitations_by_mailbox;
DROP INDEX project_invitations_by_inviter;
DROP FUNCTION mdz_mailbox(text);
