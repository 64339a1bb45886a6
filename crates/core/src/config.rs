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

/// An issuer mdz may trust: https, or plain http on this machine only (development, tests).
fn oidc_issuer_is_allowed(issuer: &str) -> bool {
    let lower = issuer.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return lower.len() > "https://".len();
    }
    let Some(rest) = lower.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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

/// The defaults, written as the TOML-shaped layer figment starts from.
#[derive(Serialize)]
struct Defaults {
    listen: &'static str,
    data_dir: &'static str,
    database_pool_size: usize,
    database_timeout_secs: u64,
    redis_prefix: &'static str,
    jwt_access_ttl_secs: u64,
    jwt_refresh_ttl_days: u64,
    jwt_issuer: &'static str,
    log_format: LogFormat,
    log_level: &'static str,
    cors_origins: &'static str,
    max_json_bytes: usize,
    trust_proxy: bool,
    trusted_proxies: &'static str,
    shutdown_timeout_secs: u64,
    login_max_failures: u64,
    register_max_per_ip: u64,
    rate_limit_window_secs: u64,
    password_hash_queue: usize,
    mail_from: &'static str,
    mail_max_attempts: u32,
    mail_retry_base_secs: u64,
    mention_mail_delay_secs: u64,
    mention_mail_interval_secs: u64,
    invitation_mails_per_inviter: u64,
    invitation_mails_per_pair: u64,
    invitation_mails_per_address: u64,
    webhook_allow_private: bool,
    webhook_retry_secs: &'static str,
    password_reset_max_per_address: u64,
    password_reset_max_per_ip: u64,
    oidc_auto_create: bool,
    oidc_only: bool,
    oidc_flow_ttl_secs: u64,
    oidc_start_max_per_ip: u64,
    project_retention_days: u64,
    purge_interval_secs: u64,
    max_file_bytes: usize,
    version_coalesce_secs: u64,
    search_engine: &'static str,
    s3_region: &'static str,
    attachment_max_bytes: i64,
    attachment_types: &'static str,
    attachment_upload_ttl_secs: u64,
    import_max_bytes: u64,
    import_max_entries: usize,
    import_max_uncompressed_bytes: u64,
    import_max_concurrent: usize,
    collab_max_message_bytes: usize,
    collab_max_connections_per_doc: usize,
    collab_messages_per_sec: u32,
    collab_idle_unload_secs: u64,
    collab_compact_after: i64,
    collab_flush_ms: u64,
    suggestions_max_open_per_doc: i64,
    llm_timeout_secs: u64,
    llm_context_chars: usize,
    llm_max_tokens: u32,
    llm_complete_max_tokens: u32,
    llm_ai_context_bytes: usize,
    llm_ai_max_live_per_user: usize,
    llm_ai_max_live_per_document: usize,
    events_max_streams_per_user: usize,
    llm_daily_tokens_per_user: i64,
    llm_daily_tokens_per_project: i64,
}

const DEFAULTS: Defaults = Defaults {
    listen: "127.0.0.1:8080",
    data_dir: "./.mdz",
    database_pool_size: 16,
    database_timeout_secs: 5,
    redis_prefix: "mdz:",
    jwt_access_ttl_secs: 900,
    jwt_refresh_ttl_days: 30,
    jwt_issuer: "mdz",
    log_format: LogFormat::Pretty,
    log_level: "info",
    cors_origins: "",
    max_json_bytes: 1024 * 1024,
    trust_proxy: false,
    trusted_proxies: "",
    shutdown_timeout_secs: 30,
    login_max_failures: 10,
    register_max_per_ip: 20,
    rate_limit_window_secs: 900,
    password_hash_queue: 16,
    mail_from: "mdz <noreply@localhost>",
    mail_max_attempts: 10,
    mail_retry_base_secs: 30,
    mention_mail_delay_secs: 120,
    mention_mail_interval_secs: 600,
    invitation_mails_per_inviter: 50,
    invitation_mails_per_pair: 3,
    invitation_mails_per_address: 20,
    webhook_allow_private: false,
    // 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: about 27 hours in all.
    webhook_retry_secs: "5,300,1800,7200,18000,36000,36000",
    password_reset_max_per_address: 3,
    password_reset_max_per_ip: 20,
    oidc_auto_create: true,
    oidc_only: false,
    oidc_flow_ttl_secs: 600,
    oidc_start_max_per_ip: 60,
    project_retention_days: 30,
    purge_interval_secs: 3600,
    max_file_bytes: 5 * 1024 * 1024,
    version_coalesce_secs: 60,
    search_engine: "embedded",
    s3_region: "us-east-1",
    attachment_max_bytes: 25 * 1024 * 1024,
    attachment_types: "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain",
    attachment_upload_ttl_secs: 900,
    import_max_bytes: 512 * 1024 * 1024,
    import_max_entries: 20_000,
    import_max_uncompressed_bytes: 2 * 1024 * 1024 * 1024,
    import_max_concurrent: 2,
    collab_max_message_bytes: 8 * 1024 * 1024,
    collab_max_connections_per_doc: 500,
    collab_messages_per_sec: 200,
    collab_idle_unload_secs: 60,
    collab_compact_after: 1000,
    collab_flush_ms: 400,
    suggestions_max_open_per_doc: 200,
    llm_timeout_secs: 60,
    llm_context_chars: 48_000,
    llm_max_tokens: 4096,
    llm_complete_max_tokens: 64,
    llm_ai_context_bytes: 4096,
    llm_ai_max_live_per_user: 4,
    llm_ai_max_live_per_document: 8,
    events_max_streams_per_user: 16,
    llm_daily_tokens_per_user: 0,
    llm_daily_tokens_per_project: 0,
};

