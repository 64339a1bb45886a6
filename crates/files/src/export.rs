//! A project as a zip of plain files, streamed: every live document at its path, the
//! attachments under `_attachments/`, `mdz-export.json` describing them, and on request every
//! version under `.mdz/history/`. Memory stays flat whatever the project's size: documents
//! are read a page at a time, attachments a chunk at a time, and the zip is written by a
//! blocking task into a bounded channel the response drains.

use crate::attachments::repo as attachment_repo;
use crate::attachments::store::BlobStore;
use crate::error::FileError;
use crate::history;
use crate::repo::{self, FileRow};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use mdz_core::access::{Action, ProjectAccess, ProjectSummary};
use mdz_core::db::{self, DbPool};
use mdz_core::ids::{AttachmentId, FileId, ProjectId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

/// The export format's name and version, in `mdz-export.json`. A reader refuses another
/// major `version`; a `minor` only adds (entries, fields) that older readers skip, so a
/// reader takes every minor of its major (a manifest without one is minor 0).
/// 1.1: `.mdz/history/<path>/versions.json` (each version's times, label, AI flag).
pub const FORMAT: &str = "mdz-export";
pub const FORMAT_VERSION: u32 = 1;
pub const FORMAT_MINOR: u32 = 1;
/// Next to a document's `.mdz/history/<path>/<n>.md` texts: what else its versions carry.
pub const VERSIONS_FILE: &str = "versions.json";
/// Documents (or attachments) read per query.
const PAGE: i64 = 100;
/// Bytes of zip handed to the response at a time, and how many such chunks may wait.
const CHUNK: usize = 64 * 1024;
const CHUNKS_IN_FLIGHT: usize = 8;

#[derive(Debug, Serialize)]
struct Manifest {
    format: &'static str,
    version: u32,
    minor: u32,
    project: ManifestProject,
    files: Vec<ManifestFile>,
    attachments: Vec<ManifestAttachment>,
    history: bool,
}

#[derive(Debug, Serialize)]
struct ManifestProject {
    name: String,
    description: String,
}

#[derive(Debug, Serialize)]
struct ManifestFile {
    id: FileId,
    path: String,
    revision: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
struct ManifestAttachment {
    id: AttachmentId,
    name: String,
    /// Where it is in the zip.
    path: String,
    content_type: String,
    size: i64,
}

/// `.mdz/history/<path>/versions.json`: the versions of one document, oldest first.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionsFile {
    pub versions: Vec<VersionMeta>,
}

/// What a version carries besides its text (its author does not travel: user ids mean
/// nothing on another server).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionMeta {
    pub n: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub label: Option<String>,
    pub ai_assisted: bool,
}

/// Builds exports (the files domain: documents, their history, attachments).
pub struct ExportService {
    pool: DbPool,
    access: Arc<dyn ProjectAccess>,
    store: Arc<dyn BlobStore>,
}

impl ExportService {
    pub fn new(pool: DbPool, access: Arc<dyn ProjectAccess>, store: Arc<dyn BlobStore>) -> Self {
        Self {
            pool,
            access,
            store,
        }
    }

    /// The project's zip as a stream of chunks, once `actor` may read it. A failure after
    /// the first byte ends the stream with an error (the client sees a broken download,
    /// never a zip that looks whole).
    pub async fn export(
        &self,
        actor: UserId,
        project: ProjectId,
        with_history: bool,
    ) -> Result<
        (
            String,
            impl Stream<Item = Result<Bytes, std::io::Error>> + use<>,
        ),
        FileError,
    > {
        self.access.require(actor, project, Action::Read).await?;
        let summary = self
            .access
            .summary(project)
            .await?
            .ok_or(FileError::NotFound("project"))?;
        let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let job = Job {
            pool: self.pool.clone(),
            store: self.store.clone(),
            runtime: Handle::current(),
            project,
            history: with_history,
        };
        let name = summary.name.clone();
        let failed = tx.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = job.run(summary, Chunks::new(tx)) {
                tracing::warn!(project_id = %project, error = %e, "export failed");
                drop(failed.blocking_send(Err(std::io::Error::other("the export failed"))));
            }
        });
        let stream =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|c| (c, rx)) },
            );
        Ok((name, stream.boxed()))
    }
}

