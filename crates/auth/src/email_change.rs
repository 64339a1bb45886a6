//! Changing the account's e-mail address. The signed-in person names the new address and
//! proves they hold the account (its current password); a `change` token is mailed to the new
//! address, and only following its link makes the address the account's (verified at once,
//! since the link proved it). The old address is told, with a way back in if it was not them.

use crate::email_flows::{CHANGE, VERIFY_PREFIX, VERIFY_TTL};
use crate::error::AuthError;
use crate::interface::Email;
use crate::repo::{self, UserRow};
use crate::secrets;
use crate::service::{AuthService, field, new_secret};
use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use mdz_core::db;
use mdz_core::mail::{OutgoingMail, escape_html, html_page};
use mdz_core::ports::Principal;
use tracing::instrument;

impl AuthService {
    /// Ask to move the account to `new_email`: 202 once the link is on its way to it. Needs
    /// the current password (wrong guesses count like login failures) and counts against the
    /// account's verification mails (429 past `PASSWORD_RESET_MAX_PER_ADDRESS` a window).
    #[instrument(skip_all, fields(user_id = %principal.user_id))]
    pub async fn request_email_change(
        &self,
        principal: &Principal,
        new_email: &str,
        current_password: String,
    ) -> Result<(), AuthError> {
        self.passwords_allowed()?;
        let email =
            Email::parse(new_email).map_err(|m| AuthError::Validation(vec![field("email", m)]))?;
        let user = {
            let mut conn = db::conn(self.pool()).await?;
            repo::user_by_id(&mut conn, principal.user_id)
                .await?
                .ok_or(AuthError::NotFound)?
        };
        if user.email == email.as_str() {
            return Err(AuthError::Validation(vec![field(
                "email",
                "is already the account's address".into(),
            )]));
        }
        self.check_current_password(&user, current_password).await?;
        let key = format!("rl:verify:acct:{}", user.id);
        self.reserve(&key, self.settings().reset_max_per_address)
            .await?;
        let mut conn = db::conn(self.pool()).await?;
        (*conn)
            .transaction::<_, AuthError, _>(async |conn: &mut AsyncPgConnection| {
                if repo::user_by_email(conn, email.as_str()).await?.is_some() {
                    return Err(AuthError::EmailTaken);
                }
                self.queue_change(conn, &user, email.as_str()).await
            })
            .await?;
        tracing::info!("e-mail change requested");
        Ok(())
    }

    /// Wrong guesses count against the account like failed logins (429 past the limit).
    async fn check_current_password(
        &self,
        user: &UserRow,
        current: String,
    ) -> Result<(), AuthError> {
        let key = format!("rl:password:acct:{}", user.id);
        self.reserve(&key, self.settings().login_max_failures)
            .await?;
        let admission = match self.hasher.admit() {
            Ok(a) => a,
            Err(e) => {
                self.release(&key).await;
                return Err(e.into());
            }
        };
        let checked = admission
            .verify(current, Some(user.password_hash.clone()))
            .await;
        if !matches!(checked, Ok(false)) {
            self.release(&key).await;
        }
        if checked? {
            Ok(())
        } else {
            Err(AuthError::WrongCurrentPassword)
        }
    }

    /// The token and both mails of a change, in the caller's transaction.
    async fn queue_change(
        &self,
        conn: &mut AsyncPgConnection,
        user: &UserRow,
        new_email: &str,
    ) -> Result<(), AuthError> {
        let token = new_secret(VERIFY_PREFIX)?;
        let expires = Utc::now() + VERIFY_TTL;
        let hash = secrets::digest(&token);
        repo::insert_email_token(conn, &hash, user.id, CHANGE, new_email, expires).await?;
        let link = self.outbox.link(&format!("/verify-email?token={token}"));
        let confirm = OutgoingMail {
            kind: "verify-email",
            to: new_email.to_owned(),
            subject: "Confirm your new e-mail address".into(),
            text: format!(
                "Hello,\n\nconfirm that this is the new address of your mdz account by \
                 opening:\n\n{link}\n\nThe link works once, for 48 hours. Until then the account \
                 keeps its old address. If you did not ask for this, ignore this mail.\n"
            ),
            html: html_page(
                &[
                    "Hello,".into(),
                    "confirm that this is the new address of your mdz account.".into(),
                    "The link works once, for 48 hours. Until then the account keeps its old \
                     address. If you did not ask for this, ignore this mail."
                        .into(),
                ],
                "Confirm my new address",
                &link,
            ),
        };
        self.outbox.enqueue(conn, &confirm).await?;
        let reset = self.outbox.link("/forgot-password");
        let notice = OutgoingMail {
            kind: "email-change",
            to: user.email.clone(),
            subject: "Your mdz address is being changed".into(),
            text: format!(
                "Hello,\n\nsomeone signed in to your mdz account asked to change its address to \
                 {new_email}. The change happens once that address confirms it.\n\nIf this was \
                 not you, reset your password now:\n\n{reset}\n"
            ),
            html: html_page(
                &[
                    "Hello,".into(),
                    format!(
                        "someone signed in to your mdz account asked to change its address to \
                         <strong>{}</strong>. The change happens once that address confirms it.",
                        escape_html(new_email)
                    ),
                    "If this was not you, reset your password now.".into(),
                ],
                "Reset my password",
                &reset,
            ),
        };
        self.outbox.enqueue(conn, &notice).await?;
        Ok(())
    }
}
