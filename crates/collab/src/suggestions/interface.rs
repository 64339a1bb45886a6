//! Wire types of suggestions.

use crate::comments::interface::Anchor;
use chrono::{DateTime, Utc};
use mdz_core::ids::{FileId, ProjectId, SuggestionId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The range a new suggestion replaces, in character offsets into a revision of the file.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OffsetRange {
    /// First character (Unicode scalar value, as Rust's `char`) of the range, from 0.
    pub from: usize,
    /// One past its last character (`from` for an insertion point).
    pub to: usize,
    /// The file revision (its `ETag`) the offsets are into. The current one, or the one the
    /// live document last saved; older ones are refused with 409 `revision-unavailable`.
    pub revision: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSuggestion {
    /// The range as Yjs relative positions (as comment anchors); give this or `range`.
    pub anchor: Option<Anchor>,
    /// The range as character offsets into a file revision; give this or `anchor`.
    pub range: Option<OffsetRange>,
    /// The text being replaced, as the suggester saw it. Checked against the document
    /// (409 `suggestion-stale` when it differs); taken from it when left out.
    pub quote: Option<String>,
    /// The replacement (at most `MAX_FILE_BYTES` bytes; may be empty: a deletion).
    pub proposed: String,
    /// Why (at most 4,000 characters).
    pub explanation: Option<String>,
    /// The AI provider and model that wrote it (none for a person's suggestion).
    pub provider: Option<String>,
    pub model: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Suggestion {
    pub id: SuggestionId,
    pub file_id: FileId,
    pub project_id: ProjectId,
    pub anchor: Anchor,
    /// The text it replaces, as it read when suggested.
    pub quote: String,
    pub proposed: String,
    pub explanation: Option<String>,
    pub created_by: UserId,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// `open`, `accepted`, `rejected` or `stale` (the quoted text changed before it was
    /// accepted).
    pub status: String,
    /// Who accepted or rejected it, or whose accept found it stale.
    pub decided_by: Option<UserId>,
    pub decided_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestionQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// Only suggestions with this status.
    pub status: Option<String>,
}
