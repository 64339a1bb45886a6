-- Single sign-on (OpenID Connect).
--
-- Who signed in through which provider: (issuer, subject) is the provider's stable name for a
-- person, so an account stays linked when the address changes at the provider, and a new
-- address there never moves the link to another account.
CREATE TABLE auth_oidc_identities (
    issuer        text NOT NULL CHECK (char_length(issuer) BETWEEN 1 AND 2048),
    subject       text NOT NULL CHECK (octet_length(subject) BETWEEN 1 AND 255),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The provider's address when the link was made (for people reading the table).
    email         text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX auth_oidc_identities_user_idx ON auth_oidc_identities (user_id);

-- Sign-ins under way: one row per `GET /auth/oidc/start`, spent (deleted) by its callback,
-- by the SHA-256 of its `state`. `browser_hash` is the SHA-256 of the HttpOnly cookie the
-- start set, so a callback URL carried to another browser signs nobody in there.
CREATE TABLE auth_oidc_flows (
    state_hash    bytea PRIMARY KEY,
    browser_hash  bytea NOT NULL,
    pkce_verifier text NOT NULL,
    nonce         text NOT NULL,
    return_to     text NOT NULL CHECK (octet_length(return_to) BETWEEN 1 AND 1024),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX auth_oidc_flows_expiry_idx ON auth_oidc_flows (expires_at);
