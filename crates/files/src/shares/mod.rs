//! Public share links: a document or a folder of a project, readable by anyone with the URL
//! (`/s/{token}`), rendered to sanitised HTML on the server. Managed by editors and above.
//!
//! The token (`mdz_sh_` + 32 random bytes) is shown once and stored as SHA-256; a password is
//! hashed like account passwords (the auth domain's bounded hasher, through the
//! [`PasswordHashing`] port); a right password sets a signed cookie (`unlock.rs`) scoped to
//! the share's path. An expired share, a deleted one and a trashed document are 404.

pub mod endpoint;
pub mod pages;
mod public;
pub mod render;
pub mod repo;
mod unlock;

use crate::attachments::store::BlobStore;
use crate::error::FileError;
use crate::paths::parse_prefix;
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use mdz_core::FieldError;
use mdz_core::access::{AccessError, Action, ProjectAccess};
use mdz_core::db::{self, DbPool};
use mdz_core::ids::{FileId, ProjectId, ShareId, UserId};
use mdz_core::kv::SharedKv;
use mdz_core::ports::{HashRefusal, PasswordHashing};
use mdz_core::{ApiError, secrets};
use repo::ShareRow;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tracing::instrument;
use utoipa::ToSchema;

/// Prefix of share tokens.
pub const TOKEN_PREFIX: &str = "mdz_sh_";
/// Shares a project may have that have not expired.
pub const MAX_SHARES_PER_PROJECT: i64 = 100;
/// Length of a share password, in characters.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=256;

/// What the shares service needs from the configuration.
#[derive(Debug, Clone)]
pub struct ShareSettings {
    /// Where clients reach this server: share URLs start with it.
    pub public_url: String,
    /// Wrong passwords per share and per client address per window (`LOGIN_MAX_FAILURES`).
    pub max_failures: u64,
    /// `RATE_LIMIT_WINDOW_SECS`.
    pub rate_window: Duration,
    /// Unlock cookies are `Secure` (the public URL is https).
    pub secure_cookie: bool,
}

/// A new share: exactly one of `file_id` and `folder`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShare {
    /// Share this document.
    pub file_id: Option<FileId>,
    /// Or every document under this folder (`""` or `"/"`: the whole project).
    pub folder: Option<String>,
    /// When the link stops working (in the future); none: until deleted.
    pub expires_at: Option<DateTime<Utc>>,
    /// Readers must enter it (8–256 characters).
    pub password: Option<String>,
    /// Let search engines index the pages (default false: `noindex`).
    #[serde(default)]
    pub allow_indexing: bool,
}

/// A share, without its token.
#[derive(Debug, Serialize, ToSchema)]
pub struct Share {
    pub id: ShareId,
    pub project_id: ProjectId,
    pub file_id: Option<FileId>,
    /// The shared folder prefix (`""`: the whole project), when a folder is shared.
    pub folder: Option<String>,
    pub has_password: bool,
    pub allow_indexing: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by: UserId,
}

/// A share just made: its token and URL are shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedShare {
    pub id: ShareId,
    pub token: String,
    pub url: String,
    pub share: Share,
}

fn view(r: &ShareRow) -> Share {
    Share {
        id: r.id,
        project_id: r.project_id,
        file_id: r.file_id,
        folder: r.folder.clone(),
        has_password: r.password_hash.is_some(),
        allow_indexing: r.allow_indexing,
        expires_at: r.expires_at,
        created_at: r.created_at,
        created_by: r.created_by,
    }
}

/// What can go wrong with shares.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("no such share, or it expired")]
    Gone,
    #[error("a project has at most {MAX_SHARES_PER_PROJECT} shares")]
    TooMany,
    #[error("wrong password")]
    WrongPassword,
    #[error("too many password attempts")]
    RateLimited { retry_after_secs: u64 },
    #[error("too many passwords are being hashed at once")]
    Busy,
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error(transparent)]
    TooBig(#[from] render::TooBig),
    #[error("a background computation failed")]
    Worker(#[from] tokio::task::JoinError),
}

impl From<diesel::result::Error> for ShareError {
    fn from(e: diesel::result::Error) -> Self {
        Self::File(e.into())
    }
}

impl From<db::DbError> for ShareError {
    fn from(e: db::DbError) -> Self {
        Self::File(e.into())
    }
}

impl From<AccessError> for ShareError {
    fn from(e: AccessError) -> Self {
        Self::File(e.into())
    }
}

impl From<HashRefusal> for ShareError {
    fn from(e: HashRefusal) -> Self {
        match e {
            HashRefusal::Busy => Self::Busy,
            HashRefusal::Failed(cause) => Self::Hashing(cause),
        }
    }
}

impl From<ShareError> for ApiError {
    fn from(e: ShareError) -> Self {
        use actix_web::http::{StatusCode, header};
        match e {
            ShareError::File(f) => f.into(),
            ShareError::Gone => ApiError::not_found("no such share"),
            e @ ShareError::TooMany => {
                ApiError::new(StatusCode::CONFLICT, "too-many-shares", "Too many shares")
                    .detail(format!("{e}: delete one first"))
            }
            ShareError::WrongPassword => ApiError::unauthorized("wrong password"),
            ShareError::RateLimited { retry_after_secs } => {
                ApiError::too_many_requests(retry_after_secs)
            }
            ShareError::Busy => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "Server busy")
                    .detail("too many passwords are being checked at once; try again in a moment")
                    .header(header::RETRY_AFTER, header::HeaderValue::from_static("1"))
            }
            ShareError::Hashing(cause) => ApiError::internal(&cause),
            e @ ShareError::TooBig(_) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-big-to-render",
                "Too big to render",
            )
            .detail(e.to_string()),
            ShareError::Worker(cause) => ApiError::internal(&format!("rendering failed: {cause}")),
        }
    }
}

