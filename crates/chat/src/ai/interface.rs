//! Wire types of AI edits and completions.

use chrono::{DateTime, Utc};
use mdz_core::ids::{AiEditId, ChatSessionId, FileId, SuggestionId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Characters of an instruction (it becomes the suggestion's explanation).
pub const MAX_INSTRUCTION: usize = 4_000;

/// The range to rewrite, in character offsets into a file revision (as suggestions take it).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditOffsets {
    pub from: usize,
    pub to: usize,
    /// The file revision (its `ETag`) the offsets are into: the current one, or the one the
    /// live document last saved.
    pub revision: i64,
}

/// The range to rewrite as Yjs relative positions (base64, as comment anchors).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditAnchor {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AskEdit {
    /// What to do with the text (1 to 4,000 characters).
    pub instruction: String,
    /// The selection, as offsets; leave out `range` and `anchor` for the whole document.
    pub range: Option<EditOffsets>,
    /// The selection, as relative positions.
    pub anchor: Option<EditAnchor>,
    /// A provider of the deployment (`GET /chat/providers`); the default one otherwise.
    pub provider: Option<String>,
    /// A model of that provider; its default otherwise.
    pub model: Option<String>,
    /// A session of the document's project whose instructions and pinned documents are the
    /// context.
    pub session_id: Option<ChatSessionId>,
    /// Add the best passages the project's search finds for the instruction.
    pub use_search: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AskCompletion {
    /// The cursor: characters (Unicode scalar values) into the live text.
    pub position: usize,
    pub provider: Option<String>,
    pub model: Option<String>,
}

/// An AI edit (or completion) and where it stands.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AiEdit {
    pub id: AiEditId,
    pub file_id: FileId,
    /// `edit` or `complete`.
    pub kind: String,
    pub instruction: String,
    /// The text the edit rewrites, as it read when the edit started.
    pub quote: Option<String>,
    /// What the model wrote (so far, while `streaming`).
    pub content: String,
    /// `streaming`, `complete`, `cancelled`, `incomplete` or `failed`.
    pub status: String,
    pub requested_by: Option<UserId>,
    pub provider: String,
    pub model: String,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    /// The open suggestion a completed edit became.
    pub suggestion_id: Option<SuggestionId>,
    pub created_at: DateTime<Utc>,
}
