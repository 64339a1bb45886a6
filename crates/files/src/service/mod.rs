//! The file rules: documents by path, saves with optimistic concurrency, history with
//! coalescing and compact storage, the trash, the change feed, and idempotent replays.

use crate::error::FileError;
use crate::history;
use crate::interface::{
    File, FileMeta, Folder, SearchResult, Version, VersionContent, VersionDiff,
};
use crate::paths::DocPath;
use crate::repo::{self, ChangeEntry, FileMetaRow, FileRow, IndexTurn, VersionRow};
use crate::search::{SearchQuery, search_word};

mod saving;
use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use mdz_core::access::{Action, ProjectAccess, Role};
use mdz_core::db::{self, DbPool};
use mdz_core::documents::{DocumentHead, InSave, LiveDocuments, Passage};
use mdz_core::ids::{FileId, ProjectId, UserId};
use mdz_core::pagination::{Page, PageRequest};
use mdz_core::search::{SearchEngine, SearchRequest};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tracing::instrument;

#[derive(Debug, Clone)]
pub struct FileSettings {
    /// Largest document in bytes.
    pub max_bytes: usize,
    /// Saves by one author within this window land in one version.
    pub coalesce_window: Duration,
    /// How long trashed documents and feed entries are kept.
    pub retention: Duration,
}

/// An `Idempotency-Key` and the request it names.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: String,
    pub method: &'static str,
    pub path: String,
}

/// What a write answered: fresh, or replayed from an earlier request with the same key.
#[derive(Debug)]
pub enum Written {
    Fresh {
        status: u16,
        file: File,
    },
    Replayed {
        status: u16,
        etag: Option<String>,
        body: serde_json::Value,
    },
}

/// Stale search vectors the background indexer computes per statement.
const INDEX_BATCH: i64 = 500;
/// The background indexer takes a document this long after its first unindexed change, so a
/// document being edited is indexed once per interval, not once per save. Searches do not
/// wait for it: they index their projects' queued documents first.
const INDEX_DELAY: Duration = Duration::from_secs(2);
/// Stale rows of its projects a search indexes before it reads (more are left to the
/// background indexer: a bulk import is searchable within a few of its rounds).
const INDEX_AT_SEARCH: i64 = 5_000;
/// Search results past this many are not served (a deeper cursor is refused with 422).
pub const MAX_SEARCH_OFFSET: i64 = 1_000;
/// The indexer asks whether search statistics are stale at most this often…
const CHECK_STATS_EVERY: Duration = Duration::from_secs(1);
/// …and refreshes them at most this often.
const REFRESH_STATS_EVERY: Duration = Duration::from_secs(10);
/// How long the search feed keeps a purged document's tombstone: far longer than any
/// running index takes to follow the feed (seconds); a process that starts needs none.
const SEARCH_TOMBSTONE_TTL: chrono::TimeDelta = chrono::TimeDelta::hours(24);

pub struct FilesService {
    pub(crate) pool: DbPool,
    pub(crate) access: Arc<dyn ProjectAccess>,
    settings: FileSettings,
    /// Live rooms that REST writes must reach; set once at start when collab runs.
    live: OnceLock<Arc<dyn LiveDocuments>>,
    /// When the indexer next asks whether the search statistics are stale.
    stats_next_check: std::sync::Mutex<Option<std::time::Instant>>,
    /// What answers searches.
    engine: Arc<dyn SearchEngine>,
    /// Where numbered feed entries are announced to live event streams on every node.
    pub(crate) events: Arc<mdz_core::events::EventBus>,
}

fn to_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn meta(r: &FileRow) -> FileMeta {
    FileMeta {
        id: r.id,
        project_id: r.project_id,
        path: r.path.clone(),
        title: r.title.clone(),
        size: r.size,
        revision: r.revision,
        created_at: r.created_at,
        created_by: r.created_by,
        updated_at: r.updated_at,
        updated_by: r.updated_by,
        deleted_at: r.deleted_at,
    }
}

fn list_meta(r: FileMetaRow) -> FileMeta {
    FileMeta {
        id: r.id,
        project_id: r.project_id,
        path: r.path,
        title: r.title,
        size: r.size,
        revision: r.revision,
        created_at: r.created_at,
        created_by: r.created_by,
        updated_at: r.updated_at,
        updated_by: r.updated_by,
        deleted_at: r.deleted_at,
    }
}

