//! diesel-async queries of webhooks and their deliveries; the service owns transactions.

use crate::interface::{DeliveryId, WebhookId};
use crate::schema::{webhook_attempts, webhook_deliveries, webhooks};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error;
use diesel::sql_types::{BigInt, Int4, Interval, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use mdz_core::ids::{ProjectId, UserId};
use std::time::Duration;
use uuid::Uuid;

/// `Debug` leaves the secret out (rows end up in logs and panics).
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhooks)]
pub struct WebhookRow {
    pub id: WebhookId,
    pub project_id: ProjectId,
    pub url: String,
    pub events: Vec<String>,
    pub secret: Vec<u8>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub file_cursor: i64,
    pub event_cursor: i64,
    pub last_success_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by: UserId,
    pub updated_by: UserId,
}

/// `Debug` leaves a new secret out.
#[derive(Default, AsChangeset)]
#[diesel(table_name = webhooks)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
    pub disabled_reason: Option<Option<String>>,
    pub file_cursor: Option<i64>,
    pub event_cursor: Option<i64>,
    pub secret: Option<Vec<u8>>,
    pub updated_by: Option<UserId>,
}

/// What `Debug` shows instead of a signing secret.
pub const REDACTED: &str = "[redacted]";

impl std::fmt::Debug for WebhookRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRow")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &REDACTED)
            .field("enabled", &self.enabled)
            .field("disabled_reason", &self.disabled_reason)
            .field("file_cursor", &self.file_cursor)
            .field("event_cursor", &self.event_cursor)
            .field("created_by", &self.created_by)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for WebhookChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookChanges")
            .field("url", &self.url)
            .field("events", &self.events)
            .field("enabled", &self.enabled)
            .field("disabled_reason", &self.disabled_reason)
            .field("secret", &self.secret.as_ref().map(|_| REDACTED))
            .field("updated_by", &self.updated_by)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event_type: String,
    pub body: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_attempts)]
pub struct AttemptRow {
    pub delivery_id: DeliveryId,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub response_excerpt: String,
    pub duration_ms: i32,
}

/// A duration as a PostgreSQL interval.
pub(crate) fn interval(d: Duration) -> diesel::data_types::PgInterval {
    diesel::data_types::PgInterval::from_microseconds(
        i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
    )
}

pub async fn insert_webhook(conn: &mut AsyncPgConnection, row: &WebhookRow) -> Result<(), Error> {
    diesel::insert_into(webhooks::table)
        .values(row)
        .execute(conn)
        .await
        .map(drop)
}

/// Serialise creations in one project (the per-project limit), until the transaction ends.
pub async fn lock_project(conn: &mut AsyncPgConnection, project: ProjectId) -> Result<(), Error> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended('webhooks:' || $1::text, 0))")
        .bind::<SqlUuid, _>(project.0)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn count_in_project(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
) -> Result<i64, Error> {
    webhooks::table
        .filter(webhooks::project_id.eq(project))
        .count()
        .get_result(conn)
        .await
}

pub async fn get_webhook(
    conn: &mut AsyncPgConnection,
    id: WebhookId,
) -> Result<Option<WebhookRow>, Error> {
    webhooks::table
        .find(id)
        .select(WebhookRow::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn list_webhooks(
    conn: &mut AsyncPgConnection,
    project: ProjectId,
    after: Option<WebhookId>,
    limit: i64,
) -> Result<Vec<WebhookRow>, Error> {
    let mut q = webhooks::table
        .filter(webhooks::project_id.eq(project))
        .select(WebhookRow::as_select())
        .order(webhooks::id.asc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(webhooks::id.gt(after));
    }
    q.load(conn).await
}

pub async fn update_webhook(
    conn: &mut AsyncPgConnection,
    id: WebhookId,
    changes: &WebhookChanges,
) -> Result<Option<WebhookRow>, Error> {
    diesel::update(webhooks::table.find(id))
        .set(changes)
        .returning(WebhookRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

pub async fn delete_webhook(conn: &mut AsyncPgConnection, id: WebhookId) -> Result<bool, Error> {
    diesel::delete(webhooks::table.find(id))
        .execute(conn)
        .await
        .map(|n| n > 0)
}

/// A webhook's deliveries, newest first.
pub async fn list_deliveries(
    conn: &mut AsyncPgConnection,
    webhook: WebhookId,
    before: Option<DeliveryId>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, Error> {
    let mut q = webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook))
        .select(DeliveryRow::as_select())
        .order(webhook_deliveries::id.desc())
        .limit(limit + 1)
        .into_boxed();
    if let Some(before) = before {
        q = q.filter(webhook_deliveries::id.lt(before));
    }
    q.load(conn).await
}

pub async fn get_delivery(
    conn: &mut AsyncPgConnection,
    id: DeliveryId,
) -> Result<Option<DeliveryRow>, Error> {
    webhook_deliveries::table
        .find(id)
        .select(DeliveryRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The latest `per` attempts of each delivery, newest first.
pub async fn attempts_of(
    conn: &mut AsyncPgConnection,
    deliveries: &[DeliveryId],
    per: i64,
) -> Result<Vec<AttemptRow>, Error> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = SqlUuid)]
        delivery_id: Uuid,
        #[diesel(sql_type = Timestamptz)]
        attempted_at: DateTime<Utc>,
        #[diesel(sql_type = Nullable<Int4>)]
        status_code: Option<i32>,
        #[diesel(sql_type = Nullable<Text>)]
        error: Option<String>,
        #[diesel(sql_type = Text)]
        response_excerpt: String,
        #[diesel(sql_type = Int4)]
        duration_ms: i32,
    }
    let ids: Vec<Uuid> = deliveries.iter().map(|d| d.0).collect();
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT delivery_id, attempted_at, status_code, error, response_excerpt, duration_ms
         FROM (SELECT *, row_number() OVER (PARTITION BY delivery_id ORDER BY id DESC) AS n
               FROM webhook_attempts WHERE delivery_id = ANY($1)) a
         WHERE n <= $2 ORDER BY delivery_id, id DESC",
    )
    .bind::<diesel::sql_types::Array<SqlUuid>, _>(ids)
    .bind::<BigInt, _>(per)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AttemptRow {
            delivery_id: DeliveryId(r.delivery_id),
            attempted_at: r.attempted_at,
            status_code: r.status_code,
            error: r.error,
            response_excerpt: r.response_excerpt,
            duration_ms: r.duration_ms,
        })
        .collect())
}

