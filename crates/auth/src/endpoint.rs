//! HTTP handlers of the auth API: extract, call the service, map the result.

use crate::cookie::{self, CookiePolicy};
use crate::interface::{
    ApiToken, AuthResponse, ChangePasswordRequest, CreateTokenRequest, CreatedApiToken,
    DisplayName, LoginRequest, RefreshRequest, RegisterRequest, Session, UpdateMeRequest, User,
};
use crate::keys::Jwks;
use crate::service::{AuthService, ClientInfo};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use mdz_core::auth::AuthUser;
use mdz_core::client::{client_ip, user_agent};
use mdz_core::ids::{SessionId, TokenId};
use mdz_core::pagination::{Page, PageQuery};
use mdz_core::{ApiError, Problem};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

type Svc = web::Data<AuthService>;

/// The token pair as the client asked for it: all in the body (JSON mode), or the refresh token
/// moved into the `HttpOnly` cookie (cookie mode, `X-MDZ-Auth: cookie`).
fn answer(
    req: &HttpRequest,
    policy: &CookiePolicy,
    status: StatusCode,
    mut res: AuthResponse,
) -> HttpResponse {
    let mut out = HttpResponse::build(status);
    out.insert_header((header::CACHE_CONTROL, "no-store"));
    if cookie::wants_cookie(req)
        && let Some(token) = res.refresh_token.take()
        && let Some(value) = policy.set(&token)
    {
        out.insert_header((header::SET_COOKIE, value));
    }
    out.json(res)
}

fn client(req: &HttpRequest) -> ClientInfo {
    ClientInfo {
        ip: client_ip(req),
        user_agent: user_agent(req),
    }
}

/// Routes under the API prefix.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        scope("/auth")
            .service(register)
            .service(login)
            .service(refresh)
            .service(logout)
            .service(me)
            .service(update_me)
            .service(change_password)
            .service(list_sessions)
            .service(revoke_session)
            .service(create_token)
            .service(list_tokens)
            .service(delete_token)
            .service(crate::email_endpoint::verify_email)
            .service(crate::email_endpoint::resend_verification)
            .service(crate::email_endpoint::change_email)
            .service(crate::email_endpoint::forgot_password)
            .service(crate::email_endpoint::reset_password)
            .service(crate::oidc::endpoint::providers)
            .service(crate::oidc::endpoint::start)
            .service(crate::oidc::endpoint::callback),
    );
}

/// Routes at the root (`/.well-known/…`).
pub fn configure_well_known(cfg: &mut ServiceConfig) {
    cfg.service(jwks);
}

