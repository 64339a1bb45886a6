//! Typed, layered configuration: defaults, then an optional `mdz.toml`, then `MDZ_*` env vars.
//!
//! Every key is a flat field so that `MDZ_<FIELD>` maps to it one to one. Unknown keys and
//! bad values are rejected at start with a message that names the key.

use crate::secret::Secret;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod defaults;
#[cfg(test)]
mod tests;
mod validate;
use defaults::DEFAULTS;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The whole configuration of one mdz process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds (`MDZ_LISTEN`).
    pub listen: String,
    /// A separate address for `GET /metrics` (e.g. an internal interface); when set, the
    /// main listener answers 404 for it.
    pub metrics_listen: Option<String>,
    /// Where mdz keeps its own files: signing keys, the embedded PostgreSQL cluster, local blobs.
    pub data_dir: PathBuf,
    /// External PostgreSQL (`DATABASE_URL`); without it mdz runs its own cluster in `data_dir`.
    pub database_url: Option<Secret>,
    /// Maximum connections in the PostgreSQL pool.
    pub database_pool_size: usize,
    /// Seconds to wait for a pooled PostgreSQL connection before answering 503.
    pub database_timeout_secs: u64,
    /// Directory holding `initdb`/`pg_ctl` for the embedded cluster; searched for when unset.
    pub pg_bin_dir: Option<PathBuf>,
    /// Redis (`REDIS_URL`); without it rate limits and revocations live in this process.
    pub redis_url: Option<Secret>,
    /// Prefix for every Redis key, so several deployments can share one Redis.
    pub redis_prefix: String,
    /// PKCS#8 PEM file with the Ed25519 key that signs access tokens; generated in `data_dir` when unset.
    pub jwt_private_key_file: Option<PathBuf>,
    /// Lifetime of an access token in seconds.
    pub jwt_access_ttl_secs: u64,
    /// Lifetime of a refresh session in days since its last use.
    pub jwt_refresh_ttl_days: u64,
    /// `iss` of issued tokens.
    pub jwt_issuer: String,
    /// `pretty` for people, `json` for log pipelines.
    pub log_format: LogFormat,
    /// A tracing filter, e.g. `info` or `mdz=debug,info`.
    pub log_level: String,
    /// Comma-separated origins allowed by CORS (`*` for any); empty disables CORS.
    pub cors_origins: String,
    /// Largest JSON request body in bytes; larger ones get 413.
    pub max_json_bytes: usize,
    /// HTTP worker threads; defaults to the number of cores.
    pub workers: Option<usize>,
    /// Trust `X-Forwarded-For`/`Forwarded` for the client address (only behind your own proxy).
    pub trust_proxy: bool,
    /// With `trust_proxy`: comma-separated CIDRs of the proxies whose forwarding headers are
    /// believed; the client is the rightmost hop outside them. Empty: only the direct peer is
    /// trusted, so the client is the last hop it appended.
    pub trusted_proxies: String,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_timeout_secs: u64,
    /// Failed logins per account and per IP within the window before 429.
    pub login_max_failures: u64,
    /// Registrations per IP within the window before 429.
    pub register_max_per_ip: u64,
    /// The rate-limit window in seconds.
    pub rate_limit_window_secs: u64,
    /// Password hashes (argon2id, ~19 MiB each) computed at once; the number of cores when unset.
    pub password_hash_concurrency: Option<usize>,
    /// Logins, registrations and password changes that may wait for a hashing slot; beyond
    /// that they get 503 with `Retry-After` at once.
    pub password_hash_queue: usize,
    /// The URL clients reach mdz at (for links in invitations); `http://<listen>` when unset.
    pub public_url: Option<String>,
    /// SMTP server mails go out through: `smtp://user:pass@host:587` (STARTTLS required),
    /// `smtp://…?tls=opportunistic` (STARTTLS when offered), `smtp://…?tls=none` (plain, for
    /// a local relay), `smtps://…` (implicit TLS). Unset: mails are logged and marked sent.
    pub smtp_url: Option<Secret>,
    /// The `From` of every mail, e.g. `mdz <noreply@example.com>`.
    pub mail_from: String,
    /// Delivery attempts of one mail before it is given up (marked failed).
    pub mail_max_attempts: u32,
    /// Seconds before the first retry of a failed delivery; each further retry waits twice
    /// as long, at most an hour.
    pub mail_retry_base_secs: u64,
    /// A mention is mailed once it has waited this long unread (mentions read in the app by
    /// then are not mailed, and the mentions of the wait go out in one mail).
    pub mention_mail_delay_secs: u64,
    /// At most one mention mail per person per this many seconds.
    pub mention_mail_interval_secs: u64,
    /// Invitations by e-mail one person may send in 24 hours (then 429).
    pub invitation_mails_per_inviter: u64,
    /// Invitations by e-mail one person may send to one mailbox in 24 hours (then 429).
    pub invitation_mails_per_pair: u64,
    /// Invitations by e-mail one mailbox (an address without its `+tag`) may receive in 24
    /// hours, from anyone (then 429).
    pub invitation_mails_per_address: u64,
    /// Let webhook URLs reach loopback, private and link-local addresses (SSRF guard off:
    /// for tests and closed networks only).
    pub webhook_allow_private: bool,
    /// Seconds to wait before each retry of a failed webhook delivery, comma-separated; after
    /// the last one fails the delivery is given up (and its webhook disabled when it has had
    /// no success since).
    pub webhook_retry_secs: String,
    /// `POST /auth/password/forgot` per address, known or not, within the rate-limit window
    /// (then 429, the same for every address).
    pub password_reset_max_per_address: u64,
    /// `POST /auth/password/forgot` per client IP within the rate-limit window (then 429).
    pub password_reset_max_per_ip: u64,
    /// Single sign-on: the OpenID Connect provider's issuer URL (discovery reads
    /// `<issuer>/.well-known/openid-configuration`). Unset: no single sign-on.
    pub oidc_issuer: Option<String>,
    /// The client id mdz is registered under at the provider (with `oidc_issuer`).
    pub oidc_client_id: Option<String>,
    /// The client's secret; unset for a public client (PKCE alone).
    pub oidc_client_secret: Option<Secret>,
    /// Create an account at the first sign-in of someone the provider vouches for (with a
    /// verified address no account has); off: only existing accounts can sign in.
    pub oidc_auto_create: bool,
    /// Passwords off: password login, registration and reset answer 403; only single sign-on.
    pub oidc_only: bool,
    /// Seconds between `GET /auth/oidc/start` and its callback before the sign-in expires.
    pub oidc_flow_ttl_secs: u64,
    /// `GET /auth/oidc/start` per client IP within the rate-limit window (then 429).
    pub oidc_start_max_per_ip: u64,
    /// Days a deleted project can be restored before it is purged.
    pub project_retention_days: u64,
    /// Seconds between purges of expired deleted data.
    pub purge_interval_secs: u64,
    /// Largest Markdown document in bytes; larger saves get 413.
    pub max_file_bytes: usize,
    /// Saves by one author within this many seconds land in one version.
    pub version_coalesce_secs: u64,
    /// What answers searches: `embedded` (a tantivy index in memory, rebuilt from PostgreSQL
    /// at start and fed by the search queue) or `postgres` (PostgreSQL full-text search).
    pub search_engine: String,
    /// S3-compatible endpoint (MinIO, Garage, Ceph, R2…); AWS's own when unset and a bucket is.
    pub s3_endpoint: Option<String>,
    /// The attachment bucket; without it attachments live under `data_dir/blobs`.
    pub s3_bucket: Option<String>,
    pub s3_region: String,
    /// Credentials; `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` when unset.
    pub s3_access_key_id: Option<Secret>,
    pub s3_secret_access_key: Option<Secret>,
    /// Largest attachment in bytes.
    pub attachment_max_bytes: i64,
    /// Comma-separated content types attachments may have.
    pub attachment_types: String,
    /// Seconds an upload URL stays valid.
    pub attachment_upload_ttl_secs: u64,
    /// Largest zip body `POST /projects/import` accepts, in bytes (413 above).
    pub import_max_bytes: u64,
    /// Most entries (files and folders) an imported zip may hold (413 above).
    pub import_max_entries: usize,
    /// Most bytes an imported zip may inflate to, counted while inflating (413 above).
    pub import_max_uncompressed_bytes: u64,
    /// Most imports one node runs at once (each holds a database connection for its
    /// transaction and its upload on disk); more get 503 with `Retry-After`.
    pub import_max_concurrent: usize,
    /// Largest collab WebSocket message in bytes (bigger: close 1009).
    pub collab_max_message_bytes: usize,
    /// Most connections one document's room accepts.
    pub collab_max_connections_per_doc: usize,
    /// Messages per second one collab connection may send (burst: twice that).
    pub collab_messages_per_sec: u32,
    /// Seconds an empty room stays in memory before it is unloaded.
    pub collab_idle_unload_secs: u64,
    /// Stored updates after which a document's updates are folded into its snapshot.
    pub collab_compact_after: i64,
    /// Milliseconds of quiet after an edit before the text is written to the file (at most
    /// four times this after the first unsaved edit).
    pub collab_flush_ms: u64,
    /// Most open suggestions one document may have (then 409 until some are settled).
    pub suggestions_max_open_per_doc: i64,
    /// `openai` (any OpenAI-compatible endpoint), `anthropic` or `bedrock`; unset: chat
    /// answers 503 (unless `llm_providers` names some).
    pub llm_provider: Option<String>,
    /// The provider's API base, e.g. `https://api.openai.com/v1` or `http://ollama:11434/v1`.
    pub llm_base_url: Option<String>,
    pub llm_api_key: Option<Secret>,
    /// The default model (a session may name another).
    pub llm_model: Option<String>,
    /// Seconds to wait for the provider's answer to start, and between two pieces of it.
    pub llm_timeout_secs: u64,
    /// Characters of context (instructions, documents, history) sent with a message.
    pub llm_context_chars: usize,
    /// Most tokens of one answer (providers that require the limit, e.g. Anthropic).
    pub llm_max_tokens: u32,
    /// Most tokens of one ghost-text completion (`ai/complete`; `llm_max_tokens` if lower).
    pub llm_complete_max_tokens: u32,
    /// Bytes of the document on each side of an AI edit's selection or a completion's cursor
    /// sent as context.
    pub llm_ai_context_bytes: usize,
    /// AI edits and completions one user may have streaming at once on a node (429 beyond).
    pub llm_ai_max_live_per_user: usize,
    /// AI edits and completions one document may have streaming at once on a node (429
    /// beyond).
    pub llm_ai_max_live_per_document: usize,
    /// Live project event streams (`GET /projects/{id}/events`) one user may have open at
    /// once on a node (429 beyond).
    pub events_max_streams_per_user: usize,
    /// Tokens one user may use per UTC day; 0: no limit.
    pub llm_daily_tokens_per_user: i64,
    /// Tokens one project may use per UTC day; 0: no limit.
    pub llm_daily_tokens_per_project: i64,
    /// Bedrock: the AWS region (default `us-east-1`).
    pub llm_region: Option<String>,
    /// Bedrock: AWS access keys for SigV4 (else `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/
    /// `AWS_SESSION_TOKEN`); `llm_api_key` instead is a Bedrock API key.
    pub llm_aws_access_key_id: Option<String>,
    pub llm_aws_secret_access_key: Option<Secret>,
    /// More providers a session may choose by name, next to the one of the `llm_*` keys
    /// (named `default`): a table in `mdz.toml` (`[llm_providers.claude]`) or an inline
    /// table in `MDZ_LLM_PROVIDERS` (`{claude={provider="anthropic",model="…"}}`).
    #[serde(default)]
    pub llm_providers: BTreeMap<String, LlmProviderConfig>,
}