/// Why writing an export stopped.
#[derive(Debug, thiserror::Error)]
enum ExportError {
    #[error(transparent)]
    Files(#[from] FileError),
    #[error("writing the zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("writing the zip: {0}")]
    Io(#[from] std::io::Error),
    #[error("the manifest: {0}")]
    Json(#[from] serde_json::Error),
    #[error("attachment {0}: its bytes are missing from the store")]
    MissingBlob(AttachmentId),
}

struct Job {
    pool: DbPool,
    store: Arc<dyn BlobStore>,
    runtime: Handle,
    project: ProjectId,
    history: bool,
}

type Zip = ZipWriter<zip::write::StreamWriter<Chunks>>;

impl Job {
    fn run(self, summary: ProjectSummary, out: Chunks) -> Result<(), ExportError> {
        let mut zip = ZipWriter::new_stream(out);
        let mut names = HashSet::new();
        let files = self.documents(&mut zip, &mut names)?;
        let attachments = self.attachments(&mut zip, &mut names)?;
        let manifest = Manifest {
            format: FORMAT,
            version: FORMAT_VERSION,
            minor: FORMAT_MINOR,
            project: ManifestProject {
                name: summary.name,
                description: summary.description,
            },
            files,
            attachments,
            history: self.history,
        };
        zip.start_file(unique(&mut names, "mdz-export.json"), options())?;
        serde_json::to_writer_pretty(&mut zip, &manifest)?;
        let mut out = zip.finish()?;
        out.flush()?;
        Ok(())
    }

    fn documents(
        &self,
        zip: &mut Zip,
        names: &mut HashSet<String>,
    ) -> Result<Vec<ManifestFile>, ExportError> {
        let mut listed = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.runtime.block_on(async {
                let mut conn = db::conn(&self.pool).await?;
                let rows =
                    repo::live_documents_page(&mut conn, self.project, after.as_deref(), PAGE)
                        .await?;
                Ok::<_, FileError>(rows)
            })?;
            let Some(last) = page.last() else {
                return Ok(listed);
            };
            after = Some(last.path.clone());
            for file in page {
                zip.start_file(unique(names, &file.path), options())?;
                zip.write_all(file.content.as_bytes())?;
                if self.history {
                    self.versions(zip, names, &file)?;
                }
                listed.push(ManifestFile {
                    id: file.id,
                    path: file.path,
                    revision: file.revision,
                    created_at: file.created_at,
                    updated_at: file.updated_at,
                });
            }
        }
    }

    /// Every version of `file` as `.mdz/history/<path>/<n>.md`, newest first, rebuilt from
    /// the current text down through the reverse scripts (one text in memory at a time),
    /// then [`VERSIONS_FILE`] beside them.
    fn versions(
        &self,
        zip: &mut Zip,
        names: &mut HashSet<String>,
        file: &FileRow,
    ) -> Result<(), ExportError> {
        let rows = self.runtime.block_on(async {
            let mut conn = db::conn(&self.pool).await?;
            let rows = repo::versions_between(&mut conn, file.id, 1, i32::MAX).await?;
            Ok::<_, FileError>(rows)
        })?;
        let mut text: Option<String> = None;
        let mut metas = Vec::with_capacity(rows.len());
        for row in rows {
            let current = match (&text, row.snapshot) {
                (None, _) => file.content.clone(),
                (Some(_), true) => String::from_utf8(row.body).map_err(|_| FileError::Corrupt)?,
                (Some(newer), false) => {
                    history::apply(newer, &row.body).map_err(|_| FileError::Corrupt)?
                }
            };
            let name = format!(".mdz/history/{}/{}.md", file.path, row.n);
            zip.start_file(unique(names, &name), options())?;
            zip.write_all(current.as_bytes())?;
            text = Some(current);
            metas.push(VersionMeta {
                n: row.n,
                created_at: row.created_at,
                updated_at: row.updated_at,
                label: row.label,
                ai_assisted: row.ai_assisted,
            });
        }
        metas.reverse();
        let name = format!(".mdz/history/{}/{VERSIONS_FILE}", file.path);
        zip.start_file(unique(names, &name), options())?;
        serde_json::to_writer(&mut *zip, &VersionsFile { versions: metas })?;
        Ok(())
    }

    fn attachments(
        &self,
        zip: &mut Zip,
        names: &mut HashSet<String>,
    ) -> Result<Vec<ManifestAttachment>, ExportError> {
        let mut listed = Vec::new();
        let mut after: Option<AttachmentId> = None;
        loop {
            let page = self.runtime.block_on(async {
                let mut conn = db::conn(&self.pool).await?;
                let rows =
                    attachment_repo::ready_page(&mut conn, self.project, after, PAGE).await?;
                Ok::<_, FileError>(rows)
            })?;
            let Some(last) = page.last() else {
                return Ok(listed);
            };
            after = Some(last.id);
            for a in page {
                let path = unique(names, &format!("_attachments/{}", a.filename));
                let chunks = self
                    .runtime
                    .block_on(self.store.read(&a.object_key))
                    .map_err(|e| FileError::Store(e.to_string()))?;
                let mut chunks = chunks.ok_or(ExportError::MissingBlob(a.id))?;
                zip.start_file(path.clone(), stored_options())?;
                while let Some(chunk) = self.runtime.block_on(chunks.next()) {
                    let chunk = chunk.map_err(|e| FileError::Store(e.to_string()))?;
                    zip.write_all(&chunk)?;
                }
                listed.push(ManifestAttachment {
                    id: a.id,
                    name: a.filename,
                    path,
                    content_type: a.content_type,
                    size: a.size,
                });
            }
        }
    }
}

fn options() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true)
}

