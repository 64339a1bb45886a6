//! Attachments: announce (size and type checked, presigned upload URL), upload straight to the
//! store, complete (size verified), download (short-lived presigned URL), delete, and cleanup
//! of uploads that were never completed.

pub mod endpoint;
pub mod repo;
pub mod store;

use crate::error::FileError;
use crate::repo::{self as file_repo, ChangeEntry};
use chrono::{DateTime, Utc};
use mdz_core::access::{AccessError, Action, ProjectAccess};
use mdz_core::db::{self, DbPool};
use mdz_core::ids::{AttachmentId, ProjectId, UserId};
use repo::AttachmentRow;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use store::{BlobStore, StoreError};
use tracing::instrument;
use utoipa::ToSchema;

#[derive(Debug, Clone)]
pub struct AttachmentSettings {
    pub max_bytes: i64,
    pub allowed_types: Vec<String>,
    pub upload_ttl: Duration,
    pub download_ttl: Duration,
    pub stale_after: Duration,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnnounceRequest {
    /// The name downloads get (1–255 characters).
    pub filename: String,
    /// One of the allowed types (images, PDF, plain text by default).
    pub content_type: String,
    /// Exact size in bytes; the upload must match it.
    pub size: i64,
}

/// An attachment.
#[derive(Debug, Serialize, ToSchema)]
pub struct Attachment {
    pub id: AttachmentId,
    pub project_id: ProjectId,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    /// True once the upload was verified by `complete`.
    pub ready: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: UserId,
}

/// Where and how to upload the bytes of an announced attachment.
#[derive(Debug, Serialize, ToSchema)]
pub struct Announced {
    pub id: AttachmentId,
    /// PUT the bytes here, with exactly `headers`.
    pub upload_url: String,
    pub headers: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

impl From<StoreError> for FileError {
    fn from(e: StoreError) -> Self {
        FileError::Store(e.to_string())
    }
}

fn view(r: AttachmentRow) -> Attachment {
    Attachment {
        id: r.id,
        project_id: r.project_id,
        filename: r.filename,
        content_type: r.content_type,
        size: r.size,
        ready: r.ready,
        created_at: r.created_at,
        created_by: r.created_by,
    }
}

fn field(name: &str, message: impl Into<String>) -> mdz_core::FieldError {
    mdz_core::FieldError {
        field: name.to_owned(),
        message: message.into(),
    }
}

pub struct AttachmentsService {
    pool: DbPool,
    access: Arc<dyn ProjectAccess>,
    store: Arc<dyn BlobStore>,
    settings: AttachmentSettings,
}

impl AttachmentsService {
    pub fn new(
        pool: DbPool,
        access: Arc<dyn ProjectAccess>,
        store: Arc<dyn BlobStore>,
        settings: AttachmentSettings,
    ) -> Self {
        Self {
            pool,
            access,
            store,
            settings,
        }
    }

    /// The attachment and the caller's right to `action` on it (404 for non-members).
    async fn authorize(
        &self,
        actor: UserId,
        id: AttachmentId,
        action: Action,
    ) -> Result<AttachmentRow, FileError> {
        let mut conn = db::conn(&self.pool).await?;
        let row = repo::by_id(&mut conn, id)
            .await?
            .ok_or(FileError::NotFound("attachment"))?;
        match self.access.require(actor, row.project_id, action).await {
            Ok(_) => Ok(row),
            Err(AccessError::NotFound) => Err(FileError::NotFound("attachment")),
            Err(e) => Err(e.into()),
        }
    }

    fn validate(&self, req: &AnnounceRequest) -> Result<String, FileError> {
        let mut errors = Vec::new();
        let name = req.filename.trim();
        let len = name.chars().count();
        if len == 0
            || len > 255
            || name
                .chars()
                .any(|c| c.is_control() || c == '/' || c == '\\')
        {
            errors.push(field(
                "filename",
                "must be 1 to 255 characters, without slashes or control characters",
            ));
        }
        let content_type = req.content_type.trim().to_lowercase();
        if !self.settings.allowed_types.contains(&content_type) {
            errors.push(field(
                "content_type",
                format!("must be one of {}", self.settings.allowed_types.join(", ")),
            ));
        }
        if req.size < 0 {
            errors.push(field("size", "must not be negative"));
        }
        if !errors.is_empty() {
            return Err(FileError::Validation(errors));
        }
        if req.size > self.settings.max_bytes {
            return Err(FileError::TooLarge {
                limit: usize::try_from(self.settings.max_bytes).unwrap_or(usize::MAX),
            });
        }
        Ok(content_type)
    }

    #[instrument(skip_all, fields(user_id = %actor, project_id = %project))]
    pub async fn announce(
        &self,
        actor: UserId,
        project: ProjectId,
        req: AnnounceRequest,
    ) -> Result<Announced, FileError> {
        self.access.require(actor, project, Action::Edit).await?;
        let content_type = self.validate(&req)?;
        let id = AttachmentId::new();
        let key = format!("{project}/{id}");
        let now = Utc::now();
        let signed = self
            .store
            .presign_put(&key, &content_type, req.size, self.settings.upload_ttl)
            .await?;
        let mut conn = db::conn(&self.pool).await?;
        repo::insert(
            &mut conn,
            &AttachmentRow {
                id,
                project_id: project,
                object_key: key,
                filename: req.filename.trim().to_owned(),
                content_type,
                size: req.size,
                ready: false,
                completed_at: None,
                created_at: now,
                updated_at: now,
                created_by: actor,
                updated_by: actor,
            },
        )
        .await?;
        Ok(Announced {
            id,
            upload_url: signed.url,
            headers: signed.headers,
            expires_at: now
                + chrono::Duration::from_std(self.settings.upload_ttl).unwrap_or_default(),
        })
    }

