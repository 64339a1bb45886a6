//! The [`LiveEdits`] port: what chat's AI edits need from live documents. A range anchored
//! when the stream starts (so it follows concurrent typing while the model writes), the text
//! around a cursor, the AI's presence entry while it writes, and the suggestion it ends as.

use super::MAX_QUOTE_BYTES;
use super::SuggestionsService;
use super::anchors::{self, Placed};
use super::interface::NewSuggestion;
use crate::comments::interface::Anchor;
use crate::error::CollabError;
use crate::rooms::Rooms;
use async_trait::async_trait;
use mdz_core::ApiError;
use mdz_core::ids::{FileId, SuggestionId};
use mdz_core::ports::{AiPresence, AiSuggestion, EditRange, EditTarget, LiveEdits, UserDirectory};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Stock Yjs clients drop a presence entry not renewed for 30 s: the AI's is renewed twice
/// as often while it writes.
const RENEW_EVERY: Duration = Duration::from_secs(15);
/// The longest an AI presence entry is renewed (a generation that outlives it, or whose task
/// died without hiding it, is then removed from presence).
const MAX_SHOWN: Duration = Duration::from_secs(30 * 60);
/// The AI's colour in presence.
const AI_COLOR: &str = "#7c3aed";

/// A presence entry being renewed: its clock and the task renewing it.
struct Shown {
    clock: Arc<AtomicU32>,
    renewing: tokio::task::JoinHandle<()>,
}

pub struct AiEdits {
    suggestions: Arc<SuggestionsService>,
    rooms: Arc<Rooms>,
    users: Arc<dyn UserDirectory>,
    shown: Mutex<HashMap<(FileId, u32), Shown>>,
}

impl AiEdits {
    pub fn new(
        suggestions: Arc<SuggestionsService>,
        rooms: Arc<Rooms>,
        users: Arc<dyn UserDirectory>,
    ) -> Self {
        Self {
            suggestions,
            rooms,
            users,
            shown: Mutex::new(HashMap::new()),
        }
    }

    fn shown(&self) -> std::sync::MutexGuard<'_, HashMap<(FileId, u32), Shown>> {
        self.shown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The whole live text anchored (REST writes merged in first; unsaved typing is part of
    /// it): positions 0 and its length, read under the room's lock.
    async fn whole(&self, file: FileId) -> Result<EditTarget, CollabError> {
        let room = self.rooms.open_within(file).await?;
        let guard = room.sync_lock().await;
        self.rooms.sync_locked(&room, None).await?;
        let placed = room.read(|txn, text| anchors::place_whole(txn, text));
        drop(guard);
        match placed.map_err(CollabError::Journal)? {
            Placed::At { quote, .. } if quote.len() > MAX_QUOTE_BYTES => {
                Err(CollabError::RangeTooBig(MAX_QUOTE_BYTES))
            }
            Placed::At { start, end, quote } => Ok(EditTarget {
                start,
                end,
                quote,
                before: String::new(),
                after: String::new(),
            }),
            Placed::Changed { .. } => Err(CollabError::Journal(
                "the whole text could not be anchored".into(),
            )),
        }
    }

    /// The live document's state (REST writes merged in first).
    async fn state(&self, file: FileId) -> Result<Vec<u8>, CollabError> {
        let room = self.rooms.open_within(file).await?;
        let guard = room.sync_lock().await;
        self.rooms.sync_locked(&room, None).await?;
        let state = room.scratch();
        drop(guard);
        Ok(state)
    }
}

/// Set or remove (`json` none) a server presence entry in the room, here and on the other
/// replicas.
async fn publish(rooms: &Arc<Rooms>, file: FileId, client: u32, clock: u32, json: Option<&str>) {
    match rooms.open_within(file).await {
        Ok(room) => {
            if let Some(raw) =
                room.server_presence(yrs::block::ClientID::new(u64::from(client)), clock, json)
            {
                rooms.publish_awareness(file, &raw).await;
            }
        }
        Err(e) => tracing::debug!(file_id = %file, error = %e, "AI presence not published"),
    }
}

/// The AI's presence state: its name (with the asker's), colour, the asker and the range.
async fn presence_state(users: &dyn UserDirectory, presence: AiPresence) -> String {
    let name = match users.by_ids(&[presence.requested_by]).await {
        Ok(found) => found
            .into_iter()
            .next()
            .map(|u| u.display_name)
            .unwrap_or_default(),
        Err(e) => {
            tracing::debug!(error = %e, "the asker's name is unknown");
            String::new()
        }
    };
    let name = if name.is_empty() {
        "AI".to_owned()
    } else {
        format!("AI (for {name})")
    };
    let range = presence
        .range
        .map(|(start, end)| serde_json::json!({"start": start, "end": end}));
    serde_json::json!({
        "user": {"name": name, "color": AI_COLOR},
        "ai": true,
        "requested_by": presence.requested_by,
        "range": range,
    })
    .to_string()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, CollabError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CollabError::Journal(format!("the anchor task failed: {e}")))?
        .map_err(CollabError::Journal)
}

