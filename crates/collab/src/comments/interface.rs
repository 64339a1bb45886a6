//! Wire types of comments and notifications.

use chrono::{DateTime, Utc};
use mdz_core::ids::{CommentId, FileId, NotificationId, ProjectId, SuggestionId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Where a comment is anchored: Yjs relative positions, opaque to the server.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// Base64 of the encoded `Y.RelativePosition` at the start of the range.
    pub start: String,
    /// Base64 of the encoded `Y.RelativePosition` at the end of the range.
    pub end: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    /// Markdown; `@email` mentions notify project members.
    pub body: String,
    /// The text the comment is about, as it read when commented.
    pub quote: Option<String>,
    pub anchor: Option<Anchor>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReply {
    pub body: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateComment {
    /// New body (only the author may change it).
    pub body: Option<String>,
    /// Resolve (`true`) or reopen (`false`) a thread.
    pub resolved: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Comment {
    pub id: CommentId,
    pub file_id: FileId,
    pub project_id: ProjectId,
    /// The thread's first comment, for replies.
    pub parent_id: Option<CommentId>,
    pub author: UserId,
    pub body: String,
    pub quote: Option<String>,
    pub anchor: Option<Anchor>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The suggestion whose thread this comment is in (such a thread is flat: no replies,
    /// quote or anchor; it is listed at `GET /suggestions/{id}/comments`).
    pub suggestion_id: Option<SuggestionId>,
}

/// A thread: its first comment and the replies, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Thread {
    #[serde(flatten)]
    pub comment: Comment,
    pub replies: Vec<Comment>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ThreadQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// Only resolved (`true`) or only open (`false`) threads.
    pub resolved: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Notification {
    pub id: NotificationId,
    /// `mention`.
    pub kind: String,
    pub project_id: ProjectId,
    pub file_id: Option<FileId>,
    pub comment_id: Option<CommentId>,
    /// Who caused it.
    pub actor: Option<UserId>,
    /// The start of the comment.
    pub excerpt: String,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// Only unread ones.
    pub unread: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// These notifications; omit to mark all of the caller's as read.
    pub ids: Option<Vec<NotificationId>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarkedRead {
    /// How many changed from unread to read.
    pub updated: usize,
}
