//! Session rules: who may create, read, change and delete a session, and what a valid one is.

use crate::directory::InfoCache;
use crate::error::SessionError;
use crate::interface::{
    CreateSession, Session, UpdateSession, Visibility, check_context, check_instructions,
    parse_model, parse_title,
};
use crate::repo::{self, SessionChanges, SessionRow};
use chrono::Utc;
use mdz_core::FieldError;
use mdz_core::access::{Action, ProjectAccess, Role};
use mdz_core::db::{self, DbPool};
use mdz_core::documents::DocumentStore;
use mdz_core::ids::{ChatSessionId, FileId, ProjectId, UserId};
use mdz_core::pagination::{Page, PageRequest};
use std::sync::Arc;
use tracing::instrument;

/// The title of a session nobody has named yet (the first message names it).
pub const DEFAULT_TITLE: &str = "New session";

pub struct SessionsService {
    pool: DbPool,
    /// What chat reads of sessions: dropped after every update and delete.
    chat_view: Arc<InfoCache>,
    access: Arc<dyn ProjectAccess>,
    documents: Arc<dyn DocumentStore>,
    /// The deployment's model providers by name.
    providers: Vec<String>,
}

pub fn to_session(row: SessionRow) -> Session {
    Session {
        id: row.id,
        project_id: row.project_id,
        created_by: row.created_by,
        title: row.title,
        model: row.model,
        provider: row.provider,
        instructions: row.instructions,
        context_file_ids: row.context_file_ids.into_iter().map(FileId).collect(),
        visibility: Visibility::parse(&row.visibility),
        archived: row.archived,
        last_activity_at: row.last_activity_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

impl SessionsService {
    pub fn new(
        pool: DbPool,
        chat_view: Arc<InfoCache>,
        access: Arc<dyn ProjectAccess>,
        documents: Arc<dyn DocumentStore>,
        providers: Vec<String>,
    ) -> Self {
        Self {
            pool,
            chat_view,
            access,
            documents,
            providers,
        }
    }

    /// One of the deployment's provider names.
    fn parse_provider(&self, raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
        if self.providers.iter().any(|p| p == raw) {
            return Some(raw.to_owned());
        }
        let known = if self.providers.is_empty() {
            "no provider is configured".to_owned()
        } else {
            format!("configured: {}", self.providers.join(", "))
        };
        errors.push(FieldError::new(
            "provider",
            format!("no provider of this name ({known})"),
        ));
        None
    }

    /// Every pinned document must be live and in the session's project.
    async fn check_files(
        &self,
        project: ProjectId,
        ids: &[FileId],
    ) -> Result<Vec<uuid::Uuid>, SessionError> {
        let mut out = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            let head = self
                .documents
                .document(*id)
                .await
                .map_err(|e| SessionError::Documents(e.to_string()))?;
            if head.is_none_or(|h| h.project_id != project) {
                return Err(SessionError::Validation(vec![mdz_core::FieldError::new(
                    &format!("context_file_ids.{i}"),
                    "no such document in this project",
                )]));
            }
            if !out.contains(&id.0) {
                out.push(id.0);
            }
        }
        Ok(out)
    }

    /// The session, when `actor` may read it (404 otherwise), with the actor's role.
    pub async fn readable(
        &self,
        actor: UserId,
        id: ChatSessionId,
    ) -> Result<(SessionRow, Role), SessionError> {
        let mut conn = db::conn(&self.pool).await?;
        let row = repo::get(&mut conn, id)
            .await?
            .ok_or(SessionError::NotFound("session"))?;
        let role = self
            .access
            .role(actor, row.project_id)
            .await?
            .ok_or(SessionError::NotFound("session"))?;
        if row.visibility == "private" && row.created_by != actor {
            return Err(SessionError::NotFound("session"));
        }
        Ok((row, role))
    }

    #[instrument(skip_all, fields(user_id = %actor, project_id = %project))]
    pub async fn create(
        &self,
        actor: UserId,
        project: ProjectId,
        new: CreateSession,
    ) -> Result<Session, SessionError> {
        let mut errors = Vec::new();
        let title = new
            .title
            .as_deref()
            .and_then(|t| parse_title(t, &mut errors));
        let model = new
            .model
            .as_deref()
            .and_then(|m| parse_model(m, &mut errors));
        let provider = new
            .provider
            .as_deref()
            .and_then(|p| self.parse_provider(p, &mut errors));
        let instructions = new.instructions.unwrap_or_default();
        check_instructions(&instructions, &mut errors);
        let files = new.context_file_ids.unwrap_or_default();
        check_context(&files, &mut errors);
        if !errors.is_empty() {
            return Err(SessionError::Validation(errors));
        }
        self.access.require(actor, project, Action::Edit).await?;
        let files = self.check_files(project, &files).await?;
        let now = Utc::now();
        let mut conn = db::conn(&self.pool).await?;
        let row = repo::insert(
            &mut conn,
            &SessionRow {
                id: ChatSessionId::new(),
                project_id: project,
                created_by: actor,
                title_is_default: title.is_none(),
                title: title.unwrap_or_else(|| DEFAULT_TITLE.to_owned()),
                model,
                provider,
                instructions,
                context_file_ids: files,
                visibility: new
                    .visibility
                    .unwrap_or(Visibility::Project)
                    .as_str()
                    .to_owned(),
                archived: false,
                last_activity_at: now,
                created_at: now,
                updated_at: now,
            },
        )
        .await?;
        Ok(to_session(row))
    }

    pub async fn list(
        &self,
        actor: UserId,
        project: ProjectId,
        archived: bool,
        page: PageRequest<(chrono::DateTime<Utc>, ChatSessionId)>,
    ) -> Result<Page<Session>, SessionError> {
        self.access.require(actor, project, Action::Read).await?;
        let mut conn = db::conn(&self.pool).await?;
        let rows = repo::list(&mut conn, project, actor, archived, page.after, page.limit).await?;
        Ok(Page::from_rows(rows, page.limit, |r| (r.last_activity_at, r.id)).map(to_session))
    }

    pub async fn get(&self, actor: UserId, id: ChatSessionId) -> Result<Session, SessionError> {
        self.readable(actor, id)
            .await
            .map(|(row, _)| to_session(row))
    }

    /// Its creator, or an admin for a project-visible session.
    fn may_manage(row: &SessionRow, actor: UserId, role: Role) -> Result<(), SessionError> {
        if row.created_by == actor || (row.visibility == "project" && role.at_least(Role::Admin)) {
            Ok(())
        } else {
            Err(SessionError::Forbidden(
                "only the session's creator or a project admin may change it".into(),
            ))
        }
    }

    #[instrument(skip_all, fields(user_id = %actor, session_id = %id))]
    pub async fn update(
        &self,
        actor: UserId,
        id: ChatSessionId,
        change: UpdateSession,
    ) -> Result<Session, SessionError> {
        let mut errors = Vec::new();
        let title = change
            .title
            .as_deref()
            .and_then(|t| parse_title(t, &mut errors));
        let model = match &change.model {
            Some(Some(m)) => parse_model(m, &mut errors).map(Some),
            Some(None) => Some(None),
            None => None,
        };
        let provider = match &change.provider {
            Some(Some(p)) => self.parse_provider(p, &mut errors).map(Some),
            Some(None) => Some(None),
            None => None,
        };
        if let Some(i) = &change.instructions {
            check_instructions(i, &mut errors);
        }
        if let Some(files) = &change.context_file_ids {
            check_context(files, &mut errors);
        }
        if !errors.is_empty() {
            return Err(SessionError::Validation(errors));
        }
        let (row, role) = self.readable(actor, id).await?;
        Self::may_manage(&row, actor, role)?;
        let files = match &change.context_file_ids {
            Some(files) => Some(self.check_files(row.project_id, files).await?),
            None => None,
        };
        let changes = SessionChanges {
            title_is_default: title.as_ref().map(|_| false),
            title,
            model,
            provider,
            instructions: change.instructions,
            context_file_ids: files,
            visibility: change.visibility.map(|v| v.as_str().to_owned()),
            archived: change.archived,
        };
        let mut conn = db::conn(&self.pool).await?;
        let row = if changes_are_empty(&changes) {
            row
        } else {
            let row = repo::update(&mut conn, id, &changes).await?;
            drop(conn);
            self.chat_view.invalidate(&id.to_string()).await;
            row
        };
        Ok(to_session(row))
    }

    #[instrument(skip_all, fields(user_id = %actor, session_id = %id))]
    pub async fn delete(&self, actor: UserId, id: ChatSessionId) -> Result<(), SessionError> {
        let (row, role) = self.readable(actor, id).await?;
        Self::may_manage(&row, actor, role)?;
        let mut conn = db::conn(&self.pool).await?;
        repo::delete(&mut conn, id).await?;
        drop(conn);
        self.chat_view.invalidate(&id.to_string()).await;
        Ok(())
    }
}

fn changes_are_empty(c: &SessionChanges) -> bool {
    c.title.is_none()
        && c.model.is_none()
        && c.provider.is_none()
        && c.instructions.is_none()
        && c.context_file_ids.is_none()
        && c.visibility.is_none()
        && c.archived.is_none()
}
