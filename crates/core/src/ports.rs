//! Ports: the small traits through which one domain uses another.
//!
//! A port is defined here, implemented by the domain that owns the data, and wired by
//! `mdz-server` with `app_data`. A domain crate never depends on another domain crate.

use crate::ids::{ChatSessionId, FileId, ProjectId, SessionId, SuggestionId, TokenId, UserId};
use async_trait::async_trait;
use std::sync::Arc;

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A short-lived JWT access token from a login session.
    AccessToken { session_id: SessionId },
    /// A long-lived personal access token (CLI, VS Code, MCP clients).
    PersonalAccessToken { token_id: TokenId },
}

/// What a credential may do. Sessions (access tokens) may do everything; a personal access
/// token carries the scope it was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Reads only: any request other than `GET`/`HEAD`/`OPTIONS` gets 403, and live editing
    /// connects as a viewer at most.
    Read,
    /// Reads, and proposes edits without making them: suggestion creation and the MCP
    /// endpoint accept it (there `update_file` becomes a suggestion); every other write
    /// (document saves, moves, trash, comments, projects…) gets 403, and live editing
    /// connects as a viewer at most. The default of tokens made for MCP.
    Suggest,
    /// Reads and writes, as far as the user's roles allow.
    Write,
    /// Writes, and managing personal access tokens.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Suggest, Scope::Write, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Suggest => "suggest",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Scope::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| "must be one of read, suggest, write, admin".to_owned())
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub credential: Credential,
    pub scope: Scope,
    /// The projects the credential is limited to; `None`: every project of the user.
    pub projects: Option<Arc<[ProjectId]>>,
}

impl Principal {
    /// The login session behind this request, if it came with an access token.
    pub fn session_id(&self) -> Option<SessionId> {
        match self.credential {
            Credential::AccessToken { session_id } => Some(session_id),
            Credential::PersonalAccessToken { .. } => None,
        }
    }

    /// May this credential write at all?
    pub fn may_write(&self) -> bool {
        self.scope >= Scope::Write
    }

    /// May this credential propose edits (suggestions) at least?
    pub fn may_suggest(&self) -> bool {
        self.scope >= Scope::Suggest
    }

    /// Does this credential reach `project` (before any role is considered)?
    pub fn reaches(&self, project: ProjectId) -> bool {
        self.projects
            .as_ref()
            .is_none_or(|list| list.contains(&project))
    }
}

/// Why a bearer token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenRejection {
    #[error("no bearer token")]
    Missing,
    #[error("the token is malformed or its signature is invalid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token has been revoked")]
    Revoked,
    #[error("token verification is unavailable: {0}")]
    Unavailable(String),
}

/// Verifies bearer tokens (implemented by `mdz-auth`).
#[async_trait]
pub trait TokenVerifier: Send + Sync + 'static {
    async fn verify(&self, token: &str) -> Result<Principal, TokenRejection>;
    /// Does the credential behind `principal` still hold (not revoked, deleted or
    /// expired)? Asked by long-lived connections when revocation announcements may have
    /// been missed (see `crate::revocation`).
    async fn still_valid(&self, principal: &Principal) -> Result<bool, TokenRejection>;
}

/// What other domains may know about a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    /// The owner of `email` followed a verification link: only then may others reach the
    /// account by that address (adding a member, e-mail-bound invitations).
    pub email_verified: bool,
    /// The person wants a mail when mentioned (`PATCH /auth/me {mention_mails}`).
    pub mention_mails: bool,
}

/// Looks users up (implemented by `mdz-auth`), for members lists, invitations and mentions.
#[async_trait]
pub trait UserDirectory: Send + Sync + 'static {
    /// The user with this (already normalised) email.
    async fn by_email(&self, email: &str) -> Result<Option<UserSummary>, String>;
    /// The users with these ids, in any order; unknown ids are left out.
    async fn by_ids(&self, ids: &[UserId]) -> Result<Vec<UserSummary>, String>;
}