fn full(r: FileRow) -> File {
    File {
        meta: meta(&r),
        content: r.content,
    }
}

fn version_view(v: &VersionRow) -> Version {
    Version {
        n: v.n,
        size: v.size,
        lines_added: v.lines_added,
        lines_removed: v.lines_removed,
        label: v.label.clone(),
        author: v.created_by,
        created_at: v.created_at,
        updated_at: v.updated_at,
        ai_assisted: v.ai_assisted,
    }
}

/// The live document locked for this transaction, when it is still at `if_match` (if given).
async fn lock_live<C>(conn: &mut C, id: FileId, if_match: Option<i64>) -> Result<FileRow, FileError>
where
    C: diesel_async::AsyncConnectionCore<Backend = diesel::pg::Pg> + Send,
{
    let current = repo::file_for_update(conn, id)
        .await?
        .filter(|f| f.deleted_at.is_none())
        .ok_or(FileError::NotFound("document"))?;
    match if_match {
        Some(expected) if expected != current.revision => Err(FileError::PreconditionFailed {
            expected,
            actual: current.revision,
        }),
        _ => Ok(current),
    }
}

/// The strong ETag of a revision.
pub fn etag(revision: i64) -> String {
    format!("\"{revision}\"")
}

impl FilesService {
    pub fn new(
        pool: DbPool,
        access: Arc<dyn ProjectAccess>,
        settings: FileSettings,
        engine: Arc<dyn SearchEngine>,
        events: Arc<mdz_core::events::EventBus>,
    ) -> Self {
        Self {
            pool,
            access,
            settings,
            live: OnceLock::new(),
            stats_next_check: std::sync::Mutex::new(None),
            engine,
            events,
        }
    }

    /// Send REST writes to live rooms from now on.
    pub fn connect_live(&self, live: Arc<dyn LiveDocuments>) {
        if self.live.set(live).is_err() {
            tracing::warn!("live documents were already connected");
        }
    }

    /// Tell the document's room (if collab runs) that REST changed its text (`change`: the
    /// text before and the file after, when the text changed).
    async fn notify_live(&self, id: FileId, change: Option<(String, File)>, actor: UserId) {
        if let (Some(live), Some((_, file))) = (self.live.get(), change) {
            live.rest_edit(id, file.meta.revision, actor).await;
        }
    }

    pub fn max_bytes(&self) -> usize {
        self.settings.max_bytes
    }

    /// The JSON body limit of routes that carry a whole document (escaping can double it).
    pub fn json_limit(&self) -> usize {
        self.settings.max_bytes.saturating_mul(2) + 64 * 1024
    }

    /// Content every write path (REST, MCP, collab) may store: within the size limit, and
    /// text PostgreSQL can hold.
    fn check_size(&self, content: &str) -> Result<(), FileError> {
        if content.len() > self.settings.max_bytes {
            return Err(FileError::TooLarge {
                limit: self.settings.max_bytes,
            });
        }
        mdz_core::text::check_field("content", content).map_err(|e| FileError::Validation(vec![e]))
    }

    /// The file's project, checked for `action`: a file in a project the caller is not in is
    /// as absent as one that does not exist.
    async fn authorize(
        &self,
        conn: &mut AsyncPgConnection,
        actor: UserId,
        file: FileId,
        action: Action,
    ) -> Result<(ProjectId, Role), FileError> {
        let (project, _) = repo::project_of(conn, file)
            .await?
            .ok_or(FileError::NotFound("document"))?;
        match self.access.require(actor, project, action).await {
            Ok(role) => Ok((project, role)),
            Err(mdz_core::access::AccessError::NotFound) => Err(FileError::NotFound("document")),
            Err(e) => Err(e.into()),
        }
    }

    /// Replay a stored answer for `idem`, if there is one for the same request.
    async fn replay(
        &self,
        conn: &mut AsyncPgConnection,
        actor: UserId,
        idem: Option<&Idempotency>,
    ) -> Result<Option<Written>, FileError> {
        let Some(idem) = idem else { return Ok(None) };
        let Some(stored) = repo::idempotent_response(conn, actor, &idem.key).await? else {
            return Ok(None);
        };
        if stored.method != idem.method || stored.path != idem.path {
            return Err(FileError::Validation(vec![mdz_core::FieldError {
                field: "Idempotency-Key".into(),
                message: "was already used for a different request".into(),
            }]));
        }
        Ok(Some(Written::Replayed {
            status: u16::try_from(stored.status).unwrap_or(200),
            etag: stored.etag,
            body: stored.response,
        }))
    }

