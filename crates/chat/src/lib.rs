//! mdz-chat: the messages of AI sessions — stored before and while the model answers,
//! streamed as Server-Sent Events or returned whole, resumable after a dropped connection,
//! cancellable, on any OpenAI-compatible provider. Reaches sessions, projects and files only
//! through the ports in core.

pub mod context;
pub mod endpoint;
pub mod error;
pub mod generation;
pub mod interface;
pub mod metrics;
pub mod provider;
pub mod repo;
pub mod schema;
pub mod service;

use actix_web::web;
use mdz_core::access::ProjectAccess;
use mdz_core::config::Config;
use mdz_core::db::DbPool;
use mdz_core::documents::DocumentStore;
use mdz_core::ports::ChatSessions;
use prometheus::Registry;
use provider::{Limits, Provider};
use service::ChatService;
use std::sync::Arc;
use std::time::Duration;
use utoipa_actix_web::service_config::ServiceConfig;

pub use endpoint::session_routes;
pub use error::ChatError;

/// The chat domain, built once at start.
#[derive(Clone)]
pub struct ChatModule {
    service: Arc<ChatService>,
}

/// The configured provider, if any.
fn provider(config: &Config) -> Result<Option<Arc<dyn Provider>>, String> {
    let Some(kind) = config.llm_provider.as_deref() else {
        return Ok(None);
    };
    let limits = Limits {
        idle_timeout: Duration::from_secs(config.llm_timeout_secs),
    };
    match kind {
        "openai" => {
            let base = config
                .llm_base_url
                .clone()
                .unwrap_or_else(|| "https://api.openai.com/v1".to_owned());
            let model = config
                .llm_model
                .clone()
                .ok_or("key `llm_model`: set the default model of the provider")?;
            let key = config.llm_api_key.as_ref().map(|k| k.expose().to_owned());
            tracing::info!(provider = "openai", model = %model, "chat provider configured");
            Ok(Some(Arc::new(provider::openai::OpenAi::new(
                &base, key, model, limits,
            ))))
        }
        "anthropic" => {
            let base = config
                .llm_base_url
                .clone()
                .unwrap_or_else(|| "https://api.anthropic.com/v1".to_owned());
            let model = config
                .llm_model
                .clone()
                .ok_or("key `llm_model`: set the default model of the provider")?;
            let key = config.llm_api_key.as_ref().map(|k| k.expose().to_owned());
            tracing::info!(provider = "anthropic", model = %model, "chat provider configured");
            Ok(Some(Arc::new(provider::anthropic::Anthropic::new(
                &base,
                key,
                model,
                config.llm_max_tokens,
                limits,
            ))))
        }
        other => Err(format!(
            "key `llm_provider`: `{other}` is not supported (use `openai` for any OpenAI-compatible endpoint, or `anthropic`)"
        )),
    }
}

impl ChatModule {
    pub fn new(
        config: &Config,
        pool: DbPool,
        access: Arc<dyn ProjectAccess>,
        sessions: Arc<dyn ChatSessions>,
        documents: Arc<dyn DocumentStore>,
        registry: &Registry,
    ) -> Result<Self, String> {
        let metrics = metrics::ChatMetrics::register(registry).map_err(|e| e.to_string())?;
        let provider = provider(config)?;
        Ok(Self {
            service: Arc::new(ChatService::new(
                pool,
                access,
                sessions,
                documents,
                provider,
                Arc::new(metrics),
                service::ChatSettings {
                    budget_chars: config.llm_context_chars,
                    daily_tokens_per_user: config.llm_daily_tokens_per_user,
                    daily_tokens_per_project: config.llm_daily_tokens_per_project,
                },
            )),
        })
    }

    pub fn app_data(&self, cfg: &mut ServiceConfig) {
        cfg.app_data(web::Data::from(self.service.clone()));
    }
}
