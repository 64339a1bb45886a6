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
    /// The question and the answer's row were not stored (the answer, started while they
    /// committed, is dropped: nothing of the exchange exists).
    NotStored(Unstored),
}

/// Why an answer's row was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unstored {
    /// Its session was deleted a moment before (by another node, behind a cache).
    SessionGone,
    /// The database failed or the post was dropped before knowing.
    Failed,
}

impl Ending {
    /// The stored status, given whether any text arrived.
    pub fn status(self, has_text: bool) -> &'static str {
        match self {
            Ending::Complete => "complete",
            Ending::Cancelled => "cancelled",
            Ending::Timeout | Ending::Failed if has_text => "incomplete",
            Ending::Timeout | Ending::Failed | Ending::NotStored(_) => "failed",
        }
    }

    pub fn error(self) -> Option<ChatError> {
        match self {
            Ending::Timeout => Some(ChatError::Timeout),
            Ending::Failed => Some(ChatError::BadUpstream),
            Ending::NotStored(Unstored::SessionGone) => Some(ChatError::NotFound("session")),
            Ending::NotStored(Unstored::Failed) => {
                Some(ChatError::Unavailable("the question was not stored".into()))
            }
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
    /// Whether its row is stored (waiting for a commit under way): an answer whose row is
    /// not ends [`Ending::NotStored`] whatever its stream did.
    async fn kept(&self) -> Result<(), Unstored> {
        Ok(())
    }
}

/// Whether an answer's row is stored. A post starts the provider while the row's insert
/// commits (so the commit does not add to the first byte); whatever writes to the row waits
/// for it, and writes nothing when the insert failed (or the post was dropped before knowing).
#[derive(Clone)]
pub struct RowStored(watch::Receiver<Option<Result<(), Unstored>>>);

impl RowStored {
    /// A row stored before the answer started.
    pub fn already() -> Self {
        Self(watch::channel(Some(Ok(()))).1)
    }

    /// A row being stored: send `Some(Ok(()))` once it is committed, `Some(Err(_))` if not
    /// (dropping the sender unsent counts as not stored).
    pub fn pending() -> (watch::Sender<Option<Result<(), Unstored>>>, Self) {
        let (tx, rx) = watch::channel(None);
        (tx, Self(rx))
    }

    /// Once known: stored, or why not.
    pub async fn outcome(&self) -> Result<(), Unstored> {
        let mut rx = self.0.clone();
        match rx.wait_for(Option::is_some).await.as_deref() {
            Ok(Some(outcome)) => *outcome,
            Ok(None) | Err(_) => Err(Unstored::Failed),
        }
    }

    pub async fn is_stored(&self) -> bool {
        self.outcome().await.is_ok()
    }
}

/// A chat answer: its message row, and what it holds of the day's quotas.
pub struct MessageKeeper {
    pub pool: DbPool,
    pub id: ChatMessageId,
    pub hold: Option<Hold>,
    pub stored: RowStored,
}

#[async_trait]
impl Keeper for MessageKeeper {
    async fn grow(&self, text: &str) -> Result<(), ChatError> {
        if !self.stored.is_stored().await {
            return Ok(());
        }
        let mut conn = db::conn(&self.pool).await?;
        repo::save_growing(&mut conn, self.id, text).await?;
        Ok(())
    }

    async fn kept(&self) -> Result<(), Unstored> {
        self.stored.outcome().await
    }

    async fn end(&self, ended: Ended<'_>) -> Result<Value, ChatError> {
        if !self.stored.is_stored().await {
            return Ok(Value::Null);
        }
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
    /// The provider's stream is over: a cancel no longer changes how the answer ends.
    finished: Mutex<bool>,
}

impl Live {
    fn text(&self) -> std::sync::MutexGuard<'_, String> {
        self.text
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn finished(&self) -> std::sync::MutexGuard<'_, bool> {
        self.finished
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The stream ended as `ending`: from now on a cancel is too late, and one accepted before
    /// (while the stream was ending on its own) wins, so a cancel answered 202 always ends the
    /// answer `cancelled`.
    fn finish(&self, ending: Ending) -> Ending {
        let mut finished = self.finished();
        *finished = true;
        if *self.cancel.borrow() {
            Ending::Cancelled
        } else {
            ending
        }
    }
}

/// What [`Generations::cancel`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// The answer stops and is stored `cancelled`.
    Done,
    /// Its stream had already ended; it is being stored as it ended (not `cancelled`).
    TooLate,
    /// No answer of that id is being generated on this node.
    NotHere,
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
    /// Characters of the coming deltas still before the offset listened from (a resume from
    /// further than the answer had reached): left out as they arrive.
    pub skip: usize,
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
            skip: offset.saturating_sub(text.chars().count()),
        })
    }

    /// Whether the answer `id` is being generated on this node.
    pub fn is_live(&self, id: K) -> bool {
        self.map().contains_key(&id)
    }

    /// Stop an answer in progress on this node.
    pub fn cancel(&self, id: K) -> Cancel {
        let Some(live) = self.map().get(&id).cloned() else {
            return Cancel::NotHere;
        };
        let finished = live.finished();
        if *finished {
            return Cancel::TooLate;
        }
        live.cancel.send_replace(true);
        Cancel::Done
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
            finished: Mutex::new(false),
        });
        let id = answering.id;
        self.map().insert(id, live.clone());
        metrics.streams.inc();
        // Unregisters the answer however its task ends, a panic included: otherwise its id
        // would stay live (cancel answering 202, listeners waiting for ever).
        let registered = Registered {
            generations: self.clone(),
            id,
            metrics: metrics.clone(),
        };
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
            let ending = live.finish(ending);
            // An answer started while its row committed ends only once that is known.
            let ending = match keeper.kept().await {
                Ok(()) => ending,
                Err(why) => Ending::NotStored(why),
            };
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
            drop(registered);
            beside.finish().await;
            drop(live.events.send(Event::Finished(ending, extra)));
        });
        Listener {
            backlog: String::new(),
            events: first,
            skip: 0,
        }
    }
}

