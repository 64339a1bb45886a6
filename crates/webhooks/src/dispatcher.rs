//! Events → deliveries. For each enabled webhook whose project has events past its cursor,
//! one transaction locks the webhook, reads the events after the cursor, writes a delivery
//! for each one it subscribes to and advances the cursor: each event becomes exactly one
//! delivery per webhook (the transactional outbox), whichever node runs the round.
//!
//! The events come from the project's file change feed (`file_changes`, numbered after
//! commit by mdz-files).

use crate::metrics::Metrics;
use crate::outbox::{self, FileChange};
use crate::repo::{self, NewDelivery};
use chrono::{DateTime, SecondsFormat, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use mdz_core::db::{self, DbError, DbPool};
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

/// The body of a delivery: `{type, timestamp, data}` (Standard Webhooks).
pub fn payload(event_type: &str, at: DateTime<Utc>, data: serde_json::Value) -> String {
    serde_json::json!({
        "type": event_type,
        "timestamp": at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "data": data,
    })
    .to_string()
}

/// The webhook event of a change feed entry.
fn file_event(kind: &str) -> Option<&'static str> {
    match kind {
        "created" => Some("file.created"),
        // A rename changes the document's path: an update to whoever follows it.
        "updated" | "renamed" => Some("file.updated"),
        "deleted" => Some("file.deleted"),
        "restored" => Some("file.restored"),
        _ => None,
    }
}

fn file_data(project: Uuid, change: &FileChange) -> serde_json::Value {
    serde_json::json!({
        "project_id": project,
        "file_id": change.file_id,
        "path": change.path,
        "revision": change.revision,
        "change": change.kind,
        "seq": change.seq,
        "actor_id": change.created_by,
    })
}

/// One round over every webhook that is behind; returns the deliveries written.
pub async fn round(pool: &DbPool, metrics: &Metrics) -> Result<u64, DbError> {
    let mut conn = db::conn(pool).await?;
    let mut written = 0;
    for id in outbox::webhooks_behind(&mut conn, WEBHOOKS_PER_ROUND).await? {
        written += (*conn)
            .transaction::<_, diesel::result::Error, _>(async |conn: &mut AsyncPgConnection| {
                dispatch(conn, id, metrics).await
            })
            .await?;
    }
    Ok(written)
}

async fn dispatch(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    metrics: &Metrics,
) -> Result<u64, diesel::result::Error> {
    let Some(hook) = outbox::lock_for_dispatch(conn, id).await? else {
        return Ok(0);
    };
    let changes =
        outbox::file_changes_after(conn, hook.project_id, hook.file_cursor, EVENTS_PER_ROUND)
            .await?;
    let mut written = 0;
    for change in &changes {
        let Some(event) = file_event(&change.kind) else {
            continue;
        };
        if !hook.events.iter().any(|e| e == event) {
            continue;
        }
        let body = payload(event, change.created_at, file_data(hook.project_id, change));
        let new = NewDelivery {
            webhook: crate::interface::WebhookId(hook.id),
            event_type: event,
            subject: Some(change.file_id),
            body: &body,
            delay: Duration::ZERO,
        };
        if event == "file.updated" {
            let new = NewDelivery {
                delay: COALESCE_DELAY,
                ..new
            };
            if repo::upsert_coalesced(conn, &new, COALESCE_MAX_WAIT).await? {
                metrics.queued.inc();
                written += 1;
            } else {
                metrics.coalesced.inc();
            }
        } else {
            repo::insert_delivery(conn, &new).await?;
            metrics.queued.inc();
            written += 1;
        }
    }
    if let Some(last) = changes.last() {
        outbox::set_cursor(conn, id, last.seq).await?;
    }
    Ok(written)
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
    fn feed_kinds_map_to_events() {
        assert_eq!(file_event("renamed"), Some("file.updated"));
        assert_eq!(file_event("restored"), Some("file.restored"));
        assert_eq!(file_event("compacted"), None);
    }
}
