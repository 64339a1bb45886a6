//! mdz-files: Markdown documents addressed by path, their version history (coalesced, stored as
//! compact reverse edit scripts), the trash, a per-project change feed, idempotent writes.
//! Reaches projects only through the [`mdz_core::access::ProjectAccess`] port.

pub mod attachments;
pub mod changes;
pub mod documents;
pub mod endpoint;
pub mod engine;
pub mod error;
pub mod events;
pub mod export;
pub mod export_endpoint;
pub mod history;
pub mod import;
pub mod interface;
pub mod paths;
pub mod repo;
pub mod schema;
pub mod search;
pub mod service;
pub mod shares;

use actix_web::web;
use attachments::store::LocalStore;
use attachments::{AttachmentSettings, AttachmentsService};
use mdz_core::access::{ProjectAccess, ProjectCreator};
use mdz_core::config::Config;
use mdz_core::db::DbPool;
use service::{FileSettings, FilesService};
use std::sync::Arc;
use std::time::Duration;
use utoipa_actix_web::service_config::ServiceConfig;

pub use endpoint::{file_routes, search_routes};
pub use error::FileError;

/// The files domain, built once at start.
#[derive(Clone)]
pub struct FilesModule {
    service: Arc<FilesService>,
    attachments: Arc<AttachmentsService>,
    export: Arc<export::ExportService>,
    import: Arc<import::ImportService>,
    shares: Arc<shares::SharesService>,
    local_store: Option<Arc<LocalStore>>,
    feed: Arc<events::EventFeed>,
}

impl FilesModule {
    /// `public_url` is where clients reach this server (for the local store's URLs);
    /// `creator` makes the projects imports fill; share passwords are hashed by `passwords`
    /// and their attempts counted in `kv`.
    pub async fn new(
        config: &Config,
        pool: DbPool,
        access: Arc<dyn ProjectAccess>,
        creator: Arc<dyn ProjectCreator>,
        public_url: &str,
        kv: mdz_core::kv::SharedKv,
        passwords: Arc<dyn mdz_core::ports::PasswordHashing>,
    ) -> Result<Self, String> {
        let settings = FileSettings {
            max_bytes: config.max_file_bytes,
            coalesce_window: Duration::from_secs(config.version_coalesce_secs),
            retention: Duration::from_secs(config.project_retention_days * 86_400),
        };
        let event_bus = mdz_core::events::EventBus::start(kv.clone());
        let feed = Arc::new(events::EventFeed::new(
            pool.clone(),
            event_bus.clone(),
            events::StreamSettings::from_config(config),
        ));
        let (store, local_store) =
            attachments::store::from_config(config, pool.clone(), public_url).await?;
        let export = export::ExportService::new(pool.clone(), access.clone(), store.clone());
        let import_settings = import::ImportSettings::new(config);
        import::remove_leftovers(&import_settings.temp_dir).await;
        let import =
            import::ImportService::new(pool.clone(), store.clone(), creator, import_settings);
        let shares = shares::SharesService::new(
            pool.clone(),
            access.clone(),
            store.clone(),
            kv,
            passwords,
            shares::ShareSettings {
                public_url: public_url.to_owned(),
                max_failures: config.login_max_failures,
                rate_window: Duration::from_secs(config.rate_limit_window_secs),
                secure_cookie: public_url.to_ascii_lowercase().starts_with("https://"),
            },
        );
        let attachments = AttachmentsService::new(
            pool.clone(),
            access.clone(),
            store,
            AttachmentSettings {
                max_bytes: config.attachment_max_bytes,
                allowed_types: config.attachment_type_list(),
                upload_ttl: Duration::from_secs(config.attachment_upload_ttl_secs),
                download_ttl: Duration::from_secs(5 * 60),
                stale_after: Duration::from_secs(24 * 3600),
            },
        );
        let engine: Arc<dyn mdz_core::search::SearchEngine> = if config.search_engine == "postgres"
        {
            Arc::new(engine::postgres::PostgresSearch::new(pool.clone()))
        } else {
            Arc::new(
                engine::embedded::EmbeddedSearch::new(pool.clone())
                    .map_err(|e| format!("the embedded search index: {e}"))?,
            )
        };
        Ok(Self {
            service: Arc::new(FilesService::new(pool, access, settings, engine, event_bus)),
            attachments: Arc::new(attachments),
            export: Arc::new(export),
            import: Arc::new(import),
            shares: Arc::new(shares),
            local_store,
            feed,
        })
    }

