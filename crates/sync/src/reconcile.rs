//! Settling each document between the folder and the server (see [`crate::round`]).

use crate::client::ClientError;
use crate::local::{self, Scan};
use crate::merge::{Merge, merge3};
use crate::round::{RemoteChanges, Report, SyncError, Syncer, idempotency_key};
use crate::state::{StateError, Tracked, hash};
use mdz_core::ids::FileId;
use mdz_files::interface::File;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What a round does besides settling documents one by one.
#[derive(Debug, Default)]
pub(crate) struct Work {
    pub report: Report,
    /// New documents to create on the server: (path, text).
    pub to_create: Vec<(String, String)>,
}

/// The server's side of a tracked document.
struct RemoteDoc {
    path: String,
    revision: i64,
    /// `None`: the base text (unchanged there).
    content: Option<String>,
}

impl Syncer {
    /// Settle every tracked document; the local paths they (and their renames) occupy.
    pub(crate) async fn reconcile_tracked(
        &mut self,
        remote: &RemoteChanges,
        scan: &Scan,
        work: &mut Work,
    ) -> Result<HashSet<String>, SyncError> {
        let mut claimed: HashSet<String> =
            self.state.files.values().map(|t| t.path.clone()).collect();
        // A tracked document missing at its path whose exact text sits at a new, untracked
        // path was moved there (a move that also edits is a delete and a create).
        let mut by_hash: HashMap<&str, Vec<&str>> = HashMap::new();
        for (path, doc) in &scan.docs {
            if !claimed.contains(path) {
                by_hash.entry(&doc.hash).or_default().push(path);
            }
        }
        let mut moved: BTreeMap<FileId, String> = BTreeMap::new();
        for (id, t) in &self.state.files {
            if !scan.docs.contains_key(&t.path)
                && let Some(path) = by_hash.get_mut(t.hash.as_str()).and_then(Vec::pop)
            {
                moved.insert(*id, path.to_owned());
            }
        }
        claimed.extend(moved.values().cloned());
        let tracked: Vec<(FileId, Tracked)> = self
            .state
            .files
            .iter()
            .map(|(id, t)| (*id, t.clone()))
            .collect();
        for (id, t) in tracked {
            let path = moved
                .get(&id)
                .cloned()
                .or_else(|| scan.docs.contains_key(&t.path).then(|| t.path.clone()));
            let local = path.and_then(|p| scan.docs.get(&p).map(|d| (p, d.content.clone())));
            let remote = match remote.get(&id) {
                None => Some(RemoteDoc {
                    path: t.path.clone(),
                    revision: t.revision,
                    content: None,
                }),
                Some(None) => None,
                Some(Some(file)) => Some(remote_doc(file)),
            };
            match (local, remote) {
                (local, None) => self.gone_remotely(id, &t, local, work).await?,
                (None, Some(remote)) => self.gone_locally(id, &t, remote, work).await?,
                (Some((path, text)), Some(remote)) => {
                    if let Some(remote) = self.settle_path(id, &t, &path, remote, work).await? {
                        self.settle_content(id, &t, &text, remote, work).await?;
                    }
                }
            }
        }
        Ok(claimed)
    }

    /// Trashed or purged on the server: delete here, unless edited here since (then it comes
    /// back as a new document: an edit is never dropped).
    async fn gone_remotely(
        &mut self,
        id: FileId,
        t: &Tracked,
        local: Option<(String, String)>,
        work: &mut Work,
    ) -> Result<(), SyncError> {
        if let Some((path, text)) = local {
            if hash(text.as_bytes()) == t.hash {
                self.remove_local(&path)?;
                work.report.deleted += 1;
            } else {
                work.to_create.push((path, text));
            }
        }
        self.untrack(id)
    }

    /// Deleted here: to the server's trash, unless edited there since (then it comes back).
    async fn gone_locally(
        &mut self,
        id: FileId,
        t: &Tracked,
        remote: RemoteDoc,
        work: &mut Work,
    ) -> Result<(), SyncError> {
        let Some(text) = remote.content.filter(|c| hash(c.as_bytes()) != t.hash) else {
            self.client.trash(id).await?;
            work.report.deleted += 1;
            return self.untrack(id);
        };
        if local::on_disk(&self.dir, &remote.path).exists() {
            work.report.deferred += 1;
            return Ok(());
        }
        self.write_local(&remote.path, &text)?;
        self.track(id, &remote.path, remote.revision, &text)?;
        work.report.pulled += 1;
        Ok(())
    }

