//! The embedded search engine: a tantivy index (BM25, prefix expansion, snippets) in the
//! memory of this process, derived from PostgreSQL. It follows the `file_search` feed (every
//! document the search queue indexed), so it is rebuilt from PostgreSQL at start and kept up to
//! date by the background indexer and by each search (which first takes what its projects'
//! writers queued). PostgreSQL stays the source of truth: membership and the trash are checked
//! there at query time, and hits come back with the stored path, title and text.

use super::feed::{self, Cursor};
use super::query::{self, Item};
use crate::search::{START, STOP, safe_snippet};
use aho_corasick::AhoCorasick;
use async_trait::async_trait;
use mdz_core::db::{self, DbError, DbPool};
use mdz_core::ids::ProjectId;
use mdz_core::search::{SearchEngine, SearchError, SearchHit, SearchRequest};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tantivy::collector::TopDocs;
use tantivy::postings::TermInfo;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, Occur, PhraseQuery, Query, TermQuery,
    TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, Schema, TEXT, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::TokenStream;
use tantivy::{
    DocAddress, DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TERMINATED,
    TantivyDocument, Term,
};

mod snippets;
mod terms;
use snippets::*;
use terms::*;

/// Documents read from the feed per statement.
const FEED_PAGE: i64 = 500;
/// The index writer's memory (tantivy's minimum is 15 MB): segments are flushed past it.
const WRITER_BYTES: usize = 32_000_000;
/// Words a half-typed prefix stands for: its most frequent completions.
const PREFIX_TERMS: usize = 16;
/// A match in the title counts this many times a match in the text.
const TITLE_BOOST: f32 = 3.0;
/// Characters of a snippet.
const SNIPPET_CHARS: usize = 200;

#[derive(Debug, Clone, Copy)]
struct Fields {
    file_id: Field,
    project_id: Field,
    title: Field,
    /// The path and the text.
    body: Field,
    /// Each distinct word of the title and body as `<project id>\x1f<word>`: completions of
    /// a half-typed word come from the caller's projects only (across the whole index, the
    /// most frequent completions would tell one project which words another one holds).
    words: Field,
}

/// Separates the project from the word in the `words` field.
const WORD_SEP: char = '\u{1f}';

pub struct EmbeddedSearch {
    pool: DbPool,
    fields: Fields,
    reader: IndexReader,
    writer: Arc<Mutex<IndexWriter>>,
    /// Where this index is in the feed; held while catching up, so one search (or the
    /// indexer) catches up and the others wait for it rather than read the same rows.
    cursor: tokio::sync::Mutex<FeedState>,
    /// Passes over the feed started so far (each takes the next number).
    passes: AtomicU64,
}

/// How far this index has read the feed, and which rows at or after the cursor it has
/// already indexed (the cursor stays at the oldest running transaction, so a pass sees
/// those rows again).
#[derive(Debug, Default)]
struct FeedState {
    cursor: Cursor,
    seen: HashMap<uuid::Uuid, i64>,
    /// The number of the last pass that completed.
    done: u64,
}

fn index_error(e: impl std::error::Error + Send + Sync + 'static) -> SearchError {
    SearchError::Index(Box::new(e))
}

fn db_error(e: diesel::result::Error) -> SearchError {
    SearchError::Db(DbError::Query(e))
}

impl EmbeddedSearch {
    /// An empty index; the first catch-up (at start, by the indexer) fills it.
    pub fn new(pool: DbPool) -> Result<Self, SearchError> {
        let mut schema = Schema::builder();
        let fields = Fields {
            file_id: schema.add_text_field("file_id", STRING | STORED),
            project_id: schema.add_text_field("project_id", STRING),
            title: schema.add_text_field("title", TEXT),
            body: schema.add_text_field("body", TEXT),
            words: schema.add_text_field("words", STRING),
        };
        let index = Index::create_in_ram(schema.build());
        let writer = index
            .writer_with_num_threads(1, WRITER_BYTES)
            .map_err(index_error)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(index_error)?;
        Ok(Self {
            pool,
            fields,
            reader,
            writer: Arc::new(Mutex::new(writer)),
            cursor: tokio::sync::Mutex::new(FeedState::default()),
            passes: AtomicU64::new(0),
        })
    }

