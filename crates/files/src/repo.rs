//! File queries on `&mut AsyncPgConnection`, so the service decides the transaction.

use crate::schema::{file_versions, files, idempotency_keys};
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncConnectionCore, AsyncPgConnection, RunQueryDsl};
use mdz_core::db::Cached;
use mdz_core::ids::{FileId, ProjectId, UserId};

pub use crate::changes::repo::{ChangeEntry, ChangeRow, append_change};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = files)]
pub struct FileRow {
    pub id: FileId,
    pub project_id: ProjectId,
    pub path: String,
    pub title: String,
    pub content: String,
    pub size: i32,
    pub revision: i64,
    pub deleted_at: Option<DateTime<Utc>>,
    pub deleted_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: UserId,
    pub updated_by: UserId,
}

/// A file without its content, for listings.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = files)]
pub struct FileMetaRow {
    pub id: FileId,
    pub project_id: ProjectId,
    pub path: String,
    pub title: String,
    pub size: i32,
    pub revision: i64,
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: UserId,
    pub updated_by: UserId,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = file_versions)]
pub struct VersionRow {
    pub file_id: FileId,
    pub n: i32,
    pub snapshot: bool,
    pub body: Vec<u8>,
    pub size: i32,
    pub lines_added: i32,
    pub lines_removed: i32,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: UserId,
    pub updated_by: UserId,
    /// Some of its text came from an accepted AI suggestion.
    pub ai_assisted: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotentRow {
    pub method: String,
    pub path: String,
    pub status: i32,
    pub etag: Option<String>,
    pub response: serde_json::Value,
}

// ---- files ------------------------------------------------------------------------------

pub async fn insert_file(conn: &mut AsyncPgConnection, row: &FileRow) -> Result<FileRow, Error> {
    diesel::insert_into(files::table)
        .values(row)
        .returning(FileRow::as_returning())
        .get_result(conn)
        .await
}

/// Which project a file belongs to (live or in the trash), for the access check.
pub async fn project_of(
    conn: &mut AsyncPgConnection,
    id: FileId,
) -> Result<Option<(ProjectId, bool)>, Error> {
    files::table
        .find(id)
        .select((files::project_id, files::deleted_at.is_not_null()))
        .first(conn)
        .await
        .optional()
}

pub async fn file(conn: &mut AsyncPgConnection, id: FileId) -> Result<Option<FileRow>, Error> {
    files::table
        .find(id)
        .filter(files::deleted_at.is_null())
        .select(FileRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The file row locked for this transaction (live or trashed) against other writers of it,
/// FOR NO KEY UPDATE: what only references the file (an indexer's vector, a comment, a
/// suggestion: foreign keys lock FOR KEY SHARE) does not make a save wait, nor a save them.
pub async fn file_for_update<C>(conn: &mut C, id: FileId) -> Result<Option<FileRow>, Error>
where
    C: AsyncConnectionCore<Backend = Pg> + Send,
{
    files::table
        .find(id)
        .select(FileRow::as_select())
        .for_no_key_update()
        .first(conn)
        .await
        .optional()
}

/// Live (or trashed) files under `prefix`, by path, after the cursor.
pub async fn list_files(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    prefix: &str,
    trashed: bool,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<FileMetaRow>, Error> {
    let mut q = files::table
        .filter(files::project_id.eq(project))
        .select(FileMetaRow::as_select())
        .order((files::path.asc(), files::id.asc()))
        .limit(limit + 1)
        .into_boxed();
    q = if trashed {
        q.filter(files::deleted_at.is_not_null())
    } else {
        q.filter(files::deleted_at.is_null())
    };
    if !prefix.is_empty() {
        let pattern = format!("{}%", escape_like(prefix));
        q = q.filter(files::path.like(pattern).escape('\\'));
    }
    if let Some(after) = after {
        q = q.filter(files::path.gt(after));
    }
    q.load(conn).await
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The live paths under `prefix` (for folder listings).
pub async fn paths_under(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    prefix: &str,
) -> Result<Vec<String>, Error> {
    let mut q = files::table
        .filter(files::project_id.eq(project))
        .filter(files::deleted_at.is_null())
        .select(files::path)
        .order(files::path.asc())
        .into_boxed();
    if !prefix.is_empty() {
        q = q.filter(
            files::path
                .like(format!("{}%", escape_like(prefix)))
                .escape('\\'),
        );
    }
    q.load(conn).await
}

/// The new text of a document, its revision counted up; returns its metadata (the caller
/// has the text: a save does not read it back).
pub async fn save_content<C>(
    conn: &mut C,
    id: FileId,
    content: &str,
    title: &str,
    actor: UserId,
) -> Result<FileMetaRow, Error>
where
    C: AsyncConnectionCore<Backend = Pg> + Send,
{
    diesel::update(files::table.find(id))
        .set((
            files::content.eq(content),
            files::size.eq(i32::try_from(content.len()).unwrap_or(i32::MAX)),
            files::title.eq(title),
            files::revision.eq(files::revision + 1),
            files::updated_by.eq(actor),
            files::updated_at.eq(diesel::dsl::now),
        ))
        .returning(FileMetaRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn set_path(
    conn: &mut AsyncPgConnection,
    id: FileId,
    path: &str,
    actor: UserId,
) -> Result<FileRow, Error> {
    diesel::update(files::table.find(id))
        .set((
            files::path.eq(path),
            files::revision.eq(files::revision + 1),
            files::updated_by.eq(actor),
            files::updated_at.eq(diesel::dsl::now),
        ))
        .returning(FileRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn set_trashed(
    conn: &mut AsyncPgConnection,
    id: FileId,
    actor: UserId,
    trashed: bool,
) -> Result<FileRow, Error> {
    let now = Utc::now();
    diesel::update(files::table.find(id))
        .set((
            files::deleted_at.eq(trashed.then_some(now)),
            files::deleted_by.eq(trashed.then_some(actor)),
            files::revision.eq(files::revision + 1),
            files::updated_by.eq(actor),
            files::updated_at.eq(diesel::dsl::now),
        ))
        .returning(FileRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn purge_trash_before(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
) -> Result<usize, Error> {
    diesel::delete(files::table.filter(files::deleted_at.lt(cutoff)))
        .execute(conn)
        .await
}

diesel::define_sql_function!(fn octet_length(x: diesel::sql_types::Bytea) -> diesel::sql_types::Integer);
diesel::define_sql_function!(
    #[sql_name = "coalesce"]
    fn coalesce_int(
        x: diesel::sql_types::Nullable<diesel::sql_types::Integer>,
        y: diesel::sql_types::Integer,
    ) -> diesel::sql_types::Integer
);

// ---- versions ---------------------------------------------------------------------------

pub async fn insert_version<C>(conn: &mut C, row: &VersionRow) -> Result<(), Error>
where
    C: AsyncConnectionCore<Backend = Pg> + Send,
{
    diesel::insert_into(file_versions::table)
        .values(row)
        .execute(conn)
        .await
        .map(drop)
}

/// Live documents of a project with their text, by path, after `after`.
pub async fn live_documents_page(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<FileRow>, Error> {
    let mut q = files::table
        .filter(files::project_id.eq(project))
        .filter(files::deleted_at.is_null())
        .select(FileRow::as_select())
        .order(files::path.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(files::path.gt(after.to_owned()));
    }
    q.load(conn).await
}

pub async fn head_version(
    conn: &mut AsyncPgConnection,
    file: FileId,
) -> Result<Option<VersionRow>, Error> {
    file_versions::table
        .filter(file_versions::file_id.eq(file))
        .order(file_versions::n.desc())
        .select(VersionRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The `count` newest versions, newest first.
pub async fn newest_versions<C>(
    conn: &mut C,
    file: FileId,
    count: i64,
) -> Result<Vec<VersionRow>, Error>
where
    C: AsyncConnectionCore<Backend = Pg> + Send,
{
    file_versions::table
        .filter(file_versions::file_id.eq(file))
        .order(file_versions::n.desc())
        .limit(count)
        .select(VersionRow::as_select())
        .load(conn)
        .await
}

pub async fn version(
    conn: &mut AsyncPgConnection,
    file: FileId,
    n: i32,
) -> Result<Option<VersionRow>, Error> {
    file_versions::table
        .find((file, n))
        .select(VersionRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Versions `from..=to`, newest first (to rebuild an old version from a newer text).
pub async fn versions_between(
    conn: &mut AsyncPgConnection,
    file: FileId,
    from: i32,
    to: i32,
) -> Result<Vec<VersionRow>, Error> {
    file_versions::table
        .filter(file_versions::file_id.eq(file))
        .filter(file_versions::n.between(from, to))
        .order(file_versions::n.desc())
        .select(VersionRow::as_select())
        .load(conn)
        .await
}

/// The first full snapshot at or after `n`, if any.
pub async fn snapshot_at_or_after(
    conn: &mut AsyncPgConnection,
    file: FileId,
    n: i32,
) -> Result<Option<i32>, Error> {
    file_versions::table
        .filter(file_versions::file_id.eq(file))
        .filter(file_versions::snapshot)
        .filter(file_versions::n.ge(n))
        .select(file_versions::n)
        .order(file_versions::n.asc())
        .first(conn)
        .await
        .optional()
}

/// Bytes of edit scripts stored since the newest snapshot.
pub async fn script_bytes_since_snapshot(
    conn: &mut AsyncPgConnection,
    file: FileId,
) -> Result<i64, Error> {
    let snap = diesel::alias!(file_versions as snap);
    let last_snapshot = snap
        .filter(snap.field(file_versions::file_id).eq(file))
        .filter(snap.field(file_versions::snapshot))
        .select(diesel::dsl::max(snap.field(file_versions::n)))
        .single_value();
    // One number back from the database, not every script.
    let total: Option<i64> = file_versions::table
        .filter(file_versions::file_id.eq(file))
        .filter(file_versions::n.gt(coalesce_int(last_snapshot, 0)))
        .select(diesel::dsl::sum(octet_length(file_versions::body)))
        .first(conn)
        .await?;
    Ok(total.unwrap_or(0))
}

pub async fn set_version_body<C>(
    conn: &mut C,
    file: FileId,
    n: i32,
    snapshot: bool,
    body: &[u8],
) -> Result<(), Error>
where
    C: AsyncConnectionCore<Backend = Pg> + Send,
{
    diesel::update(file_versions::table.find((file, n)))
        .set((
            file_versions::snapshot.eq(snapshot),
            file_versions::body.eq(body),
        ))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn coalesce_head<C>(
    conn: &mut C,
    file: FileId,
    n: i32,
    size: i32,
    lines: (i32, i32),
    actor: UserId,
) -> Result<(), Error>
where
    C: AsyncConnectionCore<Backend = Pg> + Send,
{
    diesel::update(file_versions::table.find((file, n)))
        .set((
            file_versions::size.eq(size),
            file_versions::lines_added.eq(lines.0),
            file_versions::lines_removed.eq(lines.1),
            file_versions::updated_by.eq(actor),
            file_versions::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Mark the newest version as holding text from an accepted AI suggestion.
pub async fn mark_head_ai_assisted(
    conn: &mut AsyncPgConnection,
    file: FileId,
) -> Result<(), Error> {
    diesel::sql_query(
        "UPDATE file_versions SET ai_assisted = true WHERE file_id = $1 \
         AND n = (SELECT max(n) FROM file_versions WHERE file_id = $1)",
    )
    .bind::<diesel::sql_types::Uuid, _>(file)
    .execute(conn)
    .await
    .map(drop)
}

pub async fn list_versions(
    conn: &mut AsyncPgConnection,
    file: FileId,
    before: Option<i32>,
    limit: i64,
) -> Result<Vec<VersionRow>, Error> {
    let mut q = file_versions::table
        .filter(file_versions::file_id.eq(file))
        .select(VersionRow::as_select())
        .order(file_versions::n.desc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(before) = before {
        q = q.filter(file_versions::n.lt(before));
    }
    q.load(conn).await
}

pub async fn set_label(
    conn: &mut AsyncPgConnection,
    file: FileId,
    n: i32,
    label: Option<&str>,
    actor: UserId,
) -> Result<Option<VersionRow>, Error> {
    diesel::update(file_versions::table.find((file, n)))
        .set((
            file_versions::label.eq(label),
            file_versions::updated_by.eq(actor),
        ))
        .returning(VersionRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

// ---- idempotency ------------------------------------------------------------------------

pub async fn idempotent_response(
    conn: &mut AsyncPgConnection,
    user: UserId,
    key: &str,
) -> Result<Option<IdempotentRow>, Error> {
    idempotency_keys::table
        .find((user, key))
        .select(IdempotentRow::as_select())
        .first(conn)
        .await
        .optional()
}

#[expect(clippy::too_many_arguments, reason = "one row's columns")]
pub async fn store_idempotent_response(
    conn: &mut AsyncPgConnection,
    user: UserId,
    key: &str,
    method: &str,
    path: &str,
    status: i32,
    etag: Option<&str>,
    response: &serde_json::Value,
) -> Result<(), Error> {
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::user_id.eq(user),
            idempotency_keys::key.eq(key),
            idempotency_keys::method.eq(method),
            idempotency_keys::path.eq(path),
            idempotency_keys::status.eq(status),
            idempotency_keys::etag.eq(etag),
            idempotency_keys::response.eq(response),
        ))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn forget_idempotency_before(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
) -> Result<usize, Error> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(cutoff)))
        .execute(conn)
        .await
}

// ---- search -----------------------------------------------------------------------------

/// Whether `file_search` changed a lot since its last ANALYZE: more than 1,000 rows and more
/// than a tenth of the table (autovacuum's rule is 50 rows + 10%, checked once a minute).
pub async fn file_stats_stale(conn: &mut AsyncPgConnection) -> Result<bool, Error> {
    #[derive(QueryableByName)]
    struct Stale {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        stale: bool,
    }
    let row: Option<Stale> = Cached(diesel::sql_query(
        "SELECT n_mod_since_analyze > greatest(1000, n_live_tup / 10) AS stale
         FROM pg_stat_user_tables WHERE relid = 'file_search'::regclass",
    ))
    .get_result(conn)
    .await
    .optional()?;
    Ok(row.is_some_and(|r| r.stale))
}

/// `VACUUM (ANALYZE)` of what search reads: after a bulk change, fresh statistics and no
/// dead versions.
pub async fn refresh_file_stats(conn: &mut AsyncPgConnection) -> Result<(), Error> {
    diesel::sql_query("VACUUM (ANALYZE) file_search, files")
        .execute(conn)
        .await
        .map(drop)
}

/// The advisory lock of the background indexer: one process of a deployment computes a
/// batch of vectors at a time, instead of every process computing the same ones (a vector of
/// a 20 KB document costs PostgreSQL about 5 ms of CPU).
pub const INDEXER_LOCK: i64 = 0x6d64_7a2d_7365_6172; // "mdz-sear"

/// Whether an indexing statement waits for no one or takes the background indexer's turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexTurn {
    /// A search or an assistant's context: index the projects it reads, now.
    Shared,
    /// The background indexer: only when no other process is indexing (else nothing).
    Exclusive,
}

/// Index up to `limit` queued documents of `projects` (or of any project) queued at least
/// `settled` ago whose vector is at least `settled` old (a document edited without pause is
/// indexed about once per `settled`, not once per round). The vectors are computed and stored
/// without locking anything a save needs; then the queue entries are removed where they still
/// have the number they were computed for (a document saved meanwhile stays queued for the
/// next round), so a save never waits for vectors. Returns how many vectors were stored.
pub async fn index_dirty(
    conn: &mut AsyncPgConnection,
    projects: Option<&[ProjectId]>,
    settled: std::time::Duration,
    limit: i64,
    turn: IndexTurn,
) -> Result<usize, Error> {
    use diesel::sql_types::{Array, BigInt, Bool, Double, Nullable, Uuid};
    #[derive(QueryableByName)]
    struct Indexed {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let ids: Option<Vec<uuid::Uuid>> = projects.map(|p| p.iter().map(|p| p.0).collect());
    // One statement: the vectors, their upsert and the removal of the queue entries they
    // were computed for (where the number is unchanged: a document saved meanwhile stays
    // queued), so no lock it takes outlives it — the queue rows a save's trigger upserts,
    // the `files` rows the upsert's foreign key shares, the indexer's turn.
    let indexed: Indexed = diesel::sql_query(
        "WITH turn AS MATERIALIZED (
             SELECT CASE WHEN $4 THEN pg_try_advisory_xact_lock($5) ELSE true END AS ours
         ),
         stale AS MATERIALIZED (
             SELECT q.file_id, q.project_id, q.seq,
                    mdz_file_search(f.title, f.path, f.content) AS vector
             FROM search_queue q JOIN files f ON f.id = q.file_id
             LEFT JOIN file_search s ON s.file_id = q.file_id
             WHERE (SELECT ours FROM turn)
               AND ($1::uuid[] IS NULL OR q.project_id = ANY($1))
               AND q.queued_at <= now() - make_interval(secs => $2)
               AND (s.indexed_at IS NULL OR s.indexed_at <= now() - make_interval(secs => $2))
             ORDER BY q.file_id LIMIT $3
         ),
         indexed AS (
             INSERT INTO file_search (file_id, project_id, seq, search)
             SELECT file_id, project_id, seq, vector FROM stale
             ON CONFLICT (file_id) DO UPDATE
                 SET seq = EXCLUDED.seq, search = EXCLUDED.search, xid = EXCLUDED.xid,
                     indexed_at = clock_timestamp()
                 WHERE file_search.seq < EXCLUDED.seq
             RETURNING file_id, seq
         ),
         done AS (
             DELETE FROM search_queue q USING indexed i
             WHERE q.file_id = i.file_id AND q.seq = i.seq
         )
         SELECT count(*) AS n FROM indexed",
    )
    .bind::<Nullable<Array<Uuid>>, _>(ids)
    .bind::<Double, _>(settled.as_secs_f64())
    .bind::<BigInt, _>(limit)
    .bind::<Bool, _>(matches!(turn, IndexTurn::Exclusive))
    .bind::<BigInt, _>(INDEXER_LOCK)
    .get_result(conn)
    .await?;
    Ok(usize::try_from(indexed.n).unwrap_or(0))
}

#[derive(Debug, QueryableByName)]
pub struct PassageRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: FileId,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub path: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub revision: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub text: String,
}

/// The best-ranked live documents of `project` matching any of `words` (plain alphanumeric
/// words), with their longer matching fragments.
pub async fn passages(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    words: &[String],
    limit: i64,
) -> Result<Vec<PassageRow>, Error> {
    use diesel::sql_types::{Array, BigInt, Text};
    diesel::sql_query(
        "WITH q AS (
             SELECT to_tsquery('simple', string_agg(quote_literal(w), ' | ')) AS query
             FROM unnest($2::text[]) AS w
         ),
         hits AS (
             SELECT s.file_id AS id, ts_rank_cd(s.search, (SELECT query FROM q)) AS rank
             FROM file_search s
             WHERE s.project_id = $1 AND s.search @@ (SELECT query FROM q)
               AND s.file_id NOT IN (
                   SELECT t.id FROM files t WHERE t.project_id = $1 AND t.deleted_at IS NOT NULL)
             ORDER BY rank DESC, s.file_id
             LIMIT $3
         )
         SELECT f.id, f.path, f.revision,
                ts_headline('simple', left(f.content, 200000), q.query,
                    'StartSel=\u{27E6}, StopSel=\u{27E7}, MaxFragments=3, MinWords=20, MaxWords=60, FragmentDelimiter=\" … \"'
                ) AS text
         FROM hits h JOIN files f ON f.id = h.id, q
         ORDER BY h.rank DESC, f.id",
    )
    .bind::<diesel::sql_types::Uuid, _>(project.0)
    .bind::<Array<Text>, _>(words)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

#[derive(Debug, QueryableByName)]
pub struct SearchHit {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: FileId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub project_id: ProjectId,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub path: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub title: String,
    #[diesel(sql_type = diesel::sql_types::Float4)]
    pub rank: f32,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub snippet: String,
}

/// Ranked matches in `projects`: `head` in websearch syntax, `prefix` (when set) as a prefix of
/// the last word. Headlines are only computed for the page. The query is a sub-select (one
/// value for the whole scan), so the planner matches it through the GIN index; trashed
/// documents are left out by a hashed list of the (few) trashed ids instead of a lookup in
/// `files` for every match (a fifth of a broad query's time).
pub async fn search(
    conn: &mut AsyncPgConnection,
    projects: &[ProjectId],
    head: &str,
    prefix: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<Vec<SearchHit>, Error> {
    use diesel::sql_types::{Array, BigInt, Nullable, Text};
    let ids: Vec<uuid::Uuid> = projects.iter().map(|p| p.0).collect();
    diesel::sql_query(
        "WITH parts AS (
             SELECT websearch_to_tsquery('simple', $2) AS head,
                    CASE WHEN $3::text IS NULL THEN NULL
                         ELSE to_tsquery('simple', quote_literal($3::text) || ':*') END AS prefix
         ),
         q AS (
             SELECT CASE
                 WHEN prefix IS NULL THEN head
                 WHEN numnode(head) = 0 THEN prefix
                 ELSE head && prefix
             END AS query
             FROM parts
         ),
         hits AS (
             SELECT s.file_id AS id, ts_rank_cd(s.search, (SELECT query FROM q)) AS rank
             FROM file_search s
             WHERE s.project_id = ANY($1)
               AND s.search @@ (SELECT query FROM q WHERE numnode(query) > 0)
               AND s.file_id NOT IN (
                   SELECT t.id FROM files t WHERE t.project_id = ANY($1) AND t.deleted_at IS NOT NULL)
             ORDER BY rank DESC, s.file_id
             LIMIT $5 OFFSET $4
         )
         SELECT f.id, f.project_id, f.path, f.title, h.rank,
                ts_headline('simple', left(f.content, 200000), q.query,
                    'StartSel=\u{27E6}, StopSel=\u{27E7}, MaxFragments=2, MinWords=8, MaxWords=30, FragmentDelimiter=\" … \"'
                ) AS snippet
         FROM hits h JOIN files f ON f.id = h.id, q
         ORDER BY h.rank DESC, f.id",
    )
    .bind::<Array<diesel::sql_types::Uuid>, _>(ids)
    .bind::<Text, _>(head)
    .bind::<Nullable<Text>, _>(prefix)
    .bind::<BigInt, _>(offset)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}
