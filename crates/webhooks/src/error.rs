//! What can go wrong with webhooks, and the HTTP status each becomes.

use actix_web::http::StatusCode;
use mdz_core::access::AccessError;
use mdz_core::db::DbError;
use mdz_core::events::FeedError;
use mdz_core::{ApiError, FieldError};

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("a project has at most {0} webhooks")]
    TooMany(i64),
    #[error("{0}")]
    Conflict(&'static str),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error("no random bytes for a secret")]
    Random(#[source] getrandom::Error),
}

impl From<diesel::result::Error> for WebhookError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Validation(errors) => ApiError::validation(errors),
            WebhookError::Access(a) => a.into(),
            WebhookError::NotFound(what) => ApiError::not_found(format!("no such {what}")),
            WebhookError::TooMany(max) => ApiError::new(
                StatusCode::CONFLICT,
                "too-many-webhooks",
                "Too many webhooks",
            )
            .detail(format!(
                "a project has at most {max} webhooks; delete one first"
            )),
            WebhookError::Conflict(why) => ApiError::conflict(why),
            WebhookError::Db(db) => db.into(),
            WebhookError::Feed(feed) => feed.into(),
            e @ WebhookError::Random(_) => ApiError::internal(&e),
        }
    }
}
