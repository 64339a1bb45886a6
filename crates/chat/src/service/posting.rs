//! Posting a question: stored with its answer's row, and the answer started — while the
//! rows commit when no quota has to admit the answer first.

use super::{
    Answer, ChatService, HISTORY_LIMIT, Posted, answer_row, earlier, question_row, session_gone,
    to_message,
};
use crate::context::{self, Earlier};
use crate::error::ChatError;
use crate::generation::{Listener, RowStored, Unstored};
use crate::interface::{MAX_CONTENT, MAX_CONTEXT_FILES, PostMessage};
use crate::provider::{Prompt, Provider, Speaker};
use crate::quota;
use crate::repo::{self, MessageRow};
use chrono::{SubsecRound, Utc};
use mdz_core::FieldError;
use mdz_core::db;
use mdz_core::ids::{ChatSessionId, UserId};
use mdz_core::ports::ChatSessionInfo;
use std::sync::Arc;
use tokio::sync::oneshot;
use tracing::instrument;

/// The error stored on an answer whose question was stored but which never started.
const NOT_STARTED: &str = "the answer did not start (its history could not be read)";

/// How a prompt is assembled from the history before the question.
type Assemble<'a> = &'a (dyn Fn(&[Earlier]) -> Vec<(Speaker, String)> + Sync);

/// A question ready to store: its rows, and how its prompt is assembled from the history.
struct Exchange<'a> {
    actor: UserId,
    session: &'a ChatSessionInfo,
    rows: [MessageRow; 2],
    content: &'a str,
    model: String,
    provider: Arc<dyn Provider>,
    assemble: Assemble<'a>,
}

impl ChatService {
    /// The question is stored and its answer streams. Round trips before the provider is
    /// called: the sources (only when there are any), then the history read; the session and
    /// the caller's role come from caches that every node drops on a change (one trip each
    /// when they miss). Without quotas both messages are stored in the same pipelined trip,
    /// and the answer starts as soon as the history is in and streams while they commit: its
    /// row is written and its end (`done`) reported only once they are committed, and when
    /// they are not, the answer stops and ends with an error. With quotas the hold must admit
    /// the answer first, so the rows commit before it starts.
    #[instrument(skip_all, fields(user_id = %actor, session_id = %session_id))]
    pub async fn post(
        &self,
        actor: UserId,
        session_id: ChatSessionId,
        body: PostMessage,
    ) -> Result<Posted, ChatError> {
        let content = body.content.trim().to_owned();
        if content.is_empty() || content.chars().count() > MAX_CONTENT {
            return Err(ChatError::Validation(vec![FieldError::new(
                "content",
                format!("1 to {MAX_CONTENT} characters"),
            )]));
        }
        mdz_core::text::check_field("content", &content)
            .map_err(|e| ChatError::Validation(vec![e]))?;
        let extra = body.context_file_ids.unwrap_or_default();
        if extra.len() > MAX_CONTEXT_FILES {
            return Err(ChatError::Validation(vec![FieldError::new(
                "context_file_ids",
                format!("at most {MAX_CONTEXT_FILES} documents"),
            )]));
        }
        let (session, role) = self.readable(actor, session_id).await?;
        Self::require_editor(role)?;
        let provider = self.provider_for(&session)?;
        let (pinned, found) = self
            .sources(
                &session,
                &extra,
                (body.use_search == Some(true)).then_some(content.as_str()),
            )
            .await?;
        let model = session
            .model
            .clone()
            .unwrap_or_else(|| provider.default_model().to_owned());
        let citations = context::citations(&pinned, &found);
        // Microseconds, as PostgreSQL keeps them: the rows are answered as built, before
        // their insert is back.
        let now = Utc::now().trunc_subsecs(6);
        let rows = [
            question_row(session_id, actor, &content, now),
            answer_row(session_id, actor, &model, &citations, now),
        ];
        let assemble = |history: &[Earlier]| {
            context::assemble(
                &session.instructions,
                &pinned,
                &found,
                history,
                &content,
                self.settings.budget_chars,
            )
            .0
        };
        let exchange = Exchange {
            actor,
            session: &session,
            rows,
            content: &content,
            model,
            provider,
            assemble: &assemble,
        };
        let (stored, listener) = if self.settings.quotas.enabled() {
            self.store_then_start(exchange).await?
        } else {
            self.start_while_storing(exchange).await?
        };
        let mut stored = stored.into_iter();
        let (Some(user), Some(assistant)) = (stored.next(), stored.next()) else {
            return Err(ChatError::Unavailable(
                "the messages were not stored".into(),
            ));
        };
        Ok(Posted {
            user: to_message(user),
            assistant: to_message(assistant),
            listener,
        })
    }

