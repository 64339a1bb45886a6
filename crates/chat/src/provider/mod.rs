//! LLM providers behind one trait: a request of role-tagged messages in, a stream of text
//! deltas and a usage report out. Errors say timeout or bad upstream, never the raw body.

pub mod anthropic;
pub mod bedrock;
pub mod openai;
pub mod sse;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use std::sync::Arc;
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
    /// A tighter cap than the provider's `max_tokens` (ghost-text completions).
    pub max_tokens: Option<u32>,
}

impl Prompt {
    /// The cap sent: the prompt's own, never above the provider's.
    pub fn cap(&self, provider_max: u32) -> u32 {
        self.max_tokens
            .map_or(provider_max, |m| m.min(provider_max))
    }
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

/// A configured provider as clients see it.
#[derive(Debug, Clone)]
pub struct ProviderInfo {
    pub name: String,
    /// `openai`, `anthropic` or `bedrock`.
    pub kind: String,
    pub default_model: String,
}

/// The deployment's providers by name; the first is the default.
#[derive(Default)]
pub struct Providers {
    all: Vec<(ProviderInfo, Arc<dyn Provider>)>,
}

impl Providers {
    pub fn new(all: Vec<(String, String, Arc<dyn Provider>)>) -> Self {
        Self {
            all: all
                .into_iter()
                .map(|(name, kind, provider)| {
                    let info = ProviderInfo {
                        name,
                        kind,
                        default_model: provider.default_model().to_owned(),
                    };
                    (info, provider)
                })
                .collect(),
        }
    }

    /// The provider named `name`, or the default one; `None` when there is no such provider.
    pub fn pick(&self, name: Option<&str>) -> Option<Arc<dyn Provider>> {
        match name {
            Some(name) => self.all.iter().find(|(i, _)| i.name == name),
            None => self.all.first(),
        }
        .map(|(_, p)| p.clone())
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    pub fn infos(&self) -> impl Iterator<Item = &ProviderInfo> {
        self.all.iter().map(|(i, _)| i)
    }
}

/// The system text, then the conversation as strictly alternating turns that start with the
/// user (as Anthropic and Bedrock require): consecutive messages of one speaker are joined,
/// a leading answer is dropped.
pub fn system_and_turns(messages: &[(Speaker, String)]) -> (String, Vec<(Speaker, String)>) {
    let system: Vec<&str> = messages
        .iter()
        .filter(|(who, _)| *who == Speaker::System)
        .map(|(_, text)| text.as_str())
        .collect();
    let mut turns: Vec<(Speaker, String)> = Vec::new();
    for (who, text) in messages.iter().filter(|(who, _)| *who != Speaker::System) {
        match turns.last_mut() {
            Some((last, joined)) if last == who => {
                joined.push_str("\n\n");
                joined.push_str(text);
            }
            None if *who == Speaker::Assistant => {}
            _ => turns.push((*who, text.clone())),
        }
    }
    (system.join("\n\n"), turns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_alternate_and_start_with_the_user() {
        let said = |who, text: &str| (who, text.to_owned());
        let (system, turns) = system_and_turns(&[
            said(Speaker::System, "rules"),
            said(Speaker::Assistant, "stray"),
            said(Speaker::User, "one"),
            said(Speaker::User, "two"),
            said(Speaker::Assistant, "three"),
            said(Speaker::User, "four"),
        ]);
        assert_eq!(system, "rules");
        assert_eq!(
            turns,
            [
                said(Speaker::User, "one\n\ntwo"),
                said(Speaker::Assistant, "three"),
                said(Speaker::User, "four"),
            ]
        );
    }
}
