//! Putting a backup's attachment objects back: each entry is read on the blocking pool and
//! streamed into the store 64 KiB at a time (S3: in 8 MiB parts), checked against the
//! manifest's size and SHA-256 as it goes, so memory stays flat whatever the object's size
//! and a damaged object never becomes a stored one.

use super::{BackupError, BlobEntry, Manifest};
use bytes::Bytes;
use futures_util::StreamExt;
use mdz_files::attachments::store::{BlobChunks, BlobStore, StoreError};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};
use zip::ZipArchive;

/// Bytes read from the backup per chunk.
const CHUNK: usize = 64 * 1024;
/// Chunks in flight between the reader and the store.
const IN_FLIGHT: usize = 4;

/// The backup file, shared: each clone reads at its own position (`pread`), so a clone of
/// the archive (which shares its parsed directory) can read an entry on another thread.
#[derive(Debug, Clone)]
pub struct SharedFile {
    file: Arc<File>,
    pos: u64,
    len: u64,
}

impl SharedFile {
    pub fn new(file: File) -> std::io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Self {
            file: Arc::new(file),
            pos: 0,
            len,
        })
    }
}

impl Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        Ok(self.pos)
    }
}

pub type Archive = ZipArchive<SharedFile>;

/// Store every object of the manifest; `written` collects the keys stored that were not in
/// the store before, for the caller to remove if anything later fails.
pub async fn restore_blobs(
    archive: &Archive,
    manifest: &Manifest,
    store: &dyn BlobStore,
    written: &mut Vec<String>,
) -> Result<(), BackupError> {
    for blob in &manifest.blobs {
        // An object the store already has (the same instance's, keys are never reused) is
        // overwritten but not removed on failure: it may be the live instance's.
        let existed = store
            .size_of(&blob.key)
            .await
            .map_err(BackupError::store(format!("looking for {}", blob.key)))?
            .is_some();
        let verdict = Arc::new(Mutex::new(None));
        let chunks = entry_chunks(archive.clone(), blob.clone(), verdict.clone());
        let stored = store
            .put_stream(&blob.key, "application/octet-stream", blob.size, chunks)
            .await;
        // The reader's own finding (a damaged entry) says more than the store's failure.
        if let Some(e) = verdict.lock().ok().and_then(|mut v| v.take()) {
            return Err(e);
        }
        stored.map_err(BackupError::store(format!("storing {}", blob.key)))?;
        if !existed {
            written.push(blob.key.clone());
        }
    }
    Ok(())
}

/// The entry's bytes as a stream; a damaged entry ends it with an error, its cause left in
/// `verdict`.
fn entry_chunks(
    mut archive: Archive,
    blob: BlobEntry,
    verdict: Arc<Mutex<Option<BackupError>>>,
) -> BlobChunks {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, StoreError>>(IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = read_entry(&mut archive, &blob, &tx) {
            let said = e.to_string();
            if let Ok(mut v) = verdict.lock() {
                *v = Some(e);
            }
            drop(tx.blocking_send(Err(StoreError::Unavailable(said))));
        }
    });
    tokio_stream_from(rx)
}

fn tokio_stream_from(rx: tokio::sync::mpsc::Receiver<Result<Bytes, StoreError>>) -> BlobChunks {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .boxed()
}

/// Send the entry's bytes; fails (before the last chunk goes) when they are not the
/// manifest's.
fn read_entry(
    archive: &mut Archive,
    blob: &BlobEntry,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, StoreError>>,
) -> Result<(), BackupError> {
    let mut entry = archive
        .by_name(&blob.entry)
        .map_err(|cause| BackupError::DamagedEntry {
            entry: blob.entry.clone(),
            cause,
        })?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut pending: Option<Bytes> = None;
    loop {
        let mut buf = vec![0u8; CHUNK];
        let n = entry
            .read(&mut buf)
            .map_err(|cause| BackupError::CorruptEntry {
                entry: blob.entry.clone(),
                cause,
            })?;
        if n == 0 {
            break;
        }
        buf.truncate(n);
        hasher.update(&buf);
        size += n as u64;
        if size > blob.size {
            break;
        }
        // Hold one chunk back: the last goes only once the whole entry checked out.
        if let Some(chunk) = pending.replace(Bytes::from(buf))
            && tx.blocking_send(Ok(chunk)).is_err()
        {
            return Ok(()); // the store stopped reading; it reports why
        }
    }
    if size != blob.size || hex::encode(hasher.finalize()) != blob.sha256 {
        return Err(BackupError::Corrupt(format!(
            "attachment {} differs from its manifest",
            blob.key
        )));
    }
    if let Some(chunk) = pending {
        drop(tx.blocking_send(Ok(chunk)));
    }
    Ok(())
}
