//! Project events: what happens in a project, for live streams and webhooks.
//!
//! Two numbered feeds hold them: the file change feed (mdz-files: documents and
//! attachments) and the project event log here (comments, suggestions, members, per-user
//! notifications). A domain records an event with [`record`] in the transaction of the
//! change, so a rolled-back change records nothing; the shared sequencer
//! ([`crate::feed::PROJECT_EVENTS`]) numbers it after commit. Readers see both feeds merged
//! through the [`ProjectFeed`] port, with one [`EventCursor`] over both; [`EventBus`] tells
//! every node that a project has new events (a nudge only: the database is the truth).

use crate::db::DbError;
use crate::ids::{ProjectId, UserId};
use crate::kv::{BusEvent, SharedKv};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

diesel::table! {
    project_events (id) {
        id -> Int8,
        project_id -> Uuid,
        seq -> Nullable<Int8>,
        kind -> Text,
        actor_id -> Nullable<Uuid>,
        recipient_id -> Nullable<Uuid>,
        data -> Jsonb,
        created_at -> Timestamptz,
    }
}

/// What a logged event is about (the file feed's kinds are mapped in mdz-files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    CommentCreated,
    CommentResolved,
    CommentReopened,
    SuggestionCreated,
    SuggestionAccepted,
    SuggestionRejected,
    SuggestionStale,
    MemberAdded,
    MemberRemoved,
    MemberRoleChanged,
    /// The project was deleted (every stream of it ends).
    ProjectDeleted,
    /// A notification for one user (its `recipient`).
    Notification,
}

impl EventKind {
    /// The dotted name clients see as the event's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::CommentCreated => "comment.created",
            EventKind::CommentResolved => "comment.resolved",
            EventKind::CommentReopened => "comment.reopened",
            EventKind::SuggestionCreated => "suggestion.created",
            EventKind::SuggestionAccepted => "suggestion.accepted",
            EventKind::SuggestionRejected => "suggestion.rejected",
            EventKind::SuggestionStale => "suggestion.stale",
            EventKind::MemberAdded => "member.added",
            EventKind::MemberRemoved => "member.removed",
            EventKind::MemberRoleChanged => "member.role_changed",
            EventKind::ProjectDeleted => "project.deleted",
            EventKind::Notification => "notification",
        }
    }
}

/// An event to log.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub project: ProjectId,
    pub kind: EventKind,
    /// Who did it (`None`: the system).
    pub actor: Option<UserId>,
    /// `None`: every member may see it; `Some`: only this user (a notification).
    pub recipient: Option<UserId>,
    /// Ids and small fields, never document text.
    pub data: serde_json::Value,
}

/// Log `event`, unnumbered (it takes no lock): call it in the transaction of the change.
pub async fn record<C>(conn: &mut C, event: NewEvent) -> Result<(), diesel::result::Error>
where
    C: diesel_async::AsyncConnectionCore<Backend = diesel::pg::Pg> + Send,
{
    diesel::insert_into(project_events::table)
        .values((
            project_events::project_id.eq(event.project.0),
            project_events::kind.eq(event.kind.as_str()),
            project_events::actor_id.eq(event.actor.map(|a| a.0)),
            project_events::recipient_id.eq(event.recipient.map(|r| r.0)),
            project_events::data.eq(event.data),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// A numbered row of the event log.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = project_events)]
pub struct EventRow {
    pub seq: Option<i64>,
    pub kind: String,
    pub actor_id: Option<uuid::Uuid>,
    /// `None`: every member's event; `Some`: a notification for this user only.
    pub recipient_id: Option<uuid::Uuid>,
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl EventRow {
    /// Whether `viewer` may see this row: every member's events, and their own
    /// notifications (`None`: every member's only).
    pub fn visible_to(&self, viewer: Option<UserId>) -> bool {
        match self.recipient_id {
            None => true,
            Some(recipient) => viewer.is_some_and(|v| v.0 == recipient),
        }
    }
}

/// The log's numbered events of `project` after `after`, visible or not (a reader's cursor
/// moves past the rows it may not see, see [`EventRow::visible_to`]), at most `limit + 1`.
pub async fn logged_after(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    after: i64,
    limit: i64,
) -> Result<Vec<EventRow>, diesel::result::Error> {
    project_events::table
        .filter(project_events::project_id.eq(project.0))
        .filter(project_events::seq.gt(after))
        .order(project_events::seq.asc())
        .limit(limit + 1)
        .select(EventRow::as_select())
        .load(conn)
        .await
}

/// A position in a project's merged feed: the last file change and the last logged event
/// read. Clients see it as an opaque string (`"<files>-<events>"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventCursor {
    pub files: i64,
    pub events: i64,
}

impl fmt::Display for EventCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.files, self.events)
    }
}

/// A cursor that is not one this server gave out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an event id of this feed")]
pub struct BadCursor;

impl FromStr for EventCursor {
    type Err = BadCursor;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (files, events) = s.trim().split_once('-').ok_or(BadCursor)?;
        let number = |p: &str| match p.parse::<i64>() {
            Ok(n) if n >= 0 && !p.starts_with('+') => Ok(n),
            _ => Err(BadCursor),
        };
        Ok(Self {
            files: number(files)?,
            events: number(events)?,
        })
    }
}

