//! Message queries on `&mut AsyncPgConnection`.

use crate::quota::Hold;
use crate::schema::chat_messages;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::Error;
use diesel_async::{AsyncConnectionCore, AsyncPgConnection, RunQueryDsl};
use mdz_core::db::Cached;
use mdz_core::ids::{ChatMessageId, ChatSessionId, UserId};

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
    /// What the answer holds of the day's quotas until it is settled.
    pub reserved_tokens: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An insert that first adds `hold` to the day's counters of its user and project, in the same
/// statement: `WITH hold AS (INSERT INTO chat_token_use … ON CONFLICT DO UPDATE) INSERT …`.
/// The counters' checks refuse the whole statement (nothing stored) when a limit would be
/// passed; the row locks make concurrent reservations queue. Fixed SQL, so it is cached like
/// the insert it wraps.
pub struct Reserving<'h, Q> {
    pub hold: &'h Hold,
    pub insert: Q,
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Reserving<'_, Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        use diesel::sql_types::{BigInt, Date, Nullable, Uuid};
        let h = self.hold;
        out.push_sql(
            "WITH hold AS (INSERT INTO chat_token_use AS u (scope, owner_id, day, held, cap) \
             VALUES ('user', ",
        );
        out.push_bind_param::<Uuid, _>(&h.user.0)?;
        out.push_sql(", ");
        out.push_bind_param::<Date, _>(&h.day)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&h.tokens)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<BigInt>, _>(&h.user_cap)?;
        out.push_sql("), ('project', ");
        out.push_bind_param::<Uuid, _>(&h.project.0)?;
        out.push_sql(", ");
        out.push_bind_param::<Date, _>(&h.day)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&h.tokens)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<BigInt>, _>(&h.project_cap)?;
        out.push_sql(
            ") ON CONFLICT (scope, owner_id, day) \
             DO UPDATE SET held = u.held + EXCLUDED.held, cap = EXCLUDED.cap) ",
        );
        self.insert.walk_ast(out.reborrow())
    }

    fn is_safe_to_cache_prepared(&self, backend: &Pg) -> QueryResult<bool> {
        self.insert.is_safe_to_cache_prepared(backend)
    }
}

impl<Q> QueryId for Reserving<'_, Q> {
    // Cached by its SQL text.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Reserving<'_, Q> {
    type SqlType = Q::SqlType;
}