    /// Index every document committed before this call (every one the feed has past this
    /// index's cursor). Returns how many. Concurrent callers share passes: a caller that
    /// waited while another pass ran is done when a pass that started after it arrived has
    /// completed (that pass read every commit the caller could have seen), so 16 searches
    /// arriving together cost two passes, not sixteen.
    pub async fn catch_up(&self) -> Result<usize, SearchError> {
        let arrived = self.passes.load(Ordering::SeqCst);
        let mut state = self.cursor.lock().await;
        if state.done > arrived {
            return Ok(0);
        }
        let pass = self.passes.fetch_add(1, Ordering::SeqCst) + 1;
        let mut conn = db::conn(&self.pool).await?;
        let mut page = Cursor {
            xid: state.cursor.xid,
            after: None,
        };
        let mut next = None;
        let mut total = 0;
        // Marked seen only once committed: a pass dropped midway (its search's client went
        // away) leaves them unseen, and the next pass adds them again and commits.
        let mut added: Vec<(uuid::Uuid, i64)> = Vec::new();
        loop {
            let rows = feed::page(&mut conn, page, FEED_PAGE)
                .await
                .map_err(db_error)?;
            next = next.or(rows.first().map(|r| r.xmin));
            let n = rows.iter().filter(|r| r.file_id.is_some()).count();
            let mut new: Vec<(uuid::Uuid, i64)> = Vec::new();
            let mut gone: Vec<uuid::Uuid> = Vec::new();
            for row in rows {
                let (Some(xid), Some(id)) = (row.xid, row.file_id) else {
                    continue;
                };
                page.after = Some((xid, id));
                if row.gone == Some(true) {
                    state.seen.remove(&id);
                    gone.push(id);
                } else if state.seen.get(&id) != Some(&xid) {
                    new.push((id, xid));
                }
            }
            if !new.is_empty() {
                let ids: Vec<uuid::Uuid> = new.iter().map(|(id, _)| *id).collect();
                let docs = feed::documents(&mut conn, &ids).await.map_err(db_error)?;
                total += docs.len();
                self.add(docs).await?;
                added.extend(new);
            }
            if !gone.is_empty() {
                total += gone.len();
                self.remove(gone).await?;
            }
            if i64::try_from(n).unwrap_or(i64::MAX) < FEED_PAGE {
                break;
            }
        }
        drop(conn);
        if total > 0 {
            let (writer, reader) = (self.writer.clone(), self.reader.clone());
            tokio::task::spawn_blocking(move || {
                writer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .commit()?;
                reader.reload()
            })
            .await
            .map_err(index_error)?
            .map_err(index_error)?;
        }
        state.seen.extend(added);
        if let Some(xmin) = next {
            state.cursor.xid = xmin;
            // What the next pass reads again is at or after `xmin`; older marks are not
            // needed to skip it.
            state.seen.retain(|_, xid| *xid >= xmin);
        }
        state.done = pass;
        Ok(total)
    }

    /// Drop documents that left `file_search` (their tombstones in the feed).
    async fn remove(&self, ids: Vec<uuid::Uuid>) -> Result<(), SearchError> {
        let (writer, f) = (self.writer.clone(), self.fields);
        tokio::task::spawn_blocking(move || {
            let writer = writer.lock().unwrap_or_else(PoisonError::into_inner);
            for id in ids {
                writer.delete_term(Term::from_field_text(f.file_id, &id.to_string()));
            }
        })
        .await
        .map_err(index_error)
    }

