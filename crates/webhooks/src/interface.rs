//! Wire types of webhooks, the event types, and the limits on what a client may ask for.

use chrono::{DateTime, Utc};
use mdz_core::FieldError;
use mdz_core::ids::{ProjectId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

mdz_core::typed_id!(
    /// A webhook of a project.
    WebhookId
);
mdz_core::typed_id!(
    /// One event sent to one webhook: the stable `webhook-id` header of every attempt.
    DeliveryId
);

/// Webhooks a project may have.
pub const MAX_WEBHOOKS_PER_PROJECT: i64 = 20;
/// The longest webhook URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// The events a webhook may subscribe to.
pub const EVENT_TYPES: [&str; 7] = [
    "file.created",
    "file.updated",
    "file.deleted",
    "file.restored",
    "comment.created",
    "member.added",
    "member.removed",
];

/// The type of the test event `POST /webhooks/{id}/test` sends (always allowed).
pub const PING_EVENT: &str = "webhook.ping";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where deliveries are POSTed: `http` or `https`, no user name or password, at most
    /// 2,048 bytes; not a loopback, private or link-local address.
    pub url: String,
    /// One or more of `file.created`, `file.updated`, `file.deleted`, `file.restored`,
    /// `comment.created`, `member.added`, `member.removed`.
    pub events: Vec<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    /// `true` re-enables a webhook disabled after failing deliveries (events that happened
    /// while it was disabled are not sent); `false` disables it and fails its pending
    /// deliveries (each can be redelivered).
    pub enabled: Option<bool>,
}

/// A webhook (its secret is shown once, at creation and rotation).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    pub id: WebhookId,
    pub project_id: ProjectId,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
    /// Why it was disabled, when it was.
    pub disabled_reason: Option<String>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Who created it: it sends events only while they are an admin or owner of the project.
    pub created_by: UserId,
}

/// A new webhook and its signing secret, which is never shown again.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_` + base64 of the HMAC-SHA256 key, as the `standardwebhooks` libraries take it.
    pub secret: String,
}

/// A fresh signing secret (the old one stops working at once).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RotatedSecret {
    pub secret: String,
}

/// One attempt to deliver.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status; absent when none came (refused address, timeout, …).
    pub status_code: Option<i32>,
    pub error: Option<String>,
    /// The start of the receiver's answer (at most 2 KiB).
    pub response_excerpt: String,
    pub duration_ms: i32,
}

/// One event sent (or to be sent) to a webhook.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    /// The `webhook-id` header of every attempt.
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event_type: String,
    /// `pending`, `delivered` or `failed` (retries exhausted).
    pub status: String,
    pub attempt_count: i32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The body sent: `{type, timestamp, data}`.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// The latest attempts, newest first (at most 20).
    pub attempts: Vec<Attempt>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Items per page, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The events of a request, checked and without repeats, in the order of [`EVENT_TYPES`].
pub fn parse_events(events: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    if events.is_empty() {
        errors.push(FieldError::new("events", "name at least one event"));
        return Vec::new();
    }
    if events.len() > EVENT_TYPES.len() * 4 {
        errors.push(FieldError::new(
            "events",
            format!("at most {} entries", EVENT_TYPES.len() * 4),
        ));
        return Vec::new();
    }
    for (i, e) in events.iter().enumerate() {
        if !EVENT_TYPES.contains(&e.as_str()) {
            errors.push(FieldError::new(
                &format!("events.{i}"),
                format!("must be one of {}", EVENT_TYPES.join(", ")),
            ));
        }
    }
    EVENT_TYPES
        .iter()
        .filter(|t| events.iter().any(|e| e == *t))
        .map(|t| (*t).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_checked_and_deduplicated() {
        let mut errors = Vec::new();
        let got = parse_events(
            &[
                "file.updated".into(),
                "file.created".into(),
                "file.updated".into(),
            ],
            &mut errors,
        );
        assert!(errors.is_empty());
        assert_eq!(got, ["file.created", "file.updated"]);
        parse_events(&["file.moved".into()], &mut errors);
        assert_eq!(errors[0].field, "events.0");
        let mut errors = Vec::new();
        parse_events(&[], &mut errors);
        assert_eq!(errors[0].field, "events");
    }
}
