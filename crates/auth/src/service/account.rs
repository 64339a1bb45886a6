//! The signed-in person's own account: reading it, changing the profile (name, mention
//! mails) and the password.

use super::*;

impl AuthService {
    #[instrument(skip_all, fields(user_id = %user))]
    pub async fn me(&self, user: UserId) -> Result<User, AuthError> {
        let key = user.to_string();
        if let Some(found) = self.users.get(&key) {
            return Ok(found);
        }
        let epoch = self.users.epoch();
        let mut conn = db::conn(&self.pool).await?;
        let found = repo::user_by_id(&mut conn, user)
            .await?
            .map(user_view)
            .ok_or(AuthError::NotFound)?;
        self.users.insert(key, found.clone(), epoch);
        Ok(found)
    }

    #[instrument(skip_all, fields(user_id = %user))]
    pub async fn update_me(
        &self,
        user: UserId,
        display_name: Option<crate::interface::DisplayName>,
        mention_mails: Option<bool>,
    ) -> Result<User, AuthError> {
        let mut conn = db::conn(&self.pool).await?;
        let row = if display_name.is_none() && mention_mails.is_none() {
            repo::user_by_id(&mut conn, user).await?
        } else {
            let name = display_name.as_ref().map(|n| n.as_str());
            let row = repo::update_profile(&mut conn, user, name, mention_mails).await?;
            self.users.invalidate(&user.to_string()).await;
            row
        };
        row.map(user_view).ok_or(AuthError::NotFound)
    }

    /// Change the password and sign out every other session. The new password follows the
    /// rules of registration (checked against the account's email too).
    #[instrument(skip_all, fields(user_id = %principal.user_id))]
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: String,
        new: &str,
    ) -> Result<(), AuthError> {
        self.passwords_allowed()?;
        let user = {
            let mut conn = db::conn(&self.pool).await?;
            repo::user_by_id(&mut conn, principal.user_id)
                .await?
                .ok_or(AuthError::NotFound)?
        };
        let new = NewPassword::parse(new, Some(&user.email))
            .map_err(|m| AuthError::Validation(vec![field("new_password", m)]))?;
        let account_key = format!("rl:password:acct:{}", principal.user_id);
        self.reserve(&account_key, self.settings.login_max_failures)
            .await?;
        // One place in the hashing queue for both hashes of the change.
        let admission = match self.hasher.admit() {
            Ok(a) => a,
            Err(e) => {
                self.release(&account_key).await;
                return Err(e.into());
            }
        };
        let read_hash = user.password_hash.clone();
        let checked = admission.verify(current, Some(user.password_hash)).await;
        if !matches!(checked, Ok(false)) {
            // Right, or never checked: only wrong guesses count.
            self.release(&account_key).await;
        }
        if !checked? {
            return Err(AuthError::WrongCurrentPassword);
        }
        let hash = admission.hash(new.into_inner()).await?;
        drop(admission);
        let keep = principal.session_id();
        let mut conn = db::conn(&self.pool).await?;
        let revoked = (*conn)
            .transaction::<_, AuthError, _>(async move |conn: &mut AsyncPgConnection| {
                // Checked against a hash read before hashing: a reset committed meanwhile
                // wins, and a request of a session it revoked changes nothing.
                let current = repo::lock_credentials(conn, principal.user_id).await?;
                if current.as_deref() != Some(&read_hash)
                    || !repo::credential_is_live(conn, principal.credential).await?
                {
                    return Err(AuthError::InvalidCredentials);
                }
                repo::set_password_hash(conn, principal.user_id, &hash).await?;
                Ok(
                    repo::revoke_sessions_except(conn, principal.user_id, keep, "password changed")
                        .await?,
                )
            })
            .await?;
        for session in revoked {
            self.flag_revoked(session).await;
        }
        tracing::info!("password changed");
        Ok(())
    }
}
