//! The change feed's queries. Writers append entries without a number; the sequencer
//! ([`mdz_core::feed::Feed::number_committed`], shared with the project event log) numbers
//! committed ones afterwards, so no save waits on another.

use crate::repo::FileRow;
use crate::schema::file_changes;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use mdz_core::ids::{ProjectId, UserId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = file_changes)]
pub struct ChangeRow {
    pub project_id: ProjectId,
    pub seq: i64,
    pub file_id: uuid::Uuid,
    pub kind: String,
    pub path: String,
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub created_by: UserId,
}

/// What a change-feed entry says.
#[derive(Debug, Clone, Copy)]
pub struct ChangeEntry<'a> {
    pub project: ProjectId,
    /// The document's or the attachment's id.
    pub item: uuid::Uuid,
    pub kind: &'a str,
    pub path: &'a str,
    pub revision: i64,
}

impl<'a> ChangeEntry<'a> {
    pub fn of_file(file: &'a FileRow, kind: &'a str) -> Self {
        Self {
            project: file.project_id,
            item: file.id.0,
            kind,
            path: &file.path,
            revision: file.revision,
        }
    }
}

/// Append a change, unnumbered: it takes no lock, so the project's other writers never wait
/// on this transaction (see the migration `change_feed_sequencer`). It gets its number from
/// [`mdz_core::feed::FILE_CHANGES`]' sequencer once committed.
pub async fn append_change<C>(
    conn: &mut C,
    entry: ChangeEntry<'_>,
    actor: UserId,
) -> Result<(), Error>
where
    C: diesel_async::AsyncConnectionCore<Backend = diesel::pg::Pg> + Send,
{
    diesel::insert_into(file_changes::table)
        .values((
            file_changes::project_id.eq(entry.project),
            file_changes::file_id.eq(entry.item),
            file_changes::kind.eq(entry.kind),
            file_changes::path.eq(entry.path),
            file_changes::revision.eq(entry.revision),
            file_changes::created_by.eq(actor),
            file_changes::updated_by.eq(actor),
        ))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn changes_after(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    after: i64,
    limit: i64,
) -> Result<Vec<ChangeRow>, Error> {
    file_changes::table
        .filter(file_changes::project_id.eq(project))
        .filter(file_changes::seq.gt(after))
        .order(file_changes::seq.asc())
        .limit(limit + 1)
        .select(ChangeRow::as_select())
        .load(conn)
        .await
}
