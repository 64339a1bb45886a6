//! The sender's queries on `mail_outbox` (the table is defined in `mdz_core::mail`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Int4, Interval, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use mdz_core::mail::mail_outbox;
use uuid::Uuid;

/// A mail claimed for one delivery attempt.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub recipient: String,
    #[diesel(sql_type = Text)]
    pub subject: String,
    #[diesel(sql_type = Text)]
    pub body_text: String,
    #[diesel(sql_type = Text)]
    pub body_html: String,
    /// 0 for account mail (sent first), 1 for the rest.
    #[diesel(sql_type = diesel::sql_types::SmallInt)]
    pub priority: i16,
    /// Attempts including this one.
    #[diesel(sql_type = Int4)]
    pub attempts: i32,
}

/// Claim up to `limit` due mails: each gets its attempt counted and is pushed `lease` into the
/// future, so another node (or this one after a crash) takes it again only once the lease
/// has run out. `SKIP LOCKED`: nodes claiming at once take different rows.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    limit: i64,
    lease: std::time::Duration,
) -> QueryResult<Vec<Claimed>> {
    let lease = diesel::data_types::PgInterval::from_microseconds(
        i64::try_from(lease.as_micros()).unwrap_or(i64::MAX),
    );
    diesel::sql_query(
        "UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = now() + $2
         WHERE id IN (
             SELECT id FROM mail_outbox
             WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
             ORDER BY priority, next_attempt_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED)
         RETURNING id, kind, recipient, subject, body_text, body_html, attempts, priority",
    )
    .bind::<BigInt, _>(limit)
    .bind::<Interval, _>(lease)
    .load(conn)
    .await
}

pub async fn mark_sent(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::update(mail_outbox::table.find(id))
        .set((
            mail_outbox::sent_at.eq(Utc::now()),
            mail_outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// A failed attempt: try again at `retry_at`, or give up (`None`).
pub async fn mark_failed(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> QueryResult<()> {
    let error: String = error.chars().take(1000).collect();
    match retry_at {
        Some(at) => diesel::update(mail_outbox::table.find(id))
            .set((
                mail_outbox::next_attempt_at.eq(at),
                mail_outbox::last_error.eq(error),
            ))
            .execute(conn)
            .await
            .map(drop),
        None => diesel::update(mail_outbox::table.find(id))
            .set((
                mail_outbox::failed_at.eq(Utc::now()),
                mail_outbox::last_error.eq(error),
            ))
            .execute(conn)
            .await
            .map(drop),
    }
}

/// Mails still to deliver (due or waiting for a retry).
pub async fn backlog(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    mail_outbox::table
        .filter(mail_outbox::sent_at.is_null())
        .filter(mail_outbox::failed_at.is_null())
        .count()
        .get_result(conn)
        .await
}

/// Delete up to `limit` mails delivered or given up before `before` (their bodies hold
/// tokens: they are not kept longer than needed).
pub async fn purge_done(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
    limit: i64,
) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM mail_outbox WHERE id IN (
             SELECT id FROM mail_outbox
             WHERE (sent_at IS NOT NULL OR failed_at IS NOT NULL) AND updated_at < $1
             LIMIT $2)",
    )
    .bind::<Timestamptz, _>(before)
    .bind::<BigInt, _>(limit)
    .execute(conn)
    .await
}