/// Store messages (first holding `hold` of the day's quotas, when there is one), returned in
/// the order given. A fixed number of rows, so that the statement is a cached one. Generic over the connection so that it can be pipelined with [`recent`]
/// (`&mut &conn`).
pub async fn insert<C, const N: usize>(
    conn: &mut C,
    rows: &[MessageRow; N],
    hold: Option<&Hold>,
) -> Result<Vec<MessageRow>, Error>
where
    C: AsyncConnectionCore<Backend = Pg> + Send,
{
    let insert = diesel::insert_into(chat_messages::table)
        .values(rows)
        .returning(MessageRow::as_returning());
    let mut stored: Vec<MessageRow> = match hold {
        Some(hold) => Reserving { hold, insert }.get_results(conn).await?,
        None => insert.get_results(conn).await?,
    };
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

/// Counter rows are locked in one order everywhere (user before project, then by owner and
/// day): a reservation's `VALUES` lists the user's row first, settlements lock with
/// `ORDER BY scope DESC … FOR UPDATE`, so reservations and settlements never deadlock.
///
/// Save the answer for good and settle its hold in the same statement: the hold leaves
/// `held` and what the answer cost (`prompt + completion` of `usage`) joins `used`, on the
/// counters of the hold's day, unless the sweeper settled it already (the row says so by a
/// NULL `reserved_tokens`). The counters are settled even when the answer's row is gone with
/// its session.
pub async fn save_settling(
    conn: &mut AsyncPgConnection,
    (id, hold): (ChatMessageId, &Hold),
    content: &str,
    status: &str,
    usage: Option<(i32, i32)>,
    error: Option<&str>,
) -> Result<(), Error> {
    settle(
        conn,
        SETTLE_MESSAGE,
        (id.0, hold),
        (content, status, usage, error),
    )
    .await
}

/// The statement that stores an answer of `$table` for good and settles its hold.
macro_rules! settle_sql {
    ($table:literal) => {
        concat!(
            "WITH locked AS (\
               SELECT scope, owner_id FROM chat_token_use \
               WHERE day = $9 \
                 AND ((scope = 'user' AND owner_id = $10) \
                   OR (scope = 'project' AND owner_id = $11)) \
                 AND NOT EXISTS (SELECT 1 FROM ",
            $table,
            " WHERE id = $1 AND reserved_tokens IS NULL) \
               ORDER BY scope DESC FOR UPDATE), \
             settle AS (\
               UPDATE chat_token_use u SET held = u.held - $7, used = u.used + $8, cap = NULL \
               FROM locked l \
               WHERE u.day = $9 AND u.scope = l.scope AND u.owner_id = l.owner_id) \
             UPDATE ",
            $table,
            " SET content = $2, status = $3, prompt_tokens = $4, \
               completion_tokens = $5, error = $6, reserved_tokens = NULL \
             WHERE id = $1"
        )
    };
}

const SETTLE_MESSAGE: &str = settle_sql!("chat_messages");
/// Settling an AI edit (see [`save_settling`]).
pub const SETTLE_AI_EDIT: &str = settle_sql!("ai_edits");

/// Run a settling statement ([`SETTLE_MESSAGE`] or [`SETTLE_AI_EDIT`]).
pub async fn settle(
    conn: &mut AsyncPgConnection,
    sql: &'static str,
    (id, hold): (uuid::Uuid, &Hold),
    (content, status, usage, error): (&str, &str, Option<(i32, i32)>, Option<&str>),
) -> Result<(), Error> {
    use diesel::sql_types::{BigInt, Date, Integer, Nullable, Text, Uuid};
    let cost = usage.map_or(0, |(p, c)| i64::from(p) + i64::from(c));
    Cached(
        diesel::sql_query(sql)
            .bind::<Uuid, _>(id)
            .bind::<Text, _>(content)
            .bind::<Text, _>(status)
            .bind::<Nullable<Integer>, _>(usage.map(|u| u.0))
            .bind::<Nullable<Integer>, _>(usage.map(|u| u.1))
            .bind::<Nullable<Text>, _>(error)
            .bind::<BigInt, _>(hold.tokens)
            .bind::<BigInt, _>(cost)
            .bind::<Date, _>(hold.day)
            .bind::<Uuid, _>(hold.user.0)
            .bind::<Uuid, _>(hold.project.0),
    )
    .execute(conn)
    .await
    .map(drop)
}

/// End answers still `streaming` whose last save is older than `before` (all of them, or only
/// `only`): `with_text` when some text arrived, `without_text` otherwise. Their holds are
/// settled in the same statement, each charged in full (what its stopped node saw is lost).
/// How many were ended.
pub async fn end_stale(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
    only: Option<ChatMessageId>,
    statuses: (&str, &str),
    error: Option<&str>,
) -> Result<usize, Error> {
    end_and_settle(
        conn,
        "UPDATE chat_messages m \
         SET status = CASE WHEN m.content = '' THEN $3 ELSE $2 END, error = $4, \
             reserved_tokens = NULL \
         FROM chat_messages old, chat_sessions s \
         WHERE old.id = m.id AND s.id = m.session_id AND m.status = 'streaming' \
           AND m.updated_at < $1 AND ($5::uuid IS NULL OR m.id = $5) \
         RETURNING s.project_id, m.requested_by, \
           (m.created_at AT TIME ZONE 'UTC')::date AS day, old.reserved_tokens AS held",
        (before, only.map(|m| m.0)),
        statuses,
        error,
    )
    .await
}

/// End what `ended` (an `UPDATE … RETURNING project_id, requested_by, day, held` of streaming
/// rows, with `$1` the last save before which a row is stale, `$2`/`$3` the statuses with and
/// without text, `$4` the error, `$5` one row's id or null) ends, and settle the token holds it
/// let go of: held tokens become used ones of the user's and the project's day, their rows
/// locked in one order. One statement, shared by chat answers and AI edits.
pub(crate) async fn end_and_settle(
    conn: &mut AsyncPgConnection,
    ended: &str,
    (before, only): (DateTime<Utc>, Option<uuid::Uuid>),
    (with_text, without_text): (&str, &str),
    error: Option<&str>,
) -> Result<usize, Error> {
    use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz, Uuid};
    #[derive(QueryableByName)]
    struct Ended {
        #[diesel(sql_type = BigInt)]
        ended: i64,
    }
    let ended: Ended = diesel::sql_query(format!(
        "WITH ended AS ({ended}), \
         holds AS (\
           SELECT 'user'::text AS scope, requested_by AS owner_id, day, held FROM ended \
           WHERE held IS NOT NULL AND requested_by IS NOT NULL \
           UNION ALL \
           SELECT 'project', project_id, day, held FROM ended WHERE held IS NOT NULL), \
         locked AS (\
           SELECT u.scope, u.owner_id, u.day, h.held \
           FROM chat_token_use u \
           JOIN (SELECT scope, owner_id, day, sum(held) AS held FROM holds \
                 GROUP BY scope, owner_id, day) h \
             ON u.scope = h.scope AND u.owner_id = h.owner_id AND u.day = h.day \
           ORDER BY u.scope DESC, u.owner_id, u.day FOR UPDATE OF u), \
         settled AS (\
           UPDATE chat_token_use u SET held = u.held - l.held, used = u.used + l.held, cap = NULL \
           FROM locked l \
           WHERE u.scope = l.scope AND u.owner_id = l.owner_id AND u.day = l.day) \
         SELECT count(*) AS ended FROM ended"
    ))
    .bind::<Timestamptz, _>(before)
    .bind::<Text, _>(with_text)
    .bind::<Text, _>(without_text)
    .bind::<Nullable<Text>, _>(error)
    .bind::<Nullable<Uuid>, _>(only)
    .get_result(conn)
    .await?;
    Ok(usize::try_from(ended.ended).unwrap_or(usize::MAX))
}

/// What the day's ended answers used, by `hold`'s user or project (`scope`).
pub async fn used_on(conn: &mut AsyncPgConnection, hold: &Hold, scope: &str) -> Result<i64, Error> {
    use diesel::sql_types::{BigInt, Date, Text, Uuid};
    #[derive(QueryableByName)]
    struct Used {
        #[diesel(sql_type = BigInt)]
        used: i64,
    }
    let owner = if scope == "user" {
        hold.user.0
    } else {
        hold.project.0
    };
    let used: Option<Used> = diesel::sql_query(
        "SELECT used FROM chat_token_use WHERE scope = $1 AND owner_id = $2 AND day = $3",
    )
    .bind::<Text, _>(scope)
    .bind::<Uuid, _>(owner)
    .bind::<Date, _>(hold.day)
    .get_result(conn)
    .await
    .optional()?;
    Ok(used.map_or(0, |u| u.used))
}

/// Forget the counters of days before `before`.
pub async fn purge_token_use(
    conn: &mut AsyncPgConnection,
    before: NaiveDate,
) -> Result<usize, Error> {
    use diesel::sql_types::Date;
    diesel::sql_query("DELETE FROM chat_token_use WHERE day < $1")
        .bind::<Date, _>(before)
        .execute(conn)
        .await
}
