//! HTTP handlers of the auth API: extract, call the service, map the result.

use crate::interface::{
    ApiToken, AuthResponse, ChangePasswordRequest, CreateTokenRequest, CreatedApiToken,
    DisplayName, LoginRequest, RefreshRequest, RegisterRequest, Session, UpdateMeRequest, User,
};
use crate::keys::Jwks;
use crate::service::{AuthService, ClientInfo};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use mdz_core::auth::AuthUser;
use mdz_core::client::{client_ip, user_agent};
use mdz_core::ids::{SessionId, TokenId};
use mdz_core::pagination::{Page, PageQuery};
use mdz_core::{ApiError, Problem};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

type Svc = web::Data<AuthService>;

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
            .service(delete_token),
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
    req: HttpRequest,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let account = body.into_inner().parse().map_err(ApiError::validation)?;
    let res = svc.register(account, &client(&req)).await?;
    Ok(HttpResponse::Created().json(res))
}

/// Sign in with email and password.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
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
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<web::Json<AuthResponse>, ApiError> {
    let LoginRequest { email, password } = body.into_inner();
    Ok(web::Json(svc.login(&email, password, &client(&req)).await?))
}

/// Trade a refresh token for a new token pair. Each refresh token works once; presenting a
/// used one signs the whole session out.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = AuthResponse),
        (status = 401, description = "Invalid, expired, revoked or reused refresh token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/refresh")]
async fn refresh(
    svc: Svc,
    req: HttpRequest,
    body: web::Json<RefreshRequest>,
) -> Result<web::Json<AuthResponse>, ApiError> {
    Ok(web::Json(
        svc.refresh(&body.refresh_token, &client(&req)).await?,
    ))
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
async fn logout(svc: Svc, user: AuthUser) -> Result<HttpResponse, ApiError> {
    svc.logout(&user).await?;
    Ok(HttpResponse::NoContent().finish())
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
    let name = body
        .into_inner()
        .display_name
        .map(|n| DisplayName::parse(&n))
        .transpose()
        .map_err(|m| ApiError::field("display_name", m))?;
    Ok(web::Json(svc.update_me(user.user_id, name).await?))
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
