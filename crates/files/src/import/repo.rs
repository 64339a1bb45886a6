//! The import's queries: many rows a statement, inside the import's one transaction.

use crate::attachments::repo::AttachmentRow;
use crate::repo::{FileRow, VersionRow};
use crate::schema::file_versions;
use crate::schema::{attachments, blob_deletions, file_change_counters, file_changes, files};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use mdz_core::ids::{ProjectId, UserId};

/// A change-feed entry written with its sequence number already known (a new project's feed).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = file_changes)]
pub struct ChangeRow {
    pub project_id: ProjectId,
    pub seq: i64,
    pub file_id: uuid::Uuid,
    pub kind: &'static str,
    pub path: String,
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: UserId,
    pub updated_by: UserId,
}

pub async fn insert_files(conn: &mut AsyncPgConnection, rows: &[FileRow]) -> Result<(), Error> {
    diesel::insert_into(files::table)
        .values(rows)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn insert_versions(
    conn: &mut AsyncPgConnection,
    rows: &[VersionRow],
) -> Result<(), Error> {
    diesel::insert_into(file_versions::table)
        .values(rows)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn insert_attachments(
    conn: &mut AsyncPgConnection,
    rows: &[AttachmentRow],
) -> Result<(), Error> {
    diesel::insert_into(attachments::table)
        .values(rows)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn insert_changes(conn: &mut AsyncPgConnection, rows: &[ChangeRow]) -> Result<(), Error> {
    diesel::insert_into(file_changes::table)
        .values(rows)
        .execute(conn)
        .await
        .map(drop)
}

/// The new project's feed counter, at the last sequence number the import used.
pub async fn set_change_counter(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    seq: i64,
) -> Result<(), Error> {
    diesel::insert_into(file_change_counters::table)
        .values((
            file_change_counters::project_id.eq(project),
            file_change_counters::seq.eq(seq),
        ))
        .on_conflict(file_change_counters::project_id)
        .do_update()
        .set(file_change_counters::seq.eq(seq))
        .execute(conn)
        .await
        .map(drop)
}

/// Queue objects for deletion at `at` (the cleanup task skips them until then), so objects
/// written before a transaction that never commits (a crash, a kill) are removed anyway.
pub async fn queue_deletions_at(
    conn: &mut AsyncPgConnection,
    keys: &[String],
    at: DateTime<Utc>,
) -> Result<(), Error> {
    let rows: Vec<_> = keys
        .iter()
        .map(|k| {
            (
                blob_deletions::object_key.eq(k),
                blob_deletions::queued_at.eq(at),
            )
        })
        .collect();
    diesel::insert_into(blob_deletions::table)
        .values(rows)
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(drop)
}