    /// With quotas: the answer's hold is estimated from the prompt, so the history is read
    /// first, then both messages are stored (the quota admitting the answer), then it starts.
    async fn store_then_start(
        &self,
        mut exchange: Exchange<'_>,
    ) -> Result<(Vec<MessageRow>, Listener), ChatError> {
        let (session_id, question_id) = (exchange.session.id, exchange.rows[0].id);
        let mut conn = db::conn(&self.pool).await?;
        let history =
            earlier(repo::recent(&mut *conn, session_id, question_id, HISTORY_LIMIT).await)?;
        let messages = (exchange.assemble)(&history);
        let estimate = quota::prompt_estimate(&messages);
        let at = exchange.rows[1].created_at;
        let hold =
            self.settings
                .quotas
                .hold(exchange.actor, exchange.session.project_id, at, estimate);
        exchange.rows[1].reserved_tokens = hold.map(|h| h.reserved());
        let stored = self.store(&mut conn, &exchange.rows, hold.as_ref()).await?;
        drop(conn);
        let listener = self.start_answer(
            Answer {
                session: session_id,
                id: exchange.rows[1].id,
                first_message: history.is_empty().then(|| exchange.content.to_owned()),
                hold,
                stored: RowStored::already(),
            },
            exchange.provider,
            Prompt {
                model: exchange.model,
                messages,
                max_tokens: None,
            },
        );
        Ok((stored, listener))
    }

    /// Without quotas: the history read and the insert go in one pipelined trip, run by a
    /// task of their own (a client that drops does not cut the insert half-way); the answer
    /// starts as soon as the history is in and streams while the insert commits. Its end
    /// waits for the commit: when the rows were not stored, the answer is stopped and ends
    /// [`crate::generation::Ending::NotStored`], and nothing of the exchange exists.
    async fn start_while_storing(
        &self,
        exchange: Exchange<'_>,
    ) -> Result<(Vec<MessageRow>, Listener), ChatError> {
        let (session_id, question_id) = (exchange.session.id, exchange.rows[0].id);
        let answer_id = exchange.rows[1].id;
        let (committed, row_stored) = RowStored::pending();
        let mut conn = db::conn(&self.pool).await?;
        let (read, history) = oneshot::channel();
        let (started, answered) = oneshot::channel::<()>();
        let rows = exchange.rows.clone();
        tokio::spawn(async move {
            let (mut reading, mut writing) = (&*conn, &*conn);
            let history = async {
                let rows = repo::recent(&mut reading, session_id, question_id, HISTORY_LIMIT);
                drop(read.send(rows.await));
            };
            let ((), stored) =
                tokio::join!(biased; history, repo::insert(&mut writing, &rows, None));
            let outcome = stored.map(drop).map_err(|e| match session_gone(e) {
                ChatError::NotFound(_) => Unstored::SessionGone,
                e => {
                    tracing::error!(error = %e, "storing a question failed");
                    Unstored::Failed
                }
            });
            committed.send_replace(Some(outcome));
            // Stored, but the answer never started (the history read failed, or the post was
            // dropped before): it ends now rather than waiting for the orphan sweeper.
            if outcome.is_ok() && answered.await.is_err() {
                let failed = repo::save_progress(
                    &mut conn,
                    answer_id,
                    "",
                    "failed",
                    None,
                    Some(NOT_STARTED),
                );
                if let Err(e) = failed.await {
                    tracing::warn!(answer_id = %answer_id, error = %e, "ending an unstarted answer failed");
                }
            }
        });
        let history = history
            .await
            .map_err(|_| ChatError::Unavailable("the history read was dropped".into()))?;
        let history = earlier(history)?;
        let messages = (exchange.assemble)(&history);
        let listener = self.start_answer(
            Answer {
                session: session_id,
                id: answer_id,
                first_message: history.is_empty().then(|| exchange.content.to_owned()),
                hold: None,
                stored: row_stored.clone(),
            },
            exchange.provider,
            Prompt {
                model: exchange.model,
                messages,
                max_tokens: None,
            },
        );
        // The task waits for this only once the rows are in; it is gone only if they were not.
        let _ = started.send(());
        // Rows refused: the provider stops now rather than at the answer's end.
        let generations = self.generations.clone();
        tokio::spawn(async move {
            if !row_stored.is_stored().await {
                let _ = generations.cancel(answer_id);
            }
        });
        Ok((exchange.rows.to_vec(), listener))
    }
}
