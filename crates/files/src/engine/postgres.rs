//! PostgreSQL full-text search behind the search port (`search_engine = "postgres"`): the
//! `file_search` vectors the search queue keeps, ranked with `ts_rank_cd`. Every match is
//! ranked, so broad words and short prefixes over long documents are its slow case.

use crate::repo;
use crate::search::safe_snippet;
use async_trait::async_trait;
use mdz_core::db::{self, DbError, DbPool};
use mdz_core::search::{SearchEngine, SearchError, SearchHit, SearchRequest};

pub struct PostgresSearch {
    pool: DbPool,
}

impl PostgresSearch {
    pub fn new(pool: DbPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl SearchEngine for PostgresSearch {
    async fn search(&self, request: SearchRequest<'_>) -> Result<Vec<SearchHit>, SearchError> {
        let mut conn = db::conn(&self.pool).await?;
        let hits = repo::search(
            &mut conn,
            request.projects,
            request.head,
            request.prefix,
            i64::try_from(request.offset).unwrap_or(i64::MAX),
            i64::try_from(request.limit).unwrap_or(i64::MAX),
        )
        .await
        .map_err(|e| SearchError::Db(DbError::Query(e)))?;
        Ok(hits
            .into_iter()
            .map(|h| SearchHit {
                file_id: h.id,
                project_id: h.project_id,
                path: h.path,
                title: h.title,
                rank: h.rank,
                snippet: safe_snippet(&h.snippet),
            })
            .collect())
    }
}
