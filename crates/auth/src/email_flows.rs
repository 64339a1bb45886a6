//! What reaches an account by e-mail: address verification and password reset. Each token
//! is single use, random (`mdz_ev_`, `mdz_pr_`), stored only as SHA-256 with its expiry, and
//! its mail is queued in the transaction that stores it.

use crate::error::AuthError;
use crate::interface::{Email, NewPassword};
use crate::repo::{self, UserRow};
use crate::secrets;
use crate::service::{AuthService, ClientInfo, field, new_secret};
use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use mdz_core::db;
use mdz_core::ids::UserId;
use mdz_core::mail::{OutgoingMail, html_page};
use mdz_core::revocation::Revoked;
use tracing::instrument;

/// Prefix of e-mail verification tokens.
pub const VERIFY_PREFIX: &str = "mdz_ev_";
/// Prefix of password-reset tokens.
pub const RESET_PREFIX: &str = "mdz_pr_";
/// How long a verification link works.
pub const VERIFY_TTL: chrono::Duration = chrono::Duration::hours(48);
/// How long a password-reset link works.
pub const RESET_TTL: chrono::Duration = chrono::Duration::minutes(30);

const VERIFY: &str = "verify";
const RESET: &str = "reset";
/// Tokens that move an account to the address they carry (`email_change.rs`).
pub(crate) const CHANGE: &str = "change";

impl AuthService {
    /// Store a verification token for `user`'s address and queue its mail, on `conn` (the
    /// caller's transaction).
    pub(crate) async fn queue_verification(
        &self,
        conn: &mut AsyncPgConnection,
        user: &UserRow,
    ) -> Result<(), AuthError> {
        let token = new_secret(VERIFY_PREFIX)?;
        let expires = Utc::now() + VERIFY_TTL;
        repo::insert_email_token(
            conn,
            &secrets::digest(&token),
            user.id,
            VERIFY,
            &user.email,
            expires,
        )
        .await?;
        let link = self.outbox.link(&format!("/verify-email?token={token}"));
        // No display name: whoever registers chooses it, and the address is not proven yet,
        // so it would be a stranger's text in a mail from this server to someone else.
        let mail = OutgoingMail {
            kind: "verify-email",
            to: user.email.clone(),
            subject: "Confirm your e-mail address".into(),
            text: format!(
                "Hello,\n\nconfirm that this is your address for mdz by opening:\n\n{link}\n\n\
                 The link works once, for 48 hours. If you did not sign up, ignore this mail.\n"
            ),
            html: html_page(
                &[
                    "Hello,".into(),
                    "confirm that this is your address for mdz.".into(),
                    "The link works once, for 48 hours. If you did not sign up, ignore this mail."
                        .into(),
                ],
                "Confirm my address",
                &link,
            ),
        };
        self.outbox.enqueue(conn, &mail).await?;
        Ok(())
    }

    /// Spend a verification token and mark its address verified (if it is still the
    /// account's address), or a change token and make its address the account's.
    #[instrument(skip_all)]
    pub async fn verify_email(&self, token: &str) -> Result<(), AuthError> {
        let hash = secrets::digest(token);
        let mut conn = db::conn(self.pool()).await?;
        let user = (*conn)
            .transaction::<_, AuthError, _>(async move |conn: &mut AsyncPgConnection| {
                if let Some((user, email)) = repo::spend_email_token(conn, &hash, VERIFY).await? {
                    repo::mark_email_verified(conn, user, &email).await?;
                    return Ok(user);
                }
                // A change of address: the link reached the new address, which is now the
                // account's, verified; older change links of the account die.
                let Some((user, email)) = repo::spend_email_token(conn, &hash, CHANGE).await?
                else {
                    return Err(AuthError::InvalidEmailToken);
                };
                repo::change_email(conn, user, &email).await.map_err(|e| {
                    if db::is_unique_violation(&e) {
                        AuthError::EmailTaken
                    } else {
                        e.into()
                    }
                })?;
                repo::spend_all_email_tokens(conn, user, CHANGE).await?;
                Ok(user)
            })
            .await?;
        self.users.invalidate(&user.to_string()).await;
        tracing::info!(user_id = %user, "e-mail address verified");
        Ok(())
    }

    /// Mail a new verification link to the account's current address (the first may be lost,
    /// expired, or sent to an address since changed). Limited per account like reset mails
    /// per address; 409 once the address is verified.
    #[instrument(skip_all, fields(user_id = %user))]
    pub async fn resend_verification(&self, user: UserId) -> Result<(), AuthError> {
        let key = format!("rl:verify:acct:{user}");
        self.reserve(&key, self.settings().reset_max_per_address)
            .await?;
        let mut conn = db::conn(self.pool()).await?;
        (*conn)
            .transaction::<_, AuthError, _>(async |conn: &mut AsyncPgConnection| {
                let row = repo::user_by_id(conn, user)
                    .await?
                    .ok_or(AuthError::NotFound)?;
                if row.email_verified_at.is_some() {
                    return Err(AuthError::AlreadyVerified);
                }
                self.queue_verification(conn, &row).await
            })
            .await?;
        tracing::info!("verification mail sent again");
        Ok(())
    }