    /// The service, for adapters the server composes (the workspace port).
    pub fn service(&self) -> Arc<FilesService> {
        self.service.clone()
    }

    /// The documents port collab reads and saves through.
    pub fn documents(&self) -> Arc<dyn mdz_core::documents::DocumentStore> {
        Arc::new(documents::FileDocuments(self.service.clone()))
    }

    /// The merged feed of project events (file changes and the event log), for webhooks.
    pub fn project_feed(&self) -> Arc<dyn mdz_core::events::ProjectFeed> {
        self.feed.clone()
    }

    /// The node's "project X has new events" nudges (subscribe to follow the feed live).
    pub fn event_bus(&self) -> Arc<mdz_core::events::EventBus> {
        self.feed.bus.clone()
    }

    /// Send REST writes to live collab rooms.
    pub fn connect_live(&self, live: Arc<dyn mdz_core::documents::LiveDocuments>) {
        self.service.connect_live(live);
    }

    pub fn app_data(&self, cfg: &mut ServiceConfig) {
        cfg.app_data(web::Data::from(self.service.clone()));
        cfg.app_data(web::Data::from(self.attachments.clone()));
        cfg.app_data(web::Data::from(self.export.clone()));
        cfg.app_data(web::Data::from(self.import.clone()));
        cfg.app_data(web::Data::from(self.shares.clone()));
        cfg.app_data(web::Data::from(self.feed.clone()));
        cfg.app_data(web::Data::from(self.project_feed()));
        if let Some(local) = &self.local_store {
            cfg.app_data(web::Data::from(local.clone()));
        }
    }

    /// Index the search vectors of saved documents every `every`, in batches, so that saves
    /// do not compute them (a search indexes its projects' stale rows itself first).
    pub fn spawn_indexer(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let service = self.service.clone();
        mdz_core::periodic::spawn_every(every, move || {
            let service = service.clone();
            async move {
                if let Err(e) = service.index_pending().await {
                    tracing::warn!(error = %e, "search indexing failed");
                }
            }
        })
    }

    /// Number the change feed's committed entries every `every` (readers number what is left
    /// before they read, so this only keeps the backlog short).
    pub fn spawn_sequencer(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let service = self.service.clone();
        mdz_core::periodic::spawn_every(every, move || {
            let service = service.clone();
            async move {
                if let Err(e) = service.number_pending().await {
                    tracing::warn!(error = %e, "numbering the change feed failed");
                }
            }
        })
    }

    /// Purge the trash, compact the change feed, drop abandoned uploads and delete the stored
    /// objects of deleted attachments every `every`.
    pub fn spawn_purger(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let service = self.service.clone();
        let attachments = self.attachments.clone();
        mdz_core::periodic::spawn_every(every, move || {
            let (service, attachments) = (service.clone(), attachments.clone());
            async move {
                match service.purge().await {
                    Ok((0, 0)) => {}
                    Ok((files, changes)) => {
                        tracing::info!(files, changes, "purged the trash and compacted the feed");
                    }
                    Err(e) => tracing::warn!(error = %e, "purging files failed"),
                }
                match attachments.cleanup().await {
                    Ok((0, 0)) => {}
                    Ok((uploads, objects)) => {
                        tracing::info!(uploads, objects, "removed abandoned uploads and objects");
                    }
                    Err(e) => tracing::warn!(error = %e, "cleaning up uploads failed"),
                }
            }
        })
    }
}

/// `/projects/{id}/…` routes of this domain (documents, folders, search, changes, attachments)
/// and `POST /projects/import`.
pub fn project_routes(cfg: &mut ServiceConfig) {
    cfg.service(import::endpoint::import_project);
    endpoint::project_routes(cfg);
    attachments::endpoint::project_routes(cfg);
    shares::endpoint::project_routes(cfg);
    events::endpoint::project_routes(cfg);
}

/// `DELETE /shares/{id}` (under the API prefix).
pub use shares::endpoint::routes as share_routes;
/// The public share pages, `/s/*` (at the server's root).
pub use shares::pages::routes as share_page_routes;

/// `/attachments/*` and `/blobs/*`.
pub use attachments::endpoint::routes as attachment_routes;