/// Retries of one webhook delivery at most.
pub const WEBHOOK_MAX_RETRIES: usize = 20;
/// The longest wait before one retry: two days.
pub const WEBHOOK_MAX_RETRY_SECS: u64 = 2 * 86_400;

/// `5,300,1800`: 1 to 20 waits of 1 s to 2 days each.
fn parse_retry_schedule(raw: &str) -> Result<Vec<std::time::Duration>, String> {
    let waits = raw
        .split(',')
        .map(|s| s.trim().parse::<u64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "expected seconds separated by commas, e.g. 5,300,1800".to_owned())?;
    if waits.is_empty() || waits.len() > WEBHOOK_MAX_RETRIES {
        return Err(format!("1 to {WEBHOOK_MAX_RETRIES} waits"));
    }
    if waits.iter().any(|w| *w == 0 || *w > WEBHOOK_MAX_RETRY_SECS) {
        return Err(format!(
            "each wait between 1 and {WEBHOOK_MAX_RETRY_SECS} seconds"
        ));
    }
    Ok(waits
        .into_iter()
        .map(std::time::Duration::from_secs)
        .collect())
}

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

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError(format!("key `{key}`: {why}")));
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return bad("listen", "expected host:port, e.g. 127.0.0.1:8080");
        }
        if let Some(addr) = &self.metrics_listen
            && addr.parse::<std::net::SocketAddr>().is_err()
        {
            return bad("metrics_listen", "expected host:port, e.g. 127.0.0.1:9090");
        }
        if self.database_pool_size == 0 {
            return bad("database_pool_size", "must be at least 1");
        }
        if self.jwt_access_ttl_secs < 10 {
            return bad("jwt_access_ttl_secs", "must be at least 10 seconds");
        }
        if self.jwt_refresh_ttl_days == 0 {
            return bad("jwt_refresh_ttl_days", "must be at least 1");
        }
        if self.max_json_bytes < 1024 {
            return bad("max_json_bytes", "must be at least 1024");
        }
        if let Err(why) = crate::client::parse_cidrs(&self.trusted_proxies) {
            return bad("trusted_proxies", &why);
        }
        if self.password_hash_concurrency == Some(0) {
            return bad("password_hash_concurrency", "must be at least 1");
        }
        if self.workers == Some(0) {
            return bad("workers", "must be at least 1");
        }
        if self.attachment_upload_ttl_secs == 0 || self.attachment_upload_ttl_secs > 7 * 86_400 {
            return bad("attachment_upload_ttl_secs", "must be between 1 and 604800");
        }
        if self.attachment_max_bytes <= 0 {
            return bad("attachment_max_bytes", "must be at least 1");
        }
        if let Some(e) = &self.s3_endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return bad("s3_endpoint", "expected an http:// or https:// URL");
        }
        if self.suggestions_max_open_per_doc < 1 {
            return bad("suggestions_max_open_per_doc", "must be at least 1");
        }
        if self.max_file_bytes == 0 {
            return bad("max_file_bytes", "must be at least 1");
        }
        if self.import_max_bytes == 0 {
            return bad("import_max_bytes", "must be at least 1");
        }
        if self.import_max_entries == 0 {
            return bad("import_max_entries", "must be at least 1");
        }
        if self.import_max_uncompressed_bytes == 0 {
            return bad("import_max_uncompressed_bytes", "must be at least 1");
        }
        if self.import_max_concurrent == 0 {
            return bad("import_max_concurrent", "must be at least 1");
        }
        if self.purge_interval_secs == 0 {
            return bad("purge_interval_secs", "must be at least 1");
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return bad("public_url", "expected an http:// or https:// URL");
        }
        if self.collab_max_message_bytes < 1024 {
            return bad("collab_max_message_bytes", "must be at least 1024");
        }
        if self.collab_max_message_bytes
            < self.max_file_bytes.saturating_add(self.max_file_bytes / 4)
        {
            // A client must be able to send a whole document (with Yjs's overhead) at once.
            return bad(
                "collab_max_message_bytes",
                "must be at least 1.25 × max_file_bytes (a whole document fits in one message)",
            );
        }
        if !["embedded", "postgres"].contains(&self.search_engine.as_str()) {
            return bad("search_engine", "must be `embedded` or `postgres`");
        }
        if self.collab_max_connections_per_doc == 0 {
            return bad("collab_max_connections_per_doc", "must be at least 1");
        }
        if self.collab_messages_per_sec == 0 {
            return bad("collab_messages_per_sec", "must be at least 1");
        }
        if self.collab_compact_after < 10 {
            return bad("collab_compact_after", "must be at least 10");
        }
        if self.collab_flush_ms == 0 || self.collab_flush_ms > 500 {
            return bad(
                "collab_flush_ms",
                "must be between 1 and 500 (edits reach the file within 2 s)",
            );
        }
        if self.llm_timeout_secs == 0 {
            return bad("llm_timeout_secs", "must be at least 1");
        }
        if self.llm_max_tokens == 0 {
            return bad("llm_max_tokens", "must be at least 1");
        }
        for (key, quota) in [
            ("llm_daily_tokens_per_user", self.llm_daily_tokens_per_user),
            (
                "llm_daily_tokens_per_project",
                self.llm_daily_tokens_per_project,
            ),
        ] {
            // An answer holds its prompt + llm_max_tokens of the quota while it is generated.
            if quota != 0 && quota <= i64::from(self.llm_max_tokens) {
                return bad(
                    key,
                    "0 (no limit) or more than llm_max_tokens (an answer holds its prompt and \
                     llm_max_tokens of the quota while it is generated)",
                );
            }
        }
        if self.llm_complete_max_tokens == 0 {
            return bad("llm_complete_max_tokens", "must be at least 1");
        }
        if !(256..=65_536).contains(&self.llm_ai_context_bytes) {
            return bad("llm_ai_context_bytes", "must be between 256 and 65536");
        }
        if self.llm_ai_max_live_per_user == 0 {
            return bad("llm_ai_max_live_per_user", "must be at least 1");
        }
        if self.llm_ai_max_live_per_document == 0 {
            return bad("llm_ai_max_live_per_document", "must be at least 1");
        }
        if self.events_max_streams_per_user == 0 {
            return bad("events_max_streams_per_user", "must be at least 1");
        }
        if self.llm_context_chars < 1000 {
            return bad("llm_context_chars", "must be at least 1000");
        }
        if self.llm_providers.contains_key(DEFAULT_LLM_PROVIDER) {
            return bad(
                "llm_providers",
                "`default` is the provider of the llm_* keys; choose another name",
            );
        }
        for (name, p) in self.llm_providers() {
            let key = |field: &str| {
                if name == DEFAULT_LLM_PROVIDER {
                    format!("llm_{field}")
                } else {
                    format!("llm_providers.{name}.{field}")
                }
            };
            if !LLM_PROVIDER_KINDS.contains(&p.provider.as_str()) {
                return Err(ConfigError(format!(
                    "key `{}`: `{}` is not supported (use `openai` for any OpenAI-compatible endpoint, `anthropic` or `bedrock`)",
                    key("provider"),
                    p.provider
                )));
            }
            if p.model.is_none() {
                return Err(ConfigError(format!(
                    "key `{}`: set the default model of the provider",
                    key("model")
                )));
            }
            if let Some(url) = &p.base_url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(ConfigError(format!(
                    "key `{}`: expected an http:// or https:// URL",
                    key("base_url")
                )));
            }
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                || name.is_empty()
                || name.len() > 64
            {
                return Err(ConfigError(format!(
                    "key `llm_providers.{name}`: a name is 1 to 64 letters, digits, `-` or `_`"
                )));
            }
        }
        if let Some(url) = &self.smtp_url
            && !(url.expose().starts_with("smtp://") || url.expose().starts_with("smtps://"))
        {
            return bad("smtp_url", "expected an smtp:// or smtps:// URL");
        }
        if !self.mail_from.contains('@') {
            return bad(
                "mail_from",
                "expected an address, e.g. `mdz <noreply@example.com>`",
            );
        }
        if self.mail_max_attempts == 0 {
            return bad("mail_max_attempts", "must be at least 1");
        }
        if self.mail_retry_base_secs == 0 || self.mail_retry_base_secs > 3600 {
            return bad("mail_retry_base_secs", "must be between 1 and 3600");
        }
        for (key, value) in [
            (
                "invitation_mails_per_inviter",
                self.invitation_mails_per_inviter,
            ),
            ("invitation_mails_per_pair", self.invitation_mails_per_pair),
            (
                "invitation_mails_per_address",
                self.invitation_mails_per_address,
            ),
        ] {
            if value == 0 {
                return bad(key, "must be at least 1");
            }
        }
        if self.mention_mail_delay_secs > 86_400 {
            return bad("mention_mail_delay_secs", "must be at most 86400");
        }
        if self.mention_mail_interval_secs > 86_400 {
            return bad("mention_mail_interval_secs", "must be at most 86400");
        }
        if self.password_reset_max_per_address == 0 || self.password_reset_max_per_ip == 0 {
            return bad(
                "password_reset_max_per_address",
                "the password reset limits must be at least 1",
            );
        }
        if self.rate_limit_window_secs == 0 {
            return bad("rate_limit_window_secs", "must be at least 1");
        }
        self.validate_oidc()?;
        if let Some(url) = &self.database_url
            && !(url.expose().starts_with("postgres://")
                || url.expose().starts_with("postgresql://"))
        {
            return bad("database_url", "expected a postgres:// URL");
        }
        if let Some(url) = &self.redis_url
            && !(url.expose().starts_with("redis://") || url.expose().starts_with("rediss://"))
        {
            return bad("redis_url", "expected a redis:// URL");
        }
        Ok(())
    }

    fn validate_webhooks(&self) -> Result<(), ConfigError> {
        parse_retry_schedule(&self.webhook_retry_secs)
            .map(drop)
            .map_err(|why| ConfigError(format!("key `webhook_retry_secs`: {why}")))
    }

    /// The waits before each retry of a webhook delivery (`webhook_retry_secs`).
    pub fn webhook_retry_schedule(&self) -> Vec<std::time::Duration> {
        parse_retry_schedule(&self.webhook_retry_secs).unwrap_or_default()
    }

    fn validate_oidc(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError(format!("key `{key}`: {why}")));
        match (&self.oidc_issuer, &self.oidc_client_id) {
            (Some(issuer), Some(id)) => {
                if !oidc_issuer_is_allowed(issuer) {
                    return bad(
                        "oidc_issuer",
                        "expected an https:// URL (http:// only on localhost or a loopback address)",
                    );
                }
                if id.trim().is_empty() {
                    return bad("oidc_client_id", "must not be empty");
                }
            }
            (None, None) => {
                if self.oidc_only {
                    return bad(
                        "oidc_only",
                        "needs oidc_issuer and oidc_client_id (nobody could sign in)",
                    );
                }
                if self.oidc_client_secret.is_some() {
                    return bad(
                        "oidc_client_secret",
                        "set oidc_issuer and oidc_client_id too",
                    );
                }
            }
            (Some(_), None) => return bad("oidc_client_id", "required with oidc_issuer"),
            (None, Some(_)) => return bad("oidc_issuer", "required with oidc_client_id"),
        }
        if !(60..=3600).contains(&self.oidc_flow_ttl_secs) {
            return bad("oidc_flow_ttl_secs", "must be between 60 and 3600");
        }
        if self.oidc_start_max_per_ip == 0 {
            return bad("oidc_start_max_per_ip", "must be at least 1");
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_valid() {
        let c = Config::with_overrides(&[]).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert!(c.database_url.is_none());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::with_overrides(&[("colour", json!("blue"))]).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn webhook_retries_are_checked() {
        let c = Config::with_overrides(&[]).unwrap();
        assert_eq!(c.webhook_retry_schedule().len(), 7);
        assert!(!c.webhook_allow_private);
        for bad in ["", "5,,6", "0", "5,x", "172801"] {
            let err = Config::with_overrides(&[("webhook_retry_secs", json!(bad))]).unwrap_err();
            assert!(
                err.to_string().contains("webhook_retry_secs"),
                "{bad}: {err}"
            );
        }
        let c = Config::with_overrides(&[("webhook_retry_secs", json!("1, 2"))]).unwrap();
        assert_eq!(c.webhook_retry_schedule().len(), 2);
    }

    #[test]
    fn bad_value_is_named() {
        let err = Config::with_overrides(&[("listen", json!("nowhere"))]).unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
        let err = Config::with_overrides(&[("log_format", json!("xml"))]).unwrap_err();
        assert!(err.to_string().contains("log_format"), "{err}");
    }

    #[test]
    fn the_collab_message_limit_holds_a_whole_document() {
        let err = Config::with_overrides(&[
            ("max_file_bytes", json!(8 * 1024 * 1024)),
            ("collab_max_message_bytes", json!(8 * 1024 * 1024)),
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("collab_max_message_bytes"),
            "{err}"
        );
        assert!(
            Config::with_overrides(&[
                ("max_file_bytes", json!(4000)),
                ("collab_max_message_bytes", json!(5000)),
            ])
            .is_ok()
        );
    }

    #[test]
    fn a_quota_must_admit_an_answer() {
        let err = Config::with_overrides(&[
            ("llm_max_tokens", json!(100)),
            ("llm_daily_tokens_per_project", json!(100)),
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("llm_daily_tokens_per_project"),
            "{err}"
        );
        let err = Config::with_overrides(&[("llm_daily_tokens_per_user", json!(-1))]).unwrap_err();
        assert!(
            err.to_string().contains("llm_daily_tokens_per_user"),
            "{err}"
        );
        assert!(
            Config::with_overrides(&[
                ("llm_max_tokens", json!(100)),
                ("llm_daily_tokens_per_user", json!(101)),
            ])
            .is_ok()
        );
    }

    #[test]
    fn trusted_proxies_must_be_networks() {
        let err =
            Config::with_overrides(&[("trusted_proxies", json!("10.0.0.0/8, nope"))]).unwrap_err();
        assert!(err.to_string().contains("trusted_proxies"), "{err}");
        let c = Config::with_overrides(&[("trusted_proxies", json!("10.0.0.0/8, ::1"))]).unwrap();
        assert_eq!(c.trusted_proxy_list().len(), 2);
    }

    #[test]
    fn single_sign_on_needs_its_keys_together_and_a_safe_issuer() {
        let sso = |issuer: &str| {
            Config::with_overrides(&[
                ("oidc_issuer", json!(issuer)),
                ("oidc_client_id", json!("mdz")),
            ])
        };
        assert!(sso("https://id.example.com/realms/x").is_ok());
        assert!(sso("http://127.0.0.1:5556").is_ok());
        assert!(sso("http://localhost:5556/").is_ok());
        assert!(sso("http://[::1]:5556").is_ok());
        for bad in [
            "http://id.example.com",
            "ftp://x",
            "https://",
            "id.example.com",
        ] {
            let err = sso(bad).unwrap_err();
            assert!(err.to_string().contains("oidc_issuer"), "{bad}: {err}");
        }
        let err = Config::with_overrides(&[("oidc_issuer", json!("https://id.example.com"))])
            .unwrap_err();
        assert!(err.to_string().contains("oidc_client_id"), "{err}");
        let err = Config::with_overrides(&[("oidc_only", json!(true))]).unwrap_err();
        assert!(err.to_string().contains("oidc_only"), "{err}");
        let c = Config::with_overrides(&[]).unwrap();
        assert!(c.oidc_auto_create && !c.oidc_only && c.oidc_issuer.is_none());
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let c =
            Config::with_overrides(&[("database_url", json!("postgres://a:pw123@h/d"))]).unwrap();
        assert!(!format!("{c:?}").contains("pw123"));
    }
}
