//! Webhook rules: who may manage them (admins and owners), what a valid one is, the
//! per-project limit, secrets shown once, the delivery log and redelivery.

use crate::error::WebhookError;
use crate::guard;
use crate::interface::{
    Attempt, CreateWebhook, CreatedWebhook, Delivery, DeliveryId, MAX_URL_BYTES,
    MAX_WEBHOOKS_PER_PROJECT, PING_EVENT, RotatedSecret, UpdateWebhook, Webhook, WebhookId,
    parse_events,
};
use crate::metrics::Metrics;
use crate::repo::{self, DeliveryRow, NewDelivery, WebhookChanges, WebhookRow};
use crate::signing;
use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use mdz_core::FieldError;
use mdz_core::access::{Action, ProjectAccess};
use mdz_core::db::{self, DbPool};
use mdz_core::events::ProjectFeed;
use mdz_core::ids::{ProjectId, UserId};
use mdz_core::pagination::{Page, PageRequest};
use std::sync::Arc;
use std::time::Duration;
use tracing::instrument;

/// Attempts shown with each delivery of the log.
pub const ATTEMPTS_SHOWN: i64 = 20;

pub struct WebhooksService {
    pool: DbPool,
    access: Arc<dyn ProjectAccess>,
    feed: Arc<dyn ProjectFeed>,
    allow_internal: bool,
    metrics: Metrics,
}

pub fn to_webhook(row: WebhookRow) -> Webhook {
    Webhook {
        id: row.id,
        project_id: row.project_id,
        url: row.url,
        events: row.events,
        enabled: row.enabled,
        disabled_reason: row.disabled_reason,
        last_success_at: row.last_success_at,
        created_at: row.created_at,
        created_by: row.created_by,
    }
}

fn to_delivery(row: DeliveryRow, attempts: Vec<Attempt>) -> Delivery {
    Delivery {
        id: row.id,
        webhook_id: row.webhook_id,
        event_type: row.event_type,
        next_attempt_at: (row.status == "pending").then_some(row.next_attempt_at),
        status: row.status,
        attempt_count: row.attempts,
        delivered_at: row.delivered_at,
        created_at: row.created_at,
        payload: serde_json::from_str(&row.body).unwrap_or(serde_json::Value::Null),
        attempts,
    }
}

impl WebhooksService {
    pub fn new(
        pool: DbPool,
        access: Arc<dyn ProjectAccess>,
        feed: Arc<dyn ProjectFeed>,
        allow_internal: bool,
        metrics: Metrics,
    ) -> Self {
        Self {
            pool,
            access,
            feed,
            allow_internal,
            metrics,
        }
    }

    /// A URL webhooks may call: shape, length and the SSRF guard.
    async fn check_url(&self, raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
        if raw.len() > MAX_URL_BYTES {
            errors.push(FieldError::new(
                "url",
                format!("at most {MAX_URL_BYTES} bytes"),
            ));
            return None;
        }
        match guard::check_url(raw, self.allow_internal).await {
            Ok(url) => Some(url.to_string()),
            Err(why) => {
                errors.push(FieldError::new("url", why.to_string()));
                None
            }
        }
    }

    /// The webhook, when `actor` may manage it (404 for strangers, 403 below admin).
    async fn managed(&self, actor: UserId, id: WebhookId) -> Result<WebhookRow, WebhookError> {
        let mut conn = db::conn(&self.pool).await?;
        let row = repo::get_webhook(&mut conn, id)
            .await?
            .ok_or(WebhookError::NotFound("webhook"))?;
        match self
            .access
            .require(actor, row.project_id, Action::Configure)
            .await
        {
            Ok(_) => Ok(row),
            Err(mdz_core::access::AccessError::NotFound) => Err(WebhookError::NotFound("webhook")),
            Err(e) => Err(e.into()),
        }
    }