    async fn remember(
        conn: &mut AsyncPgConnection,
        actor: UserId,
        idem: Option<&Idempotency>,
        status: u16,
        file: &File,
    ) -> Result<(), FileError> {
        let Some(idem) = idem else { return Ok(()) };
        // Store exactly what the endpoint answers: the whole document for a create, its
        // metadata for a save.
        let body = if status == 201 {
            serde_json::to_value(file)
        } else {
            serde_json::to_value(&file.meta)
        }
        .map_err(|e| {
            FileError::Db(db::DbError::Query(
                diesel::result::Error::SerializationError(e.into()),
            ))
        })?;
        repo::store_idempotent_response(
            conn,
            actor,
            &idem.key,
            idem.method,
            &idem.path,
            i32::from(status),
            Some(&etag(file.meta.revision)),
            &body,
        )
        .await?;
        Ok(())
    }

    /// Run a write; when a concurrent request with the same key won the race, replay its answer.
    async fn idempotent<F>(
        &self,
        actor: UserId,
        idem: Option<&Idempotency>,
        write: F,
    ) -> Result<Written, FileError>
    where
        F: AsyncFnOnce(&mut AsyncPgConnection) -> Result<Written, FileError>,
    {
        let mut conn = db::conn(&self.pool).await?;
        if let Some(replayed) = self.replay(&mut conn, actor, idem).await? {
            return Ok(replayed);
        }
        match write(&mut conn).await {
            // A twin request with the same key may have committed while this one waited on
            // its locks (and then failed on the path or the key): answer as the twin did.
            Err(e) if idem.is_some() => match self.replay(&mut conn, actor, idem).await {
                Ok(Some(replayed)) => Ok(replayed),
                _ => Err(e),
            },
            other => other,
        }
    }

    #[instrument(skip_all, fields(user_id = %actor, project_id = %project))]
    pub async fn create(
        &self,
        actor: UserId,
        project: ProjectId,
        path: DocPath,
        content: String,
        idem: Option<Idempotency>,
    ) -> Result<Written, FileError> {
        self.access.require(actor, project, Action::Edit).await?;
        self.check_size(&content)?;
        let idem = idem.as_ref();
        self.idempotent(actor, idem, async |conn: &mut AsyncPgConnection| {
            (*conn)
                .transaction::<_, FileError, _>(async |conn: &mut AsyncPgConnection| {
                    let now = Utc::now();
                    let row = FileRow {
                        id: FileId::new(),
                        project_id: project,
                        path: path.as_str().to_owned(),
                        title: history::title(&content),
                        size: to_i32(content.len()),
                        revision: 1,
                        content: content.clone(),
                        deleted_at: None,
                        deleted_by: None,
                        created_at: now,
                        updated_at: now,
                        created_by: actor,
                        updated_by: actor,
                    };
                    let row = repo::insert_file(conn, &row).await?;
                    let added = history::line_count(&row.content);
                    repo::insert_version(
                        conn,
                        &VersionRow {
                            file_id: row.id,
                            n: 1,
                            snapshot: false,
                            body: Vec::new(),
                            size: row.size,
                            lines_added: added,
                            lines_removed: 0,
                            label: None,
                            created_at: now,
                            updated_at: now,
                            created_by: actor,
                            updated_by: actor,
                            ai_assisted: false,
                        },
                    )
                    .await?;
                    repo::append_change(conn, ChangeEntry::of_file(&row, "created"), actor).await?;
                    let file = full(row);
                    Self::remember(conn, actor, idem, 201, &file).await?;
                    Ok(Written::Fresh { status: 201, file })
                })
                .await
        })
        .await
    }

    #[instrument(skip_all, fields(user_id = %actor, project_id = %project))]
    pub async fn list(
        &self,
        actor: UserId,
        project: ProjectId,
        prefix: &str,
        trashed: bool,
        page: PageRequest<String>,
    ) -> Result<Page<FileMeta>, FileError> {
        self.access.require(actor, project, Action::Read).await?;
        let mut conn = db::conn(&self.pool).await?;
        let rows = repo::list_files(
            &mut conn,
            project,
            prefix,
            trashed,
            page.after.as_deref(),
            page.limit,
        )
        .await?;
        Ok(Page::from_rows(rows, page.limit, |r| r.path.clone()).map(list_meta))
    }

