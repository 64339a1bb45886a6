//! Deliveries → signed HTTP POSTs. Each node claims due deliveries (`FOR UPDATE SKIP
//! LOCKED`, with a lease), sends them concurrently through the SSRF-guarded client, and
//! records every attempt. A failure is retried on [`crate::RetrySchedule`]; a delivery that
//! fails its whole schedule is given up, and its webhook disabled (with a mail to the
//! project's admins and owners, in the same transaction) unless it had a success since.

use crate::guard::{self, GuardedResolver};
use crate::metrics::Metrics;
use crate::outbox::{self, AttemptOutcome, Claimed};
use crate::signing;
use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures_util::StreamExt;
use mdz_core::access::ProjectAccess;
use mdz_core::db::{self, DbError, DbPool};
use mdz_core::ids::{ProjectId, UserId};
use mdz_core::mail::{Outbox, OutgoingMail, escape_html, html_page};
use mdz_core::ports::UserDirectory;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a node looks for due deliveries.
pub const SEND_EVERY: Duration = Duration::from_millis(500);
/// The longest a receiver may take to answer (connection included).
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of a receiver's answer kept in the delivery log.
pub const RESPONSE_EXCERPT_BYTES: usize = 2048;
/// Deliveries (and their attempts) are deleted this long after they were queued.
pub const DELIVERY_RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// Deliveries claimed per round, and sent at once.
const BATCH: i64 = 32;
const CONCURRENCY: usize = 8;
/// Deliveries of one webhook claimed per round (the rest of the batch serves others).
pub const PER_WEBHOOK: i64 = 2;
/// A claimed delivery is left to its claimer this long (a whole batch of timeouts, and
/// more) before another node may take it.
const LEASE: Duration = Duration::from_secs(120);
/// The longest stored error text.
const MAX_ERROR_CHARS: usize = 500;

pub struct Sender {
    pub pool: DbPool,
    pub client: reqwest::Client,
    pub allow_internal: bool,
    pub schedule: Vec<Duration>,
    pub metrics: Metrics,
    pub mail: Outbox,
    pub access: Arc<dyn ProjectAccess>,
    pub users: Arc<dyn UserDirectory>,
}

