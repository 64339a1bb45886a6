-- Invitations by e-mail are counted over a day per inviter, per inviter and mailbox, and per
-- mailbox (INVITATION_MAILS_PER_INVITER, _PER_PAIR, _PER_ADDRESS). A mailbox is the address
-- without a `+tag` (and, at Gmail, without dots): `ann+1@x.com` and `ann+2@x.com` reach one
-- inbox and count as one. Addresses are stored lower-case already.
CREATE FUNCTION mdz_mailbox(email text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT AS $$
    SELECT CASE
        WHEN split_part(email, '@', 2) IN ('gmail.com', 'googlemail.com')
            THEN replace(split_part(split_part(email, '@', 1), '+', 1), '.', '') || '@gmail.com'
        ELSE split_part(split_part(email, '@', 1), '+', 1) || '@' || split_part(email, '@', 2)
    END
$$;
CREATE INDEX project_invitations_by_inviter ON project_invitations (created_by, created_at)
    WHERE email IS NOT NULL;
CREATE INDEX project_invitations_by_mailbox ON project_invitations (mdz_mailbox(email), created_at)
    WHERE email IS NOT NULL;
