//! Project events: the [`ProjectFeed`] port over both numbered feeds of a project (the file
//! change feed, owned here, and the event log of `mdz_core::events`), merged in one stable
//! order under one cursor, and the live stream clients follow (`GET /projects/{id}/events`).

use crate::changes::repo::{ChangeRow, changes_after};
use async_trait::async_trait;
use diesel_async::AsyncPgConnection;
use mdz_core::config::Config;
use mdz_core::db::{self, DbPool};
use mdz_core::events::{
    EventBus, EventCursor, EventRow, FeedError, FeedPage, ProjectEvent, ProjectFeed, logged_after,
};
use mdz_core::feed::{FILE_CHANGES, PROJECT_EVENTS};
use mdz_core::ids::{ProjectId, UserId};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub mod endpoint;
mod stream;

pub use stream::PAGE;

/// A comment line on every open stream this often, so proxies keep it open.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(15);
/// While this node does not hear the bus, a stream reads the feeds this often (first after a
/// random extra delay below it, so streams do not poll together).
pub const POLL_EVERY: Duration = Duration::from_secs(10);

/// What the live streams of this node may hold.
#[derive(Debug, Clone, Copy)]
pub struct StreamSettings {
    /// Streams one user may have open at once on this node (`EVENTS_MAX_STREAMS_PER_USER`).
    pub max_per_user: usize,
    pub heartbeat: Duration,
    pub poll: Duration,
}

impl StreamSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_per_user: config.events_max_streams_per_user,
            heartbeat: HEARTBEAT_EVERY,
            poll: POLL_EVERY,
        }
    }
}

/// The merged feed, the node's event bus and its open streams.
pub struct EventFeed {
    pool: DbPool,
    pub(crate) bus: Arc<EventBus>,
    settings: StreamSettings,
    open: Mutex<HashMap<UserId, usize>>,
}

impl std::fmt::Debug for EventFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventFeed")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The `type` of a file change-feed entry.
fn file_kind(kind: &str) -> String {
    match kind {
        "attachment_added" => "attachment.added".into(),
        "attachment_deleted" => "attachment.deleted".into(),
        other => format!("file.{other}"),
    }
}

fn file_event(project: ProjectId, row: ChangeRow, id: EventCursor) -> ProjectEvent {
    let data = if row.kind.starts_with("attachment_") {
        json!({"attachment_id": row.file_id, "name": row.path})
    } else {
        json!({"file_id": row.file_id, "path": row.path, "revision": row.revision})
    };
    ProjectEvent {
        id: id.to_string(),
        kind: file_kind(&row.kind),
        project_id: project,
        actor: Some(row.created_by),
        at: row.created_at,
        data,
    }
}

fn logged_event(project: ProjectId, row: EventRow, id: EventCursor) -> ProjectEvent {
    ProjectEvent {
        id: id.to_string(),
        kind: row.kind,
        project_id: project,
        actor: row.actor_id.map(UserId),
        at: row.created_at,
        data: row.data,
    }
}

/// One feed's page for [`merge`]: its rows in order, and whether more rows wait after them.
struct Page<T> {
    rows: std::iter::Peekable<std::vec::IntoIter<T>>,
    more: bool,
}

impl<T> Page<T> {
    /// A page read with `limit + 1`: the extra row only says that more rows wait.
    fn new(mut rows: Vec<T>, limit: usize) -> Self {
        let more = rows.len() > limit;
        rows.truncate(limit);
        Self {
            rows: rows.into_iter().peekable(),
            more,
        }
    }

    /// Nothing left on this page although the feed has more: the merged order past here
    /// is unknown, so the merge stops.
    fn cut_short(&mut self) -> bool {
        self.more && self.rows.peek().is_none()
    }
}

