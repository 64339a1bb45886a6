//! LLM providers behind one trait: a request of role-tagged messages in, a stream of text
//! deltas and a usage report out. Errors say timeout or bad upstream, never the raw body.

pub mod anthropic;
pub mod openai;
pub mod sse;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone)]
pub struct Prompt {
    pub model: String,
    pub messages: Vec<(Speaker, String)>,
}

/// One piece of a streamed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Usage { prompt: u32, completion: u32 },
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// No answer (or no next piece) within the timeout.
    #[error("the model provider timed out")]
    Timeout,
    /// The provider answered with an error status or something unreadable. The string is
    /// for the log (status and a short reason), never for the client.
    #[error("the model provider failed: {0}")]
    Upstream(String),
}

/// Settings every provider shares.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Until the response starts, and between two pieces of a stream.
    pub idle_timeout: Duration,
}

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// `openai`, `anthropic`, … (metrics label).
    fn name(&self) -> &'static str;
    /// The model used when a session names none.
    fn default_model(&self) -> &str;
    /// Start an answer; the stream ends after the last piece.
    async fn stream(
        &self,
        prompt: Prompt,
    ) -> Result<BoxStream<'static, Result<Piece, ProviderError>>, ProviderError>;
}
