//! One sync round: what changed on the server since the saved cursor, what changed in the
//! folder since the saved base texts, and every difference settled both ways.
//!
//! Decisions compare content hashes with the base (the last synced text), never revisions,
//! so a round that was killed half-way is simply run again: what it already did on one side
//! now matches the other and is taken as synced. Writes to the server carry `If-Match` and an
//! `Idempotency-Key` derived from what they write, so a retried one is answered from the
//! first attempt rather than applied twice.

use crate::client::{Client, ClientError};
use crate::local;
use crate::reconcile::Work;
use crate::state::{State, StateError, Store, Tracked, hash};
use mdz_core::ids::FileId;
use mdz_files::interface::File;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Local-only steps (pulls) between two saves of the state; server writes save at once.
const SAVE_EVERY: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("watching the folder failed")]
    Watch(#[from] notify::Error),
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Upload binary files (images, PDFs) as attachments instead of ignoring them.
    pub attachments: bool,
}

/// What a round did.
#[derive(Debug, Default)]
pub struct Report {
    pub pulled: usize,
    pub pushed: usize,
    pub created: usize,
    pub renamed: usize,
    pub deleted: usize,
    pub merged: usize,
    /// Conflict copies made (their paths).
    pub conflicts: Vec<String>,
    /// Files left alone, each reported once per [`Syncer`].
    pub ignored: Vec<String>,
    /// Documents the server refused (too big, bad path), with its reason, once each.
    pub refused: Vec<String>,
    /// Attachments uploaded.
    pub attached: usize,
    /// Changes put off to the next round (someone wrote in between).
    pub deferred: usize,
}

impl Report {
    /// The round changed something on either side.
    pub fn changed(&self) -> bool {
        self.pulled
            + self.pushed
            + self.created
            + self.renamed
            + self.deleted
            + self.merged
            + self.attached
            + self.conflicts.len()
            > 0
    }
}

/// The server side of a document that changed there: its content now, or gone.
pub(crate) type RemoteChanges = BTreeMap<FileId, Option<File>>;

/// A folder synced with a project.
#[derive(Debug)]
pub struct Syncer {
    pub(crate) client: Client,
    pub(crate) dir: PathBuf,
    pub(crate) store: Store,
    pub(crate) state: State,
    pub(crate) options: Options,
    /// Paths already reported as ignored or refused.
    pub(crate) reported: HashSet<String>,
    pub(crate) unsaved: usize,
    /// A create or a move found its path taken by a document this folder has not seen: list
    /// everything again next round.
    pub(crate) relist: bool,
}