    /// The immediate subfolders of `prefix`, with how many documents each holds.
    #[instrument(skip_all, fields(user_id = %actor, project_id = %project))]
    pub async fn folders(
        &self,
        actor: UserId,
        project: ProjectId,
        prefix: &str,
    ) -> Result<Vec<Folder>, FileError> {
        self.access.require(actor, project, Action::Read).await?;
        let mut conn = db::conn(&self.pool).await?;
        let paths = repo::paths_under(&mut conn, project, prefix).await?;
        let mut folders: BTreeMap<String, i64> = BTreeMap::new();
        for path in &paths {
            if let Some((folder, _)) = path[prefix.len()..].split_once('/') {
                *folders.entry(format!("{prefix}{folder}/")).or_default() += 1;
            }
        }
        Ok(folders
            .into_iter()
            .map(|(path, files)| Folder { path, files })
            .collect())
    }

    #[instrument(skip_all, fields(user_id = %actor, file_id = %id))]
    pub async fn get(&self, actor: UserId, id: FileId) -> Result<File, FileError> {
        let mut conn = db::conn(&self.pool).await?;
        self.authorize(&mut conn, actor, id, Action::Read).await?;
        repo::file(&mut conn, id)
            .await?
            .map(full)
            .ok_or(FileError::NotFound("document"))
    }

    /// Save new content. With `if_match`, only when the document is still at that revision.
    #[instrument(skip_all, fields(user_id = %actor, file_id = %id))]
    pub async fn save(
        &self,
        actor: UserId,
        id: FileId,
        content: String,
        if_match: Option<i64>,
        idem: Option<Idempotency>,
    ) -> Result<Written, FileError> {
        self.check_size(&content)?;
        {
            let mut conn = db::conn(&self.pool).await?;
            self.authorize(&mut conn, actor, id, Action::Edit).await?;
        }
        let idem = idem.as_ref();
        let mut change = None;
        let written = self
            .idempotent(actor, idem, async |conn: &mut AsyncPgConnection| {
                (*conn)
                    .transaction::<_, FileError, _>(async |conn: &mut AsyncPgConnection| {
                        let (file, before) = self
                            .write_content(conn, actor, id, &content, if_match, true)
                            .await?;
                        Self::remember(conn, actor, idem, 200, &file).await?;
                        change = before.map(|b| (b, file.clone()));
                        Ok(Written::Fresh { status: 200, file })
                    })
                    .await
            })
            .await?;
        self.notify_live(id, change, actor).await;
        Ok(written)
    }

    #[instrument(skip_all, fields(user_id = %actor, file_id = %id))]
    pub async fn rename(
        &self,
        actor: UserId,
        id: FileId,
        path: DocPath,
        if_match: Option<i64>,
    ) -> Result<File, FileError> {
        let mut conn = db::conn(&self.pool).await?;
        self.authorize(&mut conn, actor, id, Action::Edit).await?;
        (*conn)
            .transaction::<_, FileError, _>(async |conn: &mut AsyncPgConnection| {
                let current = lock_live(conn, id, if_match).await?;
                if current.path == path.as_str() {
                    return Ok(full(current));
                }
                let row = repo::set_path(conn, id, path.as_str(), actor).await?;
                repo::append_change(conn, ChangeEntry::of_file(&row, "renamed"), actor).await?;
                Ok(full(row))
            })
            .await
    }

    /// Move to the trash (restorable until purged).
    #[instrument(skip_all, fields(user_id = %actor, file_id = %id))]
    pub async fn trash(&self, actor: UserId, id: FileId) -> Result<(), FileError> {
        let mut conn = db::conn(&self.pool).await?;
        self.authorize(&mut conn, actor, id, Action::Edit).await?;
        (*conn)
            .transaction::<_, FileError, _>(async |conn: &mut AsyncPgConnection| {
                let current = lock_live(conn, id, None).await?;
                let row = repo::set_trashed(conn, current.id, actor, true).await?;
                repo::append_change(conn, ChangeEntry::of_file(&row, "deleted"), actor).await?;
                Ok(())
            })
            .await
    }

