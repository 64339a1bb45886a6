//! Queries on the stored Yjs state: snapshot rows, the update journal, compaction.

use crate::schema::{collab_docs, collab_updates};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use mdz_core::db::Cached;
use mdz_core::ids::{FileId, UserId};

/// A document's stored state: its snapshot and where the journal stands.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = collab_docs)]
pub struct DocRow {
    pub file_id: FileId,
    pub last_seq: i64,
    pub snapshot: Vec<u8>,
    pub snapshot_seq: i64,
    /// The file revision whose text the Yjs state last agreed with.
    pub file_revision: i64,
    /// That revision's text: the base of a three-way merge with a file changed meanwhile.
    pub base_text: Option<String>,
}

/// One stored update.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = collab_updates)]
pub struct UpdateRow {
    pub seq: i64,
    pub data: Vec<u8>,
    pub user_id: Option<UserId>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = collab_updates)]
pub struct NewUpdate<'a> {
    pub file_id: FileId,
    pub seq: i64,
    pub data: &'a [u8],
    pub user_id: Option<UserId>,
}

pub async fn doc(conn: &mut AsyncPgConnection, id: FileId) -> Result<Option<DocRow>, Error> {
    collab_docs::table
        .find(id)
        .select(DocRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// [`doc`], its row locked until the transaction ends: what merges a file change into the
/// document holds it, so two replicas never merge the same change twice, and the journal's
/// reservations for this document wait meanwhile.
pub async fn doc_for_update(
    conn: &mut AsyncPgConnection,
    id: FileId,
) -> Result<Option<DocRow>, Error> {
    collab_docs::table
        .find(id)
        .select(DocRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// The stored state and the updates after `max(after, snapshot_seq)`, read in one
/// repeatable-read snapshot: read apart, a compaction between the two reads (which replaces
/// the snapshot, then deletes the updates it folded in) would leave a hole between them.
pub async fn state_since(
    conn: &mut AsyncPgConnection,
    id: FileId,
    after: i64,
) -> Result<Option<(DocRow, Vec<UpdateRow>)>, Error> {
    conn.build_transaction()
        .repeatable_read()
        .read_only()
        .run::<_, Error, _>(async |conn: &mut AsyncPgConnection| {
            let Some(row) = doc(conn, id).await? else {
                return Ok(None);
            };
            let updates = updates_after(conn, id, after.max(row.snapshot_seq)).await?;
            Ok(Some((row, updates)))
        })
        .await
}

/// Does the document have stored collab state?
pub async fn exists(conn: &mut AsyncPgConnection, id: FileId) -> Result<bool, Error> {
    diesel::select(diesel::dsl::exists(collab_docs::table.find(id)))
        .get_result(conn)
        .await
}

/// Create the stored state from a first snapshot of the file's `text` at `file_revision`,
/// unless another node already did.
pub async fn create(
    conn: &mut AsyncPgConnection,
    id: FileId,
    snapshot: &[u8],
    file_revision: i64,
    text: &str,
) -> Result<(), Error> {
    diesel::insert_into(collab_docs::table)
        .values((
            collab_docs::file_id.eq(id),
            collab_docs::snapshot.eq(snapshot),
            collab_docs::file_revision.eq(file_revision),
            collab_docs::base_text.eq(text),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(drop)
}

/// Updates after `after`, oldest first.
pub async fn updates_after(
    conn: &mut AsyncPgConnection,
    id: FileId,
    after: i64,
) -> Result<Vec<UpdateRow>, Error> {
    collab_updates::table
        .filter(collab_updates::file_id.eq(id))
        .filter(collab_updates::seq.gt(after))
        .order(collab_updates::seq.asc())
        .select(UpdateRow::as_select())
        .load(conn)
        .await
}

/// Reserve `n` sequence numbers for `id`; returns the last one. Locks the row until commit,
/// which is what keeps each document's committed numbers free of holes.
pub async fn reserve(conn: &mut AsyncPgConnection, id: FileId, n: i64) -> Result<i64, Error> {
    diesel::update(collab_docs::table.find(id))
        .set(collab_docs::last_seq.eq(collab_docs::last_seq + n))
        .returning(collab_docs::last_seq)
        .get_result(conn)
        .await
}

/// [`reserve`], and record the file text `base` as the merge base (unless a newer revision
/// is recorded) in the same statement: a second UPDATE of the row in this transaction would
/// re-check its foreign key (PostgreSQL does when the row version is the transaction's own),
/// taking a key-share lock on the file that a concurrent save holds: a deadlock.
pub async fn reserve_with_base(
    conn: &mut AsyncPgConnection,
    id: FileId,
    n: i64,
    revision: i64,
    text: &str,
) -> Result<i64, Error> {
    #[derive(QueryableByName)]
    struct Last {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        last_seq: i64,
    }
    let last: Last = diesel::sql_query(
        "UPDATE collab_docs SET last_seq = last_seq + $2, \
         base_text = CASE WHEN file_revision <= $3 THEN $4 ELSE base_text END, \
         file_revision = GREATEST(file_revision, $3) \
         WHERE file_id = $1 RETURNING last_seq",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .bind::<diesel::sql_types::BigInt, _>(n)
    .bind::<diesel::sql_types::BigInt, _>(revision)
    .bind::<diesel::sql_types::Text, _>(text)
    .get_result(conn)
    .await?;
    Ok(last.last_seq)
}

/// One document's share of a journal batch: how many updates it appends.
pub struct Reserve {
    pub file: FileId,
    pub count: i64,
}

/// One update of a journal batch: its document, its 1-based place among that document's
/// updates in the batch, its bytes and author.
pub struct Appended<'a> {
    pub file: FileId,
    pub place: i64,
    pub data: &'a [u8],
    pub user: Option<UserId>,
}

/// Append a batch of updates in ONE statement (one round trip, one commit): reserve each
/// document's sequence numbers, locking the journal rows in document order (so two replicas'
/// batches never wait on each other in a cycle), and insert the updates numbered from them.
/// Returns each document's last sequence number. A document without a journal row leaves
/// its updates without a number: the insert's NOT NULL check then fails the whole statement,
/// so nothing of the batch is stored (as the transaction of separate statements did).
pub async fn append_batch(
    conn: &mut AsyncPgConnection,
    files: &[Reserve],
    updates: &[Appended<'_>],
) -> Result<Vec<(FileId, i64)>, Error> {
    use diesel::sql_types::{Array, BigInt, Bytea, Nullable, Uuid};
    #[derive(QueryableByName)]
    struct Last {
        #[diesel(sql_type = Uuid)]
        file_id: FileId,
        #[diesel(sql_type = BigInt)]
        last_seq: i64,
    }
    // Fixed SQL: cached as a prepared statement, so the batch is one round trip, not two.
    let rows: Vec<Last> = Cached(
        diesel::sql_query(
            "WITH batch AS (SELECT * FROM unnest($1::uuid[], $2::bigint[]) AS b(file_id, n)), \
         locked AS (SELECT d.file_id FROM collab_docs d JOIN batch b USING (file_id) \
                    ORDER BY d.file_id FOR NO KEY UPDATE OF d), \
         reserved AS (UPDATE collab_docs d SET last_seq = d.last_seq + b.n FROM batch b \
                      WHERE d.file_id = b.file_id AND d.file_id IN (SELECT file_id FROM locked) \
                      RETURNING d.file_id, d.last_seq, b.n), \
         stored AS (INSERT INTO collab_updates (file_id, seq, data, user_id) \
                    SELECT u.file_id, r.last_seq - r.n + u.place, u.data, u.user_id \
                    FROM unnest($3::uuid[], $4::bigint[], $5::bytea[], $6::uuid[]) \
                         AS u(file_id, place, data, user_id) \
                    LEFT JOIN reserved r USING (file_id)) \
         SELECT file_id, last_seq FROM reserved",
        )
        .bind::<Array<Uuid>, _>(files.iter().map(|f| f.file).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(files.iter().map(|f| f.count).collect::<Vec<_>>())
        .bind::<Array<Uuid>, _>(updates.iter().map(|u| u.file).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(updates.iter().map(|u| u.place).collect::<Vec<_>>())
        .bind::<Array<Bytea>, _>(updates.iter().map(|u| u.data).collect::<Vec<_>>())
        .bind::<Array<Nullable<Uuid>>, _>(updates.iter().map(|u| u.user).collect::<Vec<_>>()),
    )
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.file_id, r.last_seq)).collect())
}

pub async fn insert_updates(
    conn: &mut AsyncPgConnection,
    rows: &[NewUpdate<'_>],
) -> Result<(), Error> {
    diesel::insert_into(collab_updates::table)
        .values(rows)
        .execute(conn)
        .await
        .map(drop)
}

/// Replace the snapshot with one that contains every update up to `seq`, and drop those.
pub async fn compact(
    conn: &mut AsyncPgConnection,
    id: FileId,
    snapshot: &[u8],
    seq: i64,
) -> Result<usize, Error> {
    let moved = diesel::update(
        collab_docs::table
            .find(id)
            .filter(collab_docs::snapshot_seq.lt(seq)),
    )
    .set((
        collab_docs::snapshot.eq(snapshot),
        collab_docs::snapshot_seq.eq(seq),
        collab_docs::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await?;
    if moved == 0 {
        return Ok(0);
    }
    diesel::delete(
        collab_updates::table
            .filter(collab_updates::file_id.eq(id))
            .filter(collab_updates::seq.le(seq)),
    )
    .execute(conn)
    .await
}

/// Remember that the Yjs state agrees with the file's `text` at `revision` (unless a newer
/// revision is already recorded). Run in the transaction that makes it true: the file save,
/// or the journal commit of the update that merged that revision in.
pub async fn set_base(
    conn: &mut AsyncPgConnection,
    id: FileId,
    revision: i64,
    text: &str,
) -> Result<(), Error> {
    diesel::update(
        collab_docs::table
            .find(id)
            .filter(collab_docs::file_revision.le(revision)),
    )
    .set((
        collab_docs::file_revision.eq(revision),
        collab_docs::base_text.eq(text),
    ))
    .execute(conn)
    .await
    .map(drop)
}

/// Newest sequence number of a document (for catching up after lost bus messages).
pub async fn last_seq(conn: &mut AsyncPgConnection, id: FileId) -> Result<Option<i64>, Error> {
    collab_docs::table
        .find(id)
        .select(collab_docs::last_seq)
        .first(conn)
        .await
        .optional()
}
