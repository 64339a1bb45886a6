//! The outbox queries of the dispatcher (events → deliveries) and the sender (deliveries →
//! HTTP attempts).

use crate::repo::interval;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel::sql_types::{
    Array, BigInt, Bytea, Int4, Int8, Interval, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::time::Duration;
use uuid::Uuid;

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// An enabled webhook whose project's feeds have numbered entries past its cursors.
#[derive(Debug, QueryableByName)]
pub struct Behind {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub project_id: Uuid,
    #[diesel(sql_type = Array<Text>)]
    pub events: Vec<String>,
    #[diesel(sql_type = Int8)]
    pub file_cursor: i64,
    #[diesel(sql_type = Int8)]
    pub event_cursor: i64,
    #[diesel(sql_type = SqlUuid)]
    pub created_by: Uuid,
}

/// Webhooks with something to dispatch: their project's feed counters (the last numbers
/// given, see `mdz_core::feed`) are past their cursors. One index probe per webhook. Least
/// recently touched first: a dispatch moves the cursor (and so `updated_at`), a failed one
/// [`touch`]es the row, so with more than a round's worth behind every webhook gets its turn.
pub async fn webhooks_behind(
    conn: &mut AsyncPgConnection,
    limit: i64,
) -> Result<Vec<Behind>, Error> {
    diesel::sql_query(
        "SELECT w.id, w.project_id, w.events, w.file_cursor, w.event_cursor, w.created_by
         FROM webhooks w
         WHERE w.enabled AND (
             EXISTS (SELECT 1 FROM file_change_counters c
                     WHERE c.project_id = w.project_id AND c.seq > w.file_cursor)
             OR EXISTS (SELECT 1 FROM project_event_counters e
                        WHERE e.project_id = w.project_id AND e.seq > w.event_cursor))
         ORDER BY w.updated_at, w.id LIMIT $1",
    )
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// Lock an enabled webhook still at these cursors for one dispatch (`false`: disabled, gone,
/// moved on, or another node has it).
pub async fn lock_at(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    (files, events): (i64, i64),
) -> Result<bool, Error> {
    let rows: Vec<Id> = diesel::sql_query(
        "SELECT id FROM webhooks
         WHERE id = $1 AND enabled AND file_cursor = $2 AND event_cursor = $3
         FOR UPDATE SKIP LOCKED",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Int8, _>(files)
    .bind::<Int8, _>(events)
    .load(conn)
    .await?;
    Ok(rows.iter().any(|r| r.id == id))
}

/// Send a webhook to the back of the dispatch order (its dispatch failed).
pub async fn touch(conn: &mut AsyncPgConnection, id: Uuid) -> Result<(), Error> {
    diesel::sql_query("UPDATE webhooks SET updated_at = now() WHERE id = $1")
        .bind::<SqlUuid, _>(id)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn set_cursors(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    (files, events): (i64, i64),
) -> Result<(), Error> {
    diesel::sql_query("UPDATE webhooks SET file_cursor = $2, event_cursor = $3 WHERE id = $1")
        .bind::<SqlUuid, _>(id)
        .bind::<Int8, _>(files)
        .bind::<Int8, _>(events)
        .execute(conn)
        .await
        .map(drop)
}

/// A delivery claimed for one attempt, with what sending it needs (`Debug` leaves the
/// secret out).
#[derive(Clone, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub webhook_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub project_id: Uuid,
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = Bytea)]
    pub secret: Vec<u8>,
    #[diesel(sql_type = Text)]
    pub event_type: String,
    #[diesel(sql_type = Text)]
    pub body: String,
    /// Attempts of this round, this one included.
    #[diesel(sql_type = Int4)]
    pub step: i32,
    /// The lease: every claim counts an attempt, so the delivery's `attempts` still being
    /// this number at settle time means no other claim took it since.
    #[diesel(sql_type = Int4)]
    pub attempts: i32,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimed")
            .field("id", &self.id)
            .field("webhook_id", &self.webhook_id)
            .field("project_id", &self.project_id)
            .field("url", &self.url)
            .field("secret", &crate::repo::REDACTED)
            .field("event_type", &self.event_type)
            .field("step", &self.step)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Claim up to `limit` due deliveries of enabled webhooks: each gets its attempt counted and
/// is pushed `lease` into the future, so another node (or this one after a crash) takes it
/// again only after the lease. `SKIP LOCKED`: nodes claiming at once take different rows.
/// At most `per_webhook` of one webhook's deliveries are claimed at once, so a slow or
/// flooded receiver takes that many of a round's slots, not all of them.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    limit: i64,
    lease: Duration,
    per_webhook: i64,
) -> Result<Vec<Claimed>, Error> {
    diesel::sql_query(
        "UPDATE webhook_deliveries d
         SET attempts = d.attempts + 1, step = d.step + 1, next_attempt_at = now() + $2
         FROM webhooks w
         WHERE w.id = d.webhook_id AND d.id IN (
             SELECT d3.id FROM webhook_deliveries d3
             WHERE d3.status = 'pending' AND d3.next_attempt_at <= now() AND d3.id IN (
                 SELECT r.id FROM (
                     SELECT d2.id, d2.next_attempt_at,
                            row_number() OVER (PARTITION BY d2.webhook_id
                                               ORDER BY d2.next_attempt_at, d2.id) AS n
                     FROM webhook_deliveries d2
                     JOIN webhooks w2 ON w2.id = d2.webhook_id
                     WHERE d2.status = 'pending' AND d2.next_attempt_at <= now()
                       AND w2.enabled) r
                 WHERE r.n <= $3
                 ORDER BY r.next_attempt_at
                 LIMIT $1)
             FOR UPDATE SKIP LOCKED)
         RETURNING d.id, d.webhook_id, w.project_id, w.url, w.secret, d.event_type, d.body,
                   d.step, d.attempts, d.created_at",
    )
    .bind::<BigInt, _>(limit)
    .bind::<Interval, _>(interval(lease))
    .bind::<BigInt, _>(per_webhook)
    .load(conn)
    .await
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub excerpt: String,
    pub duration_ms: i32,
}

pub async fn record_attempt(
    conn: &mut AsyncPgConnection,
    delivery: Uuid,
    outcome: &AttemptOutcome,
) -> Result<(), Error> {
    diesel::sql_query(
        "INSERT INTO webhook_attempts (delivery_id, status_code, error, response_excerpt, duration_ms)
         SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = $1)",
    )
    .bind::<SqlUuid, _>(delivery)
    .bind::<Nullable<Int4>, _>(outcome.status_code)
    .bind::<Nullable<Text>, _>(outcome.error.as_deref())
    .bind::<Text, _>(&outcome.excerpt)
    .bind::<Int4, _>(outcome.duration_ms)
    .execute(conn)
    .await
    .map(drop)
}