    #[instrument(skip_all, fields(user_id = %actor, project_id = %project))]
    pub async fn create(
        &self,
        actor: UserId,
        project: ProjectId,
        new: CreateWebhook,
    ) -> Result<CreatedWebhook, WebhookError> {
        self.access
            .require(actor, project, Action::Configure)
            .await?;
        let mut errors = Vec::new();
        let url = self.check_url(&new.url, &mut errors).await;
        let events = parse_events(&new.events, &mut errors);
        let Some(url) = url.filter(|_| errors.is_empty()) else {
            return Err(WebhookError::Validation(errors));
        };
        let key = signing::new_key().map_err(WebhookError::Random)?;
        // Events from now on, not the project's past.
        let present = self.feed.present(project).await?;
        let mut conn = db::conn(&self.pool).await?;
        let row = (*conn)
            .transaction::<_, WebhookError, _>(async |conn: &mut AsyncPgConnection| {
                repo::lock_project(conn, project).await?;
                if repo::count_in_project(conn, project).await? >= MAX_WEBHOOKS_PER_PROJECT {
                    return Err(WebhookError::TooMany(MAX_WEBHOOKS_PER_PROJECT));
                }
                let row = WebhookRow {
                    id: WebhookId::new(),
                    project_id: project,
                    url,
                    events,
                    secret: key.clone(),
                    enabled: true,
                    disabled_reason: None,
                    file_cursor: present.files,
                    event_cursor: present.events,
                    last_success_at: None,
                    created_at: Utc::now(),
                    created_by: actor,
                    updated_by: actor,
                };
                repo::insert_webhook(conn, &row).await?;
                Ok(row)
            })
            .await?;
        tracing::info!(webhook_id = %row.id, "webhook created");
        Ok(CreatedWebhook {
            webhook: to_webhook(row),
            secret: signing::encode_secret(&key),
        })
    }

    pub async fn list(
        &self,
        actor: UserId,
        project: ProjectId,
        page: PageRequest<WebhookId>,
    ) -> Result<Page<Webhook>, WebhookError> {
        self.access
            .require(actor, project, Action::Configure)
            .await?;
        let mut conn = db::conn(&self.pool).await?;
        let rows = repo::list_webhooks(&mut conn, project, page.after, page.limit).await?;
        Ok(Page::from_rows(rows, page.limit, |r| r.id).map(to_webhook))
    }

    pub async fn get(&self, actor: UserId, id: WebhookId) -> Result<Webhook, WebhookError> {
        Ok(to_webhook(self.managed(actor, id).await?))
    }

    #[instrument(skip_all, fields(user_id = %actor, webhook_id = %id))]
    pub async fn update(
        &self,
        actor: UserId,
        id: WebhookId,
        change: UpdateWebhook,
    ) -> Result<Webhook, WebhookError> {
        let current = self.managed(actor, id).await?;
        let mut errors = Vec::new();
        let url = match &change.url {
            Some(raw) => self.check_url(raw, &mut errors).await,
            None => None,
        };
        let events = change
            .events
            .as_deref()
            .map(|e| parse_events(e, &mut errors));
        if !errors.is_empty() {
            return Err(WebhookError::Validation(errors));
        }
        let reenable = change.enabled == Some(true) && !current.enabled;
        // Re-enabled: from now on, not what happened while it was off.
        let present = match reenable {
            true => Some(self.feed.present(current.project_id).await?),
            false => None,
        };
        let mut conn = db::conn(&self.pool).await?;
        let changes = WebhookChanges {
            url,
            events,
            enabled: change.enabled,
            disabled_reason: change.enabled.map(|_| None),
            file_cursor: present.map(|p| p.files),
            event_cursor: present.map(|p| p.events),
            secret: None,
            updated_by: Some(actor),
        };
        let disable = change.enabled == Some(false) && current.enabled;
        let row = (*conn)
            .transaction::<_, diesel::result::Error, _>(async |conn: &mut AsyncPgConnection| {
                let row = repo::update_webhook(conn, id, &changes).await?;
                if disable && row.is_some() {
                    // Sent on re-enabling they would all go out at once: fail them now
                    // (redeliverable one by one).
                    crate::outbox::fail_pending(conn, id.0).await?;
                }
                Ok(row)
            })
            .await?
            .ok_or(WebhookError::NotFound("webhook"))?;
        Ok(to_webhook(row))
    }

