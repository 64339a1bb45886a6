//! The auth rules: accounts, login with rate limits, rotating refresh sessions with reuse
//! detection, immediate revocation, personal access tokens, and bearer-token verification.

use crate::error::AuthError;
use crate::interface::{
    ApiToken, AuthResponse, CreatedApiToken, Email, NewAccount, NewApiToken, NewPassword, Session,
    User,
};
use crate::keys::{ALGORITHM, Jwks, SigningKey};
use crate::password::Hasher;
use crate::repo::{self, ApiTokenRow, RefreshUse, SessionRow, UserRow};
use crate::secrets;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use jsonwebtoken::{Header, Validation};
use mdz_core::cache::Cache;
use mdz_core::db::{self, DbPool, is_unique_violation};
use mdz_core::ids::{ProjectId, SessionId, TokenId, UserId};
use mdz_core::kv::SharedKv;
use mdz_core::pagination::{Page, PageRequest};
use mdz_core::ports::{Credential, Principal, Scope, TokenRejection, TokenVerifier};
use mdz_core::revocation::{Revocations, Revoked};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tracing::instrument;
use uuid::Uuid;

mod account;
mod credentials;
mod verify;

/// Tunables of the auth service, from the process configuration.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub issuer: String,
    pub login_max_failures: u64,
    pub register_max_per_ip: u64,
    /// `POST /auth/password/forgot` per address and per client IP within `rate_window`.
    pub reset_max_per_address: u64,
    pub reset_max_per_ip: u64,
    pub rate_window: Duration,
    /// Password hashes computed at once.
    pub hash_concurrency: usize,
    /// Callers that may wait for a hashing slot.
    pub hash_queue: usize,
    /// Whether passwords work at all (`oidc_only` turns them off).
    pub passwords: bool,
}

/// Where a request came from, for the session list and rate limits.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: Uuid,
    sid: Uuid,
    iat: i64,
    exp: i64,
}

pub struct AuthService {
    pool: DbPool,
    kv: SharedKv,
    key: SigningKey,
    settings: AuthSettings,
    pub(crate) hasher: Hasher,
    validation: Validation,
    /// Signatures already checked, by token: an Ed25519 verification costs far more than the
    /// rest of a request. Revocation is still checked on every request.
    verified: RwLock<HashMap<String, (Principal, i64)>>,
    /// Profiles for `GET /auth/me`, dropped on every node when one changes.
    pub(crate) users: Arc<Cache<User>>,
    /// Where ended sessions and deleted tokens are announced to long-lived connections.
    pub(crate) revocations: Arc<Revocations>,
    /// Where verification and password-reset mails are queued.
    pub(crate) outbox: mdz_core::mail::Outbox,
}

const VERIFIED_MAX: usize = 100_000;

fn revoked_key(session: SessionId) -> String {
    format!("revoked:session:{session}")
}

impl AuthService {
    pub fn new(
        pool: DbPool,
        kv: SharedKv,
        key: SigningKey,
        settings: AuthSettings,
        revocations: Arc<Revocations>,
        outbox: mdz_core::mail::Outbox,
    ) -> Self {
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 0;
        validation.validate_aud = false;
        let users = Cache::new("users", kv.clone(), Duration::from_secs(60), 100_000);
        Self {
            pool,
            kv,
            key,
            hasher: Hasher::new(settings.hash_concurrency, settings.hash_queue),
            settings,
            validation,
            verified: RwLock::new(HashMap::new()),
            users,
            revocations,
            outbox,
        }
    }

