//! Anthropic Messages: `POST {base}/messages` with `stream: true`; the events
//! `message_start` (input tokens), `content_block_delta` (`text_delta`), `message_delta`
//! (output tokens), `message_stop`, `ping`, and `error`.

use super::sse::{pieces, without_url};
use super::{Limits, Piece, Prompt, Provider, ProviderError, Speaker, system_and_turns};
use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde_json::{Value, json};

const API_VERSION: &str = "2023-06-01";

pub struct Anthropic {
    client: reqwest::Client,
    base_url: String,
    api_key: Option<String>,
    model: String,
    max_tokens: u32,
    limits: Limits,
}

impl Anthropic {
    pub fn new(
        base_url: &str,
        api_key: Option<String>,
        model: String,
        max_tokens: u32,
        limits: Limits,
    ) -> Self {
        Self {
            client: reqwest::Client::new(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            model,
            max_tokens,
            limits,
        }
    }
}

/// Reads one answer's events; remembers the input tokens until the output count arrives.
#[derive(Default)]
pub struct EventReader {
    input_tokens: u32,
}

impl EventReader {
    pub fn read(&mut self, data: &str) -> Result<Option<Vec<Piece>>, ProviderError> {
        let event: Value = serde_json::from_str(data)
            .map_err(|_| ProviderError::Upstream("malformed stream event".into()))?;
        let n = |v: &Value| u32::try_from(v.as_u64().unwrap_or(0)).unwrap_or(u32::MAX);
        match event["type"].as_str().unwrap_or_default() {
            "message_start" => {
                self.input_tokens = n(&event["message"]["usage"]["input_tokens"]);
                Ok(Some(Vec::new()))
            }
            "content_block_delta" => Ok(Some(
                event["delta"]["text"]
                    .as_str()
                    .filter(|t| !t.is_empty())
                    .map(|t| vec![Piece::Text(t.to_owned())])
                    .unwrap_or_default(),
            )),
            "message_delta" => Ok(Some(vec![Piece::Usage {
                prompt: self.input_tokens,
                completion: n(&event["usage"]["output_tokens"]),
            }])),
            "message_stop" => Ok(None),
            "error" => Err(ProviderError::Upstream("error event in the stream".into())),
            // ping, content_block_start/stop, and kinds added later.
            _ => Ok(Some(Vec::new())),
        }
    }
}

#[async_trait]
impl Provider for Anthropic {
    fn name(&self) -> &'static str {
        "anthropic"
    }

    fn default_model(&self) -> &str {
        &self.model
    }

    async fn stream(
        &self,
        prompt: Prompt,
    ) -> Result<BoxStream<'static, Result<Piece, ProviderError>>, ProviderError> {
        let (system, turns) = system_and_turns(&prompt.messages);
        let messages: Vec<Value> = turns
            .iter()
            .map(|(who, text)| {
                let role = if *who == Speaker::User {
                    "user"
                } else {
                    "assistant"
                };
                json!({"role": role, "content": text})
            })
            .collect();
        let mut body = json!({
            "model": prompt.model,
            "max_tokens": prompt.cap(self.max_tokens),
            "messages": messages,
            "stream": true,
        });
        if !system.is_empty() {
            body["system"] = json!(system);
        }
        let mut request = self
            .client
            .post(format!("{}/messages", self.base_url))
            .header("anthropic-version", API_VERSION)
            .json(&body);
        if let Some(key) = &self.api_key {
            request = request.header("x-api-key", key);
        }
        let response = tokio::time::timeout(self.limits.idle_timeout, request.send())
            .await
            .map_err(|_| ProviderError::Timeout)?
            .map_err(|e| ProviderError::Upstream(format!("request failed: {}", without_url(&e))))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ProviderError::Upstream(format!("status {status}")));
        }
        let mut reader = EventReader::default();
        Ok(pieces(
            Box::pin(response.bytes_stream()),
            self.limits.clone(),
            move |data| reader.read(data),
        )
        .boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_pieces() {
        let mut r = EventReader::default();
        assert_eq!(
            r.read(r#"{"type":"message_start","message":{"usage":{"input_tokens":9,"output_tokens":1}}}"#).unwrap(),
            Some(vec![])
        );
        assert_eq!(
            r.read(r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#).unwrap(),
            Some(vec![Piece::Text("Hi".into())])
        );
        assert_eq!(r.read(r#"{"type":"ping"}"#).unwrap(), Some(vec![]));
        assert_eq!(
            r.read(r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":4}}"#).unwrap(),
            Some(vec![Piece::Usage { prompt: 9, completion: 4 }])
        );
        assert_eq!(r.read(r#"{"type":"message_stop"}"#).unwrap(), None);
        assert!(
            r.read(r#"{"type":"error","error":{"type":"overloaded_error"}}"#)
                .is_err()
        );
    }
}
