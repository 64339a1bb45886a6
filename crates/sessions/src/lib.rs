//! mdz-sessions: AI conversations in a project — title, creator, model, instructions, pinned
//! documents, visibility (`project` or `private`), archive. Reaches projects and files only
//! through the ports in core.

pub mod directory;
pub mod endpoint;
pub mod error;
pub mod interface;
pub mod repo;
pub mod schema;
pub mod service;

use actix_web::web;
use directory::InfoCache;
use mdz_core::access::ProjectAccess;
use mdz_core::db::DbPool;
use mdz_core::documents::DocumentStore;
use mdz_core::kv::SharedKv;
use service::SessionsService;
use std::sync::Arc;
use utoipa_actix_web::service_config::ServiceConfig;

pub use endpoint::{project_routes, session_routes};
pub use error::SessionError;

/// The sessions domain, built once at start.
#[derive(Clone)]
pub struct SessionsModule {
    service: Arc<SessionsService>,
    pool: DbPool,
    cache: Arc<InfoCache>,
}

impl SessionsModule {
    pub fn new(
        pool: DbPool,
        kv: SharedKv,
        access: Arc<dyn ProjectAccess>,
        documents: Arc<dyn DocumentStore>,
        providers: Vec<String>,
    ) -> Self {
        let cache = directory::info_cache(kv);
        Self {
            service: Arc::new(SessionsService::new(
                pool.clone(),
                cache.clone(),
                access,
                documents,
                providers,
            )),
            pool,
            cache,
        }
    }

    /// The port chat reads sessions through.
    pub fn chat_sessions(&self) -> Arc<dyn mdz_core::ports::ChatSessions> {
        Arc::new(directory::SessionDirectory {
            pool: self.pool.clone(),
            cache: self.cache.clone(),
        })
    }

    pub fn app_data(&self, cfg: &mut ServiceConfig) {
        cfg.app_data(web::Data::from(self.service.clone()));
    }
}
