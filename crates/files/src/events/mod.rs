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
/// A stream reads the feeds this often even when no nudge came (one may be lost).
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

/// Merge two pages (each in its feed's order) by time, file changes first on a tie: each
/// feed's part of the result is a prefix of its page, so one cursor per feed says where the
/// merged feed stands. At most `limit` events; `has_more` when either page has some left.
fn merge(
    project: ProjectId,
    files: Vec<ChangeRow>,
    logged: Vec<EventRow>,
    mut cursor: EventCursor,
    limit: usize,
) -> FeedPage {
    let mut files = files.into_iter().peekable();
    let mut logged = logged.into_iter().peekable();
    let mut events = Vec::new();
    while events.len() < limit {
        let take_file = match (files.peek(), logged.peek()) {
            (Some(f), Some(e)) => f.created_at <= e.created_at,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if take_file {
            let Some(row) = files.next() else { break };
            cursor.files = row.seq;
            events.push(file_event(project, row, cursor));
        } else {
            let Some(row) = logged.next() else { break };
            cursor.events = row.seq.unwrap_or(cursor.events);
            events.push(logged_event(project, row, cursor));
        }
    }
    let has_more = files.peek().is_some() || logged.peek().is_some();
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
        let logged = logged_after(&mut conn, project, cursor.events, viewer, limit).await?;
        let (_, file_horizon) = FILE_CHANGES.bounds(&mut conn, project).await?;
        let (_, event_horizon) = PROJECT_EVENTS.bounds(&mut conn, project).await?;
        if cursor.files < file_horizon || cursor.events < event_horizon {
            return Err(FeedError::Gone);
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(merge(project, files, logged, cursor, limit))
    }
}
