//! Suggestion queries on `&mut AsyncPgConnection`.

use crate::schema::suggestions;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use mdz_core::events::{self, EventKind, NewEvent};
use mdz_core::ids::{FileId, ProjectId, SuggestionId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = suggestions)]
pub struct SuggestionRow {
    pub id: SuggestionId,
    pub project_id: ProjectId,
    pub file_id: FileId,
    pub anchor_start: String,
    pub anchor_end: String,
    pub quote: String,
    pub proposed: String,
    pub explanation: Option<String>,
    pub created_by: UserId,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub status: String,
    pub decided_by: Option<UserId>,
    pub decided_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Insert `row` unless its document already has `max_open` open suggestions (checked under
/// the document's `collab_docs` row lock, which the caller's transaction holds, so two
/// concurrent inserts cannot both take the last place). `None`: full.
pub async fn insert_within(
    conn: &mut AsyncPgConnection,
    row: &SuggestionRow,
    max_open: i64,
) -> Result<Option<SuggestionRow>, Error> {
    let open: i64 = suggestions::table
        .filter(suggestions::file_id.eq(row.file_id))
        .filter(suggestions::status.eq("open"))
        .count()
        .get_result(conn)
        .await?;
    if open >= max_open {
        return Ok(None);
    }
    diesel::insert_into(suggestions::table)
        .values(row)
        .returning(SuggestionRow::as_returning())
        .get_result(conn)
        .await
        .map(Some)
}

pub async fn get(
    conn: &mut AsyncPgConnection,
    id: SuggestionId,
) -> Result<Option<SuggestionRow>, Error> {
    suggestions::table
        .find(id)
        .select(SuggestionRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// A document's suggestions, oldest first, after the cursor.
pub async fn list(
    conn: &mut AsyncPgConnection,
    file: FileId,
    status: Option<&str>,
    after: Option<SuggestionId>,
    limit: i64,
) -> Result<Vec<SuggestionRow>, Error> {
    let mut q = suggestions::table
        .filter(suggestions::file_id.eq(file))
        .order(suggestions::id.asc())
        .limit(limit + 1)
        .select(SuggestionRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(suggestions::id.gt(after));
    }
    if let Some(status) = status {
        q = q.filter(suggestions::status.eq(status.to_owned()));
    }
    q.load(conn).await
}

/// Move an open suggestion to `status`; `None` when it is not open (any more).
pub async fn settle(
    conn: &mut AsyncPgConnection,
    id: SuggestionId,
    status: &str,
    by: UserId,
) -> Result<Option<SuggestionRow>, Error> {
    let settled = diesel::update(
        suggestions::table
            .find(id)
            .filter(suggestions::status.eq("open")),
    )
    .set((
        suggestions::status.eq(status),
        suggestions::decided_by.eq(by),
        suggestions::decided_at.eq(diesel::dsl::now),
    ))
    .returning(SuggestionRow::as_returning())
    .get_result(conn)
    .await
    .optional()?;
    if let Some(row) = &settled {
        let kind = match status {
            "accepted" => EventKind::SuggestionAccepted,
            "rejected" => EventKind::SuggestionRejected,
            _ => EventKind::SuggestionStale,
        };
        events::record(conn, event(row, kind, by)).await?;
    }
    Ok(settled)
}

/// A project event about a suggestion (ids and status only: the texts stay with it).
pub fn event(row: &SuggestionRow, kind: EventKind, actor: UserId) -> NewEvent {
    NewEvent {
        project: row.project_id,
        kind,
        actor: Some(actor),
        recipient: None,
        data: serde_json::json!({
            "suggestion_id": row.id,
            "file_id": row.file_id,
            "status": row.status,
        }),
    }
}
