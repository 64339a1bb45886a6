//! Importing a zip as a new project: an mdz export (an exact round trip), a folder of
//! Markdown files such as an Obsidian vault, or a Notion export.
//!
//! The body is streamed to a file under `DATA_DIR/imports` (counted against
//! `IMPORT_MAX_BYTES` as it arrives); everything after that runs on the blocking pool, never
//! on a request worker. The archive is checked whole first ([`archive::plan`]: names, kinds,
//! limits, every used entry inflated and counted against `IMPORT_MAX_UNCOMPRESSED_BYTES`),
//! so a hostile archive is refused before anything is written; then [`write`] stores it.
//!
//! Statuses: 413 for anything over a limit (body, entries, inflated bytes, a document over
//! `MAX_FILE_BYTES`), 400 for a zip that cannot be read, 415 for a body that is not a zip,
//! 422 for an entry the import refuses (escaping the root, a symlink, encrypted, non-UTF-8
//! Markdown, a path documents cannot have, a manifest of another format, a version history
//! that is not whole: [`history`]).

mod archive;
mod chain;
pub mod endpoint;
mod history;
pub(crate) mod links;
mod names;
mod repo;
mod write;

use crate::attachments::store::BlobStore;
use crate::error::FileError;
use actix_web::http::StatusCode;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use mdz_core::ApiError;
use mdz_core::access::{CreateProjectError, CreatedProject, ProjectCreator};
use mdz_core::db::{DbError, DbPool};
use mdz_core::ids::UserId;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::instrument;

/// The limits and places of imports (configuration keys `IMPORT_*`, `MAX_FILE_BYTES`,
/// `ATTACHMENT_*`).
#[derive(Debug, Clone)]
pub struct ImportSettings {
    pub max_body_bytes: u64,
    /// Imports this node runs at once.
    pub max_concurrent: usize,
    limits: archive::Limits,
    /// Where uploaded zips wait while they are imported.
    pub temp_dir: PathBuf,
}

impl ImportSettings {
    pub fn new(config: &mdz_core::config::Config) -> Self {
        Self {
            max_body_bytes: config.import_max_bytes,
            max_concurrent: config.import_max_concurrent,
            limits: archive::Limits {
                max_entries: config.import_max_entries,
                max_uncompressed_bytes: config.import_max_uncompressed_bytes,
                max_file_bytes: config.max_file_bytes,
                attachment_max_bytes: config.attachment_max_bytes,
                attachment_types: config.attachment_type_list(),
            },
            temp_dir: config.data_dir.join("imports"),
        }
    }
}

