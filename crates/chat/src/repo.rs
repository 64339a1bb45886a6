//! Message queries on `&mut AsyncPgConnection`.

use crate::schema::chat_messages;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncConnectionCore, AsyncPgConnection, RunQueryDsl};
use mdz_core::db::Cached;
use mdz_core::ids::{ChatMessageId, ChatSessionId, ProjectId, UserId};

/// `None` is stored as NULL (the columns' own default), not as `DEFAULT`: an insert with
/// `DEFAULT` in it cannot be a cached prepared statement, and would cost a round trip to
/// prepare every time.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = chat_messages, treat_none_as_default_value = false)]
pub struct MessageRow {
    pub id: ChatMessageId,
    pub session_id: ChatSessionId,
    pub role: String,
    pub content: String,
    pub author_id: Option<UserId>,
    pub requested_by: Option<UserId>,
    pub model: Option<String>,
    pub status: String,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    pub citations: serde_json::Value,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut AsyncPgConnection, row: &MessageRow) -> Result<MessageRow, Error> {
    diesel::insert_into(chat_messages::table)
        .values(row)
        .returning(MessageRow::as_returning())
        .get_result(conn)
        .await
}

/// A question and its answer in one statement, returned in this order. Generic over the
/// connection so that it can be pipelined with [`recent`] (`&mut &conn`).
pub async fn insert_pair<C>(conn: &mut C, rows: &[MessageRow; 2]) -> Result<Vec<MessageRow>, Error>
where
    C: AsyncConnectionCore<Backend = diesel::pg::Pg> + Send,
{
    let mut stored: Vec<MessageRow> = diesel::insert_into(chat_messages::table)
        .values(rows)
        .returning(MessageRow::as_returning())
        .get_results(conn)
        .await?;
    stored.sort_by_key(|r| rows.iter().position(|w| w.id == r.id));
    Ok(stored)
}

pub async fn get(
    conn: &mut AsyncPgConnection,
    id: ChatMessageId,
) -> Result<Option<MessageRow>, Error> {
    chat_messages::table
        .find(id)
        .select(MessageRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Oldest first, after the cursor.
pub async fn page(
    conn: &mut AsyncPgConnection,
    session: ChatSessionId,
    after: Option<ChatMessageId>,
    limit: i64,
) -> Result<Vec<MessageRow>, Error> {
    let mut q = chat_messages::table
        .filter(chat_messages::session_id.eq(session))
        .order(chat_messages::id.asc())
        .limit(limit + 1)
        .select(MessageRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(chat_messages::id.gt(after));
    }
    q.load(conn).await
}

/// The newest messages before `before`, newest first (for the context window).
pub async fn recent<C>(
    conn: &mut C,
    session: ChatSessionId,
    before: ChatMessageId,
    limit: i64,
) -> Result<Vec<MessageRow>, Error>
where
    C: AsyncConnectionCore<Backend = diesel::pg::Pg> + Send,
{
    chat_messages::table
        .filter(chat_messages::session_id.eq(session))
        .filter(chat_messages::id.lt(before))
        .order(chat_messages::id.desc())
        .limit(limit)
        .select(MessageRow::as_select())
        .load(conn)
        .await
}

/// Save the answer so far (while streaming) or for good.
pub async fn save_progress(
    conn: &mut AsyncPgConnection,
    id: ChatMessageId,
    content: &str,
    status: &str,
    usage: Option<(i32, i32)>,
    error: Option<&str>,
) -> Result<(), Error> {
    Cached(diesel::update(chat_messages::table.find(id)).set((
        chat_messages::content.eq(content),
        chat_messages::status.eq(status),
        chat_messages::prompt_tokens.eq(usage.map(|u| u.0)),
        chat_messages::completion_tokens.eq(usage.map(|u| u.1)),
        chat_messages::error.eq(error),
    )))
    .execute(conn)
    .await
    .map(drop)
}

/// Save a growing answer without waiting for the WAL flush: the statement turns
/// `synchronous_commit` off for its own transaction only. A crash can lose the last fraction
/// of a second of such a snapshot, which the next snapshot and the final (durable) save
/// replace anyway; meanwhile the questions stored before a provider call, which must be
/// durable, do not queue behind a flush for every snapshot of every answer in flight.
pub async fn save_growing(
    conn: &mut AsyncPgConnection,
    id: ChatMessageId,
    content: &str,
) -> Result<(), Error> {
    use diesel::sql_types::{Text, Uuid};
    Cached(
        diesel::sql_query(
            "UPDATE chat_messages SET content = $2 \
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

/// End answers still `streaming` whose last save is older than `before` (all of them, or only
/// `only`): `with_text` when some text arrived, `without_text` otherwise. How many were ended.
pub async fn end_stale(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
    only: Option<ChatMessageId>,
    (with_text, without_text): (&str, &str),
    error: Option<&str>,
) -> Result<usize, Error> {
    use diesel::sql_types::{Nullable, Text, Timestamptz, Uuid};
    diesel::sql_query(
        "UPDATE chat_messages \
         SET status = CASE WHEN content = '' THEN $3 ELSE $2 END, error = $4 \
         WHERE status = 'streaming' AND updated_at < $1 AND ($5::uuid IS NULL OR id = $5)",
    )
    .bind::<Timestamptz, _>(before)
    .bind::<Text, _>(with_text)
    .bind::<Text, _>(without_text)
    .bind::<Nullable<Text>, _>(error)
    .bind::<Nullable<Uuid>, _>(only.map(|m| m.0))
    .execute(conn)
    .await
}

/// Tokens of answers since `since`: those `user` asked for, and those in `project`.
pub async fn tokens_since(
    conn: &mut AsyncPgConnection,
    user: UserId,
    project: ProjectId,
    since: DateTime<Utc>,
) -> Result<(i64, i64), Error> {
    use diesel::sql_types::{BigInt, Timestamptz, Uuid};
    #[derive(QueryableByName)]
    struct Used {
        #[diesel(sql_type = BigInt)]
        by_user: i64,
        #[diesel(sql_type = BigInt)]
        by_project: i64,
    }
    let used: Used = diesel::sql_query(
        "SELECT \
           coalesce(sum(coalesce(m.prompt_tokens, 0) + coalesce(m.completion_tokens, 0)) \
             FILTER (WHERE m.requested_by = $1), 0)::bigint AS by_user, \
           coalesce(sum(coalesce(m.prompt_tokens, 0) + coalesce(m.completion_tokens, 0)) \
             FILTER (WHERE s.project_id = $2), 0)::bigint AS by_project \
         FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id \
         WHERE m.role = 'assistant' AND m.created_at >= $3 \
           AND (m.requested_by = $1 OR s.project_id = $2)",
    )
    .bind::<Uuid, _>(user.0)
    .bind::<Uuid, _>(project.0)
    .bind::<Timestamptz, _>(since)
    .get_result(conn)
    .await?;
    Ok((used.by_user, used.by_project))
}