/// One model provider of the deployment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmProviderConfig {
    /// `openai`, `anthropic` or `bedrock`.
    pub provider: String,
    pub base_url: Option<String>,
    pub api_key: Option<Secret>,
    pub model: Option<String>,
    pub region: Option<String>,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<Secret>,
}

/// The name of the provider the flat `llm_*` keys configure.
pub const DEFAULT_LLM_PROVIDER: &str = "default";
/// Kinds of model providers mdz speaks.
pub const LLM_PROVIDER_KINDS: [&str; 3] = ["openai", "anthropic", "bedrock"];

/// Retries of one webhook delivery at most.
pub const WEBHOOK_MAX_RETRIES: usize = 20;
/// The longest wait before one retry: two days.
pub const WEBHOOK_MAX_RETRY_SECS: u64 = 2 * 86_400;

/// Why the configuration could not be loaded; the message names the offending key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// `MDZ_CONFIG` names the file (read by the CLI) and is not itself a key.
    /// Load defaults → `file` (when it exists, or `mdz.toml` in the working directory) → env.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(DEFAULTS));
        match file {
            Some(path) if !path.exists() => {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new("mdz.toml").exists() => {
                figment = figment.merge(Toml::file_exact("mdz.toml"));
            }
            None => {}
        }
        figment = figment
            .merge(Env::raw().only(&["DATABASE_URL", "REDIS_URL"]))
            .merge(Env::prefixed("MDZ_").ignore(&["CONFIG"]));
        Self::from_figment(figment)
    }

    /// Defaults with the given overrides, for tests and embedding (no file, no env).
    pub fn with_overrides(overrides: &[(&str, serde_json::Value)]) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(DEFAULTS));
        for (key, value) in overrides {
            figment = figment.merge(Serialized::default(key, value));
        }
        Self::from_figment(figment)
    }

    /// Every configured model provider by name: `default` (the `llm_*` keys) first.
    pub fn llm_providers(&self) -> Vec<(String, LlmProviderConfig)> {
        let mut all = Vec::with_capacity(self.llm_providers.len() + 1);
        if let Some(kind) = &self.llm_provider {
            all.push((
                DEFAULT_LLM_PROVIDER.to_owned(),
                LlmProviderConfig {
                    provider: kind.clone(),
                    base_url: self.llm_base_url.clone(),
                    api_key: self.llm_api_key.clone(),
                    model: self.llm_model.clone(),
                    region: self.llm_region.clone(),
                    aws_access_key_id: self.llm_aws_access_key_id.clone(),
                    aws_secret_access_key: self.llm_aws_secret_access_key.clone(),
                },
            ));
        }
        all.extend(
            self.llm_providers
                .iter()
                .map(|(name, p)| (name.clone(), p.clone())),
        );
        all
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment.extract().map_err(|e| {
            let keys: Vec<String> = e
                .clone()
                .into_iter()
                .map(|err| {
                    let key = err.path.join(".");
                    let source = err
                        .metadata
                        .as_ref()
                        .map(|m| m.name.to_string())
                        .unwrap_or_default();
                    format!("key `{key}` ({source}): {}", err.kind)
                })
                .collect();
            ConfigError(keys.join("; "))
        })?;
        config.validate()?;
        config.validate_webhooks()?;
        Ok(config)
    }

    /// The base URL for links mdz hands out, given the address actually bound.
    pub fn public_base_url(&self, bound: std::net::SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
            .trim_end_matches('/')
            .to_owned()
    }

    /// The allowed attachment content types as a list.
    pub fn attachment_type_list(&self) -> Vec<String> {
        self.attachment_types
            .split(',')
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// The proxies whose forwarding headers are believed (checked at load).
    pub fn trusted_proxy_list(&self) -> Vec<crate::client::Cidr> {
        crate::client::parse_cidrs(&self.trusted_proxies).unwrap_or_default()
    }

    /// The CORS origins as a list.
    pub fn cors_origin_list(&self) -> Vec<String> {
        self.cors_origins
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}
