-- Invitations by e-mail are counted per inviter and per address over a day
-- (INVITATION_MAILS_PER_INVITER, INVITATION_MAILS_PER_ADDRESS): these indexes answer the counts.
CREATE INDEX project_invitations_by_inviter ON project_invitations (created_by, created_at)
    WHERE email IS NOT NULL;
CREATE INDEX project_invitations_by_address ON project_invitations (email, created_at)
    WHERE email IS NOT NULL;