    #[instrument(skip_all, fields(user_id = %actor, file_id = %id))]
    pub async fn restore(&self, actor: UserId, id: FileId) -> Result<File, FileError> {
        let mut conn = db::conn(&self.pool).await?;
        self.authorize(&mut conn, actor, id, Action::Edit).await?;
        (*conn)
            .transaction::<_, FileError, _>(async |conn: &mut AsyncPgConnection| {
                let current = repo::file_for_update(conn, id)
                    .await?
                    .ok_or(FileError::NotFound("document"))?;
                if current.deleted_at.is_none() {
                    return Err(FileError::Conflict(
                        "the document is not in the trash".into(),
                    ));
                }
                let row = repo::set_trashed(conn, id, actor, false).await?;
                repo::append_change(conn, ChangeEntry::of_file(&row, "restored"), actor).await?;
                Ok(full(row))
            })
            .await
    }

    /// Purge the trash, old feed entries, old idempotency keys and the search feed's old
    /// tombstones.
    pub async fn purge(&self) -> Result<(usize, usize), FileError> {
        let retention = chrono::Duration::from_std(self.settings.retention).unwrap_or_default();
        let mut conn = db::conn(&self.pool).await?;
        let files = repo::purge_trash_before(&mut conn, Utc::now() - retention).await?;
        let cutoff = Utc::now() - retention;
        let changes = mdz_core::feed::FILE_CHANGES
            .compact(&mut conn, cutoff)
            .await?;
        mdz_core::feed::PROJECT_EVENTS
            .compact(&mut conn, cutoff)
            .await?;
        repo::forget_idempotency_before(&mut conn, Utc::now() - chrono::Duration::hours(24))
            .await?;
        crate::engine::feed::forget_gone_before(&mut conn, Utc::now() - SEARCH_TOMBSTONE_TTL)
            .await?;
        Ok((files, changes))
    }

    // ---- history ------------------------------------------------------------------------

    #[instrument(skip_all, fields(user_id = %actor, file_id = %id))]
    pub async fn versions(
        &self,
        actor: UserId,
        id: FileId,
        page: PageRequest<i32>,
    ) -> Result<Page<Version>, FileError> {
        let mut conn = db::conn(&self.pool).await?;
        self.authorize(&mut conn, actor, id, Action::Read).await?;
        let rows = repo::list_versions(&mut conn, id, page.after, page.limit).await?;
        Ok(Page::from_rows(rows, page.limit, |v| v.n).map(|v| version_view(&v)))
    }

    /// The text of version `n`: from the nearest full copy at or after it (or the current
    /// text), apply the reverse scripts back down to `n`.
    async fn content_of(
        conn: &mut AsyncPgConnection,
        file: &FileRow,
        n: i32,
    ) -> Result<(VersionRow, String), FileError> {
        let head = repo::head_version(conn, file.id)
            .await?
            .ok_or(FileError::Corrupt)?;
        if n == head.n {
            return Ok((head, file.content.clone()));
        }
        if n < 1 || n > head.n {
            return Err(FileError::NotFound("version"));
        }
        let top = repo::snapshot_at_or_after(conn, file.id, n)
            .await?
            .unwrap_or(head.n);
        let rows = repo::versions_between(conn, file.id, n, top).await?;
        let mut text: Option<String> = None;
        let mut wanted = None;
        for row in rows {
            text = Some(if row.n == top {
                if row.snapshot {
                    String::from_utf8(row.body.clone()).map_err(|_| FileError::Corrupt)?
                } else {
                    file.content.clone()
                }
            } else {
                let newer = text.as_deref().ok_or(FileError::Corrupt)?;
                if row.snapshot {
                    String::from_utf8(row.body.clone()).map_err(|_| FileError::Corrupt)?
                } else {
                    history::apply(newer, &row.body)?
                }
            });
            if row.n == n {
                wanted = Some(row);
            }
        }
        match (wanted, text) {
            (Some(row), Some(text)) => Ok((row, text)),
            _ => Err(FileError::Corrupt),
        }
    }

    #[instrument(skip_all, fields(user_id = %actor, file_id = %id, n))]
    pub async fn version(
        &self,
        actor: UserId,
        id: FileId,
        n: i32,
    ) -> Result<VersionContent, FileError> {
        let mut conn = db::conn(&self.pool).await?;
        self.authorize(&mut conn, actor, id, Action::Read).await?;
        let file = repo::file(&mut conn, id)
            .await?
            .ok_or(FileError::NotFound("document"))?;
        let (row, content) = Self::content_of(&mut conn, &file, n).await?;
        Ok(VersionContent {
            version: version_view(&row),
            content,
        })
    }

