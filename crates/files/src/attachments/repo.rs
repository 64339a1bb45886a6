//! Attachment and blob-grant queries.

use crate::schema::{attachments, blob_deletions, blob_grants};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use mdz_core::ids::AttachmentId;
use mdz_core::ids::{ProjectId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = attachments)]
pub struct AttachmentRow {
    pub id: AttachmentId,
    pub project_id: ProjectId,
    pub object_key: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub ready: bool,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: UserId,
    pub updated_by: UserId,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = blob_grants)]
pub struct GrantRow {
    pub object_key: String,
    pub purpose: String,
    pub content_type: String,
    pub max_size: i64,
    pub filename: String,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut AsyncPgConnection, row: &AttachmentRow) -> Result<(), Error> {
    diesel::insert_into(attachments::table)
        .values(row)
        .execute(conn)
        .await
        .map(drop)
}

/// A project's uploaded attachments, by id, after `after`.
pub async fn ready_page(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    after: Option<AttachmentId>,
    limit: i64,
) -> Result<Vec<AttachmentRow>, Error> {
    let mut q = attachments::table
        .filter(attachments::project_id.eq(project))
        .filter(attachments::ready.eq(true))
        .select(AttachmentRow::as_select())
        .order(attachments::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(attachments::id.gt(after));
    }
    q.load(conn).await
}

pub async fn by_id(
    conn: &mut AsyncPgConnection,
    id: AttachmentId,
) -> Result<Option<AttachmentRow>, Error> {
    attachments::table
        .find(id)
        .select(AttachmentRow::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn mark_ready(
    conn: &mut AsyncPgConnection,
    id: AttachmentId,
    actor: UserId,
) -> Result<AttachmentRow, Error> {
    diesel::update(attachments::table.find(id))
        .set((
            attachments::ready.eq(true),
            attachments::completed_at.eq(diesel::dsl::now),
            attachments::updated_by.eq(actor),
        ))
        .returning(AttachmentRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn delete(conn: &mut AsyncPgConnection, id: AttachmentId) -> Result<bool, Error> {
    diesel::delete(attachments::table.find(id))
        .execute(conn)
        .await
        .map(|n| n > 0)
}

/// Uploads announced before `cutoff` and never completed.
pub async fn stale(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
) -> Result<Vec<AttachmentRow>, Error> {
    attachments::table
        .filter(attachments::ready.eq(false))
        .filter(attachments::created_at.lt(cutoff))
        .select(AttachmentRow::as_select())
        .limit(500)
        .load(conn)
        .await
}

#[expect(clippy::too_many_arguments, reason = "one row's columns")]
pub async fn insert_grant(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    key: &str,
    purpose: &str,
    content_type: &str,
    max_size: i64,
    filename: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), Error> {
    diesel::insert_into(blob_grants::table)
        .values((
            blob_grants::token_hash.eq(hash),
            blob_grants::object_key.eq(key),
            blob_grants::purpose.eq(purpose),
            blob_grants::content_type.eq(content_type),
            blob_grants::max_size.eq(max_size),
            blob_grants::filename.eq(filename),
            blob_grants::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// A live grant for this token and purpose.
pub async fn grant(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    purpose: &str,
) -> Result<Option<GrantRow>, Error> {
    blob_grants::table
        .find(hash)
        .filter(blob_grants::purpose.eq(purpose))
        .filter(blob_grants::expires_at.gt(diesel::dsl::now))
        .select(GrantRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Claim a live, unused upload grant: of two uploads with one token, exactly one gets it.
pub async fn claim_put_grant(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
) -> Result<Option<GrantRow>, Error> {
    diesel::update(
        blob_grants::table
            .find(hash)
            .filter(blob_grants::purpose.eq("put"))
            .filter(blob_grants::used_at.is_null())
            .filter(blob_grants::expires_at.gt(diesel::dsl::now)),
    )
    .set(blob_grants::used_at.eq(diesel::dsl::now))
    .returning(GrantRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// Give a claimed upload grant back after an upload that stored nothing, so it can be retried.
pub async fn release_put_grant(conn: &mut AsyncPgConnection, hash: &[u8]) -> Result<(), Error> {
    diesel::update(blob_grants::table.find(hash))
        .set(blob_grants::used_at.eq(None::<DateTime<Utc>>))
        .execute(conn)
        .await
        .map(drop)
}

/// Object keys whose attachment rows are gone (queued by a trigger), oldest first. Keys
/// queued for later (an import's objects, until its transaction commits) wait their turn.
pub async fn queued_deletions(
    conn: &mut AsyncPgConnection,
    limit: i64,
) -> Result<Vec<String>, Error> {
    blob_deletions::table
        .filter(blob_deletions::queued_at.le(diesel::dsl::now))
        .order(blob_deletions::queued_at)
        .select(blob_deletions::object_key)
        .limit(limit)
        .load(conn)
        .await
}

/// Forget queued deletions whose objects are gone from the store.
pub async fn forget_deletions(conn: &mut AsyncPgConnection, keys: &[String]) -> Result<(), Error> {
    diesel::delete(blob_deletions::table.filter(blob_deletions::object_key.eq_any(keys)))
        .execute(conn)
        .await
        .map(drop)
}

/// Delete attachment rows (their objects are queued for deletion by the trigger).
pub async fn delete_many(conn: &mut AsyncPgConnection, ids: &[AttachmentId]) -> Result<(), Error> {
    diesel::delete(attachments::table.filter(attachments::id.eq_any(ids)))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn forget_expired_grants(conn: &mut AsyncPgConnection) -> Result<usize, Error> {
    diesel::delete(blob_grants::table.filter(blob_grants::expires_at.lt(diesel::dsl::now)))
        .execute(conn)
        .await
}
