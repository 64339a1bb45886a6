//! AWS Bedrock Converse: `ConverseStream` through the AWS SDK (the one the attachments store
//! uses), which signs the request (SigV4, or a Bedrock API key as a bearer token) and reads
//! the `application/vnd.amazon.eventstream` answer: `messageStart`, `contentBlockDelta`
//! (text), `contentBlockStop`, `messageStop`, `metadata` (token usage), or an exception.

use super::{Limits, Piece, Prompt, Provider, ProviderError, Speaker, system_and_turns};
use async_trait::async_trait;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::{Credentials, Region, Token};
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ConversationRole, ConverseStreamOutput,
    InferenceConfiguration, Message, SystemContentBlock,
};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::collections::VecDeque;
use std::fmt::Debug;

/// How mdz proves itself to Bedrock.
pub enum BedrockAuth {
    /// A Bedrock API key, sent as a bearer token.
    ApiKey(String),
    /// AWS access keys, for SigV4.
    AccessKeys {
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
    },
}

/// Where and how to reach Bedrock.
pub struct BedrockSettings {
    pub region: String,
    /// Another endpoint than the region's (a VPC endpoint, a proxy, a test server).
    pub endpoint: Option<String>,
    pub auth: BedrockAuth,
    pub model: String,
    pub max_tokens: u32,
}

pub struct Bedrock {
    client: Client,
    model: String,
    max_tokens: u32,
    limits: Limits,
}

impl Bedrock {
    pub fn new(settings: BedrockSettings, limits: Limits) -> Self {
        let mut config = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version_latest()
            .region(Region::new(settings.region))
            // Like the other providers: one attempt; the caller sees the failure.
            .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled());
        config = match settings.auth {
            // With no SigV4 credentials configured, the SDK signs with the bearer token.
            BedrockAuth::ApiKey(key) => config.bearer_token(Token::new(key, None)),
            BedrockAuth::AccessKeys {
                access_key_id,
                secret_access_key,
                session_token,
            } => config.credentials_provider(Credentials::new(
                access_key_id,
                secret_access_key,
                session_token,
                None,
                "mdz",
            )),
        };
        if let Some(endpoint) = settings.endpoint {
            config = config.endpoint_url(endpoint);
        }
        Self {
            client: Client::from_conf(config.build()),
            model: settings.model,
            max_tokens: settings.max_tokens,
            limits,
        }
    }
}

/// An SDK failure in the log's words: the kind and the service's error code, never a body.
fn upstream<E: ProvideErrorMetadata + Debug, R: Debug>(e: &SdkError<E, R>) -> ProviderError {
    match e {
        SdkError::TimeoutError(_) => ProviderError::Timeout,
        SdkError::ServiceError(service) => ProviderError::Upstream(format!(
            "bedrock error {}",
            service.err().code().unwrap_or("without a code")
        )),
        SdkError::DispatchFailure(_) => ProviderError::Upstream("bedrock unreachable".into()),
        SdkError::ResponseError(_) => ProviderError::Upstream("unreadable bedrock answer".into()),
        _ => ProviderError::Upstream("bedrock request failed".into()),
    }
}

/// The pieces one stream event carries; `stopped` once `messageStop` arrived.
fn pieces_of(event: ConverseStreamOutput, stopped: &mut bool) -> Vec<Piece> {
    match event {
        ConverseStreamOutput::ContentBlockDelta(d) => match d.delta {
            Some(ContentBlockDelta::Text(text)) if !text.is_empty() => vec![Piece::Text(text)],
            _ => Vec::new(),
        },
        ConverseStreamOutput::Metadata(m) => {
            let count = |n: i32| u32::try_from(n).unwrap_or(0);
            m.usage
                .map(|u| Piece::Usage {
                    prompt: count(u.input_tokens),
                    completion: count(u.output_tokens),
                })
                .into_iter()
                .collect()
        }
        ConverseStreamOutput::MessageStop(_) => {
            *stopped = true;
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// Reading one answer's events.
struct Reading {
    events: EventReceiver<ConverseStreamOutput, ConverseStreamOutputError>,
    limits: Limits,
    ready: VecDeque<Piece>,
    stopped: bool,
    failed: bool,
}

impl Reading {
    /// The next piece, each event awaited at most the idle timeout.
    async fn next(&mut self) -> Option<Result<Piece, ProviderError>> {
        loop {
            if let Some(piece) = self.ready.pop_front() {
                return Some(Ok(piece));
            }
            if self.failed {
                return None;
            }
            let failure =
                match tokio::time::timeout(self.limits.idle_timeout, self.events.recv()).await {
                    Err(_) => ProviderError::Timeout,
                    Ok(Err(e)) => upstream(&e),
                    // After `messageStop` (and `metadata`) the end of the stream ends the answer.
                    Ok(Ok(None)) if self.stopped => return None,
                    Ok(Ok(None)) => {
                        ProviderError::Upstream("the stream ended before messageStop".into())
                    }
                    Ok(Ok(Some(event))) => {
                        let found = pieces_of(event, &mut self.stopped);
                        self.ready.extend(found);
                        continue;
                    }
                };
            self.failed = true;
            return Some(Err(failure));
        }
    }
}

#[async_trait]
impl Provider for Bedrock {
    fn name(&self) -> &'static str {
        "bedrock"
    }

    fn default_model(&self) -> &str {
        &self.model
    }

    async fn stream(
        &self,
        prompt: Prompt,
    ) -> Result<BoxStream<'static, Result<Piece, ProviderError>>, ProviderError> {
        let (system, turns) = system_and_turns(&prompt.messages);
        let mut messages = Vec::with_capacity(turns.len());
        for (who, text) in turns {
            let role = if who == Speaker::User {
                ConversationRole::User
            } else {
                ConversationRole::Assistant
            };
            let message = Message::builder()
                .role(role)
                .content(ContentBlock::Text(text))
                .build()
                .map_err(|e| ProviderError::Upstream(format!("bedrock request: {e}")))?;
            messages.push(message);
        }
        let cap = prompt.cap(self.max_tokens);
        let mut request = self
            .client
            .converse_stream()
            .model_id(prompt.model)
            .set_messages(Some(messages))
            .inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(i32::try_from(cap).unwrap_or(i32::MAX))
                    .build(),
            );
        if !system.is_empty() {
            request = request.system(SystemContentBlock::Text(system));
        }
        let output = tokio::time::timeout(self.limits.idle_timeout, request.send())
            .await
            .map_err(|_| ProviderError::Timeout)?
            .map_err(|e| upstream(&e))?;
        let reading = Reading {
            events: output.stream,
            limits: self.limits.clone(),
            ready: VecDeque::new(),
            stopped: false,
            failed: false,
        };
        let stream = futures_util::stream::unfold(reading, |mut reading| async move {
            let next = reading.next().await?;
            Some((next, reading))
        });
        Ok(stream.boxed())
    }
}