    /// Verify the uploaded object has the promised size and mark the attachment ready.
    #[instrument(skip_all, fields(user_id = %actor, attachment = %id))]
    pub async fn complete(&self, actor: UserId, id: AttachmentId) -> Result<Attachment, FileError> {
        let row = self.authorize(actor, id, Action::Edit).await?;
        if row.ready {
            return Ok(view(row));
        }
        match self.store.size_of(&row.object_key).await? {
            None => {
                return Err(FileError::Conflict(
                    "nothing was uploaded yet: PUT the bytes to the upload URL first".into(),
                ));
            }
            Some(size) if size != row.size => {
                self.store.delete(&row.object_key).await?;
                return Err(FileError::Validation(vec![field(
                    "size",
                    format!(
                        "the upload has {size} bytes, {} were announced; it was discarded, upload again",
                        row.size
                    ),
                )]));
            }
            Some(_) => {}
        }
        let mut conn = db::conn(&self.pool).await?;
        let row = diesel_async::AsyncConnection::transaction::<_, FileError, _>(
            &mut *conn,
            async |conn: &mut diesel_async::AsyncPgConnection| {
                let row = repo::mark_ready(conn, id, actor).await?;
                file_repo::append_change(
                    conn,
                    ChangeEntry {
                        project: row.project_id,
                        item: row.id.0,
                        kind: "attachment_added",
                        path: &row.filename,
                        revision: 1,
                    },
                    actor,
                )
                .await?;
                Ok(row)
            },
        )
        .await?;
        Ok(view(row))
    }

    /// A short-lived URL that downloads the attachment.
    #[instrument(skip_all, fields(user_id = %actor, attachment = %id))]
    pub async fn download_url(&self, actor: UserId, id: AttachmentId) -> Result<String, FileError> {
        let row = self.authorize(actor, id, Action::Read).await?;
        if !row.ready {
            return Err(FileError::NotFound("attachment"));
        }
        Ok(self
            .store
            .presign_get(
                &row.object_key,
                &row.filename,
                &row.content_type,
                self.settings.download_ttl,
            )
            .await?)
    }

    #[instrument(skip_all, fields(user_id = %actor, attachment = %id))]
    pub async fn delete(&self, actor: UserId, id: AttachmentId) -> Result<(), FileError> {
        let row = self.authorize(actor, id, Action::Edit).await?;
        self.store.delete(&row.object_key).await?;
        let mut conn = db::conn(&self.pool).await?;
        diesel_async::AsyncConnection::transaction::<_, FileError, _>(
            &mut *conn,
            async |conn: &mut diesel_async::AsyncPgConnection| {
                repo::delete(conn, id).await?;
                if row.ready {
                    file_repo::append_change(
                        conn,
                        ChangeEntry {
                            project: row.project_id,
                            item: row.id.0,
                            kind: "attachment_deleted",
                            path: &row.filename,
                            revision: 1,
                        },
                        actor,
                    )
                    .await?;
                }
                Ok(())
            },
        )
        .await
    }

    /// Remove uploads announced long ago and never completed, the stored objects of every
    /// attachment row that is gone (deleted, abandoned, or its project purged), and expired
    /// grants. Answers (abandoned uploads, objects removed).
    pub async fn cleanup(&self) -> Result<(usize, usize), FileError> {
        let cutoff =
            Utc::now() - chrono::Duration::from_std(self.settings.stale_after).unwrap_or_default();
        let mut conn = db::conn(&self.pool).await?;
        let stale = repo::stale(&mut conn, cutoff).await?;
        let ids: Vec<AttachmentId> = stale.iter().map(|r| r.id).collect();
        repo::delete_many(&mut conn, &ids).await?;
        let removed = self.remove_queued_objects(&mut conn).await?;
        repo::forget_expired_grants(&mut conn).await?;
        Ok((stale.len(), removed))
    }

    /// Delete the objects queued by the `attachments` delete trigger, a batch at a time. An
    /// object the store fails to delete stays queued for the next round.
    async fn remove_queued_objects(
        &self,
        conn: &mut diesel_async::AsyncPgConnection,
    ) -> Result<usize, FileError> {
        let mut removed = 0;
        loop {
            let keys = repo::queued_deletions(conn, DELETION_BATCH).await?;
            let mut done = Vec::with_capacity(keys.len());
            let mut failed = false;
            for key in &keys {
                match self.store.delete(key).await {
                    Ok(()) => done.push(key.clone()),
                    Err(e) => {
                        tracing::warn!(error = %e, key = %key, "could not delete a stored object");
                        failed = true;
                    }
                }
            }
            repo::forget_deletions(conn, &done).await?;
            removed += done.len();
            if failed || keys.len() < usize::try_from(DELETION_BATCH).unwrap_or(0) {
                return Ok(removed);
            }
        }
    }
}

/// Objects deleted from the store per query of the deletion queue.
const DELETION_BATCH: i64 = 500;
