//! Single sign-on with OpenID Connect: `GET /auth/oidc/start` sends the browser to the
//! provider (authorization code flow, PKCE S256, state, nonce), `GET /auth/oidc/callback`
//! verifies what comes back and opens an mdz session as a password login does.
//!
//! A flow's secrets (PKCE verifier, nonce, where to return) stay in PostgreSQL under the
//! SHA-256 of its `state`, for `oidc_flow_ttl_secs`, and are deleted as the callback reads
//! them (single use, on every replica). The browser that started the flow holds a random
//! value in an HttpOnly `SameSite=Lax` cookie whose SHA-256 the row keeps: a callback URL
//! carried to another browser (login CSRF) signs nobody in there.
//!
//! Accounts are found by the provider's (issuer, subject) first. A first sign-in links the
//! account with the provider's address when the provider says it is verified, the account
//! has verified it too, and the account has no other link at this provider; otherwise, with
//! `oidc_auto_create`, an account is created.

pub mod endpoint;
pub mod http;
pub mod provider;
mod repo;

use crate::error::AuthError;
use crate::interface::{DisplayName, Email};
use crate::repo::UserRow;
use crate::service::{AuthService, ClientInfo};
use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use mdz_core::db::{self, DbError, is_unique_violation};
use mdz_core::ids::UserId;
use mdz_core::secrets;
use provider::{Provider, ProviderConfig, ProviderError, ProviderIdentity};
use std::sync::Arc;
use std::time::Duration;

/// The stored password of an account made by single sign-on: not a hash, so no password
/// matches it (a password reset can set one).
pub const NO_PASSWORD: &str = "!sso";
/// Longest `return_to` kept for after the sign-in.
pub const MAX_RETURN_TO_BYTES: usize = 1024;
const BROWSER_PREFIX: &str = "mdz_oidc_";

/// The single sign-on settings, from the process configuration.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub provider: ProviderConfig,
    pub auto_create: bool,
    pub flow_ttl: Duration,
    pub start_max_per_ip: u64,
}

/// Why a sign-in did not happen. Each becomes an `sso_error` code for the web app.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// No flow has this state (never started, or spent): the browser's flow cookie, which may
    /// belong to a sign-in still under way, is left alone.
    #[error("no sign-in has this state")]
    UnknownState,
    #[error("the callback does not belong to this browser's sign-in")]
    State,
    #[error("the sign-in took too long")]
    Expired,
    #[error("the provider did not sign the person in: {0}")]
    Denied(String),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("the provider gave no usable e-mail address")]
    NoEmail,
    #[error("the provider has not verified the address")]
    EmailUnverified,
    #[error("the account with this address has not verified it")]
    AccountUnverified,
    #[error("the account with this address is linked to another identity at this provider")]
    LinkedElsewhere,
    #[error("no account has this address and accounts are not created by single sign-on")]
    NoAccount,
    #[error("too many sign-ins from this address")]
    RateLimited,
    #[error("two first sign-ins at once")]
    Race,
    #[error(transparent)]
    Auth(AuthError),
}

impl From<AuthError> for OidcError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::RateLimited { .. } => Self::RateLimited,
            other => Self::Auth(other),
        }
    }
}

impl From<DbError> for OidcError {
    fn from(e: DbError) -> Self {
        Self::Auth(AuthError::Db(e))
    }
}

impl From<diesel::result::Error> for OidcError {
    fn from(e: diesel::result::Error) -> Self {
        if is_unique_violation(&e) {
            Self::Race
        } else {
            Self::Auth(e.into())
        }
    }
}

impl OidcError {
    /// The `sso_error` the browser is sent back with.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownState | Self::State => "state",
            Self::Expired => "expired",
            Self::Denied(_) => "denied",
            Self::Provider(ProviderError::Unavailable(_)) => "unavailable",
            Self::Provider(ProviderError::CodeRejected(_)) => "code",
            Self::Provider(ProviderError::BadIdToken(_)) => "token",
            Self::NoEmail => "email_missing",
            Self::EmailUnverified => "email_unverified",
            Self::AccountUnverified => "account_unverified",
            Self::LinkedElsewhere => "already_linked",
            Self::NoAccount => "no_account",
            Self::RateLimited => "rate_limited",
            Self::Race => "retry",
            Self::Auth(_) => "failed",
        }
    }
}

