//! `mdz backup` and `mdz restore`: one consistent snapshot of the database (every table but a
//! few transient ones, read in one `REPEATABLE READ, READ ONLY` transaction with `COPY … TO
//! STDOUT`) plus every attachment object the snapshot references, streamed into one zip file
//! with a manifest; and the way back into an empty database and blob store.
//!
//! The file (format `mdz-backup`, version [`FORMAT_VERSION`]):
//!
//! - `tables/<table>.copy`: the rows in PostgreSQL's COPY text format (deflated), columns as
//!   listed in the manifest, tables in an order that satisfies foreign keys;
//! - `blobs/<n>`: attachment objects (stored), keys in the manifest;
//! - `manifest.json` (last, found through the zip's central directory): see [`Manifest`].

mod blobs;
mod catalog;
mod dump;
mod load;
mod progress;
mod target;

pub use dump::{BackupSummary, Output, backup};
pub use load::{RestoreSummary, restore};

use serde::{Deserialize, Serialize};

/// The manifest's `format`.
pub const FORMAT: &str = "mdz-backup";
/// The manifest's `format_version`; a restore refuses any other.
pub const FORMAT_VERSION: u32 = 1;
/// The manifest's entry name.
pub const MANIFEST_ENTRY: &str = "manifest.json";

/// What a backup holds, written last and read first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// The mdz that wrote it.
    pub mdz_version: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The schema's applied migrations (diesel versions, oldest first): a restore migrates
    /// the target to exactly these before loading, and runs the newer ones after.
    pub migrations: Vec<String>,
    /// In load order.
    pub tables: Vec<TableEntry>,
    /// Values of the schema's sequences when the snapshot was read.
    pub sequences: Vec<SequenceEntry>,
    pub blobs: Vec<BlobEntry>,
    /// Keys of ready attachments whose object was gone when the backup read it (deleted
    /// after the snapshot was taken).
    pub missing_blobs: Vec<String>,
    /// Tables deliberately left out (sign-in sessions and other short-lived grants).
    pub excluded_tables: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableEntry {
    pub name: String,
    pub entry: String,
    pub columns: Vec<String>,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SequenceEntry {
    pub name: String,
    pub value: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlobEntry {
    pub key: String,
    pub entry: String,
    pub size: u64,
    pub sha256: String,
}

/// Why a backup or a restore stopped.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Embedded(#[from] crate::embedded_pg::EmbeddedError),
    #[error("cannot connect to PostgreSQL")]
    Connect(#[source] tokio_postgres::Error),
    #[error("PostgreSQL: {what} failed")]
    Query {
        what: String,
        #[source]
        cause: tokio_postgres::Error,
    },
    #[error("migrating the database failed")]
    Migration(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the attachment store: {what}")]
    Store {
        what: String,
        #[source]
        cause: mdz_files::attachments::store::StoreError,
    },
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        cause: std::io::Error,
    },
    #[error("writing the backup file")]
    Zip(#[source] zip::result::ZipError),
    #[error("not a usable mdz backup: the file is not a complete zip archive")]
    BrokenZip(#[source] zip::result::ZipError),
    #[error("the backup is damaged: entry {entry} cannot be read")]
    CorruptEntry {
        entry: String,
        #[source]
        cause: std::io::Error,
    },
    #[error("the backup is damaged: entry {entry} cannot be opened")]
    DamagedEntry {
        entry: String,
        #[source]
        cause: zip::result::ZipError,
    },
    #[error("not a usable mdz backup: {0}")]
    NotABackup(String),
    #[error("the backup is damaged: {0}")]
    Corrupt(String),
    #[error(
        "the backup's schema has migration {0}, which this mdz does not know: restore it with \
         the mdz that wrote it (or a newer one)"
    )]
    NewerSchema(String),
    #[error("the target is not empty ({0}); restore with --force to replace everything in it")]
    NotEmpty(String),
    #[error("nothing to back up: {0}")]
    NothingToBackUp(String),
    #[error("{0}")]
    ServerRunning(String),
}

impl BackupError {
    fn query(what: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> Self {
        let what = what.into();
        move |cause| Self::Query { what, cause }
    }

    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |cause| Self::Io { what, cause }
    }

    fn store(
        what: impl Into<String>,
    ) -> impl FnOnce(mdz_files::attachments::store::StoreError) -> Self {
        let what = what.into();
        move |cause| Self::Store { what, cause }
    }
}

/// A SQL identifier, quoted.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
