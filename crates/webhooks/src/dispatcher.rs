//! Events → deliveries. For each enabled webhook whose project has events past its cursor,
//! the events after the cursor are read through the merged feed port
//! (`mdz_core::events::ProjectFeed`: file changes and the project event log, committed and
//! numbered); then one transaction locks the webhook *at that cursor*, writes a delivery for
//! each event it subscribes to and advances the cursor. Each event becomes exactly one
//! delivery per webhook (the transactional outbox), whichever node runs the round: a node
//! that finds the cursor moved (another node dispatched the same page) writes nothing.

use crate::interface::WebhookId;
use crate::metrics::Metrics;
use crate::outbox::{self, Behind};
use crate::repo::{self, NewDelivery};
use chrono::{DateTime, SecondsFormat, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use mdz_core::access::{AccessError, Action, ProjectAccess, Role};
use mdz_core::db::{self, DbPool};
use mdz_core::events::{EventCursor, FeedError, ProjectEvent, ProjectFeed};
use mdz_core::ids::{ProjectId, UserId};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

/// How often a node looks for new events.
pub const DISPATCH_EVERY: Duration = Duration::from_millis(500);
/// A `file.updated` delivery waits this long for more updates of the same document, so live
/// typing gives one call…
pub const COALESCE_DELAY: Duration = Duration::from_secs(3);
/// …but a document edited without pause is still sent at least this often.
pub const COALESCE_MAX_WAIT: Duration = Duration::from_secs(30);
/// Events read per webhook and transaction (the rest wait for the next round).
const EVENTS_PER_ROUND: i64 = 500;
/// Webhooks served per round.
const WEBHOOKS_PER_ROUND: i64 = 200;
/// Why a webhook whose creator may no longer manage webhooks was disabled.
pub const CREATOR_LOST_ACCESS: &str =
    "its creator is no longer an admin or owner of the project; create it again";

/// The body of a delivery: `{type, timestamp, data}` (Standard Webhooks).
pub fn payload(event_type: &str, at: DateTime<Utc>, data: serde_json::Value) -> String {
    serde_json::json!({
        "type": event_type,
        "timestamp": at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "data": data,
    })
    .to_string()
}

/// The webhook event type of a feed event (`None`: not one webhooks send).
fn webhook_type(kind: &str) -> Option<&'static str> {
    match kind {
        "file.created" => Some("file.created"),
        // A rename changes the document's path: an update to whoever follows it.
        "file.updated" | "file.renamed" => Some("file.updated"),
        "file.deleted" => Some("file.deleted"),
        "file.restored" => Some("file.restored"),
        "comment.created" => Some("comment.created"),
        "member.added" => Some("member.added"),
        "member.removed" => Some("member.removed"),
        _ => None,
    }
}

/// The `data` of a delivery: the event's own fields, its project, actor and feed position.
fn event_data(event: &ProjectEvent) -> serde_json::Value {
    let mut data = match &event.data {
        serde_json::Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    data.insert("project_id".into(), serde_json::json!(event.project_id));
    data.insert("actor_id".into(), serde_json::json!(event.actor));
    data.insert("event_id".into(), serde_json::json!(event.id));
    if let Some(change) = event.kind.strip_prefix("file.") {
        // `renamed` is sent as `file.updated`: say which.
        data.insert("change".into(), serde_json::json!(change));
    }
    serde_json::Value::Object(data)
}

/// Why a dispatch round stopped.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("reading the project feed")]
    Feed(#[from] FeedError),
    #[error("checking the webhook creator's role")]
    Access(#[from] AccessError),
}

impl From<diesel::result::Error> for DispatchError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Feed(e.into())
    }
}

impl From<mdz_core::db::DbError> for DispatchError {
    fn from(e: mdz_core::db::DbError) -> Self {
        Self::Feed(e.into())
    }
}

/// One round over every webhook that is behind; returns the deliveries written. A webhook
/// whose creator is no longer an admin or owner of its project is disabled instead (roles
/// are looked up once per creator and project per round).
pub async fn round(
    pool: &DbPool,
    feed: &dyn ProjectFeed,
    access: &dyn ProjectAccess,
    metrics: &Metrics,
) -> Result<u64, DispatchError> {
    let behind = {
        let mut conn = db::conn(pool).await?;
        outbox::webhooks_behind(&mut conn, WEBHOOKS_PER_ROUND).await?
    };
    let mut roles: HashMap<(Uuid, Uuid), Option<Role>> = HashMap::new();
    let mut written = 0;
    for hook in behind {
        // One webhook failing (its feed, its creator's role) does not end the round.
        match serve(pool, feed, access, metrics, &mut roles, &hook).await {
            Ok(n) => written += n,
            Err(e) => {
                tracing::warn!(webhook_id = %hook.id, error = %e, "webhook dispatch failed");
                if let Ok(mut conn) = db::conn(pool).await
                    && let Err(e) = outbox::touch(&mut conn, hook.id).await
                {
                    tracing::warn!(webhook_id = %hook.id, error = %e, "webhook not moved back");
                }
            }
        }
    }
    Ok(written)
}

