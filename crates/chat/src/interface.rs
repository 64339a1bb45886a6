//! Wire types of chat.

use chrono::{DateTime, Utc};
use mdz_core::ids::{ChatMessageId, ChatSessionId, FileId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const MAX_CONTENT: usize = 100_000;
/// Documents one message may name in `context_file_ids`: as many as a session may pin.
pub const MAX_CONTEXT_FILES: usize = 50;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    pub content: String,
    /// Documents for this message only, next to the session's pinned ones (at most 50).
    #[schema(max_items = 50)]
    pub context_file_ids: Option<Vec<FileId>>,
    /// Add the best passages the project's full-text search finds for the message.
    pub use_search: Option<bool>,
}

/// A passage an answer was given.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Citation {
    pub file_id: FileId,
    pub path: String,
    /// The document's revision (its ETag) when it was read.
    pub revision: i64,
    /// Whether the document was pinned or its passage found by search.
    #[serde(default)]
    pub source: CitationSource,
}

/// How a cited text reached the context.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CitationSource {
    /// A document pinned to the session or the message.
    #[default]
    Pinned,
    /// A passage the project's full-text search found for the message.
    Search,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub id: ChatMessageId,
    pub session_id: ChatSessionId,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    pub author: Option<UserId>,
    pub model: Option<String>,
    /// `complete`, `streaming`, `incomplete`, `failed` or `cancelled`.
    pub status: String,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    pub citations: Vec<Citation>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The answer to a non-streaming post.
#[derive(Debug, Serialize, ToSchema)]
pub struct Exchange {
    pub user_message: Message,
    pub assistant_message: Message,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResumeQuery {
    /// Characters of the answer the client already has.
    pub offset: Option<usize>,
}

/// A model provider of the deployment (nothing secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProviderView {
    /// What a session names in `provider`.
    pub name: String,
    /// `openai`, `anthropic` or `bedrock`.
    pub kind: String,
    pub default_model: String,
    /// The provider of sessions that name none.
    pub default: bool,
}
