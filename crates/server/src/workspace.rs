//! The workspace port over the projects and files domains (for the MCP server): each call is
//! the same service call the REST API makes, so roles, validation and ETags are theirs.

use async_trait::async_trait;
use mdz_collab::comments::interface::Anchor;
use mdz_collab::suggestions::SuggestionsService;
use mdz_collab::suggestions::interface::{NewSuggestion, OffsetRange};
use mdz_core::ApiError;
use mdz_core::ids::{FileId, ProjectId, UserId};
use mdz_core::pagination::PageRequest;
use mdz_core::workspace::{ProposedEdit, Workspace, WorkspaceError};
use mdz_files::paths::{DocPath, parse_prefix};
use mdz_files::search::SearchQuery;
use mdz_files::service::{FilesService, Written};
use mdz_projects::service::ProjectsService;
use serde_json::{Value, json};
use std::sync::Arc;

/// Items per answer: a page large enough for an assistant, small enough for its context.
const PAGE: i64 = 100;

pub struct DomainWorkspace {
    pub projects: Arc<ProjectsService>,
    pub files: Arc<FilesService>,
    pub suggestions: Arc<SuggestionsService>,
}

/// What an assistant proposing through MCP is recorded as (its model is not known).
const MCP_PROVIDER: &str = "mcp";