fn field(name: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: name.to_owned(),
        message: message.into(),
    }
}

pub struct SharesService {
    pool: DbPool,
    access: Arc<dyn ProjectAccess>,
    store: Arc<dyn BlobStore>,
    kv: SharedKv,
    passwords: Arc<dyn PasswordHashing>,
    settings: ShareSettings,
}

/// A checked [`CreateShare`].
struct Target {
    file_id: Option<FileId>,
    folder: Option<String>,
    password: Option<String>,
}

impl SharesService {
    pub fn new(
        pool: DbPool,
        access: Arc<dyn ProjectAccess>,
        store: Arc<dyn BlobStore>,
        kv: SharedKv,
        passwords: Arc<dyn PasswordHashing>,
        settings: ShareSettings,
    ) -> Self {
        Self {
            pool,
            access,
            store,
            kv,
            passwords,
            settings,
        }
    }

    /// The URL of the share with `token`.
    pub fn url_of(&self, token: &str) -> String {
        format!(
            "{}/s/{token}",
            self.settings.public_url.trim_end_matches('/')
        )
    }

    fn validate(req: CreateShare, now: DateTime<Utc>) -> Result<Target, ShareError> {
        let mut errors = Vec::new();
        let folder = match (&req.file_id, &req.folder) {
            (Some(_), None) => None,
            (None, Some(raw)) => match parse_prefix(raw) {
                Ok(prefix) => Some(prefix),
                Err(m) => {
                    errors.push(field("folder", m));
                    None
                }
            },
            _ => {
                errors.push(field("file_id", "give exactly one of file_id and folder"));
                None
            }
        };
        if req.expires_at.is_some_and(|at| at <= now) {
            errors.push(field("expires_at", "must be in the future"));
        }
        if let Some(p) = &req.password
            && !PASSWORD_CHARS.contains(&p.chars().count())
        {
            errors.push(field(
                "password",
                format!(
                    "must be {} to {} characters",
                    PASSWORD_CHARS.start(),
                    PASSWORD_CHARS.end()
                ),
            ));
        }
        if !errors.is_empty() {
            return Err(FileError::Validation(errors).into());
        }
        Ok(Target {
            file_id: req.file_id,
            folder,
            password: req.password,
        })
    }

    /// Make a share (editor or above); the token is in the answer only.
    #[instrument(skip_all, fields(user_id = %actor, project_id = %project))]
    pub async fn create(
        &self,
        actor: UserId,
        project: ProjectId,
        req: CreateShare,
    ) -> Result<CreatedShare, ShareError> {
        self.access.require(actor, project, Action::Edit).await?;
        let now = Utc::now();
        let allow_indexing = req.allow_indexing;
        let expires_at = req.expires_at;
        let target = Self::validate(req, now)?;
        let password_hash = match target.password {
            Some(p) => Some(self.passwords.hash(p).await?),
            None => None,
        };
        let token = secrets::generate(TOKEN_PREFIX)
            .map_err(|e| ShareError::Hashing(format!("no randomness: {e}")))?;
        let row = ShareRow {
            id: ShareId::new(),
            project_id: project,
            file_id: target.file_id,
            folder: target.folder,
            token_hash: secrets::digest(&token),
            password_hash,
            cookie_key: unlock::new_key().map_err(ShareError::Hashing)?,
            allow_indexing,
            expires_at,
            created_at: now,
            updated_at: now,
            created_by: actor,
            updated_by: actor,
        };
        let mut conn = db::conn(&self.pool).await?;
        let row = (*conn)
            .transaction::<_, ShareError, _>(async |conn: &mut AsyncPgConnection| {
                if let Some(file) = row.file_id
                    && repo::live_file(conn, project, file).await?.is_none()
                {
                    return Err(FileError::Validation(vec![field(
                        "file_id",
                        "no such document in this project",
                    )])
                    .into());
                }
                repo::lock_project_shares(conn, project).await?;
                if repo::count_live(conn, project, now).await? >= MAX_SHARES_PER_PROJECT {
                    return Err(ShareError::TooMany);
                }
                Ok(repo::insert(conn, &row).await?)
            })
            .await?;
        tracing::info!(share = %row.id, "share created");
        Ok(CreatedShare {
            id: row.id,
            url: self.url_of(&token),
            token,
            share: view(&row),
        })
    }

    /// The project's shares (editor or above), newest first.
    pub async fn list(&self, actor: UserId, project: ProjectId) -> Result<Vec<Share>, ShareError> {
        self.access.require(actor, project, Action::Edit).await?;
        let mut conn = db::conn(&self.pool).await?;
        // Expired shares stay listed until deleted, so the list can hold a few more.
        let rows = repo::list(&mut conn, project, MAX_SHARES_PER_PROJECT * 10).await?;
        Ok(rows.iter().map(view).collect())
    }

    /// Delete a share (editor or above of its project): its URL is 404 from now on.
    #[instrument(skip_all, fields(user_id = %actor, share = %id))]
    pub async fn delete(&self, actor: UserId, id: ShareId) -> Result<(), ShareError> {
        let mut conn = db::conn(&self.pool).await?;
        let row = repo::by_id(&mut conn, id)
            .await?
            .ok_or(FileError::NotFound("share"))?;
        match self
            .access
            .require(actor, row.project_id, Action::Edit)
            .await
        {
            Ok(_) => {}
            Err(AccessError::NotFound) => return Err(FileError::NotFound("share").into()),
            Err(e) => return Err(e.into()),
        }
        repo::delete(&mut conn, id).await?;
        tracing::info!("share deleted");
        Ok(())
    }
}
