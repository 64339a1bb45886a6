//! `mdz backup`: one snapshot of every table (COPY, one `REPEATABLE READ, READ ONLY`
//! transaction) and then the attachment objects it references, streamed into a zip: a chunk
//! is written as it arrives, so memory stays flat whatever the instance's size.

use super::progress::Progress;
use super::target::{Missing, Target};
use super::{
    BackupError, BlobEntry, FORMAT, FORMAT_VERSION, MANIFEST_ENTRY, Manifest, TableEntry, catalog,
    ident,
};
use futures_util::{StreamExt, pin_mut};
use mdz_core::config::Config;
use mdz_files::attachments::store::BlobStore;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio::task::block_in_place;
use tokio_postgres::Client;
use zip::ZipWriter;
use zip::write::{SimpleFileOptions, StreamWriter};

/// Where the backup goes.
#[derive(Debug, Clone)]
pub enum Output {
    /// Written beside it under a temporary name (mode 0600: it holds password hashes) and
    /// renamed into place once complete and synced.
    File(PathBuf),
    Stdout,
}

#[derive(Debug, Clone, Copy)]
pub struct BackupSummary {
    pub tables: usize,
    pub rows: u64,
    pub blobs: usize,
    pub blob_bytes: u64,
    pub missing_blobs: usize,
}

type Zip = ZipWriter<StreamWriter<Box<dyn Write + Send>>>;

/// Back up the configured instance (safe while it serves).
pub async fn backup(config: &Config, output: &Output) -> Result<BackupSummary, BackupError> {
    let target = Target::open(config, Missing::Refuse).await?;
    let result = backup_from(&target, output).await;
    target.close().await;
    result
}

async fn backup_from(target: &Target, output: &Output) -> Result<BackupSummary, BackupError> {
    let (writer, partial) = open_output(output)?;
    let mut zip = ZipWriter::new_stream(writer);
    let manifest = write_contents(target, &mut zip).await?;
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BackupError::io("encoding the manifest")(e.into()))?;
    block_in_place(|| -> Result<(), BackupError> {
        zip.start_file(MANIFEST_ENTRY, deflated())
            .map_err(BackupError::Zip)?;
        zip.write_all(&json)
            .map_err(BackupError::io("writing the backup"))?;
        let mut out = zip.finish().map_err(BackupError::Zip)?;
        out.flush().map_err(BackupError::io("writing the backup"))
    })?;
    if let Some(partial) = partial {
        partial.persist()?;
    }
    Ok(BackupSummary {
        tables: manifest.tables.len(),
        rows: manifest.tables.iter().map(|t| t.rows).sum(),
        blobs: manifest.blobs.len(),
        blob_bytes: manifest.blobs.iter().map(|b| b.size).sum(),
        missing_blobs: manifest.missing_blobs.len(),
    })
}

async fn write_contents(target: &Target, zip: &mut Zip) -> Result<Manifest, BackupError> {
    let client = target.client().await?;
    // The tables are locked (ACCESS SHARE) before the snapshot is taken: a TRUNCATE or a
    // rewriting ALTER TABLE is not MVCC-safe, and one committed between the snapshot and a
    // table's COPY would leave that table empty in the backup. LOCK takes no snapshot; the
    // first query after it does, and must list the same tables.
    let listed = catalog::tables(&client).await?;
    let names: Vec<String> = listed.iter().map(|t| ident(t)).collect();
    client
        .batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; LOCK TABLE {} IN ACCESS SHARE MODE",
            names.join(", ")
        ))
        .await
        .map_err(BackupError::query("starting the snapshot"))?;
    let migrations = catalog::applied_migrations(&client).await?;
    let tables = catalog::tables(&client).await?;
    if tables != listed {
        return Err(BackupError::Config(
            "the schema changed while the backup started (a migration ran?); try again".into(),
        ));
    }
    let sequences = catalog::sequences(&client).await?;
    let mut progress = Progress::new();
    let mut entries = Vec::with_capacity(tables.len());
    for table in &tables {
        entries.push(copy_table(&client, zip, table, &mut progress).await?);
    }
    let attachments = ready_attachments(&client).await?;
    client
        .batch_execute("COMMIT")
        .await
        .map_err(BackupError::query("ending the snapshot"))?;
    let mut blobs = Vec::with_capacity(attachments.len());
    let mut missing_blobs = Vec::new();
    for key in attachments {
        let entry = format!("blobs/{:08}", blobs.len());
        match copy_blob(&*target.store, zip, &key, &entry, &mut progress).await? {
            Some(blob) => blobs.push(blob),
            None => {
                tracing::warn!(key = %key, "an attachment's object is gone (deleted after the snapshot?); left out");
                missing_blobs.push(key);
            }
        }
    }
    progress.finish("backup");
    Ok(Manifest {
        format: FORMAT.to_owned(),
        format_version: FORMAT_VERSION,
        mdz_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: chrono::Utc::now(),
        migrations,
        tables: entries,
        sequences,
        blobs,
        missing_blobs,
        excluded_tables: catalog::EXCLUDED.iter().map(|t| (*t).to_owned()).collect(),
    })
}

