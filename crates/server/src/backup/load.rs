//! `mdz restore`: check the whole file's manifest first, refuse a target that holds data
//! (unless forced), migrate the empty database to the backup's schema, put the attachment
//! objects back, load every table in one transaction, then run the newer migrations.
//!
//! Nothing is half-written: the rows go in one transaction (a damaged entry, a checksum or a
//! row count that differs rolls it all back), and the objects stored before it are deleted
//! again when anything fails. A failed restore leaves an empty, migrated database.

use super::blobs::{Archive, SharedFile, restore_blobs};
use super::target::{Missing, Target};
use super::{
    BackupError, FORMAT, FORMAT_VERSION, MANIFEST_ENTRY, Manifest, TableEntry, catalog, ident,
};
use crate::embedded_pg::EmbeddedPostgres;
use bytes::Bytes;
use futures_util::{SinkExt, pin_mut};
use mdz_core::config::Config;
use mdz_files::attachments::store::BlobStore;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Read;
use std::path::Path;
use tokio::task::block_in_place;
use zip::ZipArchive;

/// The manifest is read whole: a larger one is not a backup this mdz wrote.
const MAX_MANIFEST_BYTES: u64 = 256 * 1024 * 1024;
/// Bytes read from the file per COPY message.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct RestoreSummary {
    pub tables: usize,
    pub rows: u64,
    pub blobs: usize,
    /// Migrations newer than the backup's schema that ran after the load.
    pub newer_migrations: usize,
    pub backup_created_at: chrono::DateTime<chrono::Utc>,
}

/// Restore the backup at `path` into the configured database and attachment store.
pub async fn restore(
    config: &Config,
    path: &Path,
    force: bool,
) -> Result<RestoreSummary, BackupError> {
    let (mut archive, manifest) = block_in_place(|| open(path))?;
    check_migrations(&manifest.migrations, &catalog::known_migrations()?)?;
    // Every entry is read and checked before the target is touched: `--force` empties it,
    // and a damaged file found only then would leave it empty.
    block_in_place(|| verify_entries(&mut archive, &manifest))?;
    if config.database_url.is_none()
        && EmbeddedPostgres::running(&config.data_dir, config.pg_bin_dir.as_deref())
            .await?
            .is_some()
    {
        // Its rooms, caches and index would write their old state back over the restore.
        return Err(BackupError::ServerRunning(format!(
            "a running mdz serves {}: stop it before restoring",
            config.data_dir.display()
        )));
    }
    let target = Target::open(config, Missing::Create).await?;
    let result = restore_into(&target, &mut archive, &manifest, force).await;
    target.close().await;
    result
}

/// Open the file and read and check its manifest against its entries.
pub fn open(path: &Path) -> Result<(Archive, Manifest), BackupError> {
    let file = File::open(path).map_err(BackupError::io(format!("opening {}", path.display())))?;
    let file =
        SharedFile::new(file).map_err(BackupError::io(format!("opening {}", path.display())))?;
    let mut archive = ZipArchive::new(file).map_err(BackupError::BrokenZip)?;
    let manifest = {
        let entry = archive.by_name(MANIFEST_ENTRY).map_err(|_| {
            BackupError::NotABackup(format!(
                "it has no {MANIFEST_ENTRY} (an mdz project export is imported through the \
                 API, not restored)"
            ))
        })?;
        let mut json = Vec::new();
        entry
            .take(MAX_MANIFEST_BYTES)
            .read_to_end(&mut json)
            .map_err(|cause| BackupError::CorruptEntry {
                entry: MANIFEST_ENTRY.to_owned(),
                cause,
            })?;
        serde_json::from_slice::<Manifest>(&json)
            .map_err(|e| BackupError::NotABackup(format!("its manifest does not parse: {e}")))?
    };
    validate(&manifest, &archive)?;
    Ok((archive, manifest))
}

