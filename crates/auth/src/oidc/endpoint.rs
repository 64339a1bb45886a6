//! HTTP handlers of single sign-on. Both flow endpoints are browser navigations: what a person
//! can meet there (a refusal at the provider, an expired or foreign flow, an unverified
//! address) is a `303` to the web app's `/signin?sso_error=<code>`; a request built wrong by a
//! page (`return_to`) is a problem+json 422, and without single sign-on configured both are a
//! problem+json 404.

use super::{Callback, OidcError, OidcService, ReturnTo};
use crate::cookie::{self, CookiePolicy};
use crate::service::{AuthService, ClientInfo};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, web};
use mdz_core::client::{client_ip, user_agent};
use mdz_core::{ApiError, Problem};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// The single sign-on service, when configured (registered as app data either way).
#[derive(Clone, Default)]
pub struct Sso(pub Option<Arc<OidcService>>);

impl Sso {
    fn service(&self) -> Result<&OidcService, ApiError> {
        self.0
            .as_deref()
            .ok_or_else(|| ApiError::not_found("single sign-on is not configured on this server"))
    }
}

/// How people sign in on this server.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthProviders {
    /// Email and password (off with `OIDC_ONLY`).
    pub password: bool,
    /// Single sign-on with the configured OpenID Connect provider.
    pub sso: bool,
    /// Where a browser starts single sign-on (`?return_to=/path` to come back there).
    pub sso_start: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    /// A path on this site to return to after signing in (default `/`).
    pub return_to: Option<String>,
}

fn client(req: &HttpRequest) -> ClientInfo {
    ClientInfo {
        ip: client_ip(req),
        user_agent: user_agent(req),
    }
}

fn see_other(location: &str) -> actix_web::HttpResponseBuilder {
    let mut res = HttpResponse::SeeOther();
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    if let Ok(value) = HeaderValue::from_str(location) {
        res.insert_header((header::LOCATION, value));
    }
    res
}

/// Back to the sign-in page with the reason; the cause is logged, never sent.
fn refused(e: &OidcError) -> actix_web::HttpResponseBuilder {
    match e {
        OidcError::Auth(_) | OidcError::Provider(super::ProviderError::Unavailable(_)) => {
            tracing::error!(error = %e, cause = ?std::error::Error::source(e), "single sign-on failed");
        }
        _ => {
            tracing::info!(error = %e, cause = ?std::error::Error::source(e), "single sign-on refused")
        }
    }
    see_other(&format!("/signin?sso_error={}", e.code()))
}

/// How people sign in on this server: passwords, single sign-on, or both.
#[utoipa::path(tag = "auth", responses((status = 200, body = AuthProviders)))]
#[get("/providers")]
pub(crate) async fn providers(svc: web::Data<AuthService>, sso: web::Data<Sso>) -> HttpResponse {
    let on = sso.0.is_some();
    HttpResponse::Ok().json(AuthProviders {
        password: svc.settings().passwords,
        sso: on,
        sso_start: on.then(|| "/api/v1/auth/oidc/start".to_owned()),
    })
}

/// Start single sign-on: a `303` to the provider (authorization code flow with PKCE S256,
/// state and nonce) and the flow's HttpOnly cookie.
#[utoipa::path(
    tag = "auth",
    params(StartQuery),
    responses(
        (status = 303, description = "To the provider; or to `/signin?sso_error=unavailable|rate_limited|failed`"),
        (status = 404, description = "Single sign-on is not configured", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`return_to` is not a path on this site", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/oidc/start")]
pub(crate) async fn start(
    sso: web::Data<Sso>,
    policy: web::Data<CookiePolicy>,
    req: HttpRequest,
    query: web::Query<StartQuery>,
) -> Result<HttpResponse, ApiError> {
    let svc = sso.service()?;
    let return_to =
        ReturnTo::parse(query.return_to.as_deref()).map_err(|m| ApiError::field("return_to", m))?;
    Ok(match svc.start(return_to, &client(&req)).await {
        Ok(started) => {
            let mut res = see_other(&started.location);
            if let Some(cookie) = policy.flow(&started.browser_secret, svc.flow_ttl().as_secs()) {
                res.insert_header((header::SET_COOKIE, cookie));
            }
            res.finish()
        }
        Err(e) => refused(&e).finish(),
    })
}

/// Where the provider sends the browser back: the flow is checked and spent, the code
/// exchanged, the ID token verified, the account found, linked or created; then the web app's
/// session cookie is set and the browser goes to `return_to`.
#[utoipa::path(
    tag = "auth",
    params(Callback),
    responses(
        (status = 303, description = "Signed in: to `return_to` with the `mdz_refresh` cookie. Refused: to `/signin?sso_error=` state, expired, denied, unavailable, code, token, email_missing, email_unverified, account_unverified, already_linked, no_account, rate_limited, retry or failed"),
        (status = 404, description = "Single sign-on is not configured", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/oidc/callback")]
pub(crate) async fn callback(
    sso: web::Data<Sso>,
    policy: web::Data<CookiePolicy>,
    req: HttpRequest,
    query: web::Query<Callback>,
) -> Result<HttpResponse, ApiError> {
    let svc = sso.service()?;
    let browser = cookie::read_named(&req, cookie::FLOW_COOKIE_NAME);
    let mut res = match svc
        .finish(query.into_inner(), browser.as_deref(), &client(&req))
        .await
    {
        Ok(done) => {
            let mut res = see_other(&done.return_to);
            if let Some(value) = policy.set(&done.refresh_token) {
                res.append_header((header::SET_COOKIE, value));
            }
            res
        }
        Err(OidcError::UnknownState) => return Ok(refused(&OidcError::UnknownState).finish()),
        Err(e) => refused(&e),
    };
    // This browser's flow is spent, whatever the outcome.
    if let Some(clear) = policy.flow("", 0) {
        res.append_header((header::SET_COOKIE, clear));
    }
    Ok(res.finish())
}