/// Dispatch one webhook, or disable it when its creator may no longer manage webhooks.
async fn serve(
    pool: &DbPool,
    feed: &dyn ProjectFeed,
    access: &dyn ProjectAccess,
    metrics: &Metrics,
    roles: &mut HashMap<(Uuid, Uuid), Option<Role>>,
    hook: &Behind,
) -> Result<u64, DispatchError> {
    if !creator_may_manage(access, roles, hook).await? {
        let mut conn = db::conn(pool).await?;
        if outbox::disable(&mut conn, hook.id, CREATOR_LOST_ACCESS).await? {
            tracing::info!(webhook_id = %hook.id, creator = %hook.created_by, "webhook disabled: its creator lost the right to manage webhooks");
        }
        return Ok(0);
    }
    Ok(dispatch(pool, feed, metrics, hook).await?)
}

/// May the webhook's creator still configure its project (owner or admin)?
async fn creator_may_manage(
    access: &dyn ProjectAccess,
    roles: &mut HashMap<(Uuid, Uuid), Option<Role>>,
    hook: &Behind,
) -> Result<bool, AccessError> {
    let key = (hook.created_by, hook.project_id);
    let role = match roles.get(&key) {
        Some(role) => *role,
        None => {
            let role = access
                .role(UserId(hook.created_by), ProjectId(hook.project_id))
                .await?;
            roles.insert(key, role);
            role
        }
    };
    Ok(Action::Configure.check(role).is_ok())
}

async fn dispatch(
    pool: &DbPool,
    feed: &dyn ProjectFeed,
    metrics: &Metrics,
    hook: &Behind,
) -> Result<u64, FeedError> {
    let project = ProjectId(hook.project_id);
    let at = (hook.file_cursor, hook.event_cursor);
    let cursor = EventCursor {
        files: hook.file_cursor,
        events: hook.event_cursor,
    };
    // `None` viewer: every member's events, never someone's notifications.
    let (events, next) = match feed.after(project, cursor, None, EVENTS_PER_ROUND).await {
        Ok(page) => (page.events, page.cursor),
        Err(FeedError::Gone) => {
            // Compacted while the webhook was behind (days of failing dispatch): go on from
            // the present rather than never again.
            tracing::warn!(webhook_id = %hook.id, "webhook cursor below the feed's horizon; skipping to the present");
            (Vec::new(), feed.present(project).await?)
        }
        Err(e) => return Err(e),
    };
    let mut conn = db::conn(pool).await?;
    let written = (*conn)
        .transaction::<_, diesel::result::Error, _>(async |conn: &mut AsyncPgConnection| {
            if !outbox::lock_at(conn, hook.id, at).await? {
                return Ok(0);
            }
            let mut written = 0;
            for event in &events {
                written += write(conn, hook, event, metrics).await?;
            }
            outbox::set_cursors(conn, hook.id, (next.files, next.events)).await?;
            Ok(written)
        })
        .await?;
    Ok(written)
}

/// The delivery of one event, if the webhook subscribes to it (1 when a row was added).
async fn write(
    conn: &mut AsyncPgConnection,
    hook: &Behind,
    event: &ProjectEvent,
    metrics: &Metrics,
) -> Result<u64, diesel::result::Error> {
    let Some(kind) = webhook_type(&event.kind) else {
        return Ok(0);
    };
    if !hook.events.iter().any(|e| e == kind) {
        return Ok(0);
    }
    let body = payload(kind, event.at, event_data(event));
    let subject = event
        .data
        .get("file_id")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok());
    let new = NewDelivery {
        webhook: WebhookId(hook.id),
        event_type: kind,
        subject,
        body: &body,
        delay: Duration::ZERO,
    };
    if kind == "file.updated" && subject.is_some() {
        let new = NewDelivery {
            delay: COALESCE_DELAY,
            ..new
        };
        if repo::upsert_coalesced(conn, &new, COALESCE_MAX_WAIT).await? {
            metrics.queued.inc();
            return Ok(1);
        }
        metrics.coalesced.inc();
        return Ok(0);
    }
    repo::insert_delivery(conn, &new).await?;
    metrics.queued.inc();
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_have_the_standard_shape() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T04:00:00.5Z")
            .unwrap()
            .with_timezone(&Utc);
        let body: serde_json::Value =
            serde_json::from_str(&payload("file.created", at, serde_json::json!({"a": 1})))
                .unwrap();
        assert_eq!(body["type"], "file.created");
        assert_eq!(body["timestamp"], "2026-12-01T04:00:00.500000Z");
        assert_eq!(body["data"]["a"], 1);
    }

    #[test]
    fn feed_kinds_map_to_webhook_types() {
        assert_eq!(webhook_type("file.renamed"), Some("file.updated"));
        assert_eq!(webhook_type("file.restored"), Some("file.restored"));
        assert_eq!(webhook_type("member.added"), Some("member.added"));
        assert_eq!(webhook_type("notification"), None);
        assert_eq!(webhook_type("attachment.added"), None);
    }
}