/// Read every table and object entry once, checking its size and SHA-256 against the
/// manifest.
fn verify_entries(archive: &mut Archive, manifest: &Manifest) -> Result<(), BackupError> {
    let tables = manifest
        .tables
        .iter()
        .map(|t| (&t.entry, t.bytes, &t.sha256, format!("table {}", t.name)));
    let blobs = manifest
        .blobs
        .iter()
        .map(|b| (&b.entry, b.size, &b.sha256, format!("attachment {}", b.key)));
    let mut buf = vec![0u8; CHUNK];
    for (name, bytes, sha256, what) in tables.chain(blobs) {
        let damaged = |cause| BackupError::CorruptEntry {
            entry: name.clone(),
            cause,
        };
        let mut entry = archive
            .by_name(name)
            .map_err(|cause| BackupError::DamagedEntry {
                entry: name.clone(),
                cause,
            })?;
        let (mut hasher, mut size) = (Sha256::new(), 0_u64);
        loop {
            let n = entry.read(&mut buf).map_err(damaged)?;
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(&buf[..n]);
        }
        if size != bytes || hex::encode(hasher.finalize()) != *sha256 {
            return Err(BackupError::Corrupt(format!(
                "{what} differs from its manifest"
            )));
        }
    }
    Ok(())
}

fn validate(manifest: &Manifest, archive: &Archive) -> Result<(), BackupError> {
    let refuse = |why: String| Err(BackupError::NotABackup(why));
    if manifest.format != FORMAT {
        return refuse(format!(
            "its format is {:?}, not {FORMAT:?}",
            manifest.format
        ));
    }
    if manifest.format_version != FORMAT_VERSION {
        return refuse(format!(
            "it is format version {}; this mdz reads version {FORMAT_VERSION}",
            manifest.format_version
        ));
    }
    if manifest.migrations.is_empty() {
        return refuse("its manifest lists no migrations".into());
    }
    let entries = manifest
        .tables
        .iter()
        .map(|t| &t.entry)
        .chain(manifest.blobs.iter().map(|b| &b.entry));
    for entry in entries {
        if archive.index_for_name(entry).is_none() {
            return refuse(format!("its manifest lists {entry}, which the file lacks"));
        }
    }
    if let Some(t) = manifest.tables.iter().find(|t| t.columns.is_empty()) {
        return refuse(format!("table {} has no columns", t.name));
    }
    if let Some(b) = manifest.blobs.iter().find(|b| !sane_key(&b.key)) {
        return refuse(format!("attachment key {:?} is not one mdz makes", b.key));
    }
    Ok(())
}

/// Keys are `<project>/<attachment>`; anything odd is refused before it reaches a store.
fn sane_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 1024
        && !key.chars().any(char::is_control)
        && key
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

/// The backup's migrations must be the first of this binary's, in order.
fn check_migrations(backup: &[String], known: &[String]) -> Result<(), BackupError> {
    for (i, version) in backup.iter().enumerate() {
        if known.get(i) == Some(version) {
            continue;
        }
        if known.contains(version) {
            return Err(BackupError::NotABackup(format!(
                "its schema's migrations do not match this mdz's (at {version})"
            )));
        }
        return Err(BackupError::NewerSchema(version.clone()));
    }
    Ok(())
}

async fn restore_into(
    target: &Target,
    archive: &mut Archive,
    manifest: &Manifest,
    force: bool,
) -> Result<RestoreSummary, BackupError> {
    let mut client = target.client().await?;
    let last = manifest.migrations.last().map(String::as_str);
    prepare(&client, &*target.store, last, force).await?;
    catalog::migrate(&target.url, last).await?;
    same_tables(&client, manifest).await?;
    let mut written = Vec::new();
    let mut loaded = restore_blobs(archive, manifest, &*target.store, &mut written).await;
    if loaded.is_ok() {
        loaded = load_tables(&mut client, archive, manifest).await;
    }
    if let Err(e) = loaded {
        for key in &written {
            if let Err(cause) = target.store.delete(key).await {
                tracing::warn!(key = %key, error = %cause, "could not remove a restored object");
            }
        }
        return Err(e);
    }
    let newer_migrations = catalog::migrate(&target.url, None).await?;
    Ok(RestoreSummary {
        tables: manifest.tables.len(),
        rows: manifest.tables.iter().map(|t| t.rows).sum(),
        blobs: manifest.blobs.len(),
        newer_migrations,
        backup_created_at: manifest.created_at,
    })
}

