//! mdz-webhooks: signed webhooks in the Standard Webhooks format. A project's admins and
//! owners register URLs for events; a dispatcher turns each event of the project's merged
//! feed (the `ProjectFeed` port) into one delivery per webhook (an outbox row, written with
//! the webhook's cursor in one transaction), and a
//! sender POSTs them signed, through an SSRF-guarded client, retrying on a schedule and
//! disabling a webhook that keeps failing (with a mail to the project's admins).

pub mod dispatcher;
pub mod endpoint;
pub mod error;
pub mod guard;
pub mod interface;
mod metrics;
mod outbox;
pub mod repo;
pub mod schema;
pub mod sender;
pub mod service;
pub mod signing;

use actix_web::web;
use mdz_core::access::ProjectAccess;
use mdz_core::config::Config;
use mdz_core::db::DbPool;
use mdz_core::events::ProjectFeed;
use mdz_core::mail::Outbox;
use mdz_core::ports::UserDirectory;
use prometheus::Registry;
use sender::Sender;
use service::WebhooksService;
use std::sync::Arc;
use utoipa_actix_web::service_config::ServiceConfig;

pub use endpoint::{project_routes, webhook_routes};
pub use error::WebhookError;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Metrics(#[from] prometheus::Error),
    #[error("building the webhook HTTP client")]
    Client(#[source] reqwest::Error),
}

/// The webhooks domain, built once at start.
#[derive(Clone)]
pub struct WebhooksModule {
    service: Arc<WebhooksService>,
    sender: Arc<Sender>,
    pool: DbPool,
    feed: Arc<dyn ProjectFeed>,
    access: Arc<dyn ProjectAccess>,
}

impl WebhooksModule {
    pub fn new(
        config: &Config,
        pool: DbPool,
        access: Arc<dyn ProjectAccess>,
        feed: Arc<dyn ProjectFeed>,
        users: Arc<dyn UserDirectory>,
        mail: Outbox,
        registry: &Registry,
    ) -> Result<Self, SetupError> {
        let metrics = metrics::Metrics::register(registry)?;
        let allow_internal = config.webhook_allow_private;
        if allow_internal {
            tracing::warn!(
                "WEBHOOK_ALLOW_PRIVATE: webhooks may call loopback, private and link-local \
                 addresses (never on a shared deployment)"
            );
        }
        let sender = Sender {
            pool: pool.clone(),
            client: sender::client(allow_internal).map_err(SetupError::Client)?,
            allow_internal,
            schedule: config.webhook_retry_schedule(),
            metrics: metrics.clone(),
            mail,
            access: access.clone(),
            users,
        };
        Ok(Self {
            service: Arc::new(WebhooksService::new(
                pool.clone(),
                access.clone(),
                feed.clone(),
                allow_internal,
                metrics,
            )),
            sender: Arc::new(sender),
            pool,
            feed,
            access,
        })
    }

    pub fn app_data(&self, cfg: &mut ServiceConfig) {
        cfg.app_data(web::Data::from(self.service.clone()));
    }

    /// The dispatcher (events → deliveries) and the sender (deliveries → POSTs), each every
    /// half second on every node, until the process ends.
    pub fn spawn(&self) -> [tokio::task::JoinHandle<()>; 2] {
        let pool = self.pool.clone();
        let feed = self.feed.clone();
        let access = self.access.clone();
        let metrics = self.sender.metrics.clone();
        let dispatch = mdz_core::periodic::spawn_every(dispatcher::DISPATCH_EVERY, move || {
            let pool = pool.clone();
            let feed = feed.clone();
            let access = access.clone();
            let metrics = metrics.clone();
            async move {
                if let Err(e) =
                    dispatcher::round(&pool, feed.as_ref(), access.as_ref(), &metrics).await
                {
                    tracing::warn!(error = %e, "webhook dispatch round failed");
                }
            }
        });
        let sender = self.sender.clone();
        let send = mdz_core::periodic::spawn_every(sender::SEND_EVERY, move || {
            let sender = sender.clone();
            async move {
                if let Err(e) = sender.round().await {
                    tracing::warn!(error = %e, "webhook send round failed");
                }
            }
        });
        [dispatch, send]
    }
}
