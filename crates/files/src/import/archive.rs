//! Reading an uploaded zip before anything is written: every entry's name and kind checked,
//! the limits enforced (entries, bytes counted while inflating), the format recognised (an
//! mdz export, a Notion export, or a plain folder such as an Obsidian vault) and each entry
//! given what it becomes. Any refusal here leaves nothing behind: nothing was written yet.

use super::ImportError;
use super::history::{self, Histories, VersionEntry};
use super::names;
use crate::paths::DocPath;
use mdz_core::ids::AttachmentId;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use zip::ZipArchive;

/// The manifest an mdz export carries (`crate::export`), as far as an import needs it.
#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    #[serde(default)]
    pub project: Option<ManifestProject>,
    #[serde(default)]
    pub attachments: Vec<ManifestAttachment>,
}

#[derive(Debug, Deserialize)]
pub struct ManifestProject {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
pub struct ManifestAttachment {
    pub id: AttachmentId,
    pub name: String,
    pub path: String,
    pub content_type: String,
}

/// The manifest is read whole; a bigger one is not an mdz export's (its attachment list is
/// also capped: at most one per entry the archive may hold).
const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
/// Skipped entries named in the answer (the rest are only counted).
const MAX_SKIPPED_LISTED: usize = 100;

/// What the archive is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `mdz-export.json` at the root: an exact round trip.
    Mdz,
    /// Names carry Notion's 32-hex page ids, which are stripped.
    Notion,
    /// A folder of Markdown files (an Obsidian vault among them).
    Folder,
}

/// A document or an attachment to be made from one zip entry.
#[derive(Debug, Clone)]
pub struct Item {
    /// The entry's index in the zip.
    pub index: usize,
    /// Its path under the root, as in the zip (links between files are written with these).
    pub source: String,
    /// A document: its path in the project. An attachment: its file name.
    pub target: String,
    pub size: u64,
    /// Attachments: the type, and the id it had in the project it was exported from.
    pub content_type: String,
    pub old_id: Option<AttachmentId>,
    /// Documents of an mdz export: their versions, oldest first (empty: no history).
    pub versions: Vec<VersionEntry>,
}

/// Everything the import will make, checked.
#[derive(Debug)]
pub struct Plan {
    pub format: Format,
    pub documents: Vec<Item>,
    pub attachments: Vec<Item>,
    /// Entries not imported, with why (the first [`MAX_SKIPPED_LISTED`]).
    pub skipped: Vec<String>,
    pub skipped_count: usize,
    /// The project's name and description from a manifest, or the single top folder's name.
    pub name: Option<String>,
    pub description: String,
}

/// Limits of one import.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_entries: usize,
    pub max_uncompressed_bytes: u64,
    pub max_file_bytes: usize,
    pub attachment_max_bytes: i64,
    pub attachment_types: Vec<String>,
}

/// Bytes inflated so far, across entries, against the import's limit.
pub struct Budget {
    used: u64,
    limit: u64,
}

impl Budget {
    pub fn new(limit: u64) -> Self {
        Self { used: 0, limit }
    }

    /// Inflate `entry` into `sink` (at most `cap` bytes kept; more is an error by `too_big`),
    /// counting every byte against the budget as it comes out of the decompressor.
    pub fn read(
        &mut self,
        entry: &mut impl Read,
        name: &str,
        cap: u64,
        mut sink: Option<&mut Vec<u8>>,
    ) -> Result<u64, ImportError> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total: u64 = 0;
        loop {
            let n = entry.read(&mut buf).map_err(|e| ImportError::BrokenEntry {
                name: name.to_owned(),
                source: e,
            })?;
            if n == 0 {
                return Ok(total);
            }
            let n64 = n as u64;
            self.used = self.used.saturating_add(n64);
            if self.used > self.limit {
                return Err(ImportError::TooManyBytes { limit: self.limit });
            }
            total = total.saturating_add(n64);
            if total > cap {
                return Err(ImportError::EntryTooLarge {
                    name: name.to_owned(),
                    limit: cap,
                });
            }
            if let Some(sink) = sink.as_deref_mut() {
                sink.extend_from_slice(&buf[..n]);
            }
        }
    }
}

/// Open the uploaded zip. The entry count its end records declare is checked first: the zip
/// library keeps every entry of the central directory in memory while it parses it.
pub fn open(path: &Path, max_entries: usize) -> Result<ZipArchive<File>, ImportError> {
    let mut file = File::open(path).map_err(ImportError::Io)?;
    if declared_entries(&mut file)? > max_entries as u64 {
        return Err(ImportError::TooManyEntries { limit: max_entries });
    }
    ZipArchive::new(file).map_err(ImportError::BrokenZip)
}