/// Where the browser goes after signing in: a path on this site.
#[derive(Debug, Clone)]
pub struct ReturnTo(String);

impl ReturnTo {
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        let Some(raw) = raw else {
            return Ok(Self("/".into()));
        };
        if raw.len() > MAX_RETURN_TO_BYTES {
            return Err(format!("must be at most {MAX_RETURN_TO_BYTES} bytes"));
        }
        let on_this_site = raw.starts_with('/')
            && !raw.starts_with("//")
            && !raw.contains('\\')
            && !raw.chars().any(char::is_control);
        if !on_this_site {
            return Err("must be a path on this site (one leading /)".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A started sign-in: where to send the browser, and the browser's half of the flow.
pub struct Started {
    pub location: String,
    pub browser_secret: String,
}

/// What the callback of a started sign-in brought back.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set by the provider when it did not sign the person in (`access_denied`, …).
    pub error: Option<String>,
    /// The issuer (RFC 9207), when the provider sends it.
    pub iss: Option<String>,
}

/// A finished sign-in: the new session's refresh token and where to go.
pub struct SignedIn {
    pub user_id: UserId,
    pub refresh_token: String,
    pub return_to: String,
}

pub struct OidcService {
    auth: Arc<AuthService>,
    provider: Provider,
    settings: OidcSettings,
}

impl OidcService {
    pub fn new(auth: Arc<AuthService>, settings: OidcSettings) -> Result<Self, http::HttpError> {
        Ok(Self {
            provider: Provider::new(settings.provider.clone())?,
            auth,
            settings,
        })
    }

    pub fn flow_ttl(&self) -> Duration {
        self.settings.flow_ttl
    }

    /// Discover the provider in the background, so the first sign-in does not wait for it
    /// and a misconfiguration shows in the log at start.
    pub fn warm(self: &Arc<Self>) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.provider.warm().await {
                tracing::warn!(
                    error = %e,
                    cause = ?std::error::Error::source(&e),
                    issuer = %this.provider.issuer(),
                    "single sign-on provider not reachable yet; sign-ins retry discovery"
                );
            }
        });
    }

    pub async fn start(
        &self,
        return_to: ReturnTo,
        client: &ClientInfo,
    ) -> Result<Started, OidcError> {
        let ip_key = format!("rl:oidc:ip:{}", client.ip.as_deref().unwrap_or("unknown"));
        self.auth
            .reserve(&ip_key, self.settings.start_max_per_ip)
            .await?;
        let authorization = self.provider.authorize().await?;
        let browser_secret = secrets::generate(BROWSER_PREFIX)
            .map_err(|e| AuthError::Internal(format!("randomness: {e}")))?;
        let now = Utc::now();
        let row = repo::FlowRow {
            state_hash: secrets::digest(&authorization.state),
            browser_hash: secrets::digest(&browser_secret),
            pkce_verifier: authorization.pkce_verifier,
            nonce: authorization.nonce,
            return_to: return_to.0,
            created_at: now,
            expires_at: now
                + chrono::Duration::from_std(self.settings.flow_ttl).unwrap_or_default(),
        };
        let mut conn = db::conn(self.auth.pool()).await?;
        repo::insert_flow(&mut conn, &row).await?;
        Ok(Started {
            location: authorization.url,
            browser_secret,
        })
    }

    /// Check the callback against its flow, identify the person at the provider, find or
    /// make their account, and open a session.
    pub async fn finish(
        &self,
        callback: Callback,
        browser_secret: Option<&str>,
        client: &ClientInfo,
    ) -> Result<SignedIn, OidcError> {
        let state = callback.state.as_deref().ok_or(OidcError::UnknownState)?;
        let flow = {
            let mut conn = db::conn(self.auth.pool()).await?;
            repo::take_flow(&mut conn, &secrets::digest(state)).await?
        }
        .ok_or(OidcError::UnknownState)?;
        if browser_secret.map(secrets::digest).as_deref() != Some(flow.browser_hash.as_slice()) {
            return Err(OidcError::State);
        }
        if flow.expires_at <= Utc::now() {
            return Err(OidcError::Expired);
        }
        if let Some(error) = callback.error {
            return Err(OidcError::Denied(error.chars().take(100).collect()));
        }
        if callback
            .iss
            .as_deref()
            .is_some_and(|iss| iss != self.provider.issuer())
        {
            return Err(OidcError::State);
        }
        let code = callback.code.as_deref().ok_or(OidcError::State)?;
        let who = self
            .provider
            .identify(code, &flow.pkce_verifier, &flow.nonce)
            .await?;
        let user = self.account_for(&who).await?;
        let refresh_token = self.auth.open_session_for(&user, client).await?;
        tracing::info!(user_id = %user.id, "signed in with single sign-on");
        Ok(SignedIn {
            user_id: user.id,
            refresh_token,
            return_to: flow.return_to,
        })
    }

    /// The account of this identity: linked before, linked now by a verified address, or
    /// created now.
    async fn account_for(&self, who: &ProviderIdentity) -> Result<UserRow, OidcError> {
        let issuer = self.provider.issuer();
        let mut conn = db::conn(self.auth.pool()).await?;
        (*conn)
            .transaction::<_, OidcError, _>(async |conn: &mut AsyncPgConnection| {
                if let Some(user) = repo::user_by_identity(conn, issuer, &who.subject).await? {
                    return Ok(user);
                }
                let email = who.email.as_deref().ok_or(OidcError::NoEmail)?;
                let email = Email::parse(email).map_err(|_| OidcError::NoEmail)?;
                if !who.email_verified {
                    return Err(OidcError::EmailUnverified);
                }
                let existing = crate::repo::user_by_email(conn, email.as_str()).await?;
                let user = match existing {
                    Some(user) => {
                        if user.email_verified_at.is_none() {
                            return Err(OidcError::AccountUnverified);
                        }
                        if repo::linked_at(conn, user.id, issuer).await? {
                            return Err(OidcError::LinkedElsewhere);
                        }
                        user
                    }
                    None if self.settings.auto_create => {
                        crate::repo::insert_user(conn, &new_account(&email, who)).await?
                    }
                    None => return Err(OidcError::NoAccount),
                };
                repo::insert_identity(
                    conn,
                    &repo::IdentityRow {
                        issuer,
                        subject: &who.subject,
                        user_id: user.id,
                        email: email.as_str(),
                    },
                )
                .await?;
                tracing::info!(user_id = %user.id, "single sign-on identity linked");
                Ok(user)
            })
            .await
    }
}