/// Attachments are mostly compressed already (images, PDFs): stored as they are.
fn stored_options() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true)
}

/// `wanted`, or `name (2).ext`, `name (3).ext`… when an entry of that name exists.
fn unique(taken: &mut HashSet<String>, wanted: &str) -> String {
    if taken.insert(wanted.to_owned()) {
        return wanted.to_owned();
    }
    let (dir, file) = wanted
        .rsplit_once('/')
        .map_or(("", wanted), |(d, f)| (d, f));
    let (stem, ext) = match file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
        _ => (file, String::new()),
    };
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    (2..)
        .map(|n| format!("{prefix}{stem} ({n}){ext}"))
        .find(|candidate| taken.insert(candidate.clone()))
        .unwrap_or_default()
}

/// A `Write` that hands the zip to the response in chunks of [`CHUNK`] bytes, waiting while
/// [`CHUNKS_IN_FLIGHT`] are not taken yet. A response that went away ends the export.
struct Chunks {
    buf: Vec<u8>,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
}

impl Chunks {
    fn new(tx: mpsc::Sender<Result<Bytes, std::io::Error>>) -> Self {
        Self {
            buf: Vec::with_capacity(CHUNK),
            tx,
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for Chunks {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_are_made_unique() {
        let mut taken = HashSet::new();
        assert_eq!(
            unique(&mut taken, "_attachments/a.png"),
            "_attachments/a.png"
        );
        assert_eq!(
            unique(&mut taken, "_attachments/a.png"),
            "_attachments/a (2).png"
        );
        assert_eq!(
            unique(&mut taken, "_attachments/a.png"),
            "_attachments/a (3).png"
        );
        assert_eq!(unique(&mut taken, "README"), "README");
        assert_eq!(unique(&mut taken, "README"), "README (2)");
        assert_eq!(unique(&mut taken, ".env"), ".env");
        assert_eq!(unique(&mut taken, ".env"), ".env (2)");
    }
}