    async fn add(&self, docs: Vec<feed::FeedDoc>) -> Result<(), SearchError> {
        let (writer, f) = (self.writer.clone(), self.fields);
        tokio::task::spawn_blocking(move || {
            let writer = writer.lock().unwrap_or_else(PoisonError::into_inner);
            let mut analyzer = writer.index().tokenizer_for_field(f.body)?;
            for d in docs {
                let id = d.file_id.to_string();
                writer.delete_term(Term::from_field_text(f.file_id, &id));
                let body = format!("{}\n{}", d.path, d.content);
                let mut words = std::collections::BTreeSet::new();
                for text in [d.title.as_str(), body.as_str()] {
                    let mut stream = analyzer.token_stream(text);
                    while stream.advance() {
                        words.insert(stream.token().text.clone());
                    }
                }
                let mut doc = TantivyDocument::new();
                doc.add_text(f.file_id, &id);
                doc.add_text(f.project_id, d.project_id.to_string());
                doc.add_text(f.title, d.title);
                doc.add_text(f.body, body);
                for word in words {
                    doc.add_text(f.words, format!("{}{WORD_SEP}{word}", d.project_id));
                }
                writer.add_document(doc)?;
            }
            Ok::<(), tantivy::TantivyError>(())
        })
        .await
        .map_err(index_error)?
        .map_err(index_error)
    }
}

struct OwnedRequest {
    projects: Vec<ProjectId>,
    head: String,
    prefix: Option<String>,
    offset: usize,
    limit: usize,
}

type Ranked = (Searcher, Option<Box<dyn Query>>, Vec<(f32, uuid::Uuid)>);

fn rank(
    searcher: Searcher,
    f: Fields,
    request: &OwnedRequest,
    trashed: &[uuid::Uuid],
) -> tantivy::Result<Ranked> {
    let Some(query) = build_query(&searcher, f, request, trashed)? else {
        return Ok((searcher, None, Vec::new()));
    };
    let top = TopDocs::with_limit(request.limit.max(1))
        .and_offset(request.offset)
        .order_by_score();
    let found: Vec<(f32, DocAddress)> = searcher.search(&*query, &top)?;
    let mut hits = Vec::with_capacity(found.len());
    for (score, address) in found {
        let doc: TantivyDocument = searcher.doc(address)?;
        let id = doc
            .get_first(f.file_id)
            .and_then(|v| v.as_str())
            .and_then(|s| uuid::Uuid::parse_str(s).ok());
        hits.extend(id.map(|id| (score, id)));
    }
    Ok((searcher, Some(query), hits))
}

#[async_trait]
impl SearchEngine for EmbeddedSearch {
    async fn refresh(&self) -> Result<(), SearchError> {
        self.catch_up().await.map(|_| ())
    }

    async fn search(&self, request: SearchRequest<'_>) -> Result<Vec<SearchHit>, SearchError> {
        self.catch_up().await?;
        let mut conn = db::conn(&self.pool).await?;
        let trashed = feed::trashed(&mut conn, request.projects)
            .await
            .map_err(db_error)?;
        let owned = OwnedRequest {
            projects: request.projects.to_vec(),
            head: request.head.to_owned(),
            prefix: request.prefix.map(str::to_owned),
            offset: request.offset,
            limit: request.limit,
        };
        let (searcher, f) = (self.reader.searcher(), self.fields);
        let (searcher, query, ranked) =
            tokio::task::spawn_blocking(move || rank(searcher, f, &owned, &trashed))
                .await
                .map_err(index_error)?
                .map_err(index_error)?;
        let Some(query) = query.filter(|_| !ranked.is_empty()) else {
            return Ok(Vec::new());
        };
        let ids: Vec<uuid::Uuid> = ranked.iter().map(|(_, id)| *id).collect();
        let rows = feed::hits(&mut conn, &ids, request.projects)
            .await
            .map_err(db_error)?;
        drop(conn);
        tokio::task::spawn_blocking(move || {
            let generator = SnippetGenerator::create(&searcher, &*query, f.body).map(|mut g| {
                g.set_max_num_chars(SNIPPET_CHARS);
                g
            })?;
            let finder = finder(&*query, f.body);
            let mut rows: HashMap<uuid::Uuid, feed::HitRow> =
                rows.into_iter().map(|r| (r.id.0, r)).collect();
            Ok::<_, tantivy::TantivyError>(
                ranked
                    .into_iter()
                    .filter_map(|(score, id)| {
                        let row = rows.remove(&id)?;
                        Some(SearchHit {
                            file_id: row.id,
                            project_id: row.project_id,
                            snippet: snippet(&generator, finder.as_ref(), &row.content),
                            path: row.path,
                            title: row.title,
                            rank: score,
                        })
                    })
                    .collect(),
            )
        })
        .await
        .map_err(index_error)?
        .map_err(index_error)
    }
}
