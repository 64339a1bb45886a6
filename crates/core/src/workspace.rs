//! The workspace port: a user's projects and documents as one surface, for adapters that
//! speak other protocols (the MCP server). `mdz-server` implements it over the projects and
//! files domains, so every rule (roles, paths, ETags, limits) is theirs.

use crate::ids::{FileId, ProjectId, UserId};
use async_trait::async_trait;
use serde_json::Value;

/// Why a workspace operation failed, in words fit for the user.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WorkspaceError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("not allowed: {0}")]
    Forbidden(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// An edit an assistant proposes (a suggestion): characters `from..to` (Unicode scalar
/// values) of the document's text at `revision` become `proposed`.
#[derive(Debug, Clone)]
pub struct ProposedEdit {
    pub from: usize,
    pub to: usize,
    pub revision: i64,
    pub proposed: String,
    /// The text being replaced, as the assistant read it (checked).
    pub quote: Option<String>,
    pub explanation: String,
}

/// Answers are JSON shaped like the REST API's.
#[async_trait]
pub trait Workspace: Send + Sync + 'static {
    /// The user's projects with their role.
    async fn projects(&self, user: UserId) -> Result<Value, WorkspaceError>;
    /// Documents of a project (without content), optionally under a folder prefix.
    async fn files(
        &self,
        user: UserId,
        project: ProjectId,
        prefix: &str,
    ) -> Result<Value, WorkspaceError>;
    /// A document with its content and revision.
    async fn read_file(&self, user: UserId, file: FileId) -> Result<Value, WorkspaceError>;
    /// Full-text search in one project or in all of the user's.
    async fn search(
        &self,
        user: UserId,
        project: Option<ProjectId>,
        query: &str,
    ) -> Result<Value, WorkspaceError>;
    async fn create_file(
        &self,
        user: UserId,
        project: ProjectId,
        path: &str,
        content: String,
    ) -> Result<Value, WorkspaceError>;
    /// Replace a document's content; with `revision`, only if nobody saved since.
    async fn update_file(
        &self,
        user: UserId,
        file: FileId,
        content: String,
        revision: Option<i64>,
    ) -> Result<Value, WorkspaceError>;
    /// Propose `content` as a document's new content without writing it: one suggestion
    /// replacing the range between the common start and end of the current text and
    /// `content`. With `revision`, only if nobody saved since. For suggest-only credentials.
    async fn suggest_update(
        &self,
        user: UserId,
        file: FileId,
        content: String,
        revision: Option<i64>,
        explanation: Option<&str>,
    ) -> Result<Value, WorkspaceError>;
    /// Propose an edit of a document as a suggestion its editors accept or reject.
    async fn propose_edit(
        &self,
        user: UserId,
        file: FileId,
        edit: ProposedEdit,
    ) -> Result<Value, WorkspaceError>;
    /// A document's suggestions, optionally only those with `status`.
    async fn suggestions(
        &self,
        user: UserId,
        file: FileId,
        status: Option<&str>,
    ) -> Result<Value, WorkspaceError>;
}