impl Syncer {
    /// Open `dir` (created when missing) for syncing with the client's project on `server`.
    pub fn open(
        dir: &Path,
        client: Client,
        server: &str,
        options: Options,
    ) -> Result<Self, SyncError> {
        std::fs::create_dir_all(dir).map_err(|source| StateError::Io {
            op: "create",
            path: dir.to_owned(),
            source,
        })?;
        // Absolute, as filesystem notifications name paths.
        let dir = &std::fs::canonicalize(dir).map_err(|source| StateError::Io {
            op: "resolve",
            path: dir.to_owned(),
            source,
        })?;
        let store = Store::new(dir);
        store.clean_tmp()?;
        let state = store.load(server, client.project())?;
        Ok(Self {
            client,
            dir: dir.to_owned(),
            store,
            state,
            options,
            reported: HashSet::new(),
            unsaved: 0,
            relist: false,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The saved state (what the last round left).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Run one round.
    pub async fn round(&mut self) -> Result<Report, SyncError> {
        let (remote, cursor) = self.remote().await?;
        let scan = local::scan(&self.dir)?;
        let start_cursor = self.state.cursor.clone();
        let mut work = Work::default();
        // Local paths spoken for: tracked documents, their moves, remote creations.
        let mut claimed = self.reconcile_tracked(&remote, &scan, &mut work).await?;
        self.pull_created(&remote, &mut claimed, &mut work)?;
        let Work {
            mut report,
            mut to_create,
        } = work;
        for (path, doc) in &scan.docs {
            if !claimed.contains(path) {
                to_create.push((path.clone(), doc.content.clone()));
            }
        }
        self.push_created(to_create, start_cursor.as_deref(), &mut report)
            .await?;
        self.others(&scan, &mut report).await?;
        self.state.cursor = if std::mem::take(&mut self.relist) {
            None
        } else {
            Some(cursor)
        };
        self.save()?;
        Ok(report)
    }

    pub(crate) fn is_tracked_path(&self, path: &str) -> bool {
        self.state.files.values().any(|t| t.path == path)
    }

    /// What changed on the server (documents in dot-folders, or at paths this folder cannot
    /// hold, count as gone), and the cursor
    /// every change up to which that covers.
    async fn remote(&mut self) -> Result<(RemoteChanges, String), SyncError> {
        if let Some(cursor) = self.state.cursor.clone() {
            match self.feed(Some(&cursor)).await {
                Ok((ids, next)) => {
                    let mut changed = RemoteChanges::new();
                    for (id, (revision, path)) in ids {
                        let known = self.state.files.get(&id);
                        if known.is_some_and(|t| t.revision >= revision && t.path == path) {
                            continue; // this folder's own write
                        }
                        changed.insert(id, self.fetch(id).await?);
                    }
                    return Ok((changed, next));
                }
                Err(ClientError::CursorExpired) => {
                    tracing::info!("the change feed was compacted past the cursor: listing again");
                }
                Err(e) => return Err(e.into()),
            }
        }
        // First the feed's head, then the list: a change in between is seen again next time.
        let (_, cursor) = self.feed(None).await?;
        let mut changed = RemoteChanges::new();
        let mut live = HashSet::new();
        for meta in self.client.list().await? {
            live.insert(meta.id);
            let known = self.state.files.get(&meta.id);
            if known.is_some_and(|t| t.revision == meta.revision && t.path == meta.path) {
                continue;
            }
            changed.insert(meta.id, self.fetch(meta.id).await?);
        }
        for id in self.state.files.keys() {
            if !live.contains(id) {
                changed.insert(*id, None);
            }
        }
        Ok((changed, cursor))
    }

    async fn fetch(&self, id: FileId) -> Result<Option<File>, ClientError> {
        Ok(self
            .client
            .get(id)
            .await?
            .filter(|f| local::syncable(&f.meta.path)))
    }

    /// Read the feed to its end: the latest (revision, path) of every document in it.
    async fn feed(
        &self,
        mut cursor: Option<&str>,
    ) -> Result<(BTreeMap<FileId, (i64, String)>, String), ClientError> {
        let mut ids = BTreeMap::new();
        let mut owned;
        loop {
            let page = self.client.changes(cursor).await?;
            for change in page.items {
                if !change.kind.starts_with("attachment") {
                    ids.insert(FileId::from(change.id), (change.revision, change.path));
                }
            }
            if !page.has_more {
                return Ok((ids, page.cursor));
            }
            owned = page.cursor;
            cursor = Some(&owned);
        }
    }

    /// Record a document as synced at `revision` with `text` (state saved now and then).
    pub(crate) fn track(
        &mut self,
        id: FileId,
        path: &str,
        revision: i64,
        text: &str,
    ) -> Result<(), SyncError> {
        self.store.put_base(id, text)?;
        self.state.files.insert(
            id,
            Tracked {
                path: path.to_owned(),
                revision,
                hash: hash(text.as_bytes()),
            },
        );
        self.note_change()
    }

    pub(crate) fn untrack(&mut self, id: FileId) -> Result<(), SyncError> {
        self.state.files.remove(&id);
        self.store.save(&self.state)?;
        self.store.drop_base(id)?;
        Ok(())
    }

    fn note_change(&mut self) -> Result<(), SyncError> {
        self.unsaved += 1;
        if self.unsaved >= SAVE_EVERY {
            self.save()?;
        }
        Ok(())
    }

    /// Save the state now (after every server write).
    pub(crate) fn save(&mut self) -> Result<(), SyncError> {
        self.store.save(&self.state)?;
        self.unsaved = 0;
        Ok(())
    }

    /// Write a document into the folder (atomically).
    pub(crate) fn write_local(&self, path: &str, text: &str) -> Result<(), SyncError> {
        Ok(self
            .store
            .write(&local::on_disk(&self.dir, path), text.as_bytes())?)
    }

    /// Report a path once per syncer.
    pub(crate) fn once(&mut self, list: &mut Vec<String>, path: &str, line: String) {
        if self.reported.insert(path.to_owned()) {
            list.push(line);
        }
    }
}

/// A deterministic `Idempotency-Key`: the same write of the same text from the same starting
/// point always sends the same key.
pub(crate) fn idempotency_key(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    format!("mdz-sync-{}", hex::encode(&h.finalize()[..24]))
}