#[async_trait]
impl LiveEdits for AiEdits {
    async fn target(
        &self,
        file: FileId,
        range: EditRange,
        context_bytes: usize,
    ) -> Result<EditTarget, ApiError> {
        let (anchor, range) = match range {
            EditRange::Whole => return Ok(self.whole(file).await?),
            EditRange::Offsets { from, to, revision } => (
                None,
                Some(super::interface::OffsetRange { from, to, revision }),
            ),
            EditRange::Anchors { start, end } => (Some(Anchor { start, end }), None),
        };
        let new = NewSuggestion {
            anchor,
            range,
            quote: None,
            proposed: String::new(),
            explanation: None,
            provider: None,
            model: None,
        };
        super::check(&new, self.rooms.settings.max_text_bytes)?;
        let (start, end, quote) = self.suggestions.place(file, &new).await?;
        let state = self.state(file).await?;
        let (s, e) = (start.clone(), end.clone());
        let (before, after) =
            blocking(move || anchors::around_range(&state, &s, &e, context_bytes))
                .await?
                .unwrap_or_default();
        Ok(EditTarget {
            start,
            end,
            quote,
            before,
            after,
        })
    }

    async fn around(
        &self,
        file: FileId,
        position: usize,
        context_bytes: usize,
    ) -> Result<(String, String), ApiError> {
        // The live text as it is, unsaved typing included: no sync, no copy of the state.
        let room = self.rooms.open_within(file).await?;
        Ok(room.read(|txn, text| anchors::around_position(txn, text, position, context_bytes)))
    }

    fn show_ai(&self, presence: AiPresence) {
        let clock = Arc::new(AtomicU32::new(0));
        let (rooms, users, ticking) = (self.rooms.clone(), self.users.clone(), clock.clone());
        let (file, client) = (presence.file, presence.client);
        let renewing = tokio::spawn(async move {
            let state = presence_state(users.as_ref(), presence).await;
            let shown = async {
                loop {
                    let at = ticking.fetch_add(1, Ordering::SeqCst) + 1;
                    publish(&rooms, file, client, at, Some(&state)).await;
                    tokio::time::sleep(RENEW_EVERY).await;
                }
            };
            if tokio::time::timeout(MAX_SHOWN, shown).await.is_err() {
                let at = ticking.fetch_add(1, Ordering::SeqCst) + 1;
                publish(&rooms, file, client, at, None).await;
            }
        });
        if let Some(old) = self
            .shown()
            .insert((file, client), Shown { clock, renewing })
        {
            old.renewing.abort();
        }
    }

    async fn hide_ai(&self, file: FileId, client: u32) {
        let Some(shown) = self.shown().remove(&(file, client)) else {
            return;
        };
        shown.renewing.abort();
        drop(shown.renewing.await);
        let clock = shown.clock.load(Ordering::SeqCst) + 1;
        publish(&self.rooms, file, client, clock, None).await;
    }

    async fn suggest(&self, edit: AiSuggestion) -> Result<SuggestionId, ApiError> {
        let new = NewSuggestion {
            anchor: Some(Anchor {
                start: edit.target.start,
                end: edit.target.end,
            }),
            range: None,
            quote: Some(edit.target.quote),
            proposed: edit.proposed,
            explanation: Some(edit.explanation),
            provider: Some(edit.provider),
            model: Some(edit.model),
        };
        let made = self
            .suggestions
            .create(edit.requested_by, edit.file, new)
            .await?;
        Ok(made.id)
    }
}
