//! Comments anchored to a range of a document (quoted text plus the client's Yjs relative
//! positions, kept opaque), threads of replies, resolve/reopen, and `@email` mentions that
//! notify project members.

pub mod endpoint;
pub mod interface;
pub mod mention_mails;
pub mod repo;
mod suggestion_threads;

use crate::error::CollabError;
use base64::Engine;
use chrono::Utc;
use interface::{
    Anchor, Comment, MarkRead, NewComment, NewReply, Notification, Thread, UpdateComment,
};
use mdz_core::FieldError;
use mdz_core::access::{Action, ProjectAccess, Role};
use mdz_core::db::{self, DbPool};
use mdz_core::documents::DocumentStore;
use mdz_core::events::{self, EventKind, NewEvent};
use mdz_core::ids::{CommentId, FileId, NotificationId, ProjectId, UserId};
use mdz_core::pagination::{Page, PageRequest};
use mdz_core::ports::UserDirectory;
use repo::{CommentRow, NotificationRow};
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tracing::instrument;

const MAX_BODY: usize = 20_000;
const MAX_QUOTE: usize = 2_000;
const MAX_ANCHOR: usize = 1_024;
const MAX_MENTIONS: usize = 20;
const EXCERPT: usize = 140;

pub struct CommentsService {
    pool: DbPool,
    access: Arc<dyn ProjectAccess>,
    documents: Arc<dyn DocumentStore>,
    users: Arc<dyn UserDirectory>,
}

fn body_of(body: &str, field: &str) -> Result<String, CollabError> {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return Err(CollabError::Validation(vec![FieldError::new(
            field,
            "must not be empty",
        )]));
    }
    if trimmed.chars().count() > MAX_BODY {
        return Err(CollabError::Validation(vec![FieldError::new(
            field,
            format!("at most {MAX_BODY} characters"),
        )]));
    }
    no_nul(trimmed, field)?;
    Ok(trimmed.to_owned())
}

/// PostgreSQL text cannot hold U+0000: refused as input rather than failing the insert.
pub(crate) fn no_nul(text: &str, field: &str) -> Result<(), CollabError> {
    if text.contains('\0') {
        return Err(CollabError::Validation(vec![FieldError::new(
            field,
            "must not contain NUL characters",
        )]));
    }
    Ok(())
}