    #[instrument(skip_all, fields(user_id = %actor, file_id = %id, n, m))]
    pub async fn diff(
        &self,
        actor: UserId,
        id: FileId,
        n: i32,
        m: i32,
    ) -> Result<VersionDiff, FileError> {
        let mut conn = db::conn(&self.pool).await?;
        self.authorize(&mut conn, actor, id, Action::Read).await?;
        let file = repo::file(&mut conn, id)
            .await?
            .ok_or(FileError::NotFound("document"))?;
        let (_, to) = Self::content_of(&mut conn, &file, n).await?;
        let (_, from) = Self::content_of(&mut conn, &file, m).await?;
        let (a, b) = (format!("{}@{m}", file.path), format!("{}@{n}", file.path));
        drop(conn);
        let unified =
            tokio::task::spawn_blocking(move || history::unified(&from, &to, &a, &b)).await?;
        Ok(VersionDiff {
            from: m,
            to: n,
            unified,
        })
    }

    /// Make a new version whose content is that of version `n`.
    #[instrument(skip_all, fields(user_id = %actor, file_id = %id, n))]
    pub async fn restore_version(
        &self,
        actor: UserId,
        id: FileId,
        n: i32,
    ) -> Result<File, FileError> {
        let mut conn = db::conn(&self.pool).await?;
        self.authorize(&mut conn, actor, id, Action::Edit).await?;
        let (file, before) = (*conn)
            .transaction::<_, FileError, _>(async |conn: &mut AsyncPgConnection| {
                let file = lock_live(conn, id, None).await?;
                let (_, old) = Self::content_of(conn, &file, n).await?;
                self.write_content(conn, actor, id, &old, None, false).await
            })
            .await?;
        drop(conn);
        self.notify_live(id, before.map(|b| (b, file.clone())), actor)
            .await;
        Ok(file)
    }

    /// Store text that live collaborators produced (see [`DocumentStore::save_from_collab`]).
    #[instrument(skip_all, fields(user_id = %author, file_id = %id))]
    pub async fn save_from_collab(
        &self,
        id: FileId,
        content: &str,
        author: UserId,
        if_match: i64,
        ai_assisted: bool,
        also: InSave<'_>,
    ) -> Result<i64, FileError> {
        self.check_size(content)?;
        let mut conn = db::conn(&self.pool).await?;
        let revision = (*conn)
            .transaction::<_, FileError, _>(async |conn: &mut AsyncPgConnection| {
                let (file, before) = self
                    .write_content(conn, author, id, content, Some(if_match), true)
                    .await?;
                if ai_assisted && before.is_some() {
                    repo::mark_head_ai_assisted(conn, id).await?;
                }
                also(conn, file.meta.revision).await?;
                Ok(file.meta.revision)
            })
            .await?;
        Ok(revision)
    }

    /// The live document collab opens a room for.
    pub async fn document_head(&self, id: FileId) -> Result<Option<DocumentHead>, FileError> {
        let mut conn = db::conn(&self.pool).await?;
        Self::document_head_in(&mut conn, id).await
    }

    /// [`FilesService::document_head`] on the caller's connection.
    pub async fn document_head_in(
        conn: &mut AsyncPgConnection,
        id: FileId,
    ) -> Result<Option<DocumentHead>, FileError> {
        Ok(repo::file(conn, id)
            .await?
            .filter(|f| f.deleted_at.is_none())
            .map(|f| DocumentHead {
                project_id: f.project_id,
                path: f.path,
                content: f.content,
                revision: f.revision,
                updated_by: f.updated_by,
            }))
    }

