//! The `AuthUser` extractor every domain uses to learn who is calling.
//!
//! It reads `Authorization: Bearer …`, asks the [`TokenVerifier`] port, and answers
//! 401 problem+json with `WWW-Authenticate: Bearer` when the token is missing or bad.

use crate::ports::{Principal, TokenRejection, TokenVerifier};
use crate::problem::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use std::ops::Deref;

/// The authenticated caller. Add it as a handler argument to require authentication.
///
/// A read- or suggest-scoped credential is refused (403) on any method other than `GET`,
/// `HEAD` and `OPTIONS`, whatever the domain (see [`ProposingUser`] for the exceptions); a credential limited to some projects has that limit
/// recorded for the request, where project access is resolved (`access::reachable`).
#[derive(Debug, Clone)]
pub struct AuthUser(pub Principal);

impl Deref for AuthUser {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

/// The bearer token of a request, if any.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Verify `token` with the verifier registered in the app.
pub async fn authenticate(req: &HttpRequest, token: Option<&str>) -> Result<Principal, ApiError> {
    let verifier = req
        .app_data::<web::Data<dyn TokenVerifier>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(&"no TokenVerifier registered in the app"))?;
    let token = token.ok_or(TokenRejection::Missing).map_err(rejection)?;
    let principal = verifier.verify(token).await.map_err(rejection)?;
    if let Some(projects) = &principal.projects {
        crate::context::limit_projects(projects.clone());
    }
    Ok(principal)
}

fn is_read_method(method: &actix_web::http::Method) -> bool {
    use actix_web::http::Method;
    [Method::GET, Method::HEAD, Method::OPTIONS].contains(method)
}

fn rejection(r: TokenRejection) -> ApiError {
    match r {
        TokenRejection::Unavailable(cause) => {
            tracing::warn!(error = %cause, "token verification unavailable");
            ApiError::unavailable("authentication is temporarily unavailable")
        }
        TokenRejection::Missing => ApiError::unauthorized("send `Authorization: Bearer <token>`"),
        other => {
            let desc = other.to_string();
            let www = format!(
                "Bearer realm=\"mdz\", error=\"invalid_token\", error_description=\"{desc}\""
            );
            let mut e = ApiError::unauthorized(desc);
            if let Ok(v) = HeaderValue::from_str(&www) {
                e = e.header(header::WWW_AUTHENTICATE, v);
            }
            e
        }
    }
}

/// Refuse a write the credential's scope does not allow; `suggesting`: the route only
/// proposes edits (suggestions, MCP), which a `suggest` scope may do.
fn check_scope(req: &HttpRequest, principal: &Principal, suggesting: bool) -> Result<(), ApiError> {
    if principal.may_write() || is_read_method(req.method()) {
        return Ok(());
    }
    if principal.may_suggest() {
        if suggesting {
            return Ok(());
        }
        return Err(ApiError::forbidden(
            "this token only suggests edits: it may read and propose suggestions \
             (POST /files/{id}/suggestions, MCP), but not change anything directly; \
             use a token with the write scope",
        ));
    }
    Err(ApiError::forbidden(
        "this token is read-only: it may only make GET requests",
    ))
}

async fn extract(req: HttpRequest, suggesting: bool) -> Result<Principal, ApiError> {
    let token = bearer_token(&req).map(str::to_owned);
    let principal = authenticate(&req, token.as_deref()).await?;
    check_scope(&req, &principal, suggesting)?;
    Ok(principal)
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { extract(req, false).await.map(AuthUser) })
    }
}

/// The authenticated caller of a route that only proposes edits (creating a suggestion,
/// the MCP endpoint): like [`AuthUser`], but a `suggest`-scoped token may also use it with
/// any method. Such a route must not change a document directly for that credential.
#[derive(Debug, Clone)]
pub struct ProposingUser(pub Principal);

impl Deref for ProposingUser {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl FromRequest for ProposingUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { extract(req, true).await.map(ProposingUser) })
    }
}