/// An account made by single sign-on: the provider verified its address; it has no password.
fn new_account(email: &Email, who: &ProviderIdentity) -> UserRow {
    let local = email.as_str().split('@').next().unwrap_or_default();
    let name = who
        .name
        .as_deref()
        .and_then(|n| DisplayName::parse(n).ok())
        .or_else(|| DisplayName::parse(local).ok())
        .map_or_else(|| "mdz user".to_owned(), |n| n.as_str().to_owned());
    let now = Utc::now();
    UserRow {
        id: UserId::new(),
        email: email.as_str().to_owned(),
        password_hash: NO_PASSWORD.to_owned(),
        display_name: name,
        created_at: now,
        updated_at: now,
        email_verified_at: Some(now),
        mention_mails: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_is_a_path_on_this_site() {
        assert_eq!(ReturnTo::parse(None).unwrap().as_str(), "/");
        assert_eq!(
            ReturnTo::parse(Some("/p/1?x=2")).unwrap().as_str(),
            "/p/1?x=2"
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "",
            "/a\nb",
        ] {
            assert!(ReturnTo::parse(Some(bad)).is_err(), "{bad:?}");
        }
        assert!(ReturnTo::parse(Some(&format!("/{}", "a".repeat(1024)))).is_err());
    }

    #[test]
    fn an_account_made_by_sso_has_no_usable_password_and_a_name() {
        let email = Email::parse("Ada@Example.com").unwrap();
        let who = ProviderIdentity {
            subject: "s".into(),
            email: None,
            email_verified: true,
            name: Some("  ".into()),
        };
        let row = new_account(&email, &who);
        assert_eq!(row.display_name, "ada");
        assert_eq!(row.password_hash, NO_PASSWORD);
        assert!(row.email_verified_at.is_some());
    }
}
