//! Chat rules: who may read and post, the user message stored before the provider is called,
//! the context assembled by the stated policy, answers generated and stored as they stream.

use crate::context::{self, Earlier, Pinned};
use crate::error::ChatError;
use crate::generation::{
    Answering, Beside, Cancel, Generations, Listener, MessageKeeper, RowStored, after_chars,
};
use crate::interface::{Citation, CitationSource, Message};
use crate::metrics::ChatMetrics;
use crate::provider::{Prompt, Provider, ProviderInfo, Providers, Speaker};
use crate::quota::{self, Hold, Quotas};
use crate::repo::{self, MessageRow};
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use mdz_core::FieldError;
use mdz_core::access::{ProjectAccess, Role};
use mdz_core::db::{self, DbPool};
use mdz_core::documents::{DocumentStore, Passage};
use mdz_core::ids::{ChatMessageId, ChatSessionId, FileId, UserId};
use mdz_core::pagination::{Page, PageRequest};
use mdz_core::ports::{ChatSessionInfo, ChatSessions};
use std::sync::Arc;
use tracing::instrument;

mod answers;
mod posting;

/// Earlier messages considered for the context window.
const HISTORY_LIMIT: i64 = 200;

/// An answer to start: its session and row, the session's first question (for its title),
/// what it holds of the quotas, whether its row is stored yet.
struct Answer {
    session: ChatSessionId,
    id: ChatMessageId,
    first_message: Option<String>,
    hold: Option<Hold>,
    stored: RowStored,
}

pub struct ChatService {
    pub(crate) pool: DbPool,
    pub(crate) access: Arc<dyn ProjectAccess>,
    sessions: Arc<dyn ChatSessions>,
    pub(crate) documents: Arc<dyn DocumentStore>,
    pub(crate) providers: Providers,
    generations: Arc<Generations<ChatMessageId>>,
    pub(crate) metrics: Arc<ChatMetrics>,
    pub(crate) settings: ChatSettings,
}

/// Limits of the chat domain.
#[derive(Debug, Clone)]
pub struct ChatSettings {
    /// Characters of context per message (see [`crate::context`]).
    pub budget_chars: usize,
    /// Daily token quotas (see [`crate::quota`]).
    pub quotas: Quotas,
    /// An answer still `streaming` with no save for this long was left by a node that stopped:
    /// a live one saves at least every provider idle timeout (or the timeout ends it).
    pub orphaned_after: std::time::Duration,
}

/// The error stored on an answer whose node stopped while generating it.
const INTERRUPTED: &str = "interrupted: the server generating this answer stopped";

/// Earlier messages (newest first) as the context sees them.
fn earlier(
    rows: Result<Vec<MessageRow>, diesel::result::Error>,
) -> Result<Vec<Earlier>, ChatError> {
    Ok(rows?
        .into_iter()
        .map(|m| Earlier {
            speaker: if m.role == "user" {
                Speaker::User
            } else {
                Speaker::Assistant
            },
            text: m.content,
        })
        .collect())
}

/// The session was read through a cache; when another node deleted it a moment ago, the
/// messages' foreign key refuses them: that is the session not being there (404), not a fault.
fn session_gone(e: diesel::result::Error) -> ChatError {
    use diesel::result::{DatabaseErrorKind, Error};
    match &e {
        Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info)
            if info.constraint_name() == Some("chat_messages_session_id_fkey") =>
        {
            ChatError::NotFound("session")
        }
        _ => e.into(),
    }
}

/// A question, created `now`.
fn question_row(
    session_id: ChatSessionId,
    actor: UserId,
    content: &str,
    now: DateTime<Utc>,
) -> MessageRow {
    MessageRow {
        id: ChatMessageId::new(),
        session_id,
        role: "user".into(),
        content: content.to_owned(),
        author_id: Some(actor),
        requested_by: Some(actor),
        model: None,
        status: "complete".into(),
        prompt_tokens: None,
        completion_tokens: None,
        citations: serde_json::json!([]),
        error: None,
        reserved_tokens: None,
        created_at: now,
        updated_at: now,
    }
}

