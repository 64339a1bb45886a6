//! HTTP handlers of the e-mail flows: verification, change of address and password reset.

use crate::interface::{
    ChangeEmailRequest, ForgotPasswordRequest, ResetPasswordRequest, VerifyEmailRequest,
};
use crate::service::{AuthService, ClientInfo};
use actix_web::{HttpRequest, HttpResponse, post, web};
use mdz_core::auth::AuthUser;
use mdz_core::client::{client_ip, user_agent};
use mdz_core::{ApiError, Problem};

type Svc = web::Data<AuthService>;

/// Confirm an e-mail address with the token of the verification mail (single use, 48 hours).
#[utoipa::path(
    tag = "auth",
    request_body = VerifyEmailRequest,
    responses(
        (status = 204, description = "The address is verified"),
        (status = 400, description = "The token is unknown, used or expired", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/verify-email")]
pub(crate) async fn verify_email(
    svc: Svc,
    body: web::Json<VerifyEmailRequest>,
) -> Result<HttpResponse, ApiError> {
    svc.verify_email(&body.token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Send the verification mail again, to the signed-in account's current address.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "A new verification link is on its way"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The address is already verified", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many mails for this account; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/verify-email/resend")]
pub(crate) async fn resend_verification(
    svc: Svc,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    svc.resend_verification(user.user_id).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Ask for a password-reset mail. The answer is the same whether or not an account has the
/// address; the mail's link works once, for 30 minutes.
#[utoipa::path(
    tag = "auth",
    request_body = ForgotPasswordRequest,
    responses(
        (status = 202, description = "If an account has this address, a reset link is on its way"),
        (status = 422, description = "Not an e-mail address", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests for this address or from this client; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/password/forgot")]
pub(crate) async fn forgot_password(
    svc: Svc,
    req: HttpRequest,
    body: web::Json<ForgotPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let client = ClientInfo {
        ip: client_ip(&req),
        user_agent: user_agent(&req),
    };
    svc.forgot_password(&body.email, &client).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Set a new password with the token of a reset mail. Every session of the account ends.
#[utoipa::path(
    tag = "auth",
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password set; every session signed out"),
        (status = 400, description = "The token is unknown, used or expired", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The password breaks the rules of registration", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many passwords being hashed; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/password/reset")]
pub(crate) async fn reset_password(
    svc: Svc,
    body: web::Json<ResetPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    svc.reset_password(&body.token, &body.password).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Move the account to another address: a link goes to the new address (and a notice to the
/// current one); the change happens when the link is followed (`POST /auth/verify-email`).
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    request_body = ChangeEmailRequest,
    responses(
        (status = 202, description = "A confirmation link is on its way to the new address"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Passwords are disabled (OIDC_ONLY)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another account has this address", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an address, the current one, or a wrong current password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts or mails for this account; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many passwords being checked; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/email")]
pub(crate) async fn change_email(
    svc: Svc,
    user: AuthUser,
    body: web::Json<ChangeEmailRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    svc.request_email_change(&user, &body.email, body.current_password)
        .await?;
    Ok(HttpResponse::Accepted().finish())
}
