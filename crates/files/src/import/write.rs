//! Writing a checked import: the attachments' objects first (queued for deletion until the
//! transaction commits), then the project, its owner, its attachments, documents, first
//! versions and change feed in one transaction. A failure deletes the objects; a crash
//! leaves them queued, and the cleanup task removes them once their time comes.

use super::archive::{Item, Plan};
use super::chain::Chain;
use super::links::Links;
use super::repo::{self as import_repo, ChangeRow};
use super::{ImportError, Imported};
use crate::attachments::repo::{self as attachment_repo, AttachmentRow};
use crate::attachments::store::BlobStore;
use crate::history;
use crate::repo::{FileRow, VersionRow};
use bytes::Bytes;
use chrono::Utc;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use mdz_core::access::ProjectCreator;
use mdz_core::db::{self, DbPool};
use mdz_core::ids::{AttachmentId, FileId, ProjectId, UserId};
use std::fs::File;
use std::io::Read;
use std::sync::Arc;
use tokio::runtime::Handle;
use zip::ZipArchive;

/// Rows a multi-row insert carries (well under PostgreSQL's 65,535 parameters).
const ROWS_PER_INSERT: usize = 500;
/// Document text read ahead of an insert.
const BYTES_PER_INSERT: usize = 8 * 1024 * 1024;
/// How long an import's objects are safe from the cleanup task: longer than any import
/// transaction runs; after it, objects of an import that never committed are deleted.
const UNCOMMITTED_GRACE_HOURS: i64 = 6;

pub struct Job {
    pub pool: DbPool,
    pub store: Arc<dyn BlobStore>,
    pub creator: Arc<dyn ProjectCreator>,
    pub runtime: Handle,
    pub actor: UserId,
    pub name: String,
    pub max_file_bytes: usize,
}

/// An attachment about to be made.
struct NewAttachment<'p> {
    item: &'p Item,
    id: AttachmentId,
    key: String,
}

impl Job {
    /// Runs on the blocking pool: reading the zip blocks, database work is driven with
    /// `block_on`.
    pub fn run(self, zip: &mut ZipArchive<File>, plan: &Plan) -> Result<Imported, ImportError> {
        let project = ProjectId::new();
        let attachments: Vec<NewAttachment<'_>> = plan
            .attachments
            .iter()
            .map(|item| {
                let id = AttachmentId::new();
                NewAttachment {
                    item,
                    id,
                    key: format!("{project}/{id}"),
                }
            })
            .collect();
        let keys: Vec<String> = attachments.iter().map(|a| a.key.clone()).collect();
        self.queue_for_deletion(&keys)?;
        let result = self
            .store_objects(zip, &attachments)
            .and_then(|()| self.commit(zip, plan, project, &attachments));
        match result {
            Ok(imported) => Ok(imported),
            Err(e) => {
                self.remove_objects(&keys);
                Err(e)
            }
        }
    }

    fn queue_for_deletion(&self, keys: &[String]) -> Result<(), ImportError> {
        if keys.is_empty() {
            return Ok(());
        }
        let at = Utc::now() + chrono::Duration::hours(UNCOMMITTED_GRACE_HOURS);
        self.runtime.block_on(async {
            let mut conn = db::conn(&self.pool).await?;
            for chunk in keys.chunks(ROWS_PER_INSERT) {
                import_repo::queue_deletions_at(&mut conn, chunk, at)
                    .await
                    .map_err(db::DbError::Query)?;
            }
            Ok::<_, ImportError>(())
        })
    }

