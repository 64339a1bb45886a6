//! Request and response types of the projects API, and the parsed forms requests become.

use chrono::{DateTime, Utc};
use mdz_core::FieldError;
use mdz_core::access::Role;
use mdz_core::ids::{InvitationId, ProjectId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

// ---- wire types -------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProjectRequest {
    /// 1–100 characters.
    #[schema(example = "Handbook")]
    pub name: String,
    /// Up to 2000 characters.
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProjectRequest {
    pub name: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// The email of an existing account.
    pub email: String,
    /// `admin`, `editor`, `commenter` or `viewer` (`owner` only by an owner).
    pub role: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRoleRequest {
    pub role: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// The member who becomes owner; the caller becomes admin.
    pub user_id: UserId,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitationRequest {
    /// Only this account may accept; anyone with the link when absent.
    pub email: Option<String>,
    /// `admin`, `editor`, `commenter` or `viewer`.
    pub role: String,
    /// 1–720 hours (default 168, a week).
    pub expires_in_hours: Option<i64>,
}

/// A project as the caller sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub description: String,
    /// The caller's role.
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
    pub created_by: UserId,
    pub updated_by: UserId,
    /// When the project was deleted (only on a deleted project, for its owner).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A member of a project.
#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub user_id: UserId,
    pub display_name: String,
    pub email: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

/// A pending invitation (without its token).
#[derive(Debug, Serialize, ToSchema)]
pub struct Invitation {
    pub id: InvitationId,
    pub project_id: ProjectId,
    pub email: Option<String>,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub created_by: UserId,
}

/// A new invitation; `token` and `accept_url` are shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedInvitation {
    #[serde(flatten)]
    pub invitation: Invitation,
    pub token: String,
    /// `POST` here, signed in, to accept.
    pub accept_url: String,
}

/// The membership an accepted invitation gave.
#[derive(Debug, Serialize, ToSchema)]
pub struct Membership {
    pub project_id: ProjectId,
    pub user_id: UserId,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

// ---- parsed forms -----------------------------------------------------------------------

fn field(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
    }
}

pub(crate) fn parse_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    let len = name.chars().count();
    if len == 0 {
        Err("must not be empty".into())
    } else if len > 100 {
        Err("must be at most 100 characters".into())
    } else if name.chars().any(char::is_control) {
        Err("must not contain control characters".into())
    } else {
        Ok(name.to_owned())
    }
}

fn parse_description(raw: &str) -> Result<String, String> {
    let d = raw.trim();
    if d.chars().count() > 2000 {
        Err("must be at most 2000 characters".into())
    } else if let Err(why) = mdz_core::text::check(d) {
        Err(why)
    } else {
        Ok(d.to_owned())
    }
}

/// A role as a request names it.
pub fn parse_role(raw: &str) -> Result<Role, Vec<FieldError>> {
    raw.parse::<Role>().map_err(|m| vec![field("role", m)])
}

/// A normalised email (trimmed, lower-case) of a plausible shape.
pub use mdz_core::email::normalise as parse_email;

#[derive(Debug)]
pub struct NewProject {
    pub name: String,
    pub description: String,
}

impl CreateProjectRequest {
    pub fn parse(self) -> Result<NewProject, Vec<FieldError>> {
        let name = parse_name(&self.name);
        let description = parse_description(self.description.as_deref().unwrap_or(""));
        match (name, description) {
            (Ok(name), Ok(description)) => Ok(NewProject { name, description }),
            (n, d) => Err([
                n.err().map(|m| field("name", m)),
                d.err().map(|m| field("description", m)),
            ]
            .into_iter()
            .flatten()
            .collect()),
        }
    }
}

#[derive(Debug)]
pub struct ProjectChanges {
    pub name: Option<String>,
    pub description: Option<String>,
}

impl UpdateProjectRequest {
    pub fn parse(self) -> Result<ProjectChanges, Vec<FieldError>> {
        let name = self.name.as_deref().map(parse_name).transpose();
        let description = self
            .description
            .as_deref()
            .map(parse_description)
            .transpose();
        match (name, description) {
            (Ok(name), Ok(description)) => Ok(ProjectChanges { name, description }),
            (n, d) => Err([
                n.err().map(|m| field("name", m)),
                d.err().map(|m| field("description", m)),
            ]
            .into_iter()
            .flatten()
            .collect()),
        }
    }
}

#[derive(Debug)]
pub struct NewInvitation {
    pub email: Option<String>,
    pub role: Role,
    pub expires_in_hours: i64,
}

impl CreateInvitationRequest {
    pub fn parse(self) -> Result<NewInvitation, Vec<FieldError>> {
        let mut errors = Vec::new();
        let email = match self.email.as_deref().map(parse_email).transpose() {
            Ok(e) => e,
            Err(m) => {
                errors.push(field("email", m));
                None
            }
        };
        let role = match self.role.parse::<Role>() {
            Ok(Role::Owner) => {
                errors.push(field("role", "ownership is transferred, not invited"));
                None
            }
            Ok(r) => Some(r),
            Err(m) => {
                errors.push(field("role", m));
                None
            }
        };
        let hours = self.expires_in_hours.unwrap_or(168);
        if !(1..=720).contains(&hours) {
            errors.push(field("expires_in_hours", "must be between 1 and 720"));
        }
        match role {
            Some(role) if errors.is_empty() => Ok(NewInvitation {
                email,
                role,
                expires_in_hours: hours,
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert!(
            CreateProjectRequest {
                name: "  ".into(),
                description: None
            }
            .parse()
            .is_err()
        );
        assert!(
            CreateProjectRequest {
                name: "x".repeat(300),
                description: None
            }
            .parse()
            .is_err()
        );
        let p = CreateProjectRequest {
            name: " Handbook ".into(),
            description: None,
        }
        .parse()
        .unwrap();
        assert_eq!(p.name, "Handbook");
    }

    #[test]
    fn invitations_cannot_make_owners_and_expire_in_range() {
        let bad = CreateInvitationRequest {
            email: None,
            role: "owner".into(),
            expires_in_hours: None,
        };
        assert_eq!(bad.parse().unwrap_err()[0].field, "role");
        let bad = CreateInvitationRequest {
            email: None,
            role: "viewer".into(),
            expires_in_hours: Some(0),
        };
        assert_eq!(bad.parse().unwrap_err()[0].field, "expires_in_hours");
    }
}