/// Delivered: the delivery is done and the webhook has a success (`false`: the lease was
/// lost, the delivery is another claim's now and is left alone).
pub async fn mark_delivered(
    conn: &mut AsyncPgConnection,
    claimed: &Claimed,
    status: i32,
) -> Result<bool, Error> {
    let settled = diesel::sql_query(
        "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(),
             last_status = $2, last_error = NULL
         WHERE id = $1 AND attempts = $3 AND status = 'pending'",
    )
    .bind::<SqlUuid, _>(claimed.id)
    .bind::<Int4, _>(status)
    .bind::<Int4, _>(claimed.attempts)
    .execute(conn)
    .await?;
    if settled == 0 {
        return Ok(false);
    }
    diesel::sql_query("UPDATE webhooks SET last_success_at = now() WHERE id = $1")
        .bind::<SqlUuid, _>(claimed.webhook_id)
        .execute(conn)
        .await
        .map(|_| true)
}

/// A failed attempt: try again at `retry_at`, or give up (`None`); `false` when the lease
/// was lost (nothing changed).
pub async fn mark_failed(
    conn: &mut AsyncPgConnection,
    claimed: &Claimed,
    outcome: &AttemptOutcome,
    retry_at: Option<DateTime<Utc>>,
) -> Result<bool, Error> {
    diesel::sql_query(
        "UPDATE webhook_deliveries SET
             status = CASE WHEN $4::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
             next_attempt_at = COALESCE($4, next_attempt_at),
             last_status = $2, last_error = $3
         WHERE id = $1 AND attempts = $5 AND status = 'pending'",
    )
    .bind::<SqlUuid, _>(claimed.id)
    .bind::<Nullable<Int4>, _>(outcome.status_code)
    .bind::<Nullable<Text>, _>(outcome.error.as_deref())
    .bind::<Nullable<Timestamptz>, _>(retry_at)
    .bind::<Int4, _>(claimed.attempts)
    .execute(conn)
    .await
    .map(|n| n > 0)
}