/// Why an import was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{limit} imports are running on this server; try again in a moment")]
    Busy { limit: usize },
    #[error("the upload is larger than {limit} bytes")]
    BodyTooLarge { limit: u64 },
    #[error("the upload was interrupted")]
    Interrupted(#[source] actix_web::error::PayloadError),
    #[error("the body is not a zip archive (send it as application/zip)")]
    NotZip,
    #[error("the archive cannot be read: {0}")]
    BrokenZip(#[source] zip::result::ZipError),
    #[error("the archive cannot be read: {0}")]
    BadDirectory(&'static str),
    #[error("entry {name} cannot be read: {source}")]
    BrokenEntry {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the archive holds more than {limit} entries")]
    TooManyEntries { limit: usize },
    #[error("the archive inflates to more than {limit} bytes")]
    TooManyBytes { limit: u64 },
    #[error("entry {name} is larger than {limit} bytes")]
    EntryTooLarge { name: String, limit: u64 },
    #[error("entry {name} {why}")]
    UnsafeEntry { name: String, why: String },
    #[error("entry {name} {why}")]
    BadEntry { name: String, why: String },
    #[error("the project: {0}")]
    Project(#[source] CreateProjectError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("attachment store: {0}")]
    Store(String),
    #[error("the uploaded archive could not be kept: {0}")]
    Io(#[source] std::io::Error),
    #[error("the import task failed")]
    Worker(#[from] tokio::task::JoinError),
}

impl ImportError {
    fn unsafe_entry(name: &str, why: &str) -> Self {
        Self::UnsafeEntry {
            name: name.to_owned(),
            why: why.to_owned(),
        }
    }

    fn bad_entry(name: &str, why: impl Into<String>) -> Self {
        Self::BadEntry {
            name: name.to_owned(),
            why: why.into(),
        }
    }
}

impl From<diesel::result::Error> for ImportError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

impl From<CreateProjectError> for ImportError {
    fn from(e: CreateProjectError) -> Self {
        match e {
            CreateProjectError::Db(db) => Self::Db(db),
            other => Self::Project(other),
        }
    }
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        let detail = e.to_string();
        match e {
            ImportError::Busy { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "Server busy")
                    .detail(detail)
                    .header(
                        actix_web::http::header::RETRY_AFTER,
                        actix_web::http::header::HeaderValue::from_static(BUSY_RETRY_AFTER_SECS),
                    )
            }
            ImportError::BodyTooLarge { .. }
            | ImportError::TooManyEntries { .. }
            | ImportError::TooManyBytes { .. }
            | ImportError::EntryTooLarge { .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            )
            .detail(detail),
            ImportError::Interrupted(_) => ApiError::bad_request(detail),
            ImportError::NotZip => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            )
            .detail(detail),
            ImportError::BrokenZip(_)
            | ImportError::BadDirectory(_)
            | ImportError::BrokenEntry { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "broken-archive", "Broken archive")
                    .detail(detail)
            }
            ImportError::UnsafeEntry { .. } | ImportError::BadEntry { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "archive-refused",
                "Archive refused",
            )
            .detail(detail),
            ImportError::Project(CreateProjectError::Invalid(errors)) => {
                ApiError::validation(errors)
            }
            ImportError::Project(cause) => ApiError::internal(&cause),
            ImportError::Db(db) => db.into(),
            ImportError::Store(cause) => FileError::Store(cause).into(),
            ImportError::Io(cause) => ApiError::internal(&cause),
            ImportError::Worker(cause) => ApiError::internal(&cause),
        }
    }
}

/// What an import made.
#[derive(Debug)]
pub struct Imported {
    pub project: CreatedProject,
    pub documents: usize,
    /// Versions made: an mdz export's history, else one per document.
    pub versions: usize,
    pub attachments: usize,
    /// Entries left out, with why (the first 100).
    pub skipped: Vec<String>,
    pub skipped_count: usize,
}

/// An uploaded zip on disk: removed by [`Upload::remove`] once imported, or (in the
/// background) when dropped on the way.
pub struct Upload {
    path: PathBuf,
}

fn remove_upload(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(error = %e, path = %path.display(), "could not remove an uploaded archive");
    }
}

impl Upload {
    /// Remove the file now (on the blocking pool: the caller is there).
    fn remove(mut self) {
        let path = std::mem::take(&mut self.path);
        remove_upload(&path);
    }

    async fn remove_async(mut self) {
        let path = std::mem::take(&mut self.path);
        if let Err(e) = tokio::fs::remove_file(&path).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, path = %path.display(), "could not remove an uploaded archive");
        }
    }
}

async fn write_body<S>(path: &Path, mut body: S, limit: u64) -> Result<(), ImportError>
where
    S: Stream<Item = Result<Bytes, actix_web::error::PayloadError>> + Unpin,
{
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(ImportError::Io)?;
    let mut written: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(ImportError::Interrupted)?;
        written = written.saturating_add(chunk.len() as u64);
        if written > limit {
            return Err(ImportError::BodyTooLarge { limit });
        }
        file.write_all(&chunk).await.map_err(ImportError::Io)?;
    }
    file.flush().await.map_err(ImportError::Io)
}

impl Drop for Upload {
    fn drop(&mut self) {
        let path = std::mem::take(&mut self.path);
        if path.as_os_str().is_empty() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(move || remove_upload(&path))),
            Err(_) => remove_upload(&path),
        }
    }
}

/// What a refused import is told to wait, in seconds.
const BUSY_RETRY_AFTER_SECS: &str = "5";

/// One of the node's import slots ([`ImportService::admit`]), held until the import ends.
pub struct Slot(#[expect(dead_code, reason = "held for its drop")] OwnedSemaphorePermit);

/// An upload older than this is a previous run's leftover (a crash mid-import); younger ones
/// may be another node's, receiving now in a shared `DATA_DIR`.
const LEFTOVER_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Remove the `*.zip` uploads of `DATA_DIR/imports` older than [`LEFTOVER_AGE`] (at startup).
pub async fn remove_leftovers(dir: &Path) {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let path = entry.path();
        if path.extension().is_none_or(|ext| ext != "zip") {
            continue;
        }
        let age = entry
            .metadata()
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok());
        if age.is_some_and(|age| age > LEFTOVER_AGE) {
            Upload { path }.remove_async().await;
        }
    }
}