/// Refuse a target holding accounts, projects or objects, or migrated past the backup's
/// schema, unless `force`, which drops the schema (every table of mdz) first. Objects already
/// in the store are left there (restored keys replace theirs).
async fn prepare(
    client: &tokio_postgres::Client,
    store: &dyn BlobStore,
    last: Option<&str>,
    force: bool,
) -> Result<(), BackupError> {
    let mut found = Vec::new();
    for table in ["users", "projects"] {
        let what = || format!("looking into {table}");
        let exists = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
            .await
            .map_err(BackupError::query(what()))?;
        if !exists.get::<_, bool>(0) {
            continue;
        }
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", ident(table));
        let rows = client
            .query_one(sql.as_str(), &[])
            .await
            .map_err(BackupError::query(what()))?;
        if rows.get::<_, bool>(0) {
            found.push(format!("{table} has rows"));
        }
    }
    if let Some(last) = last
        && newest_applied(client)
            .await?
            .is_some_and(|v| v.as_str() > last)
    {
        found.push("its schema is newer than the backup's".to_owned());
    }
    let empty_store = store
        .is_empty()
        .await
        .map_err(BackupError::store("looking into the store"))?;
    if !empty_store {
        found.push(format!(
            "the {} attachment store holds objects",
            store.kind()
        ));
    }
    if !found.is_empty() && !force {
        return Err(BackupError::NotEmpty(found.join("; ")));
    }
    if force {
        let schema = client
            .query_one("SELECT coalesce(current_schema(), 'public')", &[])
            .await
            .map_err(BackupError::query("reading the schema's name"))?;
        let schema = ident(&schema.get::<_, String>(0));
        tracing::warn!(%schema, "--force: dropping every table of the target");
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
            ))
            .await
            .map_err(BackupError::query("emptying the target (--force)"))?;
    }
    Ok(())
}

/// The manifest must list exactly the tables (and columns) the schema has at the backup's
/// version, less the excluded ones: a backup missing a table is not restored in part.
async fn same_tables(
    client: &tokio_postgres::Client,
    manifest: &Manifest,
) -> Result<(), BackupError> {
    let mut schema = catalog::tables(client).await?;
    let mut listed: Vec<String> = manifest.tables.iter().map(|t| t.name.clone()).collect();
    schema.sort();
    listed.sort();
    if schema != listed {
        return Err(BackupError::NotABackup(format!(
            "its tables {listed:?} are not those of its schema {schema:?}"
        )));
    }
    for table in &manifest.tables {
        if catalog::columns(client, &table.name).await? != table.columns {
            return Err(BackupError::NotABackup(format!(
                "the columns of table {} are not those of its schema",
                table.name
            )));
        }
    }
    Ok(())
}

/// The newest migration applied to the target, if it has any.
async fn newest_applied(client: &tokio_postgres::Client) -> Result<Option<String>, BackupError> {
    let what = "reading the applied migrations";
    let exists = client
        .query_one(
            "SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL",
            &[],
        )
        .await
        .map_err(BackupError::query(what))?;
    if !exists.get::<_, bool>(0) {
        return Ok(None);
    }
    let row = client
        .query_one(
            "SELECT max(version)::text FROM __diesel_schema_migrations",
            &[],
        )
        .await
        .map_err(BackupError::query(what))?;
    Ok(row.get(0))
}