/// Merge two pages (each in its feed's order) by time, file changes first on a tie: each
/// feed's part of the result is a prefix of its page, so one cursor per feed says where the
/// merged feed stands. At most `limit` events; `has_more` when either feed has some left.
/// Logged rows `viewer` may not see are passed over (the cursor moves past them, so a reader
/// never waits below a row it cannot see, and a compaction of those rows is no gap for it).
fn merge(
    project: ProjectId,
    files: Vec<ChangeRow>,
    logged: Vec<EventRow>,
    viewer: Option<UserId>,
    mut cursor: EventCursor,
    limit: usize,
) -> FeedPage {
    let mut files = Page::new(files, limit);
    let mut logged = Page::new(logged, limit);
    let mut events = Vec::new();
    loop {
        // A hidden row yields no event, so where it falls among the file changes does not
        // matter: pass over it as soon as it leads its page.
        while let Some(row) = logged.rows.next_if(|r| !r.visible_to(viewer)) {
            cursor.events = row.seq.unwrap_or(cursor.events);
        }
        if events.len() >= limit || files.cut_short() || logged.cut_short() {
            break;
        }
        let take_file = match (files.rows.peek(), logged.rows.peek()) {
            (Some(f), Some(e)) => f.created_at <= e.created_at,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if take_file {
            let Some(row) = files.rows.next() else { break };
            cursor.files = row.seq;
            events.push(file_event(project, row, cursor));
        } else {
            let Some(row) = logged.rows.next() else { break };
            cursor.events = row.seq.unwrap_or(cursor.events);
            events.push(logged_event(project, row, cursor));
        }
    }
    let has_more =
        files.more || logged.more || files.rows.peek().is_some() || logged.rows.peek().is_some();
    FeedPage {
        events,
        cursor,
        has_more,
    }
}

impl EventFeed {
    pub fn new(pool: DbPool, bus: Arc<EventBus>, settings: StreamSettings) -> Self {
        Self {
            pool,
            bus,
            settings,
            open: Mutex::new(HashMap::new()),
        }
    }

    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    /// Number what both feeds of `project` have waiting (a reader sees every event committed
    /// before it asked), telling the other nodes when there was some.
    async fn number(
        &self,
        conn: &mut AsyncPgConnection,
        project: ProjectId,
    ) -> Result<(), FeedError> {
        let mut numbered = 0;
        for feed in [FILE_CHANGES, PROJECT_EVENTS] {
            numbered += feed.number_if_waiting(conn, project).await?;
        }
        if numbered > 0 {
            self.bus.announce(project).await;
        }
        Ok(())
    }
}

#[async_trait]
impl ProjectFeed for EventFeed {
    async fn present(&self, project: ProjectId) -> Result<EventCursor, FeedError> {
        let mut conn = db::conn(&self.pool).await?;
        self.number(&mut conn, project).await?;
        Ok(EventCursor {
            files: FILE_CHANGES.bounds(&mut conn, project).await?.0,
            events: PROJECT_EVENTS.bounds(&mut conn, project).await?.0,
        })
    }

    async fn after(
        &self,
        project: ProjectId,
        cursor: EventCursor,
        viewer: Option<UserId>,
        limit: i64,
    ) -> Result<FeedPage, FeedError> {
        let limit = limit.max(1);
        let mut conn = db::conn(&self.pool).await?;
        self.number(&mut conn, project).await?;
        // The pages before the horizons: a compaction committed between the reads raises the
        // horizon the later read sees, so the caller hears `Gone` rather than a silent gap.
        let files = changes_after(&mut conn, project, cursor.files, limit).await?;
        let logged = logged_after(&mut conn, project, cursor.events, limit).await?;
        let (_, file_horizon) = FILE_CHANGES.bounds(&mut conn, project).await?;
        let (_, event_horizon) = PROJECT_EVENTS.bounds(&mut conn, project).await?;
        if cursor.files < file_horizon || cursor.events < event_horizon {
            return Err(FeedError::Gone);
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(merge(project, files, logged, viewer, cursor, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};

    fn at(second: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + second, 0)
            .single()
            .unwrap_or_default()
    }

    fn change(project: ProjectId, seq: i64, second: i64) -> ChangeRow {
        ChangeRow {
            project_id: project,
            seq,
            file_id: uuid::Uuid::now_v7(),
            kind: "updated".into(),
            path: "a.md".into(),
            revision: seq,
            created_at: at(second),
            created_by: UserId::new(),
        }
    }

    fn logged(seq: i64, second: i64, recipient: Option<UserId>) -> EventRow {
        EventRow {
            seq: Some(seq),
            kind: if recipient.is_some() {
                "notification"
            } else {
                "comment.created"
            }
            .into(),
            actor_id: None,
            recipient_id: recipient.map(|r| r.0),
            data: json!({}),
            created_at: at(second),
        }
    }

    fn ids(page: &FeedPage) -> Vec<&str> {
        page.events.iter().map(|e| e.id.as_str()).collect()
    }

    #[test]
    fn the_cursor_moves_past_rows_the_reader_cannot_see() {
        let project = ProjectId::new();
        let (me, other) = (UserId::new(), UserId::new());
        let start = EventCursor {
            files: 4,
            events: 1,
        };
        let rows = || {
            vec![
                logged(2, 1, None),
                logged(3, 2, Some(other)),
                logged(4, 3, Some(me)),
                logged(5, 5, Some(other)),
            ]
        };
        let files = || vec![change(project, 5, 4)];

        let mine = merge(project, files(), rows(), Some(me), start, 10);
        assert_eq!(ids(&mine), ["4-2", "4-4", "5-5"]);
        assert_eq!(
            mine.cursor,
            EventCursor {
                files: 5,
                events: 5
            }
        );
        assert!(!mine.has_more);

        // The webhook dispatcher sees no notification, and still moves past them all.
        let members = merge(project, files(), rows(), None, start, 10);
        assert_eq!(ids(&members), ["4-2", "5-5"]);
        assert_eq!(
            members.cursor,
            EventCursor {
                files: 5,
                events: 5
            }
        );

        // Only hidden rows: no event, but the cursor moves.
        let hidden = vec![logged(2, 1, Some(other)), logged(3, 2, Some(other))];
        let page = merge(project, Vec::new(), hidden, Some(me), start, 10);
        assert!(page.events.is_empty());
        assert_eq!(
            page.cursor,
            EventCursor {
                files: 4,
                events: 3
            }
        );
    }

    #[test]
    fn a_page_of_hidden_rows_stops_where_the_order_is_unknown() {
        let project = ProjectId::new();
        let (me, other) = (UserId::new(), UserId::new());
        let start = EventCursor::default();
        // Read with limit 2 (so up to 3 rows): all hidden, more may follow in the log.
        let hidden = (1..=3).map(|s| logged(s, s, Some(other))).collect();
        let files = vec![change(project, 1, 9)];
        let page = merge(project, files, hidden, Some(me), start, 2);
        assert!(
            page.events.is_empty(),
            "the file change may come after logged rows not read"
        );
        assert_eq!(
            page.cursor,
            EventCursor {
                files: 0,
                events: 2
            }
        );
        assert!(page.has_more);
    }

    #[test]
    fn at_most_limit_events_in_time_order_files_first_on_a_tie() {
        let project = ProjectId::new();
        let files = vec![change(project, 1, 1), change(project, 2, 3)];
        let rows = vec![logged(1, 1, None), logged(2, 2, None)];
        let page = merge(project, files, rows, None, EventCursor::default(), 3);
        assert_eq!(ids(&page), ["1-0", "1-1", "1-2"]);
        assert!(page.has_more);
    }
}
