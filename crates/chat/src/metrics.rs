//! LLM metrics: tokens and request durations by provider and model, answers being generated.

use crate::provider::Provider;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};
use std::time::Duration;

/// The `model` label of any model the deployment did not configure.
pub const OTHER_MODEL: &str = "other";

/// The `model` label of an answer: a provider's configured (default) model by its name, any
/// other `other` (sessions and AI asks may name any model, and each label value is a series
/// kept for the process's life).
pub fn model_label<'a>(provider: &dyn Provider, model: &'a str) -> &'a str {
    if model == provider.default_model() {
        model
    } else {
        OTHER_MODEL
    }
}

pub struct ChatMetrics {
    tokens: IntCounterVec,
    duration: HistogramVec,
    /// Answers being generated now (each streams from its provider).
    pub streams: IntGauge,
}

impl ChatMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let tokens = IntCounterVec::new(
            Opts::new(
                "mdz_llm_tokens_total",
                "Tokens used, by provider, model and kind",
            ),
            &["provider", "model", "kind"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "mdz_llm_request_duration_seconds",
                "Time from the request to the provider until the answer ended",
            )
            .buckets(vec![0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0]),
            &["provider", "model"],
        )?;
        let streams = IntGauge::new(
            "mdz_chat_streams",
            "Answers being generated now, each a stream from the provider",
        )?;
        registry.register(Box::new(tokens.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(streams.clone()))?;
        Ok(Self {
            tokens,
            duration,
            streams,
        })
    }

    pub fn observe(&self, provider: &str, model: &str, took: Duration, usage: Option<(i32, i32)>) {
        self.duration
            .with_label_values(&[provider, model])
            .observe(took.as_secs_f64());
        if let Some((prompt, completion)) = usage {
            let n = |v: i32| u64::try_from(v).unwrap_or(0);
            self.tokens
                .with_label_values(&[provider, model, "prompt"])
                .inc_by(n(prompt));
            self.tokens
                .with_label_values(&[provider, model, "completion"])
                .inc_by(n(completion));
        }
    }
}
