//! OpenAI-compatible Chat Completions (OpenAI, Azure OpenAI, Ollama, vLLM, llama.cpp,
//! LiteLLM): `POST {base}/chat/completions` with `stream: true`, read as Server-Sent Events
//! (`data: {chunk}` lines, then `data: [DONE]`), usage from the final chunk.

use super::sse::{pieces, without_url};
use super::{Limits, Piece, Prompt, Provider, ProviderError, Speaker};
use async_trait::async_trait;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde_json::{Value, json};

pub struct OpenAi {
    client: reqwest::Client,
    base_url: String,
    api_key: Option<String>,
    model: String,
    max_tokens: u32,
    limits: Limits,
}

impl OpenAi {
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

fn role(s: Speaker) -> &'static str {
    match s {
        Speaker::System => "system",
        Speaker::User => "user",
        Speaker::Assistant => "assistant",
    }
}

/// Turn one `data:` payload into pieces; `None` at `[DONE]`.
pub fn parse_data(data: &str) -> Result<Option<Vec<Piece>>, ProviderError> {
    if data == "[DONE]" {
        return Ok(None);
    }
    let chunk: Value = serde_json::from_str(data)
        .map_err(|_| ProviderError::Upstream("malformed stream chunk".into()))?;
    if chunk.get("error").is_some() {
        return Err(ProviderError::Upstream("error event in the stream".into()));
    }
    let mut pieces = Vec::new();
    if let Some(text) = chunk["choices"][0]["delta"]["content"].as_str()
        && !text.is_empty()
    {
        pieces.push(Piece::Text(text.to_owned()));
    }
    if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
        let n = |k: &str| u32::try_from(usage[k].as_u64().unwrap_or(0)).unwrap_or(u32::MAX);
        pieces.push(Piece::Usage {
            prompt: n("prompt_tokens"),
            completion: n("completion_tokens"),
        });
    }
    Ok(Some(pieces))
}

#[async_trait]
impl Provider for OpenAi {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn default_model(&self) -> &str {
        &self.model
    }

    async fn stream(
        &self,
        prompt: Prompt,
    ) -> Result<BoxStream<'static, Result<Piece, ProviderError>>, ProviderError> {
        let messages: Vec<Value> = prompt
            .messages
            .iter()
            .map(|(who, text)| json!({"role": role(*who), "content": text}))
            .collect();
        let body = json!({
            "model": prompt.model,
            "messages": messages,
            // The answer's length is bounded, as the quotas' holds assume. `max_tokens` is
            // the field every OpenAI-compatible server reads.
            "max_tokens": prompt.cap(self.max_tokens),
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        let mut request = self
            .client
            .post(format!("{}/chat/completions", self.base_url))
            .json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = tokio::time::timeout(self.limits.idle_timeout, request.send())
            .await
            .map_err(|_| ProviderError::Timeout)?
            .map_err(|e| {
                if e.is_timeout() {
                    ProviderError::Timeout
                } else {
                    ProviderError::Upstream(format!("request failed: {}", without_url(&e)))
                }
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(ProviderError::Upstream(format!("status {status}")));
        }
        Ok(pieces(
            Box::pin(response.bytes_stream()),
            self.limits.clone(),
            parse_data,
        )
        .boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_lines_become_pieces() {
        let text = r#"{"choices":[{"delta":{"content":"Hel"}}]}"#;
        assert_eq!(
            parse_data(text).unwrap(),
            Some(vec![Piece::Text("Hel".into())])
        );
        let usage = r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3}}"#;
        assert_eq!(
            parse_data(usage).unwrap(),
            Some(vec![Piece::Usage {
                prompt: 12,
                completion: 3
            }])
        );
        assert_eq!(parse_data("[DONE]").unwrap(), None);
        assert!(parse_data("{not json").is_err());
    }
}