/// Send a delivery again: a new round of the retry schedule, due now. `None` when it is
/// pending already (or gone).
pub async fn redeliver(
    conn: &mut AsyncPgConnection,
    id: DeliveryId,
) -> Result<Option<DeliveryRow>, Error> {
    diesel::update(
        webhook_deliveries::table
            .find(id)
            .filter(webhook_deliveries::status.ne("pending")),
    )
    .set((
        webhook_deliveries::status.eq("pending"),
        webhook_deliveries::step.eq(0),
        webhook_deliveries::next_attempt_at.eq(Utc::now()),
        webhook_deliveries::delivered_at.eq(None::<DateTime<Utc>>),
    ))
    .returning(DeliveryRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// A delivery to add to the outbox.
#[derive(Debug)]
pub struct NewDelivery<'a> {
    pub webhook: WebhookId,
    pub event_type: &'a str,
    pub subject: Option<Uuid>,
    pub body: &'a str,
    /// Wait this long before the first attempt.
    pub delay: Duration,
}

/// Add a delivery; returns its id.
pub async fn insert_delivery(
    conn: &mut AsyncPgConnection,
    new: &NewDelivery<'_>,
) -> Result<DeliveryId, Error> {
    let id = DeliveryId::new();
    diesel::sql_query(
        "INSERT INTO webhook_deliveries (id, webhook_id, event_type, subject, body, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, now() + $6)",
    )
    .bind::<SqlUuid, _>(id.0)
    .bind::<SqlUuid, _>(new.webhook.0)
    .bind::<Text, _>(new.event_type)
    .bind::<Nullable<SqlUuid>, _>(new.subject)
    .bind::<Text, _>(new.body)
    .bind::<Interval, _>(interval(new.delay))
    .execute(conn)
    .await?;
    Ok(id)
}

/// Add a `file.updated` delivery, or fold it into the one of the same webhook and document
/// not yet attempted: its body becomes this one's and its first attempt moves to `delay` from
/// now, but never later than `max_wait` after it was queued. `true` when a row was added.
pub async fn upsert_coalesced(
    conn: &mut AsyncPgConnection,
    new: &NewDelivery<'_>,
    max_wait: Duration,
) -> Result<bool, Error> {
    #[derive(QueryableByName)]
    struct Added {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        added: bool,
    }
    diesel::sql_query(
        "INSERT INTO webhook_deliveries (id, webhook_id, event_type, subject, body, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, now() + $6)
         ON CONFLICT (webhook_id, subject)
             WHERE status = 'pending' AND attempts = 0 AND event_type = 'file.updated'
         DO UPDATE SET body = EXCLUDED.body,
             next_attempt_at = LEAST(EXCLUDED.next_attempt_at, webhook_deliveries.created_at + $7)
         RETURNING (xmax = 0) AS added",
    )
    .bind::<SqlUuid, _>(Uuid::now_v7())
    .bind::<SqlUuid, _>(new.webhook.0)
    .bind::<Text, _>(new.event_type)
    .bind::<Nullable<SqlUuid>, _>(new.subject)
    .bind::<Text, _>(new.body)
    .bind::<Interval, _>(interval(new.delay))
    .bind::<Interval, _>(interval(max_wait))
    .get_result::<Added>(conn)
    .await
    .map(|a| a.added)
}

/// Deliveries and attempts older than `before`, at most `limit` deliveries a call.
pub async fn purge_before(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<usize, Error> {
    diesel::sql_query(
        "DELETE FROM webhook_deliveries WHERE id IN (
             SELECT id FROM webhook_deliveries
             WHERE created_at < $1 LIMIT $2)",
    )
    .bind::<Timestamptz, _>(before)
    .bind::<BigInt, _>(limit)
    .execute(conn)
    .await
}