    /// Passages for an assistant's context (the documents port; access checked by the caller).
    pub async fn passages(
        &self,
        project: ProjectId,
        words: &[String],
        limit: usize,
    ) -> Result<Vec<Passage>, FileError> {
        let words: Vec<String> = words.iter().filter_map(|w| search_word(w)).collect();
        if words.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = db::conn(&self.pool).await?;
        repo::index_dirty(
            &mut conn,
            Some(&[project]),
            Duration::ZERO,
            INDEX_AT_SEARCH,
            IndexTurn::Shared,
        )
        .await?;
        let rows = repo::passages(
            &mut conn,
            project,
            &words,
            i64::try_from(limit).unwrap_or(i64::MAX),
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Passage {
                file_id: r.id,
                path: r.path,
                revision: r.revision,
                text: r.text.replace(['\u{27E6}', '\u{27E7}'], ""),
            })
            .collect())
    }

    #[instrument(skip_all, fields(user_id = %actor, file_id = %id, n))]
    pub async fn label(
        &self,
        actor: UserId,
        id: FileId,
        n: i32,
        label: Option<String>,
    ) -> Result<Version, FileError> {
        let mut conn = db::conn(&self.pool).await?;
        self.authorize(&mut conn, actor, id, Action::Edit).await?;
        repo::set_label(&mut conn, id, n, label.as_deref(), actor)
            .await?
            .map(|v| version_view(&v))
            .ok_or(FileError::NotFound("version"))
    }

    // ---- search -------------------------------------------------------------------------

    /// Index stale search vectors of any project, batch after batch, until none is left
    /// (rows being saved right now are left for the next round).
    pub async fn index_pending(&self) -> Result<usize, FileError> {
        let mut conn = db::conn(&self.pool).await?;
        let mut total = 0;
        loop {
            // One process indexes at a time; the others skip this round (searches still
            // index their own projects first, whoever has the turn).
            let n = repo::index_dirty(
                &mut conn,
                None,
                INDEX_DELAY,
                INDEX_BATCH,
                IndexTurn::Exclusive,
            )
            .await?;
            total += n;
            if i64::try_from(n).unwrap_or(0) < INDEX_BATCH {
                break;
            }
        }
        let now = std::time::Instant::now();
        let due = {
            let mut next = self
                .stats_next_check
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let due = next.is_none_or(|at| now >= at);
            if due {
                *next = Some(now + CHECK_STATS_EVERY);
            }
            due
        };
        if due && repo::file_stats_stale(&mut conn).await? {
            // Many rows changed since the last ANALYZE (an import, heavy editing): refresh the
            // planner's statistics and clear dead row versions now rather than when autovacuum
            // comes by (up to a minute later), so searches keep their GIN plans.
            *self
                .stats_next_check
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(now + REFRESH_STATS_EVERY);
            repo::refresh_file_stats(&mut conn).await?;
        }
        drop(conn);
        self.engine.refresh().await?;
        Ok(total)
    }

    /// Ranked matches in one project, or (with `project = None`) in every project the caller
    /// may read. Membership is checked at query time, so a removed member finds nothing at once.
    #[instrument(skip_all, fields(user_id = %actor))]
    pub async fn search(
        &self,
        actor: UserId,
        project: Option<ProjectId>,
        query: &SearchQuery,
        page: PageRequest<i64>,
    ) -> Result<Page<SearchResult>, FileError> {
        let projects = match project {
            Some(p) => {
                self.access.require(actor, p, Action::Read).await?;
                vec![p]
            }
            None => self.access.readable_projects(actor).await?,
        };
        if projects.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        let offset = page.after.unwrap_or(0).max(0);
        if offset > MAX_SEARCH_OFFSET {
            // Cursors are opaque but not signed: an engine that collects the top
            // `offset + limit` would allocate for any number a client writes into one.
            return Err(FileError::Validation(vec![mdz_core::FieldError {
                field: "cursor".into(),
                message: format!(
                    "search serves the first {MAX_SEARCH_OFFSET} results; refine the query"
                ),
            }]));
        }
        let mut conn = db::conn(&self.pool).await?;
        repo::index_dirty(
            &mut conn,
            Some(&projects),
            Duration::ZERO,
            INDEX_AT_SEARCH,
            IndexTurn::Shared,
        )
        .await?;
        drop(conn);
        let limit = usize::try_from(page.limit).unwrap_or(0);
        let mut hits = self
            .engine
            .search(SearchRequest {
                projects: &projects,
                head: &query.head,
                prefix: query.prefix.as_deref(),
                offset: usize::try_from(offset).unwrap_or(0),
                limit: limit + 1,
            })
            .await?;
        let more = hits.len() > limit;
        hits.truncate(limit);
        let items: Vec<SearchResult> = hits
            .into_iter()
            .map(|h| SearchResult {
                file_id: h.file_id,
                project_id: h.project_id,
                path: h.path,
                title: h.title,
                rank: h.rank,
                snippet: h.snippet,
            })
            .collect();
        let next = offset.saturating_add(page.limit);
        Ok(Page {
            next_cursor: (more && next <= MAX_SEARCH_OFFSET)
                .then(|| mdz_core::pagination::encode_cursor(&next)),
            items,
        })
    }
}
