//! The change feed's queries. Writers append entries without a number; the sequencer
//! ([`number_committed`]) numbers committed ones afterwards, so no save waits on another.

use crate::repo::FileRow;
use crate::schema::{file_change_counters, file_changes};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel::sql_types::{BigInt, Uuid};
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
/// [`number_committed`] once committed.
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

/// Whether `project` has committed changes still waiting for a number (the partial index
/// `file_changes_unnumbered_idx` makes this one index probe).
pub async fn has_unnumbered(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
) -> Result<bool, Error> {
    diesel::select(diesel::dsl::exists(
        file_changes::table
            .filter(file_changes::project_id.eq(project))
            .filter(file_changes::seq.is_null()),
    ))
    .get_result(conn)
    .await
}

/// The projects with committed changes waiting for a number, at most `limit`.
pub async fn unnumbered_projects(
    conn: &mut AsyncPgConnection,
    limit: i64,
) -> Result<Vec<ProjectId>, Error> {
    file_changes::table
        .filter(file_changes::seq.is_null())
        .select(file_changes::project_id)
        .distinct()
        .limit(limit)
        .load(conn)
        .await
}

#[derive(QueryableByName)]
struct Numbered {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Number every committed unnumbered change of `project`, in the order they were written,
/// after the project's last number; returns how many. One short transaction: the first
/// statement locks the project's counter row (two sequencers of a project take turns), the
/// second runs on a snapshot taken after that lock was granted, so it sees every number the
/// previous holder gave and never numbers an entry twice. Only committed entries are visible
/// to it, and its own numbers become visible all at once when it commits, after every lower
/// number: a reader that has read up to N never later finds a new entry at or below N.
pub async fn number_committed(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
) -> Result<i64, Error> {
    conn.build_transaction()
        .read_committed()
        .run::<_, Error, _>(async |conn: &mut AsyncPgConnection| {
            let last: i64 = diesel::insert_into(file_change_counters::table)
                .values(file_change_counters::project_id.eq(project))
                .on_conflict(file_change_counters::project_id)
                .do_update()
                .set(file_change_counters::seq.eq(file_change_counters::seq))
                .returning(file_change_counters::seq)
                .get_result(conn)
                .await?;
            let done: Numbered = diesel::sql_query(
                "WITH todo AS (
                 SELECT id, row_number() OVER (ORDER BY id) AS n FROM file_changes
                 WHERE project_id = $1 AND seq IS NULL
             ), numbered AS (
                 UPDATE file_changes f SET seq = $2 + todo.n FROM todo WHERE f.id = todo.id
                 RETURNING f.seq
             ), counted AS (
                 UPDATE file_change_counters c SET seq = (SELECT max(seq) FROM numbered)
                 WHERE c.project_id = $1 AND EXISTS (SELECT 1 FROM numbered)
             )
             SELECT count(*) AS n FROM numbered",
            )
            .bind::<Uuid, _>(project)
            .bind::<BigInt, _>(last)
            .get_result(conn)
            .await?;
            Ok(done.n)
        })
        .await
}

/// `(newest seq, horizon)` of a project's feed: cursors below the horizon were compacted.
pub async fn feed_bounds(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
) -> Result<(i64, i64), Error> {
    Ok(file_change_counters::table
        .find(project)
        .select((file_change_counters::seq, file_change_counters::horizon))
        .first(conn)
        .await
        .optional()?
        .unwrap_or((0, 0)))
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

/// Drop numbered changes older than `cutoff` and raise each project's horizon past them (an
/// entry still without a number is kept: no reader has seen it yet). Entries are dropped by
/// age but numbered in the order the sequencer saw them, so a later round may drop only
/// lower numbers: the horizon never goes down.
pub async fn compact_changes(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
) -> Result<usize, Error> {
    diesel::sql_query(
        "WITH gone AS (DELETE FROM file_changes WHERE created_at < $1 AND seq IS NOT NULL \
         RETURNING project_id, seq) \
         UPDATE file_change_counters c SET horizon = greatest(c.horizon, g.top) \
         FROM (SELECT project_id, max(seq) AS top FROM gone GROUP BY project_id) g \
         WHERE c.project_id = g.project_id",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(cutoff)
    .execute(conn)
    .await
}