/// An answer about to stream, created `now`.
fn answer_row(
    session_id: ChatSessionId,
    actor: UserId,
    model: &str,
    citations: &[Citation],
    now: DateTime<Utc>,
) -> MessageRow {
    MessageRow {
        id: ChatMessageId::new(),
        session_id,
        role: "assistant".into(),
        content: String::new(),
        author_id: None,
        requested_by: Some(actor),
        model: Some(model.to_owned()),
        status: "streaming".into(),
        prompt_tokens: None,
        completion_tokens: None,
        citations: serde_json::to_value(citations).unwrap_or_else(|_| serde_json::json!([])),
        error: None,
        reserved_tokens: None,
        created_at: now,
        updated_at: now,
    }
}

pub fn to_message(row: MessageRow) -> Message {
    Message {
        id: row.id,
        session_id: row.session_id,
        role: row.role,
        content: row.content,
        author: row.author_id,
        model: row.model,
        status: row.status,
        prompt_tokens: row.prompt_tokens,
        completion_tokens: row.completion_tokens,
        citations: serde_json::from_value(row.citations).unwrap_or_default(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// What a post started: both messages and a listener to the answer.
pub struct Posted {
    pub user: Message,
    pub assistant: Message,
    pub listener: Listener,
}

/// Where to read an answer from.
pub enum Source {
    Live(Listener),
    Stored(Message),
}

impl ChatService {
    pub fn new(
        pool: DbPool,
        access: Arc<dyn ProjectAccess>,
        sessions: Arc<dyn ChatSessions>,
        documents: Arc<dyn DocumentStore>,
        providers: Providers,
        metrics: Arc<ChatMetrics>,
        settings: ChatSettings,
    ) -> Self {
        Self {
            pool,
            access,
            sessions,
            documents,
            providers,
            generations: Arc::new(Generations::default()),
            metrics,
            settings,
        }
    }

    /// The session when `actor` may read it (404 otherwise), with their role.
    pub(crate) async fn readable(
        &self,
        actor: UserId,
        id: ChatSessionId,
    ) -> Result<(ChatSessionInfo, Role), ChatError> {
        let session = self
            .sessions
            .session(id)
            .await
            .map_err(ChatError::Unavailable)?
            .ok_or(ChatError::NotFound("session"))?;
        let role = self
            .access
            .role(actor, session.project_id)
            .await?
            .ok_or(ChatError::NotFound("session"))?;
        if session.private && session.created_by != actor {
            return Err(ChatError::NotFound("session"));
        }
        Ok((session, role))
    }

    async fn message_in(
        &self,
        session: ChatSessionId,
        id: ChatMessageId,
    ) -> Result<MessageRow, ChatError> {
        let mut conn = db::conn(&self.pool).await?;
        repo::get(&mut conn, id)
            .await?
            .filter(|m| m.session_id == session)
            .ok_or(ChatError::NotFound("message"))
    }

    pub async fn list(
        &self,
        actor: UserId,
        session: ChatSessionId,
        page: PageRequest<ChatMessageId>,
    ) -> Result<Page<Message>, ChatError> {
        self.readable(actor, session).await?;
        let mut conn = db::conn(&self.pool).await?;
        let rows = repo::page(&mut conn, session, page.after, page.limit).await?;
        Ok(Page::from_rows(rows, page.limit, |m| m.id).map(to_message))
    }

    async fn pinned(
        &self,
        session: &ChatSessionInfo,
        extra: &[FileId],
    ) -> Result<Vec<Pinned>, ChatError> {
        let mut out: Vec<Pinned> = Vec::new();
        let ids = session.context_file_ids.iter().chain(extra);
        for (i, id) in ids.enumerate() {
            if out.iter().any(|p| p.id == *id) {
                continue;
            }
            let head = self
                .documents
                .document(*id)
                .await
                .map_err(|e| ChatError::Unavailable(e.to_string()))?;
            match head {
                Some(h) if h.project_id == session.project_id => out.push(Pinned {
                    id: *id,
                    path: h.path,
                    revision: h.revision,
                    content: h.content,
                }),
                // A pinned document since deleted is left out; a named one must exist.
                _ if i < session.context_file_ids.len() => {}
                _ => {
                    return Err(ChatError::Validation(vec![FieldError::new(
                        &format!("context_file_ids.{}", i - session.context_file_ids.len()),
                        "no such document in this project",
                    )]));
                }
            }
        }
        Ok(out)
    }

    /// The documents and passages a question is answered from. One pool connection at a time
    /// (a request that held one while waiting for another could starve the pool under load).
    pub(crate) async fn sources(
        &self,
        session: &ChatSessionInfo,
        extra: &[FileId],
        search_for: Option<&str>,
    ) -> Result<(Vec<Pinned>, Vec<Passage>), ChatError> {
        let pinned = self.pinned(session, extra).await?;
        let words = search_for.map(context::search_words).unwrap_or_default();
        let found = if words.is_empty() {
            Vec::new()
        } else {
            self.documents
                .passages(session.project_id, &words, context::SEARCH_PASSAGES)
                .await
                .map_err(|e| ChatError::Unavailable(e.to_string()))?
        };
        Ok((pinned, found))
    }

    /// Record activity in the session (and a first title) beside the answer, once its first
    /// piece is out; the answer's task waits for it before it reports the end, so whoever saw
    /// an answer end sees the session moved.
    fn touch_later(
        &self,
        session: ChatSessionId,
        first_message: Option<String>,
        stored: RowStored,
    ) -> Beside {
        let sessions = self.sessions.clone();
        Beside::new(Box::pin(async move {
            if !stored.is_stored().await {
                return;
            }
            if let Err(e) = sessions.touch(session, first_message.as_deref()).await {
                tracing::warn!(error = %e, "session activity not recorded");
            }
        }))
    }

    /// Start generating `answer` from `prompt` (its row stored, or being stored).
    fn start_answer(
        &self,
        answer: Answer,
        provider: Arc<dyn Provider>,
        prompt: Prompt,
    ) -> Listener {
        let touched = self.touch_later(answer.session, answer.first_message, answer.stored.clone());
        let answering = Answering {
            id: answer.id,
            prompt_tokens: quota::prompt_estimate(&prompt.messages),
            keeper: Box::new(MessageKeeper {
                pool: self.pool.clone(),
                id: answer.id,
                hold: answer.hold,
                stored: answer.stored,
            }),
        };
        self.generations
            .start(answering, provider, prompt, self.metrics.clone(), touched)
    }

    /// The session's provider: its named one, or the deployment's default.
    fn provider_for(&self, session: &ChatSessionInfo) -> Result<Arc<dyn Provider>, ChatError> {
        if self.providers.is_empty() {
            return Err(ChatError::NoProvider);
        }
        self.providers
            .pick(session.provider.as_deref())
            .ok_or_else(|| ChatError::ProviderGone(session.provider.clone().unwrap_or_default()))
    }

    /// The deployment's providers (names, kinds and default models; nothing secret).
    pub fn providers(&self) -> Vec<ProviderInfo> {
        self.providers.infos().cloned().collect()
    }

    fn require_editor(role: Role) -> Result<(), ChatError> {
        if role.at_least(Role::Editor) {
            Ok(())
        } else {
            Err(ChatError::Access(
                mdz_core::access::AccessError::Forbidden {
                    needed: Role::Editor,
                },
            ))
        }
    }

    /// Store messages, the last one holding `hold` of the day's quotas. A refusal is a 429
    /// that says when to try again: soon when answers still being generated hold the room
    /// (they settle to what they cost when they end), at midnight (UTC) when ended ones used it.
    async fn store<const N: usize>(
        &self,
        conn: &mut AsyncPgConnection,
        rows: &[MessageRow; N],
        hold: Option<&Hold>,
    ) -> Result<Vec<MessageRow>, ChatError> {
        match repo::insert(conn, rows, hold).await {
            Ok(stored) => Ok(stored),
            Err(e) => Err(self.refusal(conn, e, hold).await),
        }
    }

    /// What a failed insert that held `hold` means: a 429 when a quota refused it, saying
    /// when to try again (soon when answers still being generated hold the room, they settle
    /// to what they cost when they end; at midnight UTC when ended ones used it).
    pub(crate) async fn refusal(
        &self,
        conn: &mut AsyncPgConnection,
        e: diesel::result::Error,
        hold: Option<&Hold>,
    ) -> ChatError {
        let (Some(scope), Some(hold)) = (quota::refused(&e), hold) else {
            return session_gone(e);
        };
        let limit = self.settings.quotas.limit(scope);
        let midnight = quota::until_midnight(Utc::now());
        let retry_after = match repo::used_on(conn, hold, scope).await {
            Ok(used) if used.saturating_add(hold.tokens) <= limit => {
                quota::HELD_RETRY_SECS.min(midnight)
            }
            Ok(_) => midnight,
            Err(e) => {
                tracing::warn!(error = %e, "reading the day's token use failed");
                midnight
            }
        };
        ChatError::Quota {
            scope,
            limit,
            retry_after,
        }
    }
}
