//! What can go wrong with sessions, and the HTTP status each becomes.

use mdz_core::access::AccessError;
use mdz_core::db::DbError;
use mdz_core::{ApiError, FieldError};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("document storage unavailable: {0}")]
    Documents(String),
}

impl From<diesel::result::Error> for SessionError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Validation(errors) => ApiError::validation(errors),
            SessionError::Access(a) => a.into(),
            SessionError::Forbidden(why) => ApiError::forbidden(why),
            SessionError::NotFound(what) => ApiError::not_found(format!("no such {what}")),
            SessionError::Db(db) => db.into(),
            SessionError::Documents(cause) => {
                tracing::warn!(error = %cause, "document storage unavailable");
                ApiError::unavailable("document storage is not reachable; try again shortly")
            }
        }
    }
}
