//! Comment and notification queries on `&mut AsyncPgConnection`.

use crate::schema::{comments, notifications, suggestions};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use mdz_core::ids::{CommentId, FileId, NotificationId, ProjectId, SuggestionId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = comments)]
pub struct CommentRow {
    pub id: CommentId,
    pub project_id: ProjectId,
    pub file_id: FileId,
    pub parent_id: Option<CommentId>,
    pub author_id: UserId,
    pub body: String,
    pub quote: Option<String>,
    pub anchor_start: Option<String>,
    pub anchor_end: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set for the comments of a suggestion's thread.
    pub suggestion_id: Option<SuggestionId>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = notifications)]
pub struct NotificationRow {
    pub id: NotificationId,
    pub user_id: UserId,
    pub kind: String,
    pub project_id: ProjectId,
    pub file_id: Option<FileId>,
    pub comment_id: Option<CommentId>,
    pub actor_id: Option<UserId>,
    pub excerpt: String,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut AsyncPgConnection, row: &CommentRow) -> Result<CommentRow, Error> {
    diesel::insert_into(comments::table)
        .values(row)
        .returning(CommentRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn get(conn: &mut AsyncPgConnection, id: CommentId) -> Result<Option<CommentRow>, Error> {
    comments::table
        .find(id)
        .select(CommentRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The document a suggestion is about.
pub async fn suggestion_file(
    conn: &mut AsyncPgConnection,
    suggestion: SuggestionId,
) -> Result<Option<FileId>, Error> {
    suggestions::table
        .find(suggestion)
        .select(suggestions::file_id)
        .first(conn)
        .await
        .optional()
}

/// A suggestion's thread, oldest first, after the cursor.
pub async fn suggestion_thread(
    conn: &mut AsyncPgConnection,
    suggestion: SuggestionId,
    after: Option<CommentId>,
    limit: i64,
) -> Result<Vec<CommentRow>, Error> {
    let mut q = comments::table
        .filter(comments::suggestion_id.eq(suggestion))
        .order(comments::id.asc())
        .limit(limit + 1)
        .select(CommentRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(comments::id.gt(after));
    }
    q.load(conn).await
}

/// A document's threads (first comments), oldest first, after the cursor; suggestions'
/// threads are listed with their suggestion instead.
pub async fn threads(
    conn: &mut AsyncPgConnection,
    file: FileId,
    resolved: Option<bool>,
    after: Option<CommentId>,
    limit: i64,
) -> Result<Vec<CommentRow>, Error> {
    let mut q = comments::table
        .filter(comments::file_id.eq(file))
        .filter(comments::parent_id.is_null())
        .filter(comments::suggestion_id.is_null())
        .order(comments::id.asc())
        .limit(limit + 1)
        .select(CommentRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(comments::id.gt(after));
    }
    match resolved {
        Some(true) => q = q.filter(comments::resolved_at.is_not_null()),
        Some(false) => q = q.filter(comments::resolved_at.is_null()),
        None => {}
    }
    q.load(conn).await
}

/// The replies of these threads, oldest first.
pub async fn replies(
    conn: &mut AsyncPgConnection,
    roots: &[CommentId],
) -> Result<Vec<CommentRow>, Error> {
    comments::table
        .filter(comments::parent_id.eq_any(roots))
        .order(comments::id.asc())
        .select(CommentRow::as_select())
        .load(conn)
        .await
}

/// A comment's new body, and the new `excerpt` of the notifications it made (in the inbox,
/// and in a mention mail not sent yet: an author who removes something from a comment
/// removes it there too), in one statement.
pub async fn set_body(
    conn: &mut AsyncPgConnection,
    id: CommentId,
    body: &str,
    excerpt: &str,
) -> Result<(), Error> {
    use diesel::sql_types::{Text, Uuid};
    diesel::sql_query(
        "WITH edited AS (UPDATE comments SET body = $2 WHERE id = $1)
         UPDATE notifications SET excerpt = $3 WHERE comment_id = $1",
    )
    .bind::<Uuid, _>(id)
    .bind::<Text, _>(body)
    .bind::<Text, _>(excerpt)
    .execute(conn)
    .await
    .map(drop)
}

/// Resolve (`by` someone) or reopen (`None`) the comment, if it is not so already: whether
/// its state changed (a resolved comment keeps who resolved it first, and when).
pub async fn set_resolved(
    conn: &mut AsyncPgConnection,
    id: CommentId,
    by: Option<UserId>,
) -> Result<bool, Error> {
    let at = by.map(|_| Utc::now());
    let target = comments::table.find(id);
    let changed = if by.is_some() {
        diesel::update(target.filter(comments::resolved_at.is_null()))
            .set((comments::resolved_at.eq(at), comments::resolved_by.eq(by)))
            .execute(conn)
            .await?
    } else {
        diesel::update(target.filter(comments::resolved_at.is_not_null()))
            .set((comments::resolved_at.eq(at), comments::resolved_by.eq(by)))
            .execute(conn)
            .await?
    };
    Ok(changed > 0)
}

pub async fn delete(conn: &mut AsyncPgConnection, id: CommentId) -> Result<usize, Error> {
    diesel::delete(comments::table.find(id)).execute(conn).await
}

pub async fn notify(conn: &mut AsyncPgConnection, rows: &[NotificationRow]) -> Result<(), Error> {
    if rows.is_empty() {
        return Ok(());
    }
    diesel::insert_into(notifications::table)
        .values(rows)
        .execute(conn)
        .await
        .map(drop)
}

/// A user's notifications: unread first, newest first within each, after the cursor.
/// Only those of `projects` (the projects the user can still read).
pub async fn inbox(
    conn: &mut AsyncPgConnection,
    user: UserId,
    projects: &[ProjectId],
    unread_only: bool,
    after: Option<(bool, NotificationId)>,
    limit: i64,
) -> Result<Vec<NotificationRow>, Error> {
    let read = notifications::read_at.is_not_null();
    let mut q = notifications::table
        .filter(notifications::user_id.eq(user))
        .filter(notifications::project_id.eq_any(projects))
        .order((read.asc(), notifications::id.desc()))
        .limit(limit + 1)
        .select(NotificationRow::as_select())
        .into_boxed();
    if unread_only {
        q = q.filter(notifications::read_at.is_null());
    }
    if let Some((was_read, id)) = after {
        q = if was_read {
            q.filter(read.and(notifications::id.lt(id)))
        } else {
            q.filter(read.or(notifications::id.lt(id)))
        };
    }
    q.load(conn).await
}

/// Mark the user's unread notifications of `projects` read: `ids`, or all of them.
pub async fn mark_read(
    conn: &mut AsyncPgConnection,
    user: UserId,
    projects: &[ProjectId],
    ids: Option<&[NotificationId]>,
) -> Result<usize, Error> {
    let base = notifications::table
        .filter(notifications::user_id.eq(user))
        .filter(notifications::project_id.eq_any(projects))
        .filter(notifications::read_at.is_null());
    match ids {
        Some(ids) => {
            diesel::update(base.filter(notifications::id.eq_any(ids)))
                .set(notifications::read_at.eq(Utc::now()))
                .execute(conn)
                .await
        }
        None => {
            diesel::update(base)
                .set(notifications::read_at.eq(Utc::now()))
                .execute(conn)
                .await
        }
    }
}

/// People with a mention not yet mailed that is older than `due_before`, whose last mention
/// mail went out before `sent_before`: those waiting longest first (at most `limit`).
pub async fn mention_mail_recipients(
    conn: &mut AsyncPgConnection,
    due_before: DateTime<Utc>,
    sent_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<UserId>, Error> {
    use crate::schema::mention_mail_sent as sent;
    use diesel::dsl::min;
    notifications::table
        .left_join(sent::table.on(sent::user_id.eq(notifications::user_id)))
        .filter(notifications::mailed_at.is_null())
        .filter(notifications::created_at.le(due_before))
        .filter(sent::sent_at.is_null().or(sent::sent_at.le(sent_before)))
        .group_by(notifications::user_id)
        .order(min(notifications::created_at).asc())
        .select(notifications::user_id)
        .limit(limit)
        .load(conn)
        .await
}

/// A person's mentions not yet mailed, oldest first (at most `limit`).
pub async fn unmailed(
    conn: &mut AsyncPgConnection,
    user: UserId,
    limit: i64,
) -> Result<Vec<NotificationRow>, Error> {
    notifications::table
        .filter(notifications::user_id.eq(user))
        .filter(notifications::mailed_at.is_null())
        .order((notifications::created_at.asc(), notifications::id.asc()))
        .limit(limit)
        .select(NotificationRow::as_select())
        .load(conn)
        .await
}

/// Lock the person's mention-mail row (made on first use) unless another transaction holds
/// it; the time of their last mention mail, `None` when it is locked elsewhere.
pub async fn lock_mention_mail_sent(
    conn: &mut AsyncPgConnection,
    user: UserId,
) -> Result<Option<DateTime<Utc>>, Error> {
    use crate::schema::mention_mail_sent as sent;
    diesel::insert_into(sent::table)
        .values((
            sent::user_id.eq(user),
            sent::sent_at.eq(DateTime::UNIX_EPOCH),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    sent::table
        .find(user)
        .select(sent::sent_at)
        .for_update()
        .skip_locked()
        .get_result(conn)
        .await
        .optional()
}

pub async fn set_mention_mail_sent(
    conn: &mut AsyncPgConnection,
    user: UserId,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    use crate::schema::mention_mail_sent as sent;
    diesel::update(sent::table.find(user))
        .set(sent::sent_at.eq(at))
        .execute(conn)
        .await
        .map(drop)
}

/// Mark these notifications mailed (or passed over); the ids of those that were not yet,
/// with whether they are still unread.
pub async fn mark_mailed(
    conn: &mut AsyncPgConnection,
    ids: &[NotificationId],
    at: DateTime<Utc>,
) -> Result<Vec<(NotificationId, bool)>, Error> {
    diesel::update(
        notifications::table
            .filter(notifications::id.eq_any(ids))
            .filter(notifications::mailed_at.is_null()),
    )
    .set(notifications::mailed_at.eq(at))
    .returning((notifications::id, notifications::read_at.is_null()))
    .get_results(conn)
    .await
}
