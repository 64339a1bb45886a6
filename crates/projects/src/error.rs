//! What can go wrong with projects, and the HTTP status each becomes.

use actix_web::http::StatusCode;
use mdz_core::access::AccessError;
use mdz_core::db::DbError;
use mdz_core::{ApiError, FieldError};

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("the account with this e-mail address has not verified it")]
    UnverifiedMember,
    #[error("verify your e-mail address before accepting an invitation sent to it")]
    UnverifiedInvitee,
    #[error("invitations by e-mail need a verified address")]
    UnverifiedInviter,
    #[error("too many invitations by e-mail {0}")]
    TooManyInvitations(&'static str, u64),
    #[error("a project must keep at least one owner")]
    LastOwner,
    #[error("this invitation has {0}")]
    InvitationGone(&'static str),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("user directory unavailable: {0}")]
    Directory(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<diesel::result::Error> for ProjectError {
    fn from(e: diesel::result::Error) -> Self {
        // The database's last-owner trigger speaks through a named check violation.
        if let diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::CheckViolation,
            info,
        ) = &e
            && info.constraint_name() == Some("project_keeps_an_owner")
        {
            return Self::LastOwner;
        }
        Self::Db(DbError::Query(e))
    }
}

impl From<ProjectError> for ApiError {
    fn from(e: ProjectError) -> Self {
        match e {
            ProjectError::Validation(errors) => ApiError::validation(errors),
            ProjectError::Access(a) => a.into(),
            ProjectError::Forbidden(why) => ApiError::forbidden(why),
            ProjectError::NotFound(what) => ApiError::not_found(format!("no such {what}")),
            ProjectError::Conflict(why) => ApiError::conflict(why),
            ProjectError::UnverifiedMember => ApiError::new(
                StatusCode::CONFLICT,
                "email-unverified",
                "The account's e-mail address is not verified",
            )
            .detail(
                "only an account whose owner verified this address can be added by it; \
                 send an invitation instead",
            ),
            ProjectError::UnverifiedInvitee => ApiError::new(
                StatusCode::FORBIDDEN,
                "email-unverified",
                "Verify your e-mail address first",
            )
            .detail(e.to_string()),
            ProjectError::UnverifiedInviter => ApiError::new(
                StatusCode::FORBIDDEN,
                "email-unverified",
                "Verify your e-mail address first",
            )
            .detail(
                "invitations sent by e-mail need a verified address; verify yours, or create \
                 a link invitation (without an email) and pass the link on",
            ),
            ProjectError::TooManyInvitations(why, retry_after) => {
                ApiError::too_many_requests(retry_after)
                    .detail(format!("too many invitations by e-mail {why} in a day"))
            }
            ProjectError::LastOwner => ApiError::new(
                StatusCode::CONFLICT,
                "last-owner",
                "A project must keep an owner",
            )
            .detail("make another member owner first (POST /projects/{id}/transfer)"),
            ProjectError::InvitationGone(why) => ApiError::new(
                StatusCode::GONE,
                "invitation-gone",
                "Invitation no longer valid",
            )
            .detail(format!("this invitation has {why}")),
            ProjectError::Db(db) => db.into(),
            ProjectError::Directory(cause) => {
                tracing::warn!(error = %cause, "user directory unavailable");
                ApiError::unavailable("user lookups are temporarily unavailable")
            }
            ProjectError::Internal(cause) => ApiError::internal(&cause),
        }
    }
}
