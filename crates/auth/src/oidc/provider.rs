//! The provider as mdz sees it: discovery (lazy and cached, so mdz starts while the provider is
//! down), the authorization URL (PKCE S256, state, nonce), the code exchange and the ID token's
//! verification (signature, issuer, audience, expiry, nonce).

use super::http::{Http, HttpError};
use mdz_core::secret::Secret;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// How long a discovery document (and the key set with it) is used before it is read again.
pub const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// An ID token signed by a key mdz does not know makes it read the key set again, at most
/// this often (the provider may have rotated its keys).
pub const KEYS_REFRESH_AFTER: Duration = Duration::from_secs(60);
/// After a failed discovery, sign-ins fail at once for this long instead of each waiting for
/// the provider again.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);
/// Longest `sub` accepted (OpenID Connect Core: at most 255 ASCII characters).
pub const MAX_SUBJECT_BYTES: usize = 255;

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// The provider mdz trusts and how it is registered there.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    /// `PUBLIC_URL` + `/api/v1/auth/oidc/callback`.
    pub redirect_uri: String,
}

/// Who the provider says signed in, once every check passed.
#[derive(Debug, Clone)]
pub struct ProviderIdentity {
    pub subject: String,
    pub email: Option<String>,
    /// `email_verified` as the provider stated it (absent = not verified).
    pub email_verified: bool,
    pub name: Option<String>,
}

/// What a sign-in keeps between the start and the callback.
pub struct Authorization {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("the provider cannot be reached or does not describe itself correctly")]
    Unavailable(#[source] Cause),
    #[error("the provider refused the authorization code")]
    CodeRejected(#[source] Cause),
    #[error("the ID token failed verification")]
    BadIdToken(#[source] Cause),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Plain(&'static str);

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> ProviderError {
    ProviderError::Unavailable(Box::new(e))
}

fn bad_token(e: impl std::error::Error + Send + Sync + 'static) -> ProviderError {
    ProviderError::BadIdToken(Box::new(e))
}

struct Cached {
    client: Arc<Client>,
    fetched: Instant,
}

pub struct Provider {
    config: ProviderConfig,
    http: Http,
    cached: RwLock<Option<Cached>>,
    failed_at: RwLock<Option<Instant>>,
    /// One discovery at a time; the others wait for its result.
    discovering: tokio::sync::Mutex<()>,
}

impl Provider {
    pub fn new(config: ProviderConfig) -> Result<Self, HttpError> {
        Ok(Self {
            config,
            http: Http::new()?,
            cached: RwLock::new(None),
            failed_at: RwLock::new(None),
            discovering: tokio::sync::Mutex::new(()),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    fn cached_within(&self, max_age: Duration) -> Option<Arc<Client>> {
        let cached = self.cached.read().unwrap_or_else(PoisonError::into_inner);
        cached
            .as_ref()
            .filter(|c| c.fetched.elapsed() <= max_age)
            .map(|c| c.client.clone())
    }

    /// The client of a discovery at most `max_age` old: discovered now if need be; when the
    /// provider cannot be read, an older discovery still serves.
    async fn client(&self, max_age: Duration) -> Result<Arc<Client>, ProviderError> {
        if let Some(client) = self.cached_within(max_age) {
            return Ok(client);
        }
        let _one = self.discovering.lock().await;
        if let Some(client) = self.cached_within(max_age) {
            return Ok(client);
        }
        let failed_recently = self
            .failed_at
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|at| at.elapsed() < RETRY_AFTER_FAILURE);
        let found = if failed_recently {
            Err(unavailable(Plain("discovery failed moments ago")))
        } else {
            self.discover().await
        };
        match found {
            Ok(client) => {
                let client = Arc::new(client);
                *self.cached.write().unwrap_or_else(PoisonError::into_inner) = Some(Cached {
                    client: client.clone(),
                    fetched: Instant::now(),
                });
                Ok(client)
            }
            Err(e) => {
                if !failed_recently {
                    *self
                        .failed_at
                        .write()
                        .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
                }
                match self.cached_within(Duration::MAX) {
                    Some(stale) => {
                        tracing::warn!(error = %e, "provider discovery failed; using the last one");
                        Ok(stale)
                    }
                    None => Err(e),
                }
            }
        }
    }

    async fn discover(&self) -> Result<Client, ProviderError> {
        let issuer = IssuerUrl::new(self.config.issuer.clone()).map_err(unavailable)?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(unavailable)?;
        let redirect = RedirectUrl::new(self.config.redirect_uri.clone()).map_err(unavailable)?;
        let secret = self
            .config
            .client_secret
            .as_ref()
            .map(|s| ClientSecret::new(s.expose().to_owned()));
        tracing::info!(issuer = %self.config.issuer, "single sign-on provider discovered");
        Ok(Client::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            secret,
        )
        .set_redirect_uri(redirect))
    }

    /// Read the provider's description now (at start, so the first sign-in does not wait).
    pub async fn warm(&self) -> Result<(), ProviderError> {
        self.client(DISCOVERY_TTL).await.map(drop)
    }

    /// A new authorization request: where to send the browser, and the secrets to keep.
    pub async fn authorize(&self) -> Result<Authorization, ProviderError> {
        let client = self.client(DISCOVERY_TTL).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(Authorization {
            url: url.into(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Trade the code for tokens and verify the ID token against the flow's nonce; the
    /// address comes from the ID token, or from the user info endpoint when the provider
    /// keeps it out of the ID token.
    pub async fn identify(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<ProviderIdentity, ProviderError> {
        let client = self.client(DISCOVERY_TTL).await?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(unavailable)?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(_) => ProviderError::CodeRejected(Box::new(e)),
                other => unavailable(other),
            })?;
        let id_token = token
            .id_token()
            .ok_or_else(|| bad_token(Plain("the token response has no ID token")))?;
        let nonce = Nonce::new(nonce.to_owned());
        let (client, claims): (Arc<Client>, CoreIdTokenClaims) =
            match id_token.claims(&client.id_token_verifier(), &nonce) {
                Ok(claims) => (client.clone(), claims.clone()),
                Err(ClaimsVerificationError::SignatureVerification(_)) => {
                    // Perhaps signed with a key newer than the cached key set.
                    let fresh = self.client(KEYS_REFRESH_AFTER).await?;
                    let claims = id_token
                        .claims(&fresh.id_token_verifier(), &nonce)
                        .map_err(bad_token)?
                        .clone();
                    (fresh, claims)
                }
                Err(e) => return Err(bad_token(e)),
            };
        let subject = claims.subject().as_str().to_owned();
        if subject.is_empty() || subject.len() > MAX_SUBJECT_BYTES {
            return Err(bad_token(Plain(
                "the subject is empty or longer than 255 bytes",
            )));
        }
        let mut who = ProviderIdentity {
            subject,
            email: claims.email().map(|e| e.as_str().to_owned()),
            email_verified: claims.email_verified() == Some(true),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned())
                .or_else(|| claims.preferred_username().map(|u| u.as_str().to_owned())),
        };
        if who.email.is_none()
            && let Ok(request) =
                client.user_info(token.access_token().clone(), Some(claims.subject().clone()))
        {
            let info: CoreUserInfoClaims = request
                .request_async(&self.http)
                .await
                .map_err(unavailable)?;
            who.email = info.email().map(|e| e.as_str().to_owned());
            who.email_verified = info.email_verified() == Some(true);
            if who.name.is_none() {
                who.name = info
                    .name()
                    .and_then(|n| n.get(None))
                    .map(|n| n.as_str().to_owned());
            }
        }
        Ok(who)
    }
}
