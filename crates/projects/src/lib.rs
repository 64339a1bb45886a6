//! mdz-projects: projects (team workspaces), members with five roles, invitations, and the
//! PostgreSQL implementation of the [`mdz_core::access::ProjectAccess`] port.

pub mod endpoint;
pub mod error;
pub mod interface;
mod invitations;
mod mails;
pub mod repo;
pub mod schema;
pub mod service;

use actix_web::web;
use mdz_core::access::ProjectAccess;
use mdz_core::config::Config;
use mdz_core::db::DbPool;
use mdz_core::kv::SharedKv;
use mdz_core::ports::UserDirectory;
use service::{ProjectSettings, ProjectsService};
use std::sync::Arc;
use std::time::Duration;
use utoipa_actix_web::service_config::ServiceConfig;

pub use endpoint::{invitation_routes, project_routes};
pub use error::ProjectError;

/// The projects domain, built once at start.
#[derive(Clone)]
pub struct ProjectsModule {
    service: Arc<ProjectsService>,
}

impl ProjectsModule {
    /// `public_url` is where clients reach this server (for invitation links).
    pub fn new(
        config: &Config,
        pool: DbPool,
        kv: SharedKv,
        users: Arc<dyn UserDirectory>,
        public_url: String,
        outbox: mdz_core::mail::Outbox,
    ) -> Self {
        let settings = ProjectSettings {
            public_url,
            outbox,
            retention: Duration::from_secs(config.project_retention_days * 86_400),
            invitation_mails_per_inviter: config.invitation_mails_per_inviter,
            invitation_mails_per_pair: config.invitation_mails_per_pair,
            invitation_mails_per_address: config.invitation_mails_per_address,
        };
        Self {
            service: Arc::new(ProjectsService::new(pool, kv, users, settings)),
        }
    }

    /// The access port every other domain uses.
    /// The service, for adapters the server composes (the workspace port).
    pub fn service(&self) -> Arc<ProjectsService> {
        self.service.clone()
    }

    pub fn access(&self) -> Arc<dyn ProjectAccess> {
        self.service.clone()
    }

    /// The port through which an import makes its project inside its own transaction.
    pub fn creator(&self) -> Arc<dyn mdz_core::access::ProjectCreator> {
        self.service.clone()
    }

    pub fn app_data(&self, cfg: &mut ServiceConfig) {
        cfg.app_data(web::Data::from(self.service.clone()));
    }

    /// Purge projects past their retention every `every`, until the process ends.
    pub fn spawn_purger(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let service = self.service.clone();
        mdz_core::periodic::spawn_every(every, move || {
            let service = service.clone();
            async move {
                match service.purge().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(projects = n, "purged deleted projects"),
                    Err(e) => tracing::warn!(error = %e, "purging deleted projects failed"),
                }
            }
        })
    }
}