fn le(bytes: &[u8], at: usize, len: usize) -> Result<u64, ImportError> {
    let field = bytes
        .get(at..at + len)
        .ok_or(ImportError::BadDirectory("its end record is cut short"))?;
    Ok(field
        .iter()
        .rev()
        .fold(0u64, |n, &b| (n << 8) | u64::from(b)))
}

/// The total entries the last end-of-central-directory record declares, read as the zip
/// library reads it: zip64's record when any of the count, the directory's size or its
/// offset defers to it. Refused (400) when that cannot be established, or when the central
/// directory does not end exactly where the end records begin (the library would look for
/// it elsewhere, so the count read here would not be the one it uses).
fn declared_entries(file: &mut File) -> Result<u64, ImportError> {
    // The record is 22 bytes followed by a comment of at most 65,535.
    let len = file.metadata().map_err(ImportError::Io)?.len();
    let tail_len = len.min(22 + 65_535);
    let tail_start = len - tail_len;
    file.seek(SeekFrom::Start(tail_start))
        .map_err(ImportError::Io)?;
    let mut tail = vec![0u8; usize::try_from(tail_len).unwrap_or(0)];
    file.read_exact(&mut tail).map_err(ImportError::Io)?;
    let at = tail
        .windows(4)
        .rposition(|w| w == b"PK\x05\x06")
        .ok_or(ImportError::BadDirectory(
            "it has no end of central directory record",
        ))?;
    let end = &tail[at..];
    let (count, size, offset) = (le(end, 10, 2)?, le(end, 12, 4)?, le(end, 16, 4)?);
    let end_at = tail_start + at as u64;
    if count != u64::from(u16::MAX) && size != u64::from(u32::MAX) && offset != u64::from(u32::MAX)
    {
        if offset + size != end_at {
            return Err(MISPLACED);
        }
        return Ok(count);
    }
    // Zip64: a locator just before the record points at the zip64 end record.
    let locator = at
        .checked_sub(20)
        .and_then(|l| tail.get(l..at))
        .filter(|l| l.starts_with(b"PK\x06\x07"))
        .ok_or(ImportError::BadDirectory("it has no zip64 end locator"))?;
    let record_at = le(locator, 8, 8)?;
    let mut record = [0u8; 56];
    file.seek(SeekFrom::Start(record_at))
        .map_err(ImportError::Io)?;
    if file.read_exact(&mut record).is_err() || !record.starts_with(b"PK\x06\x06") {
        return Err(ImportError::BadDirectory("it has no zip64 end record"));
    }
    let (count, size, offset) = (
        le(&record, 32, 8)?,
        le(&record, 40, 8)?,
        le(&record, 48, 8)?,
    );
    if offset.checked_add(size) != Some(record_at) {
        return Err(MISPLACED);
    }
    Ok(count)
}

const MISPLACED: ImportError =
    ImportError::BadDirectory("its central directory does not end where its end record begins");

/// One entry as listed in the central directory.
struct Listed {
    index: usize,
    name: String,
    size: u64,
}

/// Read the archive's directory and check every name; nothing is inflated yet.
fn list(zip: &mut ZipArchive<File>, limits: &Limits) -> Result<Vec<Listed>, ImportError> {
    if zip.len() > limits.max_entries {
        return Err(ImportError::TooManyEntries {
            limit: limits.max_entries,
        });
    }
    let mut listed = Vec::with_capacity(zip.len());
    let mut seen = HashSet::new();
    let mut declared: u64 = 0;
    for index in 0..zip.len() {
        let entry = zip.by_index_raw(index).map_err(ImportError::BrokenZip)?;
        let name = entry.name().map_err(ImportError::BrokenZip)?.into_owned();
        if entry.is_symlink() {
            return Err(ImportError::unsafe_entry(&name, "is a symbolic link"));
        }
        if entry.encrypted() {
            return Err(ImportError::unsafe_entry(&name, "is encrypted"));
        }
        names::check_entry_name(&name).map_err(|why| ImportError::unsafe_entry(&name, why))?;
        if entry.is_dir() {
            continue;
        }
        if !seen.insert(name.clone()) {
            return Err(ImportError::unsafe_entry(&name, "is in the archive twice"));
        }
        declared = declared.saturating_add(entry.size());
        if declared > limits.max_uncompressed_bytes {
            return Err(ImportError::TooManyBytes {
                limit: limits.max_uncompressed_bytes,
            });
        }
        listed.push(Listed {
            index,
            name,
            size: entry.size(),
        });
    }
    Ok(listed)
}

