//! Sessions a person is signed in with, and personal access tokens: listing, revoking,
//! minting (never reaching further than the credential that mints).

use super::*;

impl AuthService {
    #[instrument(skip_all, fields(user_id = %principal.user_id))]
    pub async fn sessions(
        &self,
        principal: &Principal,
        page: PageRequest<SessionId>,
    ) -> Result<Page<Session>, AuthError> {
        let mut conn = db::conn(&self.pool).await?;
        let rows =
            repo::live_sessions(&mut conn, principal.user_id, page.after, page.limit).await?;
        let current = principal.session_id();
        Ok(
            Page::from_rows(rows, page.limit, |r| r.id).map(|r| Session {
                current: Some(r.id) == current,
                id: r.id,
                created_at: r.created_at,
                last_used_at: r.last_used_at,
                expires_at: r.expires_at,
                user_agent: r.user_agent,
                ip: r.ip,
            }),
        )
    }

    #[instrument(skip_all, fields(user_id = %user, session = %session))]
    pub async fn revoke_session(&self, user: UserId, session: SessionId) -> Result<(), AuthError> {
        let mut conn = db::conn(&self.pool).await?;
        if !repo::revoke_session(&mut conn, user, session, "revoked by user").await? {
            return Err(AuthError::NotFound);
        }
        self.flag_revoked(session).await;
        Ok(())
    }

    /// A personal access token manages tokens only with the `admin` scope, and never makes
    /// one that reaches further than itself.
    fn may_mint(principal: &Principal, request: &NewApiToken) -> Result<(), AuthError> {
        if principal.session_id().is_some() {
            return Ok(());
        }
        if principal.scope < Scope::Admin {
            return Err(AuthError::Forbidden(
                "managing tokens needs a session or a token with the admin scope",
            ));
        }
        if let Some(own) = &principal.projects {
            let within = request
                .projects
                .as_ref()
                .is_some_and(|wanted| wanted.iter().all(|p| own.contains(p)));
            if !within {
                return Err(AuthError::Forbidden(
                    "a token limited to projects can only make tokens limited to those projects",
                ));
            }
        }
        Ok(())
    }

    #[instrument(skip_all, fields(user_id = %principal.user_id))]
    pub async fn create_token(
        &self,
        principal: &Principal,
        request: NewApiToken,
    ) -> Result<CreatedApiToken, AuthError> {
        Self::may_mint(principal, &request)?;
        let user = principal.user_id;
        let token = new_secret(secrets::PAT_PREFIX)?;
        let now = Utc::now();
        let row = ApiTokenRow {
            id: TokenId::new(),
            user_id: user,
            name: request.name,
            token_hash: secrets::digest(&token),
            token_prefix: token.chars().take(secrets::PAT_PREFIX.len() + 4).collect(),
            expires_at: request.expires_at,
            last_used_at: None,
            created_at: now,
            updated_at: now,
            scope: request.scope.as_str().to_owned(),
            project_ids: request
                .projects
                .map(|list| list.into_iter().map(|p| p.0).collect()),
        };
        let mut conn = db::conn(&self.pool).await?;
        let row = (*conn)
            .transaction::<_, AuthError, _>(async |conn: &mut AsyncPgConnection| {
                // Under the account's lock: a reset either sees this token (and deletes it)
                // or has revoked the credential asking for it first.
                repo::lock_credentials(conn, user).await?;
                if !repo::credential_is_live(conn, principal.credential).await? {
                    return Err(AuthError::InvalidCredentials);
                }
                Ok(repo::insert_api_token(conn, &row).await?)
            })
            .await?;
        Ok(CreatedApiToken {
            meta: token_view(row),
            token,
        })
    }

    #[instrument(skip_all, fields(user_id = %user))]
    pub async fn tokens(
        &self,
        user: UserId,
        page: PageRequest<TokenId>,
    ) -> Result<Page<ApiToken>, AuthError> {
        let mut conn = db::conn(&self.pool).await?;
        let rows = repo::api_tokens_of(&mut conn, user, page.after, page.limit).await?;
        Ok(Page::from_rows(rows, page.limit, |r| r.id).map(token_view))
    }

    #[instrument(skip_all, fields(user_id = %principal.user_id, token = %id))]
    pub async fn delete_token(&self, principal: &Principal, id: TokenId) -> Result<(), AuthError> {
        if principal.session_id().is_none() && principal.scope < Scope::Admin {
            return Err(AuthError::Forbidden(
                "managing tokens needs a session or a token with the admin scope",
            ));
        }
        let user = principal.user_id;
        let mut conn = db::conn(&self.pool).await?;
        if repo::delete_api_token(&mut conn, user, id).await? {
            drop(conn);
            self.revocations.announce(Revoked::Token(id)).await;
            Ok(())
        } else {
            Err(AuthError::NotFound)
        }
    }
}

fn token_view(r: ApiTokenRow) -> ApiToken {
    ApiToken {
        id: r.id,
        name: r.name,
        prefix: r.token_prefix,
        created_at: r.created_at,
        expires_at: r.expires_at,
        last_used_at: r.last_used_at,
        scope: r.scope,
        projects: r
            .project_ids
            .map(|list| list.into_iter().map(ProjectId).collect()),
    }
}
