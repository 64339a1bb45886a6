//! What can go wrong with files, and the HTTP status each becomes.

use actix_web::http::StatusCode;
use mdz_core::access::AccessError;
use mdz_core::db::DbError;
use mdz_core::{ApiError, FieldError};

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("the document changed since revision {expected}; it is at {actual}")]
    PreconditionFailed { expected: i64, actual: i64 },
    #[error("the content is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the change feed was compacted past this cursor")]
    CursorExpired,
    #[error("a stored version is corrupt")]
    Corrupt,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("object store unavailable: {0}")]
    Store(String),
    #[error("a background computation failed")]
    Worker(#[from] tokio::task::JoinError),
    #[error("search failed")]
    Search(#[source] mdz_core::search::SearchError),
}

impl From<mdz_core::search::SearchError> for FileError {
    fn from(e: mdz_core::search::SearchError) -> Self {
        match e {
            mdz_core::search::SearchError::Db(db) => Self::Db(db),
            other => Self::Search(other),
        }
    }
}

impl From<diesel::result::Error> for FileError {
    fn from(e: diesel::result::Error) -> Self {
        if let diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            info,
        ) = &e
            && info.constraint_name() == Some("files_live_path_key")
        {
            return Self::Conflict("another document already has this path".into());
        }
        Self::Db(DbError::Query(e))
    }
}

impl From<crate::history::CorruptScript> for FileError {
    fn from(_: crate::history::CorruptScript) -> Self {
        Self::Corrupt
    }
}

impl From<FileError> for ApiError {
    fn from(e: FileError) -> Self {
        match e {
            FileError::Validation(errors) => ApiError::validation(errors),
            FileError::Access(a) => a.into(),
            FileError::NotFound(what) => ApiError::not_found(format!("no such {what}")),
            FileError::Conflict(why) => ApiError::conflict(why),
            e @ FileError::PreconditionFailed { .. } => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                "The document changed",
            )
            .detail(format!("{e}: fetch it, merge, and save again with the new ETag")),
            e @ FileError::TooLarge { .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            )
            .detail(e.to_string()),
            FileError::CursorExpired => ApiError::new(
                StatusCode::GONE,
                "cursor-expired",
                "Cursor too old",
            )
            .detail("the change feed no longer reaches back this far: list the files again and continue from the cursor of a fresh GET /changes"),
            FileError::Corrupt => ApiError::internal(&"a stored version is corrupt"),
            FileError::Worker(cause) => ApiError::internal(&format!("a diff task failed: {cause}")),
            FileError::Db(db) => db.into(),
            FileError::Search(cause) => ApiError::internal(&format!("{cause}: {cause:?}")),
            FileError::Store(cause) => {
                tracing::warn!(error = %cause, "object store unavailable");
                ApiError::unavailable("the attachment store is not reachable; try again shortly")
            }
        }
    }
}
