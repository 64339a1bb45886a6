//! mdz-files: Markdown documents addressed by path, their version history (coalesced, stored as
//! compact reverse edit scripts), the trash, a per-project change feed, idempotent writes.
//! Reaches projects only through the [`mdz_core::access::ProjectAccess`] port.

pub mod endpoint;
pub mod error;
pub mod history;
pub mod interface;
pub mod paths;
pub mod repo;
pub mod schema;
pub mod search;
pub mod service;

use actix_web::web;
use mdz_core::access::ProjectAccess;
use mdz_core::config::Config;
use mdz_core::db::DbPool;
use service::{FileSettings, FilesService};
use std::sync::Arc;
use std::time::Duration;
use utoipa_actix_web::service_config::ServiceConfig;

pub use endpoint::{file_routes, project_routes, search_routes};
pub use error::FileError;

/// The files domain, built once at start.
#[derive(Clone)]
pub struct FilesModule {
    service: Arc<FilesService>,
}

impl FilesModule {
    pub fn new(config: &Config, pool: DbPool, access: Arc<dyn ProjectAccess>) -> Self {
        let settings = FileSettings {
            max_bytes: config.max_file_bytes,
            coalesce_window: Duration::from_secs(config.version_coalesce_secs),
            retention: Duration::from_secs(config.project_retention_days * 86_400),
        };
        Self {
            service: Arc::new(FilesService::new(pool, access, settings)),
        }
    }

    pub fn app_data(&self, cfg: &mut ServiceConfig) {
        cfg.app_data(web::Data::from(self.service.clone()));
    }

    /// Purge the trash and compact the change feed every `every`.
    pub fn spawn_purger(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let service = self.service.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match service.purge().await {
                    Ok((0, 0)) => {}
                    Ok((files, changes)) => {
                        tracing::info!(files, changes, "purged the trash and compacted the feed");
                    }
                    Err(e) => tracing::warn!(error = %e, "purging files failed"),
                }
            }
        })
    }
}