/// One event of the merged feed, as clients and webhooks receive it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ProjectEvent {
    /// Where the feed stands after this event: resume after it with `Last-Event-ID`.
    pub id: String,
    /// `file.created`, `comment.created`, `member.removed`, `notification`…
    #[serde(rename = "type")]
    pub kind: String,
    pub project_id: ProjectId,
    /// Who did it (absent for the system's own changes).
    pub actor: Option<UserId>,
    pub at: DateTime<Utc>,
    /// Ids and small fields of what changed (never document text).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// A page of the merged feed.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedPage {
    pub events: Vec<ProjectEvent>,
    /// Where the next page starts: the last event's id, or the cursor asked with, moved past
    /// the rows after it that the reader may not see.
    pub cursor: EventCursor,
    /// More events are waiting after this page.
    pub has_more: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The cursor is below a feed's horizon: events were compacted; start from the present.
    #[error("events after this cursor are no longer kept")]
    Gone,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for FeedError {
    fn from(e: diesel::result::Error) -> Self {
        FeedError::Db(DbError::Query(e))
    }
}

impl From<FeedError> for crate::ApiError {
    fn from(e: FeedError) -> Self {
        match e {
            FeedError::Gone => crate::ApiError::new(
                actix_web::http::StatusCode::GONE,
                "events-gone",
                "Events no longer kept",
            )
            .detail("the events after this id were compacted; reload and start from the present"),
            FeedError::Db(db) => db.into(),
        }
    }
}

/// The merged feed of a project (implemented by mdz-files, which owns the file feed).
/// Access is the caller's business: this port answers for any project.
#[async_trait]
pub trait ProjectFeed: Send + Sync + 'static {
    /// The position after every event committed so far (where a live stream starts).
    async fn present(&self, project: ProjectId) -> Result<EventCursor, FeedError>;

    /// Up to `limit` events after `cursor`, in a stable order, that `viewer` may see (every
    /// member's events and `viewer`'s own notifications; `None`: every member's only).
    async fn after(
        &self,
        project: ProjectId,
        cursor: EventCursor,
        viewer: Option<UserId>,
        limit: i64,
    ) -> Result<FeedPage, FeedError>;
}

/// A random delay below `period`, so the polls of many streams do not fall together.
pub fn jitter(period: Duration) -> Duration {
    let mut b = [0u8; 4];
    let random = getrandom::fill(&mut b).map_or(0, |()| u32::from_le_bytes(b));
    period.mul_f64(f64::from(random) / (f64::from(u32::MAX) + 1.0))
}

/// Bus topic of "this project has new events".
const TOPIC: &str = "project.events";
/// Nudges buffered for a slow listener before it lags (it then reads anyway).
const CAPACITY: usize = 4096;

/// What a listener of the event bus hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nudge {
    /// `project` has new events.
    Project(ProjectId),
    /// Nudges may have been lost (the bus reconnected, or this listener lagged): read anyway.
    MaybeMissed,
}

/// The node's hub of "project X has new events" nudges, over the Kv bus.
pub struct EventBus {
    kv: SharedKv,
    local: broadcast::Sender<Nudge>,
}

impl fmt::Debug for EventBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventBus").finish_non_exhaustive()
    }
}

impl EventBus {
    /// Listen on the bus (a task on the current runtime) and hand out subscriptions.
    pub fn start(kv: SharedKv) -> Arc<Self> {
        let (local, _) = broadcast::channel(CAPACITY);
        let bus = kv.subscribe();
        tokio::spawn(forward(bus, local.clone()));
        Arc::new(Self { kv, local })
    }

    /// Tell every node that `project` has new events: through the bus, which brings it back
    /// to this node too, or straight to this node's listeners while the bus is down.
    pub async fn announce(&self, project: ProjectId) {
        let published = match self.kv.publish(TOPIC, &project.to_string()).await {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, %project, "an event nudge was not published");
                false
            }
        };
        if !published || !self.kv.bus_connected() {
            drop(self.local.send(Nudge::Project(project)));
        }
    }

    /// Is this node hearing the bus? While it is not, listeners must poll.
    pub fn connected(&self) -> bool {
        self.kv.bus_connected()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Nudge> {
        self.local.subscribe()
    }
}

async fn forward(mut bus: broadcast::Receiver<BusEvent>, local: broadcast::Sender<Nudge>) {
    loop {
        let heard = match bus.recv().await {
            Ok(BusEvent::Message { topic, payload }) if topic == TOPIC => {
                match payload.parse::<ProjectId>() {
                    Ok(project) => Nudge::Project(project),
                    Err(_) => continue,
                }
            }
            Ok(BusEvent::Message { .. }) => continue,
            Ok(BusEvent::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                Nudge::MaybeMissed
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        drop(local.send(heard));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_what_they_did_not_write() {
        let c = EventCursor {
            files: 12,
            events: 3,
        };
        assert_eq!(c.to_string(), "12-3");
        assert_eq!("12-3".parse::<EventCursor>(), Ok(c));
        for bad in ["", "12", "-1-2", "1--2", "a-b", "1-2-3", "+1-2"] {
            assert_eq!(bad.parse::<EventCursor>(), Err(BadCursor), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_nudge_reaches_this_node_and_the_bus() {
        let kv: SharedKv = Arc::new(crate::kv::MemoryKv::new());
        let bus = EventBus::start(kv);
        let mut heard = bus.subscribe();
        let project = ProjectId::new();
        bus.announce(project).await;
        assert_eq!(heard.recv().await.ok(), Some(Nudge::Project(project)));
    }

    #[tokio::test]
    async fn a_nudge_is_heard_once() {
        let kv: SharedKv = Arc::new(crate::kv::MemoryKv::new());
        let bus = EventBus::start(kv);
        let mut heard = bus.subscribe();
        let project = ProjectId::new();
        bus.announce(project).await;
        assert_eq!(heard.recv().await.ok(), Some(Nudge::Project(project)));
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            heard.try_recv().err(),
            Some(broadcast::error::TryRecvError::Empty)
        );
    }

    #[test]
    fn jitter_stays_below_the_period() {
        let period = Duration::from_secs(10);
        assert!((0..100).all(|_| jitter(period) < period));
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