/// What chat needs to know about an AI session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSessionInfo {
    pub id: ChatSessionId,
    pub project_id: ProjectId,
    pub created_by: UserId,
    /// `None`: the default model of the session's provider.
    pub model: Option<String>,
    /// A named provider of the deployment; `None`: the default one.
    pub provider: Option<String>,
    pub instructions: String,
    pub context_file_ids: Vec<FileId>,
    /// Only its creator may see it.
    pub private: bool,
}

/// Implemented by the sessions domain.
#[async_trait]
pub trait ChatSessions: Send + Sync + 'static {
    async fn session(&self, id: ChatSessionId) -> Result<Option<ChatSessionInfo>, String>;
    /// A message was posted: the session moves to the top of its list, and a session still
    /// called by its default title takes `first_message` (shortened) as its title.
    async fn touch(&self, id: ChatSessionId, first_message: Option<&str>) -> Result<(), String>;
}

/// Where in a live document an AI edit applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditRange {
    /// The whole text.
    Whole,
    /// Characters `from..to` of revision `revision` (as suggestions take them).
    Offsets {
        from: usize,
        to: usize,
        revision: i64,
    },
    /// Yjs relative positions (base64 `Y.encodeRelativePosition`).
    Anchors { start: String, end: String },
}

/// A range of a live document, anchored at the moment it was asked for, with the text around.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditTarget {
    /// Relative positions (base64) that follow concurrent typing.
    pub start: String,
    pub end: String,
    /// The text of the range then.
    pub quote: String,
    /// Up to the asked number of bytes before and after the range (whole characters).
    pub before: String,
    pub after: String,
}

/// An edit the AI wrote, to be offered as an open suggestion.
#[derive(Debug, Clone)]
pub struct AiSuggestion {
    pub requested_by: UserId,
    pub file: FileId,
    pub target: EditTarget,
    pub proposed: String,
    pub explanation: String,
    pub provider: String,
    pub model: String,
}

/// The AI's entry in a document's presence, while it writes.
#[derive(Debug, Clone)]
pub struct AiPresence {
    pub file: FileId,
    /// The awareness client id of this entry (one per stream).
    pub client: u32,
    pub requested_by: UserId,
    /// The range it is rewriting (relative positions), none for a completion at a cursor.
    pub range: Option<(String, String)>,
}

/// What chat's AI editing needs from live documents (implemented by the collab domain).
/// Errors are already problems (the implementation logs the causes of server faults).
#[async_trait]
pub trait LiveEdits: Send + Sync + 'static {
    /// Anchor `range` of the live document and read it, with `context_bytes` either side.
    async fn target(
        &self,
        file: FileId,
        range: EditRange,
        context_bytes: usize,
    ) -> Result<EditTarget, crate::ApiError>;
    /// The live text before and after character `position` (up to `context_bytes` each).
    async fn around(
        &self,
        file: FileId,
        position: usize,
        context_bytes: usize,
    ) -> Result<(String, String), crate::ApiError>;
    /// Publish (and keep renewing, for a bounded time) the AI's presence entry in the
    /// document, on every replica. Returns at once: the work runs in its own task, so that a
    /// caller that stored an edit starts its generation with nothing awaited in between.
    fn show_ai(&self, presence: AiPresence);
    /// Remove it.
    async fn hide_ai(&self, file: FileId, client: u32);
    /// Offer the edit as an open suggestion by `requested_by`; its id.
    async fn suggest(&self, edit: AiSuggestion) -> Result<SuggestionId, crate::ApiError>;
}

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashRefusal {
    /// Every hashing slot is taken and the queue is full: come back in a moment (503).
    #[error("too many passwords are being hashed at once")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// The process's bounded password hasher (implemented by `mdz-auth`: argon2id on the
/// blocking pool, shared with logins), for other domains that keep passwords (share links).
#[async_trait]
pub trait PasswordHashing: Send + Sync + 'static {
    /// Hash a new password.
    async fn hash(&self, password: String) -> Result<String, HashRefusal>;
    /// Is `password` the one `stored` was made from?
    async fn verify(&self, password: String, stored: String) -> Result<bool, HashRefusal>;
}