/// Check the whole archive and decide what each entry becomes.
pub fn plan(zip: &mut ZipArchive<File>, limits: &Limits) -> Result<Plan, ImportError> {
    let mut listed = list(zip, limits)?;
    listed.retain(|e| !names::is_noise(&e.name));
    let root = names::single_root(listed.iter().map(|e| e.name.as_str()));
    if let Some(root) = &root {
        let cut = root.len() + 1;
        for e in &mut listed {
            e.name = e.name[cut..].to_owned();
        }
    }
    let mut budget = Budget::new(limits.max_uncompressed_bytes);
    let manifest = match listed.iter().find(|e| e.name == "mdz-export.json") {
        Some(e) => Some(read_manifest(zip, e, &mut budget, limits.max_entries)?),
        None => None,
    };
    let format = if manifest.is_some() {
        Format::Mdz
    } else if listed.iter().any(|e| names::has_notion_id(&e.name)) {
        Format::Notion
    } else {
        Format::Folder
    };
    let mut planner = Planner {
        limits,
        format,
        budget,
        renames: names::Renames::default(),
        manifest_attachments: manifest
            .as_ref()
            .map(|m| {
                m.attachments
                    .iter()
                    .map(|a| (a.path.clone(), a))
                    .collect::<HashMap<_, _>>()
            })
            .unwrap_or_default(),
        documents: Vec::new(),
        attachments: Vec::new(),
        skipped: Vec::new(),
        skipped_count: 0,
        histories: Histories::default(),
    };
    for e in &listed {
        planner.entry(zip, e)?;
    }
    std::mem::take(&mut planner.histories).attach(&mut planner.documents)?;
    let (name, description) = match manifest.as_ref().and_then(|m| m.project.as_ref()) {
        Some(p) => (Some(p.name.clone()), p.description.clone()),
        None => (
            root.map(|r| names::strip_notion_id(&r).into_owned()),
            String::new(),
        ),
    };
    let Planner {
        documents,
        attachments,
        skipped,
        skipped_count,
        ..
    } = planner;
    Ok(Plan {
        format,
        documents,
        attachments,
        skipped,
        skipped_count,
        name,
        description,
    })
}

fn read_manifest(
    zip: &mut ZipArchive<File>,
    e: &Listed,
    budget: &mut Budget,
    max_entries: usize,
) -> Result<Manifest, ImportError> {
    let mut entry = zip.by_index(e.index).map_err(ImportError::BrokenZip)?;
    let mut bytes = Vec::new();
    budget.read(&mut entry, &e.name, MAX_MANIFEST_BYTES, Some(&mut bytes))?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|err| ImportError::bad_entry(&e.name, format!("is not an mdz manifest: {err}")))?;
    if manifest.format != crate::export::FORMAT || manifest.version != crate::export::FORMAT_VERSION
    {
        return Err(ImportError::bad_entry(
            &e.name,
            format!(
                "is format {} version {}; this server reads {} version {}",
                manifest.format,
                manifest.version,
                crate::export::FORMAT,
                crate::export::FORMAT_VERSION
            ),
        ));
    }
    if manifest.attachments.len() > max_entries {
        return Err(ImportError::bad_entry(
            &e.name,
            format!("lists more than {max_entries} attachments"),
        ));
    }
    Ok(manifest)
}

struct Planner<'a> {
    limits: &'a Limits,
    format: Format,
    budget: Budget,
    renames: names::Renames,
    manifest_attachments: HashMap<String, &'a ManifestAttachment>,
    documents: Vec<Item>,
    attachments: Vec<Item>,
    skipped: Vec<String>,
    skipped_count: usize,
    histories: Histories,
}

