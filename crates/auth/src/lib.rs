//! mdz-auth: accounts, password hashing, JWT access tokens, rotating refresh sessions and
//! personal access tokens. Implements the [`mdz_core::ports::TokenVerifier`] port.

pub mod cookie;
mod directory;
mod email_change;
mod email_endpoint;
mod email_flows;
pub mod endpoint;
pub mod error;
pub mod interface;
pub mod keys;
pub mod oidc;
mod password;
pub mod repo;
pub mod schema;
pub mod secrets;
pub mod service;

use actix_web::web;
use keys::SigningKey;
use mdz_core::config::Config;
use mdz_core::db::DbPool;
use mdz_core::kv::SharedKv;
use mdz_core::ports::TokenVerifier;
use service::{AuthService, AuthSettings};
use std::sync::Arc;
use std::time::Duration;
use utoipa_actix_web::service_config::ServiceConfig;

pub use error::AuthError;

/// The auth domain, built once at start and registered in every worker's app.
#[derive(Clone)]
pub struct AuthModule {
    service: Arc<AuthService>,
    cookie: cookie::CookiePolicy,
    sso: oidc::endpoint::Sso,
}

/// Why the auth domain could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    #[error("setting up single sign-on")]
    Sso(#[from] oidc::http::HttpError),
}

impl AuthModule {
    /// Load (or generate) the signing key and build the service; `public_url` is where
    /// browsers reach mdz (the single sign-on callback hangs under it).
    pub async fn new(
        config: &Config,
        pool: DbPool,
        kv: SharedKv,
        revocations: Arc<mdz_core::revocation::Revocations>,
        outbox: mdz_core::mail::Outbox,
        public_url: &str,
    ) -> Result<Self, SetupError> {
        let (key, generated) =
            SigningKey::load_or_generate(config.jwt_private_key_file.as_deref(), &config.data_dir)?;
        if generated {
            tracing::info!(kid = %key.kid, "generated a new token signing key in the data directory");
        } else {
            tracing::info!(kid = %key.kid, "loaded the token signing key");
        }
        let settings = AuthSettings {
            access_ttl: Duration::from_secs(config.jwt_access_ttl_secs),
            refresh_ttl: Duration::from_secs(config.jwt_refresh_ttl_days * 86_400),
            issuer: config.jwt_issuer.clone(),
            login_max_failures: config.login_max_failures,
            register_max_per_ip: config.register_max_per_ip,
            reset_max_per_address: config.password_reset_max_per_address,
            reset_max_per_ip: config.password_reset_max_per_ip,
            rate_window: Duration::from_secs(config.rate_limit_window_secs),
            hash_concurrency: config.password_hash_concurrency.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
            }),
            hash_queue: config.password_hash_queue,
            passwords: !config.oidc_only,
        };
        let is_memory = kv.backend() == "memory";
        let service = Arc::new(AuthService::new(
            pool,
            kv,
            key,
            settings,
            revocations,
            outbox,
        ));
        if is_memory {
            match service.reseed_revocations().await {
                Ok(n) => tracing::debug!(sessions = n, "revocation list restored"),
                Err(e) => tracing::warn!(error = %e, "could not restore the revocation list"),
            }
        }
        let cookie = cookie::CookiePolicy::new(
            config.public_url.as_deref(),
            config.jwt_refresh_ttl_days * 86_400,
        );
        let sso = match (&config.oidc_issuer, &config.oidc_client_id) {
            (Some(issuer), Some(client_id)) => {
                let settings = oidc::OidcSettings {
                    provider: oidc::provider::ProviderConfig {
                        issuer: issuer.clone(),
                        client_id: client_id.clone(),
                        client_secret: config.oidc_client_secret.clone(),
                        redirect_uri: format!("{public_url}/api/v1/auth/oidc/callback"),
                    },
                    auto_create: config.oidc_auto_create,
                    flow_ttl: Duration::from_secs(config.oidc_flow_ttl_secs),
                    start_max_per_ip: config.oidc_start_max_per_ip,
                };
                if config.public_url.is_none() {
                    tracing::warn!(
                        redirect_uri = %settings.provider.redirect_uri,
                        "single sign-on without PUBLIC_URL: the callback is built from the listen address"
                    );
                }
                let sso = Arc::new(oidc::OidcService::new(service.clone(), settings)?);
                sso.warm();
                Some(sso)
            }
            _ => None,
        };
        Ok(Self {
            service,
            cookie,
            sso: oidc::endpoint::Sso(sso),
        })
    }

    /// The bearer-token verifier other domains reach through the `AuthUser` extractor.
    pub fn token_verifier(&self) -> Arc<dyn TokenVerifier> {
        self.service.clone()
    }

    /// The user lookups other domains reach through the `UserDirectory` port.
    pub fn user_directory(&self) -> Arc<dyn mdz_core::ports::UserDirectory> {
        self.service.clone()
    }

    /// The bounded password hasher, for other domains' passwords (share links).
    pub fn password_hasher(&self) -> Arc<dyn mdz_core::ports::PasswordHashing> {
        Arc::new(self.service.hasher.clone())
    }

    /// Register this module's app data (its service) in the app.
    pub fn app_data(&self, cfg: &mut ServiceConfig) {
        cfg.app_data(web::Data::from(self.service.clone()))
            .app_data(web::Data::new(self.cookie.clone()))
            .app_data(web::Data::new(self.sso.clone()));
    }
}

/// `/auth/*` routes, mounted under the API prefix.
pub use endpoint::configure as routes;
/// `/.well-known/jwks.json`, mounted at the root.
pub use endpoint::configure_well_known as well_known_routes;