    /// Moved here: move it on the server. Moved there (or on both sides): move it here. `None`
    /// when the move has to wait (the path is taken).
    async fn settle_path(
        &mut self,
        id: FileId,
        t: &Tracked,
        path: &str,
        remote: RemoteDoc,
        work: &mut Work,
    ) -> Result<Option<RemoteDoc>, SyncError> {
        if path != t.path && remote.path == t.path {
            return match self.client.rename(id, path).await {
                Ok(file) => {
                    self.set_path(id, &file.meta.path)?;
                    self.save()?;
                    work.report.renamed += 1;
                    Ok(Some(remote_doc(&file)))
                }
                Err(ClientError::PathTaken) => {
                    self.relist = true;
                    work.report.deferred += 1;
                    Ok(None)
                }
                Err(e) if e.is_refusal() => {
                    self.once(&mut work.report.refused, path, format!("{path}: {e}"));
                    Ok(None)
                }
                Err(e) => Err(e.into()),
            };
        }
        if path != remote.path {
            let from = local::on_disk(&self.dir, path);
            let to = local::on_disk(&self.dir, &remote.path);
            if to.exists() {
                work.report.deferred += 1;
                return Ok(None);
            }
            let io = |op, p: &std::path::Path| {
                let path = p.to_owned();
                move |source| StateError::Io { op, path, source }
            };
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(io("create", parent))?;
            }
            std::fs::rename(&from, &to).map_err(io("move", &from))?;
            self.prune_dirs(path);
            self.set_path(id, &remote.path)?;
            work.report.renamed += 1;
        }
        Ok(Some(remote))
    }

    fn set_path(&mut self, id: FileId, path: &str) -> Result<(), SyncError> {
        if let Some(t) = self.state.files.get_mut(&id) {
            path.clone_into(&mut t.path);
        }
        self.save()
    }

    /// The text: pushed, pulled, merged, or on a clash the server's kept and this folder's
    /// saved next to it as a conflict copy (on both sides).
    async fn settle_content(
        &mut self,
        id: FileId,
        t: &Tracked,
        text: &str,
        remote: RemoteDoc,
        work: &mut Work,
    ) -> Result<(), SyncError> {
        let ours = hash(text.as_bytes());
        let theirs = remote
            .content
            .as_deref()
            .map_or_else(|| t.hash.clone(), |c| hash(c.as_bytes()));
        let path = remote.path.clone();
        if ours == theirs {
            if ours != t.hash || remote.revision != t.revision {
                self.track(id, &path, remote.revision, text)?;
            }
            return Ok(());
        }
        if theirs == t.hash {
            self.push(id, &path, remote.revision, text, work).await?;
            return Ok(());
        }
        let Some(their_text) = remote.content else {
            return Ok(()); // unreachable: unchanged there means theirs == base
        };
        if ours == t.hash {
            self.write_local(&path, &their_text)?;
            self.track(id, &path, remote.revision, &their_text)?;
            work.report.pulled += 1;
            return Ok(());
        }
        let base = self.store.base(id)?;
        match merge3(&base, text, &their_text) {
            Merge::Clean(merged) => {
                self.write_local(&path, &merged)?;
                // The server's text is the base now: a round killed from here on pushes the
                // merged text again, from the same revision, with the same key.
                self.track(id, &path, remote.revision, &their_text)?;
                self.save()?;
                if self.push(id, &path, remote.revision, &merged, work).await? {
                    work.report.pushed -= 1;
                    work.report.merged += 1;
                }
            }
            Merge::Conflict => {
                let copy = self.conflict_name(&path);
                self.write_local(&copy, text)?;
                self.write_local(&path, &their_text)?;
                self.track(id, &path, remote.revision, &their_text)?;
                self.save()?;
                work.report.conflicts.push(copy.clone());
                work.to_create.push((copy, text.to_owned()));
            }
        }
        Ok(())
    }

    /// Save `text` over `revision`; false when someone saved in between (the next round sees
    /// their change and merges).
    async fn push(
        &mut self,
        id: FileId,
        path: &str,
        revision: i64,
        text: &str,
        work: &mut Work,
    ) -> Result<bool, SyncError> {
        let key = idempotency_key(&[
            "put",
            &id.to_string(),
            &revision.to_string(),
            &hash(text.as_bytes()),
        ]);
        match self.client.save(id, text, revision, &key).await {
            Ok(revision) => {
                self.track(id, path, revision, text)?;
                self.save()?;
                work.report.pushed += 1;
                Ok(true)
            }
            Err(ClientError::Precondition) => {
                work.report.deferred += 1;
                Ok(false)
            }
            Err(e) if e.is_refusal() => {
                self.once(&mut work.report.refused, path, format!("{path}: {e}"));
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Documents created on the server: written here; a different local file at the same
    /// path becomes a conflict copy.
    pub(crate) fn pull_created(
        &mut self,
        remote: &RemoteChanges,
        claimed: &mut HashSet<String>,
        work: &mut Work,
    ) -> Result<(), SyncError> {
        for (id, file) in remote {
            let Some(file) = file else { continue };
            if self.state.files.contains_key(id) {
                continue;
            }
            let path = &file.meta.path;
            claimed.insert(path.clone());
            let disk = local::on_disk(&self.dir, path);
            match std::fs::read_to_string(&disk).ok() {
                None if disk.exists() => {
                    self.once(
                        &mut work.report.refused,
                        path,
                        format!("{path}: a file that is not a text document is in the way"),
                    );
                    continue;
                }
                None => {
                    self.write_local(path, &file.content)?;
                    work.report.pulled += 1;
                }
                Some(text) if text == file.content => {}
                Some(text) => {
                    let copy = self.conflict_name(path);
                    self.write_local(&copy, &text)?;
                    self.write_local(path, &file.content)?;
                    work.report.conflicts.push(copy.clone());
                    work.to_create.push((copy, text));
                }
            }
            self.track(*id, path, file.meta.revision, &file.content)?;
        }
        Ok(())
    }

    /// Create new documents on the server. The key is derived from the path, the text and
    /// the cursor the round started from, so a round run again after a kill replays it.
    pub(crate) async fn push_created(
        &mut self,
        to_create: Vec<(String, String)>,
        cursor: Option<&str>,
        report: &mut Report,
    ) -> Result<(), SyncError> {
        let project = self.client.project().to_string();
        for (path, text) in to_create {
            let key = idempotency_key(&[
                "post",
                &project,
                &path,
                &hash(text.as_bytes()),
                cursor.unwrap_or(""),
            ]);
            match self.client.create(&path, &text, &key).await {
                Ok(file) => {
                    self.track(file.meta.id, &file.meta.path, file.meta.revision, &text)?;
                    self.save()?;
                    report.created += 1;
                }
                Err(ClientError::PathTaken) => {
                    self.relist = true;
                    report.deferred += 1;
                }
                Err(e) if e.is_refusal() => {
                    self.once(&mut report.refused, &path, format!("{path}: {e}"));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// `notes/plan (conflict 2026-05-01 1432).md` (UTC), numbered when taken.
    fn conflict_name(&self, path: &str) -> String {
        let stem = path.get(..path.len().saturating_sub(3)).unwrap_or(path);
        let stamp = chrono::Utc::now().format("%Y-%m-%d %H%M");
        let mut name = format!("{stem} (conflict {stamp}).md");
        let mut n = 2;
        while local::on_disk(&self.dir, &name).exists() || self.is_tracked_path(&name) {
            name = format!("{stem} (conflict {stamp} {n}).md");
            n += 1;
        }
        name
    }

    fn remove_local(&self, path: &str) -> Result<(), SyncError> {
        let file = local::on_disk(&self.dir, path);
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StateError::Io {
                    op: "remove",
                    path: file,
                    source: e,
                }
                .into());
            }
            _ => {}
        }
        self.prune_dirs(path);
        Ok(())
    }

    /// Remove the folders of `path` that are empty now (best effort).
    fn prune_dirs(&self, path: &str) {
        let mut segments: Vec<&str> = path.split('/').collect();
        segments.pop();
        while !segments.is_empty() {
            if std::fs::remove_dir(local::on_disk(&self.dir, &segments.join("/"))).is_err() {
                return;
            }
            segments.pop();
        }
    }
}

fn remote_doc(file: &File) -> RemoteDoc {
    RemoteDoc {
        path: file.meta.path.clone(),
        revision: file.meta.revision,
        content: Some(file.content.clone()),
    }
}
