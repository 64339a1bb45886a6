//! Bearer-token verification (the `TokenVerifier` port): personal access tokens from the
//! database (cached while valid), JWTs by signature, and whether a credential still holds.

use super::*;

impl AuthService {
    async fn verify_pat(&self, token: &str) -> Result<Principal, TokenRejection> {
        let unavailable = |e: &dyn std::fmt::Display| TokenRejection::Unavailable(e.to_string());
        let mut conn = db::conn(&self.pool).await.map_err(|e| unavailable(&e))?;
        match repo::use_api_token(&mut conn, &secrets::digest(token)).await {
            Ok(Some(grant)) => Ok(Principal {
                user_id: grant.user_id,
                credential: Credential::PersonalAccessToken { token_id: grant.id },
                // A scope the code does not know reads only.
                scope: Scope::parse(&grant.scope).unwrap_or(Scope::Read),
                projects: grant
                    .project_ids
                    .map(|list| list.into_iter().map(ProjectId).collect()),
            }),
            Ok(None) => Err(TokenRejection::Invalid),
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// A token whose signature was already checked, while it has not expired.
    fn already_verified(&self, token: &str) -> Option<Principal> {
        let verified = self
            .verified
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        verified
            .get(token)
            .filter(|(_, exp)| *exp > Utc::now().timestamp())
            .map(|(p, _)| p.clone())
    }

    fn remember_verified(&self, token: &str, principal: Principal, exp: i64) {
        let mut verified = self
            .verified
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() >= VERIFIED_MAX {
            let now = Utc::now().timestamp();
            verified.retain(|_, (_, exp)| *exp > now);
            if verified.len() >= VERIFIED_MAX {
                verified.clear();
            }
        }
        verified.insert(token.to_owned(), (principal, exp));
    }

    async fn verify_jwt(&self, token: &str) -> Result<Principal, TokenRejection> {
        let principal = match self.already_verified(token) {
            Some(p) => p,
            None => {
                let data =
                    jsonwebtoken::decode::<Claims>(token, &self.key.decoding, &self.validation)
                        .map_err(|e| match e.kind() {
                            jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                                TokenRejection::Expired
                            }
                            _ => TokenRejection::Invalid,
                        })?;
                let p = Principal {
                    user_id: UserId(data.claims.sub),
                    credential: Credential::AccessToken {
                        session_id: SessionId(data.claims.sid),
                    },
                    scope: Scope::Admin,
                    projects: None,
                };
                self.remember_verified(token, p.clone(), data.claims.exp);
                p
            }
        };
        let Some(session) = principal.session_id() else {
            return Err(TokenRejection::Invalid);
        };
        let revoked = match self.kv.has_flag(&revoked_key(session)).await {
            Ok(flag) => flag,
            Err(e) => {
                // The shared store is down: ask the database, which always knows.
                tracing::warn!(error = %e, "revocation list unavailable; checking the database");
                let mut conn = db::conn(&self.pool)
                    .await
                    .map_err(|e| TokenRejection::Unavailable(e.to_string()))?;
                repo::session_by_id(&mut conn, session)
                    .await
                    .map_err(|e| TokenRejection::Unavailable(e.to_string()))?
                    .is_none_or(|s| s.revoked_at.is_some())
            }
        };
        if revoked {
            return Err(TokenRejection::Revoked);
        }
        Ok(principal)
    }
}

#[async_trait]
impl TokenVerifier for AuthService {
    async fn verify(&self, token: &str) -> Result<Principal, TokenRejection> {
        if token.starts_with(secrets::PAT_PREFIX) {
            self.verify_pat(token).await
        } else {
            self.verify_jwt(token).await
        }
    }

    async fn still_valid(&self, principal: &Principal) -> Result<bool, TokenRejection> {
        let unavailable = |e: &dyn std::fmt::Display| TokenRejection::Unavailable(e.to_string());
        let mut conn = db::conn(&self.pool).await.map_err(|e| unavailable(&e))?;
        match principal.credential {
            Credential::AccessToken { session_id } => {
                Ok(repo::session_by_id(&mut conn, session_id)
                    .await
                    .map_err(|e| unavailable(&e))?
                    .is_some_and(|s| s.revoked_at.is_none() && s.expires_at > Utc::now()))
            }
            Credential::PersonalAccessToken { token_id } => repo::token_live(&mut conn, token_id)
                .await
                .map_err(|e| unavailable(&e)),
        }
    }
}