/// The delivery client: no redirects, no proxy, a timeout, the guarded resolver.
pub fn client(allow_internal: bool) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .no_proxy()
        .user_agent(concat!("mdz-webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(GuardedResolver { allow_internal })
        .build()
}

/// The wait after attempt `step` of a round failed (`None`: the schedule is spent), with up
/// to a fifth more at random so receivers that failed together are not retried together.
pub fn retry_delay(schedule: &[Duration], step: i32, random: u32) -> Option<Duration> {
    let i = usize::try_from(step).ok()?.checked_sub(1)?;
    let base = *schedule.get(i)?;
    let extra = base.mul_f64(f64::from(random % 1000) / 5000.0);
    Some(base + extra)
}

fn short(text: &str, max: usize) -> String {
    text.chars().filter(|c| *c != '\0').take(max).collect()
}

impl Sender {
    pub async fn round(&self) -> Result<(), DbError> {
        let claimed = {
            let mut conn = db::conn(&self.pool).await?;
            outbox::claim(&mut conn, BATCH, LEASE, PER_WEBHOOK).await?
        };
        let results: Vec<(Claimed, AttemptOutcome)> = futures_util::stream::iter(claimed)
            .map(|c| async move {
                let outcome = self.attempt(&c).await;
                (c, outcome)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut conn = db::conn(&self.pool).await?;
        for (claimed, outcome) in results {
            self.settle(&mut conn, &claimed, &outcome).await?;
        }
        let before =
            Utc::now() - chrono::Duration::from_std(DELIVERY_RETENTION).unwrap_or_default();
        crate::repo::purge_before(&mut conn, before, 1000).await?;
        self.metrics.backlog.set(outbox::backlog(&mut conn).await?);
        Ok(())
    }

    /// One signed POST.
    async fn attempt(&self, c: &Claimed) -> AttemptOutcome {
        let started = Instant::now();
        let result = self.post(c).await;
        let duration_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        match result {
            Ok((status, excerpt)) => AttemptOutcome {
                status_code: Some(i32::from(status)),
                error: (!(200..300).contains(&status)).then(|| format!("HTTP {status}")),
                excerpt,
                duration_ms,
            },
            Err(error) => AttemptOutcome {
                status_code: None,
                error: Some(short(&error, MAX_ERROR_CHARS)),
                excerpt: String::new(),
                duration_ms,
            },
        }
    }

    async fn post(&self, c: &Claimed) -> Result<(u16, String), String> {
        let url = reqwest::Url::parse(&c.url).map_err(|e| format!("bad URL: {e}"))?;
        // An address in the URL never reaches the resolver: check it here.
        if !self.allow_internal
            && let Some(ip) = guard::literal_ip(&url)
            && guard::is_internal(ip)
        {
            return Err(guard::Refusal::Internal(ip.to_string()).to_string());
        }
        let id = c.id.to_string();
        let timestamp = Utc::now().timestamp();
        let signature = signing::sign(&c.secret, &id, timestamp, &c.body);
        let mut response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(c.body.clone())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let mut excerpt = Vec::new();
        while excerpt.len() < RESPONSE_EXCERPT_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        excerpt.truncate(RESPONSE_EXCERPT_BYTES);
        Ok((
            status,
            short(&String::from_utf8_lossy(&excerpt), RESPONSE_EXCERPT_BYTES),
        ))
    }

    /// Record the attempt and what follows from it.
    async fn settle(
        &self,
        conn: &mut AsyncPgConnection,
        c: &Claimed,
        outcome: &AttemptOutcome,
    ) -> Result<(), DbError> {
        outbox::record_attempt(conn, c.id, outcome).await?;
        if outcome.error.is_none()
            && let Some(status) = outcome.status_code
        {
            if !outbox::mark_delivered(conn, c, status).await? {
                tracing::warn!(delivery_id = %c.id, "webhook delivery lease lost; another claim settles it");
                return Ok(());
            }
            self.metrics.delivered.inc();
            tracing::info!(delivery_id = %c.id, webhook_id = %c.webhook_id, event = %c.event_type, status, "webhook delivered");
            return Ok(());
        }
        self.metrics.errors.inc();
        let random = {
            let mut b = [0u8; 4];
            getrandom::fill(&mut b).map_or(0, |()| u32::from_le_bytes(b))
        };
        match retry_delay(&self.schedule, c.step, random) {
            Some(wait) => {
                let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                tracing::warn!(delivery_id = %c.id, webhook_id = %c.webhook_id, step = c.step, error = ?outcome.error, "webhook delivery failed; will retry");
                if !outbox::mark_failed(conn, c, outcome, Some(at)).await? {
                    tracing::warn!(delivery_id = %c.id, "webhook delivery lease lost; another claim settles it");
                }
            }
            None => {
                self.metrics.failed.inc();
                tracing::error!(delivery_id = %c.id, webhook_id = %c.webhook_id, error = ?outcome.error, "webhook delivery given up");
                self.give_up(conn, c, outcome).await?;
            }
        }
        Ok(())
    }

    /// Mark the delivery failed and, when the webhook has had no success since it was
    /// queued, disable the webhook and mail the project's admins and owners, all at once.
    async fn give_up(
        &self,
        conn: &mut AsyncPgConnection,
        c: &Claimed,
        outcome: &AttemptOutcome,
    ) -> Result<(), DbError> {
        let mails = self.disable_mails(ProjectId(c.project_id), &c.url).await;
        let reason = format!(
            "deliveries kept failing for {} attempts (last: {})",
            self.schedule.len() + 1,
            outcome.error.as_deref().unwrap_or("no answer")
        );
        let disabled = conn
            .transaction::<_, diesel::result::Error, _>(async |conn: &mut AsyncPgConnection| {
                if !outbox::mark_failed(conn, c, outcome, None).await? {
                    // The lease was lost: another claim decides this delivery's fate.
                    return Ok(false);
                }
                let disabled =
                    outbox::disable_if_failing(conn, c.webhook_id, c.created_at, &reason).await?;
                if disabled.is_some() {
                    outbox::fail_pending(conn, c.webhook_id).await?;
                    for mail in &mails {
                        self.mail.enqueue(conn, mail).await?;
                    }
                }
                Ok(disabled.is_some())
            })
            .await?;
        if disabled {
            self.metrics.disabled.inc();
            tracing::warn!(webhook_id = %c.webhook_id, "webhook disabled after persistent failure");
        }
        Ok(())
    }

    /// The mails telling a project's admins and owners that a webhook was disabled (none
    /// when they cannot be looked up: disabling does not wait for them).
    async fn disable_mails(&self, project: ProjectId, url: &str) -> Vec<OutgoingMail> {
        let managers: Vec<UserId> = match self.access.managers(project).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the project's admins for a webhook mail");
                return Vec::new();
            }
        };
        let name = match self.access.summary(project).await {
            Ok(Some(s)) => s.name,
            _ => "your project".to_owned(),
        };
        let users = self.users.by_ids(&managers).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot look up the project's admins for a webhook mail");
            Vec::new()
        });
        let link = self.mail.link(&format!("/projects/{project}"));
        let subject = format!("Webhook disabled in {name}");
        let text = format!(
            "Deliveries to the webhook {url} of the project {name} kept failing for a day, so it \
             has been disabled. Fix the receiver, then re-enable the webhook (PATCH \
             /api/v1/webhooks/{{id}} with {{\"enabled\": true}}); failed deliveries can be sent \
             again from the delivery log.\n\n{link}\n"
        );
        let html = html_page(
            &[format!(
                "Deliveries to the webhook <code>{}</code> of the project <b>{}</b> kept failing \
                 for a day, so it has been disabled. Fix the receiver, then re-enable the \
                 webhook; failed deliveries can be sent again from the delivery log.",
                escape_html(url),
                escape_html(&name)
            )],
            "Open the project",
            &link,
        );
        users
            .into_iter()
            .map(|u| OutgoingMail {
                kind: "webhook-disabled",
                to: u.email,
                subject: subject.clone(),
                text: text.clone(),
                html: html.clone(),
            })
            .collect()
    }
}

/// A client error without the URL's query (which may hold a receiver's token).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_request() {
        "request failed"
    } else {
        "failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {cause}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_schedule_with_jitter() {
        let s = [Duration::from_secs(5), Duration::from_secs(300)];
        assert_eq!(retry_delay(&s, 1, 0), Some(Duration::from_secs(5)));
        assert_eq!(retry_delay(&s, 2, 0), Some(Duration::from_secs(300)));
        assert_eq!(
            retry_delay(&s, 2, 999),
            Some(Duration::from_secs_f64(359.94))
        );
        assert_eq!(retry_delay(&s, 3, 0), None);
        assert_eq!(retry_delay(&s, 0, 0), None);
    }
}
