//! What can go wrong in chat, and the HTTP status each becomes.

use actix_web::http::StatusCode;
use mdz_core::access::AccessError;
use mdz_core::db::DbError;
use mdz_core::{ApiError, FieldError};

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("no model provider is configured")]
    NoProvider,
    #[error("the session's provider `{0}` is not configured")]
    ProviderGone(String),
    #[error("the model provider timed out")]
    Timeout,
    #[error("the model provider failed")]
    BadUpstream,
    #[error("{0}")]
    Conflict(String),
    #[error("the daily token quota of this {scope} is used up")]
    Quota {
        scope: &'static str,
        limit: i64,
        retry_after: u64,
    },
    #[error("this {scope} has {limit} AI edits streaming already")]
    TooManyLive {
        scope: &'static str,
        limit: usize,
        retry_after: u64,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("a dependency is unavailable: {0}")]
    Unavailable(String),
    /// The live document refused (already a problem: its cause was logged where it arose).
    #[error("live document: {0}")]
    Live(ApiError),
}

impl From<diesel::result::Error> for ChatError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        match e {
            ChatError::Validation(errors) => ApiError::validation(errors),
            ChatError::Access(a) => a.into(),
            ChatError::NotFound(what) => ApiError::not_found(format!("no such {what}")),
            ChatError::NoProvider => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no-llm-provider",
                "No model provider is configured",
            )
            .detail(
                "set MDZ_LLM_PROVIDER=openai with MDZ_LLM_BASE_URL (any OpenAI-compatible \
                 endpoint: OpenAI, Azure, Ollama, vLLM, llama.cpp, LiteLLM), `anthropic` or \
                 `bedrock` (with MDZ_LLM_REGION and AWS keys), MDZ_LLM_MODEL and, when needed, \
                 MDZ_LLM_API_KEY; sessions work without one",
            ),
            ChatError::ProviderGone(name) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "llm-provider-gone",
                "The session's model provider is not configured",
            )
            .detail(format!(
                "this deployment no longer offers the provider `{name}`; choose another with \
                 PATCH /sessions/{{id}} (`provider`, see GET /chat/providers)"
            )),
            ChatError::Timeout => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream-timeout",
                "The model provider timed out",
            )
            .detail("the partial answer is kept with status `incomplete`; try again"),
            ChatError::BadUpstream => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream-error",
                "The model provider failed",
            )
            .detail("the partial answer is kept with status `incomplete`; try again"),
            ChatError::Conflict(why) => ApiError::conflict(why),
            ChatError::Quota {
                scope,
                limit,
                retry_after,
            } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "quota-exceeded",
                "Daily token quota used up",
            )
            .detail(format!(
                "this {scope} may use {limit} tokens a day (UTC), answers still being generated \
                 counted at their estimate (prompt + max_tokens) until they end; try again in \
                 {retry_after} s"
            ))
            .header(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(retry_after),
            ),
            ChatError::TooManyLive {
                scope,
                limit,
                retry_after,
            } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-ai-edits",
                "Too many AI edits at once",
            )
            .detail(format!(
                "this {scope} may have {limit} AI edits and completions streaming at once; \
                 try again when one ends"
            ))
            .header(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(retry_after),
            ),
            ChatError::Db(db) => db.into(),
            ChatError::Live(problem) => problem,
            ChatError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "chat dependency unavailable");
                ApiError::unavailable("a dependency is not reachable; try again shortly")
            }
        }
    }
}
