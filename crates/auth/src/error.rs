//! What can go wrong in auth, and the HTTP status each becomes.

use mdz_core::ApiError;
use mdz_core::FieldError;
use mdz_core::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("the refresh token is invalid, expired or revoked")]
    InvalidRefreshToken,
    #[error("the link is unknown, already used or expired")]
    InvalidEmailToken,
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    #[error("the account's e-mail address is already verified")]
    AlreadyVerified,
    #[error("too many attempts")]
    RateLimited { retry_after_secs: u64 },
    #[error("not found")]
    NotFound,
    /// The credential may not do this (a personal access token without the scope).
    #[error("{0}")]
    Forbidden(&'static str),
    /// Passwords are turned off (`oidc_only`): single sign-on only.
    #[error("passwords are turned off on this server; sign in with single sign-on")]
    PasswordsDisabled,
    /// Every password-hashing slot is taken and its queue is full.
    #[error("too many sign-ins at once")]
    Busy,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<diesel::result::Error> for AuthError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

impl From<crate::password::HashError> for AuthError {
    fn from(e: crate::password::HashError) -> Self {
        match e {
            crate::password::HashError::Busy => Self::Busy,
            crate::password::HashError::Failed(cause) => Self::Internal(cause),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Validation(errors) => ApiError::validation(errors),
            AuthError::EmailTaken => ApiError::conflict(e.to_string()),
            AuthError::InvalidCredentials | AuthError::InvalidRefreshToken => {
                ApiError::unauthorized(e.to_string())
            }
            AuthError::InvalidEmailToken => ApiError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "invalid-token",
                "Invalid or expired link",
            )
            .detail(e.to_string()),
            AuthError::WrongCurrentPassword => ApiError::field("current_password", "is wrong"),
            AuthError::AlreadyVerified => ApiError::conflict(e.to_string()),
            AuthError::RateLimited { retry_after_secs } => {
                ApiError::too_many_requests(retry_after_secs)
            }
            AuthError::NotFound => ApiError::not_found("no such item in your account"),
            AuthError::Forbidden(why) => ApiError::forbidden(why),
            AuthError::PasswordsDisabled => ApiError::new(
                actix_web::http::StatusCode::FORBIDDEN,
                "passwords-disabled",
                "Passwords are turned off",
            )
            .detail(e.to_string()),
            AuthError::Busy => ApiError::new(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "Server busy",
            )
            .detail("too many sign-ins at once; try again in a moment")
            .header(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from_static("1"),
            ),
            AuthError::Db(db) => db.into(),
            AuthError::Internal(cause) => ApiError::internal(&cause),
        }
    }
}
