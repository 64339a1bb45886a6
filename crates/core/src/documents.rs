//! The documents ports: how live collaboration and the files domain share one document.
//!
//! The files domain owns a document's text, history and search index and implements
//! [`DocumentStore`]; the collab domain owns live rooms and implements [`LiveDocuments`].
//! `mdz-server` wires each to the other, so REST and collab edit one document.

use crate::ids::{FileId, ProjectId, UserId};
use async_trait::async_trait;
use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;

/// Work the caller does inside the save's own transaction (one database), given the revision
/// the save made (or kept, when the text was unchanged). Collab records there which file text
/// its Yjs state agrees with, so that record and the file can never disagree after a crash.
pub type InSave<'a> = &'a (
        dyn for<'c> Fn(
    &'c mut AsyncPgConnection,
    i64,
) -> BoxFuture<'c, Result<(), diesel::result::Error>>
            + Send
            + Sync
    );

/// What collab needs to know about a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentHead {
    pub project_id: ProjectId,
    /// Where it lives in the project (`notes/plan.md`).
    pub path: String,
    pub content: String,
    /// The file's revision (its ETag), bumped by every content change.
    pub revision: i64,
    /// Who made that revision (a save by collab needs someone to attribute it to).
    pub updated_by: UserId,
}

/// A piece of a document that matched a search, for an assistant's context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage {
    pub file_id: FileId,
    pub path: String,
    /// The revision the text was taken from.
    pub revision: i64,
    /// The matching fragments, joined by ` … `.
    pub text: String,
}

/// Why a document operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("the document does not exist or is in the trash")]
    Gone,
    /// A conditional save found the file at another revision: someone else wrote it since.
    #[error("the document is at revision {actual}, not {expected}")]
    Moved { expected: i64, actual: i64 },
    #[error("document storage unavailable: {0}")]
    Unavailable(String),
}

/// Implemented by the files domain.
#[async_trait]
pub trait DocumentStore: Send + Sync + 'static {
    /// The live (not trashed) document, or `None`.
    async fn document(&self, id: FileId) -> Result<Option<DocumentHead>, DocumentError>;
    /// [`DocumentStore::document`] on the caller's connection (inside its transaction).
    async fn document_in(
        &self,
        conn: &mut AsyncPgConnection,
        id: FileId,
    ) -> Result<Option<DocumentHead>, DocumentError>;
    /// Store text that collaborators produced, as a (coalesced) version by `author`, and
    /// return the new revision, if the file is still at revision `if_match` (the revision the
    /// text was reconciled with: otherwise [`DocumentError::Moved`] and nothing is written,
    /// so a REST write that the text does not contain yet is never overwritten). Saving
    /// unchanged text changes nothing. `also` runs in the same transaction, after the write.
    /// This never calls back into [`LiveDocuments`]. `ai_assisted`: the text holds an
    /// accepted AI suggestion, and the version it lands in is marked so.
    async fn save_from_collab(
        &self,
        id: FileId,
        content: &str,
        author: UserId,
        if_match: i64,
        ai_assisted: bool,
        also: InSave<'_>,
    ) -> Result<i64, DocumentError>;
    /// The best-ranked passages of live documents in `project` matching any of `words`
    /// (plain words, no query syntax), best first. The caller has checked read access.
    async fn passages(
        &self,
        project: ProjectId,
        words: &[String],
        limit: usize,
    ) -> Result<Vec<Passage>, DocumentError>;
}

/// Implemented by the collab domain: REST writes reach live editors through it.
#[async_trait]
pub trait LiveDocuments: Send + Sync + 'static {
    /// `author` changed the document's file through REST, making `revision`. Bring every
    /// change of the file the live document does not hold yet into it (a three-way merge
    /// from the text it last agreed with, keeping concurrent typing), in commit order.
    async fn rest_edit(&self, id: FileId, revision: i64, author: UserId);
}
