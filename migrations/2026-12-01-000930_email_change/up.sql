-- Changing an account's address: a `change` token carries the new address; following its link
-- (mailed to that address) makes it the account's, verified.
ALTER TABLE auth_email_tokens DROP CONSTRAINT auth_email_tokens_purpose_check;
ALTER TABLE auth_email_tokens ADD CONSTRAINT auth_email_tokens_purpose_check
    CHECK (purpose IN ('verify', 'reset', 'change'));