/// Disable a webhook that has had no success since `since` (its given-up delivery was
/// queued then); `Some(url)` when this call disabled it.
pub async fn disable_if_failing(
    conn: &mut AsyncPgConnection,
    webhook: Uuid,
    since: DateTime<Utc>,
    reason: &str,
) -> Result<Option<String>, Error> {
    #[derive(QueryableByName)]
    struct Url {
        #[diesel(sql_type = Text)]
        url: String,
    }
    let row: Option<Url> = diesel::sql_query(
        "UPDATE webhooks SET enabled = false, disabled_reason = $3
         WHERE id = $1 AND enabled AND (last_success_at IS NULL OR last_success_at < $2)
         RETURNING url",
    )
    .bind::<SqlUuid, _>(webhook)
    .bind::<Timestamptz, _>(since)
    .bind::<Text, _>(reason)
    .get_result(conn)
    .await
    .optional()?;
    Ok(row.map(|r| r.url))
}

/// Disable an enabled webhook for `reason` and fail its pending deliveries (`true` when
/// this call disabled it).
pub async fn disable(
    conn: &mut AsyncPgConnection,
    webhook: Uuid,
    reason: &str,
) -> Result<bool, Error> {
    conn.transaction::<_, Error, _>(async |conn: &mut AsyncPgConnection| {
        let n = diesel::sql_query(
            "UPDATE webhooks SET enabled = false, disabled_reason = $2 WHERE id = $1 AND enabled",
        )
        .bind::<SqlUuid, _>(webhook)
        .bind::<Text, _>(reason)
        .execute(conn)
        .await?;
        if n > 0 {
            fail_pending(conn, webhook).await?;
        }
        Ok(n > 0)
    })
    .await
}

/// What a delivery still pending when its webhook was disabled says in its log.
pub const DISABLED_WHILE_PENDING: &str = "not sent: the webhook was disabled";

/// Fail the pending deliveries of a webhook being disabled, so re-enabling it does not send
/// them all at once (each can still be redelivered); returns how many.
pub async fn fail_pending(conn: &mut AsyncPgConnection, webhook: Uuid) -> Result<usize, Error> {
    diesel::sql_query(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = $2
         WHERE webhook_id = $1 AND status = 'pending'",
    )
    .bind::<SqlUuid, _>(webhook)
    .bind::<Text, _>(DISABLED_WHILE_PENDING)
    .execute(conn)
    .await
}

/// Deliveries still to send (due or waiting for a retry) of enabled webhooks.
pub async fn backlog(conn: &mut AsyncPgConnection) -> Result<i64, Error> {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    diesel::sql_query(
        "SELECT count(*) AS n FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
         WHERE d.status = 'pending' AND w.enabled",
    )
    .get_result::<N>(conn)
    .await
    .map(|n| n.n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_leaves_the_secret_out() {
        let claimed = Claimed {
            id: Uuid::nil(),
            webhook_id: Uuid::nil(),
            project_id: Uuid::nil(),
            url: "https://x.example/h".into(),
            secret: b"topsecret".to_vec(),
            event_type: "file.created".into(),
            body: "{}".into(),
            step: 1,
            attempts: 1,
            created_at: Utc::now(),
        };
        let shown = format!("{claimed:?}");
        assert!(shown.contains(crate::repo::REDACTED), "{shown}");
        assert!(!shown.contains("116, 111, 112"), "{shown}");
        let changes = crate::repo::WebhookChanges {
            secret: Some(b"topsecret".to_vec()),
            ..Default::default()
        };
        let shown = format!("{changes:?}");
        assert!(shown.contains(crate::repo::REDACTED), "{shown}");
        assert!(!shown.contains("116, 111, 112"), "{shown}");
    }
}
