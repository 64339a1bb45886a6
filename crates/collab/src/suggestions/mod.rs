//! Suggestions: edits proposed to a live document (by a person, or later by an AI) that
//! its editors accept or reject. A suggestion's range is anchored by Yjs relative positions;
//! accepting it is one server edit through the collab journal ([`apply`]), refused as
//! `stale` (409, nothing overwritten) when the quoted text changed meanwhile.

pub mod ai;
mod anchors;
mod apply;
pub mod endpoint;
pub mod interface;
pub mod repo;

use crate::comments::interface::Anchor;
use crate::comments::{check_anchor, no_nul};
use crate::error::CollabError;
use crate::rooms::Rooms;
use anchors::Placed;
use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use interface::{NewSuggestion, Suggestion};
use mdz_core::FieldError;
use mdz_core::access::{Action, ProjectAccess};
use mdz_core::db::{self, DbPool};
use mdz_core::documents::{DocumentHead, DocumentStore};
use mdz_core::events::EventKind;
use mdz_core::ids::{FileId, SuggestionId, UserId};
use mdz_core::pagination::{Page, PageRequest};
use repo::SuggestionRow;
use std::sync::Arc;
use tracing::instrument;

/// Characters of an explanation.
const MAX_EXPLANATION: usize = 4_000;
/// Text one suggestion replaces (it is stored as the quote, and listed with every page).
pub const MAX_QUOTE_BYTES: usize = 64 * 1024;
/// Characters of a provider's and a model's name.
const MAX_PROVIDER: usize = 100;
const MAX_MODEL: usize = 200;
const STATUSES: [&str; 4] = ["open", "accepted", "rejected", "stale"];

pub struct SuggestionsService {
    pool: DbPool,
    access: Arc<dyn ProjectAccess>,
    documents: Arc<dyn DocumentStore>,
    rooms: Arc<Rooms>,
    max_open: i64,
}

fn invalid(field: &str, message: impl Into<String>) -> CollabError {
    CollabError::Validation(vec![FieldError::new(field, message)])
}

/// A short name (provider, model): trimmed, no control characters, empty is none.
fn name_of(value: Option<&str>, field: &str, max: usize) -> Result<Option<String>, CollabError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("at most {max} characters, no control characters"),
        ));
    }
    Ok(Some(value.to_owned()))
}