impl Planner<'_> {
    fn skip(&mut self, name: &str, why: &str) {
        self.skipped_count += 1;
        if self.skipped.len() < MAX_SKIPPED_LISTED {
            self.skipped.push(format!("{name}: {why}"));
        }
    }

    fn entry(&mut self, zip: &mut ZipArchive<File>, e: &Listed) -> Result<(), ImportError> {
        if self.format == Format::Mdz
            && let Some(kind) = history::kind(&e.name)
        {
            return self.history(
                zip,
                e,
                kind.map_err(|why| ImportError::bad_entry(&e.name, why))?,
            );
        }
        if names::is_ignored(&e.name, self.format) {
            return Ok(());
        }
        if let Some(a) = self.manifest_attachments.get(e.name.as_str()).copied() {
            let content_type = a.content_type.trim().to_lowercase();
            return self.attachment(zip, e, a.name.trim(), content_type, Some(a.id));
        }
        let file_name = e.name.rsplit('/').next().unwrap_or(&e.name);
        if names::is_markdown(file_name) {
            return self.document(zip, e);
        }
        match names::attachment_type(file_name) {
            Some(content_type) => {
                let name = match self.format {
                    Format::Notion => names::strip_notion_id(file_name).into_owned(),
                    _ => file_name.to_owned(),
                };
                self.attachment(zip, e, &name, content_type.to_owned(), None)
            }
            None => {
                self.skip(&e.name, "not Markdown, an image or a PDF");
                Ok(())
            }
        }
    }

    /// Inflate a Markdown entry (counted) and check it is text a document can hold; its size.
    fn markdown(&mut self, zip: &mut ZipArchive<File>, e: &Listed) -> Result<u64, ImportError> {
        let mut entry = zip.by_index(e.index).map_err(ImportError::BrokenZip)?;
        let mut bytes = Vec::new();
        let size = self.budget.read(
            &mut entry,
            &e.name,
            self.limits.max_file_bytes as u64,
            Some(&mut bytes),
        )?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| ImportError::bad_entry(&e.name, "is not UTF-8 text"))?;
        mdz_core::text::check(text).map_err(|why| ImportError::bad_entry(&e.name, why))?;
        Ok(size)
    }

    /// A version's text or a document's `versions.json`, checked and kept for
    /// [`Histories::attach`].
    fn history(
        &mut self,
        zip: &mut ZipArchive<File>,
        e: &Listed,
        kind: history::Kind<'_>,
    ) -> Result<(), ImportError> {
        match kind {
            history::Kind::Text(document, n) => {
                self.markdown(zip, e)?;
                let entry = VersionEntry {
                    index: e.index,
                    name: e.name.clone(),
                    meta: None,
                };
                self.histories.text(document, n, entry);
            }
            history::Kind::Meta(document) => {
                let mut entry = zip.by_index(e.index).map_err(ImportError::BrokenZip)?;
                let mut bytes = Vec::new();
                let cap = history::MAX_VERSIONS_FILE_BYTES;
                self.budget
                    .read(&mut entry, &e.name, cap, Some(&mut bytes))?;
                let versions = history::parse_meta(&e.name, &bytes)?;
                self.histories.meta(document, &e.name, versions);
            }
        }
        Ok(())
    }

    fn document(&mut self, zip: &mut ZipArchive<File>, e: &Listed) -> Result<(), ImportError> {
        let size = self.markdown(zip, e)?;
        let wanted = match self.format {
            Format::Notion => self.renames.notion_path(&e.name),
            _ => e.name.clone(),
        };
        let path = DocPath::parse(&wanted).map_err(|why| {
            ImportError::bad_entry(&e.name, format!("is not a document path: {why}"))
        })?;
        let target = self.renames.unique_document(path.as_str());
        DocPath::parse(&target).map_err(|why| {
            ImportError::bad_entry(&e.name, format!("is not a document path: {why}"))
        })?;
        self.documents.push(Item {
            index: e.index,
            source: e.name.clone(),
            target,
            size,
            content_type: String::new(),
            old_id: None,
            versions: Vec::new(),
        });
        Ok(())
    }

    fn attachment(
        &mut self,
        zip: &mut ZipArchive<File>,
        e: &Listed,
        name: &str,
        content_type: String,
        old_id: Option<AttachmentId>,
    ) -> Result<(), ImportError> {
        if !self.limits.attachment_types.contains(&content_type) {
            self.skip(
                &e.name,
                &format!("attachments of type {content_type} are not allowed"),
            );
            return Ok(());
        }
        if let Err(why) = names::check_attachment_name(name) {
            self.skip(&e.name, why);
            return Ok(());
        }
        let max = u64::try_from(self.limits.attachment_max_bytes).unwrap_or(0);
        if e.size > max {
            self.skip(
                &e.name,
                &format!("larger than the attachment limit of {max} bytes"),
            );
            return Ok(());
        }
        // Inflated once here (counted, checksummed), so a lying header or a bomb is refused
        // before anything is stored.
        let mut entry = zip.by_index(e.index).map_err(ImportError::BrokenZip)?;
        let size = self.budget.read(&mut entry, &e.name, max, None)?;
        self.attachments.push(Item {
            index: e.index,
            source: e.name.clone(),
            target: name.to_owned(),
            size,
            content_type,
            old_id,
            versions: Vec::new(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests;
