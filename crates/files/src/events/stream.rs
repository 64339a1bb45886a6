//! One live event stream: reads the merged feed when the bus nudges (or the slow poll ticks),
//! sends each event as an SSE frame with its cursor as `id`, a comment line as heartbeat, and
//! ends when the caller's access ends (their own `member.removed`, a lost role, a deleted
//! project; revoked credentials end it in [`mdz_core::sse::response`]).

use super::EventFeed;
use bytes::Bytes;
use futures_util::Stream;
use mdz_core::access::ProjectAccess;
use mdz_core::events::{EventCursor, FeedError, Nudge, ProjectEvent, ProjectFeed, jitter};
use mdz_core::ids::{ProjectId, UserId};
use serde_json::json;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, Interval, MissedTickBehavior};

/// Events read from the feed per round (a longer backlog is read in several rounds).
pub const PAGE: i64 = 100;

/// The heartbeat: a comment line, which clients ignore.
const HEARTBEAT: &[u8] = b": keep-alive\n\n";

/// One open stream of `user` on this node; given back when dropped.
pub(super) struct Slot {
    feed: Arc<EventFeed>,
    user: UserId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.feed.open_streams();
        if let Some(n) = open.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.user);
            }
        }
    }
}

impl EventFeed {
    fn open_streams(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<UserId, usize>> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A stream slot for `user`, or `None` when they have `max_per_user` open on this node.
    pub(super) fn take_slot(self: &Arc<Self>, user: UserId) -> Option<Slot> {
        let mut open = self.open_streams();
        let n = open.entry(user).or_default();
        if *n >= self.settings.max_per_user {
            return None;
        }
        *n += 1;
        Some(Slot {
            feed: self.clone(),
            user,
        })
    }
}

/// `id: <cursor>`, an optional `event:` name, and the JSON data.
fn frame(id: &str, event: Option<&str>, data: &serde_json::Value) -> Bytes {
    let name = event.map(|e| format!("event: {e}\n")).unwrap_or_default();
    Bytes::from(format!("id: {id}\n{name}data: {data}\n\n"))
}

/// A project event: the default (`message`) SSE event, its `type` in the data.
fn event_frame(event: &ProjectEvent) -> Bytes {
    frame(&event.id, None, &json!(event))
}

/// Where the stream stands: `ready` at the start, `reset` after a cursor below the horizon.
pub(super) fn position_frame(event: &str, cursor: EventCursor) -> Bytes {
    frame(
        &cursor.to_string(),
        Some(event),
        &json!({ "id": cursor.to_string() }),
    )
}

/// Ticks every `every`, the first after `first`.
fn interval(first: Duration, every: Duration) -> Interval {
    let mut tick = tokio::time::interval_at(Instant::now() + first, every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick
}

pub(super) struct Live {
    pub feed: Arc<EventFeed>,
    pub access: Arc<dyn ProjectAccess>,
    pub project: ProjectId,
    pub user: UserId,
    pub cursor: EventCursor,
    /// Nudges from every node; `None` once the bus is gone (the poll still runs).
    pub nudges: Option<broadcast::Receiver<Nudge>>,
    /// Frames to send before anything else.
    pub queue: VecDeque<Bytes>,
    pub _slot: Slot,
}

struct Running {
    live: Live,
    heartbeat: Interval,
    poll: Interval,
    /// Read the feed before waiting again.
    due: bool,
    ended: bool,
}

impl Live {
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, actix_web::Error>> + 'static {
        let settings = self.feed.settings;
        let running = Running {
            live: self,
            heartbeat: interval(settings.heartbeat, settings.heartbeat),
            poll: interval(settings.poll + jitter(settings.poll), settings.poll),
            due: true,
            ended: false,
        };
        futures_util::stream::unfold(running, |mut running| async move {
            let next = running.next().await?;
            Some((Ok(next), running))
        })
    }
}

async fn nudged(nudges: &mut Option<broadcast::Receiver<Nudge>>) -> Option<Nudge> {
    let Some(receiver) = nudges else {
        return std::future::pending().await;
    };
    match receiver.recv().await {
        Ok(nudge) => Some(nudge),
        Err(RecvError::Lagged(_)) => Some(Nudge::MaybeMissed),
        Err(RecvError::Closed) => {
            *nudges = None;
            None
        }
    }
}

impl Running {
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(frame) = self.live.queue.pop_front() {
                return Some(frame);
            }
            if self.ended {
                return None;
            }
            if self.due {
                self.due = false;
                self.read().await;
                continue;
            }
            tokio::select! {
                nudge = nudged(&mut self.live.nudges) => match nudge {
                    Some(Nudge::Project(p)) => self.due = p == self.live.project,
                    Some(Nudge::MaybeMissed) => self.due = true,
                    None => {}
                },
                // While the bus is up its nudges say when to read; the poll covers its
                // outages (a reconnect also brings `MaybeMissed`).
                _ = self.poll.tick() => self.due = !self.live.feed.bus.connected(),
                _ = self.heartbeat.tick() => return Some(Bytes::from_static(HEARTBEAT)),
            }
        }
    }

    /// One page of the feed into the queue, then whether the caller may still read.
    async fn read(&mut self) {
        let live = &mut self.live;
        match live
            .feed
            .after(live.project, live.cursor, Some(live.user), PAGE)
            .await
        {
            Ok(page) => {
                for event in &page.events {
                    live.queue.push_back(event_frame(event));
                    if event.kind == "member.removed" && event.data["user_id"] == json!(live.user) {
                        // Their own removal is the last thing they see of this project.
                        self.ended = true;
                        return;
                    }
                }
                live.cursor = page.cursor;
                self.due = page.has_more;
            }
            Err(FeedError::Gone) => match live.feed.present(live.project).await {
                Ok(present) => {
                    live.cursor = present;
                    live.queue.push_back(position_frame("reset", present));
                }
                Err(e) => tracing::warn!(error = %e, "reading the event feed failed"),
            },
            Err(e) => tracing::warn!(error = %e, "reading the event feed failed"),
        }
        match live.access.role(live.user, live.project).await {
            Ok(Some(_)) => {}
            Ok(None) => self.ended = true,
            Err(e) => tracing::warn!(error = %e, "could not recheck access to an event stream"),
        }
    }
}
