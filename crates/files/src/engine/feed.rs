//! What a derived search index reads from PostgreSQL: the feed of indexed documents (see the
//! `search_feed` migration), the trashed documents of some projects, and the rows of its hits.

use diesel::QueryableByName;
use diesel::result::Error;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Uuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use mdz_core::ids::{FileId, ProjectId};

/// Where a reader of the feed is: rows stamped with transaction `xid` or later; within one
/// pass, after (`xid`, `file_id`) `after`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub xid: i64,
    pub after: Option<(i64, uuid::Uuid)>,
}

/// One row of a feed page: the snapshot's oldest running transaction, and an indexed
/// document's place in the feed (none when the page is empty).
#[derive(Debug, QueryableByName)]
pub struct FeedRow {
    #[diesel(sql_type = BigInt)]
    pub xmin: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub xid: Option<i64>,
    #[diesel(sql_type = Nullable<Uuid>)]
    pub file_id: Option<uuid::Uuid>,
    /// A tombstone: the document left `file_search` (purged); the index drops it.
    #[diesel(sql_type = Nullable<diesel::sql_types::Bool>)]
    pub gone: Option<bool>,
}

/// Up to `limit` documents indexed or gone (tombstones of `file_search_gone`) at or after the
/// cursor, in feed order, with the oldest transaction still running when they were read (the
/// next pass starts there). Always at least one row. Only ids: a reader fetches the text of
/// those it has not indexed yet, so a long transaction that holds the cursor back costs an
/// index scan, not a re-read of texts.
pub async fn page(
    conn: &mut AsyncPgConnection,
    cursor: Cursor,
    limit: i64,
) -> Result<Vec<FeedRow>, Error> {
    let (after_xid, after_id) = cursor.after.unzip();
    diesel::sql_query(
        "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin, r.xid, r.file_id,
                r.gone
         FROM (SELECT 1) AS one LEFT JOIN LATERAL (
             SELECT u.xid::text::bigint AS xid, u.file_id, u.gone FROM (
                 (SELECT s.xid, s.file_id, false AS gone FROM file_search s
                  WHERE s.xid >= $1::text::xid8
                    AND ($2::bigint IS NULL OR (s.xid, s.file_id) > ($2::text::xid8, $3::uuid))
                  ORDER BY s.xid, s.file_id
                  LIMIT $4)
                 UNION ALL
                 (SELECT g.xid, g.file_id, true AS gone FROM file_search_gone g
                  WHERE g.xid >= $1::text::xid8
                    AND ($2::bigint IS NULL OR (g.xid, g.file_id) > ($2::text::xid8, $3::uuid))
                  ORDER BY g.xid, g.file_id
                  LIMIT $4)
             ) AS u
             ORDER BY u.xid, u.file_id
             LIMIT $4
         ) AS r ON true",
    )
    .bind::<BigInt, _>(cursor.xid)
    .bind::<Nullable<BigInt>, _>(after_xid)
    .bind::<Nullable<Uuid>, _>(after_id)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// A document as the index holds it.
#[derive(Debug, QueryableByName)]
pub struct FeedDoc {
    #[diesel(sql_type = Uuid)]
    pub file_id: uuid::Uuid,
    #[diesel(sql_type = Uuid)]
    pub project_id: uuid::Uuid,
    #[diesel(sql_type = Text)]
    pub title: String,
    #[diesel(sql_type = Text)]
    pub path: String,
    #[diesel(sql_type = Text)]
    pub content: String,
}

/// The documents `ids` (those still in `files`; a purged one is gone), their text cut at
/// 500,000 characters.
pub async fn documents(
    conn: &mut AsyncPgConnection,
    ids: &[uuid::Uuid],
) -> Result<Vec<FeedDoc>, Error> {
    diesel::sql_query(
        "SELECT id AS file_id, project_id, title, path, left(content, 500000) AS content
         FROM files WHERE id = ANY($1)",
    )
    .bind::<Array<Uuid>, _>(ids)
    .load(conn)
    .await
}

#[derive(Debug, QueryableByName)]
struct Id {
    #[diesel(sql_type = Uuid)]
    id: uuid::Uuid,
}

/// The trashed documents of `projects` (a search leaves them out).
pub async fn trashed(
    conn: &mut AsyncPgConnection,
    projects: &[ProjectId],
) -> Result<Vec<uuid::Uuid>, Error> {
    let ids: Vec<uuid::Uuid> = projects.iter().map(|p| p.0).collect();
    let rows: Vec<Id> = diesel::sql_query(
        "SELECT id FROM files WHERE project_id = ANY($1) AND deleted_at IS NOT NULL",
    )
    .bind::<Array<Uuid>, _>(ids)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

#[derive(Debug, QueryableByName)]
pub struct HitRow {
    #[diesel(sql_type = Uuid)]
    pub id: FileId,
    #[diesel(sql_type = Uuid)]
    pub project_id: ProjectId,
    #[diesel(sql_type = Text)]
    pub path: String,
    #[diesel(sql_type = Text)]
    pub title: String,
    #[diesel(sql_type = Text)]
    pub content: String,
}

/// The live documents among `ids` in `projects` (membership and the trash checked again on
/// the source of truth), with the start of their text for snippets.
pub async fn hits(
    conn: &mut AsyncPgConnection,
    ids: &[uuid::Uuid],
    projects: &[ProjectId],
) -> Result<Vec<HitRow>, Error> {
    let projects: Vec<uuid::Uuid> = projects.iter().map(|p| p.0).collect();
    diesel::sql_query(
        "SELECT id, project_id, path, title, left(content, 200000) AS content FROM files
         WHERE id = ANY($1) AND project_id = ANY($2) AND deleted_at IS NULL",
    )
    .bind::<Array<Uuid>, _>(ids)
    .bind::<Array<Uuid>, _>(projects)
    .load(conn)
    .await
}

/// Forget tombstones older than `cutoff`: every index has long read them (a process follows
/// the feed within seconds, and one that starts builds its index from `file_search` alone).
pub async fn forget_gone_before(
    conn: &mut AsyncPgConnection,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> Result<usize, Error> {
    diesel::sql_query("DELETE FROM file_search_gone WHERE gone_at < $1")
        .bind::<diesel::sql_types::Timestamptz, _>(cutoff)
        .execute(conn)
        .await
}
