//! Session queries on `&mut AsyncPgConnection`.

use crate::schema::chat_sessions;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use mdz_core::db::Cached;
use mdz_core::ids::{ChatSessionId, ProjectId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = chat_sessions)]
pub struct SessionRow {
    pub id: ChatSessionId,
    pub project_id: ProjectId,
    pub created_by: UserId,
    pub title: String,
    pub model: Option<String>,
    pub instructions: String,
    pub context_file_ids: Vec<uuid::Uuid>,
    pub visibility: String,
    pub title_is_default: bool,
    pub archived: bool,
    pub last_activity_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub provider: Option<String>,
}

/// The columns a PATCH may change.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = chat_sessions)]
pub struct SessionChanges {
    pub title: Option<String>,
    pub title_is_default: Option<bool>,
    pub model: Option<Option<String>>,
    pub provider: Option<Option<String>>,
    pub instructions: Option<String>,
    pub context_file_ids: Option<Vec<uuid::Uuid>>,
    pub visibility: Option<String>,
    pub archived: Option<bool>,
}

pub async fn insert(conn: &mut AsyncPgConnection, row: &SessionRow) -> Result<SessionRow, Error> {
    diesel::insert_into(chat_sessions::table)
        .values(row)
        .returning(SessionRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn get(
    conn: &mut AsyncPgConnection,
    id: ChatSessionId,
) -> Result<Option<SessionRow>, Error> {
    chat_sessions::table
        .find(id)
        .select(SessionRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Sessions `viewer` may read in a project, newest activity first, after the cursor.
pub async fn list(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    viewer: UserId,
    archived: bool,
    after: Option<(DateTime<Utc>, ChatSessionId)>,
    limit: i64,
) -> Result<Vec<SessionRow>, Error> {
    let mut q = chat_sessions::table
        .filter(chat_sessions::project_id.eq(project))
        .filter(chat_sessions::archived.eq(archived))
        .filter(
            chat_sessions::visibility
                .eq("project")
                .or(chat_sessions::created_by.eq(viewer)),
        )
        .order((
            chat_sessions::last_activity_at.desc(),
            chat_sessions::id.desc(),
        ))
        .limit(limit + 1)
        .select(SessionRow::as_select())
        .into_boxed();
    if let Some((at, id)) = after {
        q = q.filter(
            chat_sessions::last_activity_at
                .lt(at)
                .or(chat_sessions::last_activity_at
                    .eq(at)
                    .and(chat_sessions::id.lt(id))),
        );
    }
    q.load(conn).await
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    id: ChatSessionId,
    changes: &SessionChanges,
) -> Result<SessionRow, Error> {
    diesel::update(chat_sessions::table.find(id))
        .set(changes)
        .returning(SessionRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn delete(conn: &mut AsyncPgConnection, id: ChatSessionId) -> Result<usize, Error> {
    diesel::delete(chat_sessions::table.find(id))
        .execute(conn)
        .await
}

/// Something happened in the session: it moves to the top; a default title takes `title`.
pub async fn touch(
    conn: &mut AsyncPgConnection,
    id: ChatSessionId,
    default_title: Option<&str>,
) -> Result<(), Error> {
    Cached(
        diesel::update(chat_sessions::table.find(id))
            .set(chat_sessions::last_activity_at.eq(Utc::now())),
    )
    .execute(conn)
    .await?;
    if let Some(title) = default_title {
        Cached(
            diesel::update(
                chat_sessions::table
                    .find(id)
                    .filter(chat_sessions::title_is_default.eq(true)),
            )
            .set((
                chat_sessions::title.eq(title),
                chat_sessions::title_is_default.eq(false),
            )),
        )
        .execute(conn)
        .await?;
    }
    Ok(())
}