pub(crate) fn check_anchor(anchor: &Anchor) -> Result<(), CollabError> {
    let mut errors = Vec::new();
    for (field, value) in [("anchor.start", &anchor.start), ("anchor.end", &anchor.end)] {
        let decodes = base64::engine::general_purpose::STANDARD
            .decode(value)
            .is_ok_and(|b| !b.is_empty());
        if value.len() > MAX_ANCHOR || !decodes {
            errors.push(FieldError::new(
                field,
                format!(
                    "base64 of an encoded Yjs relative position, at most {MAX_ANCHOR} characters"
                ),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CollabError::Validation(errors))
    }
}

/// The emails mentioned as `@name@example.com` (at most [`MAX_MENTIONS`], lowercased).
pub fn mentions(body: &str) -> Vec<String> {
    let mut found = BTreeSet::new();
    for word in body.split_whitespace() {
        let Some(rest) = word.strip_prefix('@') else {
            continue;
        };
        let email = rest.trim_end_matches(|c: char| ".,;:!?)]}>\"'".contains(c));
        let valid = email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
        if valid {
            found.insert(email.to_lowercase());
        }
        if found.len() >= MAX_MENTIONS {
            break;
        }
    }
    found.into_iter().collect()
}

fn to_comment(row: CommentRow) -> Comment {
    let anchor = match (row.anchor_start, row.anchor_end) {
        (Some(start), Some(end)) => Some(Anchor { start, end }),
        _ => None,
    };
    Comment {
        id: row.id,
        file_id: row.file_id,
        project_id: row.project_id,
        parent_id: row.parent_id,
        author: row.author_id,
        body: row.body,
        quote: row.quote,
        anchor,
        resolved_at: row.resolved_at,
        resolved_by: row.resolved_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
        suggestion_id: row.suggestion_id,
    }
}

fn to_notification(row: NotificationRow) -> Notification {
    Notification {
        id: row.id,
        kind: row.kind,
        project_id: row.project_id,
        file_id: row.file_id,
        comment_id: row.comment_id,
        actor: row.actor_id,
        excerpt: row.excerpt,
        read_at: row.read_at,
        created_at: row.created_at,
    }
}

/// A project event about `row` (ids only: the body stays with the comment).
fn comment_event(row: &CommentRow, kind: EventKind, actor: Option<UserId>) -> NewEvent {
    NewEvent {
        project: row.project_id,
        kind,
        actor,
        recipient: None,
        data: json!({
            "comment_id": row.id,
            "file_id": row.file_id,
            "parent_id": row.parent_id,
            "suggestion_id": row.suggestion_id,
        }),
    }
}

/// Log a new comment for every member and each of its notifications for its recipient.
async fn record_created(
    conn: &mut diesel_async::AsyncPgConnection,
    saved: &CommentRow,
    notes: &[NotificationRow],
) -> Result<(), diesel::result::Error> {
    let created = comment_event(saved, EventKind::CommentCreated, Some(saved.author_id));
    events::record(conn, created).await?;
    for note in notes {
        let event = NewEvent {
            project: note.project_id,
            kind: EventKind::Notification,
            actor: note.actor_id,
            recipient: Some(note.user_id),
            data: json!({
                "notification_id": note.id,
                "kind": note.kind,
                "file_id": note.file_id,
                "comment_id": note.comment_id,
            }),
        };
        events::record(conn, event).await?;
    }
    Ok(())
}

impl CommentsService {
    pub fn new(
        pool: DbPool,
        access: Arc<dyn ProjectAccess>,
        documents: Arc<dyn DocumentStore>,
        users: Arc<dyn UserDirectory>,
    ) -> Self {
        Self {
            pool,
            access,
            documents,
            users,
        }
    }

    /// The live document's project, with the caller allowed to `action` there.
    async fn document_project(
        &self,
        actor: UserId,
        file: FileId,
        action: Action,
    ) -> Result<(ProjectId, Role), CollabError> {
        let head = self
            .documents
            .document(file)
            .await?
            .ok_or(CollabError::NotFound("document"))?;
        let role = self.access.require(actor, head.project_id, action).await?;
        Ok((head.project_id, role))
    }

    /// A comment the caller may see, with their role (404 for strangers).
    async fn visible(
        &self,
        actor: UserId,
        id: CommentId,
    ) -> Result<(CommentRow, Role), CollabError> {
        let mut conn = db::conn(&self.pool).await?;
        let row = repo::get(&mut conn, id)
            .await?
            .ok_or(CollabError::NotFound("comment"))?;
        drop(conn);
        // The document must still be live and readable.
        let (_, role) = self
            .document_project(actor, row.file_id, Action::Read)
            .await?;
        Ok((row, role))
    }

    /// The mailer of this service's mentions.
    pub fn mention_mails(
        &self,
        outbox: mdz_core::mail::Outbox,
        delay_secs: u64,
        interval_secs: u64,
    ) -> mention_mails::MentionMails {
        mention_mails::MentionMails::new(
            self.pool.clone(),
            self.access.clone(),
            self.users.clone(),
            outbox,
            delay_secs,
            interval_secs,
        )
    }

    async fn insert_with_mentions(
        &self,
        actor: UserId,
        row: CommentRow,
    ) -> Result<Comment, CollabError> {
        let mentioned = self
            .mentioned_members(actor, row.project_id, &row.body)
            .await?;
        let excerpt: String = row.body.chars().take(EXCERPT).collect();
        let mut conn = db::conn(&self.pool).await?;
        let saved = diesel_async::AsyncConnection::transaction::<_, CollabError, _>(
            &mut *conn,
            async |conn| {
                let saved = repo::insert(conn, &row).await?;
                let now = Utc::now();
                let notes: Vec<NotificationRow> = mentioned
                    .iter()
                    .map(|user| NotificationRow {
                        id: NotificationId::new(),
                        user_id: *user,
                        kind: "mention".into(),
                        project_id: saved.project_id,
                        file_id: Some(saved.file_id),
                        comment_id: Some(saved.id),
                        actor_id: Some(actor),
                        excerpt: excerpt.clone(),
                        read_at: None,
                        created_at: now,
                    })
                    .collect();
                repo::notify(conn, &notes).await?;
                record_created(conn, &saved, &notes).await?;
                Ok(saved)
            },
        )
        .await?;
        Ok(to_comment(saved))
    }

    /// Members of the project mentioned in `body`, other than the author.
    async fn mentioned_members(
        &self,
        actor: UserId,
        project: ProjectId,
        body: &str,
    ) -> Result<Vec<UserId>, CollabError> {
        let mut out = Vec::new();
        for email in mentions(body) {
            let Some(user) = self
                .users
                .by_email(&email)
                .await
                .map_err(CollabError::Directory)?
            else {
                continue;
            };
            if user.id != actor && self.access.role(user.id, project).await?.is_some() {
                out.push(user.id);
            }
        }
        Ok(out)
    }

    #[instrument(skip_all, fields(user_id = %actor, file_id = %file))]
    pub async fn create(
        &self,
        actor: UserId,
        file: FileId,
        new: NewComment,
    ) -> Result<Comment, CollabError> {
        let body = body_of(&new.body, "body")?;
        if let Some(quote) = &new.quote
            && quote.chars().count() > MAX_QUOTE
        {
            return Err(CollabError::Validation(vec![FieldError::new(
                "quote",
                format!("at most {MAX_QUOTE} characters"),
            )]));
        }
        if let Some(quote) = &new.quote {
            no_nul(quote, "quote")?;
        }
        if let Some(anchor) = &new.anchor {
            check_anchor(anchor)?;
        }
        let (project, _) = self.document_project(actor, file, Action::Comment).await?;
        let now = Utc::now();
        let (anchor_start, anchor_end) = new.anchor.map(|a| (a.start, a.end)).unzip();
        self.insert_with_mentions(
            actor,
            CommentRow {
                id: CommentId::new(),
                project_id: project,
                file_id: file,
                parent_id: None,
                author_id: actor,
                body,
                quote: new.quote,
                anchor_start,
                anchor_end,
                resolved_at: None,
                resolved_by: None,
                created_at: now,
                updated_at: now,
                suggestion_id: None,
            },
        )
        .await
    }

    #[instrument(skip_all, fields(user_id = %actor, comment_id = %parent))]
    pub async fn reply(
        &self,
        actor: UserId,
        parent: CommentId,
        new: NewReply,
    ) -> Result<Comment, CollabError> {
        let body = body_of(&new.body, "body")?;
        let (root, _) = self.visible(actor, parent).await?;
        Action::Comment.check(self.access.role(actor, root.project_id).await?)?;
        if let Some(suggestion) = root.suggestion_id {
            // A suggestion's thread is flat: a reply is one more comment in it.
            return self
                .insert_in_thread(actor, suggestion, root.project_id, root.file_id, body)
                .await;
        }
        let now = Utc::now();
        self.insert_with_mentions(
            actor,
            CommentRow {
                id: CommentId::new(),
                project_id: root.project_id,
                file_id: root.file_id,
                // A reply to a reply joins the same thread.
                parent_id: Some(root.parent_id.unwrap_or(root.id)),
                author_id: actor,
                body,
                quote: None,
                anchor_start: None,
                anchor_end: None,
                resolved_at: None,
                resolved_by: None,
                created_at: now,
                updated_at: now,
                suggestion_id: None,
            },
        )
        .await
    }

    #[instrument(skip_all, fields(user_id = %actor, comment_id = %id))]
    pub async fn update(
        &self,
        actor: UserId,
        id: CommentId,
        change: UpdateComment,
    ) -> Result<Comment, CollabError> {
        let body = change
            .body
            .as_deref()
            .map(|b| body_of(b, "body"))
            .transpose()?;
        if body.is_none() && change.resolved.is_none() {
            return Err(CollabError::Validation(vec![FieldError::new(
                "body",
                "send `body`, `resolved`, or both",
            )]));
        }
        let (row, role) = self.visible(actor, id).await?;
        Action::Comment.check(Some(role))?;
        if body.is_some() && row.author_id != actor {
            return Err(CollabError::Forbidden(
                "only its author may edit a comment".into(),
            ));
        }
        if change.resolved.is_some() && row.parent_id.is_some() {
            return Err(CollabError::Validation(vec![FieldError::new(
                "resolved",
                "resolve the thread's first comment, not a reply",
            )]));
        }
        let mut conn = db::conn(&self.pool).await?;
        let row = diesel_async::AsyncConnection::transaction::<_, CollabError, _>(
            &mut *conn,
            async |conn| {
                if let Some(body) = &body {
                    let excerpt: String = body.chars().take(EXCERPT).collect();
                    repo::set_body(conn, id, body, &excerpt).await?;
                }
                let changed = match change.resolved {
                    Some(resolved) => repo::set_resolved(conn, id, resolved.then_some(actor))
                        .await?
                        .then_some(resolved),
                    None => None,
                };
                // Only a change of state is an event (resolving twice records one).
                if let Some(resolved) = changed {
                    let kind = if resolved {
                        EventKind::CommentResolved
                    } else {
                        EventKind::CommentReopened
                    };
                    events::record(conn, comment_event(&row, kind, Some(actor))).await?;
                }
                repo::get(conn, id)
                    .await?
                    .ok_or(CollabError::NotFound("comment"))
            },
        )
        .await?;
        Ok(to_comment(row))
    }

    #[instrument(skip_all, fields(user_id = %actor, comment_id = %id))]
    pub async fn delete(&self, actor: UserId, id: CommentId) -> Result<(), CollabError> {
        let (row, role) = self.visible(actor, id).await?;
        if row.author_id != actor && !role.at_least(Role::Admin) {
            return Err(CollabError::Forbidden(
                "only its author or a project admin may delete a comment".into(),
            ));
        }
        let mut conn = db::conn(&self.pool).await?;
        repo::delete(&mut conn, id).await?;
        Ok(())
    }

    #[instrument(skip_all, fields(user_id = %actor, file_id = %file))]
    pub async fn threads(
        &self,
        actor: UserId,
        file: FileId,
        resolved: Option<bool>,
        page: PageRequest<CommentId>,
    ) -> Result<Page<Thread>, CollabError> {
        self.document_project(actor, file, Action::Read).await?;
        let mut conn = db::conn(&self.pool).await?;
        let roots = repo::threads(&mut conn, file, resolved, page.after, page.limit).await?;
        let page = Page::from_rows(roots, page.limit, |r| r.id);
        let ids: Vec<CommentId> = page.items.iter().map(|r| r.id).collect();
        let mut replies: HashMap<CommentId, Vec<Comment>> = HashMap::new();
        for reply in repo::replies(&mut conn, &ids).await? {
            if let Some(parent) = reply.parent_id {
                replies.entry(parent).or_default().push(to_comment(reply));
            }
        }
        Ok(page.map(|root| Thread {
            replies: replies.remove(&root.id).unwrap_or_default(),
            comment: to_comment(root),
        }))
    }

    pub async fn notifications(
        &self,
        actor: UserId,
        unread_only: bool,
        page: PageRequest<(bool, NotificationId)>,
    ) -> Result<Page<Notification>, CollabError> {
        // Only projects the user still reads: not one they left, nor a deleted one.
        let projects = self.access.readable_projects(actor).await?;
        let mut conn = db::conn(&self.pool).await?;
        let rows = repo::inbox(
            &mut conn,
            actor,
            &projects,
            unread_only,
            page.after,
            page.limit,
        )
        .await?;
        Ok(Page::from_rows(rows, page.limit, |n| (n.read_at.is_some(), n.id)).map(to_notification))
    }

    pub async fn mark_read(&self, actor: UserId, which: MarkRead) -> Result<usize, CollabError> {
        let projects = self.access.readable_projects(actor).await?;
        let mut conn = db::conn(&self.pool).await?;
        Ok(repo::mark_read(&mut conn, actor, &projects, which.ids.as_deref()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn mentions_are_emails_after_an_at_sign() {
        assert_eq!(
            mentions("hi @Ann@Example.com, see @bob@example.org. not me@example.com or @nobody"),
            vec!["ann@example.com".to_owned(), "bob@example.org".to_owned()]
        );
        assert!(mentions("email me at x@example.com").is_empty());
    }
}
