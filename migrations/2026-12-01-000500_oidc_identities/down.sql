DROP TABLE auth_oidc_flows;
DROP TABLE auth_oidc_identities;