fn to_suggestion(row: SuggestionRow) -> Suggestion {
    Suggestion {
        id: row.id,
        file_id: row.file_id,
        project_id: row.project_id,
        anchor: Anchor {
            start: row.anchor_start,
            end: row.anchor_end,
        },
        quote: row.quote,
        proposed: row.proposed,
        explanation: row.explanation,
        created_by: row.created_by,
        provider: row.provider,
        model: row.model,
        status: row.status,
        decided_by: row.decided_by,
        decided_at: row.decided_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// The checked parts of a [`NewSuggestion`] that do not need the document.
struct Checked {
    explanation: Option<String>,
    provider: Option<String>,
    model: Option<String>,
}

fn check(new: &NewSuggestion, max_bytes: usize) -> Result<Checked, CollabError> {
    match (&new.anchor, &new.range) {
        (Some(anchor), None) => check_anchor(anchor)?,
        (None, Some(range)) if range.from > range.to => {
            return Err(invalid("range.to", "must not be before `from`"));
        }
        (None, Some(_)) => {}
        _ => return Err(invalid("range", "give either `anchor` or `range`")),
    }
    if new.proposed.len() > max_bytes {
        return Err(CollabError::TooBig(max_bytes));
    }
    no_nul(&new.proposed, "proposed")?;
    if let Some(quote) = &new.quote {
        no_nul(quote, "quote")?;
    }
    let explanation = new
        .explanation
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    if let Some(e) = explanation {
        if e.chars().count() > MAX_EXPLANATION {
            return Err(invalid(
                "explanation",
                format!("at most {MAX_EXPLANATION} characters"),
            ));
        }
        no_nul(e, "explanation")?;
    }
    Ok(Checked {
        explanation: explanation.map(str::to_owned),
        provider: name_of(new.provider.as_deref(), "provider", MAX_PROVIDER)?,
        model: name_of(new.model.as_deref(), "model", MAX_MODEL)?,
    })
}

impl SuggestionsService {
    pub fn new(
        pool: DbPool,
        access: Arc<dyn ProjectAccess>,
        documents: Arc<dyn DocumentStore>,
        rooms: Arc<Rooms>,
        max_open: i64,
    ) -> Self {
        Self {
            pool,
            access,
            documents,
            rooms,
            max_open,
        }
    }

    /// The live document, with the caller allowed to `action` in its project (404 for
    /// people who are not members).
    async fn document(
        &self,
        actor: UserId,
        file: FileId,
        action: Action,
    ) -> Result<DocumentHead, CollabError> {
        let head = self
            .documents
            .document(file)
            .await?
            .ok_or(CollabError::NotFound("document"))?;
        self.access.require(actor, head.project_id, action).await?;
        Ok(head)
    }

    /// A suggestion on a live document the caller may `action` on.
    async fn visible(
        &self,
        actor: UserId,
        id: SuggestionId,
        action: Action,
    ) -> Result<SuggestionRow, CollabError> {
        let mut conn = db::conn(&self.pool).await?;
        let row = repo::get(&mut conn, id)
            .await?
            .ok_or(CollabError::NotFound("suggestion"))?;
        drop(conn);
        // Strangers learn nothing (404) before editors' rights are checked (403).
        self.document(actor, row.file_id, Action::Read).await?;
        self.document(actor, row.file_id, action).await?;
        Ok(row)
    }

    #[instrument(skip_all, fields(user_id = %actor, file_id = %file))]
    pub async fn create(
        &self,
        actor: UserId,
        file: FileId,
        new: NewSuggestion,
    ) -> Result<Suggestion, CollabError> {
        let checked = check(&new, self.rooms.settings.max_text_bytes)?;
        let head = self.document(actor, file, Action::Edit).await?;
        let (start, end, quote) = self.place(file, &new).await?;
        let now = Utc::now();
        let row = SuggestionRow {
            id: SuggestionId::new(),
            project_id: head.project_id,
            file_id: file,
            anchor_start: start,
            anchor_end: end,
            quote,
            proposed: new.proposed,
            explanation: checked.explanation,
            created_by: actor,
            provider: checked.provider,
            model: checked.model,
            status: "open".into(),
            decided_by: None,
            decided_at: None,
            created_at: now,
            updated_at: now,
        };
        let max_open = self.max_open;
        let mut conn = db::conn(&self.pool).await?;
        let saved = (*conn)
            .transaction::<_, CollabError, _>(async |conn: &mut AsyncPgConnection| {
                // The document's row lock serialises the count with other inserts.
                crate::repo::doc_for_update(conn, file)
                    .await?
                    .ok_or(CollabError::NotFound("document"))?;
                let saved = repo::insert_within(conn, &row, max_open)
                    .await?
                    .ok_or(CollabError::TooManyOpen(max_open))?;
                let created = repo::event(&saved, EventKind::SuggestionCreated, actor);
                mdz_core::events::record(conn, created).await?;
                Ok(saved)
            })
            .await?;
        Ok(to_suggestion(saved))
    }

    /// Anchor a new suggestion in the live document: its relative positions and the text
    /// they hold now.
    async fn place(
        &self,
        file: FileId,
        new: &NewSuggestion,
    ) -> Result<(String, String, String), CollabError> {
        let room = self.rooms.open_within(file).await?;
        let guard = room.sync_lock().await;
        // The room holds every file revision up to the head after this.
        let head = self.rooms.sync_locked(&room, None).await?;
        let state = room.scratch();
        drop(guard);
        let blocking = |f: Box<dyn FnOnce() -> Result<Placed, String> + Send>| async move {
            tokio::task::spawn_blocking(f)
                .await
                .map_err(|e| CollabError::Journal(format!("the suggestion task failed: {e}")))
        };
        let placed = if let Some(range) = new.range.clone() {
            let base = self.text_at(file, &head, range.revision).await?;
            let length = base.chars().count();
            if range.to > length {
                return Err(invalid(
                    "range.to",
                    format!("past the end of the text ({length} characters)"),
                ));
            }
            blocking(Box::new(move || {
                anchors::place_offsets(&state, &base, range.from, range.to)
            }))
            .await?
            .map_err(CollabError::Journal)?
        } else {
            let anchor = new
                .anchor
                .clone()
                .ok_or_else(|| invalid("anchor", "missing"))?;
            let current = blocking(Box::new(move || {
                anchors::text_between(&state, &anchor.start, &anchor.end).map(|current| {
                    match current {
                        Some(quote) => Placed::At {
                            start: anchor.start,
                            end: anchor.end,
                            quote,
                        },
                        None => Placed::Changed { current: None },
                    }
                })
            }))
            .await?
            .map_err(CollabError::Journal)?;
            if current == (Placed::Changed { current: None }) {
                return Err(invalid(
                    "anchor",
                    "the relative positions do not resolve in this document",
                ));
            }
            current
        };
        match placed {
            Placed::At { quote, .. } if quote.len() > MAX_QUOTE_BYTES => {
                Err(CollabError::RangeTooBig(MAX_QUOTE_BYTES))
            }
            Placed::At { start, end, quote } => {
                if new.quote.as_ref().is_some_and(|q| *q != quote) {
                    return Err(CollabError::Stale {
                        current: Some(quote),
                    });
                }
                Ok((start, end, quote))
            }
            Placed::Changed { current } => Err(CollabError::Stale { current }),
        }
    }

    /// The text of `revision` of the file: the head's, or the one the live state last
    /// agreed with. Older texts are not kept per revision (versions coalesce): 409.
    async fn text_at(
        &self,
        file: FileId,
        head: &DocumentHead,
        revision: i64,
    ) -> Result<String, CollabError> {
        if revision == head.revision {
            return Ok(head.content.clone());
        }
        let mut conn = db::conn(&self.pool).await?;
        let row = crate::repo::doc(&mut conn, file).await?;
        match row {
            Some(row) if row.file_revision == revision => {
                row.base_text.ok_or(CollabError::RevisionUnavailable {
                    asked: revision,
                    head: head.revision,
                })
            }
            _ => Err(CollabError::RevisionUnavailable {
                asked: revision,
                head: head.revision,
            }),
        }
    }

    #[instrument(skip_all, fields(user_id = %actor, file_id = %file))]
    pub async fn list(
        &self,
        actor: UserId,
        file: FileId,
        status: Option<&str>,
        page: PageRequest<SuggestionId>,
    ) -> Result<Page<Suggestion>, CollabError> {
        if let Some(status) = status
            && !STATUSES.contains(&status)
        {
            return Err(invalid("status", "one of open, accepted, rejected, stale"));
        }
        self.document(actor, file, Action::Read).await?;
        let mut conn = db::conn(&self.pool).await?;
        let rows = repo::list(&mut conn, file, status, page.after, page.limit).await?;
        Ok(Page::from_rows(rows, page.limit, |r| r.id).map(to_suggestion))
    }

    /// Apply an open suggestion to the live document (editors and above).
    #[instrument(skip_all, fields(user_id = %actor, suggestion_id = %id))]
    pub async fn accept(&self, actor: UserId, id: SuggestionId) -> Result<Suggestion, CollabError> {
        let row = self.visible(actor, id, Action::Edit).await?;
        if row.status != "open" {
            return Err(CollabError::NotOpen(row.status));
        }
        let room = self.rooms.open_within(row.file_id).await?;
        let accepted = apply::accept(&self.rooms, &room, &row, actor).await?;
        Ok(to_suggestion(accepted))
    }

    /// Turn an open suggestion down (editors and above).
    #[instrument(skip_all, fields(user_id = %actor, suggestion_id = %id))]
    pub async fn reject(&self, actor: UserId, id: SuggestionId) -> Result<Suggestion, CollabError> {
        self.visible(actor, id, Action::Edit).await?;
        let mut conn = db::conn(&self.pool).await?;
        let settled = (*conn)
            .transaction::<_, CollabError, _>(async |conn: &mut AsyncPgConnection| {
                Ok(repo::settle(conn, id, "rejected", actor).await?)
            })
            .await?;
        if let Some(row) = settled {
            return Ok(to_suggestion(row));
        }
        let now = repo::get(&mut conn, id)
            .await?
            .ok_or(CollabError::NotFound("suggestion"))?;
        Err(CollabError::NotOpen(now.status))
    }
}