/// Every table in one transaction, user triggers off (the rows are already what the
/// triggers made), foreign keys checked; then the sequences.
async fn load_tables(
    client: &mut tokio_postgres::Client,
    archive: &mut Archive,
    manifest: &Manifest,
) -> Result<(), BackupError> {
    let tx = client
        .transaction()
        .await
        .map_err(BackupError::query("starting the load"))?;
    let names: Vec<String> = manifest.tables.iter().map(|t| ident(&t.name)).collect();
    let mut prologue = format!("TRUNCATE {} CASCADE;", names.join(", "));
    for name in &names {
        prologue.push_str(&format!("ALTER TABLE {name} DISABLE TRIGGER USER;"));
    }
    tx.batch_execute(&prologue)
        .await
        .map_err(BackupError::query("preparing the tables"))?;
    for table in &manifest.tables {
        copy_in(&tx, archive, table).await?;
    }
    for seq in &manifest.sequences {
        tx.execute(
            "SELECT setval($1::text::regclass, $2)",
            &[&ident(&seq.name), &seq.value],
        )
        .await
        .map_err(BackupError::query(format!("setting sequence {}", seq.name)))?;
    }
    let epilogue: String = names
        .iter()
        .map(|n| format!("ALTER TABLE {n} ENABLE TRIGGER USER;"))
        .collect();
    tx.batch_execute(&epilogue)
        .await
        .map_err(BackupError::query("re-enabling the triggers"))?;
    tx.commit()
        .await
        .map_err(BackupError::query("committing the load"))
}

async fn copy_in(
    tx: &tokio_postgres::Transaction<'_>,
    archive: &mut Archive,
    table: &TableEntry,
) -> Result<(), BackupError> {
    let columns: Vec<String> = table.columns.iter().map(|c| ident(c)).collect();
    let sql = format!(
        "COPY {} ({}) FROM STDIN",
        ident(&table.name),
        columns.join(", ")
    );
    let what = || format!("loading {}", table.name);
    let sink = tx
        .copy_in::<_, Bytes>(sql.as_str())
        .await
        .map_err(BackupError::query(what()))?;
    pin_mut!(sink);
    let mut entry = block_in_place(|| archive.by_name(&table.entry)).map_err(|cause| {
        BackupError::DamagedEntry {
            entry: table.entry.clone(),
            cause,
        }
    })?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n =
            block_in_place(|| entry.read(&mut buf)).map_err(|cause| BackupError::CorruptEntry {
                entry: table.entry.clone(),
                cause,
            })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        sink.send(Bytes::copy_from_slice(&buf[..n]))
            .await
            .map_err(BackupError::query(what()))?;
    }
    if hex::encode(hasher.finalize()) != table.sha256 {
        return Err(BackupError::Corrupt(format!(
            "table {} differs from its manifest",
            table.name
        )));
    }
    let rows = sink.finish().await.map_err(BackupError::query(what()))?;
    if rows != table.rows {
        return Err(BackupError::Corrupt(format!(
            "table {}: {rows} rows loaded, the manifest says {}",
            table.name, table.rows
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn an_older_schema_is_a_prefix_and_a_newer_one_is_refused() {
        let known = v(&["1", "2", "3"]);
        assert!(check_migrations(&v(&["1", "2"]), &known).is_ok());
        assert!(check_migrations(&known, &known).is_ok());
        assert!(matches!(
            check_migrations(&v(&["1", "2", "3", "4"]), &known),
            Err(BackupError::NewerSchema(x)) if x == "4"
        ));
        assert!(matches!(
            check_migrations(&v(&["1", "3"]), &known),
            Err(BackupError::NotABackup(_))
        ));
    }

    #[test]
    fn odd_keys_are_refused() {
        assert!(sane_key("0190aaaa/0190bbbb"));
        for key in ["", "..", "a/../b", "/a", "a//b", "a\nb"] {
            assert!(!sane_key(key), "{key:?}");
        }
    }
}