/// A domain error in the port's words (the problem's detail, never a cause).
fn port_error(e: impl Into<ApiError>) -> WorkspaceError {
    let e: ApiError = e.into();
    let problem = e.to_problem();
    let text = problem.detail.unwrap_or(problem.title);
    match e.status().as_u16() {
        404 | 410 => WorkspaceError::NotFound(text),
        401 | 403 => WorkspaceError::Forbidden(text),
        409 | 412 => WorkspaceError::Conflict(text),
        400 | 413 | 415 | 422 => WorkspaceError::Invalid(text),
        _ => WorkspaceError::Unavailable(text),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, WorkspaceError> {
    serde_json::to_value(v).map_err(|e| WorkspaceError::Unavailable(e.to_string()))
}

fn first_page<K>() -> PageRequest<K> {
    PageRequest {
        limit: PAGE,
        after: None,
    }
}

/// The explanation of an `update_file` turned suggestion when the assistant gave none.
const WHOLE_UPDATE: &str = "Proposed through MCP as a new content for the document.";

/// The part of a document `update_file` would change, in Unicode scalar values of `old`.
#[derive(Debug, PartialEq, Eq)]
struct Change {
    from: usize,
    to: usize,
    quote: String,
    proposed: String,
}

/// The range between the common start and the common end of `old` and `new` (the end
/// never overlapping the start); `None` when they are equal.
fn changed_range(old: &str, new: &str) -> Option<Change> {
    if old == new {
        return None;
    }
    let old: Vec<char> = old.chars().collect();
    let new: Vec<char> = new.chars().collect();
    let start = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let end = old[start..]
        .iter()
        .rev()
        .zip(new[start..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    Some(Change {
        from: start,
        to: old.len() - end,
        quote: old[start..old.len() - end].iter().collect(),
        proposed: new[start..new.len() - end].iter().collect(),
    })
}

#[async_trait]
impl Workspace for DomainWorkspace {
    async fn projects(&self, user: UserId) -> Result<Value, WorkspaceError> {
        let page = self
            .projects
            .list(user, first_page())
            .await
            .map_err(port_error)?;
        let items: Vec<Value> = page
            .items
            .iter()
            .map(|p| json!({"id": p.id, "name": p.name, "description": p.description, "role": p.role}))
            .collect();
        Ok(json!({"projects": items, "more": page.next_cursor.is_some()}))
    }

    async fn files(
        &self,
        user: UserId,
        project: ProjectId,
        prefix: &str,
    ) -> Result<Value, WorkspaceError> {
        let prefix = parse_prefix(prefix).map_err(WorkspaceError::Invalid)?;
        let page = self
            .files
            .list(user, project, &prefix, false, first_page())
            .await
            .map_err(port_error)?;
        let items: Vec<Value> = page
            .items
            .iter()
            .map(|f| json!({"id": f.id, "path": f.path, "title": f.title, "size": f.size, "revision": f.revision}))
            .collect();
        Ok(json!({"files": items, "more": page.next_cursor.is_some()}))
    }

    async fn read_file(&self, user: UserId, file: FileId) -> Result<Value, WorkspaceError> {
        let f = self.files.get(user, file).await.map_err(port_error)?;
        Ok(
            json!({"id": f.meta.id, "project_id": f.meta.project_id, "path": f.meta.path,
                  "revision": f.meta.revision, "content": f.content}),
        )
    }

    async fn search(
        &self,
        user: UserId,
        project: Option<ProjectId>,
        query: &str,
    ) -> Result<Value, WorkspaceError> {
        let q = SearchQuery::parse(query).map_err(WorkspaceError::Invalid)?;
        let page = self
            .files
            .search(
                user,
                project,
                &q,
                PageRequest {
                    limit: 20,
                    after: None,
                },
            )
            .await
            .map_err(port_error)?;
        Ok(json!({"results": to_json(&page.items)?}))
    }

    async fn create_file(
        &self,
        user: UserId,
        project: ProjectId,
        path: &str,
        content: String,
    ) -> Result<Value, WorkspaceError> {
        let path = DocPath::parse(path).map_err(WorkspaceError::Invalid)?;
        match self
            .files
            .create(user, project, path, content, None)
            .await
            .map_err(port_error)?
        {
            Written::Fresh { file, .. } => Ok(
                json!({"id": file.meta.id, "path": file.meta.path, "revision": file.meta.revision}),
            ),
            Written::Replayed { body, .. } => Ok(body),
        }
    }

    async fn update_file(
        &self,
        user: UserId,
        file: FileId,
        content: String,
        revision: Option<i64>,
    ) -> Result<Value, WorkspaceError> {
        match self
            .files
            .save(user, file, content, revision, None)
            .await
            .map_err(port_error)?
        {
            Written::Fresh { file, .. } => Ok(
                json!({"id": file.meta.id, "path": file.meta.path, "revision": file.meta.revision}),
            ),
            Written::Replayed { body, .. } => Ok(body),
        }
    }

    async fn suggest_update(
        &self,
        user: UserId,
        file: FileId,
        content: String,
        revision: Option<i64>,
        explanation: Option<&str>,
    ) -> Result<Value, WorkspaceError> {
        let current = self.files.get(user, file).await.map_err(port_error)?;
        let head = current.meta.revision;
        if let Some(read) = revision.filter(|r| *r != head) {
            return Err(WorkspaceError::Conflict(format!(
                "the document is at revision {head}, not {read}: read it again"
            )));
        }
        let Some(change) = changed_range(&current.content, &content) else {
            return Ok(json!({"file_id": file, "revision": head, "written": false,
                "suggested": false, "message": "the content is what the document already holds; nothing suggested"}));
        };
        let new = NewSuggestion {
            anchor: None::<Anchor>,
            range: Some(OffsetRange {
                from: change.from,
                to: change.to,
                revision: head,
            }),
            quote: Some(change.quote),
            proposed: change.proposed,
            explanation: Some(explanation.unwrap_or(WHOLE_UPDATE).to_owned()),
            provider: Some(MCP_PROVIDER.to_owned()),
            model: None,
        };
        let created = self
            .suggestions
            .create(user, file, new)
            .await
            .map_err(port_error)?;
        Ok(json!({
            "file_id": file,
            "revision": head,
            "written": false,
            "suggested": true,
            "suggestion_id": created.id,
            "suggestion": to_json(&created)?,
            "message": "this token only suggests edits: the change is suggestion \
                `suggestion_id`, and the document is unchanged until a person accepts it",
        }))
    }

    async fn propose_edit(
        &self,
        user: UserId,
        file: FileId,
        edit: ProposedEdit,
    ) -> Result<Value, WorkspaceError> {
        let new = NewSuggestion {
            anchor: None::<Anchor>,
            range: Some(OffsetRange {
                from: edit.from,
                to: edit.to,
                revision: edit.revision,
            }),
            quote: edit.quote,
            proposed: edit.proposed,
            explanation: Some(edit.explanation),
            provider: Some(MCP_PROVIDER.to_owned()),
            model: None,
        };
        let created = self
            .suggestions
            .create(user, file, new)
            .await
            .map_err(port_error)?;
        to_json(&created)
    }

    async fn suggestions(
        &self,
        user: UserId,
        file: FileId,
        status: Option<&str>,
    ) -> Result<Value, WorkspaceError> {
        let page = self
            .suggestions
            .list(user, file, status, first_page())
            .await
            .map_err(port_error)?;
        Ok(json!({"suggestions": to_json(&page.items)?}))
    }
}

#[cfg(test)]
mod tests {
    use super::{Change, changed_range};

    fn change(from: usize, to: usize, quote: &str, proposed: &str) -> Option<Change> {
        Some(Change {
            from,
            to,
            quote: quote.into(),
            proposed: proposed.into(),
        })
    }

    #[test]
    fn the_changed_range_is_between_the_common_ends() {
        assert_eq!(changed_range("same", "same"), None);
        assert_eq!(
            changed_range("# Hi\nold words\n", "# Hi\nnew words\n"),
            change(5, 8, "old", "new")
        );
        assert_eq!(changed_range("ab", "abc"), change(2, 2, "", "c"));
        assert_eq!(changed_range("", "text"), change(0, 0, "", "text"));
        assert_eq!(changed_range("abc", ""), change(0, 3, "abc", ""));
        // Repeated letters: the end does not overlap the start.
        assert_eq!(changed_range("aa", "aaa"), change(2, 2, "", "a"));
        assert_eq!(changed_range("aaa", "aa"), change(2, 3, "a", ""));
        // Offsets count characters, not bytes.
        assert_eq!(changed_range("é1ü", "é2ü"), change(1, 2, "1", "2"));
    }
}