    pub async fn delete(&self, actor: UserId, id: WebhookId) -> Result<(), WebhookError> {
        self.managed(actor, id).await?;
        let mut conn = db::conn(&self.pool).await?;
        if !repo::delete_webhook(&mut conn, id).await? {
            return Err(WebhookError::NotFound("webhook"));
        }
        tracing::info!(webhook_id = %id, "webhook deleted");
        Ok(())
    }

    /// A new secret; the old one stops working at once.
    pub async fn rotate(
        &self,
        actor: UserId,
        id: WebhookId,
    ) -> Result<RotatedSecret, WebhookError> {
        self.managed(actor, id).await?;
        let key = signing::new_key().map_err(WebhookError::Random)?;
        let mut conn = db::conn(&self.pool).await?;
        let changes = WebhookChanges {
            secret: Some(key.clone()),
            updated_by: Some(actor),
            ..WebhookChanges::default()
        };
        repo::update_webhook(&mut conn, id, &changes)
            .await?
            .ok_or(WebhookError::NotFound("webhook"))?;
        Ok(RotatedSecret {
            secret: signing::encode_secret(&key),
        })
    }

    /// The delivery log, newest first.
    pub async fn deliveries(
        &self,
        actor: UserId,
        id: WebhookId,
        page: PageRequest<DeliveryId>,
    ) -> Result<Page<Delivery>, WebhookError> {
        self.managed(actor, id).await?;
        let mut conn = db::conn(&self.pool).await?;
        let rows = repo::list_deliveries(&mut conn, id, page.after, page.limit).await?;
        let page = Page::from_rows(rows, page.limit, |r| r.id);
        let ids: Vec<DeliveryId> = page.items.iter().map(|d| d.id).collect();
        let mut attempts = repo::attempts_of(&mut conn, &ids, ATTEMPTS_SHOWN).await?;
        Ok(page.map(|row| {
            let mine = attempts
                .extract_if(.., |a| a.delivery_id == row.id)
                .map(|a| Attempt {
                    at: a.attempted_at,
                    status_code: a.status_code,
                    error: a.error,
                    response_excerpt: a.response_excerpt,
                    duration_ms: a.duration_ms,
                })
                .collect();
            to_delivery(row, mine)
        }))
    }

    /// Send a delivered or failed delivery again (a new round of retries).
    pub async fn redeliver(
        &self,
        actor: UserId,
        id: WebhookId,
        delivery: DeliveryId,
    ) -> Result<Delivery, WebhookError> {
        let hook = self.managed(actor, id).await?;
        if !hook.enabled {
            return Err(WebhookError::Conflict(
                "the webhook is disabled; enable it first",
            ));
        }
        let mut conn = db::conn(&self.pool).await?;
        let row = repo::get_delivery(&mut conn, delivery)
            .await?
            .filter(|d| d.webhook_id == id)
            .ok_or(WebhookError::NotFound("delivery"))?;
        if row.status == "pending" {
            return Err(WebhookError::Conflict("the delivery is still pending"));
        }
        let row = repo::redeliver(&mut conn, delivery)
            .await?
            .ok_or(WebhookError::Conflict("the delivery is still pending"))?;
        Ok(to_delivery(row, Vec::new()))
    }

    /// Queue a `webhook.ping` delivery, to try a receiver.
    pub async fn ping(&self, actor: UserId, id: WebhookId) -> Result<Delivery, WebhookError> {
        let hook = self.managed(actor, id).await?;
        if !hook.enabled {
            return Err(WebhookError::Conflict(
                "the webhook is disabled; enable it first",
            ));
        }
        let body = crate::dispatcher::payload(
            PING_EVENT,
            Utc::now(),
            serde_json::json!({"project_id": hook.project_id, "webhook_id": hook.id}),
        );
        let mut conn = db::conn(&self.pool).await?;
        let delivery = repo::insert_delivery(
            &mut conn,
            &NewDelivery {
                webhook: id,
                event_type: PING_EVENT,
                subject: None,
                body: &body,
                delay: Duration::ZERO,
            },
        )
        .await?;
        self.metrics.queued.inc();
        let row = repo::get_delivery(&mut conn, delivery)
            .await?
            .ok_or(WebhookError::NotFound("delivery"))?;
        Ok(to_delivery(row, Vec::new()))
    }
}