pub struct ImportService {
    running: Arc<Semaphore>,
    pool: DbPool,
    store: Arc<dyn BlobStore>,
    creator: Arc<dyn ProjectCreator>,
    settings: ImportSettings,
}

impl ImportService {
    pub fn new(
        pool: DbPool,
        store: Arc<dyn BlobStore>,
        creator: Arc<dyn ProjectCreator>,
        settings: ImportSettings,
    ) -> Self {
        Self {
            running: Arc::new(Semaphore::new(settings.max_concurrent)),
            pool,
            store,
            creator,
            settings,
        }
    }

    /// Refuse a name no project can have (422) before the body is read.
    pub fn check_name(&self, name: &str) -> Result<(), ImportError> {
        self.creator.check_name(name).map_err(ImportError::from)
    }

    /// Take one of the node's import slots, or refuse at once (before the body is read)
    /// when `IMPORT_MAX_CONCURRENT` imports are running.
    pub fn admit(&self) -> Result<Slot, ImportError> {
        self.running
            .clone()
            .try_acquire_owned()
            .map(Slot)
            .map_err(|_| ImportError::Busy {
                limit: self.settings.max_concurrent,
            })
    }

    pub fn max_body_bytes(&self) -> u64 {
        self.settings.max_body_bytes
    }

    /// Write the body to a file of its own, refusing it once it passes the limit (the file
    /// is removed before the refusal is answered).
    pub async fn receive<S>(&self, body: S) -> Result<Upload, ImportError>
    where
        S: Stream<Item = Result<Bytes, actix_web::error::PayloadError>> + Unpin,
    {
        tokio::fs::create_dir_all(&self.settings.temp_dir)
            .await
            .map_err(ImportError::Io)?;
        let upload = Upload {
            path: self
                .settings
                .temp_dir
                .join(format!("{}.zip", uuid::Uuid::new_v4().simple())),
        };
        match write_body(&upload.path, body, self.settings.max_body_bytes).await {
            Ok(()) => Ok(upload),
            Err(e) => {
                upload.remove_async().await;
                Err(e)
            }
        }
    }

    /// Import `upload` as a new project of `actor`'s, named `name` (else the manifest's
    /// name, the archive's top folder's, or "Import").
    #[instrument(skip_all, fields(user_id = %actor))]
    pub async fn import(
        &self,
        actor: UserId,
        name: Option<String>,
        upload: Upload,
        slot: Slot,
    ) -> Result<Imported, ImportError> {
        let job = ImportJob {
            pool: self.pool.clone(),
            store: self.store.clone(),
            creator: self.creator.clone(),
            limits: self.settings.limits.clone(),
            actor,
            name,
        };
        let imported = tokio::task::spawn_blocking(move || {
            let result = job.run(&upload);
            upload.remove();
            drop(slot);
            result
        })
        .await??;
        tracing::info!(
            project_id = %imported.project.id,
            documents = imported.documents,
            versions = imported.versions,
            attachments = imported.attachments,
            skipped = imported.skipped_count,
            "project imported"
        );
        Ok(imported)
    }
}

struct ImportJob {
    pool: DbPool,
    store: Arc<dyn BlobStore>,
    creator: Arc<dyn ProjectCreator>,
    limits: archive::Limits,
    actor: UserId,
    name: Option<String>,
}

impl ImportJob {
    fn run(self, upload: &Upload) -> Result<Imported, ImportError> {
        let mut zip = archive::open(&upload.path, self.limits.max_entries)?;
        let plan = archive::plan(&mut zip, &self.limits)?;
        let name = self
            .name
            .or_else(|| plan.name.clone().filter(|n| !n.trim().is_empty()))
            .unwrap_or_else(|| "Import".to_owned());
        write::Job {
            pool: self.pool,
            store: self.store,
            creator: self.creator,
            runtime: tokio::runtime::Handle::current(),
            actor: self.actor,
            name,
            max_file_bytes: self.limits.max_file_bytes,
        }
        .run(&mut zip, &plan)
    }
}