    fn store_objects(
        &self,
        zip: &mut ZipArchive<File>,
        attachments: &[NewAttachment<'_>],
    ) -> Result<(), ImportError> {
        for a in attachments {
            let mut entry = zip.by_index(a.item.index).map_err(ImportError::BrokenZip)?;
            let mut bytes = Vec::with_capacity(usize::try_from(a.item.size).unwrap_or(0));
            entry
                .read_to_end(&mut bytes)
                .map_err(|source| ImportError::BrokenEntry {
                    name: a.item.source.clone(),
                    source,
                })?;
            self.runtime
                .block_on(
                    self.store
                        .put(&a.key, &a.item.content_type, Bytes::from(bytes)),
                )
                .map_err(|e| ImportError::Store(e.to_string()))?;
        }
        Ok(())
    }

    /// After a failure: delete what was stored, and forget the queue entries of what is gone
    /// (an object the store could not delete stays queued for the cleanup task).
    fn remove_objects(&self, keys: &[String]) {
        let mut gone = Vec::with_capacity(keys.len());
        for key in keys {
            match self.runtime.block_on(self.store.delete(key)) {
                Ok(()) => gone.push(key.clone()),
                Err(e) => {
                    tracing::warn!(error = %e, key = %key, "could not delete an imported object")
                }
            }
        }
        if gone.is_empty() {
            return;
        }
        let forgotten = self.runtime.block_on(async {
            let mut conn = db::conn(&self.pool).await?;
            attachment_repo::forget_deletions(&mut conn, &gone)
                .await
                .map_err(db::DbError::Query)
        });
        if let Err(e) = forgotten {
            tracing::warn!(error = %e, "could not forget the deletions of a failed import");
        }
    }

    fn commit(
        &self,
        zip: &mut ZipArchive<File>,
        plan: &Plan,
        project: ProjectId,
        attachments: &[NewAttachment<'_>],
    ) -> Result<Imported, ImportError> {
        let mut links = Links::new(plan.format);
        for a in attachments {
            links.add_attachment(&a.item.source, a.item.old_id, a.id);
        }
        for d in &plan.documents {
            links.documents.insert(d.source.clone(), d.target.clone());
        }
        let description = plan.description.clone();
        self.runtime.block_on(async {
            let mut conn = db::conn(&self.pool).await?;
            (*conn)
                .transaction::<_, ImportError, _>(async |conn: &mut AsyncPgConnection| {
                    let created = self
                        .creator
                        .create_in(conn, project, self.actor, &self.name, &description)
                        .await?;
                    let mut seq = 0;
                    self.insert_attachments(conn, project, attachments, &mut seq)
                        .await?;
                    let versions = self
                        .insert_documents(conn, zip, plan, project, &links, &mut seq)
                        .await?;
                    if seq > 0 {
                        import_repo::set_change_counter(conn, project, seq).await?;
                    }
                    let keys: Vec<String> = attachments.iter().map(|a| a.key.clone()).collect();
                    attachment_repo::forget_deletions(conn, &keys).await?;
                    Ok(Imported {
                        project: created,
                        documents: plan.documents.len(),
                        versions,
                        attachments: attachments.len(),
                        skipped: plan.skipped.clone(),
                        skipped_count: plan.skipped_count,
                    })
                })
                .await
        })
    }

    async fn insert_attachments(
        &self,
        conn: &mut AsyncPgConnection,
        project: ProjectId,
        attachments: &[NewAttachment<'_>],
        seq: &mut i64,
    ) -> Result<(), ImportError> {
        let now = Utc::now();
        for chunk in attachments.chunks(ROWS_PER_INSERT) {
            let rows: Vec<AttachmentRow> = chunk
                .iter()
                .map(|a| AttachmentRow {
                    id: a.id,
                    project_id: project,
                    object_key: a.key.clone(),
                    filename: a.item.target.clone(),
                    content_type: a.item.content_type.clone(),
                    size: i64::try_from(a.item.size).unwrap_or(i64::MAX),
                    ready: true,
                    completed_at: Some(now),
                    created_at: now,
                    updated_at: now,
                    created_by: self.actor,
                    updated_by: self.actor,
                })
                .collect();
            import_repo::insert_attachments(conn, &rows).await?;
            let changes: Vec<ChangeRow> = chunk
                .iter()
                .map(|a| {
                    *seq += 1;
                    self.change(project, *seq, a.id.0, "attachment_added", &a.item.target, 1)
                })
                .collect();
            import_repo::insert_changes(conn, &changes).await?;
        }
        Ok(())
    }

    /// Insert every document with its versions; how many versions were made.
    async fn insert_documents(
        &self,
        conn: &mut AsyncPgConnection,
        zip: &mut ZipArchive<File>,
        plan: &Plan,
        project: ProjectId,
        links: &Links,
        seq: &mut i64,
    ) -> Result<usize, ImportError> {
        let mut batch = Batch::default();
        let mut made = 0;
        for item in &plan.documents {
            let (file, versions) = self.document(zip, item, project, links)?;
            made += versions.len();
            batch.add(file, versions);
            if batch.rows() >= ROWS_PER_INSERT || batch.bytes >= BYTES_PER_INSERT {
                self.flush(conn, project, &mut batch, seq).await?;
            }
        }
        self.flush(conn, project, &mut batch, seq).await?;
        Ok(made)
    }

    /// One document and its versions: those of its history (if the archive holds one),
    /// then its text when that differs from the newest (an archive edited after export).
    fn document(
        &self,
        zip: &mut ZipArchive<File>,
        item: &Item,
        project: ProjectId,
        links: &Links,
    ) -> Result<(FileRow, Vec<VersionRow>), ImportError> {
        let id = FileId::new();
        let now = Utc::now();
        let mut chain = Chain::new(id, self.actor, now);
        for v in &item.versions {
            let text = self.entry_text(zip, v.index, &v.name, item, links)?;
            chain.push(text, v.meta.as_ref());
        }
        let text = self.entry_text(zip, item.index, &item.source, item, links)?;
        if chain.head() != Some(text.as_str()) {
            chain.push(text, None);
        }
        let (versions, content) = chain.finish();
        let (Some(first), Some(last)) = (versions.first(), versions.last()) else {
            return Err(ImportError::bad_entry(&item.source, "has no text"));
        };
        let file = FileRow {
            id,
            project_id: project,
            path: item.target.clone(),
            title: history::title(content.as_deref().unwrap_or_default()),
            size: last.size,
            revision: i64::from(last.n),
            content: content.unwrap_or_default(),
            deleted_at: None,
            deleted_by: None,
            created_at: first.created_at,
            updated_at: last.updated_at,
            created_by: self.actor,
            updated_by: self.actor,
        };
        Ok((file, versions))
    }

    /// An entry's text from the zip (checked by the plan already), written as `item`'s
    /// (links rewritten from its place in the archive to its place in the project).
    fn entry_text(
        &self,
        zip: &mut ZipArchive<File>,
        index: usize,
        name: &str,
        item: &Item,
        links: &Links,
    ) -> Result<String, ImportError> {
        let mut entry = zip.by_index(index).map_err(ImportError::BrokenZip)?;
        let mut text = String::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry
            .read_to_string(&mut text)
            .map_err(|source| ImportError::BrokenEntry {
                name: name.to_owned(),
                source,
            })?;
        let text = links.rewrite(&item.source, &item.target, &text);
        if text.len() > self.max_file_bytes {
            // Rewritten links can make a document a little longer than it was.
            return Err(ImportError::EntryTooLarge {
                name: name.to_owned(),
                limit: self.max_file_bytes as u64,
            });
        }
        Ok(text)
    }

    /// Insert the batch's documents, their versions and their feed entries.
    async fn flush(
        &self,
        conn: &mut AsyncPgConnection,
        project: ProjectId,
        batch: &mut Batch,
        seq: &mut i64,
    ) -> Result<(), ImportError> {
        if batch.files.is_empty() {
            return Ok(());
        }
        import_repo::insert_files(conn, &batch.files).await?;
        for chunk in batch.versions.chunks(ROWS_PER_INSERT) {
            import_repo::insert_versions(conn, chunk).await?;
        }
        let changes: Vec<ChangeRow> = batch
            .files
            .iter()
            .map(|f| {
                *seq += 1;
                self.change(project, *seq, f.id.0, "created", &f.path, f.revision)
            })
            .collect();
        import_repo::insert_changes(conn, &changes).await?;
        *batch = Batch::default();
        Ok(())
    }

    fn change(
        &self,
        project: ProjectId,
        seq: i64,
        item: uuid::Uuid,
        kind: &'static str,
        path: &str,
        revision: i64,
    ) -> ChangeRow {
        let now = Utc::now();
        ChangeRow {
            project_id: project,
            seq,
            file_id: item,
            kind,
            path: path.to_owned(),
            revision,
            created_at: now,
            updated_at: now,
            created_by: self.actor,
            updated_by: self.actor,
        }
    }
}

/// Documents and versions waiting for their inserts.
#[derive(Default)]
struct Batch {
    files: Vec<FileRow>,
    versions: Vec<VersionRow>,
    /// Text and version bodies held.
    bytes: usize,
}

impl Batch {
    fn add(&mut self, file: FileRow, versions: Vec<VersionRow>) {
        self.bytes += file.content.len() + versions.iter().map(|v| v.body.len()).sum::<usize>();
        self.files.push(file);
        self.versions.extend(versions);
    }

    fn rows(&self) -> usize {
        self.files.len() + self.versions.len()
    }
}
