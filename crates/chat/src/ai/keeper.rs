//! Where an AI edit is kept while it streams, and what its end does: stored for good (its
//! hold settled), a completed edit offered as an open suggestion (anchored where the range
//! was when the stream started, so it followed concurrent typing), the AI's presence removed.

use super::repo;
use super::slots::Slot;
use crate::error::ChatError;
use crate::generation::{Ended, Ending, Keeper};
use crate::quota::Hold;
use async_trait::async_trait;
use mdz_core::db::{self, DbPool};
use mdz_core::ids::{AiEditId, FileId, UserId};
use mdz_core::ports::{AiSuggestion, EditTarget, LiveEdits};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// What a completed edit becomes: a suggestion of `requested_by` on `target`.
pub struct Outcome {
    pub requested_by: UserId,
    pub file: FileId,
    pub target: EditTarget,
    pub instruction: String,
    pub provider: String,
    pub model: String,
}

pub struct AiKeeper {
    pub pool: DbPool,
    pub live: Arc<dyn LiveEdits>,
    pub id: AiEditId,
    pub hold: Option<Hold>,
    /// `None` for a completion.
    pub outcome: Option<Outcome>,
    /// The AI's presence entry (file, client id) while it writes: hidden at the end, or
    /// when the keeper is dropped without ending (its task panicked).
    pub presence: Mutex<Option<(FileId, u32)>>,
    /// Its place among the streams of the user and the document: given back once stored
    /// (before the end is announced), or when the keeper is dropped.
    pub slot: Mutex<Option<Slot>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drop for AiKeeper {
    fn drop(&mut self) {
        let Some((file, client)) = lock(&self.presence).take() else {
            return;
        };
        let live = self.live.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { live.hide_ai(file, client).await });
        }
    }
}

impl AiKeeper {
    /// Offer the text as a suggestion; its id, or why not (stored on the edit).
    async fn suggest(&self, outcome: &Outcome, text: &str) -> Value {
        let offered = self
            .live
            .suggest(AiSuggestion {
                requested_by: outcome.requested_by,
                file: outcome.file,
                target: outcome.target.clone(),
                proposed: text.to_owned(),
                explanation: outcome.instruction.clone(),
                provider: outcome.provider.clone(),
                model: outcome.model.clone(),
            })
            .await;
        let (suggestion, why) = match offered {
            Ok(id) => (Some(id), None),
            Err(e) => {
                tracing::info!(ai_edit_id = %self.id, error = %e, "the AI edit became no suggestion");
                (
                    None,
                    Some(format!("no suggestion: {}", e.to_problem().title)),
                )
            }
        };
        let stored = async {
            let mut conn = db::conn(&self.pool).await?;
            repo::set_outcome(&mut conn, self.id, suggestion, why.as_deref()).await?;
            Ok::<_, ChatError>(())
        };
        if let Err(e) = stored.await {
            tracing::error!(ai_edit_id = %self.id, error = %e, "storing the edit's suggestion failed");
        }
        json!({"ai_edit_id": self.id, "suggestion_id": suggestion, "suggestion_error": why})
    }
}

#[async_trait]
impl Keeper for AiKeeper {
    async fn grow(&self, text: &str) -> Result<(), ChatError> {
        let mut conn = db::conn(&self.pool).await?;
        repo::save_growing(&mut conn, self.id, text).await?;
        Ok(())
    }

    async fn end(&self, ended: Ended<'_>) -> Result<Value, ChatError> {
        let error = ended.ending.error().map(|e| e.to_string());
        let status = ended.ending.status(!ended.text.is_empty());
        let saved = async {
            let mut conn = db::conn(&self.pool).await?;
            repo::save_end(
                &mut conn,
                (self.id, self.hold.as_ref()),
                ended.text,
                status,
                ended.usage,
                error.as_deref(),
            )
            .await?;
            Ok::<_, ChatError>(())
        }
        .await;
        let extra = match (&self.outcome, ended.ending, &saved) {
            (Some(outcome), Ending::Complete, Ok(())) if !ended.text.trim().is_empty() => {
                self.suggest(outcome, ended.text).await
            }
            _ => json!({"ai_edit_id": self.id, "suggestion_id": null}),
        };
        let shown = lock(&self.presence).take();
        if let Some((file, client)) = shown {
            self.live.hide_ai(file, client).await;
        }
        drop(lock(&self.slot).take());
        saved.map(|()| extra)
    }
}
