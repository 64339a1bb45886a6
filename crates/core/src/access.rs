//! Project roles and the access port: how every domain asks "may this user do this here?".
//!
//! A user who is not a member of a project gets 404 for it and everything in it, so its
//! existence is never revealed; a member below the needed role gets 403 naming that role.

use crate::ids::{ProjectId, UserId};
use crate::problem::ApiError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

/// A member's role in a project, highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Editor,
    Commenter,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Editor,
        Role::Commenter,
        Role::Viewer,
    ];

    /// Higher is more powerful.
    pub fn rank(self) -> u8 {
        match self {
            Role::Owner => 5,
            Role::Admin => 4,
            Role::Editor => 3,
            Role::Commenter => 2,
            Role::Viewer => 1,
        }
    }

    pub fn at_least(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Commenter => "commenter",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| "must be one of owner, admin, editor, commenter, viewer".to_owned())
    }
}

/// What a request wants to do in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read the project, its files and sessions.
    Read,
    /// Comment on files.
    Comment,
    /// Create, edit and delete files; chat.
    Edit,
    /// Invite, change roles below one's own, remove members below one's own.
    ManageMembers,
    /// Rename, change settings.
    Configure,
    /// Delete the project, transfer ownership.
    Administer,
}

impl Action {
    /// `role` when it allows this action, else why not (`None` = not a member: 404).
    pub fn check(self, role: Option<Role>) -> Result<Role, AccessError> {
        let role = role.ok_or(AccessError::NotFound)?;
        let needed = self.min_role();
        if role.at_least(needed) {
            Ok(role)
        } else {
            Err(AccessError::Forbidden { needed })
        }
    }

    /// The lowest role allowed to do this.
    pub fn min_role(self) -> Role {
        match self {
            Action::Read => Role::Viewer,
            Action::Comment => Role::Commenter,
            Action::Edit => Role::Editor,
            Action::ManageMembers | Action::Configure => Role::Admin,
            Action::Administer => Role::Owner,
        }
    }
}

/// Why access was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Not a member, or no such project: indistinguishable on purpose.
    #[error("project not found")]
    NotFound,
    #[error("this needs the {needed} role or higher")]
    Forbidden { needed: Role },
    #[error("access check unavailable: {0}")]
    Unavailable(String),
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::NotFound => ApiError::not_found("no such project"),
            AccessError::Forbidden { needed } => {
                ApiError::forbidden(format!("this needs the {needed} role or higher"))
            }
            AccessError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "access check unavailable");
                ApiError::unavailable("the access check is temporarily unavailable")
            }
        }
    }
}

/// Does the current request's credential reach `project`? A personal access token limited to
/// some projects reaches only those; implementations of [`ProjectAccess`] treat any other
/// project as one the user is not a member of (404), so every domain gets the limit from the
/// one place it resolves access.
pub fn reachable(project: ProjectId) -> bool {
    crate::context::project_limit().is_none_or(|list| list.contains(&project))
}

/// Keep the projects the current request's credential reaches.
pub fn keep_reachable(projects: &mut Vec<ProjectId>) {
    if let Some(list) = crate::context::project_limit() {
        projects.retain(|p| list.contains(p));
    }
}

/// What a project is called (for exports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectSummary {
    pub name: String,
    pub description: String,
}

/// The access port (implemented by `mdz-projects`).
#[async_trait]
pub trait ProjectAccess: Send + Sync + 'static {
    /// The user's role in a live (not deleted) project, `None` when not a member.
    async fn role(&self, user: UserId, project: ProjectId) -> Result<Option<Role>, AccessError>;

    /// Every live project the user may read (for searches across projects).
    async fn readable_projects(&self, user: UserId) -> Result<Vec<ProjectId>, AccessError>;

    /// A live project's name and description (the caller has checked access).
    async fn summary(&self, project: ProjectId) -> Result<Option<ProjectSummary>, AccessError>;

    /// The owners and admins of a live project (who hear about its webhooks failing).
    async fn managers(&self, project: ProjectId) -> Result<Vec<UserId>, AccessError>;

    /// The user's role, when it allows `action`.
    async fn require(
        &self,
        user: UserId,
        project: ProjectId,
        action: Action,
    ) -> Result<Role, AccessError> {
        action.check(self.role(user, project).await?)
    }
}

/// A project made by [`ProjectCreator::create_in`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedProject {
    pub id: ProjectId,
    pub name: String,
    pub description: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Why a project could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CreateProjectError {
    /// The name or the description is not acceptable (one entry per field).
    #[error("invalid project fields")]
    Invalid(Vec<crate::FieldError>),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error("creating the project: {0}")]
    Internal(String),
}

/// Making a project inside another domain's transaction (an import writes the project, its
/// owner and its documents in one transaction, so a failure leaves nothing). Implemented by
/// `mdz-projects` with the same rows as `POST /projects`.
#[async_trait]
pub trait ProjectCreator: Send + Sync + 'static {
    /// Check a project name as `POST /projects` does (an import does before it reads its
    /// body).
    fn check_name(&self, name: &str) -> Result<(), CreateProjectError>;

    /// Check `name` and `description` as `POST /projects` does, then insert the project
    /// `id` (chosen by the caller, who may need it before the transaction) and `owner`'s
    /// owner membership on `conn`; the caller's transaction decides whether they stay.
    async fn create_in(
        &self,
        conn: &mut diesel_async::AsyncPgConnection,
        id: ProjectId,
        owner: UserId,
        name: &str,
        description: &str,
    ) -> Result<CreatedProject, CreateProjectError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_order() {
        assert_eq!("editor".parse::<Role>().unwrap(), Role::Editor);
        assert!("Editor".parse::<Role>().is_err());
        assert!("superuser".parse::<Role>().is_err());
        assert!(Role::Owner.at_least(Role::Admin));
        assert!(!Role::Commenter.at_least(Role::Editor));
        assert_eq!(Action::Comment.min_role(), Role::Commenter);
        assert_eq!(Action::Administer.min_role(), Role::Owner);
    }
}
