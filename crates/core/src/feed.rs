//! Numbered per-project feeds: entries written without a number, numbered after commit.
//!
//! The file change feed (`file_changes`) and the project event log (`project_events`) share
//! this sequencer. A writer inserts its entry with `seq` NULL and takes no lock, so a
//! project's writers never wait on each other; [`number_committed`] locks the project's
//! counter row and numbers every committed unnumbered entry in one statement. See the
//! migration `change_feed_sequencer` for why numbering at commit was given up.

use crate::ids::ProjectId;
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{BigInt, Timestamptz, Uuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// A numbered feed: its entries' table and its per-project counter table. The entries table
/// has `id` (insertion order), `project_id`, `seq` (NULL until numbered) and `created_at`; the
/// counter table has `project_id`, `seq` (the last number given) and `horizon` (cursors below
/// it were compacted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feed {
    entries: &'static str,
    counters: &'static str,
}

/// The file change feed (documents and attachments), owned by mdz-files.
pub const FILE_CHANGES: Feed = Feed {
    entries: "file_changes",
    counters: "file_change_counters",
};

/// The project event log (comments, suggestions, members, notifications), see
/// [`crate::events`].
pub const PROJECT_EVENTS: Feed = Feed {
    entries: "project_events",
    counters: "project_event_counters",
};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Project {
    #[diesel(sql_type = Uuid)]
    project_id: ProjectId,
}

#[derive(QueryableByName)]
struct Bounds {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = BigInt)]
    horizon: i64,
}

impl Feed {
    /// Whether `project` has committed entries still waiting for a number (a partial index
    /// on `seq IS NULL` makes this one index probe).
    pub async fn has_unnumbered(
        self,
        conn: &mut AsyncPgConnection,
        project: ProjectId,
    ) -> Result<bool, Error> {
        let found: Vec<Count> = diesel::sql_query(format!(
            "SELECT 1::bigint AS n FROM {} WHERE project_id = $1 AND seq IS NULL LIMIT 1",
            self.entries
        ))
        .bind::<Uuid, _>(project)
        .load(conn)
        .await?;
        Ok(!found.is_empty())
    }

    /// The projects with committed entries waiting for a number, at most `limit`.
    pub async fn unnumbered_projects(
        self,
        conn: &mut AsyncPgConnection,
        limit: i64,
    ) -> Result<Vec<ProjectId>, Error> {
        let rows: Vec<Project> = diesel::sql_query(format!(
            "SELECT DISTINCT project_id FROM {} WHERE seq IS NULL LIMIT $1",
            self.entries
        ))
        .bind::<BigInt, _>(limit)
        .load(conn)
        .await?;
        Ok(rows.into_iter().map(|r| r.project_id).collect())
    }

    /// Number every committed unnumbered entry of `project`, in the order they were written,
    /// after the project's last number; returns how many. One short transaction: the first
    /// statement locks the project's counter row (two sequencers of a project take turns),
    /// the second runs on a snapshot taken after that lock was granted, so it sees every
    /// number the previous holder gave and never numbers an entry twice. Only committed
    /// entries are visible to it, and its own numbers become visible all at once when it
    /// commits, after every lower number: a reader that has read up to N never later finds a
    /// new entry at or below N.
    pub async fn number_committed(
        self,
        conn: &mut AsyncPgConnection,
        project: ProjectId,
    ) -> Result<i64, Error> {
        let lock = format!(
            "INSERT INTO {c} (project_id) VALUES ($1) ON CONFLICT (project_id) \
             DO UPDATE SET seq = {c}.seq RETURNING seq AS n",
            c = self.counters
        );
        let number = format!(
            "WITH todo AS (
                 SELECT id, row_number() OVER (ORDER BY id) AS n FROM {e}
                 WHERE project_id = $1 AND seq IS NULL
             ), numbered AS (
                 UPDATE {e} f SET seq = $2 + todo.n FROM todo WHERE f.id = todo.id
                 RETURNING f.seq
             ), counted AS (
                 UPDATE {c} c SET seq = (SELECT max(seq) FROM numbered)
                 WHERE c.project_id = $1 AND EXISTS (SELECT 1 FROM numbered)
             )
             SELECT count(*) AS n FROM numbered",
            e = self.entries,
            c = self.counters
        );
        conn.build_transaction()
            .read_committed()
            .run::<_, Error, _>(async |conn: &mut AsyncPgConnection| {
                let last: Count = diesel::sql_query(&lock)
                    .bind::<Uuid, _>(project)
                    .get_result(conn)
                    .await?;
                let done: Count = diesel::sql_query(&number)
                    .bind::<Uuid, _>(project)
                    .bind::<BigInt, _>(last.n)
                    .get_result(conn)
                    .await?;
                Ok(done.n)
            })
            .await
    }

    /// Number `project`'s waiting entries if it has any (what every reader does first, so it
    /// sees every entry committed before it asked); returns how many were numbered.
    pub async fn number_if_waiting(
        self,
        conn: &mut AsyncPgConnection,
        project: ProjectId,
    ) -> Result<i64, Error> {
        if self.has_unnumbered(conn, project).await? {
            self.number_committed(conn, project).await
        } else {
            Ok(0)
        }
    }

    /// `(newest seq, horizon)` of a project's feed: cursors below the horizon were compacted.
    pub async fn bounds(
        self,
        conn: &mut AsyncPgConnection,
        project: ProjectId,
    ) -> Result<(i64, i64), Error> {
        let rows: Vec<Bounds> = diesel::sql_query(format!(
            "SELECT seq, horizon FROM {} WHERE project_id = $1",
            self.counters
        ))
        .bind::<Uuid, _>(project)
        .load(conn)
        .await?;
        Ok(<[Bounds]>::first(&rows).map_or((0, 0), |b| (b.seq, b.horizon)))
    }

    /// Drop numbered entries older than `cutoff` and raise each project's horizon past them
    /// (an entry still without a number is kept: no reader has seen it yet). Entries are
    /// dropped by age but numbered in the order the sequencer saw them, so a later round may
    /// drop only lower numbers: the horizon never goes down.
    pub async fn compact(
        self,
        conn: &mut AsyncPgConnection,
        cutoff: DateTime<Utc>,
    ) -> Result<usize, Error> {
        diesel::sql_query(format!(
            "WITH gone AS (DELETE FROM {e} WHERE created_at < $1 AND seq IS NOT NULL \
             RETURNING project_id, seq) \
             UPDATE {c} c SET horizon = greatest(c.horizon, g.top) \
             FROM (SELECT project_id, max(seq) AS top FROM gone GROUP BY project_id) g \
             WHERE c.project_id = g.project_id",
            e = self.entries,
            c = self.counters
        ))
        .bind::<Timestamptz, _>(cutoff)
        .execute(conn)
        .await
    }
}
