//! Prometheus metrics of webhooks.

use prometheus::{IntCounter, IntGauge, Registry};

#[derive(Clone)]
pub struct Metrics {
    pub queued: IntCounter,
    pub coalesced: IntCounter,
    pub delivered: IntCounter,
    pub errors: IntCounter,
    pub failed: IntCounter,
    pub disabled: IntCounter,
    pub backlog: IntGauge,
}

impl Metrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let counter = |name: &str, help: &str| -> Result<IntCounter, prometheus::Error> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let backlog = IntGauge::new(
            "mdz_webhook_backlog",
            "Webhook deliveries of enabled webhooks still to send",
        )?;
        registry.register(Box::new(backlog.clone()))?;
        Ok(Self {
            queued: counter(
                "mdz_webhook_queued_total",
                "Webhook deliveries written to the outbox",
            )?,
            coalesced: counter(
                "mdz_webhook_coalesced_total",
                "file.updated events folded into a delivery not yet attempted",
            )?,
            delivered: counter(
                "mdz_webhook_delivered_total",
                "Webhook deliveries answered with a 2xx",
            )?,
            errors: counter(
                "mdz_webhook_delivery_errors_total",
                "Webhook attempts that failed (retried or given up)",
            )?,
            failed: counter(
                "mdz_webhook_failed_total",
                "Webhook deliveries given up after the whole retry schedule",
            )?,
            disabled: counter(
                "mdz_webhook_disabled_total",
                "Webhooks disabled after persistent failure",
            )?,
            backlog,
        })
    }
}