    pub(crate) fn pool(&self) -> &DbPool {
        &self.pool
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// The public signing keys.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: vec![self.key.jwk.clone()],
        }
    }

    /// After a restart, an in-process revocation list is empty: refill it from PostgreSQL with
    /// every session revoked recently enough for its access tokens to still be unexpired.
    pub async fn reseed_revocations(&self) -> Result<usize, AuthError> {
        let horizon = self.revocation_ttl();
        let since = Utc::now() - chrono::Duration::from_std(horizon).unwrap_or_default();
        let mut conn = db::conn(&self.pool).await?;
        let ids = repo::revoked_since(&mut conn, since).await?;
        for id in &ids {
            self.flag_revoked(*id).await;
        }
        Ok(ids.len())
    }

    fn revocation_ttl(&self) -> Duration {
        self.settings.access_ttl + Duration::from_secs(60)
    }

    pub(crate) async fn flag_revoked(&self, session: SessionId) {
        // Open WebSockets and SSE streams of the session end on every node.
        self.revocations.announce(Revoked::Session(session)).await;
        let key = revoked_key(session);
        let ttl = self.revocation_ttl();
        if let Err(e) = self.kv.set_flag(&key, ttl).await {
            // The database holds the revocation; the flag is the fast path. Retry in the
            // background so a blip in Redis does not leave the token usable.
            tracing::warn!(error = %e, %session, "could not flag a revoked session; retrying");
            let kv = self.kv.clone();
            tokio::spawn(async move {
                for attempt in 1..=10u64 {
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                    if kv.set_flag(&key, ttl).await.is_ok() {
                        return;
                    }
                }
                tracing::error!(%session, "revoked session could not be flagged in the shared store");
            });
        }
    }

    fn access_token(&self, user: UserId, session: SessionId) -> Result<String, AuthError> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            iss: self.settings.issuer.clone(),
            sub: user.0,
            sid: session.0,
            iat: now,
            exp: now + i64::try_from(self.settings.access_ttl.as_secs()).unwrap_or(900),
        };
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(self.key.kid.clone());
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, &claims, &self.key.encoding)
            .map_err(|e| AuthError::Internal(format!("signing an access token: {e}")))
    }

    fn refresh_expiry(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.settings.refresh_ttl).unwrap_or_default()
    }

    /// Open a session for `user` and return its id and first refresh token.
    async fn open_session(
        &self,
        conn: &mut AsyncPgConnection,
        user: UserId,
        client: &ClientInfo,
    ) -> Result<(SessionId, String), AuthError> {
        let now = Utc::now();
        let session = SessionRow {
            id: SessionId::new(),
            user_id: user,
            user_agent: client.user_agent.clone(),
            ip: client.ip.clone(),
            created_at: now,
            updated_at: now,
            last_used_at: now,
            expires_at: self.refresh_expiry(),
            revoked_at: None,
            revoked_reason: None,
        };
        repo::insert_session(conn, &session).await?;
        let refresh = new_secret(secrets::REFRESH_PREFIX)?;
        repo::insert_refresh_token(conn, &secrets::digest(&refresh), session.id).await?;
        Ok((session.id, refresh))
    }

    /// A new session for an account single sign-on vouched for; its refresh token.
    pub(crate) async fn open_session_for(
        &self,
        user: &UserRow,
        client: &ClientInfo,
    ) -> Result<String, AuthError> {
        let mut conn = db::conn(&self.pool).await?;
        let (session, refresh) = self.open_session(&mut conn, user.id, client).await?;
        tracing::info!(user_id = %user.id, %session, "session opened by single sign-on");
        Ok(refresh)
    }

    /// Refuse when passwords are turned off (`oidc_only`).
    pub(crate) fn passwords_allowed(&self) -> Result<(), AuthError> {
        if self.settings.passwords {
            Ok(())
        } else {
            Err(AuthError::PasswordsDisabled)
        }
    }

    fn auth_response(
        &self,
        user: UserRow,
        session: SessionId,
        refresh_token: String,
    ) -> Result<AuthResponse, AuthError> {
        Ok(AuthResponse {
            access_token: self.access_token(user.id, session)?,
            refresh_token: Some(refresh_token),
            token_type: "Bearer",
            expires_in: self.settings.access_ttl.as_secs(),
            user: user_view(user),
        })
    }

    /// Reserve one attempt against `key` before doing the work it limits, so parallel
    /// attempts cannot all pass a check made before any of them is counted; `Err` (and
    /// nothing kept) when the limit is passed. A shared store that is down does not lock
    /// everyone out: the attempt is allowed and the outage logged.
    pub(crate) async fn reserve(&self, key: &str, max: u64) -> Result<(), AuthError> {
        match self.kv.incr(key, self.settings.rate_window).await {
            Ok(w) if w.count > max => {
                self.release(key).await;
                Err(AuthError::RateLimited {
                    retry_after_secs: w.resets_in.as_secs().max(1),
                })
            }
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "rate limiter unavailable; allowing the attempt");
                Ok(())
            }
        }
    }

    /// Reserve one attempt against each key, all or none.
    async fn reserve_all(&self, keys: &[&str], max: u64) -> Result<(), AuthError> {
        for (i, key) in keys.iter().enumerate() {
            if let Err(e) = self.reserve(key, max).await {
                self.release_all(&keys[..i]).await;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Give back a reserved attempt that does not count (it succeeded, or was never tried).
    pub(crate) async fn release(&self, key: &str) {
        if let Err(e) = self.kv.release(key).await {
            tracing::warn!(error = %e, "rate limiter unavailable; attempt not given back");
        }
    }

    async fn release_all(&self, keys: &[&str]) {
        for key in keys {
            self.release(key).await;
        }
    }

    #[instrument(skip_all)]
    pub async fn register(
        &self,
        account: NewAccount,
        client: &ClientInfo,
    ) -> Result<AuthResponse, AuthError> {
        self.passwords_allowed()?;
        let ip = client.ip.as_deref().unwrap_or("unknown");
        let ip_key = format!("rl:register:ip:{ip}");
        self.reserve(&ip_key, self.settings.register_max_per_ip)
            .await?;
        let hash = match self.hasher.hash(account.password.into_inner()).await {
            Ok(hash) => hash,
            Err(e) => {
                // Turned away before any work: it does not count against the address.
                self.release(&ip_key).await;
                return Err(e.into());
            }
        };
        let now = Utc::now();
        let row = UserRow {
            id: UserId::new(),
            email: account.email.as_str().to_owned(),
            password_hash: hash,
            display_name: account.display_name.as_str().to_owned(),
            created_at: now,
            updated_at: now,
            email_verified_at: None,
            mention_mails: true,
        };
        let mut conn = db::conn(&self.pool).await?;
        let (user, session, refresh) = (*conn)
            .transaction::<_, AuthError, _>(async move |conn: &mut AsyncPgConnection| {
                let user = repo::insert_user(conn, &row).await.map_err(|e| {
                    if is_unique_violation(&e) {
                        AuthError::EmailTaken
                    } else {
                        e.into()
                    }
                })?;
                let (session, refresh) = self.open_session(conn, user.id, client).await?;
                self.queue_verification(conn, &user).await?;
                Ok((user, session, refresh))
            })
            .await?;
        tracing::info!(user_id = %user.id, %session, "account registered");
        self.auth_response(user, session, refresh)
    }

    #[instrument(skip_all)]
    pub async fn login(
        &self,
        email: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<AuthResponse, AuthError> {
        self.passwords_allowed()?;
        let email =
            Email::parse(email).map_err(|m| AuthError::Validation(vec![field("email", m)]))?;
        let ip_key = format!("rl:login:ip:{}", client.ip.as_deref().unwrap_or("unknown"));
        let account_key = format!("rl:login:acct:{}", secrets::label(email.as_str()));
        let keys = [ip_key.as_str(), account_key.as_str()];
        // Counted before the password is checked: of many parallel guesses at most
        // `login_max_failures` are evaluated; a success gives its reservation back.
        self.reserve_all(&keys, self.settings.login_max_failures)
            .await?;
        let user = match self.check_password(email.as_str(), password).await {
            Ok(user) => user,
            Err(e) => {
                self.release_all(&keys).await;
                return Err(e);
            }
        };
        let Some(user) = user else {
            tracing::info!("login failed");
            return Err(AuthError::InvalidCredentials);
        };
        self.release(&ip_key).await;
        if let Err(e) = self.kv.reset(&account_key).await {
            tracing::warn!(error = %e, "could not reset the failure counter");
        }
        let mut conn = db::conn(&self.pool).await?;
        let checked = user.password_hash.clone();
        let (session, refresh) = (*conn)
            .transaction::<_, AuthError, _>(async |conn: &mut AsyncPgConnection| {
                // The password was checked against a hash read before hashing: a reset or
                // change committed meanwhile makes it the old password, which opens nothing.
                if repo::lock_credentials(conn, user.id).await?.as_deref() != Some(&checked) {
                    return Err(AuthError::InvalidCredentials);
                }
                self.open_session(conn, user.id, client).await
            })
            .await?;
        tracing::info!(user_id = %user.id, %session, "logged in");
        self.auth_response(user, session, refresh)
    }

    /// The account when `password` is its password. No pool connection is held while the
    /// password is hashed.
    async fn check_password(
        &self,
        email: &str,
        password: String,
    ) -> Result<Option<UserRow>, AuthError> {
        let admission = self.hasher.admit()?;
        let user = {
            let mut conn = db::conn(&self.pool).await?;
            repo::user_by_email(&mut conn, email).await?
        };
        let ok = admission
            .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
            .await?;
        Ok(user.filter(|_| ok))
    }

    #[instrument(skip_all)]
    pub async fn refresh(
        &self,
        refresh_token: &str,
        client: &ClientInfo,
    ) -> Result<AuthResponse, AuthError> {
        enum Outcome {
            Rotated(UserRow, SessionId, String),
            Reused(SessionId, UserId),
            Invalid,
        }
        let hash = secrets::digest(refresh_token);
        let expires_at = self.refresh_expiry();
        let mut conn = db::conn(&self.pool).await?;
        let outcome = (*conn)
            .transaction::<_, AuthError, _>(async move |conn: &mut AsyncPgConnection| {
                let session_id = match repo::spend_refresh_token(conn, &hash).await? {
                    RefreshUse::Unknown => return Ok(Outcome::Invalid),
                    RefreshUse::Reused(id) => {
                        let Some(session) = repo::session_by_id(conn, id).await? else {
                            return Ok(Outcome::Invalid);
                        };
                        repo::revoke_session(conn, session.user_id, id, "refresh token reuse")
                            .await?;
                        return Ok(Outcome::Reused(id, session.user_id));
                    }
                    RefreshUse::Fresh(id) => id,
                };
                let Some(session) = repo::session_by_id(conn, session_id).await? else {
                    return Ok(Outcome::Invalid);
                };
                if session.revoked_at.is_some() || session.expires_at <= Utc::now() {
                    return Ok(Outcome::Invalid);
                }
                let Some(user) = repo::user_by_id(conn, session.user_id).await? else {
                    return Ok(Outcome::Invalid);
                };
                let refresh = new_secret(secrets::REFRESH_PREFIX)?;
                repo::insert_refresh_token(conn, &secrets::digest(&refresh), session.id).await?;
                repo::touch_session(
                    conn,
                    session.id,
                    expires_at,
                    client.user_agent.as_deref(),
                    client.ip.as_deref(),
                )
                .await?;
                Ok(Outcome::Rotated(user, session.id, refresh))
            })
            .await?;
        match outcome {
            Outcome::Rotated(user, session, refresh) => self.auth_response(user, session, refresh),
            Outcome::Reused(session, user_id) => {
                self.flag_revoked(session).await;
                tracing::warn!(%user_id, %session, "refresh token reuse: session revoked");
                Err(AuthError::InvalidRefreshToken)
            }
            Outcome::Invalid => Err(AuthError::InvalidRefreshToken),
        }
    }

    /// End the caller's session; its access tokens stop working on the next request.
    #[instrument(skip_all, fields(user_id = %principal.user_id))]
    pub async fn logout(&self, principal: &Principal) -> Result<(), AuthError> {
        let Some(session) = principal.session_id() else {
            return Ok(());
        };
        let mut conn = db::conn(&self.pool).await?;
        repo::revoke_session(&mut conn, principal.user_id, session, "logout").await?;
        self.flag_revoked(session).await;
        Ok(())
    }
}

pub(crate) fn new_secret(prefix: &str) -> Result<String, AuthError> {
    secrets::generate(prefix).map_err(|e| AuthError::Internal(format!("randomness: {e}")))
}

pub(crate) fn field(name: &str, message: String) -> mdz_core::FieldError {
    mdz_core::FieldError {
        field: name.to_owned(),
        message,
    }
}

pub(crate) fn user_view(u: UserRow) -> User {
    User {
        id: u.id,
        email: u.email,
        email_verified: u.email_verified_at.is_some(),
        display_name: u.display_name,
        mention_mails: u.mention_mails,
        created_at: u.created_at,
    }
}

/// Shared handle to the service, as registered in the app.
pub type SharedAuthService = Arc<AuthService>;
