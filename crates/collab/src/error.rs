//! What can go wrong in collab, and the HTTP status each becomes.

use actix_web::http::StatusCode;
use mdz_core::access::AccessError;
use mdz_core::db::DbError;
use mdz_core::documents::DocumentError;
use mdz_core::{ApiError, FieldError};

#[derive(Debug, thiserror::Error)]
pub enum CollabError {
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("this document's room is full ({0} connections)")]
    RoomFull(usize),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("document storage unavailable: {0}")]
    Documents(String),
    #[error("the update journal is unavailable: {0}")]
    Journal(String),
    #[error("user directory unavailable: {0}")]
    Directory(String),
    #[error("the stored state of document {file} does not apply (at update {seq})")]
    Corrupt {
        file: mdz_core::ids::FileId,
        seq: i64,
    },
    #[error("loading the document took longer than {0:?}")]
    LoadTimeout(std::time::Duration),
    #[error("no randomness for a ticket: {0}")]
    Random(String),
    /// The text a suggestion replaces is no longer what it quotes.
    #[error("the quoted text changed")]
    Stale { current: Option<String> },
    #[error("the suggestion is {0}, not open")]
    NotOpen(String),
    #[error("revision {asked} of the document is not available (it is at {head})")]
    RevisionUnavailable { asked: i64, head: i64 },
    #[error("the document already has {0} open suggestions")]
    TooManyOpen(i64),
    #[error("the document would grow past {0} bytes")]
    TooBig(usize),
    #[error("the range replaced is over {0} bytes")]
    RangeTooBig(usize),
}

impl From<diesel::result::Error> for CollabError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

impl From<DocumentError> for CollabError {
    fn from(e: DocumentError) -> Self {
        match e {
            DocumentError::Gone => Self::NotFound("document"),
            DocumentError::Unavailable(cause) => Self::Documents(cause),
            e @ DocumentError::Moved { .. } => Self::Documents(e.to_string()),
        }
    }
}

impl From<CollabError> for ApiError {
    fn from(e: CollabError) -> Self {
        match e {
            CollabError::Validation(errors) => ApiError::validation(errors),
            CollabError::Access(a) => a.into(),
            CollabError::Forbidden(why) => ApiError::forbidden(why),
            CollabError::NotFound(what) => ApiError::not_found(format!("no such {what}")),
            CollabError::RoomFull(max) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "room-full",
                "This document has too many connections",
            )
            .detail(format!(
                "at most {max} connections per document (collab_max_connections_per_doc)"
            )),
            CollabError::Db(db) => db.into(),
            CollabError::Documents(cause) | CollabError::Journal(cause) => {
                tracing::warn!(error = %cause, "collab storage unavailable");
                ApiError::unavailable("document storage is not reachable; try again shortly")
            }
            e @ (CollabError::Corrupt { .. } | CollabError::Random(_)) => ApiError::internal(&e),
            e @ CollabError::LoadTimeout(_) => {
                tracing::warn!(error = %e, "collab: loading a document timed out");
                ApiError::unavailable("the document could not be loaded in time; try again shortly")
            }
            CollabError::Stale { current } => ApiError::new(
                StatusCode::CONFLICT,
                "suggestion-stale",
                "The suggested text changed",
            )
            .detail("the text the suggestion replaces is no longer what it quotes; nothing was changed")
            .current(serde_json::json!({ "text": current })),
            CollabError::NotOpen(status) => ApiError::new(
                StatusCode::CONFLICT,
                "suggestion-not-open",
                "The suggestion is settled",
            )
            .detail(format!("the suggestion is {status}"))
            .current(serde_json::json!({ "status": status })),
            e @ CollabError::RevisionUnavailable { head, .. } => ApiError::new(
                StatusCode::CONFLICT,
                "revision-unavailable",
                "That revision is not available",
            )
            .detail(format!("{e}; send offsets into the current revision"))
            .current(serde_json::json!({ "revision": head })),
            CollabError::TooManyOpen(max) => ApiError::new(
                StatusCode::CONFLICT,
                "too-many-suggestions",
                "Too many open suggestions",
            )
            .detail(format!(
                "a document has at most {max} open suggestions (suggestions_max_open_per_doc); accept or reject some"
            )),
            CollabError::TooBig(max) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "document-too-big",
                "The document would be too big",
            )
            .detail(format!("a document holds at most {max} bytes (max_file_bytes)")),
            CollabError::RangeTooBig(max) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "range-too-big",
                "The range is too big",
            )
            .detail(format!(
                "a suggestion replaces at most {max} bytes of text; propose it in parts"
            )),
            CollabError::Directory(cause) => {
                tracing::warn!(error = %cause, "user directory unavailable");
                ApiError::unavailable("user lookups are temporarily unavailable")
            }
        }
    }
}
