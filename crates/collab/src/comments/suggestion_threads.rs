//! A comment thread per suggestion, reusing comments: flat (no replies, quote or anchor),
//! oldest first. Commenters and above post, every member reads, strangers get 404; deciding
//! the suggestion stays with editors (`suggestions`).

use super::interface::{Comment, NewReply};
use super::repo::{self, CommentRow};
use super::{CommentsService, body_of, to_comment};
use crate::error::CollabError;
use chrono::Utc;
use mdz_core::access::Action;
use mdz_core::db;
use mdz_core::ids::{CommentId, FileId, ProjectId, SuggestionId, UserId};
use mdz_core::pagination::{Page, PageRequest};
use tracing::instrument;

impl CommentsService {
    /// The suggestion's document and project, with the caller allowed to `action` there
    /// (404 for strangers and for a suggestion of a trashed document).
    async fn suggestion_place(
        &self,
        actor: UserId,
        suggestion: SuggestionId,
        action: Action,
    ) -> Result<(FileId, ProjectId), CollabError> {
        let mut conn = db::conn(&self.pool).await?;
        let file = repo::suggestion_file(&mut conn, suggestion)
            .await?
            .ok_or(CollabError::NotFound("suggestion"))?;
        drop(conn);
        let (project, _) = self.document_project(actor, file, action).await?;
        Ok((file, project))
    }

    /// Add `body` to the suggestion's thread (mentions notify as in any comment).
    pub(super) async fn insert_in_thread(
        &self,
        actor: UserId,
        suggestion: SuggestionId,
        project: ProjectId,
        file: FileId,
        body: String,
    ) -> Result<Comment, CollabError> {
        let now = Utc::now();
        self.insert_with_mentions(
            actor,
            CommentRow {
                id: CommentId::new(),
                project_id: project,
                file_id: file,
                parent_id: None,
                author_id: actor,
                body,
                quote: None,
                anchor_start: None,
                anchor_end: None,
                resolved_at: None,
                resolved_by: None,
                created_at: now,
                updated_at: now,
                suggestion_id: Some(suggestion),
            },
        )
        .await
    }

    #[instrument(skip_all, fields(user_id = %actor, suggestion_id = %suggestion))]
    pub async fn comment_on_suggestion(
        &self,
        actor: UserId,
        suggestion: SuggestionId,
        new: NewReply,
    ) -> Result<Comment, CollabError> {
        let body = body_of(&new.body, "body")?;
        let (file, project) = self
            .suggestion_place(actor, suggestion, Action::Comment)
            .await?;
        self.insert_in_thread(actor, suggestion, project, file, body)
            .await
    }

    #[instrument(skip_all, fields(user_id = %actor, suggestion_id = %suggestion))]
    pub async fn suggestion_comments(
        &self,
        actor: UserId,
        suggestion: SuggestionId,
        page: PageRequest<CommentId>,
    ) -> Result<Page<Comment>, CollabError> {
        self.suggestion_place(actor, suggestion, Action::Read)
            .await?;
        let mut conn = db::conn(&self.pool).await?;
        let rows = repo::suggestion_thread(&mut conn, suggestion, page.after, page.limit).await?;
        Ok(Page::from_rows(rows, page.limit, |r| r.id).map(to_comment))
    }
}