    /// Mail a reset link if an account has `email`. The answer is the same either way; the
    /// attempts are limited per client IP and per address (known or not) with 429.
    #[instrument(skip_all)]
    pub async fn forgot_password(&self, email: &str, client: &ClientInfo) -> Result<(), AuthError> {
        self.passwords_allowed()?;
        let email =
            Email::parse(email).map_err(|m| AuthError::Validation(vec![field("email", m)]))?;
        let ip_key = format!("rl:forgot:ip:{}", client.ip.as_deref().unwrap_or("unknown"));
        self.reserve(&ip_key, self.settings().reset_max_per_ip)
            .await?;
        let address_key = format!("rl:forgot:addr:{}", secrets::label(email.as_str()));
        if let Err(e) = self
            .reserve(&address_key, self.settings().reset_max_per_address)
            .await
        {
            self.release(&ip_key).await;
            return Err(e);
        }
        let mut conn = db::conn(self.pool()).await?;
        let queued = (*conn)
            .transaction::<_, AuthError, _>(async |conn: &mut AsyncPgConnection| {
                let Some(user) = repo::user_by_email(conn, email.as_str()).await? else {
                    return Ok(false);
                };
                self.queue_reset(conn, &user).await?;
                Ok(true)
            })
            .await?;
        tracing::info!(queued, "password reset asked");
        Ok(())
    }

    async fn queue_reset(
        &self,
        conn: &mut AsyncPgConnection,
        user: &UserRow,
    ) -> Result<(), AuthError> {
        let token = new_secret(RESET_PREFIX)?;
        repo::insert_email_token(
            conn,
            &secrets::digest(&token),
            user.id,
            RESET,
            &user.email,
            Utc::now() + RESET_TTL,
        )
        .await?;
        let link = self.outbox.link(&format!("/reset-password?token={token}"));
        // No display name: whoever registered the address chose it (see queue_verification).
        let mail = OutgoingMail {
            kind: "password-reset",
            to: user.email.clone(),
            subject: "Reset your mdz password".into(),
            text: format!(
                "Hello,\n\nsomeone (hopefully you) asked to reset your mdz password. \
                 Choose a new one here:\n\n{link}\n\nThe link works once, for 30 minutes, and \
                 signs you out everywhere. If you did not ask, ignore this mail.\n"
            ),
            html: html_page(
                &[
                    "Hello,".into(),
                    "someone (hopefully you) asked to reset your mdz password.".into(),
                    "The link works once, for 30 minutes, and signs you out everywhere. \
                     If you did not ask, ignore this mail."
                        .into(),
                ],
                "Choose a new password",
                &link,
            ),
        };
        self.outbox.enqueue(conn, &mail).await?;
        Ok(())
    }

    /// Set a new password with a reset token, and end every session and personal access
    /// token of the account: whoever held the account before its owner proved the address
    /// (someone who registered it first, someone who knew the old password) keeps nothing.
    #[instrument(skip_all)]
    pub async fn reset_password(&self, token: &str, password: &str) -> Result<(), AuthError> {
        self.passwords_allowed()?;
        let hash = secrets::digest(token);
        let email = {
            let mut conn = db::conn(self.pool()).await?;
            repo::live_email_token(&mut conn, &hash, RESET)
                .await?
                .ok_or(AuthError::InvalidEmailToken)?
                .1
        };
        let new = NewPassword::parse(password, Some(&email))
            .map_err(|m| AuthError::Validation(vec![field("password", m)]))?;
        let password_hash = self.hasher.hash(new.into_inner()).await?;
        let mut conn = db::conn(self.pool()).await?;
        let (user, revoked, tokens) = (*conn)
            .transaction::<_, AuthError, _>(async move |conn: &mut AsyncPgConnection| {
                // Spent here, under the write: of two concurrent resets one wins.
                let Some((user, email)) = repo::spend_email_token(conn, &hash, RESET).await? else {
                    return Err(AuthError::InvalidEmailToken);
                };
                repo::set_password_hash(conn, user, &password_hash).await?;
                repo::spend_all_email_tokens(conn, user, RESET).await?;
                // The link came to the address: it is the owner's.
                repo::mark_email_verified(conn, user, &email).await?;
                let revoked =
                    repo::revoke_sessions_except(conn, user, None, "password reset").await?;
                let tokens = repo::delete_api_tokens_of(conn, user).await?;
                Ok((user, revoked, tokens))
            })
            .await?;
        for session in revoked {
            self.flag_revoked(session).await;
        }
        for token in tokens {
            self.revocations.announce(Revoked::Token(token)).await;
        }
        self.users.invalidate(&user.to_string()).await;
        tracing::info!(user_id = %user, "password reset");
        Ok(())
    }
}
