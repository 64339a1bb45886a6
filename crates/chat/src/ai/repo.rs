//! AI edit queries on `&mut AsyncPgConnection`.

use crate::quota::Hold;
use crate::repo::{Reserving, SETTLE_AI_EDIT, settle};
use crate::schema::ai_edits;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use mdz_core::db::Cached;
use mdz_core::ids::{AiEditId, FileId, ProjectId, SuggestionId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ai_edits, treat_none_as_default_value = false)]
pub struct AiEditRow {
    pub id: AiEditId,
    pub project_id: ProjectId,
    pub file_id: FileId,
    pub requested_by: Option<UserId>,
    /// `edit` or `complete`.
    pub kind: String,
    pub instruction: String,
    pub quote: Option<String>,
    pub content: String,
    pub status: String,
    pub provider: String,
    pub model: String,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    pub reserved_tokens: Option<i32>,
    pub suggestion_id: Option<SuggestionId>,
    pub created_at: DateTime<Utc>,
}

/// Store a new edit (first holding `hold` of the day's quotas, in the same statement).
pub async fn insert(
    conn: &mut AsyncPgConnection,
    row: &AiEditRow,
    hold: Option<&Hold>,
) -> Result<AiEditRow, Error> {
    let insert = diesel::insert_into(ai_edits::table)
        .values(row)
        .returning(AiEditRow::as_returning());
    match hold {
        Some(hold) => Reserving { hold, insert }.get_result(conn).await,
        None => insert.get_result(conn).await,
    }
}

/// The edit, unless its document is trashed (then as if it did not exist).
pub async fn get(conn: &mut AsyncPgConnection, id: AiEditId) -> Result<Option<AiEditRow>, Error> {
    ai_edits::table
        .find(id)
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "EXISTS (SELECT 1 FROM files f WHERE f.id = ai_edits.file_id AND f.deleted_at IS NULL)",
        ))
        .select(AiEditRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The text so far, not waiting for the WAL flush (as chat's growing answers).
pub async fn save_growing(
    conn: &mut AsyncPgConnection,
    id: AiEditId,
    content: &str,
) -> Result<(), Error> {
    use diesel::sql_types::{Text, Uuid};
    Cached(
        diesel::sql_query(
            "UPDATE ai_edits SET content = $2 \
             WHERE id = $1 AND status = 'streaming' \
               AND set_config('synchronous_commit', 'off', true) = 'off'",
        )
        .bind::<Uuid, _>(id.0)
        .bind::<Text, _>(content),
    )
    .execute(conn)
    .await
    .map(drop)
}

/// Store the edit for good, settling its hold when it has one.
pub async fn save_end(
    conn: &mut AsyncPgConnection,
    (id, hold): (AiEditId, Option<&Hold>),
    content: &str,
    status: &str,
    usage: Option<(i32, i32)>,
    error: Option<&str>,
) -> Result<(), Error> {
    use diesel::sql_types::{Integer, Nullable, Text, Uuid};
    if let Some(hold) = hold {
        return settle(
            conn,
            SETTLE_AI_EDIT,
            (id.0, hold),
            (content, status, usage, error),
        )
        .await;
    }
    Cached(
        diesel::sql_query(
            "UPDATE ai_edits SET content = $2, status = $3, prompt_tokens = $4, \
             completion_tokens = $5, error = $6 WHERE id = $1",
        )
        .bind::<Uuid, _>(id.0)
        .bind::<Text, _>(content)
        .bind::<Text, _>(status)
        .bind::<Nullable<Integer>, _>(usage.map(|u| u.0))
        .bind::<Nullable<Integer>, _>(usage.map(|u| u.1))
        .bind::<Nullable<Text>, _>(error),
    )
    .execute(conn)
    .await
    .map(drop)
}

/// The suggestion the edit became, or why it did not become one.
pub async fn set_outcome(
    conn: &mut AsyncPgConnection,
    id: AiEditId,
    suggestion: Option<SuggestionId>,
    error: Option<&str>,
) -> Result<(), Error> {
    use diesel::sql_types::{Nullable, Text, Uuid};
    diesel::sql_query(
        "UPDATE ai_edits SET suggestion_id = $2, error = coalesce($3, error) WHERE id = $1",
    )
    .bind::<Uuid, _>(id.0)
    .bind::<Nullable<Uuid>, _>(suggestion.map(|s| s.0))
    .bind::<Nullable<Text>, _>(error)
    .execute(conn)
    .await
    .map(drop)
}

/// Delete the completions asked before `before` that ended (ghost text: nothing refers to
/// them once their stream is over). How many.
pub async fn purge_completions(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
) -> Result<usize, Error> {
    diesel::delete(
        ai_edits::table
            .filter(ai_edits::kind.eq("complete"))
            .filter(ai_edits::status.ne("streaming"))
            .filter(ai_edits::created_at.lt(before)),
    )
    .execute(conn)
    .await
}

/// End edits still `streaming` whose last save is older than `before` (all, or only `only`),
/// settling their holds in full, as chat's `end_stale` does for answers. How many.
pub async fn end_stale(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
    only: Option<AiEditId>,
    statuses: (&str, &str),
    error: Option<&str>,
) -> Result<usize, Error> {
    crate::repo::end_and_settle(
        conn,
        "UPDATE ai_edits m \
         SET status = CASE WHEN m.content = '' THEN $3 ELSE $2 END, error = $4, \
             reserved_tokens = NULL \
         FROM ai_edits old \
         WHERE old.id = m.id AND m.status = 'streaming' AND m.updated_at < $1 \
           AND ($5::uuid IS NULL OR m.id = $5) \
         RETURNING m.project_id, m.requested_by, \
           (m.created_at AT TIME ZONE 'UTC')::date AS day, old.reserved_tokens AS held",
        (before, only.map(|m| m.0)),
        statuses,
        error,
    )
    .await
}
