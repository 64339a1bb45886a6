//! mdz-mail: delivers the mail outbox (`mdz_core::mail`). Domains queue mail in the
//! transaction of their event; the sender task here claims due rows (`FOR UPDATE SKIP
//! LOCKED`, so every node may run it), sends them over SMTP, and records the outcome in the
//! row, so a restart loses nothing. Failures are retried with exponential backoff up to
//! `MAIL_MAX_ATTEMPTS`; a permanent SMTP refusal gives up at once.

mod repo;
pub mod transport;

use chrono::Utc;
use lettre::message::Mailbox;
use mdz_core::config::Config;
use mdz_core::db::{self, DbError, DbPool};
use mdz_core::mail::Outbox;
use prometheus::{IntCounter, IntGauge, Registry};
use std::sync::Arc;
use std::time::Duration;
use transport::{SendError, Transport};

/// How often the sender looks for due mail.
pub const POLL_EVERY: Duration = Duration::from_millis(500);
/// Mails claimed per round.
const BATCH: i64 = 20;
/// How long a claimed mail is left to its claimer before another node may take it (longer
/// than a whole batch of SMTP timeouts).
const LEASE: Duration = Duration::from_secs(20 * 30 + 60);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Delivered and given-up mails are deleted after this long: their bodies hold live links
/// (verification, reset, invitation tokens), so a copy of the table must not keep them for
/// days; an hour is enough to see what went out.
const KEEP_DONE: Duration = Duration::from_secs(3_600);

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("MAIL_FROM is not a mailbox: {0}")]
    MailFrom(String),
    #[error(transparent)]
    Transport(#[from] transport::TransportError),
    #[error(transparent)]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for MailError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

struct Metrics {
    sent: IntCounter,
    errors: IntCounter,
    failed: IntCounter,
    backlog: IntGauge,
}

/// The outbox other domains write to and the sender that empties it.
pub struct MailModule {
    outbox: Outbox,
    sender: Arc<Sender>,
}

struct Sender {
    pool: DbPool,
    transport: Transport,
    from: Mailbox,
    max_attempts: i32,
    retry_base: Duration,
    metrics: Metrics,
}

impl MailModule {
    pub fn new(
        config: &Config,
        pool: DbPool,
        public_url: &str,
        registry: &Registry,
    ) -> Result<Self, MailError> {
        let counter = |name: &str, help: &str| -> Result<IntCounter, MailError> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let queued = counter("mdz_mail_queued_total", "Mails written to the outbox")?;
        let metrics = Metrics {
            sent: counter(
                "mdz_mail_sent_total",
                "Mails delivered (or logged without SMTP)",
            )?,
            errors: counter(
                "mdz_mail_delivery_errors_total",
                "Delivery attempts that failed (retried or given up)",
            )?,
            failed: counter(
                "mdz_mail_failed_total",
                "Mails given up: permanent refusal or MAIL_MAX_ATTEMPTS reached",
            )?,
            backlog: IntGauge::new("mdz_mail_backlog", "Mails in the outbox still to deliver")?,
        };
        registry.register(Box::new(metrics.backlog.clone()))?;
        let transport = Transport::from_config(config.smtp_url.as_ref().map(|s| s.expose()))?;
        if transport.is_log() {
            tracing::warn!(
                "no SMTP_URL: mails are written to the log (with their verification, reset and \
                 invitation links) and marked sent; set SMTP_URL for anything but development"
            );
        }
        let from = config
            .mail_from
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::MailFrom(e.to_string()))?;
        Ok(Self {
            outbox: Outbox::new(public_url, queued),
            sender: Arc::new(Sender {
                pool,
                transport,
                from,
                max_attempts: i32::try_from(config.mail_max_attempts).unwrap_or(i32::MAX),
                retry_base: Duration::from_secs(config.mail_retry_base_secs),
                metrics,
            }),
        })
    }

    /// Where domains queue their mail.
    pub fn outbox(&self) -> Outbox {
        self.outbox.clone()
    }

    /// Deliver due mail every [`POLL_EVERY`] until the process ends. A round cut short by
    /// the end of the process leaves its claimed mails to be taken again after the lease.
    pub fn spawn_sender(&self) -> tokio::task::JoinHandle<()> {
        let sender = self.sender.clone();
        mdz_core::periodic::spawn_every(POLL_EVERY, move || {
            let sender = sender.clone();
            async move {
                if let Err(e) = sender.round().await {
                    tracing::warn!(error = %e, "mail round failed");
                }
            }
        })
    }
}

/// The wait before attempt `attempts + 1`: base × 2^(attempts − 1), at most an hour.
pub fn backoff(base: Duration, attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    base.saturating_mul(2u32.saturating_pow(exp))
        .min(MAX_BACKOFF)
}

impl Sender {
    async fn round(&self) -> Result<(), MailError> {
        let mut conn = db::conn(&self.pool).await?;
        let mut claimed = repo::claim(&mut conn, BATCH, LEASE).await?;
        // RETURNING has no order; account mail first, then (ids are UUID v7) the order they
        // were queued in.
        claimed.sort_by_key(|m| (m.priority, m.id));
        for mail in claimed {
            let outcome = self
                .transport
                .send(
                    &self.from,
                    &mail.recipient,
                    &mail.subject,
                    &mail.body_text,
                    &mail.body_html,
                )
                .await;
            match outcome {
                Ok(()) => {
                    repo::mark_sent(&mut conn, mail.id).await?;
                    self.metrics.sent.inc();
                    tracing::info!(id = %mail.id, kind = %mail.kind, "mail sent");
                }
                Err(e) => {
                    self.metrics.errors.inc();
                    let give_up =
                        matches!(e, SendError::Permanent(_)) || mail.attempts >= self.max_attempts;
                    let retry_at = (!give_up).then(|| {
                        Utc::now()
                            + chrono::Duration::from_std(backoff(self.retry_base, mail.attempts))
                                .unwrap_or_default()
                    });
                    if give_up {
                        self.metrics.failed.inc();
                        tracing::error!(id = %mail.id, kind = %mail.kind, attempts = mail.attempts, error = %e, "mail given up");
                    } else {
                        tracing::warn!(id = %mail.id, kind = %mail.kind, attempts = mail.attempts, error = %e, "mail not delivered; will retry");
                    }
                    repo::mark_failed(&mut conn, mail.id, &e.to_string(), retry_at).await?;
                }
            }
        }
        let before = Utc::now() - chrono::Duration::from_std(KEEP_DONE).unwrap_or_default();
        repo::purge_done(&mut conn, before, 1000).await?;
        self.metrics.backlog.set(repo::backlog(&mut conn).await?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let base = Duration::from_secs(30);
        assert_eq!(backoff(base, 1), Duration::from_secs(30));
        assert_eq!(backoff(base, 2), Duration::from_secs(60));
        assert_eq!(backoff(base, 4), Duration::from_secs(240));
        assert_eq!(backoff(base, 9), MAX_BACKOFF);
        assert_eq!(backoff(base, 1000), MAX_BACKOFF);
    }
}
