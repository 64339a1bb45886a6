//! mdz-chat: the messages of AI sessions — stored before and while the model answers,
//! streamed as Server-Sent Events or returned whole, resumable after a dropped connection,
//! cancellable, on any OpenAI-compatible provider. Reaches sessions, projects and files only
//! through the ports in core.

pub mod ai;
pub mod context;
pub mod endpoint;
pub mod error;
pub mod generation;
pub mod interface;
pub mod metrics;
pub mod provider;
pub mod quota;
pub mod repo;
pub mod schema;
pub mod service;

use actix_web::web;
use mdz_core::access::ProjectAccess;
use mdz_core::config::Config;
use mdz_core::config::LlmProviderConfig;
use mdz_core::db::DbPool;
use mdz_core::documents::DocumentStore;
use mdz_core::ports::{ChatSessions, LiveEdits};
use prometheus::Registry;
use provider::bedrock::{BedrockAuth, BedrockSettings};
use provider::{Limits, Provider, Providers};
use service::ChatService;
use std::sync::Arc;
use std::time::Duration;
use utoipa_actix_web::service_config::ServiceConfig;

pub use ai::endpoint::file_routes;
pub use endpoint::{chat_routes, session_routes};
pub use error::ChatError;

/// The chat domain, built once at start.
#[derive(Clone)]
pub struct ChatModule {
    service: Arc<ChatService>,
    ai: Arc<ai::AiService>,
}

/// A provider built from its configuration.
fn build_provider(
    name: &str,
    config: &LlmProviderConfig,
    max_tokens: u32,
    limits: Limits,
) -> Result<Arc<dyn Provider>, String> {
    let model = config
        .model
        .clone()
        .ok_or_else(|| format!("provider `{name}`: set its default model"))?;
    let key = config.api_key.as_ref().map(|k| k.expose().to_owned());
    tracing::info!(name, provider = %config.provider, model = %model, "chat provider configured");
    Ok(match config.provider.as_str() {
        "openai" => {
            let base = config
                .base_url
                .clone()
                .unwrap_or_else(|| "https://api.openai.com/v1".to_owned());
            Arc::new(provider::openai::OpenAi::new(
                &base, key, model, max_tokens, limits,
            ))
        }
        "anthropic" => {
            let base = config
                .base_url
                .clone()
                .unwrap_or_else(|| "https://api.anthropic.com/v1".to_owned());
            Arc::new(provider::anthropic::Anthropic::new(
                &base, key, model, max_tokens, limits,
            ))
        }
        "bedrock" => {
            let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
            let auth = match (
                key,
                &config.aws_access_key_id,
                &config.aws_secret_access_key,
            ) {
                (Some(key), _, _) => BedrockAuth::ApiKey(key),
                (None, Some(id), Some(secret)) => BedrockAuth::AccessKeys {
                    access_key_id: id.clone(),
                    secret_access_key: secret.expose().to_owned(),
                    session_token: None,
                },
                _ => match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
                    (Some(id), Some(secret)) => BedrockAuth::AccessKeys {
                        access_key_id: id,
                        secret_access_key: secret,
                        session_token: env("AWS_SESSION_TOKEN"),
                    },
                    _ => {
                        return Err(format!(
                            "provider `{name}` (bedrock): set an API key (llm_api_key), or AWS access keys (llm_aws_access_key_id and llm_aws_secret_access_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
                        ));
                    }
                },
            };
            let region = config
                .region
                .clone()
                .or_else(|| env("AWS_REGION"))
                .unwrap_or_else(|| "us-east-1".to_owned());
            Arc::new(provider::bedrock::Bedrock::new(
                BedrockSettings {
                    region,
                    endpoint: config.base_url.clone(),
                    auth,
                    model,
                    max_tokens,
                },
                limits,
            ))
        }
        other => return Err(format!("provider `{name}`: `{other}` is not supported")),
    })
}

/// How much longer than the provider idle timeout an answer may go unsaved before it counts as
/// left by a stopped node (saves are 250 ms apart while text arrives).
const ORPHAN_MARGIN: Duration = Duration::from_secs(30);

/// How often the answers left by stopped nodes are looked for.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Every configured provider.
fn providers(config: &Config) -> Result<Providers, String> {
    let limits = Limits {
        idle_timeout: Duration::from_secs(config.llm_timeout_secs),
    };
    let mut all = Vec::new();
    for (name, p) in config.llm_providers() {
        let built = build_provider(&name, &p, config.llm_max_tokens, limits.clone())?;
        all.push((name, p.provider, built));
    }
    Ok(Providers::new(all))
}

impl ChatModule {
    pub fn new(
        config: &Config,
        pool: DbPool,
        access: Arc<dyn ProjectAccess>,
        sessions: Arc<dyn ChatSessions>,
        documents: Arc<dyn DocumentStore>,
        live: Arc<dyn LiveEdits>,
        registry: &Registry,
    ) -> Result<Self, String> {
        let metrics = metrics::ChatMetrics::register(registry).map_err(|e| e.to_string())?;
        let providers = providers(config)?;
        let service = Arc::new(ChatService::new(
            pool,
            access,
            sessions,
            documents,
            providers,
            Arc::new(metrics),
            service::ChatSettings {
                budget_chars: config.llm_context_chars,
                quotas: quota::Quotas {
                    per_user: config.llm_daily_tokens_per_user,
                    per_project: config.llm_daily_tokens_per_project,
                    max_tokens: config.llm_max_tokens,
                },
                orphaned_after: Duration::from_secs(config.llm_timeout_secs) + ORPHAN_MARGIN,
            },
        ));
        let ai = Arc::new(ai::AiService::new(
            service.clone(),
            live,
            ai::AiSettings {
                context_bytes: config.llm_ai_context_bytes,
                complete_max_tokens: config.llm_complete_max_tokens,
                max_live_per_user: config.llm_ai_max_live_per_user,
                max_live_per_document: config.llm_ai_max_live_per_document,
            },
        ));
        Ok(Self { service, ai })
    }

    pub fn app_data(&self, cfg: &mut ServiceConfig) {
        cfg.app_data(web::Data::from(self.service.clone()));
        cfg.app_data(web::Data::from(self.ai.clone()));
    }

    /// Every `every` (and once at start), end the answers that a stopped node left
    /// `streaming`, so that they can be regenerated and nobody waits on them.
    pub fn spawn_sweeper(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let (service, ai) = (self.service.clone(), self.ai.clone());
        mdz_core::periodic::spawn_every(every, move || {
            let (service, ai) = (service.clone(), ai.clone());
            async move {
                match service.end_orphans().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(answers = n, "ended answers left by a stopped node"),
                    Err(e) => tracing::warn!(error = %e, "ending orphaned answers failed"),
                }
                match ai.end_orphans().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(edits = n, "ended AI edits left by a stopped node"),
                    Err(e) => tracing::warn!(error = %e, "ending orphaned AI edits failed"),
                }
                match ai.purge_completions().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(completions = n, "purged ended completions"),
                    Err(e) => tracing::warn!(error = %e, "purging ended completions failed"),
                }
            }
        })
    }
}
