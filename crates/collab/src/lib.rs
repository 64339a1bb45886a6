//! mdz-collab: live Yjs editing over WebSocket (the y-websocket protocol, via `yrs::sync`),
//! durable per update (group-committed to PostgreSQL before anyone sees it), fanned out to
//! other replicas through the Kv bus with gap filling from the journal, kept in step with
//! the file (REST writes merge into the room; the room's text is saved back to the file).
//! Reaches files and projects only through the ports in core.

pub mod comments;
pub mod connection;
pub mod endpoint;
pub mod error;
pub mod journal;
pub mod merge;
pub mod metrics;
pub mod protocol;
pub mod repo;
pub mod room;
pub mod rooms;
pub mod schema;
pub mod suggestions;
pub mod sync;
pub mod tickets;

use actix_web::web;
use async_trait::async_trait;
use mdz_core::access::ProjectAccess;
use mdz_core::config::Config;
use mdz_core::db::DbPool;
use mdz_core::documents::{DocumentStore, LiveDocuments};
use mdz_core::ids::{FileId, UserId};
use mdz_core::kv::SharedKv;
use mdz_core::ports::UserDirectory;
use prometheus::Registry;
use rooms::{Rooms, Settings};
use std::sync::Arc;
use std::time::Duration;
use utoipa_actix_web::service_config::ServiceConfig;

/// `/collab/*`, `/comments/*`, `/notifications/*` and `/suggestions/*`.
pub fn routes(cfg: &mut ServiceConfig) {
    endpoint::routes(cfg);
    comments::endpoint::routes(cfg);
    suggestions::endpoint::routes(cfg);
}

/// Routes under `/files` (comments and suggestions of a document).
pub fn file_routes(cfg: &mut ServiceConfig) {
    comments::endpoint::file_routes(cfg);
    suggestions::endpoint::file_routes(cfg);
}
pub use error::CollabError;
pub use journal::JOURNAL_CONNECTIONS;

/// The name of the shared `Y.Text` that holds a document's Markdown.
pub const TEXT_NAME: &str = "content";

/// The collab domain, built once at start.
#[derive(Clone)]
pub struct CollabModule {
    rooms: Arc<Rooms>,
    comments: Arc<comments::CommentsService>,
    suggestions: Arc<suggestions::SuggestionsService>,
    ai_edits: Arc<suggestions::ai::AiEdits>,
}

impl CollabModule {
    pub fn new(
        config: &Config,
        (pool, journal_pool): (DbPool, DbPool),
        kv: SharedKv,
        access: Arc<dyn ProjectAccess>,
        documents: Arc<dyn DocumentStore>,
        users: Arc<dyn UserDirectory>,
        registry: &Registry,
    ) -> Result<Self, String> {
        let metrics = metrics::CollabMetrics::register(registry).map_err(|e| e.to_string())?;
        let settings = Settings {
            max_message_bytes: config.collab_max_message_bytes,
            max_text_bytes: config.max_file_bytes,
            load_timeout: Duration::from_secs(config.database_timeout_secs.max(1) * 2),
            max_connections: config.collab_max_connections_per_doc,
            messages_per_sec: config.collab_messages_per_sec,
            idle_unload: Duration::from_secs(config.collab_idle_unload_secs),
            compact_after: config.collab_compact_after,
            flush_quiet: Duration::from_millis(config.collab_flush_ms),
            ping_every: Duration::from_secs(10),
            dead_after: Duration::from_secs(30),
        };
        let comments = Arc::new(comments::CommentsService::new(
            pool.clone(),
            access.clone(),
            documents.clone(),
            users.clone(),
        ));
        let rooms = Rooms::start(
            (pool.clone(), journal_pool),
            documents.clone(),
            access.clone(),
            kv,
            settings,
            Arc::new(metrics),
        );
        let suggestions = Arc::new(suggestions::SuggestionsService::new(
            pool,
            access,
            documents,
            rooms.clone(),
            config.suggestions_max_open_per_doc,
        ));
        let ai_edits = Arc::new(suggestions::ai::AiEdits::new(
            suggestions.clone(),
            rooms.clone(),
            users,
        ));
        Ok(Self {
            rooms,
            comments,
            suggestions,
            ai_edits,
        })
    }

    /// The port through which REST writes reach live rooms.
    pub fn live_documents(&self) -> Arc<dyn LiveDocuments> {
        Arc::new(LiveRooms(self.rooms.clone()))
    }

    /// The port through which chat's AI edits reach live documents and suggestions.
    pub fn live_edits(&self) -> Arc<dyn mdz_core::ports::LiveEdits> {
        self.ai_edits.clone()
    }

    pub fn app_data(&self, cfg: &mut ServiceConfig) {
        cfg.app_data(web::Data::from(self.rooms.clone()));
        cfg.app_data(web::Data::from(self.comments.clone()));
        cfg.app_data(web::Data::from(self.suggestions.clone()));
    }

    /// The suggestions service (for the workspace port of MCP).
    pub fn suggestions(&self) -> Arc<suggestions::SuggestionsService> {
        self.suggestions.clone()
    }

    /// Mail @mentions (batched per person) every few seconds, until the process ends.
    pub fn spawn_mention_mails(
        &self,
        config: &Config,
        outbox: mdz_core::mail::Outbox,
    ) -> tokio::task::JoinHandle<()> {
        let mails = Arc::new(self.comments.mention_mails(
            outbox,
            config.mention_mail_delay_secs,
            config.mention_mail_interval_secs,
        ));
        mdz_core::periodic::spawn_every(comments::mention_mails::ROUND_EVERY, move || {
            let mails = mails.clone();
            async move {
                match mails.round().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(mails = n, "mention mails queued"),
                    Err(e) => tracing::warn!(error = %e, "finding mentions to mail failed"),
                }
            }
        })
    }

    /// Rooms held in memory now.
    pub fn loaded_rooms(&self) -> usize {
        self.rooms.loaded_count()
    }
}

struct LiveRooms(Arc<Rooms>);

#[async_trait]
impl LiveDocuments for LiveRooms {
    async fn rest_edit(&self, id: FileId, revision: i64, author: UserId) {
        // In its own task: a request that goes away mid-merge does not cut the merge short.
        let rooms = self.0.clone();
        let merge = tokio::spawn(async move { rooms.rest_edit(id, revision, author).await });
        match merge.await {
            Ok(Ok(())) => {}
            // The file has the text; a loaded room retries on its next tick, and a room
            // loaded later merges it then.
            Ok(Err(e)) => {
                tracing::warn!(file_id = %id, error = %e, "a REST write did not reach the live room");
            }
            Err(e) => tracing::warn!(file_id = %id, error = %e, "the merge task failed"),
        }
    }
}
