//! Answers being generated: each runs as its own task (so a client that drops loses nothing),
//! saves its text as it grows (every 250 ms and at the end), and tells live listeners every
//! delta. A listener joins at any offset and gets the text it lacks, then the rest live.

use crate::error::ChatError;
use crate::metrics::ChatMetrics;
use crate::provider::{Piece, Prompt, Provider, ProviderError};
use crate::quota::{self, Hold};
use crate::repo;
use async_trait::async_trait;
use futures_util::StreamExt;
use mdz_core::db::{self, DbPool};
use mdz_core::ids::ChatMessageId;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

const SAVE_EVERY: Duration = Duration::from_millis(250);

/// How an answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Complete,
    Cancelled,
    /// Timed out (some text may have arrived).
    Timeout,
    /// The provider failed (some text may have arrived).
    Failed,
}

impl Ending {
    /// The stored status, given whether any text arrived.
    pub fn status(self, has_text: bool) -> &'static str {
        match self {
            Ending::Complete => "complete",
            Ending::Cancelled => "cancelled",
            Ending::Timeout | Ending::Failed if has_text => "incomplete",
            Ending::Timeout | Ending::Failed => "failed",
        }
    }

    pub fn error(self) -> Option<ChatError> {
        match self {
            Ending::Timeout => Some(ChatError::Timeout),
            Ending::Failed => Some(ChatError::BadUpstream),
            Ending::Complete | Ending::Cancelled => None,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Event {
    Delta(String),
    Usage {
        prompt: u32,
        completion: u32,
    },
    /// The end, with what the keeper adds to the end event (`null`: nothing).
    Finished(Ending, Value),
}

/// How an answer ended, as its keeper stores it.
#[derive(Debug, Clone, Copy)]
pub struct Ended<'a> {
    pub ending: Ending,
    pub text: &'a str,
    pub usage: Option<(i32, i32)>,
}

/// Where an answer is kept while it grows and when it ends (a chat message, an AI edit).
#[async_trait]
pub trait Keeper: Send + Sync + 'static {
    /// Save the text so far (the next save replaces it).
    async fn grow(&self, text: &str) -> Result<(), ChatError>;
    /// Store it for good (settling its hold); what the end event adds (`null`: nothing).
    async fn end(&self, ended: Ended<'_>) -> Result<Value, ChatError>;
}

/// A chat answer: its message row, and what it holds of the day's quotas.
pub struct MessageKeeper {
    pub pool: DbPool,
    pub id: ChatMessageId,
    pub hold: Option<Hold>,
}

#[async_trait]
impl Keeper for MessageKeeper {
    async fn grow(&self, text: &str) -> Result<(), ChatError> {
        let mut conn = db::conn(&self.pool).await?;
        repo::save_growing(&mut conn, self.id, text).await?;
        Ok(())
    }

    async fn end(&self, ended: Ended<'_>) -> Result<Value, ChatError> {
        let error = ended.ending.error().map(|e| e.to_string());
        let status = ended.ending.status(!ended.text.is_empty());
        let mut conn = db::conn(&self.pool).await?;
        match &self.hold {
            Some(hold) => {
                repo::save_settling(
                    &mut conn,
                    (self.id, hold),
                    ended.text,
                    status,
                    ended.usage,
                    error.as_deref(),
                )
                .await?;
            }
            None => {
                repo::save_progress(
                    &mut conn,
                    self.id,
                    ended.text,
                    status,
                    ended.usage,
                    error.as_deref(),
                )
                .await?;
            }
        }
        Ok(Value::Null)
    }
}

struct Live {
    text: Mutex<String>,
    events: broadcast::Sender<Event>,
    cancel: watch::Sender<bool>,
}

impl Live {
    fn text(&self) -> std::sync::MutexGuard<'_, String> {
        self.text
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Work beside an answer (recording the session's activity): started once the first piece has
/// gone out to the listeners (or when the answer ends without one), so that its round trips
/// do not delay that first piece; the answer's end is reported only after it is done.
pub struct Beside {
    pending: Option<futures_util::future::BoxFuture<'static, ()>>,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl Beside {
    pub fn new(work: futures_util::future::BoxFuture<'static, ()>) -> Self {
        Self {
            pending: Some(work),
            running: None,
        }
    }

    fn start(&mut self) {
        if let Some(work) = self.pending.take() {
            self.running = Some(tokio::spawn(work));
        }
    }

    async fn finish(mut self) {
        self.start();
        if let Some(running) = self.running.take() {
            drop(running.await);
        }
    }
}

/// The answer to generate and where it is kept.
pub struct Answering<K> {
    pub id: K,
    /// The prompt's tokens, about (charged when the provider reports no usage).
    pub prompt_tokens: i32,
    pub keeper: Box<dyn Keeper>,
}

/// A live listener: the text after its offset so far, then events.
pub struct Listener {
    pub backlog: String,
    pub events: broadcast::Receiver<Event>,
}

/// What answers are keyed by (a chat message's id, an AI edit's).
pub trait Key: Copy + Eq + Hash + Display + Send + Sync + 'static {}
impl<K: Copy + Eq + Hash + Display + Send + Sync + 'static> Key for K {}

pub struct Generations<K> {
    live: Mutex<HashMap<K, Arc<Live>>>,
}

impl<K> Default for Generations<K> {
    fn default() -> Self {
        Self {
            live: Mutex::new(HashMap::new()),
        }
    }
}

/// `text[offset..]` in characters.
pub fn after_chars(text: &str, offset: usize) -> String {
    text.chars().skip(offset).collect()
}

impl<K: Key> Generations<K> {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<K, Arc<Live>>> {
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Listen to an answer in progress on this node from `offset` characters.
    pub fn listen(&self, id: K, offset: usize) -> Option<Listener> {
        let live = self.map().get(&id).cloned()?;
        let text = live.text();
        Some(Listener {
            backlog: after_chars(&text, offset),
            events: live.events.subscribe(),
        })
    }

    /// Whether the answer `id` is being generated on this node.
    pub fn is_live(&self, id: K) -> bool {
        self.map().contains_key(&id)
    }

    /// Stop an answer in progress on this node; `false` when there is none here.
    pub fn cancel(&self, id: K) -> bool {
        match self.map().get(&id) {
            Some(live) => {
                live.cancel.send_replace(true);
                true
            }
            None => false,
        }
    }

    /// Start generating the answer; returns a listener from its first character.
    pub fn start(
        self: &Arc<Self>,
        answering: Answering<K>,
        provider: Arc<dyn Provider>,
        prompt: Prompt,
        metrics: Arc<ChatMetrics>,
        mut beside: Beside,
    ) -> Listener {
        let (events, first) = broadcast::channel(1024);
        let (cancel, cancelled) = watch::channel(false);
        let live = Arc::new(Live {
            text: Mutex::new(String::new()),
            events,
            cancel,
        });
        let id = answering.id;
        self.map().insert(id, live.clone());
        metrics.streams.inc();
        let me = self.clone();
        tokio::spawn(async move {
            let model = prompt.model.clone();
            let started = Instant::now();
            let keeper = answering.keeper.as_ref();
            let (ending, usage) = run(
                &live,
                provider.as_ref(),
                prompt,
                cancelled,
                (keeper, id),
                &mut beside,
            )
            .await;
            let text = live.text().clone();
            let usage = quota::charge(ending, usage, &text, answering.prompt_tokens);
            let label = crate::metrics::model_label(provider.as_ref(), &model);
            metrics.observe(provider.name(), label, started.elapsed(), usage);
            let ended = Ended {
                ending,
                text: &text,
                usage,
            };
            let extra = keeper.end(ended).await.unwrap_or_else(|e| {
                tracing::error!(answer_id = %id, error = %e, "storing the answer failed");
                Value::Null
            });
            me.map().remove(&id);
            metrics.streams.dec();
            beside.finish().await;
            drop(live.events.send(Event::Finished(ending, extra)));
        });
        Listener {
            backlog: String::new(),
            events: first,
        }
    }
}

async fn run<K: Key>(
    live: &Live,
    provider: &dyn Provider,
    prompt: Prompt,
    mut cancelled: watch::Receiver<bool>,
    (keeper, id): (&dyn Keeper, K),
    beside: &mut Beside,
) -> (Ending, Option<(i32, i32)>) {
    let mut usage = None;
    let started = tokio::select! {
        s = provider.stream(prompt) => s,
        _ = cancelled.changed() => return (Ending::Cancelled, usage),
    };
    let mut stream = match started {
        Ok(stream) => stream,
        Err(e) => return (ending_of(&e, &id), usage),
    };
    let mut saved_at = Instant::now();
    loop {
        let piece = tokio::select! {
            piece = stream.next() => piece,
            _ = cancelled.changed() => return (Ending::Cancelled, usage),
        };
        match piece {
            None => return (Ending::Complete, usage),
            Some(Err(e)) => return (ending_of(&e, &id), usage),
            Some(Ok(Piece::Text(t))) => {
                let mut text = live.text();
                text.push_str(&t);
                drop(live.events.send(Event::Delta(t)));
                drop(text);
                beside.start();
            }
            Some(Ok(Piece::Usage { prompt, completion })) => {
                let n = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
                usage = Some((n(prompt), n(completion)));
                drop(live.events.send(Event::Usage { prompt, completion }));
            }
        }
        if saved_at.elapsed() >= SAVE_EVERY {
            saved_at = Instant::now();
            let text = live.text().clone();
            if let Err(e) = keeper.grow(&text).await {
                tracing::warn!(answer_id = %id, error = %e, "saving a growing answer failed");
            }
        }
    }
}

fn ending_of(e: &ProviderError, id: &dyn Display) -> Ending {
    tracing::warn!(answer_id = %id, error = %e, "model provider error");
    match e {
        ProviderError::Timeout => Ending::Timeout,
        ProviderError::Upstream(_) => Ending::Failed,
    }
}
