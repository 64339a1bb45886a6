//! The synced folder as the sync sees it: Markdown documents by project path, and the files
//! it leaves alone.

use crate::state::{StateError, hash};
use mdz_files::paths::DocPath;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Files larger than this are not read at all (the server's `MAX_FILE_BYTES`, 5 MiB by
/// default, refuses most of them anyway with 413, which the round reports).
pub const MAX_READ_BYTES: u64 = 64 * 1024 * 1024;

/// A Markdown document of the folder.
#[derive(Debug, Clone)]
pub struct LocalDoc {
    pub content: String,
    pub hash: String,
}

/// A file that is not a document: a binary (an attachment with `--attachments`), or a file
/// the server could not store as a document.
#[derive(Debug, Clone)]
pub struct OtherFile {
    pub path: String,
    pub size: u64,
}

#[derive(Debug, Default)]
pub struct Scan {
    /// Project path (`notes/plan.md`) → document.
    pub docs: BTreeMap<String, LocalDoc>,
    pub others: Vec<OtherFile>,
}

/// A project path the sync keeps out of the folder and never reads from it: any segment
/// starting with `.` (`.git/`, `.mdz-sync/`, `.trash/`, dot-files).
pub fn ignored(path: &str) -> bool {
    path.split('/').any(|s| s.starts_with('.'))
}

/// A path from the server this folder takes: a normal document path (never `..`, absolute or
/// with backslashes, whatever the server sends) outside dot-folders.
pub fn syncable(path: &str) -> bool {
    !ignored(path) && DocPath::parse(path).is_ok_and(|p| p.as_str() == path)
}

/// Where a project path lives in the folder.
pub fn on_disk(dir: &Path, path: &str) -> PathBuf {
    path.split('/').fold(dir.to_owned(), |p, s| p.join(s))
}

/// Read every document under `dir` (symbolic links are not followed).
pub fn scan(dir: &Path) -> Result<Scan, StateError> {
    let mut scan = Scan::default();
    let mut stack = vec![(dir.to_owned(), String::new())];
    while let Some((folder, prefix)) = stack.pop() {
        let io = |op, path: &Path| {
            let path = path.to_owned();
            move |source| StateError::Io { op, path, source }
        };
        let entries = std::fs::read_dir(&folder).map_err(io("list", &folder))?;
        for entry in entries {
            let entry = entry.map_err(io("list", &folder))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let path = format!("{prefix}{name}");
            let kind = entry.file_type().map_err(io("stat", &entry.path()))?;
            if kind.is_dir() {
                stack.push((entry.path(), format!("{path}/")));
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let size = entry.metadata().map_err(io("stat", &entry.path()))?.len();
            match read_doc(&entry.path(), &path, size) {
                Some(doc) => {
                    scan.docs.insert(path, doc);
                }
                None => scan.others.push(OtherFile { path, size }),
            }
        }
    }
    Ok(scan)
}

/// The file as a document: a valid document path, UTF-8 text without NUL, readable now.
fn read_doc(file: &Path, path: &str, size: u64) -> Option<LocalDoc> {
    if size > MAX_READ_BYTES || DocPath::parse(path).ok()?.as_str() != path {
        return None;
    }
    let bytes = std::fs::read(file).ok()?;
    let content = String::from_utf8(bytes).ok()?;
    if content.contains('\0') {
        return None;
    }
    Some(LocalDoc {
        hash: hash(content.as_bytes()),
        content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_document_paths_outside_dot_folders_are_synced() {
        assert!(syncable("notes/plan.md"));
        for path in [
            ".mdz-sync/state.md",
            "a/.git/x.md",
            ".hidden.md",
            "../escape.md",
            "/abs.md",
            "a\\b.md",
            "notes/plan.txt",
        ] {
            assert!(!syncable(path), "{path}");
        }
    }

    #[test]
    fn the_scan_reads_documents_and_lists_other_files() {
        let dir = std::env::temp_dir().join(format!("mdz-sync-scan-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::create_dir_all(dir.join(".mdz-sync")).unwrap();
        std::fs::write(dir.join("sub/a.md"), "text").unwrap();
        std::fs::write(dir.join("b.md"), [0xff, 0xfe]).unwrap();
        std::fs::write(dir.join("c.png"), [1, 2]).unwrap();
        std::fs::write(dir.join(".mdz-sync/x.md"), "state").unwrap();
        let scan = scan(&dir).unwrap();
        assert_eq!(scan.docs.keys().collect::<Vec<_>>(), ["sub/a.md"]);
        let mut others: Vec<&str> = scan.others.iter().map(|o| o.path.as_str()).collect();
        others.sort_unstable();
        assert_eq!(others, ["b.md", "c.png"]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
