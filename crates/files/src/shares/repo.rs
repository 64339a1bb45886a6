//! Share queries, and what a share may show: its documents and the attachments they reference.

use crate::attachments::repo::AttachmentRow;
use crate::import::links::ATTACHMENT_URL;
use crate::repo::{FileMetaRow, FileRow};
use crate::schema::{attachments, files, shares};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use mdz_core::ids::{AttachmentId, FileId, ProjectId, ShareId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = shares)]
pub struct ShareRow {
    pub id: ShareId,
    pub project_id: ProjectId,
    pub file_id: Option<FileId>,
    pub folder: Option<String>,
    pub token_hash: Vec<u8>,
    pub password_hash: Option<String>,
    pub cookie_key: Vec<u8>,
    pub allow_indexing: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: UserId,
    pub updated_by: UserId,
}

/// Serialise share creation per project (the count check and the insert), for this
/// transaction.
pub async fn lock_project_shares(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
) -> Result<(), Error> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended('shares:' || $1::text, 0))")
        .bind::<diesel::sql_types::Uuid, _>(project)
        .execute(conn)
        .await
        .map(drop)
}

/// Shares of `project` that have not expired.
pub async fn count_live(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    now: DateTime<Utc>,
) -> Result<i64, Error> {
    shares::table
        .filter(shares::project_id.eq(project))
        .filter(shares::expires_at.is_null().or(shares::expires_at.gt(now)))
        .count()
        .get_result(conn)
        .await
}

pub async fn insert(conn: &mut AsyncPgConnection, row: &ShareRow) -> Result<ShareRow, Error> {
    diesel::insert_into(shares::table)
        .values(row)
        .returning(ShareRow::as_returning())
        .get_result(conn)
        .await
}

/// The project's shares, newest first (expired ones included, until deleted).
pub async fn list(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    limit: i64,
) -> Result<Vec<ShareRow>, Error> {
    shares::table
        .filter(shares::project_id.eq(project))
        .select(ShareRow::as_select())
        .order((shares::created_at.desc(), shares::id.desc()))
        .limit(limit)
        .load(conn)
        .await
}

pub async fn by_id(conn: &mut AsyncPgConnection, id: ShareId) -> Result<Option<ShareRow>, Error> {
    shares::table
        .find(id)
        .select(ShareRow::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn delete(conn: &mut AsyncPgConnection, id: ShareId) -> Result<(), Error> {
    diesel::delete(shares::table.find(id))
        .execute(conn)
        .await
        .map(drop)
}

/// The share behind a token's digest, unless it expired.
pub async fn by_token(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<ShareRow>, Error> {
    shares::table
        .filter(shares::token_hash.eq(token_hash))
        .filter(shares::expires_at.is_null().or(shares::expires_at.gt(now)))
        .select(ShareRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// A live document of `project` (for a document share, and to check one at creation).
pub async fn live_file(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    id: FileId,
) -> Result<Option<FileRow>, Error> {
    files::table
        .find(id)
        .filter(files::project_id.eq(project))
        .filter(files::deleted_at.is_null())
        .select(FileRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The live document at `path` of `project`.
pub async fn live_file_at(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    path: &str,
) -> Result<Option<FileRow>, Error> {
    files::table
        .filter(files::project_id.eq(project))
        .filter(files::path.eq(path))
        .filter(files::deleted_at.is_null())
        .select(FileRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// `LIKE` pattern of everything under `prefix`.
fn under(prefix: &str) -> String {
    let escaped = prefix
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("{escaped}%")
}

/// The live documents under `prefix`, by path, at most `limit`.
pub async fn live_under(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    prefix: &str,
    limit: i64,
) -> Result<Vec<FileMetaRow>, Error> {
    files::table
        .filter(files::project_id.eq(project))
        .filter(files::deleted_at.is_null())
        .filter(files::path.like(under(prefix)).escape('\\'))
        .select(FileMetaRow::as_select())
        .order((files::path.asc(), files::id.asc()))
        .limit(limit)
        .load(conn)
        .await
}

/// The attachment `id` when it is a ready attachment of the share's project and a live
/// document the share shows mentions its URL (`/api/v1/attachments/{id}`); `None` otherwise,
/// so a share never serves any other attachment of the project.
pub async fn referenced_attachment(
    conn: &mut AsyncPgConnection,
    share: &ShareRow,
    id: AttachmentId,
) -> Result<Option<AttachmentRow>, Error> {
    let Some(row) = attachments::table
        .find(id)
        .filter(attachments::project_id.eq(share.project_id))
        .filter(attachments::ready.eq(true))
        .select(AttachmentRow::as_select())
        .first(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    let mention = format!("%{ATTACHMENT_URL}{id}%");
    let mut q = files::table
        .filter(files::project_id.eq(share.project_id))
        .filter(files::deleted_at.is_null())
        .filter(files::content.ilike(mention))
        .select(files::id)
        .into_boxed();
    q = match (&share.file_id, &share.folder) {
        (Some(file), _) => q.filter(files::id.eq(*file)),
        (None, Some(folder)) => q.filter(files::path.like(under(folder)).escape('\\')),
        (None, None) => return Ok(None),
    };
    let found: Option<FileId> = q.first(conn).await.optional()?;
    Ok(found.map(|_| row))
}
