//! The files domain's side of the documents port: collab reads and saves documents here.

use crate::error::FileError;
use crate::service::FilesService;
use async_trait::async_trait;
use diesel_async::AsyncPgConnection;
use mdz_core::documents::{DocumentError, DocumentHead, DocumentStore, InSave, Passage};
use mdz_core::ids::{FileId, ProjectId, UserId};
use std::sync::Arc;

/// [`DocumentStore`] over the files service.
pub struct FileDocuments(pub Arc<FilesService>);

fn port_error(e: FileError) -> DocumentError {
    match e {
        FileError::NotFound(_) => DocumentError::Gone,
        FileError::PreconditionFailed { expected, actual } => {
            DocumentError::Moved { expected, actual }
        }
        other => DocumentError::Unavailable(other.to_string()),
    }
}

#[async_trait]
impl DocumentStore for FileDocuments {
    async fn document(&self, id: FileId) -> Result<Option<DocumentHead>, DocumentError> {
        self.0.document_head(id).await.map_err(port_error)
    }

    async fn document_in(
        &self,
        conn: &mut AsyncPgConnection,
        id: FileId,
    ) -> Result<Option<DocumentHead>, DocumentError> {
        FilesService::document_head_in(conn, id)
            .await
            .map_err(port_error)
    }

    async fn save_from_collab(
        &self,
        id: FileId,
        content: &str,
        author: UserId,
        if_match: i64,
        ai_assisted: bool,
        also: InSave<'_>,
    ) -> Result<i64, DocumentError> {
        self.0
            .save_from_collab(id, content, author, if_match, ai_assisted, also)
            .await
            .map_err(port_error)
    }

    async fn passages(
        &self,
        project: ProjectId,
        words: &[String],
        limit: usize,
    ) -> Result<Vec<Passage>, DocumentError> {
        self.0
            .passages(project, words, limit)
            .await
            .map_err(port_error)
    }
}
