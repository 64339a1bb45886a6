//! Request and response types of the files API.

use chrono::{DateTime, Utc};
use mdz_core::ids::{FileId, ProjectId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFileRequest {
    /// `notes/2026/plan.md`: relative, `/`-separated, ending in `.md`, at most 1024 bytes.
    pub path: String,
    #[serde(default)]
    pub content: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveFileRequest {
    pub content: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveFileRequest {
    /// The new path.
    pub path: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelRequest {
    /// A name for this version (1–100 characters), or null to remove it.
    pub label: Option<String>,
}

/// Most characters of a version's label.
pub const MAX_LABEL_CHARS: usize = 100;

/// A version's label as stored: trimmed, 1 to [`MAX_LABEL_CHARS`] characters, no control
/// characters.
pub fn parse_label(raw: &str) -> Option<String> {
    let label = raw.trim();
    let len = label.chars().count();
    ((1..=MAX_LABEL_CHARS).contains(&len) && !label.chars().any(char::is_control))
        .then(|| label.to_owned())
}

/// A document without its content.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FileMeta {
    pub id: FileId,
    pub project_id: ProjectId,
    pub path: String,
    /// The first heading.
    pub title: String,
    /// Bytes of UTF-8 content.
    pub size: i32,
    /// Grows with every change; the `ETag` is `"<revision>"`.
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub created_by: UserId,
    pub updated_at: DateTime<Utc>,
    pub updated_by: UserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A document with its content.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct File {
    #[serde(flatten)]
    pub meta: FileMeta,
    pub content: String,
}

/// An immediate subfolder.
#[derive(Debug, Serialize, ToSchema)]
pub struct Folder {
    /// `notes/2026/`.
    pub path: String,
    /// Documents anywhere below it.
    pub files: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Folders {
    pub items: Vec<Folder>,
}

/// One entry of a document's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct Version {
    pub n: i32,
    pub size: i32,
    pub lines_added: i32,
    pub lines_removed: i32,
    pub label: Option<String>,
    /// Who made it.
    pub author: UserId,
    pub created_at: DateTime<Utc>,
    /// Later saves by the same author within the coalescing window land here too.
    pub updated_at: DateTime<Utc>,
    /// Some of its text came from an accepted suggestion an AI made.
    pub ai_assisted: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionContent {
    #[serde(flatten)]
    pub version: Version,
    pub content: String,
}

/// A unified line diff between two versions.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionDiff {
    pub from: i32,
    pub to: i32,
    pub unified: String,
}

/// A version's content, or with `?diff=m` the diff from version m to it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum VersionOrDiff {
    Content(VersionContent),
    Diff(VersionDiff),
}

/// One change in a project's change feed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Change {
    pub seq: i64,
    /// The document's or the attachment's id.
    pub id: uuid::Uuid,
    /// Documents: `created`, `updated`, `renamed`, `deleted`, `restored`; attachments:
    /// `attachment_added`, `attachment_deleted`.
    pub kind: String,
    /// The path after the change.
    pub path: String,
    pub revision: i64,
    pub at: DateTime<Utc>,
    pub by: UserId,
}

/// Changes after a cursor, and the cursor to ask with next time.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Changes {
    pub items: Vec<Change>,
    /// Pass back as `cursor`; unchanged when there was nothing new.
    pub cursor: String,
    /// More changes are waiting: ask again at once.
    pub has_more: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only paths under this folder (`notes/2026`).
    pub prefix: Option<String>,
    /// List the trash instead.
    pub trashed: Option<bool>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FoldersQuery {
    /// The folder whose subfolders to list (the root when absent).
    pub prefix: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// Answer a unified diff from version `diff` to this one instead of the content.
    pub diff: Option<i32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// The `cursor` of the previous answer; from the start when absent.
    pub cursor: Option<String>,
    /// 1–1000 (default 200).
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// What to find: words, `"exact phrase"`, `-excluded`, `or`; the last word also matches as
    /// a prefix while typing (`plan` finds `planning`).
    pub q: String,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// One search result.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResult {
    pub file_id: FileId,
    pub project_id: ProjectId,
    pub path: String,
    pub title: String,
    /// Higher is better (`ts_rank_cd`, title matches weigh most).
    pub rank: f32,
    /// Fragments around the matches, HTML-escaped, matches in `<mark>`.
    pub snippet: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Also write every version of every document under `.mdz/history/<path>/<n>.md`.
    pub history: Option<bool>,
}