fn deflated() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1))
        .large_file(true)
}

fn stored() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true)
}

async fn copy_table(
    client: &Client,
    zip: &mut Zip,
    table: &str,
    progress: &mut Progress,
) -> Result<TableEntry, BackupError> {
    let columns = catalog::columns(client, table).await?;
    let list: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    let sql = format!("COPY {} ({}) TO STDOUT", ident(table), list.join(", "));
    let stream = client
        .copy_out(sql.as_str())
        .await
        .map_err(BackupError::query(format!("copying {table}")))?;
    pin_mut!(stream);
    let entry = format!("tables/{table}.copy");
    block_in_place(|| zip.start_file(entry.as_str(), deflated())).map_err(BackupError::Zip)?;
    let mut hasher = Sha256::new();
    let (mut rows, mut bytes) = (0u64, 0u64);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(BackupError::query(format!("copying {table}")))?;
        // The text format escapes newlines inside values: one line is one row.
        rows += bytecount(&chunk);
        bytes += chunk.len() as u64;
        hasher.update(&chunk);
        block_in_place(|| zip.write_all(&chunk)).map_err(BackupError::io("writing the backup"))?;
        progress.advance(chunk.len(), || format!("backup: table {table}"));
    }
    Ok(TableEntry {
        name: table.to_owned(),
        entry,
        columns,
        rows,
        bytes,
        sha256: hex::encode(hasher.finalize()),
    })
}

fn bytecount(chunk: &[u8]) -> u64 {
    chunk.iter().filter(|b| **b == b'\n').count() as u64
}

/// Keys of the attachments whose upload completed, in the snapshot.
async fn ready_attachments(client: &Client) -> Result<Vec<String>, BackupError> {
    let rows = client
        .query(
            "SELECT object_key FROM attachments WHERE ready ORDER BY object_key",
            &[],
        )
        .await
        .map_err(BackupError::query("listing the attachments"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

async fn copy_blob(
    store: &dyn BlobStore,
    zip: &mut Zip,
    key: &str,
    entry: &str,
    progress: &mut Progress,
) -> Result<Option<BlobEntry>, BackupError> {
    let Some(chunks) = store
        .read(key)
        .await
        .map_err(BackupError::store(format!("reading {key}")))?
    else {
        return Ok(None);
    };
    pin_mut!(chunks);
    block_in_place(|| zip.start_file(entry, stored())).map_err(BackupError::Zip)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(BackupError::store(format!("reading {key}")))?;
        size += chunk.len() as u64;
        hasher.update(&chunk);
        block_in_place(|| zip.write_all(&chunk)).map_err(BackupError::io("writing the backup"))?;
        progress.advance(chunk.len(), || format!("backup: attachment {key}"));
    }
    Ok(Some(BlobEntry {
        key: key.to_owned(),
        entry: entry.to_owned(),
        size,
        sha256: hex::encode(hasher.finalize()),
    }))
}

/// A backup file being written: removed if dropped before [`Partial::persist`].
struct Partial {
    temp: Option<PathBuf>,
    path: PathBuf,
}

impl Partial {
    /// Sync the data and rename the file into place.
    fn persist(mut self) -> Result<(), BackupError> {
        let Some(temp) = self.temp.take() else {
            return Ok(());
        };
        let done = std::fs::File::open(&temp)
            .and_then(|f| f.sync_all())
            .and_then(|()| std::fs::rename(&temp, &self.path));
        if done.is_err() {
            drop(std::fs::remove_file(&temp));
        }
        done.map_err(BackupError::io(format!("saving {}", self.path.display())))
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            drop(std::fs::remove_file(temp));
        }
    }
}

type Opened = (Box<dyn Write + Send>, Option<Partial>);

/// `mdz backup - > FILE` creates FILE with the shell's umask (often 0644), while the backup
/// holds password and token hashes: say so when stdout is a file others may read.
fn warn_if_others_can_read_stdout() {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata("/proc/self/fd/1") else {
        return;
    };
    let mode = meta.permissions().mode();
    if meta.is_file() && mode & 0o077 != 0 {
        tracing::warn!(
            mode = format!("{:o}", mode & 0o777),
            "the backup holds password and token hashes, and the file it goes to can be \
             read by others: chmod 600 it"
        );
    }
}

fn open_output(output: &Output) -> Result<Opened, BackupError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = match output {
        Output::Stdout => {
            warn_if_others_can_read_stdout();
            let out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout());
            return Ok((Box::new(out), None));
        }
        Output::File(path) => path,
    };
    let name = path
        .file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy();
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = dir.join(format!(".{name}.{}.partial", uuid::Uuid::new_v4().simple()));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(BackupError::io(format!("creating {}", temp.display())))?;
    let partial = Partial {
        temp: Some(temp),
        path: path.clone(),
    };
    let writer = std::io::BufWriter::with_capacity(256 * 1024, file);
    Ok((Box::new(writer), Some(partial)))
}
