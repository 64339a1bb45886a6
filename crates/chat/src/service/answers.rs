//! An answer after its post: regenerated, resumed, read, cancelled, or ended by the sweeper
//! when the node generating it is gone.

use super::*;

impl ChatService {
    /// Answer an earlier question again: a new answer to the user message before `id`, from
    /// the same kinds of sources (search again when the old answer used search).
    #[instrument(skip_all, fields(user_id = %actor, session_id = %session_id))]
    pub async fn regenerate(
        &self,
        actor: UserId,
        session_id: ChatSessionId,
        id: ChatMessageId,
    ) -> Result<Posted, ChatError> {
        let (session, role) = self.readable(actor, session_id).await?;
        Self::require_editor(role)?;
        let old = self.message_in(session_id, id).await?;
        if old.role != "assistant" {
            return Err(ChatError::Validation(vec![FieldError::new(
                "mid",
                "regenerate an answer (an assistant message), not a question",
            )]));
        }
        if old.status == "streaming"
            && (self.generations.is_live(id)
                || !self
                    .end_orphan(id, ("incomplete", "failed"), Some(INTERRUPTED))
                    .await?)
        {
            return Err(ChatError::Conflict(
                "this answer is still being generated; cancel it first".into(),
            ));
        }
        let provider = self.provider_for(&session)?;
        let mut before = {
            let mut conn = db::conn(&self.pool).await?;
            repo::recent(&mut conn, session_id, id, HISTORY_LIMIT).await?
        };
        let question_at = before
            .iter()
            .position(|m| m.role == "user")
            .ok_or(ChatError::NotFound("question of this answer"))?;
        let question = before.remove(question_at);
        let history = earlier(Ok(before.into_iter().skip(question_at).collect()))?;
        let old_citations: Vec<Citation> =
            serde_json::from_value(old.citations).unwrap_or_default();
        let searched = old_citations
            .iter()
            .any(|c| c.source == CitationSource::Search);
        let (pinned, found) = self
            .sources(&session, &[], searched.then_some(question.content.as_str()))
            .await?;
        let model = session
            .model
            .clone()
            .unwrap_or_else(|| provider.default_model().to_owned());
        let (messages, citations) = context::assemble(
            &session.instructions,
            &pinned,
            &found,
            &history,
            &question.content,
            self.settings.budget_chars,
        );
        let now = Utc::now();
        let estimate = quota::prompt_estimate(&messages);
        let hold = self
            .settings
            .quotas
            .hold(actor, session.project_id, now, estimate);
        let mut row = answer_row(session_id, actor, &model, &citations, now);
        row.reserved_tokens = hold.map(|h| h.reserved());
        let assistant = {
            let mut conn = db::conn(&self.pool).await?;
            self.store(&mut conn, &[row], hold.as_ref())
                .await?
                .pop()
                .ok_or_else(|| ChatError::Unavailable("the answer was not stored".into()))?
        };
        let listener = self.start_answer(
            Answer {
                session: session_id,
                id: assistant.id,
                first_message: None,
                hold,
                stored: RowStored::already(),
            },
            provider,
            Prompt {
                model,
                messages,
                max_tokens: None,
            },
        );
        Ok(Posted {
            user: to_message(question),
            assistant: to_message(assistant),
            listener,
        })
    }

    /// An answer from `offset` characters: live when it is still being written here.
    pub async fn resume(
        &self,
        actor: UserId,
        session: ChatSessionId,
        id: ChatMessageId,
        offset: usize,
    ) -> Result<Source, ChatError> {
        self.readable(actor, session).await?;
        let row = self.message_in(session, id).await?;
        if let Some(listener) = self.generations.listen(id, offset) {
            return Ok(Source::Live(listener));
        }
        let mut message = to_message(row);
        message.content = after_chars(&message.content, offset);
        Ok(Source::Stored(message))
    }

    /// The stored message (after an answer ended).
    pub async fn message(
        &self,
        session: ChatSessionId,
        id: ChatMessageId,
    ) -> Result<Message, ChatError> {
        self.message_in(session, id).await.map(to_message)
    }

    pub async fn cancel(
        &self,
        actor: UserId,
        session: ChatSessionId,
        id: ChatMessageId,
    ) -> Result<(), ChatError> {
        let (_, role) = self.readable(actor, session).await?;
        Self::require_editor(role)?;
        let row = self.message_in(session, id).await?;
        if row.status != "streaming" {
            return Err(ChatError::Conflict(format!(
                "this answer is not being generated (status `{}`)",
                row.status
            )));
        }
        match self.generations.cancel(id) {
            Cancel::Done => Ok(()),
            Cancel::TooLate => Err(ChatError::Conflict(
                "this answer has just ended: it is no longer being generated".into(),
            )),
            Cancel::NotHere => {
                if self
                    .end_orphan(id, ("cancelled", "cancelled"), None)
                    .await?
                {
                    Ok(())
                } else {
                    Err(ChatError::Conflict(
                        "this answer is being generated by another node; retry there or wait"
                            .into(),
                    ))
                }
            }
        }
    }

    /// The last save before which a `streaming` answer has been orphaned.
    pub(crate) fn orphaned_before(&self) -> chrono::DateTime<Utc> {
        let after = chrono::Duration::from_std(self.settings.orphaned_after)
            .unwrap_or(chrono::Duration::hours(1));
        Utc::now() - after
    }

    /// End the answer `id` if no node is generating it any more; whether it was ended.
    async fn end_orphan(
        &self,
        id: ChatMessageId,
        statuses: (&str, &str),
        error: Option<&str>,
    ) -> Result<bool, ChatError> {
        let mut conn = db::conn(&self.pool).await?;
        let ended =
            repo::end_stale(&mut conn, self.orphaned_before(), Some(id), statuses, error).await?;
        Ok(ended > 0)
    }

    /// End every answer that a stopped node left `streaming`: `incomplete` with the text it
    /// has, `failed` without. How many.
    #[instrument(skip_all)]
    pub async fn end_orphans(&self) -> Result<usize, ChatError> {
        let mut conn = db::conn(&self.pool).await?;
        // Counters of the day before yesterday are no longer read (a hold of yesterday's may
        // still settle).
        let today = Utc::now().date_naive();
        if let Some(before) = today.checked_sub_days(chrono::Days::new(1)) {
            repo::purge_token_use(&mut conn, before).await?;
        }
        Ok(repo::end_stale(
            &mut conn,
            self.orphaned_before(),
            None,
            ("incomplete", "failed"),
            Some(INTERRUPTED),
        )
        .await?)
    }
}
