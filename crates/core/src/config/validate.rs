//! The checks a configuration passes before mdz starts; each failure names its key.

use super::*;

/// An issuer mdz may trust: https, or plain http on this machine only (development, tests).
pub(super) fn oidc_issuer_is_allowed(issuer: &str) -> bool {
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

/// `5,300,1800`: 1 to 20 waits of 1 s to 2 days each.
pub(super) fn parse_retry_schedule(raw: &str) -> Result<Vec<std::time::Duration>, String> {
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

impl Config {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.validate_server()?;
        self.validate_collab()?;
        self.validate_llm()?;
        self.validate_mail()?;
        Ok(())
    }

    /// Listening, requests, storage and imports.
    fn validate_server(&self) -> Result<(), ConfigError> {
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
        Ok(())
    }

    /// Live editing and search.
    fn validate_collab(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError(format!("key `{key}`: {why}")));
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
        Ok(())
    }

    /// Model providers, AI edits and event streams.
    fn validate_llm(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError(format!("key `{key}`: {why}")));
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
        Ok(())
    }

    /// Mail, rate limits and the database and Redis URLs.
    fn validate_mail(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError(format!("key `{key}`: {why}")));
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

    pub(super) fn validate_webhooks(&self) -> Result<(), ConfigError> {
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
}
