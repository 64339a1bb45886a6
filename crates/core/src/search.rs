//! The search port: ranked full-text matches over the documents of some projects. PostgreSQL
//! stays the source of truth; an engine behind this port holds a derived index it can rebuild
//! from PostgreSQL, and the caller has already checked which projects the user may read.

use crate::ids::{FileId, ProjectId};
use async_trait::async_trait;

/// What the user typed, parsed: `head` in web-search syntax (`"exact phrase"`, `-word`,
/// `or`), `prefix` the last word while it is still being typed.
#[derive(Debug, Clone, Copy)]
pub struct SearchRequest<'a> {
    pub projects: &'a [ProjectId],
    pub head: &'a str,
    pub prefix: Option<&'a str>,
    pub offset: usize,
    pub limit: usize,
}

/// One ranked match. `snippet` is HTML-safe text with matches in `<mark>` tags.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub file_id: FileId,
    pub project_id: ProjectId,
    pub path: String,
    pub title: String,
    pub rank: f32,
    pub snippet: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error("the search index failed")]
    Index(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[async_trait]
pub trait SearchEngine: Send + Sync {
    /// Up to `limit` live (not trashed) documents of `projects` matching the request, best
    /// first, after skipping `offset`.
    async fn search(&self, request: SearchRequest<'_>) -> Result<Vec<SearchHit>, SearchError>;

    /// Bring a derived index up to date with what PostgreSQL indexed (the background indexer
    /// calls it after each round); nothing for an engine that reads PostgreSQL itself.
    async fn refresh(&self) -> Result<(), SearchError> {
        Ok(())
    }
}
