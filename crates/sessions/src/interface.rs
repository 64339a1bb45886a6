//! Wire types of sessions, and their parsed forms.

use chrono::{DateTime, Utc};
use mdz_core::FieldError;
use mdz_core::ids::{ChatSessionId, FileId, ProjectId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const MAX_TITLE: usize = 200;
pub const MAX_INSTRUCTIONS: usize = 20_000;
pub const MAX_CONTEXT_FILES: usize = 50;

/// Who may read a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Every member reads it; editors and above post.
    Project,
    /// Only its creator.
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Project => "project",
            Visibility::Private => "private",
        }
    }

    pub fn parse(s: &str) -> Self {
        if s == "private" {
            Visibility::Private
        } else {
            Visibility::Project
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// Defaults to a summary of the first message.
    pub title: Option<String>,
    /// A model of the session's provider; default: that provider's default model.
    pub model: Option<String>,
    /// One of the deployment's providers by name (`GET /chat/providers`); default: `default`.
    pub provider: Option<String>,
    /// The system prompt.
    pub instructions: Option<String>,
    /// Documents pinned as context (same project).
    pub context_file_ids: Option<Vec<FileId>>,
    /// Default `project`.
    pub visibility: Option<Visibility>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSession {
    pub title: Option<String>,
    /// `null` returns to the provider's default model.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub model: Option<Option<String>>,
    /// `null` returns to the deployment's default provider.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub provider: Option<Option<String>>,
    pub instructions: Option<String>,
    pub context_file_ids: Option<Vec<FileId>>,
    pub visibility: Option<Visibility>,
    pub archived: Option<bool>,
}

/// An AI conversation in a project.
// `ChatSession` in the API document, where the auth domain's `Session` is a signed-in device.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = ChatSession)]
pub struct Session {
    pub id: ChatSessionId,
    pub project_id: ProjectId,
    pub created_by: UserId,
    pub title: String,
    pub model: Option<String>,
    /// The named provider; `null`: the deployment's default.
    pub provider: Option<String>,
    pub instructions: String,
    pub context_file_ids: Vec<FileId>,
    pub visibility: Visibility,
    pub archived: bool,
    pub last_activity_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// Archived sessions instead of active ones.
    pub archived: Option<bool>,
}

/// Tell `"model": null` (clear it) from an absent `model` (leave it).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn field(name: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(name, message)
}

/// A title: trimmed, 1–200 characters.
pub fn parse_title(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > MAX_TITLE {
        errors.push(field("title", format!("1 to {MAX_TITLE} characters")));
        return None;
    }
    if let Err(e) = mdz_core::text::check_field("title", t) {
        errors.push(e);
        return None;
    }
    Some(t.to_owned())
}

/// A model name as providers spell them (the shared check of [`mdz_core::model_name`]).
pub fn parse_model(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match mdz_core::model_name::check("model", raw) {
        Ok(()) => Some(raw.to_owned()),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

pub fn check_instructions(raw: &str, errors: &mut Vec<FieldError>) {
    if raw.chars().count() > MAX_INSTRUCTIONS {
        errors.push(field(
            "instructions",
            format!("at most {MAX_INSTRUCTIONS} characters"),
        ));
    }
    mdz_core::text::collect(errors, "instructions", raw);
}

pub fn check_context(ids: &[FileId], errors: &mut Vec<FieldError>) {
    if ids.len() > MAX_CONTEXT_FILES {
        errors.push(field(
            "context_file_ids",
            format!("at most {MAX_CONTEXT_FILES} documents"),
        ));
    }
}