/// Create an account and sign in.
#[utoipa::path(
    tag = "auth",
    request_body = RegisterRequest,
    params(("X-MDZ-Auth" = Option<String>, Header, description = "`cookie`: the refresh token is set as the HttpOnly cookie `mdz_refresh` (path /api/v1/auth) instead of returned in the body; on refresh, the cookie is read when the body has no token")),
    responses(
        (status = 201, body = AuthResponse),
        (status = 409, description = "Email already registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many registrations from this address", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many passwords being hashed; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/register")]
async fn register(
    svc: Svc,
    policy: web::Data<CookiePolicy>,
    req: HttpRequest,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let account = body.into_inner().parse().map_err(ApiError::validation)?;
    let res = svc.register(account, &client(&req)).await?;
    Ok(answer(&req, &policy, StatusCode::CREATED, res))
}

/// Sign in with email and password.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    params(("X-MDZ-Auth" = Option<String>, Header, description = "`cookie`: the refresh token is set as the HttpOnly cookie `mdz_refresh` (path /api/v1/auth) instead of returned in the body; on refresh, the cookie is read when the body has no token")),
    responses(
        (status = 200, body = AuthResponse),
        (status = 401, description = "Wrong email or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many passwords being hashed; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/login")]
async fn login(
    svc: Svc,
    policy: web::Data<CookiePolicy>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { email, password } = body.into_inner();
    let res = svc.login(&email, password, &client(&req)).await?;
    Ok(answer(&req, &policy, StatusCode::OK, res))
}

/// Trade a refresh token for a new token pair. Each refresh token works once; presenting a
/// used one signs the whole session out.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    params(("X-MDZ-Auth" = Option<String>, Header, description = "`cookie`: the refresh token is set as the HttpOnly cookie `mdz_refresh` (path /api/v1/auth) instead of returned in the body; on refresh, the cookie is read when the body has no token")),
    responses(
        (status = 200, body = AuthResponse),
        (status = 401, description = "Invalid, expired, revoked or reused refresh token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No refresh token: none in the body, nor (in cookie mode) a cookie", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/refresh")]
async fn refresh(
    svc: Svc,
    policy: web::Data<CookiePolicy>,
    req: HttpRequest,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    // The cookie is read only with the opt-in header (see `cookie`); a token in the body wins.
    let token = match body.into_inner().refresh_token {
        Some(token) => token,
        None if cookie::wants_cookie(&req) => cookie::read(&req)
            .ok_or_else(|| ApiError::field("refresh_token", "no refresh cookie; sign in again"))?,
        None => return Err(ApiError::field("refresh_token", "required")),
    };
    let res = svc.refresh(&token, &client(&req)).await?;
    Ok(answer(&req, &policy, StatusCode::OK, res))
}

/// Sign out this session; its access tokens stop working at once.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/logout")]
async fn logout(
    svc: Svc,
    policy: web::Data<CookiePolicy>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    svc.logout(&user).await?;
    let mut res = HttpResponse::NoContent();
    // Whatever the mode, a refresh cookie of this browser goes with the session.
    if let Some(clear) = policy.clear() {
        res.insert_header((header::SET_COOKIE, clear));
    }
    Ok(res.finish())
}

/// The signed-in user.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = User),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/me")]
async fn me(svc: Svc, user: AuthUser) -> Result<web::Json<User>, ApiError> {
    Ok(web::Json(svc.me(user.user_id).await?))
}

/// Change the signed-in user's profile.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    request_body = UpdateMeRequest,
    responses(
        (status = 200, body = User),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/me")]
async fn update_me(
    svc: Svc,
    user: AuthUser,
    body: web::Json<UpdateMeRequest>,
) -> Result<web::Json<User>, ApiError> {
    let body = body.into_inner();
    let name = body
        .display_name
        .map(|n| DisplayName::parse(&n))
        .transpose()
        .map_err(|m| ApiError::field("display_name", m))?;
    Ok(web::Json(
        svc.update_me(user.user_id, name, body.mention_mails)
            .await?,
    ))
}

/// Change the password; every other session is signed out.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong current password or weak new one", body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/password")]
async fn change_password(
    svc: Svc,
    user: AuthUser,
    body: web::Json<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let ChangePasswordRequest {
        current_password,
        new_password,
    } = body.into_inner();
    svc.change_password(&user, current_password, &new_password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The user's signed-in devices, newest first.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = Page<Session>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/sessions")]
async fn list_sessions(
    svc: Svc,
    user: AuthUser,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<Session>>, ApiError> {
    let page = query.parse()?;
    Ok(web::Json(svc.sessions(&user, page).await?))
}

/// Sign out one device.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    params(("id" = SessionId, Path, description = "Session id")),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/sessions/{id}")]
async fn revoke_session(
    svc: Svc,
    user: AuthUser,
    id: web::Path<SessionId>,
) -> Result<HttpResponse, ApiError> {
    svc.revoke_session(user.user_id, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Create a personal access token (shown once). It works as a Bearer token everywhere.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    request_body = CreateTokenRequest,
    responses(
        (status = 201, body = CreatedApiToken),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A personal access token without the admin scope, or asking beyond its projects", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/tokens")]
async fn create_token(
    svc: Svc,
    user: AuthUser,
    body: web::Json<CreateTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner().parse().map_err(ApiError::validation)?;
    let created = svc.create_token(&user, request).await?;
    Ok(HttpResponse::Created().json(created))
}

/// The user's personal access tokens, newest first (without their secrets).
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, body = Page<ApiToken>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/tokens")]
async fn list_tokens(
    svc: Svc,
    user: AuthUser,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<ApiToken>>, ApiError> {
    let page = query.parse()?;
    Ok(web::Json(svc.tokens(user.user_id, page).await?))
}

/// Delete a personal access token; it stops working at once.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    params(("id" = TokenId, Path, description = "Token id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A personal access token without the admin scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/tokens/{id}")]
async fn delete_token(
    svc: Svc,
    user: AuthUser,
    id: web::Path<TokenId>,
) -> Result<HttpResponse, ApiError> {
    svc.delete_token(&user, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The public keys that verify mdz access tokens (RFC 7517), for services split out of mdz.
#[utoipa::path(tag = "auth", responses((status = 200, body = Jwks)))]
#[get("/.well-known/jwks.json")]
async fn jwks(svc: Svc) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "public, max-age=300"))
        .json(svc.jwks())
}