/// An answer in the live map and the streams gauge, until dropped.
struct Registered<K: Key> {
    generations: Arc<Generations<K>>,
    id: K,
    metrics: Arc<ChatMetrics>,
}

impl<K: Key> Drop for Registered<K> {
    fn drop(&mut self) {
        self.generations.map().remove(&self.id);
        self.metrics.streams.dec();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Piece;
    use futures_util::stream::BoxStream;
    use tokio::sync::broadcast::error::RecvError;

    /// A provider whose answer panics after its first piece (a parser bug, say).
    struct Panicking;

    #[async_trait]
    impl Provider for Panicking {
        fn name(&self) -> &'static str {
            "openai"
        }
        fn default_model(&self) -> &str {
            "m"
        }
        async fn stream(
            &self,
            _: Prompt,
        ) -> Result<BoxStream<'static, Result<Piece, ProviderError>>, ProviderError> {
            let pieces = futures_util::stream::iter([0, 1]).map(|i| {
                assert!(i == 0, "the provider's answer broke");
                Ok(Piece::Text("first".into()))
            });
            Ok(Box::pin(pieces))
        }
    }

    struct Nowhere;

    #[async_trait]
    impl Keeper for Nowhere {
        async fn grow(&self, _: &str) -> Result<(), ChatError> {
            Ok(())
        }
        async fn end(&self, _: Ended<'_>) -> Result<Value, ChatError> {
            Ok(Value::Null)
        }
    }

    #[tokio::test]
    async fn a_panicking_answer_is_no_longer_live_and_its_listeners_end() {
        let generations: Arc<Generations<u64>> = Arc::new(Generations::default());
        let metrics = Arc::new(ChatMetrics::register(&prometheus::Registry::new()).unwrap());
        let mut listener = generations.start(
            Answering {
                id: 7,
                prompt_tokens: 1,
                keeper: Box::new(Nowhere),
            },
            Arc::new(Panicking),
            Prompt {
                model: "m".into(),
                messages: Vec::new(),
                max_tokens: None,
            },
            metrics.clone(),
            Beside::new(Box::pin(async {})),
        );
        assert!(matches!(listener.events.recv().await, Ok(Event::Delta(_))));
        let end = tokio::time::timeout(Duration::from_secs(10), listener.events.recv()).await;
        assert!(
            matches!(end, Ok(Err(RecvError::Closed))),
            "a listener of a panicked answer waits for ever: {end:?}"
        );
        assert!(!generations.is_live(7), "the panicked answer is still live");
        assert_eq!(generations.cancel(7), Cancel::NotHere);
        assert_eq!(metrics.streams.get(), 0);
    }

    /// A provider that answers one piece and ends.
    struct OnePiece;

    #[async_trait]
    impl Provider for OnePiece {
        fn name(&self) -> &'static str {
            "openai"
        }
        fn default_model(&self) -> &str {
            "m"
        }
        async fn stream(
            &self,
            _: Prompt,
        ) -> Result<BoxStream<'static, Result<Piece, ProviderError>>, ProviderError> {
            Ok(Box::pin(futures_util::stream::iter([Ok(Piece::Text(
                "all of it".into(),
            ))])))
        }
    }

    /// A keeper whose `end` says it started, then waits to be let go.
    struct SlowEnd {
        started: tokio::sync::mpsc::Sender<String>,
        go: tokio::sync::Mutex<tokio::sync::oneshot::Receiver<()>>,
    }

    #[async_trait]
    impl Keeper for SlowEnd {
        async fn grow(&self, _: &str) -> Result<(), ChatError> {
            Ok(())
        }
        async fn end(&self, ended: Ended<'_>) -> Result<Value, ChatError> {
            let status = ended.ending.status(!ended.text.is_empty()).to_owned();
            self.started.send(status).await.unwrap();
            let mut go = self.go.lock().await;
            (&mut *go).await.unwrap();
            Ok(Value::Null)
        }
    }

    #[tokio::test]
    async fn a_cancel_after_the_stream_ended_is_too_late_and_changes_nothing() {
        let generations: Arc<Generations<u64>> = Arc::new(Generations::default());
        let metrics = Arc::new(ChatMetrics::register(&prometheus::Registry::new()).unwrap());
        let (started, mut ending) = tokio::sync::mpsc::channel(1);
        let (release, go) = tokio::sync::oneshot::channel();
        let mut listener = generations.start(
            Answering {
                id: 8,
                prompt_tokens: 1,
                keeper: Box::new(SlowEnd {
                    started,
                    go: tokio::sync::Mutex::new(go),
                }),
            },
            Arc::new(OnePiece),
            Prompt {
                model: "m".into(),
                messages: Vec::new(),
                max_tokens: None,
            },
            metrics,
            Beside::new(Box::pin(async {})),
        );
        // The answer is being stored as complete; it is still live (listeners may join).
        assert_eq!(ending.recv().await.unwrap(), "complete");
        assert!(generations.is_live(8));
        // Before, this cancel was accepted (202) and the answer still ended `complete`.
        assert_eq!(generations.cancel(8), Cancel::TooLate);
        release.send(()).unwrap();
        loop {
            match listener.events.recv().await.unwrap() {
                Event::Finished(end, _) => {
                    assert!(matches!(end, Ending::Complete), "{end:?}");
                    break;
                }
                _ => continue,
            }
        }
    }
}
